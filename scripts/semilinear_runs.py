"""Repeat one semilinear solve over several seeds against one reference (computed once).

Prints one JSON line per seed ({problem, solver, seed, value, reference_value,
rel_error, wall_s, ...}) and a final summary line (mean/max relative error,
mean wall time).  Examples (the README's table was made with these):

    python scripts/semilinear_runs.py allen-cahn -p d=100 -p T=0.3 --solver deep-bsde --seeds 0 1 2 3 4
    python scripts/semilinear_runs.py hjb -p d=100 -p lam=1 --solver deep-bsde --seeds 0 1 2 3 4
    python scripts/semilinear_runs.py allen-cahn -p d=100 -p T=1 --solver multilevel-picard -o level=6 --seeds 0
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys


def _kv(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise SystemExit(f"expected KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        out[k] = v
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("problem")
    ap.add_argument("--solver", required=True)
    ap.add_argument("-p", action="append", default=[])
    ap.add_argument("-o", action="append", default=[])
    ap.add_argument("--reference", default=None)
    ap.add_argument("-r", action="append", default=[])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args(argv)
    from sciml import registry
    from sciml.core import SciMLError
    from sciml.evaluate import evaluate, solve_timed
    try:
        problem = registry.make_problem(args.problem, **_kv(args.p))
        solver = registry.make_solver(args.solver, **_kv(args.o))
        solver.check_problem(problem)
        ref_solver = registry.make_solver(args.reference or problem.default_reference, **_kv(args.r))
        ref, ref_wall = solve_timed(ref_solver, problem, seed=10_000, device="cpu", progress=False)
    except SciMLError as exc:
        print(f"semilinear_runs: {exc}", file=sys.stderr)
        return 2
    ref.stats["solver"] = ref_solver.name
    rows = []
    for seed in args.seeds:
        rec = evaluate(problem, solver, ref, seed=seed)
        row = {"problem": problem.name, "params": problem.params(), "solver": solver.name,
               "options": solver.options(), "reference": ref_solver.name, "seed": seed,
               "value": rec.value, "reference_value": rec.reference_value,
               "rel_error": rec.errors["rel_error"], "wall_s": rec.wall_s, "reference_wall_s": ref_wall}
        for k in ("cpu_s", "std", "stderr", "f_evals", "estimates", "final_loss", "value_stderr", "train_s", "eval_var"):
            if k in rec.stats:
                row[k] = rec.stats[k]
        rows.append(row)
        print(json.dumps(row), flush=True)
    errs = [r["rel_error"] for r in rows]
    print(json.dumps({"summary": True, "problem": problem.name, "params": problem.params(),
                      "solver": solver.name, "seeds": args.seeds, "mean_rel_error": statistics.fmean(errs),
                      "max_rel_error": max(errs), "mean_wall_s": statistics.fmean(r["wall_s"] for r in rows),
                      "max_wall_s": max(r["wall_s"] for r in rows),
                      "mean_cpu_s": statistics.fmean(r.get("cpu_s", float("nan")) for r in rows), "reference_value": rows[0]["reference_value"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
