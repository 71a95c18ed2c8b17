"""Learned vs classical on Poisson d = 2: PINN (DeepXDE) against FEM P1/P2 (DOLFINx).

For each case (sine k = 1, 2, 4; peak alpha = 10, 100) the PINN is trained
with its default options; then FEM P1 and P2 are run on meshes n = 4, 8, 16,
... and two FEM rows are reported per degree:

* "equal time": the finest mesh whose FEM wall time is at most the PINN's
  (meshes stop at n = 1024 for P1 and 512 for P2);
* "equal accuracy": the coarsest mesh whose rel_l2 is at most the PINN's,
  with its wall time.

FEM times exclude the one-off FFCx compilation of the forms (a warm-up
solve on n = 2 runs first).  All errors are against the exact solution on the problem's 101 x 101 test
grid.  Writes DIR/runs.h5 (every run), DIR/table.md and DIR/error_vs_time.png,
and prints the table.  Usage: python scripts/paper/poisson_comparison.py --out DIR
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from problems.elliptic import Poisson
from sciml import io
from sciml.evaluate import evaluate
from sciml.references.fem import FEM
from sciml.solvers.pinn import PINN

CASES = [("sine", dict(k=1)), ("sine", dict(k=2)), ("sine", dict(k=4)),
         ("peak", dict(alpha=10)), ("peak", dict(alpha=100))]
MAX_N = {1: 1024, 2: 512}


def fem_sweep(problem: Poisson, degree: int, time_budget: float, target_err: float) -> list:
    """FEM runs on n = 4, 8, ... until both the time budget and the target error are passed."""
    FEM(degree=degree, n=2).solve(problem)  # warm-up: FFCx compiles this problem's forms once
    recs, n = [], 4
    while n <= MAX_N[degree]:
        rec = evaluate(problem, FEM(degree=degree, n=n), "exact")
        recs.append(rec)
        if rec.wall_s > time_budget and rec.errors["rel_l2"] <= target_err:
            break
        n *= 2
    return recs


def case_label(solution: str, kw: dict) -> str:
    return f"{solution} " + ", ".join(f"{k}={v:g}" for k, v in kw.items())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("results/poisson"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small PINN budget (smoke run)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pinn = PINN(adam_steps=300, lbfgs_steps=300, n_domain=300) if args.quick else PINN()
    all_recs, rows, curves = [], [], {}
    for solution, kw in CASES:
        problem = Poisson(d=2, solution=solution, **kw)
        label = case_label(solution, kw)
        print(f"[{label}] training PINN ...", file=sys.stderr, flush=True)
        pr = evaluate(problem, pinn, "exact", seed=args.seed, progress=sys.stderr.isatty())
        all_recs.append(pr)
        row = {"case": label, "pinn_rel_l2": pr.errors["rel_l2"], "pinn_s": pr.wall_s,
               "pinn_params": pr.stats.get("parameters")}
        curves[label] = {"pinn": (pr.wall_s, pr.errors["rel_l2"])}
        for degree in (1, 2):
            recs = fem_sweep(problem, degree, pr.wall_s, pr.errors["rel_l2"])
            all_recs.extend(recs)
            within = [r for r in recs if r.wall_s <= pr.wall_s]
            eq_t = within[-1] if within else recs[0]
            good = [r for r in recs if r.errors["rel_l2"] <= pr.errors["rel_l2"]]
            eq_a = good[0] if good else None
            row[f"p{degree}_equal_time"] = (eq_t.options["n"], eq_t.errors["rel_l2"], eq_t.wall_s)
            row[f"p{degree}_equal_accuracy"] = ((eq_a.options["n"], eq_a.errors["rel_l2"], eq_a.wall_s)
                                                if eq_a else None)
            curves[label][f"P{degree}"] = [(r.wall_s, r.errors["rel_l2"]) for r in recs]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    io.save(args.out / "runs.h5", all_recs)
    table = render_table(rows, pinn)
    with io.atomic_path(args.out / "table.md") as tmp:
        tmp.write_text(table)
    plot(curves, args.out / "error_vs_time.png")
    print(table)
    print(f"results: {args.out / 'runs.h5'}, {args.out / 'table.md'}, {args.out / 'error_vs_time.png'}")
    return 0


def render_table(rows: list, pinn: PINN) -> str:
    opts = ", ".join(f"{k}={v}" for k, v in pinn.options().items())
    lines = [f"PINN options: {opts}", "",
             "| case | PINN rel_l2 | PINN s | P1 equal time: n, rel_l2 (s) | P2 equal time: n, rel_l2 (s) "
             "| P1 equal accuracy: n (s) | P2 equal accuracy: n (s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        def et(v):
            return f"{v[0]}, {v[1]:.1e} ({v[2]:.2f})"

        def ea(v):
            return "not reached" if v is None else f"{v[0]} ({v[2]:.2f})"
        lines.append(f"| {r['case']} | {r['pinn_rel_l2']:.2e} | {r['pinn_s']:.1f} | {et(r['p1_equal_time'])} | "
                     f"{et(r['p2_equal_time'])} | {ea(r['p1_equal_accuracy'])} | {ea(r['p2_equal_accuracy'])} |")
    return "\n".join(lines) + "\n"


def plot(curves: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.6), sharey=True)
    for ax, (label, c) in zip(np.atleast_1d(axes), curves.items()):
        for key, style in (("P1", "o-"), ("P2", "s-")):
            t, e = zip(*c[key])
            ax.loglog(t, e, style, label=f"FEM {key}")
        ax.loglog(*c["pinn"], "r*", markersize=14, label="PINN")
        ax.set_title(label)
        ax.set_xlabel("wall time [s]")
        ax.grid(True, which="both", alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("relative L2 error")
    np.atleast_1d(axes)[0].legend()
    fig.suptitle("Poisson d=2: PINN vs FEM, error against wall time")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
