"""Learned vs classical cost: FNO inference time per sample vs the DOLFINx FEM solve per sample.

Prints one JSON line: for each resolution (85 and 141 by default) the FEM
(P1, LU) solve seconds per sample after the one-off mesh/form setup, the
FNO (the paper's architecture: modes 12, width 32, 4 layers, padding 9)
inference seconds per sample in batches of ``--batch``, and the ratio
fem_s / fno_s, all measured in this run on the same coefficients (the
Darcy generator's samples) with one thread each.  Inference time does not
depend on the weights, so an untrained network is timed unless
``--checkpoint`` names a trained one.  Wall seconds are best-of-``--repeats``;
CPU seconds of this process are reported too, because on a shared machine
they are less disturbed by other jobs than wall time.

    nice -n 10 python scripts/bench/bench_operators.py --samples 20

``--peer``: our FNO (operators/fno.py) against neuraloperator 2.0's ``FNO`` at the FNO
paper's Darcy setting (batch 5 on an 85 x 85 grid, modes 12, width 32, 4 layers, padding 11,
one torch thread, float32): seconds per training step (forward, MSE loss, backward, Adam
step) and per inference sample (batches of 5, inference mode), best of ``--repeats`` runs of
``--steps`` steps, after warm-up; one JSON line with both parameter counts (equal: 2 368 001)
and the ratios ours / theirs.  Their configuration: ``n_modes=(24, 23)`` (their first
dimension counts positive and negative modes, the last is halved: weights 24 x 12 per channel
pair, as our 2 x 12 x 12), ``lifting_channel_ratio=0`` (one linear lift, as ours),
``projection_channel_ratio=4`` (32 -> 128 -> 1), ``use_channel_mlp=False``, ``fno_skip="linear"``
(our pointwise W), grid positional embedding.  Their domain padding is symmetric and
relative: padding 11 on both sides makes 107 points (a prime: slow FFTs), so they are also
timed with 10 per side (105 = 3 x 5 x 7, FFT-friendly) and 5 per side (95 points, the total
padding nearest ours: 85 + 11 = 96 one-sided), and the fastest of the three is the one
compared (``compared_with``); all three are in the line.  neuraloperator is a benchmark-only dependency:
``scripts/setup.sh --bench`` installs it.

    python scripts/bench/bench_operators.py --peer
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def _best_of(fn, repeats: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds of this process) over ``repeats`` calls."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="FNO inference vs FEM solve time per sample")
    p.add_argument("--res", type=int, nargs="+", default=[85, 141])
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--checkpoint", default="")
    p.add_argument("--peer", action="store_true", help="our FNO vs neuraloperator 2.0's (training step, inference)")
    p.add_argument("--steps", type=int, default=10, help="--peer: steps per timed run")
    args = p.parse_args(argv)
    if args.peer:
        return peer_fno(args)

    import torch
    from sciml.datasets.darcy import sample_coefficients
    from sciml.references.fem import DarcyFEM
    from sciml.solvers.operator_learning import OperatorModel, build_network, load_operator
    from sciml.torch_utils import seeded

    torch.set_num_threads(1)  # FEM (PETSc/MUMPS, serial) and FNO on one core each: a fair ratio
    out: dict[str, object] = {"bench": "operators", "baseline": "DOLFINx P1 LU solve per sample",
                              "threads": 1, "batch": args.batch, "samples": args.samples}
    for res in args.res:
        a = sample_coefficients(res, range(args.samples), seed=0)
        fem = DarcyFEM(res)
        fem.solve(a[0])  # warm-up (form compilation is cached, first solve allocates)
        fem_s, fem_cpu = (t / len(a) for t in _best_of(lambda: [fem.solve(x) for x in a], args.repeats))
        if args.checkpoint:
            model = load_operator(args.checkpoint)
        else:
            arch = {"modes": 12, "width": 32, "layers": 4, "padding": 9}
            with seeded(0):
                net = build_network("fno", arch, res)
            norm = {"a_mean": 7.5, "a_std": 4.5, "u_mean": a[0] * 0.0, "u_std": a[0] * 0.0 + 1.0}
            model = OperatorModel("fno", arch, res, net, norm)
        model.predict(a[: args.batch], batch=args.batch)  # warm-up
        fno_s, fno_cpu = (t / len(a) for t in _best_of(lambda: model.predict(a, batch=args.batch), args.repeats))
        out[f"res{res}"] = {"fem_s_per_sample": fem_s, "fno_s_per_sample": fno_s, "ratio_fem_over_fno": fem_s / fno_s,
                            "fem_cpu_s_per_sample": fem_cpu, "fno_cpu_s_per_sample": fno_cpu,
                            "cpu_ratio_fem_over_fno": fem_cpu / fno_cpu}
    print(json.dumps(out))
    return 0


def _params(net) -> int:
    return int(sum(p.numel() * (2 if p.is_complex() else 1) for p in net.parameters()))


#: neuraloperator's symmetric paddings timed: 11 per side (their reading of "padding 11": 107
#: points, prime), 10 (105 = 3 x 5 x 7) and 5 (95 points: a total padding of 10, nearest ours)
THEIR_PADDINGS = (11, 10, 5)


def peer_fno(args) -> int:
    """Our FNO vs neuraloperator 2.0's at the Darcy res-85 batch (see the module docstring)."""
    try:
        import neuralop
        from neuralop.models import FNO
    except ImportError:
        print("bench_operators --peer: neuraloperator is not installed; run scripts/setup.sh --bench",
              file=sys.stderr)
        return 2
    import torch

    from operators.fno import FNO2d
    torch.set_num_threads(1)
    res, batch, modes, width, layers, padding = 85, 5, 12, 32, 4, 11
    gen = torch.Generator().manual_seed(0)
    a = 3.0 + 9.0 * (torch.rand(batch, res, res, generator=gen) > 0.5).float()  # Darcy-like coefficients
    u = torch.randn(batch, res, res, generator=gen) * 0.01
    torch.manual_seed(0)
    nets = {"ours": (FNO2d(1, modes, width, layers, padding), lambda x: x[..., None], lambda y: y)}
    for pad in THEIR_PADDINGS:
        theirs = FNO(n_modes=(2 * modes, 2 * modes - 1), in_channels=1, out_channels=1, hidden_channels=width,
                     n_layers=layers, lifting_channel_ratio=0, projection_channel_ratio=4, use_channel_mlp=False,
                     fno_skip="linear", positional_embedding="grid", domain_padding=pad / res)
        nets[f"neuralop_pad{pad}"] = (theirs, lambda x: x[:, None], lambda y: y[:, 0])

    def timings(net, to_in, from_out) -> dict:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = to_in(a)

        def train_steps():
            for _ in range(args.steps):
                opt.zero_grad(set_to_none=True)
                loss = torch.mean((from_out(net(x)) - u) ** 2)
                loss.backward()
                opt.step()

        def infer():
            with torch.inference_mode():
                for _ in range(args.steps):
                    net(x)
        net.train()
        train_steps()  # warm-up
        train, train_cpu = _best_of(train_steps, args.repeats)
        net.eval()
        infer()
        inf, inf_cpu = _best_of(infer, args.repeats)
        return {"parameters": _params(net), "train_step_s": train / args.steps,
                "train_step_cpu_s": train_cpu / args.steps, "inference_s_per_sample": inf / (args.steps * batch),
                "inference_cpu_s_per_sample": inf_cpu / (args.steps * batch)}

    res_all = {name: timings(*spec) for name, spec in nets.items()}
    peer = min((k for k in res_all if k != "ours"), key=lambda k: res_all[k]["train_step_s"])
    ours, theirs = res_all["ours"], res_all[peer]
    out = {"bench": "fno_peer", "peer": f"neuraloperator {neuralop.__version__} FNO", "compared_with": peer,
           "torch": torch.__version__, "threads": 1, "res": res, "batch": batch, "modes": modes, "width": width,
           "layers": layers, "padding": padding, "steps": args.steps, "repeats": args.repeats,
           "parameters_ours": ours["parameters"], "parameters_theirs": theirs["parameters"],
           "train_step_ratio": ours["train_step_s"] / theirs["train_step_s"],
           "inference_ratio": ours["inference_s_per_sample"] / theirs["inference_s_per_sample"],
           "train_step_cpu_ratio": ours["train_step_cpu_s"] / theirs["train_step_cpu_s"],
           "inference_cpu_ratio": ours["inference_cpu_s_per_sample"] / theirs["inference_cpu_s_per_sample"],
           "load_average_1min": round(__import__("os").getloadavg()[0], 2)}
    for name, r in res_all.items():
        for k, v in r.items():
            out[f"{name}_{k}"] = v
    print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
