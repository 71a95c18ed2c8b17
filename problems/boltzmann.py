"""Kinetic problems: the space-homogeneous Boltzmann equation (Maxwell
molecules).  The 1D-1V BGK Sod shock tube is :mod:`problems.bgk`, the M_N
entropy closure :mod:`problems.moment_closure`; their names are importable
from here too.

Conventions
-----------
* Collision operator (Maxwell molecules, constant kernel B):
  ``Q(f, f)(v) = ∫_{R^d} ∫_{S^{d-1}} B [f(v') f(v'_*) - f(v) f(v_*)] dω dv_*``
  with ``v' = (v + v_*)/2 + |v - v_*| ω / 2``, ``v'_* = (v + v_*)/2 - |v - v_*| ω / 2``,
  ``B = 1/(4π)`` in dim 3 and ``B = 1/(2π)`` in dim 2 (so ``B |S^{d-1}| = 1``).
* Moments: mass ``∫ f``, momentum ``∫ v f``, energy ``∫ |v|^2 f`` (no 1/2).
* BKW solution (Bobylev 1975; Krook and Wu 1977), as in Pareschi and Russo,
  SIAM J. Numer. Anal. 37 (2000) 1217-1245, section 5:

  - dim 3: ``f = (2πK)^(-3/2) exp(-|v|^2/(2K)) [(5K-3)/(2K) + (1-K)|v|^2/(2K^2)]``,
    ``K = 1 - exp(-t/6)``; non-negative only for ``t >= 6 ln(5/2)``;
  - dim 2: ``f = 1/(2πK^2) exp(-|v|^2/(2K)) [2K - 1 + (1-K)|v|^2/(2K)]``,
    ``K = 1 - exp(-t/8)/2``.

  Mass 1, energy d, fourth moment ``∫|v|^4 f = d(d+2) K (2-K)``; the tests
  verify these and ``Q(f_BKW) = K'(t) ∂f/∂K`` by independent quadrature.

Errors (:meth:`KineticProblem.errors`): ``rel_max`` = max over the test points
of |f_h - f| / max |f| at t1; ``mass``, ``momentum``, ``energy`` = relative
drift of the solver's discrete moments from t0 to t1 (momentum drift is
divided by sqrt(mass * energy), the thermal momentum scale, because the
momentum itself is often zero).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from sciml.core import InvalidProblem, Problem, Solution, check_range, opt
# the BGK and moment-closure problems, and the algorithms and moments they share, live in
# their own modules; their names stay importable from here
from sciml.references.entropy_closure import (ansatz_moments, closure_quadrature, monomials, newton_closure,
                                              realisable, sample_closure_moments)
from sciml.references.euler_riemann import euler_riemann_gamma3

from .bgk import BGKSod
from .bgk_user import BGK
from .kinetic_moments import maxwellian, moment_drifts
from .moment_closure import MomentClosure

__all__ = ["BoltzmannBKW", "BoltzmannBimodal", "Boltzmann", "three_gaussians", "BGKSod", "BGK", "bkw_K", "bkw_f", "bkw_dK_dt",
           "maxwellian", "moment_drifts", "euler_riemann_gamma3", "MomentClosure", "newton_closure",
           "ansatz_moments", "realisable", "sample_closure_moments", "monomials", "closure_quadrature"]

#: first time at which the 3D BKW solution is non-negative: 6 ln(5/2)
BKW3_T_MIN = 6.0 * math.log(2.5)


# ------------------------------------------------------------------ BKW formulas
def bkw_K(t: float, dim: int) -> float:
    """The BKW similarity variable K(t)."""
    return 1.0 - math.exp(-t / 6.0) if dim == 3 else 1.0 - 0.5 * math.exp(-t / 8.0)


def bkw_dK_dt(t: float, dim: int) -> float:
    """dK/dt, in closed form."""
    return math.exp(-t / 6.0) / 6.0 if dim == 3 else math.exp(-t / 8.0) / 16.0


def bkw_f(v: np.ndarray, K: float, dim: int) -> np.ndarray:
    """The BKW density at velocity points ``v`` (N, dim) for a given K."""
    v2 = np.sum(np.asarray(v, dtype=float) ** 2, axis=-1)
    if dim == 3:
        return ((2.0 * math.pi * K) ** -1.5 * np.exp(-v2 / (2.0 * K))
                * ((5.0 * K - 3.0) / (2.0 * K) + (1.0 - K) * v2 / (2.0 * K * K)))
    return (1.0 / (2.0 * math.pi * K * K) * np.exp(-v2 / (2.0 * K))
            * (2.0 * K - 1.0 + (1.0 - K) * v2 / (2.0 * K)))



# ------------------------------------------------------------ homogeneous base
@dataclass(frozen=True)
class KineticProblem(Problem):
    """Base of the space-homogeneous problems: ``df/dt = Q(f, f)``, v in R^dim."""

    kind = "field"
    dim: int = opt(2, choices=(2, 3))
    t0: float = opt(0.0, lo=0.0)
    t1: float = 1.0
    n_test: int = opt(0, lo=0, hi=201)  # test points per side on [-v_test, v_test]^dim; 0: 41 (dim 2), 21 (dim 3)


    def capabilities(self) -> frozenset[str]:
        """Every homogeneous Boltzmann problem: an initial density on a velocity box."""
        return frozenset({self.name, "boltzmann-homogeneous"})

    def _check_common(self) -> None:
        """The check relating two fields (the others are declared on the fields): t1 > t0
        (named like the other families' helper, so that --help shows it)."""
        check_range(self, "t1", self.t1, lo=self.t0, lo_open=True)

    @property
    def collision_B(self) -> float:
        """The constant Maxwell-molecule kernel B (B |S^{d-1}| = 1)."""
        return 1.0 / (4.0 * math.pi) if self.dim == 3 else 1.0 / (2.0 * math.pi)

    def initial(self, v: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def support_radius(self) -> float:
        """Radius S beyond which f (at all times) is below ~1e-12 of its peak."""
        raise NotImplementedError  # pragma: no cover

    v_test: float = opt(0.0, lo=0.0)  # 0: automatic (support radius * 0.75)

    def test_points(self) -> np.ndarray:
        m = self.n_test or (41 if self.dim == 2 else 21)
        a = self.v_test or 0.75 * self.support_radius()
        axis = np.linspace(-a, a, m)
        mesh = np.meshgrid(*([axis] * self.dim), indexing="ij")
        return np.stack([g.reshape(-1) for g in mesh], axis=1)

    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        x = self.test_points()
        fh = np.asarray(solution(x), dtype=float).reshape(-1)
        fr = np.asarray(reference(x), dtype=float).reshape(-1)
        out = {"rel_max": float(np.max(np.abs(fh - fr)) / np.max(np.abs(fr)))}
        if "moments_t0" in solution.stats and "moments_t1" in solution.stats:
            out.update(moment_drifts(solution.stats["moments_t0"], solution.stats["moments_t1"]))
        return out


@dataclass(frozen=True)
class BoltzmannBKW(KineticProblem):
    """Maxwell molecules from the BKW solution at t0; the exact reference is BKW at t1."""

    name = "boltzmann-bkw"
    default_reference = "exact"

    def __post_init__(self) -> None:
        self._check_common()
        if self.dim == 3 and self.t0 < BKW3_T_MIN:
            raise InvalidProblem(f"{self.name}: t0={self.t0!r} is out of range for dim=3; the BKW "
                                 f"solution is non-negative only for t >= 6 ln(5/2) = {BKW3_T_MIN:.6f}")

    def K(self, t: float) -> float:
        return bkw_K(t, self.dim)

    def density(self, v: np.ndarray, t: float) -> np.ndarray:
        """f_BKW(t, v) at points v (N, dim)."""
        v = self._points(v)
        return bkw_f(v, self.K(t), self.dim)

    def initial(self, v: np.ndarray) -> np.ndarray:
        return self.density(v, self.t0)

    def exact(self, x: np.ndarray) -> np.ndarray:
        """f_BKW(t1, v) at velocity points x (N, dim)."""
        return self.density(x, self.t1)

    def moments_exact(self, t: float) -> dict[str, float]:
        K = self.K(t)
        d = self.dim
        return {"mass": 1.0, "energy": float(d), "fourth": d * (d + 2) * K * (2.0 - K)}

    def support_radius(self) -> float:
        # f ~ exp(-|v|^2/(2K)) |v|^2 with K <= 1: below 1e-12 relative at ~8 sqrt(K_max)
        return 8.0 * math.sqrt(self.K(self.t1))

    def box_half_width(self) -> float:
        """Default L of the periodised velocity box [-L, L]^dim: the trade-off
        between aliasing/truncation (L too small) and resolution (L too large),
        measured on Q(f_BKW) at n = 32 and 64 (docs/boltzmann.md)."""
        return 8.0 if self.dim == 2 else 7.0

    def _points(self, v: np.ndarray) -> np.ndarray:
        v = np.atleast_2d(np.asarray(v, dtype=float))
        if v.shape[-1] != self.dim:
            raise InvalidProblem(f"{self.name}: velocity points have {v.shape[-1]} components, dim={self.dim}")
        return v


@dataclass(frozen=True)
class BoltzmannBimodal(KineticProblem):
    """Maxwell molecules from two Maxwellians (no closed form).

    ``f0 = w M(v; -a e1, T) + (1 - w) M(v; a e1, T)`` with unit total mass; it
    relaxes to the Maxwellian with the same mass, momentum and energy
    (:meth:`equilibrium`).  The reference is ``spectral`` (pass ``-r n=...``).
    """

    name = "boltzmann-bimodal"
    default_reference = "spectral"

    separation: float = opt(1.5, lo=0.0, hi=4.0)    # a: the bumps sit at -a e1 and +a e1
    temperature: float = opt(0.5, lo=0.05, hi=4.0)  # T of each bump
    weight: float = opt(0.5, lo=0.0, hi=1.0)        # w: mass of the left bump

    def __post_init__(self) -> None:
        self._check_common()

    def _centres(self) -> tuple[np.ndarray, np.ndarray]:
        e1 = np.zeros(self.dim)
        e1[0] = self.separation
        return -e1, e1

    def initial(self, v: np.ndarray) -> np.ndarray:
        v = np.atleast_2d(np.asarray(v, dtype=float))
        c1, c2 = self._centres()
        w = self.weight
        return w * maxwellian(v, 1.0, c1, self.temperature) + (1 - w) * maxwellian(v, 1.0, c2, self.temperature)

    def conserved(self) -> np.ndarray:
        """(mass, momentum_1..d, energy) of f0, exactly."""
        c1, c2 = self._centres()
        w = self.weight
        mom = w * c1 + (1 - w) * c2
        energy = self.dim * self.temperature + w * c1 @ c1 + (1 - w) * c2 @ c2
        return np.concatenate([[1.0], mom, [energy]])

    def equilibrium(self, v: np.ndarray) -> np.ndarray:
        """The Maxwellian with the moments of f0 (the t -> inf limit)."""
        m = self.conserved()
        u = m[1:-1]
        T = (m[-1] - u @ u) / self.dim
        return maxwellian(np.atleast_2d(v), 1.0, u, T)

    def support_radius(self) -> float:
        return self.separation + 8.0 * math.sqrt(max(self.temperature, self.conserved()[-1] / self.dim))

    def box_half_width(self) -> float:
        """Default L: the BKW choice scaled by the equilibrium thermal speed and shifted by the bumps."""
        T_eq = (self.conserved()[-1] - self.conserved()[1:-1] @ self.conserved()[1:-1]) / self.dim
        return 0.5 * self.separation + (8.0 if self.dim == 2 else 7.0) * math.sqrt(max(T_eq, self.temperature))


# ------------------------------------------------------- your own initial data
def three_gaussians(v: Any, xp: Any) -> Any:
    """The default initial density of ``boltzmann``: three anisotropic-looking Gaussian bumps
    (weights 0.5, 0.3, 0.2; centres (-1, 0), (1, 0.5), (0.5, -1.5); temperatures 0.4, 0.6, 0.3),
    component-first v (dim, ...), in dim 2 or 3 (the centres' further components are 0)."""
    d = v.shape[0]
    out = 0.0
    for w, c, T in _THREE_GAUSSIANS:
        r2 = sum((v[i] - (c[i] if i < 2 else 0.0)) ** 2 for i in range(d))
        out = out + w * (2.0 * math.pi * T) ** (-d / 2) * xp.exp(-r2 / (2.0 * T))
    return out


_THREE_GAUSSIANS = ((0.5, (-1.0, 0.0), 0.4), (0.3, (1.0, 0.5), 0.6), (0.2, (0.5, -1.5), 0.3))


@dataclass(frozen=True)
class Boltzmann(KineticProblem):
    """Maxwell molecules from a user's initial density ``f0(v, xp)`` (component-first v, shape (dim, ...)).

    f0 must be finite, non-negative, of positive mass and negligible (below
    ``edge_tol`` times its maximum) on the boundary of the velocity box
    [-L, L]^dim that the solvers periodise (``L = 0``: 8 in dim 2, 7 in dim 3,
    as for BKW).  It is checked on a ``n_check``^dim grid of the box when the
    problem is made.  :meth:`conserved` gives its mass, momentum and energy
    (trapezoidal rule on that grid: spectrally accurate for a smooth density
    that vanishes at the box edge) and :meth:`equilibrium` the Maxwellian
    with those moments, the t -> inf limit.  The reference is ``spectral``.
    """

    name = "boltzmann"
    default_reference = "spectral"

    f0: Callable[[Any, Any], Any] = three_gaussians
    L: float = opt(0.0, lo=0.0, hi=100.0)
    edge_tol: float = opt(1e-8, lo=0.0, hi=1.0, lo_open=True)
    n_check: int = opt(0, lo=0, hi=512)  # 0: 128 (dim 2), 48 (dim 3)

    def __post_init__(self) -> None:
        self._check_common()
        if not callable(self.f0):
            raise InvalidProblem(f"{self.name}: f0={self.f0!r} is not a function; expected f0(v, xp) "
                                 "with component-first v of shape (dim, ...)")
        object.__setattr__(self, "_moments", self._check_f0())

    def params(self) -> dict[str, Any]:
        out = super().params()
        out["f0"] = f"{getattr(self.f0, '__module__', '?')}.{getattr(self.f0, '__qualname__', repr(self.f0))}"
        return out

    def box_half_width(self) -> float:
        return self.L or (8.0 if self.dim == 2 else 7.0)

    def support_radius(self) -> float:
        return self.box_half_width()

    def initial(self, v: np.ndarray) -> np.ndarray:
        """f0 at points v (N, dim) (the solvers' layout), as float64 (N,)."""
        v = np.atleast_2d(np.asarray(v, dtype=float))
        if v.shape[-1] != self.dim:
            raise InvalidProblem(f"{self.name}: velocity points have {v.shape[-1]} components, dim={self.dim}")
        try:
            val = self.f0(np.ascontiguousarray(v.T), np)
        except Exception as exc:  # a user's function: say which one failed, and how
            raise InvalidProblem(f"{self.name}: f0(v, xp) raised {type(exc).__name__}: {exc} "
                                 f"(called with v of shape {v.T.shape} and xp=numpy)") from None
        val = np.broadcast_to(np.asarray(val, dtype=float), (len(v),)) if np.ndim(val) == 0 else np.asarray(val, float)
        if val.shape != (len(v),):
            raise InvalidProblem(f"{self.name}: f0 returned shape {val.shape} for v of shape {v.T.shape}; "
                                 f"expected {(len(v),)}")
        return val

    def _check_f0(self) -> np.ndarray:
        """Evaluate f0 on the check grid: finite, >= 0, positive mass, negligible at the box edge."""
        L, d = self.box_half_width(), self.dim
        m = self.n_check or (128 if d == 2 else 48)
        h = 2.0 * L / m
        axis = -L + h * np.arange(m)  # the periodic grid of the solvers: -L included, L identified with it
        pts = np.stack([g.reshape(-1) for g in np.meshgrid(*([axis] * d), indexing="ij")], axis=1)
        with np.errstate(all="ignore"):  # inf/NaN are reported below, with the velocity
            f = self.initial(pts)
        if not np.all(np.isfinite(f)):
            bad = pts[~np.isfinite(f)][0]
            raise InvalidProblem(f"{self.name}: f0 is not finite at v = {bad.tolist()}; expected a density "
                                 f"integrable on the box [-{L:g}, {L:g}]^{d}")
        top = float(f.max())
        if top <= 0:
            raise InvalidProblem(f"{self.name}: f0 has no positive values on the box [-{L:g}, {L:g}]^{d} "
                                 "(zero mass); expected a non-negative density of positive mass")
        if f.min() < -1e-12 * top:
            at = pts[np.argmin(f)]
            raise InvalidProblem(f"{self.name}: f0 is negative ({f.min():.3g} at v = {at.tolist()}); "
                                 "a density must be non-negative")
        edge = np.any(np.abs(pts) >= L - 1e-12 * L, axis=1)
        if f[edge].max() > self.edge_tol * top:
            raise InvalidProblem(f"{self.name}: f0 is not negligible on the edge of the box [-{L:g}, {L:g}]^{d} "
                                 f"(max there {f[edge].max():.3g} = {f[edge].max() / top:.2g} of its maximum, "
                                 f"edge_tol={self.edge_tol:g}); raise L or use a density that decays")
        w = h ** d
        return np.concatenate([[w * f.sum()], w * (pts * f[:, None]).sum(0), [w * (np.sum(pts ** 2, 1) * f).sum()]])

    def conserved(self) -> np.ndarray:
        """(mass, momentum_1..d, energy) of f0 by the trapezoidal rule on the check grid."""
        return np.array(self._moments)

    def equilibrium(self, v: np.ndarray) -> np.ndarray:
        """The Maxwellian with the mass, momentum and energy of f0 at points v (N, dim)."""
        m = self.conserved()
        rho, u = m[0], m[1:-1] / m[0]
        T = (m[-1] / rho - u @ u) / self.dim
        return maxwellian(np.atleast_2d(v), rho, u, T)
