"""Elliptic problems: -div(A grad u) + c u = f on your own domain, and the
``poisson`` preset (manufactured solutions on the unit square/cube)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sciml.core import Problem, check_range, opt

from .domains import Box, Disk, Domain, Interval, MeshFile, Polygon
from .elliptic_problem import Elliptic, lshape_corner, torsion

__all__ = ["Poisson", "Elliptic", "Domain", "Interval", "Box", "Disk", "Polygon", "MeshFile",
           "torsion", "lshape_corner"]


@dataclass(frozen=True)
class Poisson(Problem):
    """-Δu = f on the unit interval, square or cube (0, 1)^d, u = g on the boundary.

    The data f and g come from a manufactured exact solution:

    * ``sine``: u(x) = prod_i sin(k π x_i), so f = d k² π² u and g = 0 for
      integer k;
    * ``peak``: u(x) = exp(-alpha |x - c|²) with c = (0.5, ..., 0.5), so
      f = (2 alpha d - 4 alpha² |x - c|²) u and g = u on the boundary.

    Test points: a uniform grid with ``n_test`` points per side (boundary
    included), or a scrambled Sobol set of ``n_test ** d`` points.
    """

    name = "poisson"

    def capabilities(self) -> frozenset[str]:
        """The preset Poisson problem: a PDE on the unit box."""
        return frozenset({self.name, "pde-on-domain"})
    default_reference = "exact"
    kind = "field"

    d: int = opt(2, lo=1, hi=3)
    solution: Literal["sine", "peak"] = "sine"
    k: float = opt(1.0, lo=0, lo_open=True)
    alpha: float = opt(10.0, lo=0, lo_open=True)
    test_points_kind: Literal["grid", "sobol"] = "grid"
    n_test: int = opt(0, lo=0)  # 0: 1001 (d=1), 101 (d=2), 21 (d=3) points per side

    def __post_init__(self) -> None:
        if self.solution == "sine" and self.k != int(self.k):
            # non-integer k would make g nonzero; we keep g = 0 and say so
            check_range(self, "k (integer for solution=sine)", self.k, lo=math.ceil(self.k), hi=math.floor(self.k))

    # ---- the mathematics, written once for NumPy, UFL and torch (``xp``)
    def exact_expr(self, x: Any, xp: Any = np) -> Any:
        """u(x) with x indexable by coordinate (x[i]); xp supplies sin, exp, pi."""
        if self.solution == "sine":
            u = 1.0
            for i in range(self.d):
                u = u * xp.sin(self.k * xp.pi * x[i])
            return u
        r2 = sum((x[i] - 0.5) ** 2 for i in range(self.d))
        return xp.exp(-self.alpha * r2)

    def source_expr(self, x: Any, xp: Any = np) -> Any:
        """f = -Δu, in closed form."""
        u = self.exact_expr(x, xp)
        if self.solution == "sine":
            return self.d * (self.k * math.pi) ** 2 * u
        r2 = sum((x[i] - 0.5) ** 2 for i in range(self.d))
        return (2.0 * self.alpha * self.d - 4.0 * self.alpha ** 2 * r2) * u

    def grad_expr(self, x: Any, xp: Any = np) -> list[Any]:
        """∇u, component by component."""
        if self.solution == "sine":
            out = []
            for j in range(self.d):
                g = self.k * xp.pi * xp.cos(self.k * xp.pi * x[j])
                for i in range(self.d):
                    if i != j:
                        g = g * xp.sin(self.k * xp.pi * x[i])
                out.append(g)
            return out
        u = self.exact_expr(x, xp)
        return [-2.0 * self.alpha * (x[i] - 0.5) * u for i in range(self.d)]

    def length_scale(self) -> float:
        """The smallest length on which the exact solution varies (1/k for
        sine, the peak's width 1/sqrt(alpha)): a quadrature or grid must
        resolve it for its errors to mean anything."""
        return 1.0 / (self.k * math.pi) if self.solution == "sine" else 1.0 / math.sqrt(self.alpha)

    # ---- the Problem interface
    def exact(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.shape[1] != self.d:
            x = x[:, : self.d]
        return np.asarray(self.exact_expr(x.T), dtype=float) * np.ones(x.shape[0])

    def source(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return np.asarray(self.source_expr(x.T), dtype=float) * np.ones(x.shape[0])

    def test_points(self) -> np.ndarray:
        m = self.n_test or {1: 1001, 2: 101, 3: 21}[self.d]
        if self.test_points_kind == "grid":
            axes = [np.linspace(0.0, 1.0, m)] * self.d
            mesh = np.meshgrid(*axes, indexing="ij")
            return np.stack([g.reshape(-1) for g in mesh], axis=1)
        from scipy.stats import qmc
        return qmc.Sobol(self.d, scramble=True, seed=12345).random(m ** self.d)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.d), np.ones(self.d)

    def elliptic(self) -> Elliptic:
        """The same problem as an :class:`Elliptic` (what the FEM solves)."""
        return Elliptic(domain=Box((0.0,) * self.d, (1.0,) * self.d), source=self.source_expr,
                        dirichlet=self.exact_expr, exact_solution=self.exact_expr)
