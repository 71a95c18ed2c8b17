"""Study files validated into a :class:`Plan`: the cells, the shared reference
jobs and the normalised spec.

The file format, the cell identity and the rate declarations are described
in :mod:`sciml.study`; reading the file and expanding grids is
:mod:`sciml.study_spec`.  Everything here runs before any cell: each mistake
is a :class:`StudyError` (exit 2) naming the file, table, key and line.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from . import loading
from .core import InvalidOption, InvalidProblem, Problem, SciMLError, Solver, fields_of
from .device import cuda_engine
from .io import schema
from .study_spec import (CellFailed, StudyError, build, coerce, digest, grid, key_json, load_class,
                         read_spec)

__all__ = ["plan", "Plan", "Cell", "RefJob", "declared_rates", "StudyError", "CellFailed",
           "SCHEMA", "REFERENCE_SEED"]

SCHEMA = schema("study")
#: default seed of cached references: outside any seed range a study sweeps
REFERENCE_SEED = 2 ** 31 - 1
_TOP_KEYS = ("problem", "solver", "seeds", "metrics", "device", "reference_seed", "title", "description")
_PROBLEM_KEYS = ("name", "params", "reference", "reference_options")
_SOLVER_KEYS = ("name", "options", "problems", "seeds")


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
class RefJob:
    """A reference solve shared by the cells whose problem instance and reference agree;
    ``id`` is the digest of its ``key``."""

    id: str
    problem: Problem
    solver: Solver
    key: dict[str, Any]
    seed: int

    @property
    def cached(self) -> bool:
        """Whether the reference is solved once and stored (every one but ``exact``)."""
        # exact references cost nothing: every cell recomputes them
        return self.solver.name != "exact"


@dataclass
class Cell:
    """One solve of a study: a problem instance, a configured solver and a seed, with
    the reference job it is compared with; ``id`` is the digest of its ``key``."""

    id: str
    key: dict[str, Any]
    problem: Problem
    solver: Solver
    seed: int
    ref: RefJob
    problem_spec: str
    solver_spec: str

    def summary(self) -> dict[str, Any]:
        """The cell's entry in the index before it has run (status ``pending``)."""
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
    cells: list[Cell]
    refs: dict[str, RefJob]
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
    return cls.missing(problem) is None


def _check_sizes(solver: Solver, problem: Problem, allow_large: bool, where: str) -> None:
    """The limits ``sciml solve`` checks (declared sizes, memory, threads), at planning time."""
    from .evaluate import check_sizes
    try:
        check_sizes(solver, problem, allow_large=allow_large)
    except SciMLError as exc:
        from .limits import ALLOW_LARGE_HINT
        msg = str(exc).replace(ALLOW_LARGE_HINT, "pass sciml study --allow-large (Python: study.run(..., allow_large=True)) "
                                       "to run it anyway")
        raise StudyError(f"{where}: {msg}") from None


def _check_metrics(metrics: list[str], problems: list[Problem], where: str) -> None:
    """Names in ``metrics`` must be metrics some problem reports (sciml.metrics.NAMES), unless a
    problem of the study computes its own errors (a user's ``errors`` method: names unknown here)."""
    from .metrics import NAMES, is_metric_name
    own = [p for p in problems if type(p).errors is not Problem.errors
           and not type(p).__module__.split(".")[0] in ("problems", "sciml")]
    unknown = [m for m in metrics if not is_metric_name(m)]
    if unknown and not own:
        raise StudyError(f"{where}: metrics={unknown!r}: unknown metric name(s); known metrics: "
                         f"{', '.join(NAMES)}, rel_l2@resN")


