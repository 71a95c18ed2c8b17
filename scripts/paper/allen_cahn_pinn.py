"""DeepXDE's Allen-Cahn example (u_t = 0.001 u_xx + 5(u - u^3) on [-1, 1] x (0, 1],
u(0, x) = x^2 cos(pi x), u(t, +-1) = -1): the PINN against our FEM reference, with a figure.

The reference is FEM P2 + Crank-Nicolson with 1024 cells and 800 steps, within about 6e-6
in max norm of the converged solution (its own convergence check: scripts/paper/allen_cahn_fem.py).
The PINN uses hard constraints (u = u0(x) + t phi(x) N(x, t), as DeepXDE's example) and the
budget given on the command line.  Prints one JSON line (rel_l2, max error, u(1, 0), wall
seconds) and draws u(1, .) of both with the pointwise error.

    python scripts/paper/allen_cahn_pinn.py --out docs/figures/allen_cahn_pinn.png
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from problems.parabolic import allen_cahn_deepxde
from sciml.references.fem import FEM
from sciml.solvers.pinn import PINN


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--adam", type=int, default=2000, help="Adam steps")
    ap.add_argument("--lbfgs", type=int, default=3000, help="L-BFGS steps")
    ap.add_argument("--points", type=int, default=2000, help="collocation points in space-time")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="figure file (PNG); none: no figure")
    args = ap.parse_args(argv)

    p = allen_cahn_deepxde()
    x = np.linspace(-1.0, 1.0, 2001)[:, None]
    t0 = time.perf_counter()
    ref = FEM(degree=2, n=1024, steps=800, scheme="cn").solve(p)
    ref_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pinn = PINN(width=args.width, depth=args.depth, n_domain=args.points, n_boundary=200,
                adam_steps=args.adam, lbfgs_steps=args.lbfgs, hard_dirichlet=True).solve(p, seed=args.seed)
    pinn_s = time.perf_counter() - t0
    u_ref, u_nn = np.asarray(ref(x)).ravel(), np.asarray(pinn(x)).ravel()
    err = u_nn - u_ref
    row = {"problem": "allen-cahn (DeepXDE example)", "reference": "fem P2 CN n=1024 steps=800",
           "pinn": {"width": args.width, "depth": args.depth, "points": args.points,
                    "adam": args.adam, "lbfgs": args.lbfgs, "seed": args.seed},
           "rel_l2": float(np.linalg.norm(err) / np.linalg.norm(u_ref)),
           "max_error": float(np.max(np.abs(err))),
           "u_pinn(1,0)": float(u_nn[1000]), "u_fem(1,0)": float(u_ref[1000]),
           "pinn_wall_s": round(pinn_s, 1), "fem_wall_s": round(ref_s, 1)}
    print(json.dumps(row))
    if args.out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
        a.plot(x[:, 0], u_ref, "k-", lw=1.5, label="FEM reference (P2, CN, 1024 cells, 800 steps)")
        a.plot(x[:, 0], u_nn, "r--", lw=1.2, label=f"PINN ({args.adam} Adam + {args.lbfgs} L-BFGS)")
        a.set_xlabel("x")
        a.set_ylabel("u(1, x)")
        a.legend(fontsize=8, loc="lower center")
        a.set_title("Allen-Cahn at t = 1")
        b.semilogy(x[:, 0], np.abs(err) + 1e-16, "r-", lw=1)
        b.set_xlabel("x")
        b.set_ylabel("|u_PINN - u_FEM|")
        b.set_title(f"pointwise error (rel L2 {row['rel_l2']:.2g}, max {row['max_error']:.2g})")
        fig.tight_layout()
        fig.savefig(args.out, dpi=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
