"""Semilinear parabolic PDEs in high dimension; the answer is the number u(0, xi).

Common convention (all problems but ``default-risk``), the *backward* form of
Han, Jentzen, E (PNAS 2018)::

    du/dt(t, x) + Δu(t, x) + f(u, ∇u) = 0  on [0, T) x R^d,   u(T, x) = g(x),

with the full Laplacian Δ (not 1/2 Δ).  Its diffusion is X_s = xi + sqrt(2) W_s,
and by Feynman-Kac  u(t, x) = E[g(X_T) + ∫_t^T f(u, ∇u)(s, X_s) ds | X_t = x].
Hence |X_s|^2 / (2 s) is noncentral chi-square with d degrees of freedom and
noncentrality |xi|^2 / (2 s).  The starting point is xi = x0 * (1, ..., 1)
(x0 = 0 in every published value).  In the BSDE form Z = sqrt(2) ∇u.

Published reference values are in each class's ``PUBLISHED`` table as
``(d, T, other params) -> (value, source, stated uncertainty)``.  The
verified references are ``radial`` (allen-cahn, sine-gordon), ``cole-hopf``
(hjb) and ``multilevel-picard`` (default-risk).

Nothing heavy is imported at module level (``sciml list`` stays fast).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sciml.core import InvalidOption, Problem, check_range

__all__ = ["SemilinearProblem", "AllenCahn", "SineGordon", "HJB", "DefaultRisk",
           "expect_radial"]

PNAS = "Han, Jentzen, E, PNAS 115 (2018) 8505-8510"
BECKER = ("Becker, Braunwarth, Hutzenthaler, Jentzen, von Wurstemberger, "
          "Commun. Comput. Phys. 28 (2020) 2109-2138 (MLP; 5 digits shown)")


def expect_radial(d: int, T: float, r0: float, phi: Any, *, tol: float = 1e-12) -> float:
    """E[phi(|X_T|^2)] for X_T = x + sqrt(2) W_T with |x|^2 = r0, by quadrature
    over the (noncentral) chi-square law of |X_T|^2 / (2T).  ``phi`` acts on arrays."""
    from sciml.references.cole_hopf import radial_expectation
    return radial_expectation(d, T, r0, phi, tol=tol)


@dataclass(frozen=True)
class SemilinearProblem(Problem):
    """Base of the family: fields ``d``, ``T``, ``x0``; u(0, xi) is the answer."""

    kind = "value"
    default_reference = "radial"
    #: (d, T, extra) -> (value, source, uncertainty)
    PUBLISHED: ClassVar[dict[tuple[Any, ...], tuple[float, str, str]]] = {}
    #: "brownian": X = xi + sqrt(2) W;  "gbm": geometric Brownian motion (default-risk)
    diffusion: ClassVar[str] = "brownian"
    #: True when f depends on u only and g on |x|^2 only (radial reference applies)
    radial: ClassVar[bool] = False
    #: True when f depends on ∇u
    uses_gradient: ClassVar[bool] = False

    d: int = 100
    T: float = 1.0
    x0: float = 0.0

    def __post_init__(self) -> None:
        check_range(self, "d", self.d, lo=1, hi=100_000)
        check_range(self, "T", self.T, lo=0.0, lo_open=True, hi=100.0)
        check_range(self, "x0", self.x0, lo=-1e6, hi=1e6)

    # -- data
    def xi(self) -> np.ndarray:
        """The starting point xi = x0 * (1, ..., 1)."""
        return np.full(self.d, float(self.x0))

    def value_point(self) -> np.ndarray:
        return self.xi()

    def g(self, x: np.ndarray) -> np.ndarray:
        """Terminal condition on points (N, d)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return self.g_radial(np.sum(x * x, axis=1))

    def g_radial(self, r: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def f(self, u: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:  # pragma: no cover
        """The nonlinearity f(u, ∇u) (NumPy)."""
        raise NotImplementedError

    def f_torch(self, y: Any, z: Any) -> Any:
        """f in BSDE variables: y = u, z = sigma^T ∇u (torch tensors)."""
        return self.f(y)

    def g_torch(self, x: Any) -> Any:
        """g on a torch batch (n, d) -> (n, 1)."""
        return self.g_radial_torch((x * x).sum(dim=1, keepdim=True))

    def g_radial_torch(self, r: Any) -> Any:
        return self.g_radial(r)   # the rational g's are written with operators only

    def mlp_code(self) -> tuple[int, np.ndarray]:
        """(nonlinearity id, float parameters) for the Numba MLP kernels."""
        raise InvalidOption(f"problem {self.name!r} has no multilevel-Picard kernel")

    def solution_bounds(self) -> tuple[float, float] | None:
        """An interval known (comparison principle) to contain u; None if unknown."""
        return None

    def linear_value(self) -> float:
        """u(0, xi) with the nonlinearity dropped (f = 0): E[g(X_T)]."""
        return expect_radial(self.d, self.T, float(self.d * self.x0 ** 2), self.g_radial)

    def flow(self, u: np.ndarray, tau: float) -> np.ndarray:  # pragma: no cover - overridden
        """Exact flow of the ODE u' = f(u) over time tau (radial problems)."""
        raise NotImplementedError

    def published(self) -> tuple[float, str, str] | None:
        """The published value for these parameters, if any."""
        return None


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
    default_reference = "cole-hopf"
    uses_gradient = True
    PUBLISHED = {(100, 1.0, 1.0): (4.5901, PNAS, "5 digits (Monte Carlo of Cole-Hopf)")}

    lam: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self, "lam", self.lam, lo=0.0, hi=1e4)

    def g_radial(self, r: np.ndarray) -> np.ndarray:
        return np.log(0.5 * (1.0 + np.asarray(r, dtype=float)))

    def g_radial_torch(self, r: Any) -> Any:
        import torch
        return torch.log(0.5 * (1.0 + r))

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
    default_reference = "multilevel-picard"
    diffusion = "gbm"
    PUBLISHED = {(100, 1.0): (57.300, PNAS, "deep BSDE estimate, no uncertainty stated")}

    d: int = 100
    T: float = 1.0
    x0: float = 100.0
    mu: float = 0.02
    sigma: float = 0.2
    delta: float = 2.0 / 3.0
    R: float = 0.02
    v_h: float = 50.0
    v_l: float = 70.0
    gamma_h: float = 0.2
    gamma_l: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self, "x0", self.x0, lo=0.0, lo_open=True)
        check_range(self, "mu", self.mu, lo=-10.0, hi=10.0)
        check_range(self, "sigma", self.sigma, lo=0.0, lo_open=True, hi=10.0)
        check_range(self, "delta", self.delta, lo=0.0, hi=1.0)
        check_range(self, "R", self.R, lo=0.0, hi=10.0)
        check_range(self, "gamma_h", self.gamma_h, lo=0.0)
        check_range(self, "gamma_l", self.gamma_l, lo=0.0, hi=self.gamma_h)
        check_range(self, "v_l", self.v_l, lo=self.v_h, lo_open=True)

    def xi(self) -> np.ndarray:
        return np.full(self.d, float(self.x0))

    def g(self, x: np.ndarray) -> np.ndarray:
        return np.min(np.atleast_2d(np.asarray(x, dtype=float)), axis=1)

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
