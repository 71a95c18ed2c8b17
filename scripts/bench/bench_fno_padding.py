"""FNO training-step time with the paper's padding (85 + 9 = 94 = 2 x 47) vs an FFT-friendly one.

The paper's Darcy FNO (modes 12, width 32, 4 layers) on batches of 5 random
85 x 85 inputs: seconds per Adam step (forward, backward, update), median of
``--repeats`` timings of ``--steps`` steps after 3 warm-up steps, for the
baseline padding 9 and for ``fft_friendly_padding(85, 9)`` = 11 (96 = 2^5 x 3),
in the same run.  Prints one JSON line with both times and their ratio::

    python scripts/bench/bench_fno_padding.py --threads 1
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def step_time(padding: int, res: int, steps: int, repeats: int) -> float:
    import torch
    from operators.fno import FNO2d
    torch.manual_seed(0)
    net = FNO2d(1, 12, 32, 4, padding)
    x, y = torch.randn(5, res, res, 1), torch.randn(5, res, res)
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step() -> None:
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=85)
    ap.add_argument("--padding", type=int, default=9, help="the baseline (the paper's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import torch
    from operators.fno import fft_friendly_padding, largest_prime_factor
    torch.set_num_threads(args.threads)
    friendly = fft_friendly_padding(args.res, args.padding)
    base = step_time(args.padding, args.res, args.steps, args.repeats)
    fast = step_time(friendly, args.res, args.steps, args.repeats)
    print(json.dumps({"bench": "fno_padding", "res": args.res, "threads": args.threads,
                      "baseline_padding": args.padding, "baseline_grid": args.res + args.padding,
                      "baseline_largest_prime": largest_prime_factor(args.res + args.padding),
                      "padding": friendly, "grid": args.res + friendly,
                      "baseline_s_per_step": base, "s_per_step": fast, "speedup": base / fast}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
