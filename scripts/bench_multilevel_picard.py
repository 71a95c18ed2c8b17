"""Benchmark: Numba-parallel multilevel Picard vs the same recursion in plain NumPy/Python.

One run each, same problem, level and seed (the random streams differ, so
the two estimates agree only to Monte Carlo error).  Numba compilation is
excluded (a level-1 warm-up call).  Level 6 by default: at level 4 or 5 the
Numba run takes 5-40 ms and thread start-up, not the recursion, is measured.  Prints one JSON line:
{"bench": ..., "numba_s", "python_s", "ratio", ...}.

    python scripts/bench_multilevel_picard.py [--problem allen-cahn] [--d 100] [--level 6]
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="allen-cahn", choices=["allen-cahn", "sine-gordon", "default-risk"])
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--T", type=float, default=1.0)
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.d < 1 or args.T <= 0 or not 1 <= args.level <= 7:
        print("bench_multilevel_picard: need d >= 1, T > 0, 1 <= level <= 7", file=sys.stderr)
        return 2
    import numba

    from sciml import registry
    from sciml.references.multilevel_picard import mlp_cost, mlp_numba, mlp_python

    p = registry.make_problem(args.problem, d=args.d, T=args.T)
    n = args.level
    mlp_numba(p, 1, 1, seed=0)                     # compile / load the cache
    t0 = time.perf_counter()
    est, cost = mlp_numba(p, n, n, seed=args.seed)
    t_nb = time.perf_counter() - t0
    t0 = time.perf_counter()
    v_py = mlp_python(p, n, n, seed=args.seed)
    t_py = time.perf_counter() - t0
    f_evals, g_evals = mlp_cost(n, n)
    print(json.dumps({"bench": "multilevel_picard", "problem": args.problem, "d": args.d, "T": args.T,
                      "level": n, "M": n, "f_evals": f_evals, "g_evals": g_evals,
                      "numba_threads": numba.get_num_threads(), "numba_value": float(est[0]),
                      "python_value": v_py, "numba_s": t_nb, "python_s": t_py,
                      "baseline": "same recursion in plain NumPy/Python", "ratio": t_py / t_nb}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
