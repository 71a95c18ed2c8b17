#!/usr/bin/env python
"""`neural-collision` on `boltzmann-bkw` (dim 2, t = 0 -> 1, n = 32): errors
against BKW, conservation, entropy monotonicity and the cost per collision
evaluation against `spectral` (fast and direct) on the same grid.  One JSON line.

    nice -n 10 .venv/bin/python scripts/paper/neural_collision_run.py [--rank 9] [--n-traj 16] [--iters 1000]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from problems.boltzmann import BoltzmannBKW
from sciml.evaluate import evaluate
from sciml.solvers.neural_collision import NeuralCollision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rank", type=int, default=9)
    ap.add_argument("--n-traj", type=int, default=16)
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rec = evaluate(BoltzmannBKW(dim=2, t0=0.0, t1=1.0),
                   NeuralCollision(rank=args.rank, n_traj=args.n_traj, iters=args.iters), "exact", seed=args.seed)
    st = rec.stats
    H = np.array(st["entropy"])
    keys = ("q_eval_s", "spectral_fast_q_s", "spectral_direct_q_s", "speedup_vs_fast", "speedup_vs_direct",
            "final_loss", "train_s", "data_s", "solve_s", "parameters", "train_samples")
    print(json.dumps({"problem": "boltzmann-bkw", "dim": 2, "t1": 1.0, **vars(args), **rec.errors,
                      "entropy_max_increase": float(np.diff(H).max()), **{k: st[k] for k in keys}}))


if __name__ == "__main__":
    main()
