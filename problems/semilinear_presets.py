"""The semilinear problems of the catalogue with published values: Allen-Cahn,
sine-Gordon, Hamilton-Jacobi-Bellman and the default-risk model (conventions in
:mod:`problems.semilinear`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sciml.core import InvalidOption, check_range, opt

from .semilinear_base import BECKER, PNAS, SemilinearProblem

__all__ = ["AllenCahn", "SineGordon", "HJB", "DefaultRisk"]


def _g_ac(r: Any) -> Any:
    return 1.0 / (2.0 + 0.4 * r)


@dataclass(frozen=True)
class AllenCahn(SemilinearProblem):
    """Allen-Cahn: du/dt + Δu + u - u^3 = 0, u(T, x) = 1 / (2 + 0.4 |x|^2), xi = 0.

    Published: d = 100, T = 0.3: u(0, 0) = 0.052802 (PNAS, branching-diffusion
    reference, about 5 digits); d = 10 / 100 / 1000, T = 1: 0.29555 / 0.03373 /
    0.00340 (Becker et al. 2020, MLP averages, about 4 significant digits).
    Since 0 < g <= 1/2 and 0, 1 are equilibria of u' = u - u^3, 0 <= u <= 1.
    """

    name = "allen-cahn"
    _preset: ClassVar[bool] = True
    builtin_kernel = True
    radial = True
    PUBLISHED = {
        (100, 0.3): (0.052802, PNAS, "5 digits (branching diffusion)"),
        (10, 1.0): (0.29555, BECKER, "5 digits"),
        (100, 1.0): (0.03373, BECKER, "4 digits"),
        (1000, 1.0): (0.00340, BECKER, "3 digits"),
    }

    d: int = 100
    T: float = 0.3

    def g_radial(self, r: np.ndarray) -> np.ndarray:
        return _g_ac(r)

    def f(self, u: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
        return u - u ** 3

    def flow(self, u: np.ndarray, tau: float) -> np.ndarray:
        e = math.exp(tau)
        return u * e / np.sqrt(1.0 + u * u * (e * e - 1.0))

    def mlp_code(self) -> tuple[int, np.ndarray]:
        return 0, np.zeros(1)

    def solution_bounds(self) -> tuple[float, float]:
        return 0.0, 1.0

    def published(self):
        return self.PUBLISHED.get((self.d, float(self.T))) if self.x0 == 0 else None


@dataclass(frozen=True)
class SineGordon(SemilinearProblem):
    """Sine-Gordon type: du/dt + Δu + sin(u) = 0, u(T, x) = 1 / (2 + 0.4 |x|^2), xi = 0.

    Published: d = 10 / 100 / 1000, T = 1: 0.30623 / 0.03376 / 0.00339
    (Becker et al. 2020, MLP averages).  0 < g <= 1/2 and 0, pi are equilibria
    of u' = sin u, so 0 <= u <= pi.
    """

    name = "sine-gordon"
    _preset: ClassVar[bool] = True
    builtin_kernel = True
    radial = True
    PUBLISHED = {
        (10, 1.0): (0.30623, BECKER, "5 digits"),
        (100, 1.0): (0.03376, BECKER, "4 digits"),
        (1000, 1.0): (0.00339, BECKER, "3 digits"),
    }

    def g_radial(self, r: np.ndarray) -> np.ndarray:
        return _g_ac(r)

    def f(self, u: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
        return np.sin(u)

    def f_xp(self, t: Any, x: Any, u: Any, z: Any, xp: Any = np) -> Any:
        return xp.sin(u)

    def f_torch(self, y: Any, z: Any) -> Any:
        import torch
        return torch.sin(y)

    def flow(self, u: np.ndarray, tau: float) -> np.ndarray:
        # tan(u/2) = tan(u0/2) e^tau on each branch (2k-1) pi < u < (2k+1) pi
        k = np.round(u / (2.0 * math.pi))
        w = u - 2.0 * math.pi * k
        return 2.0 * math.pi * k + 2.0 * np.arctan(np.tan(0.5 * w) * math.exp(tau))

    def mlp_code(self) -> tuple[int, np.ndarray]:
        return 1, np.zeros(1)

    def solution_bounds(self) -> tuple[float, float]:
        return 0.0, math.pi

    def published(self):
        return self.PUBLISHED.get((self.d, float(self.T))) if self.x0 == 0 else None


@dataclass(frozen=True)
class HJB(SemilinearProblem):
    """Hamilton-Jacobi-Bellman: du/dt + Δu - lam |∇u|^2 = 0, u(T, x) = ln((1 + |x|^2) / 2).

    Exact for any lam > 0 by the Cole-Hopf transform (w = exp(-lam u) solves
    the heat equation)::

        u(0, x) = -1/lam ln E[exp(-lam g(x + sqrt(2) W_T))],

    a one-dimensional quadrature (``cole-hopf``); lam = 0 gives E[g(X_T)].
    Published: d = 100, T = 1, lam = 1: 4.5901 (PNAS, Monte Carlo of the
    Cole-Hopf formula).  In BSDE variables f = -lam |z|^2 / 2.
    """

    name = "hjb"
    _preset: ClassVar[bool] = True
    default_reference = "cole-hopf"
    uses_gradient = True
    PUBLISHED = {(100, 1.0, 1.0): (4.5901, PNAS, "5 digits (Monte Carlo of Cole-Hopf)")}

    lam: float = opt(1.0, lo=0.0, hi=1e4)

    def g_radial(self, r: np.ndarray) -> np.ndarray:
        return np.log(0.5 * (1.0 + np.asarray(r, dtype=float)))

    def g_radial_torch(self, r: Any) -> Any:
        import torch
        return torch.log(0.5 * (1.0 + r))

    def g_xp(self, x: Any, xp: Any = np) -> Any:
        return xp.log(0.5 * (1.0 + xp.sum(x * x, axis=0)))

    def f_xp(self, t: Any, x: Any, u: Any, z: Any, xp: Any = np) -> Any:
        return -self.lam * xp.sum(z * z, axis=0)

    @property
    def hjb(self) -> float:
        """lam of f = -lam |∇u|^2 (the Cole-Hopf and control forms use it)."""
        return float(self.lam)

    def capabilities(self) -> frozenset[str]:
        return super().capabilities() | {"hjb", "control"}

    def f(self, u: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
        if grad is None:
            raise InvalidOption("hjb: f needs the gradient")
        return -self.lam * np.sum(grad * grad, axis=-1)

    def f_torch(self, y: Any, z: Any) -> Any:
        return -0.5 * self.lam * (z * z).sum(dim=1, keepdim=True)

    # -- the control problem behind the equation (deep-bsde's forward=controlled):
    # -lam |∇u|^2 = min_a [a . ∇u + |a|^2 / (4 lam)], so
    # u(0, xi) = inf_a E[g(X_T^a) + ∫ |a|^2 / (4 lam) dt],  dX^a = a dt + sqrt(2) dW,
    # with optimal feedback a* = -2 lam ∇u = -sqrt(2) lam z  (z = sqrt(2) ∇u).
    def optimal_drift_torch(self, z: Any) -> Any:
        """The optimal feedback drift a*(z) = -sqrt(2) lam z."""
        return -math.sqrt(2.0) * self.lam * z

    def running_cost_torch(self, z: Any) -> Any:
        """|a*|^2 / (4 lam) = lam |z|^2 / 2, shape (n, 1)."""
        return 0.5 * self.lam * (z * z).sum(dim=1, keepdim=True)

    def exact_value(self) -> float:
        from sciml.references.cole_hopf import cole_hopf_value
        return cole_hopf_value(self.d, self.T, self.lam, float(self.d * self.x0 ** 2))

    def published(self):
        return self.PUBLISHED.get((self.d, float(self.T), float(self.lam))) if self.x0 == 0 else None


@dataclass(frozen=True)
class DefaultRisk(SemilinearProblem):
    """Nonlinear Black-Scholes with default risk (PNAS, Duffie et al. model)::

        du/dt + mu x.∇u + sigma^2/2 sum_i x_i^2 d^2u/dx_i^2 - (1 - delta) Q(u) u - R u = 0,
        u(T, x) = min_i x_i,

    X is geometric Brownian motion dX_i = mu X_i dt + sigma X_i dW_i from
    xi = x0 * (1, ..., 1) (sampled exactly), Q(u) = gamma_h for u < v_h,
    gamma_l for u >= v_l, linear in between.  Defaults: d = 100, T = 1,
    x0 = 100, mu = 0.02, sigma = 0.2, delta = 2/3, R = 0.02, v_h = 50, v_l = 70,
    gamma_h = 0.2, gamma_l = 0.02.  Published: 57.300 (PNAS, deep BSDE; no
    uncertainty stated).  Reference: ``multilevel-picard`` (f depends on u only).
    """

    name = "default-risk"
    _preset: ClassVar[bool] = True
    builtin_kernel = True
    default_reference = "multilevel-picard"
    diffusion = "gbm"
    PUBLISHED = {(100, 1.0): (57.300, PNAS, "deep BSDE estimate, no uncertainty stated")}

    d: int = 100
    T: float = 1.0
    x0: float = 100.0
    mu: float = opt(0.02, lo=-10.0, hi=10.0)
    sigma: float = opt(0.2, lo=0.0, lo_open=True, hi=10.0)
    delta: float = opt(2.0 / 3.0, lo=0.0, hi=1.0)
    R: float = opt(0.02, lo=0.0, hi=10.0)
    v_h: float = 50.0
    v_l: float = 70.0
    gamma_h: float = opt(0.2, lo=0.0)
    gamma_l: float = 0.02

    def __post_init__(self) -> None:
        # x0 keeps the base's range [-1e6, 1e6] and must also be positive (a GBM start)
        check_range(self, "x0", self.x0, lo=0.0, lo_open=True)
        check_range(self, "gamma_l", self.gamma_l, lo=0.0, hi=self.gamma_h)
        check_range(self, "v_l", self.v_l, lo=self.v_h, lo_open=True)

    def xi(self) -> np.ndarray:
        return np.full(self.d, float(self.x0))

    def g(self, x: np.ndarray) -> np.ndarray:
        return np.min(np.atleast_2d(np.asarray(x, dtype=float)), axis=1)

    def g_xp(self, x: Any, xp: Any = np) -> Any:
        return xp.amin(x, axis=0) if xp is np else x.amin(dim=0)

    def f_xp(self, t: Any, x: Any, u: Any, z: Any, xp: Any = np) -> Any:
        slope = (self.gamma_h - self.gamma_l) / (self.v_h - self.v_l)
        q = xp.clip(slope * (u - self.v_h) + self.gamma_h, self.gamma_l, self.gamma_h)
        return -(1.0 - self.delta) * q * u - self.R * u

    def g_torch(self, x: Any) -> Any:
        return x.min(dim=1, keepdim=True).values

    def Q(self, u: Any) -> Any:
        slope = (self.gamma_h - self.gamma_l) / (self.v_h - self.v_l)
        lin = slope * (u - self.v_h) + self.gamma_h
        return np.where(u < self.v_h, self.gamma_h, np.where(u >= self.v_l, self.gamma_l, lin))

    def f(self, u: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
        return -(1.0 - self.delta) * self.Q(u) * u - self.R * u

    def f_torch(self, y: Any, z: Any) -> Any:
        import torch
        slope = (self.gamma_h - self.gamma_l) / (self.v_h - self.v_l)
        q = torch.clamp(slope * (y - self.v_h) + self.gamma_h, min=self.gamma_l, max=self.gamma_h)
        return -(1.0 - self.delta) * q * y - self.R * y

    def mlp_code(self) -> tuple[int, np.ndarray]:
        return 2, np.array([self.delta, self.R, self.v_h, self.v_l, self.gamma_h, self.gamma_l,
                            self.mu, self.sigma])

    def linear_value(self) -> float:
        raise InvalidOption("default-risk: no quadrature for the linear value (min of d GBMs)")

    def published(self):
        return self.PUBLISHED.get((self.d, float(self.T))) if self.x0 == 100.0 else None
