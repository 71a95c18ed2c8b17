"""Figures of a study report (matplotlib, no display: ``Figure.savefig``).

Per problem instance: convergence plots (error against each swept option,
fitted and declared slopes), the error-vs-wall-time frontier of all
solvers, and for 1D/2D field problems the best run of each solver
(solution and pointwise error).  Conventions in :mod:`sciml.report`.
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["problem_figures"]

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure
    return Figure(figsize=(w, h), dpi=110, layout="constrained")


def _save(fig: Any, out: Path, name: str) -> Path:
    from . import io
    path = out / "figures" / name
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def problem_figures(out: Path, p: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """Draw every figure of one problem instance; (path, caption) pairs."""
    made = []
    for fn in (_convergence, _frontier, _fields):
        try:
            made += fn(out, p)
        except Exception as exc:  # noqa: BLE001 - a broken figure must not lose the report's numbers
            log.warning("figure %s for %s failed: %s", fn.__name__, p["problem"], exc)
    return made


# -------------------------------------------------------------- convergence
def _convergence(out: Path, p: Mapping[str, Any]) -> list[tuple[Path, str]]:
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in p["rates"]:
        by[(r["solver_spec"], r["option"])].append(r)
    made = []
    for (spec, opt), rates in by.items():
        metrics = list(dict.fromkeys(r["metric"] for r in rates))[:4]
        fig = _figure(4.2 * len(metrics), 3.6)
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
        fixed_keys = [k for k in rates[0]["fixed"]
                      if len({repr(r["fixed"].get(k)) for r in rates}) > 1]
        for ax, m in zip(axes, metrics):
            ticks: set[float] = set()
            for i, r in enumerate(r for r in rates if r["metric"] == m):
                col = _COLORS[i % len(_COLORS)]
                x = np.array([q[0] for q in r["points"]])
                y = np.array([q[1] for q in r["points"]])
                lab = ", ".join(f"{k}={r['fixed'][k]}" for k in fixed_keys) or r["solver"]
                lo_hi = np.maximum(0.0, np.array([[q[1] - q[3], q[4] - q[1]] for q in r["points"]]).T)  # seeds
                ax.errorbar(x, y, yerr=lo_hi, fmt="o-", color=col, capsize=2, label=f"{lab}: r={r['rate']:.2f}")
                ax.set_xscale("log")
                ax.set_yscale("log")
                c = math.exp(np.mean(np.log(y) + r["rate"] * np.log(x)))
                ax.loglog(x, c * x ** -r["rate"], "--", color=col, lw=0.8)
                if r["declared"] is not None:  # drawn a factor 2 below the data so both stay visible
                    ax.loglog(x, 0.5 * y[-1] * (x / x[-1]) ** -r["declared"], ":", color=col, lw=1.2,
                              label=f"declared r={r['declared']:g} (shifted x0.5)")
                ticks.update(x.tolist())
            _plain_ticks(ax, sorted(ticks))
            ax.set_xlabel(opt)
            ax.set_ylabel(f"{m} (geometric mean, seed range)")
            ax.set_title(f"{rates[0]['solver']}: {m}", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        name = f"convergence-{p['problem']}-{p['id']}-{rates[0]['solver']}-{opt}.png"
        cap = (f"{rates[0]['solver']} on {p['problem']}: error vs {opt}, fitted slope dashed, "
               "declared rate dotted (through half the finest point's error)")
        made.append((_save(fig, out, name), cap))
    return made


def _plain_ticks(ax: Any, ticks: list[float]) -> None:
    """The swept values themselves as x ticks (log axes otherwise print 3x10^1)."""
    from matplotlib.ticker import FixedLocator, NullLocator
    if 0 < len(ticks) <= 10:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{t:g}" for t in ticks])


# ----------------------------------------------------------------- frontier
def _frontier(out: Path, p: Mapping[str, Any]) -> list[tuple[Path, str]]:
    m = p["primary"]
    rows = [r for r in p["configs"] if r["mean"].get(m) and r["wall_mean"]]
    if not rows:
        return []
    fig = _figure(5.5, 4.2)
    ax = fig.subplots()
    solvers = list(dict.fromkeys(r["solver_spec"] for r in rows))
    for i, s in enumerate(solvers):
        mine = [r for r in rows if r["solver_spec"] == s]
        col = _COLORS[i % len(_COLORS)]
        ax.scatter([r["wall_mean"] for r in mine], [r["mean"][m] for r in mine], color=col,
                   marker="^" if mine[0]["learned"] else "o",
                   label=mine[0]["solver"] + (" (learned)" if mine[0]["learned"] else ""))
        keys = _varying_options(p, s)
        if len(rows) <= 40:
            for r in mine:
                ax.annotate(" ".join(f"{k}={r['options'][k]}" for k in keys), (r["wall_mean"], r["mean"][m]),
                            fontsize=6, color=col, xytext=(3, 3), textcoords="offset points")
    pts = sorted((r["wall_mean"], r["mean"][m]) for r in rows)
    front, best = [], math.inf
    for t, e in pts:
        if e < best:
            front.append((t, e))
            best = e
    ax.step([f[0] for f in front], [f[1] for f in front], where="post", color="0.5", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("wall time per run [s] (mean over seeds)")
    ax.set_ylabel(f"{m} (mean over seeds)")
    ax.set_title(f"{p['problem']}: cost vs accuracy", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    name = f"frontier-{p['problem']}-{p['id']}.png"
    return [(_save(fig, out, name), f"{p['problem']}: {m} against the solver's wall time, every configuration of "
             "every solver (a worker's first cell of a solver also pays its one-off JIT compilation: FFCx, Numba)")]


# ------------------------------------------------------------------- fields
def _varying_options(p: Mapping[str, Any], spec: str) -> list[str]:
    rows = [r for r in p["configs"] if r["solver_spec"] == spec]
    keys = list(dict.fromkeys(k for r in rows for k in r["options"]))
    return [k for k in keys if len({repr(r["options"].get(k)) for r in rows}) > 1]


def _best_runs(out: Path, p: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, plot arrays) of the lowest-error run of each solver (by the primary
    metric, or the solver's first metric in the study's focus list it reports)."""
    from . import io
    from .study_store import read_summary
    best: dict[str, tuple[float, str, dict[str, Any]]] = {}
    for cid in p["cells"]:
        c = read_summary(out, "cells", cid)  # done and intact (its HDF5 checksum), else None
        if c is None:
            continue
        errors = c.get("errors") or {}
        m = next((k for k in [p["primary"], *p.get("focus", [])] if errors.get(k) is not None), None)
        if c.get("status") != "done" or not c.get("plot") or m is None:
            continue
        if c["solver_spec"] not in best or errors[m] < best[c["solver_spec"]][0]:
            best[c["solver_spec"]] = (errors[m], m, c)
    runs = []
    for e, m, c in best.values():
        state = io.load(out / c["file"])[0].get("state", {})
        if "study_plot_u" not in state:
            continue
        opts = ", ".join(f"{k}={c['options'][k]}" for k in _varying_options(p, c["solver_spec"]))
        runs.append((f"{c['solver']} {opts} seed {c['seed']}\n{m} = {e:.2e}", state))
    return runs


