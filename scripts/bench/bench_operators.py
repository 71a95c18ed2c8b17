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
    args = p.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
