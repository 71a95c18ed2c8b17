"""Coefficient recovery against the noise level: FEM-constrained least squares and PINN.

-div(k grad u) = f on the unit square, u = 0 on the boundary, 50 measurements of u at
random points of [0.1, 0.9]^2 with Gaussian noise of standard deviation noise * max|u|
(one draw, scaled per level).  constant: f = 2 pi^2 sin(pi x) sin(pi y), k = 2, exact data
u = sin(pi x) sin(pi y) / 2.  quadrants: f = 1, k = 1, 2, 3, 4 on the quadrants, data from a
P2 FEM solve on 64 x 64 cells (FEM only: the PINN's strong form does not see the jumps).
Prints one JSON line per (case, method, noise).  Usage: python scripts/paper/inverse_table.py [--no-pinn]
"""
import argparse
import json

import numpy as np

from problems.elliptic import Box, Elliptic
from sciml.references.fem import FEM
from sciml.references.fem_inverse import quadrant_indicators, recover_coefficient


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-pinn", action="store_true")
    args = ap.parse_args()
    sq = Box([0, 0], [1, 1])
    rng = np.random.default_rng(0)
    xo = 0.1 + 0.8 * rng.random((50, 2))
    draw = rng.standard_normal(50)
    f = lambda x, xp: 2 * xp.pi ** 2 * xp.sin(xp.pi * x[0]) * xp.sin(xp.pi * x[1])  # noqa: E731
    const = Elliptic(domain=sq, source=f, dirichlet=0.0)
    u_const = 0.5 * np.sin(np.pi * xo[:, 0]) * np.sin(np.pi * xo[:, 1])
    ktrue = np.array([1.0, 2.0, 3.0, 4.0])
    truth = Elliptic(domain=sq, coefficient=lambda x, xp: sum(k * i for k, i in zip(ktrue, quadrant_indicators(sq, x, xp))),
                     source=1.0, dirichlet=0.0)
    u_quad = FEM(degree=2, n=64).solve(truth)(xo)
    quad = Elliptic(domain=sq, source=1.0, dirichlet=0.0)
    for noise in (0.0, 0.01, 0.05):
        for case, prob, u, kt in (("constant", const, u_const, np.array([2.0])), ("quadrants", quad, u_quad, ktrue)):
            uo = u + noise * np.abs(u).max() * draw
            r = recover_coefficient(prob, xo, uo, parametrisation=case, degree=1, n=32)
            print(json.dumps({"case": case, "method": "fem-lsq P1 n=32", "noise": noise, "k": r["params"].tolist(),
                              "max_rel_error": float(np.max(np.abs(r["params"] - kt) / kt)),
                              "fem_solves": r["fem_solves"], "wall_s": round(r["wall_s"], 2)}), flush=True)
            if case == "constant" and not args.no_pinn:
                from sciml.solvers.pinn_inverse import recover_constant_pinn
                r = recover_constant_pinn(prob, xo, uo, adam_steps=1000, lbfgs_steps=1000, n_domain=400)
                print(json.dumps({"case": case, "method": "pinn 1000+1000 steps", "noise": noise,
                                  "k": r["params"].tolist(), "max_rel_error": float(abs(r["params"][0] - 2) / 2),
                                  "steps": r["steps"], "wall_s": round(r["wall_s"], 1)}), flush=True)


if __name__ == "__main__":
    main()