def _fields(out: Path, p: Mapping[str, Any]) -> list[tuple[Path, str]]:
    if p["kind"] != "field":
        return []
    runs = _best_runs(out, p)
    if not runs:
        return []
    ref = runs[0][1]["study_plot_ref"]
    lo, hi = runs[0][1]["study_plot_lo"], runs[0][1]["study_plot_hi"]
    name = f"fields-{p['problem']}-{p['id']}.png"
    cap = f"{p['problem']}: reference and the best run of each solver, with its pointwise error |u - u_ref|"
    if ref.ndim == 1:
        x = np.linspace(lo[0], hi[0], ref.size)
        fig = _figure(7.0, 5.5)
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
        ax1.plot(x, ref, "k-", lw=2, label="reference")
        for i, (lab, st) in enumerate(runs):
            col = _COLORS[i % len(_COLORS)]
            ax1.plot(x, st["study_plot_u"], "--", color=col, label=lab)
            ax2.semilogy(x, np.abs(st["study_plot_u"] - st["study_plot_ref"]) + 1e-300, color=col)
        ax1.legend(fontsize=7)
        ax1.set_ylabel("u")
        ax2.set_ylabel("|u - u_ref|")
        ax2.set_xlabel("x")
        for ax in (ax1, ax2):
            ax.grid(True, alpha=0.3)
        return [(_save(fig, out, name), cap)]
    ncol = len(runs) + 1
    fig = _figure(3.3 * ncol, 6.2)
    axes = fig.subplots(2, ncol, squeeze=False)
    ext = (lo[0], hi[0], lo[1], hi[1])
    vmin, vmax = float(ref.min()), float(ref.max())

    def show(ax: Any, img: np.ndarray, title: str, **kw: Any) -> None:
        im = ax.imshow(img.T, origin="lower", extent=ext, aspect="equal", **kw)
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])

    show(axes[0, 0], ref, "reference", cmap="viridis", vmin=vmin, vmax=vmax)
    axes[1, 0].axis("off")
    for j, (lab, st) in enumerate(runs, start=1):
        show(axes[0, j], st["study_plot_u"], lab, cmap="viridis", vmin=vmin, vmax=vmax)
        show(axes[1, j], np.abs(st["study_plot_u"] - st["study_plot_ref"]), "pointwise error |u - u_ref|",
             cmap="magma")
    return [(_save(fig, out, name), cap)]
