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
"""
from __future__ import annotations

import concurrent.futures as cf
import copy
import datetime as _dt
import hashlib
import importlib
import itertools
import json
import logging
import multiprocessing
import os
import re
import sys
import time
import traceback
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from . import io, registry
from .core import (InvalidOption, InvalidProblem, MissingDependency, Problem, SciMLError, Solution, Solver,
                   fields_of)

log = logging.getLogger(__name__)

__all__ = ["run", "plan", "StudyError", "CellFailed", "StudyResult", "Table", "declared_rates",
           "plot_grid", "load_index", "REFERENCE_SEED", "SCHEMA"]

SCHEMA = "sciml-study/1"
#: default seed of cached references: outside any seed range a study sweeps
REFERENCE_SEED = 2 ** 31 - 1
_TOP_KEYS = ("problem", "solver", "seeds", "metrics", "device", "reference_seed", "title", "description")
_PROBLEM_KEYS = ("name", "params", "reference", "reference_options")
_SOLVER_KEYS = ("name", "options", "problems", "seeds")


class StudyError(SciMLError, ValueError):
    """The study file or the command line is wrong (exit 2); raised before any cell runs."""

    exit_code = 2


class CellFailed(SciMLError, RuntimeError):
    """A cell failed and ``fail_fast`` stopped the study (exit 3)."""

    exit_code = 3


# ============================================================== spec parsing
@dataclass
class _Source:
    """The study text, to point messages at a line."""

    label: str
    text: str | None

    def where(self, table: str | None = None, index: int = 0, key: str | None = None) -> str:
        loc = self.label
        if table is not None:
            loc += f" [[{table}]] #{index + 1}"
        if key is not None:
            loc += f" key {key!r}"
        line = self._line(table, index, key)
        return f"{loc} (line {line})" if line else loc

    def _line(self, table: str | None, index: int, key: str | None) -> int | None:
        if self.text is None:
            return None
        lines = self.text.splitlines()
        start, stop = 0, len(lines)
        if table is not None:
            heads = [i for i, ln in enumerate(lines) if re.match(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]", ln)]
            if index >= len(heads):
                return None
            start = heads[index]
            later = [i for i, ln in enumerate(lines) if i > start and re.match(r"^\s*\[", ln)]
            stop = later[0] if later else len(lines)
            if key is None:
                return start + 1
        if key is None:
            return None
        pat = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=")
        for i in range(start, stop):
            if pat.search(lines[i].split("#", 1)[0]):
                return i + 1
        return None


def _read_spec(spec: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, Any], _Source]:
    if isinstance(spec, Mapping):
        return copy.deepcopy(dict(spec)), _Source("study", None)
    import tomllib
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyError(f"cannot read study file {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(text), _Source(str(path), text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"line (\d+)", msg)
        shown = ""
        if m and 0 < int(m.group(1)) <= len(text.splitlines()):
            shown = f": {text.splitlines()[int(m.group(1)) - 1].strip()!r}"
        raise StudyError(f"{path}: malformed TOML: {msg}{shown}") from None


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Union or type(tp).__name__ == "UnionType"


def _is_tuple_type(tp: Any) -> bool:
    if typing.get_origin(tp) is tuple:
        return True
    return _is_union(tp) and any(_is_tuple_type(a) for a in typing.get_args(tp))


def _coerce(tp: Any, v: Any) -> Any:
    """TOML integers for float fields (and 1e3 for int fields), lists for tuples:
    the same instance must hash to the same cell whatever the spelling."""
    args = typing.get_args(tp)
    if _is_union(tp):
        if v is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], v) if len(inner) == 1 else v
    if tp is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if tp is int and isinstance(v, float) and v.is_integer():
        return int(v)
    if typing.get_origin(tp) is tuple and isinstance(v, list):
        elem = args[0] if args else Any
        return tuple(_coerce(elem, x) for x in v)
    return v


def _grid(cls: type, values: Any, what: str, where: Callable[[str | None], str]) -> list[dict[str, Any]]:
    """Expand a table of values (lists are grid axes) into a list of dicts."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise StudyError(f"{where(None)}: {what} must be a table (key = value), got {values!r}")
    fields = fields_of(cls)
    keys, axes = [], []
    for key, raw in values.items():
        if key not in fields:
            raise StudyError(f"{where(key)}: unknown {what} {key!r} for {cls.name!r}; "
                             f"valid keys: {', '.join(fields) or 'none'}")
        tp = fields[key]
        is_axis = isinstance(raw, list) and not (
            _is_tuple_type(tp) and not any(isinstance(v, list) for v in raw) and raw)
        axis = raw if is_axis else [raw]
        if not axis:
            raise StudyError(f"{where(key)}: {key} = [] is an empty grid; give at least one value")
        keys.append(key)
        axes.append([_coerce(tp, v) for v in axis])
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes)]


