#!/usr/bin/env python
"""Benchmark: Numba Monte Carlo reference vs a vectorised NumPy estimator.

Both compute the same quantity with the same algorithm and sample count:
the mean and standard error of phi(X_T^x) at N points from M exactly sampled
paths shared by all points (heat paraboloid, Brownian motion; put-min,
correlated geometric Brownian motion).  The NumPy estimator draws a block of
paths, forms the (paths, points, d) array of X_T and reduces it; its block
size is the fastest of a few tried in the same run.  Also measures the
training throughput (samples per second) of ``deep-kolmogorov`` at d = 10 and
d = 100.

Prints one JSON line on stdout: per case the seconds, paths x dimensions per
second (paths x points x d / s), ``ratio`` = NumPy wall time / Numba wall time
(Numba on all its threads) and ``cpu_ratio`` = NumPy CPU time / Numba CPU time
(the work ratio, meaningful even on a loaded machine).  Top-level ``ratio``
is the smaller wall-time ratio of the two cases.

    nice -n 10 .venv/bin/python scripts/bench/bench_monte_carlo.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from problems.kolmogorov import BlackScholes, Heat  # noqa: E402
from sciml.references.monte_carlo import MonteCarlo  # noqa: E402


def numpy_estimate(problem, x: np.ndarray, samples: int, seed: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised NumPy version of the exact-sampling estimator (paths shared by the points)."""
    rng = np.random.default_rng(seed)
    sde = problem.sde()
    s1 = np.zeros(x.shape[0])
    s2 = np.zeros(x.shape[0])
    done = 0
    while done < samples:
        m = min(block, samples - done)
        w = rng.standard_normal((m, problem.d)) @ sde.L.T
        g = sde.exact_factor(w, problem.T)                      # (m, d)
        y = sde.apply_factor(x[None, :, :], g[:, None, :])      # (m, N, d)
        v = problem.phi(y.reshape(-1, problem.d)).reshape(m, -1)
        s1 += v.sum(axis=0)
        s2 += (v * v).sum(axis=0)
        done += m
    mean = s1 / samples
    var = np.maximum(s2 - samples * mean * mean, 0.0) / (samples - 1)
    return problem.discount * mean, problem.discount * np.sqrt(var / samples)


def best_of(fn, repeat: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds of this process) over ``repeat`` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def bench_case(name: str, problem, samples: int, repeat: int) -> dict:
    import numba
    x = problem.test_points()
    mc = MonteCarlo(samples=samples)
    mc.estimate(problem, x[:2], seed=0)  # compile / load the cache outside the timing
    t_numba, c_numba = best_of(lambda: mc.estimate(problem, x, seed=0), repeat)
    numba_mean, numba_se, _ = mc.estimate(problem, x, seed=0)
    t_np, c_np, best_block = math.inf, math.inf, None
    for block in (1, 4, 16, 64, 256):
        t, c = best_of(lambda: numpy_estimate(problem, x, samples, 0, block), repeat)
        if t < t_np:
            t_np, c_np, best_block = t, c, block
    np_mean, np_se = numpy_estimate(problem, x, samples, 0, best_block)
    # same quantity: the two independent estimates agree within their standard errors
    z = float(np.max(np.abs(np_mean - numba_mean) / np.sqrt(np_se ** 2 + numba_se ** 2)))
    work = samples * x.shape[0] * problem.d
    return {"case": name, "d": problem.d, "points": x.shape[0], "samples": samples,
            "numba_s": t_numba, "numpy_s": t_np, "numpy_block": best_block,
            "numba_paths_x_dims_per_s": work / t_numba, "numpy_paths_x_dims_per_s": work / t_np,
            "ratio": t_np / t_numba,
            # CPU seconds (all threads): the work each needs, whatever the machine's load
            "numba_cpu_s": c_numba, "numpy_cpu_s": c_np, "cpu_ratio": c_np / c_numba,
            "max_z_between_estimates": z, "numba_threads": numba.get_num_threads()}


def _paraboloid(x, xp):
    return xp.sum(x * x, axis=0)


def bench_user(samples: int, repeat: int) -> dict:
    """The built-in heat paraboloid (d = 10) against the same problem written as a
    user's Kolmogorov problem (initial = |x|^2, diffusion sqrt(2)): same estimator,
    same sample count, same paths; ratio = user time / built-in time."""
    from problems.kolmogorov import Kolmogorov
    builtin = Heat(d=10, n_test=1000)
    user = Kolmogorov(d=10, T=1.0, a=0.0, b=1.0, drift=0.0, diffusion=math.sqrt(2.0), initial=_paraboloid,
                      n_test=1000)
    x = builtin.test_points()
    mc = MonteCarlo(samples=samples)
    out = {"case": "heat-paraboloid d=10, built-in vs user problem", "samples": samples, "points": x.shape[0]}
    for label, problem in (("builtin", builtin), ("user", user)):
        mc.estimate(problem, x[:2], seed=0)   # compile outside the timing
        out[f"{label}_s"], out[f"{label}_cpu_s"] = best_of(lambda: mc.estimate(problem, x, seed=0), repeat)
        out[f"{label}_mean"] = float(np.mean(mc.estimate(problem, x, seed=0)[0]))
    out["ratio"] = out["user_s"] / out["builtin_s"]
    out["cpu_ratio"] = out["user_cpu_s"] / out["builtin_cpu_s"]
    return out


def bench_training(d: int, steps: int, batch: int) -> dict:
    from sciml.solvers.deep_kolmogorov import DeepKolmogorov
    out = {"d": d, "batch": batch, "steps": steps}
    for threads in (1, 2):
        sol = DeepKolmogorov(steps=steps, batch=batch, threads=threads).solve(Heat(d=d, n_test=10), seed=0)
        out[f"samples_per_s_{threads}_threads"] = sol.stats["samples_per_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--user-only", action="store_true", help="only the built-in vs user-problem timing")
    args = ap.parse_args()
    scale = 0.1 if args.quick else 1.0
    repeat = 1 if args.quick else 3
    cases = [
        bench_case("heat-paraboloid", Heat(d=10, n_test=1000), int(20_000 * scale), repeat),
        bench_case("put-min", BlackScholes(payoff="put-min", d=50, n_test=200), int(20_000 * scale), repeat),
    ]
    user = bench_user(int(200_000 * scale), max(repeat, 3))
    if args.user_only:
        print(json.dumps({"benchmark": "monte_carlo_user", "baseline": "the built-in heat kernel, same run",
                          "ratio": user["ratio"], "user_problem": user}))
        return
    training = [bench_training(d, 20 if args.quick else 100, 4096) for d in (10, 100)]
    print(json.dumps({"benchmark": "monte_carlo", "baseline": "vectorised NumPy, same samples and paths",
                      "ratio": min(c["ratio"] for c in cases), "cases": cases,
                      "user_problem": user, "user_over_builtin": user["ratio"],
                      "deep_kolmogorov_training": training, "cpu_count": os.cpu_count(),
                      "load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
