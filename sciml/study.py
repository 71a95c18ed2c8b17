"""Error studies: problems x parameter grids x solvers x option grids x seeds.

A study is described by a TOML file (or the same structure as a dict)::

    seeds = [0, 1, 2]                 # or one integer
    metrics = ["l2_fem", "rel_l2"]    # optional: what the report fits and plots first
    device = "cpu"                    # optional
    reference_seed = 2147483647       # optional: seed of cached (non-exact) references

    [[problem]]
    name = "poisson"                  # a registry name, or "module:Class"
    params = { d = 2, solution = "sine", k = [1, 2, 4] }   # a list is a grid axis
    reference = "exact"               # optional: the problem's default_reference
    reference_options = {}            # optional: options of the reference solver

    [[solver]]
    name = "fem"
    options = { degree = [1, 2], n = [8, 16, 32, 64] }
    problems = ["poisson"]            # optional: pair only with these (default: all it accepts)
    seeds = [0]                       # optional: this solver's seeds (a deterministic method)

A list value is a grid axis (an empty list is an error), except for a
``tuple[...]`` field, where a list of numbers is one value and a list of
lists is a grid.  Every cell (problem instance x solver configuration x seed)
is one :func:`sciml.evaluate.evaluate` run, saved atomically with
:func:`sciml.io.save` as ``DIR/cells/<id>.h5`` beside a JSON summary
``DIR/cells/<id>.json`` holding the SHA-256 of the HDF5 file; ``DIR/index.json``
lists every cell.  ``<id>`` hashes what defines the cell (problem, params,
reference, solver, options, seed, device), so a re-run skips complete cells,
and an extended study (more seeds, a finer mesh) runs only the new ones.
Failed cells are recorded (their summary has ``status = "failed"`` and the
error) and re-run by the next invocation.  Cells are not re-run when the code
changes: use a new DIR, or delete the cells concerned.

References.  An ``exact`` reference is recomputed in every cell (it costs
nothing).  Any other reference (fem on a fine mesh, Monte Carlo) is computed
once per distinct problem instance, with seed ``reference_seed``, and stored
as ``DIR/references/<id>.h5``: its values on the problem's test points, on
its :meth:`~sciml.core.Problem.value_point` and on the report's plot grid,
its ``value``, ``stats`` and array ``state``.  Cells get it back as a
:class:`~sciml.core.Solution` that answers exactly those point sets
(:class:`Table`); a problem whose ``errors`` needs the reference anywhere
else must put what it needs in the reference's ``state``.

Declared rates (read by the report).  A solver declares the convergence
rate it expects as ``rates``: a mapping swept option -> {metric: rate}, a
ClassVar or a property when the rate depends on other options.  The rate r
means error ~ option^(-r) (``n`` cells per side, h = 1/n: the order in h;
``samples`` for Monte Carlo: 0.5).  The FEM convention is read too:
``orders = {degree: {metric: order}}`` with ``refinement_option = "n"``.

Executors: ``local`` runs in this process for one worker, else in a
process pool (forkserver) whose workers use cpu_count // workers threads
(OMP/MKL/OpenBLAS/NUMBA variables set before torch or numba are imported,
and torch.set_num_threads / numba.set_num_threads where already imported);
``dask`` uses a ``distributed`` LocalCluster with ``workers`` processes, or
the scheduler at ``scheduler``.  Workers only compute: this process writes
every file, so the workers of a remote cluster need no shared filesystem.

Modules: :mod:`sciml.study_spec` (reading the file, grids, errors), :mod:`sciml.study_plan`
(file -> validated Plan), :mod:`sciml.study_tasks`
(what workers run; the executors), :mod:`sciml.study_store` (the folder's files);
this module drives them.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from . import io
from .study_plan import REFERENCE_SEED, SCHEMA, Cell, Plan, declared_rates, plan
from .study_spec import CellFailed, StudyError
from .study_store import (load_index, load_reference, prepare_dir, read_summary, save_cell, save_failure,
                          save_reference, write_index, write_json)
from .study_tasks import (DaskExecutor, InlineExecutor, PoolExecutor, Table, failure_record, plot_grid,
                          run_cell_task, run_reference_task)

log = logging.getLogger(__name__)

__all__ = ["run", "plan", "StudyError", "CellFailed", "StudyResult", "Table", "declared_rates",
           "plot_grid", "load_index", "REFERENCE_SEED", "SCHEMA"]


# ======================================================================= run
@dataclass
class StudyResult:
    """What :func:`run` returns: the study folder, every cell's summary (the
    index's ``cells``) and the report's path (None when not written)."""

    out: Path
    cells: list[dict[str, Any]]
    report: Path | None = None
    skipped: int = 0

    @property
    def done(self) -> list[dict[str, Any]]:
        return [c for c in self.cells if c["status"] == "done"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.cells if c["status"] == "failed"]


def _executor(executor: str, workers: int, scheduler: str | None, timeout: float) -> Any:
    if executor == "dask":
        return DaskExecutor(workers, scheduler, timeout)
    if workers == 1:
        return InlineExecutor()
    return PoolExecutor(workers, max(1, (os.cpu_count() or 1) // workers))


def run(spec: str | os.PathLike | Mapping[str, Any], *, out: str | os.PathLike,
        executor: str = "local", workers: int = 1, scheduler: str | None = None,
        resume: bool = False, fail_fast: bool = False, progress: bool = False,
        report: bool = True, connect_timeout: float = 10.0, allow_large: bool = False) -> StudyResult:
    """Run a study (TOML path or dict) into the folder ``out``; see the module docstring.

    Everything is validated before any cell runs (:class:`StudyError`, exit 2).
    Complete cells in ``out`` are skipped.  A failed cell is recorded and the
    study goes on, unless ``fail_fast`` (then :class:`CellFailed`, exit 3).
    Writes ``out/report.md`` at the end unless ``report=False``.  Sizes are
    checked as ``sciml solve`` checks them; ``allow_large`` lifts the declared
    limits (not the memory check).
    """
    out = Path(out)
    if executor not in ("local", "dask"):
        raise StudyError(f"executor={executor!r}; choose local or dask")
    if not isinstance(workers, int) or workers < 1:
        raise StudyError(f"workers={workers!r}; give a positive integer")
    if scheduler and executor != "dask":
        raise StudyError("--scheduler needs --executor dask")
    plan_ = plan(spec, allow_large=allow_large)
    if executor == "local" and plan_.spec["device"] != "cpu":  # a remote cluster may have GPUs we lack
        from .core import SciMLError
        from .device import resolve_device
        for cell in plan_.cells:
            try:
                resolve_device(plan_.spec["device"], cell.solver)
            except SciMLError as exc:
                raise StudyError(f"{plan_.source}: {exc}") from None
    prepare_dir(out, plan_, resume)
    ex = _executor(executor, workers, scheduler, connect_timeout)
    try:
        write_json(out / "study.json", plan_.spec)
        if plan_.text is not None:
            with io.atomic_path(out / "study.toml") as tmp:
                tmp.write_text(plan_.text)
        summaries = _drive(plan_, out, ex, fail_fast=fail_fast, progress=progress, allow_large=allow_large)
    finally:
        ex.close()
    cells = [summaries.get(c.id) or c.summary() for c in plan_.cells]
    failed = [c for c in cells if c["status"] == "failed"]
    if failed:
        log.warning("%d of %d cells failed (first: %s: %s); they are listed in the report and "
                    "run again by the next invocation", len(failed), len(cells), failed[0]["error"],
                    failed[0]["message"])
    result = StudyResult(out, cells)
    if report:
        from . import report as _report
        result.report = _report.write(out)
    return result


def _drive(plan_: Plan, out: Path, ex: Any, *, fail_fast: bool, progress: bool,
           allow_large: bool = False) -> dict[str, dict[str, Any]]:
    """Schedule reference jobs and cells, write results as they come back."""
    from .progress import bar
    threads = getattr(ex, "threads", None)
    summaries: dict[str, dict[str, Any]] = {}
    todo: list[Cell] = []
    for cell in plan_.cells:
        s = read_summary(out, "cells", cell.id)
        if s is not None:
            summaries[cell.id] = s
        else:
            todo.append(cell)
    skipped = len(summaries)
    waiting: dict[str, list[Cell]] = {}
    tables: dict[str, dict[str, Any]] = {}
    ready: list[tuple[str, Any]] = []
    for cell in todo:
        job = cell.ref
        if not job.cached:
            ready.append(("cell", cell))
            continue
        if job.id not in tables and job.id not in waiting:
            table = load_reference(out, job)
            if table is not None:
                tables[job.id] = table
            else:
                waiting[job.id] = []
                ready.insert(0, ("ref", job))
        if job.id in tables:
            ready.append(("cell", cell))
        else:
            waiting[job.id].append(cell)
    n_refs = sum(1 for kind, _ in ready if kind == "ref")
    log.info("study %s: %d cells (%d complete), %d references to compute", plan_.source,
             len(plan_.cells), skipped, n_refs)
    write_index(out, plan_, summaries)

    def task_of(kind: str, item: Any) -> tuple[Callable[[Any], Any], dict[str, Any]]:
        if kind == "ref":
            return run_reference_task, {"problem": item.problem, "solver": item.solver, "seed": item.seed,
                                        "threads": threads}
        t = {"problem": item.problem, "solver": item.solver, "seed": item.seed, "device": item.key["device"],
             "threads": threads, "allow_large": allow_large}
        if item.ref.cached:
            t["table"] = tables[item.ref.id]
        else:
            t["ref_solver"], t["ref_seed"] = item.ref.solver, item.ref.seed
        return run_cell_task, t

    inflight: dict[Any, tuple[str, Any]] = {}
    suspects: list[tuple[str, Any]] = []  # in flight when a pool worker died: re-run one at a time
    isolated: set[str] = set()
    failed = 0
    last_index = time.monotonic()
    desc = "study" + (f" ({skipped} cells already done)" if skipped else "")
    pbar = bar(total=len(todo) + n_refs, desc=desc, enabled=progress, unit="run")
    pbar.set_postfix(failed=0)
    try:
        while ready or inflight or suspects:
            if suspects and not inflight:  # alone, so that a second death names the culprit
                kind, item = suspects.pop(0)
                isolated.add(item.id)
                fn, task = task_of(kind, item)
                inflight[ex.submit(fn, task)] = (kind, item)
            while ready and not suspects and len(inflight) < ex.capacity:
                kind, item = ready.pop(0)
                fn, task = task_of(kind, item)
                inflight[ex.submit(fn, task)] = (kind, item)
            for fut in ex.wait(inflight):
                kind, item = inflight.pop(fut)
                try:
                    result = fut.result()
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:  # noqa: BLE001 - a worker died: the cell failed
                    result = failure_record(exc)
                    if isinstance(exc, cf.process.BrokenProcessPool) and item.id not in isolated:
                        suspects.append((kind, item))  # maybe only in flight beside the culprit
                        continue
                pbar.update(1)
                if kind == "ref":
                    cells = waiting.pop(item.id)
                    if result["status"] == "done":
                        save_reference(out, item, result)
                        tables[item.id] = {k: result[k] for k in ("points", "values", "value", "stats", "state")}
                        ready.extend(("cell", c) for c in cells)
                        continue
                    result = dict(result, message=f"reference {item.solver.name!r} failed: {result['message']}")
                    for c in cells:
                        summaries[c.id] = save_failure(out, c, result)
                        pbar.update(1)
                    failed += len(cells)
                    bad = cells[0] if cells else None
                else:
                    if result["status"] == "done":
                        summaries[item.id] = save_cell(out, item, result["record"])
                        continue
                    summaries[item.id] = save_failure(out, item, result)
                    failed += 1
                    bad = item
                pbar.set_postfix(failed=failed)
                if fail_fast and bad is not None:
                    for f in inflight:
                        f.cancel()
                    raise CellFailed(f"cell {bad.id} ({bad.problem_spec} {bad.key['params']}, {bad.solver_spec} "
                                     f"{bad.key['options']}, seed {bad.seed}) failed: {result['error']}: "
                                     f"{result['message']} (--fail-fast)")
            if time.monotonic() - last_index > 5.0:
                write_index(out, plan_, summaries)
                last_index = time.monotonic()
    finally:
        pbar.close()
        write_index(out, plan_, summaries)
    return summaries