def _load_class(kind: str, name: Any, where: str) -> type:
    if not isinstance(name, str) or not name:
        raise StudyError(f"{where}: name must be a non-empty string, got {name!r}")
    if ":" in name:  # the user's own class, "module:Class"
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise StudyError(f"{where}: cannot import {kind} {name!r}: {exc}") from None
        base = Problem if kind == "problem" else Solver
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise StudyError(f"{where}: {name!r} is not a sciml {base.__name__} class")
        return cls
    try:
        return registry.load(kind, name)
    except SciMLError as exc:
        raise StudyError(f"{where}: {exc}") from None


def _build(cls: type, values: dict[str, Any], where: str, error: type) -> Any:
    try:
        return registry.build(cls, values, what="parameter" if error is InvalidProblem else "option",
                              error=error)
    except SciMLError as exc:
        raise StudyError(f"{where}: {exc}") from None


def _key_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _digest(obj: Any) -> str:
    return hashlib.sha1(_key_json(obj).encode()).hexdigest()[:16]


# ================================================================ the plan
def declared_rates(solver: Solver) -> dict[str, dict[str, float]]:
    """The rates ``solver`` declares: swept option -> {metric: rate}, where
    error ~ option^(-rate).  Read from ``solver.rates`` (ClassVar or property),
    else from the FEM convention ``orders[degree]`` + ``refinement_option``."""
    rates = getattr(solver, "rates", None)
    if isinstance(rates, Mapping):
        return {str(o): {str(m): float(r) for m, r in d.items()} for o, d in rates.items()}
    orders = getattr(solver, "orders", None)
    option = getattr(solver, "refinement_option", None)
    degree = getattr(solver, "degree", None)
    if isinstance(orders, Mapping) and option and degree in orders:
        return {str(option): {str(m): float(r) for m, r in orders[degree].items()}}
    return {}


@dataclass
class _RefJob:
    id: str
    problem: Problem
    solver: Solver
    key: dict[str, Any]
    seed: int

    @property
    def cached(self) -> bool:
        # exact references cost nothing: every cell recomputes them
        return self.solver.name != "exact"


@dataclass
class _Cell:
    id: str
    key: dict[str, Any]
    problem: Problem
    solver: Solver
    seed: int
    ref: _RefJob
    problem_spec: str
    solver_spec: str

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "status": "pending", "problem": self.problem.name,
                "problem_spec": self.problem_spec, "kind": self.problem.kind,
                "params": self.key["params"], "reference": self.ref.solver.name,
                "solver": self.solver.name, "solver_spec": self.solver_spec,
                "learned": bool(self.solver.learned), "options": self.key["options"],
                "seed": self.seed, "device": self.key["device"],
                "declared_rates": declared_rates(self.solver)}


@dataclass
class Plan:
    """Everything a study will run, validated: ``cells``, the reference jobs
    ``refs`` (by id), and the normalised ``spec``."""

    spec: dict[str, Any]
    cells: list[_Cell]
    refs: dict[str, _RefJob]
    source: str
    text: str | None = None


def _check_reference(ref: Solver, problem: Problem, where: str) -> None:
    try:
        ref.check_problem(problem)
    except SciMLError as exc:
        raise StudyError(f"{where}: reference: {exc}") from None
    if ref.name == "exact":
        missing = (problem.kind == "value" and type(problem).exact_value is Problem.exact_value) or \
                  (problem.kind != "value" and not problem.has_exact)
        if missing:
            raise StudyError(f"{where}: problem {problem.name!r} has no exact solution; "
                             f"set reference = {problem.default_reference!r}")


