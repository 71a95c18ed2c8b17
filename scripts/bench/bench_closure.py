#!/usr/bin/env python
"""Benchmark: ICNN entropy closure (`neural-closure`) vs the Newton closure for
M_N, N = 2..4.

For each N: train the ICNN (seed 0; the solver's default recipe: whitened,
symmetrised ICNN, moment-reconstruction loss, see sciml/solvers/neural_closure.py), measure the closure errors on the
problem's held-out test set (`mn-closure`, n_test vectors, against Newton),
then time both closures (and the hybrid: network + one Newton step) on a batch of ``--batch`` (default 1e5) realisable
moment vectors (same vectors for both; network: gradient of the ICNN by
autograd and α_0 by quadrature, float64; Newton: batched damped Newton to
|<m f> - u| <= 1e-10); each time is the best of ``--repeat`` runs.  Prints ONE JSON line.

    nice -n 10 .venv/bin/python scripts/bench/bench_closure.py [--orders 2,3,4] [--steps S] [--dtype float32]
"""
from __future__ import annotations

import argparse
import json
import time

from problems.boltzmann import MomentClosure, newton_closure, sample_closure_moments
from sciml.core import Solution
from sciml.references.exact import Exact
from sciml.solvers.neural_closure import NeuralClosure, closure_predictor
from sciml.torch_utils import count_parameters


def best_of(fn, repeat: int):
    """(smallest wall time of ``repeat`` calls of fn, its last result)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", default="2,3,4")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps (default: the solver's)")
    ap.add_argument("--n-train", type=int, default=None, help="training samples (default: the solver's)")
    ap.add_argument("--n-test", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=3,
                    help="timings are the best of this many runs (both methods; the machine is shared)")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32", "both"],
                    help="network inference precision (training is float64); both: float64 at the top "
                         "level and float32 under the key 'float32', from the same trained networks")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)  # Newton runs on one core (NumPy); keep the comparison one core each
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    out = {"benchmark": "closure", "baseline": "batched Newton (NumPy)", "batch": args.batch,
           "threads": 1, "repeat": args.repeat, "dtype": dtypes[0], "orders": {}}
    for N in [int(s) for s in args.orders.split(",")]:
        problem = MomentClosure(N=N, n_test=args.n_test)
        opts = {k: v for k, v in (("steps", args.steps), ("n_train", args.n_train)) if v is not None}
        solver = NeuralClosure(**opts)
        t0 = time.perf_counter()
        net, history = solver.train(problem, seed=0, device="cpu", progress=False)
        train_s = time.perf_counter() - t0
        reference = Exact().solve(problem)
        # time on a fresh batch (neither training nor test data)
        u, _ = sample_closure_moments(N, args.batch, problem.alpha_max, seed=424242)
        t_newton, (_, st) = best_of(lambda: newton_closure(u, N), args.repeat)
        row = {"train_s": train_s, "steps": solver.steps, "width": solver.width, "depth": solver.depth,
               "train_loss": history[-1], "n_params": count_parameters(net),
               "newton_s": t_newton, "newton_iterations": st["iterations"],
               "newton_unconverged": st["unconverged"]}
        for k, dtype in enumerate(dtypes):
            predict = closure_predictor(net, N, dtype=dtype)
            hybrid = closure_predictor(net, N, dtype=dtype, polish=1)
            errors = problem.errors(Solution(fn=predict), reference)
            errors_h = problem.errors(Solution(fn=hybrid), reference)
            predict(u[:100])  # warm-up
            t_net, _ = best_of(lambda: predict(u), args.repeat)
            t_hyb, _ = best_of(lambda: hybrid(u), args.repeat)
            res = {**errors, "network_s": t_net, "ratio": t_newton / t_net,
                   "hybrid_1_newton_step": {**errors_h, "seconds": t_hyb, "ratio": t_newton / t_hyb}}
            if k == 0:
                row.update(res)
            else:
                row[dtype] = res
        out["orders"][str(N)] = row
    out["min_ratio"] = min(v["ratio"] for v in out["orders"].values())
    out["max_moments_rel"] = max(v["moments_rel"] for v in out["orders"].values())
    for dtype in dtypes[1:]:
        out[f"min_ratio_{dtype}"] = min(v[dtype]["ratio"] for v in out["orders"].values())
        out[f"max_moments_rel_{dtype}"] = max(v[dtype]["moments_rel"] for v in out["orders"].values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
