"""Study files: reading, grid expansion and validation into a :class:`Plan`.

The file format, the cell identity and the rate declarations are described
in :mod:`sciml.study`.  Everything here runs before any cell: each mistake is
a :class:`StudyError` (exit 2) naming the file, table, key and line.
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import itertools
import json
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from . import loading, registry
from .core import InvalidOption, InvalidProblem, Problem, SciMLError, Solver, fields_of
from .device import cuda_engine
from .io import schema

SCHEMA = schema("study")
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


def _plain(obj: Any) -> Any:
    """A study given as a dict in Python: NumPy arrays are grid axes (lists),
    NumPy scalars their Python values, as TOML would give them."""
    import numpy as np
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    return copy.deepcopy(obj)


def _read_spec(spec: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, Any], _Source]:
    if isinstance(spec, Mapping):
        return _plain(spec), _Source("study", None)
    import tomllib
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyError(f"cannot read study file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise StudyError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at line {line}); "
                         "TOML files must be UTF-8") from None
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
        if not all(part.isidentifier() for part in module.split(".")) or not attr.isidentifier():
            raise StudyError(f"{where}: name={name!r} is malformed; give a registered {kind} name or "
                             f"module:Class")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise StudyError(f"{where}: cannot import {kind} {name!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the user's module failed at import: one line
            raise StudyError(f"{where}: importing {kind} {name!r} failed: {type(exc).__name__}: {exc}") from None
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
    return cls.missing(problem) is None


def _check_sizes(solver: Solver, problem: Problem, allow_large: bool, where: str) -> None:
    """The limits ``sciml solve`` checks (declared sizes, memory, threads), at planning time."""
    from .evaluate import check_sizes
    try:
        check_sizes(solver, problem, allow_large=allow_large)
    except SciMLError as exc:
        from .limits import _RAISE
        msg = str(exc).replace(_RAISE, "pass sciml study --allow-large (Python: study.run(..., allow_large=True)) "
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
            if make is None:
                problem = _build(cls, values, where("params"), InvalidProblem)
            else:
                try:
                    problem = make(values)
                except SciMLError as exc:
                    raise StudyError(f"{where('params')}: {exc}") from None
            _check_reference(ref_solver, problem, where("reference"))
            _check_sizes(ref_solver, problem, allow_large, where("reference_options"))
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
                    cid = _digest(key)
                    cells.setdefault(cid, _Cell(cid, key, problem, solver, seed, job, pname, name))
    if not cells:
        raise StudyError(f"{src.label}: the study has no cells (no solver is paired with a problem)")
    _check_metrics(metrics, [inst[1] for inst in instances], src.where(key="metrics"))
    used = {c.ref.id for c in cells.values()}
    normalised = {"problem": problems_raw, "solver": solvers_raw, "seeds": seeds, "metrics": metrics,
                  "device": device, "reference_seed": ref_seed,
                  "title": data.get("title", Path(src.label).stem if src.text else "study"),
                  "description": data.get("description", "")}
    return Plan(json.loads(_key_json(normalised)), list(cells.values()),
                {k: v for k, v in refs.items() if k in used}, src.label, src.text)
