#!/usr/bin/env python
"""`dvm` on `bgk-sod`: L1 convergence to the gamma = 3 Euler Riemann solution at
kn = 1e-4, and a figure of density, velocity and temperature at kn = 1e-4,
1e-2, 1 (docs/figures/bgk_sod.png).

    nice -n 10 .venv/bin/python scripts/paper/bgk_sod.py [--sizes 100,200,400,800] [--nx-fig 400]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from problems.boltzmann import BGKSod
from sciml.evaluate import evaluate
from sciml.io import atomic_path
from sciml.references.kinetic import DVM


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,200,400,800")
    ap.add_argument("--nx-fig", type=int, default=400)
    ap.add_argument("--nv", type=int, default=101)
    ap.add_argument("--out", type=Path, default=Path("docs/figures/bgk_sod.png"))
    args = ap.parse_args()
    for nx in [int(s) for s in args.sizes.split(",")]:
        rec = evaluate(BGKSod(kn=1e-4), DVM(nx=nx, nv=args.nv), "exact")
        print(json.dumps({"kn": 1e-4, "nx": nx, "nv": args.nv, **rec.errors, "wall_s": rec.wall_s}), flush=True)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    p0 = BGKSod()
    xe = np.linspace(-0.5, 0.5, 2001)
    rho, u, pr = p0.euler(xe)
    for ax, y, lab in zip(axes, (rho, u, pr / rho), ("density", "velocity", "temperature")):
        ax.plot(xe, y, "k-", lw=1, label="Euler γ=3 (exact)")
        ax.set_title(lab)
        ax.set_xlabel("x")
    for kn, style in ((1e-4, "C0-"), (1e-2, "C1--"), (1.0, "C2-.")):
        sol = DVM(nx=args.nx_fig, nv=args.nv).solve(BGKSod(kn=kn))
        st = sol.state
        for ax, key in zip(axes, ("rho", "u", "T")):
            ax.plot(st["x"], st[key], style, lw=1.2, label=f"DVM kn={kn:g}")
        print(json.dumps({"kn": kn, "nx": args.nx_fig, "mass_drift": abs(sol.stats["moments_t1"][0] - sol.stats["moments_t0"][0])}), flush=True)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"BGK Sod, t = 0.1, {args.nx_fig} cells, {args.nv} velocities")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    print(args.out)


if __name__ == "__main__":
    main()
