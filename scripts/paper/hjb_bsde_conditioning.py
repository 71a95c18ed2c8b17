"""Why deep BSDE misses hjb at large lam: the exact Z, the Euler bias and the conditioning.

For hjb (du/dt + Δu - lam |∇u|^2 = 0, X = sqrt(2) W), Cole-Hopf gives u(t, x)
for every (t, |x|^2) by one-dimensional quadrature, so the exact
Z = sqrt(2) ∇u = 2 sqrt(2) x ∂u/∂r (r = |x|^2) is available along the
uncontrolled paths that deep BSDE simulates.  With f = -lam |z|^2 / 2 the
BSDE gives, for any control Ẑ,

    Y_0 = E[g(X_T)] - (lam / 2) E ∫ |Ẑ_t|^2 dt   (the optimum of the loss in Y_0),

so the Euler scheme with the exact Z (left-point sum over N steps) shows
the time-discretisation bias of deep BSDE alone, and a Z that is off by a
factor (1 - eps) moves Y_0 by lam eps E∫|Z|^2 (first order) while it raises
the loss E|Y_N - g|^2 by only eps^2 E∫|Z|^2 (second order).

Prints one JSON line::

    python scripts/paper/hjb_bsde_conditioning.py --d 100 --lam 50
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np


def mean_z2(d: int, T: float, lam: float, t: float, chi_q: np.ndarray) -> float:
    """E|Z(t, X_t)|^2 with |X_t|^2 = 2 t chi2_d (quantile midpoints chi_q)."""
    from sciml.references.cole_hopf import cole_hopf_value
    if t == 0.0:
        return 0.0           # X_0 = 0 and Z = 2 sqrt(2) x u_r vanishes there
    out = []
    for r in 2.0 * t * chi_q:
        e = 1e-4 * max(r, 1.0)     # central difference in r; u is smooth in r
        u_r = (cole_hopf_value(d, T - t, lam, r + e) - cole_hopf_value(d, T - t, lam, r - e)) / (2 * e)
        out.append(8.0 * r * u_r * u_r)          # |Z|^2 = 2 |∇u|^2 = 8 r u_r^2
    return float(np.mean(out))


def main(argv: list[str] | None = None) -> int:
    from scipy import stats
    from sciml.references.cole_hopf import cole_hopf_value, radial_expectation
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--T", type=float, default=1.0)
    ap.add_argument("--lam", type=float, default=50.0, help="> 0")
    ap.add_argument("--grid", type=int, default=40, help="time points (the N values must divide it)")
    ap.add_argument("--quantiles", type=int, default=48, help="chi-square quantile midpoints for E over |X_t|^2")
    ap.add_argument("--N", type=int, nargs="+", default=[10, 20, 40])
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    d, T, lam = args.d, args.T, args.lam
    if lam <= 0:
        print(f"hjb_bsde_conditioning: lam={lam} must be > 0", file=sys.stderr)
        return 2
    u0, eg = cole_hopf_value(d, T, lam), cole_hopf_value(d, T, 0.0)
    chi_q = stats.chi2(d).ppf((np.arange(args.quantiles) + 0.5) / args.quantiles)
    ts = np.arange(args.grid) * T / args.grid
    ez2 = np.array([mean_z2(d, T, lam, float(t), chi_q) for t in ts])
    # ∫ E|Z|^2 dt from the exact identity Y_0 = E g - lam/2 ∫ E|Z|^2 (continuous time)
    int_z2 = 2.0 * (eg - u0) / lam
    euler = {}
    for n in args.N:
        if args.grid % n:
            print(f"hjb_bsde_conditioning: N={n} does not divide --grid {args.grid}", file=sys.stderr)
            return 2
        left = lam / 2 * (T / n) * ez2[:: args.grid // n].sum()
        euler[str(n)] = {"y0": eg - left, "rel_error": (eg - left - u0) / u0}
    # trapezoid on the grid (t = T by extrapolating the last two points) as a check of int_z2
    ez2_T = 2 * ez2[-1] - ez2[-2]
    trap = (T / args.grid) * (ez2.sum() - 0.5 * ez2[0] + 0.5 * ez2_T)
    line = {"d": d, "T": T, "lam": lam, "u0": u0, "linear_answer": eg,
            "int_E_Z2": int_z2, "int_E_Z2_trapezoid": trap,
            "E_Z2_max": float(ez2.max()), "t_of_max": float(ts[int(ez2.argmax())]),
            "euler_exact_Z": euler,
            "dY0_deps_rel": lam * int_z2 / u0,
            "eps_for_1pct": 0.01 * u0 / (lam * int_z2),
            "loss_excess_for_1pct": (0.01 * u0 / (lam * int_z2)) ** 2 * int_z2,
            "var_g": radial_expectation(d, T, 0.0, lambda r: np.log(0.5 * (1 + r)) ** 2) - eg ** 2,
            "wall_s": time.perf_counter() - t0}
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