def _seeds(raw: Any, where: str) -> list[int]:
    seeds = [raw] if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                              for s in seeds):
        raise StudyError(f"{where}: seeds must be a non-negative integer or a list of them")
    if not seeds:
        raise StudyError(f"{where}: seeds = [] is an empty grid")
    return sorted(set(seeds))


def _accepts(cls: type, problem: Problem) -> bool:
    return "*" in cls.accepts or problem.name in cls.accepts


def plan(spec: str | os.PathLike | Mapping[str, Any]) -> Plan:
    """Parse and validate a study (file or dict) without running anything.

    Raises :class:`StudyError` (exit 2) naming the file, table, key and line.
    """
    data, src = _read_spec(spec)
    for key in data:
        if key not in _TOP_KEYS:
            raise StudyError(f"{src.where(key=key)}: unknown key {key!r}; allowed: {', '.join(_TOP_KEYS)}")
    seeds = _seeds(data.get("seeds", [0]), src.where(key="seeds"))
    device = data.get("device", "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise StudyError(f"{src.where(key='device')}: device={device!r}; choose cpu or cuda")
    ref_seed = data.get("reference_seed", REFERENCE_SEED)
    if not isinstance(ref_seed, int) or ref_seed < 0:
        raise StudyError(f"{src.where(key='reference_seed')}: must be a non-negative integer")
    metrics = data.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise StudyError(f"{src.where(key='metrics')}: metrics must be a list of metric names")
    problems_raw, solvers_raw = data.get("problem", []), data.get("solver", [])
    for table, raw in (("problem", problems_raw), ("solver", solvers_raw)):
        if not isinstance(raw, list) or not raw:
            raise StudyError(f"{src.label}: the study needs at least one [[{table}]] table")
        for k, entry in enumerate(raw):
            if not isinstance(entry, Mapping):
                raise StudyError(f"{src.where(table, k)}: each [[{table}]] must be a table, got {entry!r}")

    instances: list[tuple[str, Problem, _RefJob, str]] = []
    refs: dict[str, _RefJob] = {}
    for i, entry in enumerate(problems_raw):
        where = lambda key, i=i: src.where("problem", i, key)  # noqa: E731
        for key in entry:
            if key not in _PROBLEM_KEYS:
                raise StudyError(f"{where(key)}: unknown key {key!r}; allowed: {', '.join(_PROBLEM_KEYS)}")
        name = entry.get("name")
        cls = _load_class("problem", name, where("name"))
        ref_name = entry.get("reference", cls.default_reference)
        ref_cls = _load_class("solver", ref_name, where("reference"))
        ref_values = entry.get("reference_options", {}) or {}
        if not isinstance(ref_values, Mapping):
            raise StudyError(f"{where('reference_options')}: must be a table")
        ref_fields = fields_of(ref_cls)
        ref_solver = _build(ref_cls, {k: _coerce(ref_fields.get(k, Any), v) for k, v in ref_values.items()},
                            where("reference_options"), InvalidOption)
        for values in _grid(cls, entry.get("params"), "parameter", where):
            problem = _build(cls, values, where("params"), InvalidProblem)
            _check_reference(ref_solver, problem, where("reference"))
            ref_key = {"problem": name, "params": problem.params(), "reference": ref_name,
                       "reference_options": ref_solver.options(), "reference_seed": ref_seed}
            rid = _digest(ref_key)
            job = refs.setdefault(rid, _RefJob(rid, problem, ref_solver, ref_key, ref_seed))
            instances.append((name, problem, job, where(None)))

    cells: dict[str, _Cell] = {}
    for j, entry in enumerate(solvers_raw):
        where = lambda key, j=j: src.where("solver", j, key)  # noqa: E731
        for key in entry:
            if key not in _SOLVER_KEYS:
                raise StudyError(f"{where(key)}: unknown key {key!r}; allowed: {', '.join(_SOLVER_KEYS)}")
        name = entry.get("name")
        cls = _load_class("solver", name, where("name"))
        only = entry.get("problems")
        if only is not None:
            known = {p for p, *_ in instances} | {inst[1].name for inst in instances}
            if not isinstance(only, list) or not only:
                raise StudyError(f"{where('problems')}: problems must be a non-empty list of problem names")
            for p in only:
                if p not in known:
                    raise StudyError(f"{where('problems')}: {p!r} is not a problem of this study; "
                                     f"problems: {', '.join(sorted(known))}")
        solvers = [_build(cls, values, where("options"), InvalidOption)
                   for values in _grid(cls, entry.get("options"), "option", where)]
        these_seeds = _seeds(entry["seeds"], where("seeds")) if "seeds" in entry else seeds
        if only is None:  # every problem of the study the solver accepts by name
            paired = [inst for inst in instances if _accepts(cls, inst[1])]
            if not paired:
                names = sorted({inst[1].name for inst in instances})
                raise StudyError(f"{where('name')}: solver {cls.name!r} does not accept problem "
                                 f"{', '.join(map(repr, names))}; it accepts: {', '.join(cls.accepts) or 'none'}")
        else:
            paired = [inst for inst in instances if inst[0] in only or inst[1].name in only]
        for pname, problem, job, _ in paired:
            for solver in solvers:
                try:
                    solver.check_problem(problem)
                except SciMLError as exc:
                    raise StudyError(f"{where('name')}: {exc}") from None
                for seed in these_seeds:
                    key = {"problem": pname, "params": problem.params(), "reference": job.key,
                           "solver": name, "options": solver.options(), "seed": seed, "device": device}
                    cid = _digest(key)
                    cells.setdefault(cid, _Cell(cid, key, problem, solver, seed, job, pname, name))
    if not cells:
        raise StudyError(f"{src.label}: the study has no cells (no solver is paired with a problem)")
    used = {c.ref.id for c in cells.values()}
    normalised = {"problem": problems_raw, "solver": solvers_raw, "seeds": seeds, "metrics": metrics,
                  "device": device, "reference_seed": ref_seed,
                  "title": data.get("title", Path(src.label).stem if src.text else "study"),
                  "description": data.get("description", "")}
    return Plan(json.loads(_key_json(normalised)), list(cells.values()),
                {k: v for k, v in refs.items() if k in used}, src.label, src.text)


# ===================================================== work done in workers
def _limit_threads(n: int | None) -> None:
    """Keep each worker to ``n`` threads (None: leave the defaults)."""
    if not n:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    if "numba" in sys.modules:
        numba = sys.modules["numba"]
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def plot_grid(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(points, lo, hi) of the report's plot grid for a 1D/2D field problem:
    401 points on the test points' range in 1D, 81 x 81 in 2D (ij order)."""
    if problem.kind != "field":
        return None
    try:
        x = np.asarray(problem.test_points(), dtype=float)
    except NotImplementedError:
        return None
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        return None
    lo, hi = x.min(axis=0), x.max(axis=0)
    if x.shape[1] == 1:
        return np.linspace(lo[0], hi[0], 401)[:, None], lo, hi
    axes = [np.linspace(lo[i], hi[i], 81) for i in range(2)]
    g = np.meshgrid(*axes, indexing="ij")
    return np.stack([a.reshape(-1) for a in g], axis=1), lo, hi


def _point_sets(problem: Problem) -> list[np.ndarray]:
    """Where a cached reference must be known: test points, value point, plot grid."""
    sets = []
    if problem.kind == "field":
        try:
            sets.append(np.asarray(problem.test_points(), dtype=float))
        except NotImplementedError:
            pass
    x0 = problem.value_point()
    if x0 is not None:
        sets.append(np.asarray(x0, dtype=float).reshape(1, -1))
    grid = plot_grid(problem)
    if grid is not None:
        sets.append(grid[0])
    return sets


class Table:
    """A reference known on fixed point sets only (a cached reference).

    Calling it with one of its point sets (bitwise equal) returns the stored
    values; any other points raise :class:`InvalidOption`.
    """

    def __init__(self, points: list[np.ndarray], values: list[np.ndarray]) -> None:
        self.points = [np.asarray(p, dtype=float) for p in points]
        self.values = [np.asarray(v, dtype=float) for v in values]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        for p, v in zip(self.points, self.values):
            if p.shape == x.shape and np.array_equal(p, x):
                return v.copy()
        raise InvalidOption("a cached study reference is known on the problem's test points, value point "
                            f"and plot grid only, not on these {x.shape[0]} points")


def _reference_solution(table: dict[str, Any]) -> Solution:
    fn = Table(table["points"], table["values"]) if table["points"] else None
    return Solution(fn=fn, value=table["value"], stats=dict(table["stats"]), state=dict(table["state"]))


def _failure(exc: BaseException) -> dict[str, Any]:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"status": "failed", "error": type(exc).__name__, "message": str(exc) or repr(exc),
            "traceback": "".join(tb[-6:])}


def _solve_reference(problem: Problem, solver: Solver, seed: int) -> Solution:
    from .evaluate import solve_timed
    sol, _ = solve_timed(solver, problem, seed=seed, device="cpu", progress=False)
    sol.stats["solver"] = solver.name
    return sol


def run_reference_task(task: dict[str, Any]) -> dict[str, Any]:
    """Worker: compute a reference and tabulate it (see the module docstring)."""
    _limit_threads(task.get("threads"))
    problem = task["problem"]
    try:
        sol = _solve_reference(problem, task["solver"], task["seed"])
        points = _point_sets(problem) if sol.fn is not None else []
        values = [np.asarray(sol(p), dtype=float).reshape(-1) for p in points]
        value = None if sol.value is None else float(sol.value)
        stats = {k: v for k, v in sol.stats.items() if not isinstance(v, np.ndarray)}
        state = {k: np.asarray(v) for k, v in sol.state.items() if np.asarray(v).dtype.kind in "fiub"}
        return {"status": "done", "points": points, "values": values, "value": value,
                "stats": json.loads(io._json(stats)), "state": state}
    except Exception as exc:  # noqa: BLE001 - recorded, the study goes on
        return _failure(exc)


class _Capture:
    """Delegates to a solver and keeps the Solution ``solve`` returns, so that the
    cell can tabulate it on the plot grid after :func:`evaluate` (which returns
    only the record)."""

    def __init__(self, solver: Solver) -> None:
        self._solver = solver
        self.solution: Solution | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._solver, name)

    def solve(self, problem: Problem, **kwargs: Any) -> Solution:
        self.solution = self._solver.solve(problem, **kwargs)
        return self.solution