def plan(spec: str | os.PathLike | Mapping[str, Any], *, allow_large: bool = False) -> Plan:
    """Parse and validate a study (file or dict) without running anything.

    Sizes are checked as ``sciml solve`` checks them (``allow_large`` lifts
    the declared limits, not the memory check), and so is the device.
    Raises :class:`StudyError` (exit 2) naming the file, table, key and line.
    """
    data, src = read_spec(spec)
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
    for table, raw, allowed in (("problem", problems_raw, _PROBLEM_KEYS), ("solver", solvers_raw, _SOLVER_KEYS)):
        if not isinstance(raw, list) or not raw:
            raise StudyError(f"{src.label}: the study needs at least one [[{table}]] table")
        for k, entry in enumerate(raw):
            if not isinstance(entry, Mapping):
                raise StudyError(f"{src.where(table, k)}: each [[{table}]] must be a table, got {entry!r}")
            for key in entry:
                if key not in allowed:
                    raise StudyError(f"{src.where(table, k, key)}: unknown key {key!r}; "
                                     f"allowed: {', '.join(allowed)}")

    instances: list[tuple[str, Problem, RefJob, str]] = []
    refs: dict[str, RefJob] = {}
    for i, entry in enumerate(problems_raw):
        where = lambda key, i=i: src.where("problem", i, key)  # noqa: E731
        name = entry.get("name")
        make = None
        if isinstance(name, str) and loading.is_user_spec(name) and ".py:" in name:
            # the user's own problem file, relative to the study file
            base = Path(src.label).parent if src.text is not None else None
            try:
                obj = loading.load_object(name, base)
            except SciMLError as exc:
                raise StudyError(f"{where('name')}: {exc}") from None
            if isinstance(obj, Problem):
                cls = type(obj)
            elif isinstance(obj, type) and issubclass(obj, Problem):
                cls = obj
            else:
                raise StudyError(f"{where('name')}: {name!r} must be a Problem instance or class in a study")
            make = lambda values, name=name, base=base: loading.make_problem(name, values, base=base)  # noqa: E731
        else:
            cls = load_class("problem", name, where("name"))
        ref_name = entry.get("reference", cls.default_reference)
        ref_cls = load_class("solver", ref_name, where("reference"))
        ref_values = entry.get("reference_options", {}) or {}
        if not isinstance(ref_values, Mapping):
            raise StudyError(f"{where('reference_options')}: must be a table")
        ref_fields = fields_of(ref_cls)
        ref_solver = build(ref_cls, {k: coerce(ref_fields.get(k, Any), v) for k, v in ref_values.items()},
                            where("reference_options"), InvalidOption)
        for values in grid(cls, entry.get("params"), "parameter", where):
            if make is None:
                problem = build(cls, values, where("params"), InvalidProblem)
            else:
                try:
                    problem = make(values)
                except SciMLError as exc:
                    raise StudyError(f"{where('params')}: {exc}") from None
            _check_reference(ref_solver, problem, where("reference"))
            _check_sizes(ref_solver, problem, allow_large, where("reference_options"))
            ref_key = {"problem": name, "params": problem.params(), "reference": ref_name,
                       "reference_options": ref_solver.options(), "reference_seed": ref_seed}
            rid = digest(ref_key)
            job = refs.setdefault(rid, RefJob(rid, problem, ref_solver, ref_key, ref_seed))
            instances.append((name, problem, job, where(None)))

    cells: dict[str, Cell] = {}
    for j, entry in enumerate(solvers_raw):
        where = lambda key, j=j: src.where("solver", j, key)  # noqa: E731
        name = entry.get("name")
        cls = load_class("solver", name, where("name"))
        only = entry.get("problems")
        if only is not None:
            known = {p for p, *_ in instances} | {inst[1].name for inst in instances}
            if not isinstance(only, list) or not only:
                raise StudyError(f"{where('problems')}: problems must be a non-empty list of problem names")
            for p in only:
                if p not in known:
                    raise StudyError(f"{where('problems')}: {p!r} is not a problem of this study; "
                                     f"problems: {', '.join(sorted(known))}")
        solvers = [build(cls, values, where("options"), InvalidOption)
                   for values in grid(cls, entry.get("options"), "option", where)]
        if device != "cpu" and cuda_engine(solvers[0]) is None:  # fem on "cuda" failed in every cell
            raise StudyError(f"{src.where(key='device')}: device={device!r}: solver {cls.name!r} has no CUDA "
                             "path (it runs on the CPU only); use device = \"cpu\" or leave this solver out")
        these_seeds = _seeds(entry["seeds"], where("seeds")) if "seeds" in entry else seeds
        if only is None:  # every problem of the study the solver can take
            paired = [inst for inst in instances if _accepts(cls, inst[1])]
            if not paired:
                names = sorted({inst[1].name for inst in instances})
                why = cls.missing(instances[0][1]) if instances else "no problems"
                raise StudyError(f"{where('name')}: solver {cls.name!r} cannot solve problem "
                                 f"{', '.join(map(repr, names))}: {why}")
        else:
            paired = [inst for inst in instances if inst[0] in only or inst[1].name in only]
        for pname, problem, job, _ in paired:
            for solver in solvers:
                try:
                    solver.check_problem(problem)
                except SciMLError as exc:
                    raise StudyError(f"{where('name')}: {exc}") from None
                _check_sizes(solver, problem, allow_large, where("options"))
                for seed in these_seeds:
                    key = {"problem": pname, "params": problem.params(), "reference": job.key,
                           "solver": name, "options": solver.options(), "seed": seed, "device": device}
                    cid = digest(key)
                    cells.setdefault(cid, Cell(cid, key, problem, solver, seed, job, pname, name))
    if not cells:
        raise StudyError(f"{src.label}: the study has no cells (no solver is paired with a problem)")
    _check_metrics(metrics, [inst[1] for inst in instances], src.where(key="metrics"))
    used = {c.ref.id for c in cells.values()}
    normalised = {"problem": problems_raw, "solver": solvers_raw, "seeds": seeds, "metrics": metrics,
                  "device": device, "reference_seed": ref_seed,
                  "title": data.get("title", Path(src.label).stem if src.text else "study"),
                  "description": data.get("description", "")}
    return Plan(json.loads(key_json(normalised)), list(cells.values()),
                {k: v for k, v in refs.items() if k in used}, src.label, src.text)
