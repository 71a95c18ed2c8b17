#!/usr/bin/env python
"""Benchmark: fast (Mouhot-Pareschi) vs direct (Pareschi-Russo) evaluation of
Q(f, f) for Maxwell molecules in dim 2, on the BKW density.

Prints ONE JSON line: seconds per evaluation of each at n = 32, their ratio
(target >= 10), the agreement of the two at n = 32 and 64 with the SAME M as
timed (and each one's error against the exact Q(f_BKW) = K'(t) df/dK), and
how each grows with n (exponent of a least-squares fit of log t against
log n; theory: 4 = 2d for direct, ~2 (n^d log n) for fast).  Both are timed
the same way: grid values in, grid values out (op(f)), kernel weights cached
and a warm-up call first (Numba compile and tables excluded), minimum of
repeated calls, one thread each by default (pessimistic on a shared machine).

    nice -n 10 .venv/bin/python scripts/bench/bench_collision.py [--M 16] [--L 8]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from operators.collision import MaxwellCollision, velocity_grid
from problems.boltzmann import bkw_dK_dt, bkw_f, bkw_K

T_BKW = 0.5  # time of the BKW density that is evaluated


def rel_max(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def exact_Q(pts: np.ndarray, dim: int = 2) -> np.ndarray:
    """Q(f_BKW) = K'(t) df/dK, by a complex-step derivative in K (exact to rounding)."""
    K = bkw_K(T_BKW, dim)
    return bkw_dK_dt(T_BKW, dim) * np.imag(bkw_f(pts, K + 1e-30j, dim)) / 1e-30


def seconds_per_call(op: MaxwellCollision, f: np.ndarray, min_time: float = 0.5) -> float:
    op(f)  # warm-up: compile, tables
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < 3 or (time.perf_counter() < t_end and len(times) < 200):
        t0 = time.perf_counter()
        op(f)
        times.append(time.perf_counter() - t0)
    return float(np.min(times))  # the least-disturbed run on a shared machine (as timeit advises)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--M", type=int, default=8, help="angular directions of the fast method")
    ap.add_argument("--L", type=float, default=8.0)
    ap.add_argument("--direct-sizes", default="16,24,32,48,64")
    ap.add_argument("--fast-sizes", default="16,32,64,128,256")
    ap.add_argument("--threads", type=int, default=1,
                    help="Numba threads for the direct kernel and BLAS threads (default 1: same as the "
                         "single-threaded FFTs of the fast method)")
    args = ap.parse_args()
    import numba
    numba.set_num_threads(args.threads)
    try:  # BLAS (the fast method's small-n resampling matrix products): same thread count
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=args.threads, user_api="blas")
        blas_threads = args.threads
    except ImportError:
        blas_threads = None
    sizes_d = [int(s) for s in args.direct_sizes.split(",")]
    sizes_f = [int(s) for s in args.fast_sizes.split(",")]

    def density(n):
        _, pts = velocity_grid(n, args.L, 2)
        return bkw_f(pts, bkw_K(T_BKW, 2), 2).reshape(n, n)

    t_direct = {n: seconds_per_call(MaxwellCollision(2, n, args.L, "direct"), density(n)) for n in sizes_d}
    t_fast = {n: seconds_per_call(MaxwellCollision(2, n, args.L, "fast", M=args.M), density(n)) for n in sizes_f}
    agreement = {}
    for n in (32, 64):  # same M as timed
        f = density(n)
        q_d = MaxwellCollision(2, n, args.L, "direct")(f)
        q_f = MaxwellCollision(2, n, args.L, "fast", M=args.M)(f)
        q_x = exact_Q(velocity_grid(n, args.L, 2)[1]).reshape(n, n)
        agreement[str(n)] = {"fast_vs_direct": rel_max(q_f, q_d), "direct_vs_exact": rel_max(q_d, q_x),
                             "fast_vs_exact": rel_max(q_f, q_x)}
    slope = lambda t: float(np.polyfit(np.log(list(t)), np.log(list(t.values())), 1)[0])  # noqa: E731
    print(json.dumps({
        "benchmark": "collision", "dim": 2, "n": 32, "M": args.M, "L": args.L,
        "fast_s": t_fast.get(32), "direct_s": t_direct.get(32), "baseline": "direct (Pareschi-Russo O(n^4))",
        "ratio": t_direct[32] / t_fast[32], "target_ratio": 10, "numba_threads": args.threads,
        "blas_threads": blas_threads, "fft_workers": 1,
        "fast_vs_direct_rel_max": agreement["32"]["fast_vs_direct"], "target_agreement": 1e-6,
        "agreement": agreement,
        "ratio_by_n": {str(n): t_direct[n] / t_fast[n] for n in sizes_d if n in t_fast},
        "direct_exponent": slope(t_direct), "fast_exponent": slope(t_fast),
        "direct_times": {str(k): v for k, v in t_direct.items()},
        "fast_times": {str(k): v for k, v in t_fast.items()},
    }))


if __name__ == "__main__":
    main()