def _plot_state(problem: Problem, sol: Solution | None, ref: Solution) -> dict[str, np.ndarray]:
    grid = plot_grid(problem)
    if grid is None or sol is None or sol.fn is None or ref.fn is None:
        return {}
    pts, lo, hi = grid
    shape = (pts.shape[0],) if pts.shape[1] == 1 else (81, 81)
    try:
        u = np.asarray(sol(pts), dtype=float).reshape(shape)
        r = np.asarray(ref(pts), dtype=float).reshape(shape)
    except Exception as exc:  # noqa: BLE001 - a figure is a nicety, the errors are the result
        log.info("no plot values for %s: %s", problem.name, exc)
        return {}
    return {"study_plot_u": u, "study_plot_ref": r, "study_plot_lo": lo, "study_plot_hi": hi}


def run_cell_task(task: dict[str, Any]) -> dict[str, Any]:
    """Worker: one evaluate() run against the cell's reference."""
    from .evaluate import evaluate
    _limit_threads(task.get("threads"))
    problem, solver = task["problem"], task["solver"]
    try:
        if "table" in task:
            ref = _reference_solution(task["table"])
        else:
            ref = _solve_reference(problem, task["ref_solver"], task["ref_seed"])
        cap = _Capture(solver)
        rec = evaluate(problem, cap, ref, seed=task["seed"], device=task["device"], progress=False)
        rec.state = {**rec.state, **_plot_state(problem, cap.solution, ref)}
        return {"status": "done", "record": rec}
    except Exception as exc:  # noqa: BLE001 - recorded, the study goes on
        return _failure(exc)


