"""Solve, compare with a reference, compute metrics -> a plain record."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import registry
from .core import InvalidOption, Problem, Solution, Solver, SolverDiverged
from .device import resolve_device
from .versions import versions

log = logging.getLogger(__name__)

__all__ = ["Record", "evaluate", "solve_timed", "check_finite", "JSON_KEYS"]

#: The keys of ``sciml solve --json`` (the CLI contract; see docs/architecture.md).
JSON_KEYS = ("problem", "params", "solver", "options", "reference", "seed", "device",
             "errors", "value", "reference_value", "wall_s", "reference_wall_s", "versions")


@dataclass
class Record:
    """One run: what was solved, how, and how well.  ``to_json`` gives the
    CLI contract's keys; ``stats``/``state`` go to HDF5 only."""

    problem: str
    params: dict[str, Any]
    solver: str
    options: dict[str, Any]
    reference: str | None
    seed: int
    device: str
    errors: dict[str, float]
    value: float | None
    reference_value: float | None
    wall_s: float
    reference_wall_s: float | None
    versions: dict[str, str]
    stats: dict[str, Any] = field(default_factory=dict)
    reference_stats: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {}
        for k in JSON_KEYS:
            v = getattr(self, k)
            if isinstance(v, dict):
                v = {kk: _finite_or_none(vv) for kk, vv in v.items()}
            else:
                v = _finite_or_none(v)
            out[k] = v
        return out


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


#: metrics whose +inf is a meaningful answer (an exact match), not a failure
_INF_OK = ("psnr",)


def check_finite(where: str, quantities: dict[str, Any]) -> None:
    """Raise :class:`SolverDiverged` naming the first quantity that is not a
    finite number (None means "not applicable" and passes): a result is
    validated before it is reported, never printed as ``null``."""
    for key, v in quantities.items():
        if v is None or isinstance(v, (bool, str)):
            continue
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x) or (x == math.inf and key.rsplit(".", 1)[-1] in _INF_OK):
            continue
        raise SolverDiverged(f"{where}: {key} = {x} is not a finite number; the result is not reported "
                             "(an overflow in the data or the solver: check the parameters' scale)")


def check_sizes(solver: Any, problem: Problem, *, allow_large: bool = False) -> None:
    """Refuse sizes beyond the declared limits or memory (``limits.check_declared``)
    and call the solver's optional ``check_sizes(problem)`` hook: all before
    any work starts."""
    from .limits import check_declared
    hook = getattr(solver, "check_sizes", None)
    if callable(hook):  # the solver's own estimate first: it knows its arithmetic best
        import inspect
        if "allow_large" in inspect.signature(hook).parameters:
            hook(problem, allow_large=allow_large)
        else:
            hook(problem)
    check_declared(solver, problem, allow_large=allow_large)


def solve_timed(solver: Solver, problem: Problem, *, seed: int, device: str,
                progress: bool) -> tuple[Solution, float]:
    """Check the pairing, solve, and return (solution, wall seconds)."""
    solver.check_problem(problem)
    t0 = time.perf_counter()
    try:
        sol = solver.solve(problem, seed=seed, device=device, progress=progress)
    except (ArithmeticError, np.linalg.LinAlgError) as exc:  # overflow, singular matrix: the numbers failed
        raise SolverDiverged(f"solver {solver.name!r} on {problem.name!r}: {type(exc).__name__}: {exc} "
                             "(check the parameters' and options' scale)") from exc
    wall = time.perf_counter() - t0
    sol.stats.setdefault("wall_s", wall)
    return sol, wall


def _value_of(problem: Problem, sol: Solution) -> float | None:
    if sol.value is not None:
        return float(sol.value)
    x0 = getattr(problem, "value_point", lambda: None)()
    if x0 is not None and sol.fn is not None:
        return float(np.asarray(sol(np.asarray(x0, dtype=float).reshape(1, -1))).reshape(-1)[0])
    return None


def evaluate(problem: Problem, solver: Solver, reference: str | Solver | Solution | None = None, *,
             seed: int = 0, device: str = "cpu", progress: bool = False,
             reference_seed: int | None = None, allow_large: bool = False) -> Record:
    """Run ``solver`` on ``problem`` and compare with ``reference``.

    Sizes of both runs are checked against the declared limits and the
    memory before either starts (``allow_large`` lifts the declared limits,
    not the memory check).

    ``reference`` is a registry name (``"exact"``, ``"fem"``...), a configured
    Solver, an already computed Solution (a cached reference), or None for
    the problem's default reference.  The reference runs on the CPU with its
    own seed (``reference_seed``, default ``seed + 1`` so that Monte Carlo
    references are independent of a Monte Carlo solver with the same seed).
    """
    if reference is None:
        reference = problem.default_reference
    if isinstance(reference, Solution):
        reference.check_problem(problem)  # a cached reference must be of this very problem
    else:  # sizes of both runs are checked before either starts
        ref = registry.make_solver(reference) if isinstance(reference, str) else reference
        check_sizes(ref, problem, allow_large=allow_large)
        if getattr(ref, "name", None) == "exact":  # refused now, not after the solver's work
            no_exact = (problem.kind == "value" and type(problem).exact_value is Problem.exact_value) or \
                       (problem.kind != "value" and not problem.has_exact)
            if no_exact:
                raise InvalidOption(f"problem {problem.name!r} has no exact solution; "
                                    f"use --reference {problem.default_reference}")
    check_sizes(solver, problem, allow_large=allow_large)
    device = resolve_device(device, solver)  # where it really runs ("cuda:0"), or InvalidOption
    sol, wall = solve_timed(solver, problem, seed=seed, device=device, progress=progress)

    ref_wall: float | None
    if isinstance(reference, Solution):
        ref_sol, ref_name = reference, reference.stats.get("solver", "cached")
        ref_wall = reference.stats.get("wall_s")
    else:
        ref_solver = registry.make_solver(reference) if isinstance(reference, str) else reference
        if not isinstance(ref_solver, Solver):
            raise InvalidOption(f"reference must be a solver name, a Solver or a Solution, got {reference!r}")
        ref_name = ref_solver.name
        rs = seed + 1 if reference_seed is None else reference_seed
        ref_sol, ref_wall = solve_timed(ref_solver, problem, seed=rs, device="cpu", progress=progress)

    value, ref_value = _value_of(problem, sol), _value_of(problem, ref_sol)
    check_finite(f"solver {solver.name!r} on {problem.name!r}", {"value": value})
    check_finite(f"reference {ref_name!r} on {problem.name!r}", {"reference_value": ref_value})
    errors = dict(problem.errors(sol, ref_sol))
    if sol.extra_errors is not None:
        errors.update(sol.extra_errors(problem))
    check_finite(f"solver {solver.name!r} on {problem.name!r} against {ref_name!r}",
                 {f"errors.{k}": v for k, v in errors.items()})
    return Record(
        problem=problem.name, params=problem.params(), solver=solver.name,
        options=solver.options(), reference=ref_name, seed=seed, device=device,
        errors=errors, value=value, reference_value=ref_value,
        wall_s=wall, reference_wall_s=ref_wall, versions=versions(),
        stats=sol.stats, reference_stats=ref_sol.stats, state=sol.state,
    )
