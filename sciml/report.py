"""Analysis and report of a study folder: tables, convergence rates, figures.

``write(DIR)`` reads ``DIR/index.json`` (and the cell summaries beside it),
writes ``DIR/analysis.json`` (every number of the report, machine-readable),
``DIR/report.md`` and ``DIR/figures/*.png``.

Conventions:

* Tables: per problem instance, one row per solver configuration; each
  metric as mean ± sample standard deviation over the seeds that finished.
* Rates: for a numeric solver option swept over at least three positive
  values (the others fixed), the rate r is minus the least-squares slope of
  log(error) against log(option), the log error averaged over seeds at each
  value (error ~ option^(-r); for ``n`` cells per side, h = 1/n, r is the
  order in h).  The 95 % interval is a percentile bootstrap over seeds
  (2000 resamples, seeds drawn with replacement independently at every
  option value, fixed RNG seed); with one seed per value there is none.
  ``finest`` is the rate between the two largest option values.  The
  declared rate comes from the solver (see :func:`sciml.study.declared_rates`).
* Frontier: mean error against mean wall time of every configuration of
  every solver of a problem; the Pareto front joins those that no other
  configuration beats in both.
* Fields (1D/2D): the run with the smallest error of each solver (its best
  configuration, best seed), on the plot grid stored by the study.
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from . import io
from .study_spec import StudyError, digest
from .study_store import load_index, write_json

log = logging.getLogger(__name__)

__all__ = ["write", "analyse", "fit_rate"]

N_BOOT = 2000


# ================================================================== numbers
def fit_rate(x: Iterable[float], errors: Iterable[Iterable[float]], *, n_boot: int = N_BOOT,
             seed: int = 0) -> dict[str, Any]:
    """Rate r with error ~ x^(-r) (see the module docstring).

    ``errors[i]`` holds the errors of the seeds at ``x[i]``.  Returns
    ``rate``, ``ci`` ([lo, hi] or None) and ``finest`` (two largest x).
    """
    xs = np.asarray(list(x), dtype=float)
    groups = [np.log(np.asarray(list(e), dtype=float)) for e in errors]
    order = np.argsort(xs)
    xs, groups = xs[order], [groups[i] for i in order]
    lx = np.log(xs)
    dx = lx - lx.mean()
    sxx = float(dx @ dx)

    def slope(y: np.ndarray) -> np.ndarray:  # y: (..., m)
        return (y - y.mean(axis=-1, keepdims=True)) @ dx / sxx

    means = np.array([g.mean() for g in groups])
    rate = -float(slope(means))
    ci = None
    if any(len(g) > 1 for g in groups):
        rng = np.random.default_rng(seed)
        boot = np.stack([g[rng.integers(0, len(g), size=(n_boot, len(g)))].mean(axis=1) for g in groups], axis=1)
        rates = -slope(boot)
        ci = [float(np.percentile(rates, 2.5)), float(np.percentile(rates, 97.5))]
    finest = -float((means[-1] - means[-2]) / (lx[-1] - lx[-2]))
    return {"rate": rate, "ci": ci, "finest": finest}


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return None, None
    return float(np.mean(v)), (float(np.std(v, ddof=1)) if len(v) > 1 else None)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _options_order(options: Mapping[str, Any]) -> tuple:
    """Sort key: numbers numerically (n=4 before n=16), anything else as text."""
    return tuple((0, float(v), "") if _is_number(v) else (1, 0.0, repr(v)) for v in options.values())


def _jkey(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


# ================================================================= analysis
#: what every cell summary of an index holds (``_Cell.summary``); a done one also errors and wall_s
_CELL_KEYS = ("id", "status", "problem", "problem_spec", "kind", "params", "reference", "solver",
              "solver_spec", "options", "seed")
_STATUSES = ("done", "failed", "pending")


def _cell_problem(c: Any) -> str | None:
    """What is wrong with a cell summary (None: nothing)."""
    if not isinstance(c, dict):
        return f"is {type(c).__name__}, not a summary"
    missing = [k for k in _CELL_KEYS if k not in c]
    if missing:
        return f"lacks {', '.join(map(repr, missing))}"
    if c["status"] not in _STATUSES:
        return f"has status={c['status']!r}; allowed: {', '.join(_STATUSES)}"
    if not isinstance(c["params"], dict) or not isinstance(c["options"], dict):
        return "has params or options that are not tables"
    if c["status"] == "done" and not (isinstance(c.get("errors"), dict) and "wall_s" in c):
        return "is done but lacks its errors or wall_s"
    return None


def _on_disk(out: Path, c: Any) -> dict[str, Any] | None:
    """The cell's own summary file, when it is sound."""
    cid = c.get("id") if isinstance(c, dict) else None
    if not isinstance(cid, str) or not cid.isalnum():
        return None
    try:
        s = json.loads((out / "cells" / f"{cid}.json").read_text())
    except (OSError, ValueError):
        return None
    return s if _cell_problem(s) is None else None