# ================================================================ executors
def _init_worker(threads: int | None) -> None:
    _limit_threads(threads)


class _Inline:
    """One worker: run in this process when the task is submitted."""

    capacity = 1

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(arg))
        except BaseException as exc:  # KeyboardInterrupt included: surfaced by result()
            fut.set_exception(exc)
        return fut

    def wait(self, futures: Iterable[Any]) -> set[Any]:
        return {f for f in futures if f.done()}

    def close(self) -> None:
        pass


class _Pool:
    """A process pool; a worker that dies (segfault, out of memory) fails the cells
    in flight (BrokenProcessPool) and the pool is started again for the rest."""

    def __init__(self, workers: int, threads: int) -> None:
        self.capacity = 2 * workers
        self.threads = threads
        self._workers = workers
        self._ex = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        ctx = multiprocessing.get_context("forkserver")
        return cf.ProcessPoolExecutor(max_workers=self._workers, mp_context=ctx,
                                      initializer=_init_worker, initargs=(self.threads,))

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> cf.Future:
        try:
            return self._ex.submit(fn, arg)
        except cf.process.BrokenProcessPool:
            log.warning("a worker process died; starting a new pool")
            self._ex.shutdown(wait=False, cancel_futures=True)
            self._ex = self._start()
            return self._ex.submit(fn, arg)

    def wait(self, futures: Iterable[Any]) -> set[Any]:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return set(done)

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)


