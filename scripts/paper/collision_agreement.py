#!/usr/bin/env python
"""Fast (Mouhot-Pareschi, M directions) vs direct (Pareschi-Russo) Q(f_BKW) in
dim 2, as a function of M, at n = 32 and 64 (L = 8, BKW at t = 0.5).

Prints one JSON line per (n, M): the relative max difference fast vs direct,
each against the exact Q(f_BKW) = K'(t) df/dK, and the fast method's seconds
per call (min of repeats after a warm-up, one thread).  This separates the
angular quadrature (what M changes) from the truncation and resolution
(what n changes).

    nice -n 10 .venv/bin/python scripts/paper/collision_agreement.py [--M 2,3,4,6,8,12,16,32,64]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from operators.collision import MaxwellCollision, velocity_grid
from problems.boltzmann import bkw_dK_dt, bkw_f, bkw_K

T_BKW = 0.5


def rel_max(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def seconds_per_call(op: MaxwellCollision, f: np.ndarray, min_time: float = 0.3) -> float:
    op(f)
    times: list[float] = []
    t_end = time.perf_counter() + min_time
    while len(times) < 3 or (time.perf_counter() < t_end and len(times) < 200):
        t0 = time.perf_counter()
        op(f)
        times.append(time.perf_counter() - t0)
    return float(np.min(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--M", default="2,3,4,6,8,12,16,32,64")
    ap.add_argument("--n", default="32,64")
    ap.add_argument("--L", type=float, default=8.0)
    args = ap.parse_args()
    for n in (int(s) for s in args.n.split(",")):
        _, pts = velocity_grid(n, args.L, 2)
        K = bkw_K(T_BKW, 2)
        f = bkw_f(pts, K, 2).reshape(n, n)
        exact = (bkw_dK_dt(T_BKW, 2) * np.imag(bkw_f(pts, K + 1e-30j, 2)) / 1e-30).reshape(n, n)
        direct = MaxwellCollision(2, n, args.L, "direct")(f)
        for M in (int(s) for s in args.M.split(",")):
            op = MaxwellCollision(2, n, args.L, "fast", M=M)
            fast = op(f)
            print(json.dumps({"n": n, "M": M, "L": args.L, "fast_vs_direct": rel_max(fast, direct),
                              "fast_vs_exact": rel_max(fast, exact), "direct_vs_exact": rel_max(direct, exact),
                              "fast_s": seconds_per_call(op, f)}), flush=True)


if __name__ == "__main__":
    main()
