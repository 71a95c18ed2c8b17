"""Core nouns of sciml: Problem, Solver, Solution (the error classes, defined in
:mod:`sciml.errors`, are re-exported here).

A :class:`Problem` is a frozen dataclass holding the mathematics (domain,
coefficients, data, exact solution where one exists).  A :class:`Solver` is a
frozen dataclass whose fields are its options; ``solve`` returns a
:class:`Solution`.  Neither knows about the CLI, HDF5 or plotting.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

# the error classes live in sciml.errors (which imports nothing from the project);
# they are re-exported here, where they have always been imported from
from .errors import (DataError, InvalidOption, InvalidProblem, MissingDependency, SciMLError,
                     SolverDiverged)
# options are declared on the fields (sciml.options); the checks are re-exported here
from .options import (check_choice, check_range, coerce_value, fields_of, literal_choice, opt,
                      validate_declared)

__all__ = [
    "SciMLError", "InvalidProblem", "InvalidOption", "SolverDiverged",
    "MissingDependency", "DataError",
    "Problem", "Solver", "Solution", "check_range", "check_choice",
    "fields_of", "replace", "coerce_value", "literal_choice", "problem_identity", "opt",
]


def replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` (re-validates through ``__post_init__``)."""
    return dataclasses.replace(obj, **changes)


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if callable(value):   # a user's function: recorded by its qualified name
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    return value


# --------------------------------------------------------------- capabilities
#: Capability name -> what it means (the phrase used when it is missing).
CAPABILITIES: dict[str, str] = {
    "kolmogorov": "a linear Kolmogorov problem (du/dt = 1/2 Tr(σσᵀ Hess u) + <drift, ∇u>, u(0) = phi)",
    "sde-affine": "an SDE with an exact sampler (constant or affine-diagonal drift and diffusion)",
    "semilinear": "a semilinear problem (du/dt + 1/2 Tr(σσᵀ Hess u) + <drift, ∇u> + f = 0, u(T) = g)",
    "brownian": "the forward process X = xi + σ W with a constant diffusion σ and no drift",
    "f-without-gradient": "a nonlinearity f(t, x, u) that does not depend on the gradient z",
    "numba": "f and g that Numba can compile (plain xp functions over arrays)",
    "radial": "radial data: g depending on |x|^2 only, f on u only (declare radial=True)",
    "hjb": "an HJB-type nonlinearity f = -lam |∇u|^2 with the Laplacian (declare hjb=lam)",
    "control": "a control form of the problem (an HJB-type nonlinearity)",
    "ct": "a CT problem (a sinogram and its scan geometry)",
    "ct-phantoms": "random phantoms to train on (the ct problem's phantom generator)",
    "boltzmann-homogeneous": "a space-homogeneous Boltzmann problem (an initial density on a velocity box)",
    "bgk-1d": "a 1D-1V BGK problem",
    "moment-closure": "an entropy moment-closure problem",
    "pde-on-domain": "an elliptic or parabolic PDE on a domain (Poisson, Elliptic, Parabolic)",
    "operator-pairs": "input/output function pairs (a data set of (a, u))",
    "darcy-coefficients": "Darcy coefficient fields to solve with FEM",
    "elliptic-inverse": "a coefficient-recovery problem (an elliptic forward problem and point data of u)",
}


