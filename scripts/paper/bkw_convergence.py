#!/usr/bin/env python
"""Spectral convergence of `spectral` on `boltzmann-bkw` (the README table).

dim 2, t = 0 -> 1: relative max error at t1 and the moment drifts for
n = 16, 32, 64, direct and fast; with ``--dim3`` also dim 3, t = 5.5 -> 6.5,
n = 32 (direct, a few minutes).  One JSON line per run, then a Markdown table.

    nice -n 10 .venv/bin/python scripts/paper/bkw_convergence.py [--dim3] [--dt 0.05]
"""
from __future__ import annotations

import argparse
import json

from sciml.evaluate import evaluate
from sciml.registry import make_problem, make_solver


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim3", action="store_true")
    ap.add_argument("--dt", type=float, default=0.05)
    args = ap.parse_args()
    runs = [(2, 0.0, 1.0, n, fast) for n in (16, 32, 64) for fast in (False, True)]
    if args.dim3:
        runs.append((3, 5.5, 6.5, 32, False))
    rows = []
    for dim, t0, t1, n, fast in runs:
        p = make_problem("boltzmann-bkw", dim=dim, t0=t0, t1=t1)
        s = make_solver("spectral", n=n, fast=fast, dt=args.dt if dim == 2 else 0.1)
        rec = evaluate(p, s, "exact")
        row = {"dim": dim, "t0": t0, "t1": t1, "n": n, "fast": fast, "dt": s.dt, **rec.errors,
               "wall_s": rec.wall_s}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| dim | t | n | method | rel_max | mass | momentum | energy | wall s |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dim']} | {r['t0']}-{r['t1']} | {r['n']} | {'fast' if r['fast'] else 'direct'} | "
              f"{r['rel_max']:.2e} | {r['mass']:.1e} | {r['momentum']:.1e} | {r['energy']:.1e} | {r['wall_s']:.1f} |")


if __name__ == "__main__":
    main()
