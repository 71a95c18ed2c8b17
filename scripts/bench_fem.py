"""FEM solve time vs unknowns in d = 2 with CG + algebraic multigrid (hypre BoomerAMG).

Solves Poisson (sine, k = 1) with P1 elements on n x n meshes giving 1e4 to
1e6 unknowns, times assembly and the CG+AMG solve separately, and fits the
exponent of solve time against unknowns (near-linear means <= 1.2).  The
baseline named in the JSON line is the same fit for sparse direct LU (MUMPS)
over the sizes where LU fits in memory quickly (up to ~2.5e5 unknowns).

Prints one JSON line on stdout.  Usage: python scripts/bench_fem.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from problems.elliptic import Poisson
from sciml.references.fem import FEM


def timed(solver: FEM, problem: Poisson, repeats: int) -> tuple[float, float, int, float]:
    best_solve, best_asm, its, err = np.inf, np.inf, 0, np.nan
    for _ in range(repeats):
        sol = solver.solve(problem)
        best_solve = min(best_solve, sol.stats["solve_s"])
        best_asm = min(best_asm, sol.stats["assemble_s"])
        its = sol.stats["iterations"]
        err = sol.extra_errors(problem)["rel_l2_fem"]
    return best_solve, best_asm, its, err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    problem = Poisson(d=2, solution="sine", k=1)
    ns = [99, 199, 315, 499, 707, 999]  # (n+1)^2 = 1e4 ... 1e6 unknowns
    rows = []
    for n in ns:
        s, a, its, err = timed(FEM(degree=1, n=n, linear_solver="cg-amg", rtol=1e-10), problem, args.repeats)
        rows.append({"n": n, "unknowns": (n + 1) ** 2, "solve_s": s, "assemble_s": a, "cg_iterations": its,
                     "rel_l2_fem": err})
        print(f"cg-amg n={n:5d} unknowns={(n + 1) ** 2:8d} solve {s:7.3f}s assemble {a:7.3f}s its {its:3d} "
              f"rel_l2 {err:.2e}", file=sys.stderr)
    lu_rows = []
    for n in ns[:4]:
        s, a, _its, err = timed(FEM(degree=1, n=n, linear_solver="lu"), problem, args.repeats)
        lu_rows.append({"unknowns": (n + 1) ** 2, "solve_s": s})
        print(f"lu     n={n:5d} solve {s:7.3f}s", file=sys.stderr)
    N = np.array([r["unknowns"] for r in rows], dtype=float)
    T = np.array([r["solve_s"] for r in rows])
    exponent = float(np.polyfit(np.log(N), np.log(T), 1)[0])
    NL = np.array([r["unknowns"] for r in lu_rows], dtype=float)
    TL = np.array([r["solve_s"] for r in lu_rows])
    lu_exponent = float(np.polyfit(np.log(NL), np.log(TL), 1)[0])
    ratio = float(TL[-1] / T[len(lu_rows) - 1])
    print(json.dumps({"bench": "fem", "solver": "cg-amg", "exponent": exponent, "target_exponent": 1.2,
                      "baseline": "mumps-lu", "baseline_exponent": lu_exponent,
                      "lu_over_amg_time_at_largest_lu": ratio, "rows": rows}))


if __name__ == "__main__":
    main()