def _validating(post_init: Callable[[Any], None], error: type[SciMLError]) -> Callable[[Any], None]:
    """Wrap a subclass's ``__post_init__`` so that the declared options are
    checked (:func:`sciml.options.validate_declared`) before its own checks."""
    if getattr(post_init, "_validates", False):
        return post_init

    @functools.wraps(post_init)
    def wrapper(self: Any) -> None:
        validate_declared(self, error)
        post_init(self)
    wrapper._validates = True  # type: ignore[attr-defined]
    return wrapper


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

    def __post_init__(self) -> None:
        """Check the declared fields (types, :func:`~sciml.options.opt` ranges, choices)."""
        validate_declared(self, InvalidProblem)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__post_init__" in cls.__dict__:
            cls.__post_init__ = _validating(cls.__dict__["__post_init__"], InvalidProblem)  # type: ignore[method-assign]

    # -- what a solver may ask of it
    def capabilities(self) -> frozenset[str]:
        """What this problem provides, as capability names (see :data:`CAPABILITIES`).

        Solvers declare what they need (``Solver.requires``) and accept any
        problem providing it; the default is the registry name only, so a
        problem that says nothing is taken by name-based solvers alone.
        """
        return frozenset({self.name})

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

    def exact_at(self, x: np.ndarray) -> np.ndarray:
        """The exact solution at points ``x`` (N, d): the ``exact`` reference calls this
        (problems whose ``exact`` is a user's field override it)."""
        return self.exact(x)

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
    #: capabilities the problem must provide (names of :data:`CAPABILITIES`);
    #: when set, ``accepts`` is not consulted
    requires: ClassVar[tuple[str, ...]] = ()
    learned: ClassVar[bool] = False

    def __post_init__(self) -> None:
        """Check the declared options (types, :func:`~sciml.options.opt` ranges, choices)."""
        validate_declared(self, InvalidOption)

    def options(self) -> dict[str, Any]:
        """The solver's options as plain JSON-able values."""
        return {k: _plain(getattr(self, k)) for k in fields_of(self)}

    @classmethod
    def missing(cls, problem: Problem) -> str | None:
        """Why this solver cannot take ``problem`` (one phrase), or None if it can.

        Capability-based solvers list what is missing; the others accept
        by registry name.  Subclasses may add finer checks (call super)."""
        if cls.requires:
            have = problem.capabilities()
            lacking = [c for c in cls.requires if c not in have]
            if not lacking:
                return None
            return "it needs " + "; ".join(CAPABILITIES.get(c, c) for c in lacking)
        if "*" in cls.accepts or problem.name in cls.accepts:
            return None
        return f"it accepts: {', '.join(cls.accepts) or 'none'}"

    def check_problem(self, problem: Problem) -> None:
        """Raise :class:`InvalidOption` (one line) unless this solver can take ``problem``."""
        why = self.missing(problem)
        if why is not None:
            raise InvalidOption(f"solver {self.name!r} cannot solve problem {problem.name!r}: {why}")

    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> "Solution":
        """Solve ``problem``: the one template every solver shares.

        Refuses a problem this solver cannot take (one line, :meth:`check_problem`),
        runs :meth:`_solve` with the thread count of the solver's ``threads``
        option (torch and Numba, restored afterwards: :func:`sciml.threads.limit_threads`),
        and stamps the Solution with the problem's identity.  A solver
        implements ``_solve``; ``seed`` makes a run reproducible, ``device`` is
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, ``progress`` shows a progress bar."""
        from .threads import limit_threads
        self.check_problem(problem)
        with limit_threads(getattr(self, "threads", None), torch=self.learned or None):
            sol = self._solve(problem, seed=seed, device=device, progress=progress)
        if isinstance(sol, Solution) and sol.problem_id is None:
            sol.problem_id = problem_identity(problem)
        return sol

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> "Solution":
        """The algorithm (called by :meth:`solve` once the problem is checked)."""
        raise NotImplementedError(f"solver {self.name!r} implements neither solve nor _solve")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__post_init__" in cls.__dict__:
            cls.__post_init__ = _validating(cls.__dict__["__post_init__"], InvalidOption)  # type: ignore[method-assign]
        # a solver that still overrides the template's solve gets its Solution stamped too
        if "solve" in cls.__dict__ and not getattr(cls.__dict__["solve"], "_stamps_problem", False):
            cls.solve = _stamping(cls.__dict__["solve"])


def _stamping(solve: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a ``solve`` so that the Solution records the problem it solves."""
    @functools.wraps(solve)
    def wrapper(self: Solver, problem: Problem, *args: Any, **kwargs: Any) -> Any:
        sol = solve(self, problem, *args, **kwargs)
        if isinstance(sol, Solution) and sol.problem_id is None and isinstance(problem, Problem):
            sol.problem_id = problem_identity(problem)
        return sol
    wrapper._stamps_problem = True  # type: ignore[attr-defined]
    return wrapper


def problem_identity(problem: Problem) -> dict[str, Any]:
    """A problem's identity: its registry name and its parameters."""
    return {"name": problem.name, "params": problem.params()}


def _same_identity(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    import json
    key = lambda i: json.dumps(dict(i), sort_keys=True, default=repr)  # noqa: E731
    return key(a) == key(b)


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
    #: the identity (name + params) of the problem solved; set by ``Solver.solve``
    problem_id: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.extra_errors is not None and not isinstance(self.extra_errors, _CheckedExtraErrors):
            self.extra_errors = _CheckedExtraErrors(self, self.extra_errors)

    def check_problem(self, problem: Problem) -> None:
        """Raise :class:`InvalidOption` if this Solution was computed for another problem."""
        if self.problem_id is not None and not _same_identity(self.problem_id, problem_identity(problem)):
            mine = self.problem_id
            raise InvalidOption(f"this solution is of problem {mine.get('name')!r} {mine.get('params')}, "
                                f"not of {problem.name!r} {problem.params()}; solve that problem instead")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.fn is None:
            raise InvalidOption("this solution has no pointwise values (it is a single number)")
        return self.fn(np.asarray(x, dtype=float))


class _CheckedExtraErrors:
    """``Solution.extra_errors`` refusing a problem the solution was not computed for."""

    def __init__(self, solution: Solution, fn: Callable[[Problem], Mapping[str, float]]) -> None:
        self._solution, self._fn = solution, fn

    def __call__(self, problem: Problem) -> Mapping[str, float]:
        self._solution.check_problem(problem)
        return self._fn(problem)
