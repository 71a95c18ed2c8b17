"""Core nouns of sciml: Problem, Solver, Solution, and the error classes.

A :class:`Problem` is a frozen dataclass holding the mathematics (domain,
coefficients, data, exact solution where one exists).  A :class:`Solver` is a
frozen dataclass whose fields are its options; ``solve`` returns a
:class:`Solution`.  Neither knows about the CLI, HDF5 or plotting.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

__all__ = [
    "SciMLError", "InvalidProblem", "InvalidOption", "SolverDiverged",
    "MissingDependency", "DataError",
    "Problem", "Solver", "Solution", "check_range", "check_choice",
    "fields_of", "replace",
]


# --------------------------------------------------------------------- errors
class SciMLError(Exception):
    """Base class of every error sciml raises on purpose."""

    exit_code: ClassVar[int] = 1


class InvalidProblem(SciMLError, ValueError):
    """A problem field has a value outside its allowed range."""

    exit_code = 2


class InvalidOption(SciMLError, ValueError):
    """A solver option is invalid, or the solver does not accept the problem."""

    exit_code = 2


class DataError(SciMLError):
    """A data or checkpoint file is missing, corrupt or does not match."""

    exit_code = 2


class MissingDependency(SciMLError, ImportError):
    """An optional dependency (dolfinx, deepxde, ...) is not importable."""

    exit_code = 2


class SolverDiverged(SciMLError, RuntimeError):
    """Training or iteration produced NaN/inf or an exploding loss."""

    exit_code = 3

    def __init__(self, message: str, *, step: int | None = None, loss: float | None = None):
        super().__init__(message)
        self.step = step
        self.loss = loss


# ----------------------------------------------------------------- validation
def check_range(cls_or_name: Any, key: str, value: Any, *, lo: float | None = None,
                hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                error: type[SciMLError] = InvalidProblem) -> None:
    """Raise ``error`` naming ``key``, ``value`` and the allowed interval."""
    owner = cls_or_name if isinstance(cls_or_name, str) else getattr(cls_or_name, "name", type(cls_or_name).__name__)
    bad = isinstance(value, float) and not math.isfinite(value)
    if lo is not None:
        bad = bad or (value <= lo if lo_open else value < lo)
    if hi is not None:
        bad = bad or (value >= hi if hi_open else value > hi)
    if bad:
        left = "-inf" if lo is None else f"{lo:g}"
        right = "inf" if hi is None else f"{hi:g}"
        interval = ("(" if lo_open or lo is None else "[") + f"{left}, {right}" + (")" if hi_open or hi is None else "]")
        raise error(f"{owner}: {key}={value!r} is out of range; allowed: {interval}")


def check_choice(cls_or_name: Any, key: str, value: Any, choices: typing.Iterable[Any],
                 *, error: type[SciMLError] = InvalidProblem) -> None:
    """Raise ``error`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        owner = cls_or_name if isinstance(cls_or_name, str) else getattr(cls_or_name, "name", type(cls_or_name).__name__)
        raise error(f"{owner}: {key}={value!r} is not allowed; choose one of {', '.join(map(str, choices))}")


def fields_of(obj_or_cls: Any) -> dict[str, Any]:
    """Public dataclass fields (name -> resolved type) of a Problem or Solver."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)
            if f.init and not f.name.startswith("_")}


def replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` (re-validates through ``__post_init__``)."""
    return dataclasses.replace(obj, **changes)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# -------------------------------------------------------------------- Problem
@dataclass(frozen=True)
class Problem:
    """A mathematical problem.  Subclasses are frozen dataclasses.

    Class attributes a subclass sets:

    * ``name``: the registry name (``"poisson"``).
    * ``default_reference``: name of the natural reference solver.
    * ``kind``: ``"field"`` (the answer is a function, compared on
      :meth:`test_points`) or ``"value"`` (the answer is one number,
      e.g. u(T, x0), compared as ``value`` vs ``reference_value``).
    """

    name: ClassVar[str] = "problem"
    default_reference: ClassVar[str] = "exact"
    kind: ClassVar[str] = "field"

    # -- parameters
    def params(self) -> dict[str, Any]:
        """The problem's fields as plain JSON-able values."""
        return {k: _plain(getattr(self, k)) for k in fields_of(self)}

    # -- exact solution
    @property
    def has_exact(self) -> bool:
        return type(self).exact is not Problem.exact

    def exact(self, x: np.ndarray) -> np.ndarray:
        """Exact solution at points ``x`` (shape (N, d)), where one exists."""
        raise InvalidOption(f"problem {self.name!r} has no exact solution; "
                            f"use --reference {self.default_reference}")

    def exact_value(self) -> float:
        """Exact answer of a ``value`` problem, where one exists."""
        raise InvalidOption(f"problem {self.name!r} has no exact value; "
                            f"use --reference {self.default_reference}")

    def value_point(self) -> np.ndarray | None:
        """The point x0 whose value u(x0) is the problem's scalar answer, if any
        (the JSON ``value``/``reference_value`` are the solutions there)."""
        return None

    # -- comparison
    def test_points(self) -> np.ndarray:
        """Points (N, d) on which field solutions are compared."""
        raise NotImplementedError(f"{type(self).__name__} defines no test points")

    def errors(self, solution: "Solution", reference: "Solution") -> dict[str, float]:
        """Metrics of ``solution`` against ``reference`` (overridable).

        The default compares a field problem on :meth:`test_points` with
        relative L2, relative L1 and absolute max error, and a value problem
        by the relative (and absolute) error of the number.
        """
        from . import metrics
        if self.kind == "value":
            return metrics.value_errors(solution.value, reference.value)
        x = self.test_points()
        return metrics.pointwise_errors(np.asarray(solution(x)), np.asarray(reference(x)))


# --------------------------------------------------------------------- Solver
@dataclass(frozen=True)
class Solver:
    """A configured algorithm; its fields are its options.

    Class attributes: ``name`` (registry name), ``accepts`` (problem names
    it can solve, or ``("*",)``), ``learned`` (True for trained solvers).
    """

    name: ClassVar[str] = "solver"
    accepts: ClassVar[tuple[str, ...]] = ()
    learned: ClassVar[bool] = False

    def options(self) -> dict[str, Any]:
        """The solver's options as plain JSON-able values."""
        return {k: _plain(getattr(self, k)) for k in fields_of(self)}

    def check_problem(self, problem: Problem) -> None:
        """Raise :class:`InvalidOption` unless this solver accepts ``problem``."""
        if "*" in self.accepts or problem.name in self.accepts:
            return
        raise InvalidOption(f"solver {self.name!r} does not accept problem {problem.name!r}; "
                            f"it accepts: {', '.join(self.accepts) or 'none'}")

    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> "Solution":
        raise NotImplementedError


# ------------------------------------------------------------------- Solution
@dataclass
class Solution:
    """What a solver returns.

    ``fn`` evaluates the solution at points of shape (N, d) (None for a
    value-only answer); ``value`` is the number of a value problem;
    ``stats`` holds wall seconds, steps, parameter count, loss history...;
    ``state`` holds arrays enough to reload it; ``extra_errors`` is an
    optional callable ``problem -> dict`` for errors only the solver can
    compute (FEM-norm errors on its own mesh, say).
    """

    fn: Callable[[np.ndarray], np.ndarray] | None = None
    value: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    extra_errors: Callable[[Problem], Mapping[str, float]] | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.fn is None:
            raise InvalidOption("this solution has no pointwise values (it is a single number)")
        return self.fn(np.asarray(x, dtype=float))