class _Dask:
    def __init__(self, workers: int, scheduler: str | None, timeout: float) -> None:
        try:
            import distributed
        except ImportError:
            raise MissingDependency("the dask executor needs dask[distributed]; "
                                    "pip install 'dask[distributed]'") from None
        self._distributed = distributed
        self._cluster = None
        # distributed logs its start-up at INFO on stderr; keep the study's stderr to the
        # progress bar unless the caller asked for INFO (sciml -v).  Restored in close().
        self._dlog = logging.getLogger("distributed")
        self._dlog_level = self._dlog.level
        if logging.getLogger().getEffectiveLevel() > logging.INFO:
            self._dlog.setLevel(logging.WARNING)
        if scheduler:
            try:
                self._client = distributed.Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
            except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a bad address
                self._dlog.setLevel(self._dlog_level)
                raise StudyError(f"cannot reach the dask scheduler at {scheduler!r} within {timeout:g} s: "
                                 f"{exc}") from None
            n = sum(w.get("nthreads", 1) for w in self._client.scheduler_info().get("workers", {}).values())
            self.threads = 1  # a cluster's worker slots are cores: one thread each
        else:
            self._cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                     dashboard_address=None, silence_logs=logging.ERROR)
            self._client = distributed.Client(self._cluster, set_as_default=False)
            n = workers
            self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.capacity = max(64, 2 * n)

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._client.submit(fn, arg, pure=False)

    def wait(self, futures: Iterable[Any]) -> set[Any]:
        with self._client.as_current():  # wait() looks for the current client; ours is not the default
            done, _ = self._distributed.wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done)

    def close(self) -> None:
        try:
            self._client.close()
            if self._cluster is not None:
                self._cluster.close()
        finally:
            self._dlog.setLevel(self._dlog_level)


