"""sciml's PINN adapter against a bare DeepXDE script of the same configuration.

Both train the same network on Poisson d = 2 (sine, k = 1) with the same
collocation points, seed, Adam steps and L-BFGS iterations, in this one
process, alternating (bare, sciml) for ``--pairs`` pairs; the figure is the
ratio of the median wall times (sciml / bare; target <= 1.10) and both errors.

Prints one JSON line on stdout.  Usage: python scripts/bench/bench_pinn.py [--pairs 3]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np

from problems.elliptic import Poisson
from sciml.metrics import rel_l2
from sciml.solvers.pinn import PINN, _set_lbfgs, import_deepxde

CONFIG = dict(width=32, depth=3, activation="tanh", n_domain=1000, n_boundary=200, adam_steps=1000,
              lr=1e-3, lbfgs_steps=1000, sampler="Hammersley", dtype="float64", threads=1)


def bare_deepxde(seed: int) -> tuple[float, float]:
    """The textbook DeepXDE script for -Δu = 2π² sin(πx) sin(πy), u = 0 on the boundary."""
    dde = import_deepxde()
    import torch
    c = CONFIG
    t0 = time.perf_counter()
    torch.set_num_threads(c["threads"])
    dde.config.set_default_float(c["dtype"])
    dde.config.set_random_seed(seed)

    def pde(x, u):
        lap = dde.grad.hessian(u, x, i=0, j=0) + dde.grad.hessian(u, x, i=1, j=1)
        # same floating-point association as Poisson.source_expr, so both runs follow one trajectory
        f = 2 * math.pi ** 2 * (torch.sin(math.pi * x[:, 0:1]) * torch.sin(math.pi * x[:, 1:2]))
        return -lap - f

    geom = dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0])
    bc = dde.icbc.DirichletBC(geom, lambda x: np.sin(np.pi * x[:, 0:1]) * np.sin(np.pi * x[:, 1:2]),
                              lambda _x, on_b: on_b)
    data = dde.data.PDE(geom, pde, [bc], num_domain=c["n_domain"], num_boundary=c["n_boundary"],
                        train_distribution=c["sampler"])
    net = dde.nn.FNN([2] + [c["width"]] * c["depth"] + [1], c["activation"], "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=c["lr"])
    model.train(iterations=c["adam_steps"], display_every=100, verbose=0)
    _set_lbfgs(dde, c["lbfgs_steps"])
    model.compile("L-BFGS")
    model.train(verbose=0)
    wall = time.perf_counter() - t0
    x = Poisson(d=2).test_points()
    return wall, rel_l2(model.predict(x).reshape(-1), Poisson(d=2).exact(x))


def through_sciml(seed: int) -> tuple[float, float]:
    problem = Poisson(d=2)
    t0 = time.perf_counter()
    sol = PINN(**CONFIG).solve(problem, seed=seed)
    wall = time.perf_counter() - t0
    x = problem.test_points()
    return wall, rel_l2(sol(x), problem.exact(x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import contextlib
    bare_t, ours_t, bare_e, ours_e = [], [], [], []
    with contextlib.redirect_stdout(sys.stderr):
        import_deepxde()
        for i in range(args.pairs):
            t, e = bare_deepxde(args.seed)
            bare_t.append(t)
            bare_e.append(e)
            t, e = through_sciml(args.seed)
            ours_t.append(t)
            ours_e.append(e)
            print(f"pair {i}: bare {bare_t[-1]:.2f}s ({bare_e[-1]:.2e})  sciml {ours_t[-1]:.2f}s ({ours_e[-1]:.2e})")
    ratio = statistics.median(ours_t) / statistics.median(bare_t)
    print(json.dumps({"bench": "pinn", "baseline": "bare deepxde script", "ratio": ratio, "target_ratio": 1.10,
                      "sciml_s": statistics.median(ours_t), "bare_s": statistics.median(bare_t),
                      "sciml_rel_l2": ours_e[0], "bare_rel_l2": bare_e[0], "config": CONFIG}))


if __name__ == "__main__":
    main()
