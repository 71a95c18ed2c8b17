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
from typing import Any, Callable, ClassVar

import numpy as np

from sciml.core import InvalidOption, InvalidProblem, Problem, check_range, opt

__all__ = ["SemilinearProblem", "Semilinear", "AllenCahn", "SineGordon", "HJB", "DefaultRisk",
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

    d: int = opt(100, lo=1, hi=100_000)
    T: float = opt(1.0, lo=0.0, lo_open=True, hi=100.0)
    x0: float = opt(0.0, lo=-1e6, hi=1e6)

    #: the methods that carry the mathematics: a subclass of a preset that redefines
    #: one of them would silently keep the preset's kernels and closed forms elsewhere
    _DATA_METHODS: ClassVar[tuple[str, ...]] = (
        "g", "g_radial", "g_radial_torch", "g_torch", "g_xp", "f", "f_torch", "f_xp", "flow",
        "mlp_code", "exact_value", "linear_value", "solution_bounds", "optimal_drift_torch",
        "running_cost_torch")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        presets = [b for b in cls.__mro__[1:] if b.__dict__.get("_preset", False)]
        changed = [m for m in cls._DATA_METHODS if m in cls.__dict__]
        if presets and changed:
            raise InvalidProblem(f"{cls.__name__} redefines {', '.join(changed)} of the preset "
                                 f"{presets[0].__name__}; write your own problem as "
                                 "problems.semilinear.Semilinear(f=..., g=...) instead")

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

    def f_bsde_torch(self, t: float, x: Any, y: Any, z: Any) -> Any:
        """f in BSDE variables on a torch batch: time t, points x (n, d), y = u (n, 1),
        z = sigma^T ∇u (n, d) -> (n, 1).  The built-in problems' f depends on (y, z) only."""
        return self.f_torch(y, z)

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

    # -- the general interface (component-first, written once with xp)
    #: constant diffusion sigma of X = xi + sigma W (brownian problems): the PDE's
    #: second-order term is sigma^2/2 Δu; sqrt(2) gives the Laplacian
    @property
    def sigma(self) -> float:
        return math.sqrt(2.0)

    def g_xp(self, x: Any, xp: Any = np) -> Any:
        """g at points x of shape (d, ...) (component-first)."""
        return self.g_radial(xp.sum(x * x, axis=0))

    def f_xp(self, t: Any, x: Any, u: Any, z: Any, xp: Any = np) -> Any:
        """f(t, x, u, ∇u) with x, z = ∇u of shape (d, ...) and u of shape (...)."""
        return self.f(u)

    def user_functions(self) -> dict[str, Any] | None:
        """The plain xp functions {"f", "g"} (Numba-compilable), or None for a
        built-in problem whose kernels are hand-written (``mlp_code``)."""
        return None

    def capabilities(self) -> frozenset[str]:
        caps = {self.name, "semilinear"}
        if self.diffusion == "brownian":
            caps.add("brownian")
        if not self.uses_gradient:
            caps.add("f-without-gradient")
        if self.radial and self.diffusion == "brownian" and not self.uses_gradient:
            caps.add("radial")
        if self._builtin_kernel() or self.user_functions() is not None:
            caps.add("numba")
        return frozenset(caps)

    def _builtin_kernel(self) -> bool:
        # hand-written Numba kernels exist for the presets (whose subclasses cannot
        # redefine f or g: see __init_subclass__)
        return isinstance(self, _BUILTIN_KERNELS)


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

    lam: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(self, "lam", self.lam, lo=0.0, hi=1e4)

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


@dataclass(frozen=True)
class Semilinear(SemilinearProblem):
    """Your own semilinear PDE, from functions written once with ``xp``::

        du/dt + sigma^2/2 Δu + f(t, x, u, ∇u) = 0  on [0, T) x R^d,   u(T, x) = g(x),

    answer u(0, xi) with xi = x0 (a number for every coordinate, or d numbers),
    forward process X = xi + sigma W (``diffusion`` = sigma; the default
    sqrt(2) gives the Laplacian, the convention of the built-in problems).

    * ``g(x, xp)``: x of shape (d, ...) (component-first), returns shape (...);
    * ``f(t, x, u, z, xp)``: u of shape (...), x and z = ∇u of shape (d, ...);
      a number stands for a constant f;
    * ``exact(t, x, xp)``: optional exact solution (then ``--reference exact``);
    * declared facts that let a solver do more: ``radial=True`` (g depends on
      |x|^2 only and f on u only: the ``radial`` reference), ``hjb=lam``
      (f = -lam |∇u|^2 with sigma = sqrt(2): ``cole-hopf`` and deep BSDE's
      control form), ``bounds=(lo, hi)`` (an interval known to hold u: MLP's
      clipping).  With ``hjb``, ``radial=True`` declares g radial only (cole-hopf's
      1D quadrature).  Each declared fact is checked on a random batch.

    Every function is evaluated once on a small batch when the problem is
    made, so a wrong shape, a NaN or a wrong signature is refused before any
    long work.
    """

    name = "semilinear"
    default_reference = "multilevel-picard"

    d: int = 1
    T: float = 1.0
    f: Any = 0.0
    g: Any = None
    x0: Any = 0.0
    diffusion: Any = math.sqrt(2.0)
    exact: Any = None
    radial: bool = False
    hjb: float | None = None
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        from sciml import userfn
        own = self.name
        if isinstance(self.d, bool) or not isinstance(self.d, (int, np.integer)):
            raise InvalidProblem(f"{own}: d={self.d!r} must be an integer in [1, 100000]")
        object.__setattr__(self, "d", int(self.d))
        check_range(self, "d", self.d, lo=1, hi=100_000)
        check_range(self, "T", float(self.T), lo=0.0, lo_open=True, hi=1e6)
        object.__setattr__(self, "T", float(self.T))
        if not userfn.is_number(self.diffusion):
            raise InvalidProblem(f"{own}: diffusion={self.diffusion!r}; the semilinear solvers take a constant "
                                 "number sigma (X = xi + sigma W)")
        check_range(self, "diffusion", float(self.diffusion), lo=0.0, lo_open=True, hi=1e6)
        object.__setattr__(self, "diffusion", float(self.diffusion))
        xi = np.asarray(self.x0, dtype=float).reshape(-1) if not callable(self.x0) else None
        if xi is None or xi.size not in (1, self.d) or not np.all(np.isfinite(xi)):
            raise InvalidProblem(f"{own}: x0={self.x0!r}; give one finite number (every coordinate) or d={self.d}")
        object.__setattr__(self, "x0", float(xi[0]) if xi.size == 1 else tuple(float(v) for v in xi))
        if self.g is None:
            raise InvalidProblem(f"{own}: g is required: the terminal value g(x, xp), x of shape (d, ...)")
        if userfn.is_number(self.g):
            object.__setattr__(self, "g", userfn.constant(self.g))
        userfn.check_signature(own, "g", self.g, ("x",))
        if userfn.is_number(self.f):
            object.__setattr__(self, "f", userfn.constant(self.f))
        userfn.check_signature(own, "f", self.f, ("t", "x", "u", "z"))
        if self.exact is not None:
            userfn.check_signature(own, "exact", self.exact, ("t", "x"))
        if self.hjb is not None:
            check_range(self, "hjb", float(self.hjb), lo=0.0, hi=1e6)
        if self.bounds is not None:
            lo, hi = (float(b) for b in self.bounds)
            if not lo < hi:
                raise InvalidProblem(f"{own}: bounds={self.bounds!r}; give (lo, hi) with lo < hi")
        self._probe()
        # the natural reference of this instance (the class default is multilevel-picard)
        caps = self.capabilities()
        ref = ("exact" if self.exact is not None else "cole-hopf" if "hjb" in caps
               else "radial" if "radial" in caps else "multilevel-picard")
        object.__setattr__(self, "default_reference", ref)

    # -- checks on a small random batch
    def _probe(self) -> None:
        from sciml import userfn
        own, d, n = self.name, self.d, 5
        rng = np.random.default_rng(12345)
        x = self.xi()[:, None] + rng.standard_normal((d, n))
        t = 0.5 * self.T
        gx = userfn.probe(own, "g", self.g, (x,), (n,))
        u = gx + 0.1 * rng.standard_normal(n)
        z = rng.standard_normal((d, n))
        fx = userfn.probe(own, "f", self.f, (t, x, u, z), (n,))
        fz = userfn.probe(own, "f", self.f, (t, x, u, 2.0 * z + 1.0), (n,))
        object.__setattr__(self, "_uses_z", not np.allclose(fx, fz, rtol=1e-12, atol=1e-300))
        ftx = userfn.probe(own, "f", self.f, (0.1 * t + 0.3 * self.T, x + rng.standard_normal((d, n)), u, z), (n,))
        object.__setattr__(self, "_uses_tx", not np.allclose(fx, ftx, rtol=1e-12, atol=1e-300))
        if self.exact is not None:
            userfn.probe(own, "exact", self.exact, (t, x), (n,))
        if self.hjb is not None:
            want = -float(self.hjb) * np.sum(z * z, axis=0)
            if not np.allclose(fx, want, rtol=1e-9, atol=1e-12) or not math.isclose(self.diffusion, math.sqrt(2.0)):
                raise InvalidProblem(f"{own}: hjb={self.hjb!r} declares f = -hjb |z|^2 with diffusion sqrt(2), "
                                     "but f or diffusion differ on a test batch")
        if self.radial:
            q, _ = np.linalg.qr(rng.standard_normal((d, d)))
            ok = np.allclose(userfn.probe(own, "g", self.g, (q @ x,), (n,)), gx, rtol=1e-9, atol=1e-12)
            f2 = userfn.probe(own, "f", self.f, (0.1 * t, x + 1.0, u, 2.0 * z + 1.0), (n,))
            if self.hjb is not None:     # f = -hjb |z|^2 was checked above: radial=True is about g
                f2 = fx
            if not ok or not np.allclose(f2, fx, rtol=1e-12, atol=1e-300):
                raise InvalidProblem(f"{own}: radial=True declares g(x) = G(|x|^2) and f = F(u) "
                                     "(with hjb: g only), but g or f differ under a rotation or a change of t, x, z")

    # -- data
    @property
    def uses_gradient(self) -> bool:  # type: ignore[override]
        return bool(getattr(self, "_uses_z", True))

    @property
    def f_depends_on_tx(self) -> bool:
        """False when f(t, x, u, z) was seen not to change with (t, x) on a test batch."""
        return bool(getattr(self, "_uses_tx", True))

    @property
    def sigma(self) -> float:
        return float(self.diffusion)

    def xi(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.x0, dtype=float), (self.d,)).copy()

    def g_xp(self, x: Any, xp: Any = np) -> Any:
        return self.g(x, xp)

    def f_xp(self, t: Any, x: Any, u: Any, z: Any, xp: Any = np) -> Any:
        return self.f(t, x, u, z, xp)

    def user_functions(self) -> dict[str, Any]:
        return {"f": self.f, "g": self.g}

    def g_radial(self, r: np.ndarray) -> np.ndarray:
        r = np.asarray(r, dtype=float)
        x = np.zeros((self.d,) + r.shape)
        x[0] = np.sqrt(r)
        return np.asarray(self.g(x, np), dtype=float) * np.ones(r.shape)

    def f_torch(self, y: Any, z: Any) -> Any:
        raise InvalidOption(f"{self.name}: f depends on (t, x); call f_xp(t, x, u, grad u, torch)")

    def g_torch(self, x: Any) -> Any:
        import torch
        out = torch.as_tensor(self.g(x.T, torch), dtype=x.dtype, device=x.device)
        return (out + torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)).reshape(-1, 1)

    def f_bsde_torch(self, t: float, x: Any, y: Any, z: Any) -> Any:
        """The user's f(t, x, u, ∇u) with ∇u = z / sigma, on a torch batch -> (n, 1)."""
        import torch
        tt = torch.as_tensor(float(t), dtype=y.dtype, device=y.device)   # xp.exp(t) needs a tensor
        out = torch.as_tensor(self.f(tt, x.T, y[:, 0], z.T / self.sigma, torch), dtype=y.dtype, device=y.device)
        return (out + torch.zeros_like(y[:, 0])).reshape(-1, 1)

    def flow(self, u: np.ndarray, tau: float) -> np.ndarray:
        """The flow of u' = f(u) over time tau (radial problems): RK4 with steps of
        at most 1e-2 (local error O(h^5): far below the splitting's)."""
        n = max(1, math.ceil(abs(tau) / 1e-2))
        h = tau / n
        u = np.asarray(u, dtype=float)
        zero = np.zeros((self.d,) + u.shape)

        def F(v: np.ndarray) -> np.ndarray:
            return np.asarray(self.f(0.0, zero, v, zero, np), dtype=float) * np.ones(v.shape)
        for _ in range(n):
            k1 = F(u)
            k2 = F(u + 0.5 * h * k1)
            k3 = F(u + 0.5 * h * k2)
            k4 = F(u + h * k3)
            u = u + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        return u

    def solution_bounds(self) -> tuple[float, float] | None:
        return None if self.bounds is None else (float(self.bounds[0]), float(self.bounds[1]))

    @property
    def has_exact(self) -> bool:
        return self.exact is not None

    def exact_value(self) -> float:
        if self.exact is None:
            raise InvalidOption(f"problem {self.name!r} has no exact solution; use --reference "
                                f"{self.default_reference}")
        return float(np.asarray(self.exact(0.0, self.xi()[:, None], np)).reshape(-1)[0])

    def linear_value(self) -> float:
        if not self.radial:
            raise InvalidOption(f"{self.name}: the linear value E g(X_T) needs radial=True (a quadrature)")
        return expect_radial(self.d, self.T, float(self.xi() @ self.xi()), self.g_radial) \
            if math.isclose(self.diffusion, math.sqrt(2.0)) else _raise_sigma(self.name)

    def capabilities(self) -> frozenset[str]:
        caps = set(super().capabilities()) | {"numba", "brownian"}
        if self.radial and not self.uses_gradient:
            caps.add("radial")
        if self.radial and not math.isclose(self.diffusion, math.sqrt(2.0)):
            caps.discard("radial")    # the radial reference is written for the Laplacian
        if self.hjb is not None:
            caps |= {"hjb", "control"}
        return frozenset(caps)

    # -- control form (hjb declared): the same as HJB's
    def optimal_drift_torch(self, z: Any) -> Any:
        return -math.sqrt(2.0) * float(self.hjb) * z

    def running_cost_torch(self, z: Any) -> Any:
        return 0.5 * float(self.hjb) * (z * z).sum(dim=1, keepdim=True)


def _raise_sigma(name: str) -> float:
    raise InvalidOption(f"{name}: the radial quadrature is written for diffusion sqrt(2)")


_BUILTIN_KERNELS = (AllenCahn, SineGordon, DefaultRisk)