# ===================================================================== files
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, obj: Any) -> None:
    """Write JSON to a temporary file and rename it over ``path``.

    Not fsynced, unlike io.atomic_path: a killed process cannot leave a partial
    file, and after a power loss a damaged summary fails to parse (or its HDF5
    checksum fails) and the cell is simply run again; fsync would cost ~10 ms
    per cell on a busy disk.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=1, default=_plain_json))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _plain_json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _read_summary(out: Path, folder: str, cid: str) -> dict[str, Any] | None:
    """The summary of a complete, intact cell (or reference); None otherwise
    (missing, failed, or its HDF5 file missing/truncated/altered)."""
    meta, h5 = out / folder / f"{cid}.json", out / folder / f"{cid}.h5"
    if not meta.exists():
        return None
    try:
        summary = json.loads(meta.read_text())
    except (OSError, ValueError):
        log.warning("%s is unreadable; the %s is run again", meta, folder[:-1])
        return None
    if summary.get("status") != "done":
        return None
    if not h5.exists() or _sha256(h5) != summary.get("sha256"):
        log.warning("%s is missing, truncated or altered (SHA-256 mismatch); the %s is run again",
                    h5, folder[:-1])
        return None
    return summary


def _save_reference(out: Path, job: _RefJob, result: dict[str, Any]) -> None:
    import h5py
    path = out / "references" / f"{job.id}.h5"
    with io.atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema"] = "sciml-study-reference/1"
            f.attrs["key"] = _key_json(job.key)
            f.attrs["value"] = json.dumps(result["value"])
            f.attrs["stats"] = json.dumps(result["stats"])
            for i, (p, v) in enumerate(zip(result["points"], result["values"])):
                f.create_dataset(f"points/{i}", data=p)
                f.create_dataset(f"values/{i}", data=v)
            for k, v in result["state"].items():
                f.create_dataset(f"state/{k}", data=v)
    _write_json(out / "references" / f"{job.id}.json",
                {"id": job.id, "status": "done", "key": job.key, "sha256": _sha256(path),
                 "wall_s": result["stats"].get("wall_s")})


def _load_reference(out: Path, job: _RefJob) -> dict[str, Any] | None:
    if _read_summary(out, "references", job.id) is None:
        return None
    import h5py
    with h5py.File(out / "references" / f"{job.id}.h5", "r") as f:
        n = len(f["points"]) if "points" in f else 0
        return {"points": [f[f"points/{i}"][()] for i in range(n)],
                "values": [f[f"values/{i}"][()] for i in range(n)],
                "value": json.loads(f.attrs["value"]), "stats": json.loads(f.attrs["stats"]),
                "state": {k: f["state"][k][()] for k in f["state"]} if "state" in f else {}}


def _save_cell(out: Path, cell: _Cell, record: Any) -> dict[str, Any]:
    path = out / "cells" / f"{cell.id}.h5"
    io.save(path, record)
    summary = cell.summary()
    js = record.to_json()
    summary.update(status="done", file=f"cells/{cell.id}.h5", sha256=_sha256(path),
                   errors=js["errors"], value=js["value"], reference_value=js["reference_value"],
                   wall_s=js["wall_s"], reference_wall_s=js["reference_wall_s"],
                   plot="study_plot_u" in record.state,
                   finished=_dt.datetime.now(_dt.timezone.utc).isoformat())
    _write_json(out / "cells" / f"{cell.id}.json", summary)
    return summary


def _save_failure(out: Path, cell: _Cell, failure: dict[str, Any]) -> dict[str, Any]:
    summary = cell.summary()
    summary.update({k: failure[k] for k in ("status", "error", "message", "traceback")})
    (out / "cells" / f"{cell.id}.h5").unlink(missing_ok=True)
    _write_json(out / "cells" / f"{cell.id}.json", summary)
    return summary


def load_index(out: str | os.PathLike) -> dict[str, Any]:
    """``DIR/index.json`` (schema ``sciml-study/1``) with every cell's summary."""
    path = Path(out) / "index.json"
    if not path.exists():
        raise StudyError(f"{out} is not a study directory (no index.json); run `sciml study` first")
    try:
        index = json.loads(path.read_text())
    except ValueError as exc:
        raise StudyError(f"{path} is corrupt ({exc}); re-run the study to rebuild it") from None
    if index.get("schema") != SCHEMA:
        raise StudyError(f"{path} is not a sciml study index")
    return index


