"""Time-discretisation bias of the controlled (robust) deep BSDE estimator for hjb, with the exact control.

For hjb (du/dt + Δu - lam |∇u|^2 = 0) u is the value of the control problem
u(0, xi) = inf_a E[g(X_T^a) + 1/(4 lam) ∫ |a|^2 dt],  dX = a dt + sqrt(2) dW,
with optimal feedback a* = -2 lam ∇u = -sqrt(2) lam Z.  The deep BSDE solver's
``forward=controlled`` mode simulates X with the feedback built from its own Z,
frozen over each of the N Euler steps, and reports the cost of that control.
A piecewise-constant feedback control is admissible in continuous time, so
its cost is >= u for any Z (an upper bound up to Monte Carlo error); this
script measures how far above u the cost lies when Z is the exact
Z = sqrt(2) ∇u (from Cole-Hopf quadrature, cubic spline in |x|^2), i.e. the
bias that remains with a perfectly trained network.  Prints one JSON line::

    python scripts/paper/hjb_control_bias.py --d 100 --lam 50 --N 10 20 50 100 --plot docs/figures/hjb_control_bias.png

The JSON line also holds each scheme's order, fitted by least squares to
log |bias| against log N over the N given.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from scipy.interpolate import RectBivariateSpline
    from sciml.references.cole_hopf import cole_hopf_value
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--T", type=float, default=1.0)
    ap.add_argument("--lam", type=float, default=50.0)
    ap.add_argument("--N", type=int, nargs="+", default=[10, 20, 50])
    ap.add_argument("--paths", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--schemes", nargs="+", default=["euler", "heun"], choices=["euler", "heun"])
    ap.add_argument("--plot", default=None, help="write |bias| against N (log-log) to this PNG")
    args = ap.parse_args(argv)
    d, T, lam = args.d, args.T, args.lam
    if d < 1 or T <= 0 or lam <= 0 or min(args.N) < 1 or args.paths < 2:
        print("hjb_control_bias: need d >= 1, T > 0, lam > 0, N >= 1, paths >= 2", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    u0 = cole_hopf_value(d, T, lam)
    # r nodes covering |X_t|^2 of controlled and uncontrolled paths (up to ~2 d T + 10 sd)
    r_hi = 2.0 * d * T + 20.0 * math.sqrt(8.0 * d) * T + 50.0
    r_nodes = r_hi * np.linspace(0.0, 1.0, 24) ** 2
    # u(t, r) on a tensor grid (t nodes clustered at T, where u_r varies fastest), bicubic spline
    t_nodes = np.unique(np.concatenate([np.linspace(0.0, T, 21)[:-1],
                                        T - 0.05 * T * 2.0 ** -np.arange(1, 9), [T]]))
    U = np.array([[cole_hopf_value(d, T - t, lam, float(r)) if t < T else float(np.log(0.5 * (1 + r)))
                   for r in r_nodes] for t in t_nodes])
    spline = RectBivariateSpline(t_nodes, r_nodes, U, kx=3, ky=3)

    def z_of(t: float, x: np.ndarray) -> np.ndarray:
        """exact Z = sqrt(2) grad u = 2 sqrt(2) x u_r (u_r from the spline; exact at t = T)."""
        r = np.sum(x * x, axis=1)
        u_r = 1.0 / (1.0 + r) if t >= T else spline.ev(np.full_like(r, t), np.minimum(r, r_hi), dy=1)
        return 2.0 * math.sqrt(2.0) * u_r[:, None] * x
    rng = np.random.default_rng(args.seed)
    out = {}
    for scheme, N in [(s, N) for s in args.schemes for N in args.N]:
        h = T / N
        x = np.zeros((args.paths, d))
        cost = np.zeros(args.paths)
        mart = np.zeros(args.paths)
        z = z_of(0.0, x)
        for n in range(N):
            dw = rng.standard_normal((args.paths, d)) * math.sqrt(h)
            mart += np.sum(z * dw, axis=1)
            if scheme == "euler":      # control frozen over the step: an admissible control, cost >= u
                cost += 0.5 * lam * np.sum(z * z, axis=1) * h
                x = x - math.sqrt(2.0) * lam * z * h + math.sqrt(2.0) * dw
                z = z_of((n + 1) * h, x)
            else:                      # Heun predictor-corrector, trapezoidal running cost
                zp = z_of((n + 1) * h, x - math.sqrt(2.0) * lam * z * h + math.sqrt(2.0) * dw)
                x = x - math.sqrt(2.0) * lam * 0.5 * (z + zp) * h + math.sqrt(2.0) * dw
                z1 = z_of((n + 1) * h, x)
                cost += 0.25 * lam * (np.sum(z * z, axis=1) + np.sum(z1 * z1, axis=1)) * h
                z = z1
        y = np.log(0.5 * (1.0 + np.sum(x * x, axis=1))) + cost      # E[y] = cost of the control
        yc = y - mart                                               # same mean, control variate
        out[f"{scheme}:{N}"] = {"cost": float(yc.mean()), "stderr": float(yc.std(ddof=1) / math.sqrt(args.paths)),
                       "stderr_plain": float(y.std(ddof=1) / math.sqrt(args.paths)),
                       "rel_bias": float(yc.mean() / u0 - 1.0)}
    orders = {}
    for scheme in args.schemes:
        ns = np.array(args.N, dtype=float)
        b = np.abs([out[f"{scheme}:{n}"]["rel_bias"] for n in args.N])
        if len(ns) >= 2:
            orders[scheme] = float(-np.polyfit(np.log(ns), np.log(b), 1)[0])
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5.2, 3.8))
        for scheme, mk in zip(args.schemes, "os"):
            b = [abs(out[f"{scheme}:{n}"]["rel_bias"]) for n in args.N]
            se = [out[f"{scheme}:{n}"]["stderr"] / u0 for n in args.N]
            label = f"{scheme} (fitted order {orders[scheme]:.2f})" if scheme in orders else scheme
            ax.errorbar(args.N, b, yerr=se, marker=mk, capsize=3, label=label)
        ax.axhline(0.01, color="grey", ls="--", lw=0.8, label="1 % target")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("time steps N")
        ax.set_ylabel("|cost of exact control - u| / u")
        ax.set_title(f"hjb d={d}, lam={lam:g}: scheme bias with the exact control", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
    print(json.dumps({"d": d, "T": T, "lam": lam, "u0": u0, "paths": args.paths, "seed": args.seed,
                      "r_nodes": len(r_nodes), "t_nodes": len(t_nodes), "by_N": out, "orders": orders,
                      "wall_s": time.perf_counter() - t0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
