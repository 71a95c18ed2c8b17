"""Benchmark: Numba-parallel multilevel Picard vs the same recursion in plain NumPy/Python.

One run each, same problem, level and seed (the random streams differ, so
the two estimates agree only to Monte Carlo error).  Numba compilation is
excluded (a level-1 warm-up call).  Level 6 by default: at level 4 or 5 the
Numba run takes 5-40 ms and thread start-up, not the recursion, is measured.

The same built-in problem is also written as a user's problem
(problems.semilinear.Semilinear with f and g as plain xp functions, compiled by
Numba into the same recursion) and timed in the same run, same level and seed
(its estimates equal the built-in ones to rounding): ``user_s`` and
``user_ratio`` = user_s / numba_s (target <= 1.2).  Each Numba timing is the
best of ``--repeat`` runs.  Prints one JSON line:
{"bench": ..., "numba_s", "python_s", "ratio", "user_s", "user_ratio", ...}.

    python scripts/bench/bench_multilevel_picard.py [--problem allen-cahn] [--d 100] [--level 6]
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
    ap.add_argument("--repeat", type=int, default=3, help="Numba timings: best of this many runs")
    ap.add_argument("--no-python", action="store_true", help="skip the (slow) plain-Python baseline")
    args = ap.parse_args(argv)
    if args.d < 1 or args.T <= 0 or not 1 <= args.level <= 7:
        print("bench_multilevel_picard: need d >= 1, T > 0, 1 <= level <= 7", file=sys.stderr)
        return 2
    import numba

    from sciml import registry
    from sciml.references.multilevel_picard import mlp_cost, mlp_numba, mlp_python

    p = registry.make_problem(args.problem, d=args.d, T=args.T)
    n = args.level
    user = _as_user_problem(p)

    def best(problem):
        mlp_numba(problem, 1, 1, seed=0)                     # compile / load the cache
        times = []
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            est, _ = mlp_numba(problem, n, n, seed=args.seed)
            times.append(time.perf_counter() - t0)
        return min(times), est
    t_nb, est = best(p)
    t_user, est_user = best(user) if user is not None else (None, [None])
    t_py, v_py = None, None
    if not args.no_python:
        t0 = time.perf_counter()
        v_py = mlp_python(p, n, n, seed=args.seed)
        t_py = time.perf_counter() - t0
    f_evals, g_evals = mlp_cost(n, n)
    print(json.dumps({"bench": "multilevel_picard", "problem": args.problem, "d": args.d, "T": args.T,
                      "level": n, "M": n, "f_evals": f_evals, "g_evals": g_evals,
                      "numba_threads": numba.get_num_threads(), "numba_value": float(est[0]),
                      "python_value": v_py, "numba_s": t_nb, "python_s": t_py,
                      "baseline": "same recursion in plain NumPy/Python", "ratio": t_py / t_nb if t_py else None,
                      "user_value": est_user[0] if est_user[0] is None else float(est_user[0]), "user_s": t_user,
                      "user_ratio": t_user / t_nb if t_user else None}))
    return 0


def _g_ac(x, xp):
    return 1.0 / (2.0 + 0.4 * xp.sum(x * x, axis=0))


def _f_ac(t, x, u, z, xp):
    return u - u ** 3


def _f_sg(t, x, u, z, xp):
    return xp.sin(u)


def _as_user_problem(p):
    """The built-in problem written as a user's Semilinear (None for default-risk:
    its geometric Brownian motion is not a user's X = xi + sigma W)."""
    from problems.semilinear import Semilinear
    f = {"allen-cahn": _f_ac, "sine-gordon": _f_sg}.get(p.name)
    if f is None:
        return None
    return Semilinear(d=p.d, T=p.T, f=f, g=_g_ac, x0=p.x0, bounds=p.solution_bounds())


if __name__ == "__main__":
    sys.exit(main())