def _write_index(out: Path, plan_: Plan, summaries: dict[str, dict[str, Any]]) -> None:
    cells = [summaries.get(c.id) or c.summary() for c in plan_.cells]
    _write_json(out / "index.json", {"schema": SCHEMA, "spec": plan_.spec, "source": plan_.source,
                                     "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                                     "counts": _counts(cells), "cells": cells})


def _counts(cells: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = {"done": 0, "failed": 0, "pending": 0}
    for c in cells:
        out[c["status"]] = out.get(c["status"], 0) + 1
    return out


def _prepare_dir(out: Path, plan_: Plan, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise StudyError(f"--out {out} exists and is not a directory")
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
        (out / "references").mkdir(exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StudyError(f"--out {out} is not writable: {exc.strerror or exc}") from None
    for folder in ("cells", "references"):  # leftovers of writes a kill interrupted (one study per DIR)
        for tmp in (out / folder).glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    stored = out / "study.json"
    if resume:
        if not stored.exists():
            raise StudyError(f"--resume: {out} holds no study to resume (no study.json); drop --resume to start")
        if json.loads(stored.read_text()) != plan_.spec:
            raise StudyError(f"--resume: the study file differs from the one {out} was run with; "
                             "run without --resume to extend the study in place, or use a new --out")


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
        return _Dask(workers, scheduler, timeout)
    if workers == 1:
        return _Inline()
    return _Pool(workers, max(1, (os.cpu_count() or 1) // workers))


def run(spec: str | os.PathLike | Mapping[str, Any], *, out: str | os.PathLike,
        executor: str = "local", workers: int = 1, scheduler: str | None = None,
        resume: bool = False, fail_fast: bool = False, progress: bool = False,
        report: bool = True, connect_timeout: float = 10.0) -> StudyResult:
    """Run a study (TOML path or dict) into the folder ``out``; see the module docstring.

    Everything is validated before any cell runs (:class:`StudyError`, exit 2).
    Complete cells in ``out`` are skipped.  A failed cell is recorded and the
    study goes on, unless ``fail_fast`` (then :class:`CellFailed`, exit 3).
    Writes ``out/report.md`` at the end unless ``report=False``.
    """
    out = Path(out)
    if executor not in ("local", "dask"):
        raise StudyError(f"executor={executor!r}; choose local or dask")
    if not isinstance(workers, int) or workers < 1:
        raise StudyError(f"workers={workers!r}; give a positive integer")
    if scheduler and executor != "dask":
        raise StudyError("--scheduler needs --executor dask")
    plan_ = plan(spec)
    _prepare_dir(out, plan_, resume)
    ex = _executor(executor, workers, scheduler, connect_timeout)
    try:
        _write_json(out / "study.json", plan_.spec)
        if plan_.text is not None:
            with io.atomic_path(out / "study.toml") as tmp:
                tmp.write_text(plan_.text)
        summaries = _drive(plan_, out, ex, fail_fast=fail_fast, progress=progress)
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


def _drive(plan_: Plan, out: Path, ex: Any, *, fail_fast: bool, progress: bool) -> dict[str, dict[str, Any]]:
    """Schedule reference jobs and cells, write results as they come back."""
    from .progress import bar
    threads = getattr(ex, "threads", None)
    summaries: dict[str, dict[str, Any]] = {}
    todo: list[_Cell] = []
    for cell in plan_.cells:
        s = _read_summary(out, "cells", cell.id)
        if s is not None:
            summaries[cell.id] = s
        else:
            todo.append(cell)
    skipped = len(summaries)
    waiting: dict[str, list[_Cell]] = {}
    tables: dict[str, dict[str, Any]] = {}
    ready: list[tuple[str, Any]] = []
    for cell in todo:
        job = cell.ref
        if not job.cached:
            ready.append(("cell", cell))
            continue
        if job.id not in tables and job.id not in waiting:
            table = _load_reference(out, job)
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
    _write_index(out, plan_, summaries)

    def task_of(kind: str, item: Any) -> tuple[Callable[[Any], Any], dict[str, Any]]:
        if kind == "ref":
            return run_reference_task, {"problem": item.problem, "solver": item.solver, "seed": item.seed,
                                        "threads": threads}
        t = {"problem": item.problem, "solver": item.solver, "seed": item.seed, "device": item.key["device"],
             "threads": threads}
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
                    result = _failure(exc)
                    if isinstance(exc, cf.process.BrokenProcessPool) and item.id not in isolated:
                        suspects.append((kind, item))  # maybe only in flight beside the culprit
                        continue
                pbar.update(1)
                if kind == "ref":
                    cells = waiting.pop(item.id)
                    if result["status"] == "done":
                        _save_reference(out, item, result)
                        tables[item.id] = {k: result[k] for k in ("points", "values", "value", "stats", "state")}
                        ready.extend(("cell", c) for c in cells)
                        continue
                    result = dict(result, message=f"reference {item.solver.name!r} failed: {result['message']}")
                    for c in cells:
                        summaries[c.id] = _save_failure(out, c, result)
                        pbar.update(1)
                    failed += len(cells)
                    bad = cells[0] if cells else None
                else:
                    if result["status"] == "done":
                        summaries[item.id] = _save_cell(out, item, result["record"])
                        continue
                    summaries[item.id] = _save_failure(out, item, result)
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
                _write_index(out, plan_, summaries)
                last_index = time.monotonic()
    finally:
        pbar.close()
        _write_index(out, plan_, summaries)
    return summaries
