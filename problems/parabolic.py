"""Semilinear parabolic problems u_t - div(A grad u) + r(u) = f on your own domain."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sciml.core import InvalidProblem, Problem

from .domains import Box, Domain, Interval, MeshFile
from .elliptic_problem import Elliptic, describe_value, as_function

__all__ = ["Parabolic", "allen_cahn_deepxde", "logistic"]


@dataclass(frozen=True)
class Parabolic(Problem):
    """u_t - div(A grad u) + r(u) = f on (0, T] x domain, u(0, .) = ``initial``.

    ``coefficient``, ``source`` f and the boundary conditions (``dirichlet``,
    ``neumann``, ``robin``, ``boundaries``) are those of :class:`Elliptic`
    and do not depend on time; ``reaction`` is r(u, xp), a function of the
    solution (Allen-Cahn: ``lambda u, xp: u**3 - u``), or a number c for the
    linear term c u.  ``exact_solution`` is u(x, t, xp) where known; the
    answer is the field u(T, .) on the test points and ``value`` is u(T, x0).
    Every implicit step solves an elliptic problem with the mass term
    u / dt, so pure Neumann conditions are allowed.
    """

    name = "parabolic"

    def capabilities(self) -> frozenset[str]:
        """A parabolic PDE on its own domain."""
        return frozenset({self.name, "pde-on-domain"})
    kind = "field"

    domain: Domain = Interval(0.0, 1.0)
    T: float = 1.0
    coefficient: Any = 1.0
    reaction: Any = 0.0
    source: Any = 0.0
    initial: Any = 0.0
    dirichlet: Any = None
    neumann: Any = None
    robin: Any = None
    boundaries: Any = None
    exact_solution: Any = None
    x0: Any = None
    n_test: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.T, (int, float)) and not isinstance(self.T, bool) and math.isfinite(self.T)
                and self.T > 0):
            raise InvalidProblem(f"parabolic: T={self.T!r} is not allowed; the horizon must be a number > 0")
        object.__setattr__(self, "T", float(self.T))
        if not (callable(self.reaction) or isinstance(self.reaction, (int, float))):
            raise InvalidProblem(f"parabolic: reaction={self.reaction!r}; give r(u, xp) or a number")
        spatial = self.spatial()  # validates domain, coefficient, source, conditions, x0
        x = spatial.domain.test_points()[:: 97].T if not isinstance(self.domain, MeshFile) else None
        if x is not None:
            spatial.scalar(self.initial, "initial", x)
            if callable(self.reaction):
                try:
                    v = np.asarray(self.reaction(np.linspace(-2, 2, 5), np), dtype=float)
                except Exception as exc:  # noqa: BLE001 - a user's function; say which one failed
                    raise InvalidProblem(f"parabolic: reaction(u, xp) failed on values of u: {exc}") from None
                if v.shape not in ((5,), ()) or not np.all(np.isfinite(v)):
                    raise InvalidProblem("parabolic: reaction(u, xp) must return finite values of u's shape")
            if self.exact_solution is not None:
                for t in (0.0, self.T):
                    spatial.scalar(lambda y, xp, t=t: self.exact_solution(y, t, xp), "exact_solution", x)

    def spatial(self) -> Elliptic:
        """The spatial operator as an Elliptic problem (its ``reaction`` 1 stands
        for the mass term of an implicit step; r(u) is handled by the time stepper)."""
        return Elliptic(domain=self.domain, coefficient=self.coefficient, reaction=1.0, source=self.source,
                        dirichlet=self.dirichlet, neumann=self.neumann, robin=self.robin,
                        boundaries=self.boundaries, x0=self.x0, n_test=self.n_test)

    @property
    def d(self) -> int:
        return self.domain.d

    def reaction_fn(self) -> Any:
        """r(u, xp) (a number c stands for c u)."""
        if callable(self.reaction):
            return self.reaction
        c = float(self.reaction)
        return lambda u, xp: c * u

    # "exact" when exact_solution is given, else "fem": the same rule as the stationary problem
    default_reference = Elliptic.default_reference
    has_exact = Elliptic.has_exact

    def exact(self, x: np.ndarray) -> np.ndarray:
        from sciml.core import InvalidOption
        if self.exact_solution is None:
            raise InvalidOption("problem 'parabolic' has no exact solution; use --reference fem")
        x = np.atleast_2d(np.asarray(x, dtype=float))[:, : self.d]
        v = np.asarray(self.exact_solution(x.T, self.T, np), dtype=float)
        return np.broadcast_to(v, x.shape[:1]).copy()

    def exact_expr(self, x: Any, xp: Any = np) -> Any:
        """u(x, T) (the FEM's error norms at the final time)."""
        return self.exact_solution(x, self.T, xp)

    def initial_fn(self) -> Any:
        return as_function(self.initial)

    def value_point(self) -> np.ndarray | None:
        return None if self.x0 is None else np.asarray(self.x0, dtype=float)

    def test_points(self) -> np.ndarray:
        return self.spatial().test_points()

    def params(self) -> dict[str, Any]:
        from sciml.core import fields_of
        return {k: describe_value(getattr(self, k)) for k in fields_of(self)}


def allen_cahn_deepxde() -> Parabolic:
    """DeepXDE's Allen-Cahn example: u_t = 0.001 u_xx + 5 (u - u^3) on [-1, 1] x (0, 1],
    u(0, x) = x^2 cos(pi x), u(t, -1) = u(t, 1) = -1."""
    return Parabolic(domain=Interval(-1.0, 1.0), T=1.0, coefficient=0.001,
                     reaction=lambda u, xp: 5.0 * (u ** 3 - u),
                     initial=lambda x, xp: x[0] ** 2 * xp.cos(xp.pi * x[0]), dirichlet=-1.0, x0=(0.0,))


def logistic(u0: float = 0.2, T: float = 1.0) -> Parabolic:
    """u_t = u - u^3 with u(0) = u0 constant and zero flux: u stays constant in x and
    u(t) = u0 e^t / sqrt(1 + u0^2 (e^(2t) - 1)) (the Allen-Cahn reaction alone)."""
    def exact(x: Any, t: float, xp: Any) -> Any:
        return u0 * math.exp(t) / math.sqrt(1 + u0 ** 2 * (math.exp(2 * t) - 1)) + 0 * x[0]
    return Parabolic(domain=Box((0.0,), (1.0,)), T=T, reaction=lambda u, xp: u ** 3 - u, initial=u0,
                     neumann=0.0, exact_solution=exact, x0=(0.5,))
