#!/usr/bin/env python
"""Error study of the deep Kolmogorov method on the heat equation (paraboloid, d = 10, [0, 1]^d, T = 1).

Three sweeps around a base configuration (width 64, depth 2, batch 2048,
1000 steps, GELU, piecewise learning-rate decay scaled with the run length):
error vs training steps, vs batch size and vs width.  Each point is the
mean rel_l1 (Beck et al.: mean over 1000 uniform test points of |v - u|/|u|,
against the exact solution |x|^2 + 2Td) over ``--seeds`` seeds.  A
least-squares line in log-log coordinates gives the empirical slope of each
sweep.  Writes DIR/results.json and DIR/error_study.png; finished points are
kept in DIR/points.json so an interrupted study resumes.

    nice -n 10 .venv/bin/python scripts/paper/kolmogorov_error_study.py --out results/kolmogorov_error_study
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from problems.kolmogorov import Heat  # noqa: E402
from sciml.evaluate import evaluate  # noqa: E402
from sciml.io import atomic_path  # noqa: E402
from sciml.solvers.deep_kolmogorov import DeepKolmogorov  # noqa: E402

BASE = dict(width=64, depth=2, batch=2048, steps=1000)
SWEEPS = {
    "steps": [250, 500, 1000, 2000, 4000],
    "batch": [256, 512, 1024, 2048, 4096],
    "width": [8, 16, 32, 64, 128],
}
QUICK = {"steps": [50, 100, 200], "batch": [64, 128, 256], "width": [4, 8, 16]}


def _write_json(path: Path, obj: object) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1))


def run(out: Path, seeds: int, quick: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    cache_file = out / "points.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    base = dict(BASE, steps=100, batch=256) if quick else dict(BASE)
    problem = Heat(d=10)
    sweeps = QUICK if quick else SWEEPS
    results: dict = {"problem": problem.params(), "base": base, "seeds": seeds, "sweeps": {}}
    for key, values in sweeps.items():
        rows = []
        for v in values:
            opts = dict(base, **{key: v})
            errs, walls = [], []
            for seed in range(seeds):
                tag = json.dumps([opts, seed], sort_keys=True)
                if tag not in cache:
                    rec = evaluate(problem, DeepKolmogorov(**opts), "exact", seed=seed)
                    cache[tag] = {"errors": rec.errors, "wall_s": rec.wall_s}
                    _write_json(cache_file, cache)
                    print(f"{key}={v} seed={seed}: rel_l1={rec.errors['rel_l1']:.3e} ({rec.wall_s:.1f} s)",
                          file=sys.stderr, flush=True)
                errs.append(cache[tag]["errors"]["rel_l1"])
                walls.append(cache[tag]["wall_s"])
            rows.append({key: v, "rel_l1": float(np.mean(errs)), "rel_l1_seeds": errs,
                         "wall_s": float(np.mean(walls))})
        x = np.log([r[key] for r in rows])
        y = np.log([r["rel_l1"] for r in rows])
        slope = float(np.polyfit(x, y, 1)[0])
        results["sweeps"][key] = {"rows": rows, "loglog_slope": slope}
    _write_json(out / "results.json", results)
    _plot(results, out / "error_study.png")
    return results


def _plot(results: dict, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    for ax, (key, sweep) in zip(axes, results["sweeps"].items()):
        xs = np.array([r[key] for r in sweep["rows"]], dtype=float)
        ys = np.array([r["rel_l1"] for r in sweep["rows"]])
        ax.loglog(xs, ys, "o-", label="mean rel. L1")
        for r in sweep["rows"]:
            ax.loglog([r[key]] * len(r["rel_l1_seeds"]), r["rel_l1_seeds"], ".", color="grey", alpha=0.6)
        c = np.polyfit(np.log(xs), np.log(ys), 1)
        ax.loglog(xs, np.exp(np.polyval(c, np.log(xs))), "--", label=f"slope {c[0]:.2f}")
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{v:g}" for v in xs])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(key)
        ax.set_ylabel("rel_l1 (mean over test points)")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("deep Kolmogorov, heat paraboloid d=10, T=1, [0,1]^d; base " +
                 ", ".join(f"{k}={v}" for k, v in results["base"].items()))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/kolmogorov_error_study"))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = run(args.out, args.seeds, args.quick)
    summary = {k: {"slope": v["loglog_slope"], "rel_l1": [r["rel_l1"] for r in v["rows"]],
                   "values": [r[k] for r in v["rows"]]} for k, v in res["sweeps"].items()}
    print(json.dumps({"out": str(args.out), "wall_s": time.perf_counter() - t0, "sweeps": summary}))


if __name__ == "__main__":
    main()
