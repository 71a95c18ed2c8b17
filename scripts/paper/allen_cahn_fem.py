"""DeepXDE's Allen-Cahn example (u_t = 0.001 u_xx + 5(u - u^3), x in [-1, 1], t in (0, 1],
u(0, x) = x^2 cos(pi x), u(t, +-1) = -1) with our FEM reference, and its convergence check.

P2 elements with Crank-Nicolson are refined together (cells and steps doubled, so h^2 ~ dt^2
errors shrink 4x per level); u(1, .) is compared on 2001 points of [-1, 1].  The error of each
level is estimated by its distance to the finest level, and the finest level's own error by
Richardson extrapolation: |u_L - u_(L-1)| / (2^order - 1) with the observed order.  Prints one
JSON line.  Usage: python scripts/paper/allen_cahn_fem.py [--levels 5]
"""
import argparse
import json
import time

import numpy as np

from problems.parabolic import allen_cahn_deepxde
from sciml.references.fem import FEM


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, default=5)
    ap.add_argument("--n0", type=int, default=128)
    ap.add_argument("--steps0", type=int, default=100)
    args = ap.parse_args()
    p = allen_cahn_deepxde()
    x = np.linspace(-1, 1, 2001)[:, None]
    sols, rows = [], []
    for lev in range(args.levels):
        n, steps = args.n0 * 2 ** lev, args.steps0 * 2 ** lev
        t0 = time.perf_counter()
        s = FEM(degree=2, n=n, steps=steps, scheme="cn").solve(p)
        sols.append(s(x))
        rows.append({"n": n, "steps": steps, "wall_s": round(time.perf_counter() - t0, 2)})
    diffs = [float(np.max(np.abs(sols[i + 1] - sols[i]))) for i in range(len(sols) - 1)]
    orders = [float(np.log2(diffs[i] / diffs[i + 1])) for i in range(len(diffs) - 1)]
    q = orders[-1] if orders else 2.0
    est = diffs[-1] / (2 ** q - 1)
    for i, r in enumerate(rows):
        r["max_diff_to_finest"] = float(np.max(np.abs(sols[i] - sols[-1])))
    print(json.dumps({"levels": rows, "successive_max_diffs": diffs, "observed_orders": orders,
                      "estimated_max_error_finest": est, "u(1,0)": float(sols[-1][1000]),
                      "u(1,0.5)": float(sols[-1][1500])}))


if __name__ == "__main__":
    main()
