"""Multilevel Picard: error vs cost over levels, against the radial reference.

For each level n (M = n) runs ``--repeats`` independent MLP estimates and
reports the relative root-mean-square error over them, the mean estimate,
the cost per run (evaluations of f; also wall seconds), then fits the slope
of log(rel. RMSE) against log(cost).  Writes one JSON line per level, a
summary line, and (with --plot) a log-log figure.

    python scripts/paper/mlp_error_vs_cost.py --problem allen-cahn --d 100 --T 1 \
        --levels 1 2 3 4 5 6 --repeats 5 --plot docs/figures/mlp_error_vs_cost.png
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="allen-cahn", choices=["allen-cahn", "sine-gordon"])
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--T", type=float, default=1.0)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args(argv)
    if args.d < 1 or args.T <= 0 or min(args.levels) < 1 or max(args.levels) > 8 or args.repeats < 2:
        print("mlp_error_vs_cost: need d >= 1, T > 0, levels in 1..8, repeats >= 2", file=sys.stderr)
        return 2
    from sciml import registry
    from sciml.references.multilevel_picard import mlp_numba
    from sciml.references.radial import Radial

    p = registry.make_problem(args.problem, d=args.d, T=args.T)
    t0 = time.perf_counter()
    ref = Radial().solve(p).value
    print(json.dumps({"reference": "radial", "value": ref, "wall_s": time.perf_counter() - t0}), flush=True)
    mlp_numba(p, 1, 1, seed=0)  # compile / load cache
    rows = []
    for n in args.levels:
        t0 = time.perf_counter()
        est, cost = mlp_numba(p, n, n, seed=args.seed, repeats=args.repeats)
        wall = (time.perf_counter() - t0) / args.repeats
        rel = (est - ref) / ref
        row = {"level": n, "M": n, "repeats": args.repeats, "mean": float(est.mean()),
               "std": float(est.std(ddof=1)), "rel_rmse": float(np.sqrt(np.mean(rel ** 2))),
               "rel_error_of_mean": float(abs(est.mean() - ref) / ref),
               "f_evals": int(cost[0, 0]), "normals": int(cost[0, 2]), "wall_s_per_run": wall}
        rows.append(row)
        print(json.dumps(row), flush=True)
    fit = [r for r in rows if r["level"] >= 2] or rows
    slope = float(np.polyfit(np.log([r["f_evals"] for r in fit]), np.log([r["rel_rmse"] for r in fit]), 1)[0]) \
        if len(fit) >= 2 else math.nan
    print(json.dumps({"summary": True, "problem": p.name, "d": p.d, "T": p.T, "reference_value": ref,
                      "slope_log_rmse_vs_log_cost": slope, "fitted_levels": [r["level"] for r in fit]}))
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sciml.io import atomic_path
        c = np.array([r["f_evals"] for r in rows], dtype=float)
        e = np.array([r["rel_rmse"] for r in rows])
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.loglog(c, e, "o-", label="MLP, M = n (levels %s)" % ",".join(str(r["level"]) for r in rows))
        cc = np.array([c[0], c[-1]])
        ax.loglog(cc, e[-1] * (cc / c[-1]) ** slope, "--", label=f"fit: slope {slope:.2f}")
        ax.set_xlabel("cost: evaluations of f per run")
        ax.set_ylabel("relative RMSE vs radial")
        ax.set_title(f"{p.name}, d = {p.d}, T = {p.T:g}")
        ax.legend()
        fig.tight_layout()
        with atomic_path(args.plot) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
