"""The 1D-1V BGK Sod shock tube, whose kn -> 0 limit is the gamma = 3 Euler
Riemann problem (solved exactly by :mod:`sciml.references.euler_riemann`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sciml.core import InvalidProblem, Problem, Solution, check_range, opt
from sciml.references.euler_riemann import euler_riemann_gamma3
from sciml.references.kinetic import discrete_maxwellian

from .kinetic_moments import moment_drifts

__all__ = ["BGK1D", "BGKSod", "maxwellian_state"]


def maxwellian_state(rho: np.ndarray, u: np.ndarray, p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mieussens' discrete Maxwellian on the uniform velocity grid v (nv,) whose discrete
    mass, momentum and energy are exactly rho, rho u, rho u^2/2 + p/2 (arrays (nx,);
    p = rho T); returns (nx, nv)."""
    U = np.stack([rho, rho * u, 0.5 * rho * u * u + 0.5 * p])
    return discrete_maxwellian(U, v, float(v[1] - v[0]))


class BGK1D(Problem):
    """What the ``dvm`` solver asks of a 1D-1V BGK problem: ``kn``, ``t1``, ``v_max``,
    ``n_test`` (fields of the subclasses), the interval ``domain`` = (a, b), the boundary
    kind ``walls`` ("specular" or "periodic") and :meth:`initial_f`, the initial
    distribution on the solver's grid.  Errors: density at ``n_test`` cell centres
    (``rel_max``, ``rel_l1``) and the drift of the solver's discrete moments."""

    kind = "field"
    domain = (-0.5, 0.5)
    walls = "specular"

    def capabilities(self) -> frozenset[str]:
        """A 1D-1V BGK problem."""
        return frozenset({self.name, "bgk-1d"})

    def initial_f(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """f(0, x_i, v_j) on cell centres x (nx,) and the uniform velocity grid v (nv,): (nx, nv)."""
        raise NotImplementedError

    def test_points(self) -> np.ndarray:
        a, b = self.domain
        h = (b - a) / self.n_test
        return (a + h * (np.arange(self.n_test) + 0.5))[:, None]

    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        x = self.test_points()
        rh = np.asarray(solution(x), dtype=float).reshape(-1)
        rr = np.asarray(reference(x), dtype=float).reshape(-1)
        out: dict[str, Any] = {
            "rel_max": float(np.max(np.abs(rh - rr)) / np.max(np.abs(rr))),
            "rel_l1": float(np.sum(np.abs(rh - rr)) / np.sum(np.abs(rr))),
        }
        if "moments_t0" in solution.stats and "moments_t1" in solution.stats:
            out.update(moment_drifts(solution.stats["moments_t0"], solution.stats["moments_t1"]))
        return out


@dataclass(frozen=True)
class BGKSod(BGK1D):
    """1D-1V BGK model ``f_t + v f_x = (M[f] - f) / kn`` on x in [-0.5, 0.5],
    v in [-v_max, v_max], Sod data (rho, u, p) = (1, 0, 1) | (0.125, 0, 0.1).

    One velocity dimension: ``M = rho (2πT)^(-1/2) exp(-(v-u)^2/(2T))``,
    ``p = rho T``, energy ``∫ v^2/2 f = rho u^2/2 + p/2``, so the kn -> 0
    limit is the Euler system with gamma = 3.  Walls at x = ±0.5 reflect
    specularly (mass and energy are conserved exactly; the waves of the
    Euler limit do not reach them before t1 = 0.1).

    ``exact(x)`` is the density of the exact gamma = 3 Euler Riemann solution
    at t1 (the kn -> 0 limit; a reference only for small kn).
    """

    name = "bgk-sod"
    default_reference = "exact"
    gamma: ClassVar[float] = 3.0  # fixed by one velocity dimension, not a free parameter

    kn: float = opt(1e-2, lo=0.0, hi=1e3, lo_open=True)
    t1: float = opt(0.1, lo=0.0, hi=0.2, lo_open=True)
    v_max: float = opt(10.0, lo=2.0, hi=100.0)
    n_test: int = opt(1000, lo=10, hi=10 ** 6)

    left: tuple[float, float, float] = (1.0, 0.0, 1.0)
    right: tuple[float, float, float] = (0.125, 0.0, 0.1)

    def __post_init__(self) -> None:
        for side in ("left", "right"):
            state = getattr(self, side)
            if len(state) != 3:
                raise InvalidProblem(f"{self.name}: {side}={state!r} must be (rho, u, p)")
            check_range(self, f"{side} density", state[0], lo=0.0, lo_open=True)
            check_range(self, f"{side} pressure", state[2], lo=0.0, lo_open=True)

    def initial_state(self, x: np.ndarray) -> np.ndarray:
        """(rho, u, p) of the Sod data at cell centres x, shape (3, N)."""
        x = np.asarray(x, dtype=float).reshape(-1)
        left = np.asarray(self.left, dtype=float)[:, None]
        right = np.asarray(self.right, dtype=float)[:, None]
        return np.where(x[None, :] < 0.0, left, right)

    def initial_f(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The discrete Maxwellian of the Sod data on the grid, (nx, nv)."""
        rho, u, p = self.initial_state(x)
        return maxwellian_state(rho, u, p, v)

    def euler(self, x: np.ndarray, t: float | None = None) -> np.ndarray:
        """(rho, u, p) of the gamma = 3 Euler Riemann solution, shape (3, N)."""
        return euler_riemann_gamma3(np.asarray(x, dtype=float).reshape(-1), self.t1 if t is None else t,
                                    self.left, self.right, 3.0)

    def exact(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return self.euler(x[:, 0])[0]