def _cells(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The index and its cells; a stale index (a killed study) is completed
    from the cell summaries on disk.  A damaged index is a StudyError (exit 2)."""
    index = load_index(out)
    path = Path(out) / "index.json"
    again = "; re-run the study (sciml study FILE --out DIR) to rebuild it"
    if not isinstance(index.get("cells"), list):
        raise StudyError(f"{path} has no list of 'cells'{again}")
    if not isinstance(index.get("spec"), dict):
        raise StudyError(f"{path} has no 'spec' table{again}")
    cells = []
    for k, c in enumerate(index["cells"]):
        if isinstance(c, dict) and c.get("status") == "pending" or _cell_problem(c) is not None:
            c = _on_disk(out, c) or c
        why = _cell_problem(c)
        if why is not None:
            raise StudyError(f"{path}: cell #{k + 1} {why}{again}")
        cells.append(c)
    return index, cells


def _focus(spec: Mapping[str, Any], kind: str) -> list[str]:
    return list(spec.get("metrics") or []) or (["rel_error"] if kind == "value" else ["rel_l2"])


def _varying(cells: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, set[str]] = defaultdict(set)
    for c in cells:
        for k, v in c["options"].items():
            keys[k].add(_jkey(v))
    return [k for k, vals in keys.items() if len(vals) > 1]


def _label(c: Mapping[str, Any], varying: Iterable[str]) -> str:
    opts = ", ".join(f"{k}={c['options'][k]}" for k in varying if k in c["options"])
    return f"{c['solver']} {opts}".strip()


def _configs(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (solver, options): metrics mean/std over seeds."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in cells:
        by[_jkey([c["solver_spec"], c["options"]])].append(c)
    rows = []
    for group in by.values():
        done = [c for c in group if c["status"] == "done"]
        first = group[0]
        metrics = sorted({m for c in done for m in c["errors"]})
        row = {"solver": first["solver"], "solver_spec": first["solver_spec"], "options": first["options"],
               "learned": first.get("learned", False), "seeds": sorted(c["seed"] for c in done),
               "failed": sum(c["status"] == "failed" for c in group),
               "pending": sum(c["status"] == "pending" for c in group),
               "declared_rates": first.get("declared_rates", {}), "mean": {}, "std": {}}
        for m in metrics:
            row["mean"][m], row["std"][m] = _mean_std([c["errors"].get(m) for c in done])
        row["wall_mean"], row["wall_std"] = _mean_std([c["wall_s"] for c in done])
        rows.append(row)
    rows.sort(key=lambda r: (r["solver"], _options_order(r["options"])))
    return rows


def _rates(cells: list[dict[str, Any]], focus: list[str]) -> list[dict[str, Any]]:
    done = [c for c in cells if c["status"] == "done"]
    out = []
    for spec_name in sorted({c["solver_spec"] for c in done}):
        mine = [c for c in done if c["solver_spec"] == spec_name]
        for opt in _varying(mine):
            if not all(_is_number(c["options"].get(opt)) and c["options"][opt] > 0 for c in mine):
                continue
            groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for c in mine:
                groups[_jkey({k: v for k, v in c["options"].items() if k != opt})].append(c)
            for fixed_key, group in sorted(groups.items()):
                declared = group[0].get("declared_rates", {}).get(opt, {})
                metrics = list(dict.fromkeys([*declared, *focus]))
                for m in metrics:
                    by_x: dict[float, list[float]] = defaultdict(list)
                    for c in group:
                        e = c["errors"].get(m)
                        if e is not None and math.isfinite(e) and e > 0:
                            by_x[float(c["options"][opt])].append(e)
                    if len(by_x) < 3:
                        continue
                    xs = sorted(by_x)
                    fit = fit_rate(xs, [by_x[x] for x in xs])
                    out.append({"solver": group[0]["solver"], "solver_spec": spec_name, "option": opt,
                                "fixed": json.loads(fixed_key), "metric": m, **fit,
                                "declared": declared.get(m),
                                # [x, geometric mean, seeds, min, max] of the error at each x
                                "points": [[x, float(np.exp(np.mean(np.log(by_x[x])))), len(by_x[x]),
                                            min(by_x[x]), max(by_x[x])] for x in xs]})
    return out


def analyse(out: str | os.PathLike) -> dict[str, Any]:
    """Every number of the report, as plain data (also written to analysis.json)."""
    out = Path(out)
    index, cells = _cells(out)
    spec = index["spec"]
    instances: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in cells:
        instances[_jkey([c["problem_spec"], c["params"], c["reference"]])].append(c)
    problems = []
    for key, group in instances.items():
        first = group[0]
        focus = _focus(spec, first["kind"])
        configs = _configs(group)
        # the frontier's metric: the first focus metric every solver reports, else one most report
        solvers = {r["solver_spec"] for r in configs}
        common = [m for m in focus if all(any(r["mean"].get(m) is not None for r in configs
                                              if r["solver_spec"] == s) for s in solvers)]
        present = [m for m in focus if any(r["mean"].get(m) is not None for r in configs)]
        fallback = sorted({m for r in configs for m in r["mean"]})
        primary = (common or present or fallback or [None])[0]
        problems.append({
            "id": digest(json.loads(key))[:8], "problem": first["problem"],
            "problem_spec": first["problem_spec"], "params": first["params"], "kind": first["kind"],
            "reference": first["reference"], "primary": primary, "focus": focus, "configs": configs,
            "rates": _rates(group, focus),
            "cells": [c["id"] for c in group],
            "reference_wall_s": _mean_std([c.get("reference_wall_s") for c in group
                                           if c["status"] == "done"])[0],
        })
    failed = [{k: c.get(k) for k in ("id", "problem", "params", "solver", "options", "seed", "error", "message")}
              for c in cells if c["status"] == "failed"]
    counts = {"done": 0, "failed": 0, "pending": 0}
    for c in cells:
        counts[c["status"]] += 1
    return {"title": spec.get("title", "study"), "description": spec.get("description", ""),
            "source": index.get("source"), "seeds": spec.get("seeds"), "metrics": spec.get("metrics", []),
            "counts": counts,
            "problems": problems, "failed": failed}


# =================================================================== report
def _fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}g}"


def _ms(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.3g}" + (f" ± {std:.2g}" if std is not None else "")


def _table(p: Mapping[str, Any]) -> list[str]:
    rows = p["configs"]
    metrics = sorted({m for r in rows for m in r["mean"]}, key=lambda m: (m != p["primary"], m))
    by_solver: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_solver[r["solver_spec"]].append(r)
    head = ["solver", "options", "seeds", *metrics, "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for group in by_solver.values():
        varying = _varying(group)
        for r in group:
            opts = ", ".join(f"{k}={r['options'][k]}" for k in varying) or "–"
            n = f"{len(r['seeds'])}" + (f" ({r['failed']} failed)" if r["failed"] else "") + \
                (f" ({r['pending']} pending)" if r["pending"] else "")
            cells = [r["solver"], opts, n, *(_ms(r["mean"].get(m), r["std"].get(m)) for m in metrics),
                     _ms(r["wall_mean"], r["wall_std"])]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _rate_table(p: Mapping[str, Any]) -> list[str]:
    if not p["rates"]:
        return []
    lines = ["| solver | fixed options | swept | metric | rate | 95 % CI (bootstrap over seeds) | finest pair "
             "| declared | rate − declared |", "|---" * 9 + "|"]
    for r in p["rates"]:
        varying = [k for k in r["fixed"] if any(k in q["fixed"] and q["fixed"][k] != r["fixed"][k]
                                                for q in p["rates"] if q["solver_spec"] == r["solver_spec"])]
        fixed = ", ".join(f"{k}={r['fixed'][k]}" for k in varying) or "–"
        ci = "– (one seed)" if r["ci"] is None else f"[{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
        diff = "–" if r["declared"] is None else f"{r['rate'] - r['declared']:+.3f}"
        lines.append(f"| {r['solver']} | {fixed} | {r['option']} ({r['points'][0][0]:g}–{r['points'][-1][0]:g}) "
                     f"| {r['metric']} | **{r['rate']:.3f}** | {ci} | {r['finest']:.3f} | "
                     f"{_fmt(r['declared'])} | {diff} |")
    return lines


def write(out: str | os.PathLike) -> Path:
    """Write ``out/analysis.json``, ``out/report.md`` and ``out/figures/*.png``; return report.md's path."""
    out = Path(out)
    a = analyse(out)
    try:
        return _write(out, a)
    except OSError as exc:  # a read-only or full study folder: the analysis is fine, the disk is not
        raise StudyError(f"cannot write the report into {out}: {exc.strerror or exc} "
                         f"({exc.filename or out}); make the folder writable or copy it") from None


def _write(out: Path, a: dict[str, Any]) -> Path:
    from . import report_figures as figs
    write_json(out / "analysis.json", a)
    (out / "figures").mkdir(exist_ok=True)
    c = a["counts"]
    md = [f"# {a['title']}", ""]
    if a["description"]:
        md += [a["description"], ""]
    md += [f"Study file: `{a['source']}`; seeds {a['seeds']}.  Cells: {c['done']} done, {c['failed']} failed, "
           f"{c['pending']} pending.  Errors are mean ± sample standard deviation over seeds; rates r "
           "mean error ~ option^(-r) (for n cells per side, h = 1/n: the order in h).", "",
           f"Reproduce or extend: `sciml study {a['source']} --out {out}`; redraw: `sciml report {out}`.", ""]
    for p in a["problems"]:
        params = ", ".join(f"{k}={v}" for k, v in p["params"].items())
        ref_t = "" if p["reference_wall_s"] is None else f" ({p['reference_wall_s']:.3g} s" + \
            (", computed once and cached)" if p["reference"] != "exact" else ")")
        md += [f"## {p['problem']} ({params})", "", f"Reference: `{p['reference']}`{ref_t}.", "", *_table(p), ""]
        if p["rates"]:
            md += ["### Convergence rates", "", *_rate_table(p), ""]
        for path, caption in figs.problem_figures(out, p):
            md += [f"![{caption}](figures/{path.name})", "", f"*{caption}*", ""]
    seen = {m for p in a["problems"] for r in p["configs"] for m in r["mean"]}
    missing = [m for m in a.get("metrics", []) if m not in seen]
    if missing and c["done"]:
        md += [f"Note: no cell reported the metric(s) {', '.join(missing)} named in the study's `metrics`.", ""]
    if a["failed"]:
        md += ["## Failed cells", "", "| cell | problem | solver | options | seed | error |", "|---" * 6 + "|"]
        for f in a["failed"]:
            msg = str(f["message"]).replace("|", "\\|").replace("\n", " ")
            md.append(f"| `{f['id']}` | {f['problem']} | {f['solver']} | {f['options']} | {f['seed']} | "
                      f"{f['error']}: {msg} |")
        md += ["", "Failed cells run again on the next `sciml study` of this folder.", ""]
    path = out / "report.md"
    with io.atomic_path(path) as tmp:
        tmp.write_text("\n".join(md))
    return path
