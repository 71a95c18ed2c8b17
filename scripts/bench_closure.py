#!/usr/bin/env python
"""Benchmark: ICNN entropy closure (`neural-closure`) vs the Newton closure for
M_N, N = 2..4.

For each N: train the ICNN (seed 0), measure the closure errors on the
problem's held-out test set (`mn-closure`, n_test vectors, against Newton),
then time both closures (and the hybrid: network + one Newton step) on a batch of ``--batch`` (default 1e5) realisable
moment vectors (same vectors for both; network: gradient of the ICNN by
autograd and α_0 by quadrature, float64; Newton: batched damped Newton to
|<m f> - u| <= 1e-10).  Prints ONE JSON line.

    nice -n 10 .venv/bin/python scripts/bench_closure.py [--orders 2,3,4] [--steps 8000]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", default="2,3,4")
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--n-test", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=100000)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                    help="network inference precision (training is float64)")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)  # Newton runs on one core (NumPy); keep the comparison one core each
    out = {"benchmark": "closure", "baseline": "batched Newton (NumPy)", "batch": args.batch,
           "threads": 1, "dtype": args.dtype, "orders": {}}
    for N in [int(s) for s in args.orders.split(",")]:
        problem = MomentClosure(N=N, n_test=args.n_test)
        solver = NeuralClosure(steps=args.steps, n_train=args.n_train)
        t0 = time.perf_counter()
        net, history = solver.train(problem, seed=0, device="cpu", progress=False)
        train_s = time.perf_counter() - t0
        predict = closure_predictor(net, N, dtype=args.dtype)
        hybrid = closure_predictor(net, N, dtype=args.dtype, polish=1)
        reference = Exact().solve(problem)
        errors = problem.errors(Solution(fn=predict), reference)
        errors_h = problem.errors(Solution(fn=hybrid), reference)
        # time on a fresh batch (neither training nor test data)
        u, _ = sample_closure_moments(N, args.batch, problem.alpha_max, seed=424242)
        t0 = time.perf_counter()
        _, st = newton_closure(u, N)
        t_newton = time.perf_counter() - t0
        predict(u[:100])  # warm-up
        t0 = time.perf_counter()
        predict(u)
        t_net = time.perf_counter() - t0
        t0 = time.perf_counter()
        hybrid(u)
        t_hyb = time.perf_counter() - t0
        out["orders"][str(N)] = {**errors, "train_s": train_s, "train_loss": history[-1],
                                 "n_params": count_parameters(net),
                                 "newton_s": t_newton, "newton_iterations": st["iterations"],
                                 "newton_unconverged": st["unconverged"], "network_s": t_net,
                                 "ratio": t_newton / t_net,
                                 "hybrid_1_newton_step": {**errors_h, "seconds": t_hyb, "ratio": t_newton / t_hyb}}
    out["min_ratio"] = min(v["ratio"] for v in out["orders"].values())
    out["max_moments_rel"] = max(v["moments_rel"] for v in out["orders"].values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
