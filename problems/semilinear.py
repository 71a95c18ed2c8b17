"""Semilinear parabolic PDEs in high dimension; the answer is the number u(0, xi).

This module holds :class:`Semilinear`, your own problem from functions written with
``xp``; the base class is in :mod:`problems.semilinear_base`, the presets with
published values in :mod:`problems.semilinear_presets` (importable from here).

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sciml.core import InvalidOption, InvalidProblem, check_range, opt

from .semilinear_base import SemilinearProblem, expect_radial
from .semilinear_presets import HJB, AllenCahn, DefaultRisk, SineGordon

__all__ = ["SemilinearProblem", "Semilinear", "AllenCahn", "SineGordon", "HJB", "DefaultRisk",
           "expect_radial"]


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
    T: float = opt(1.0, lo=0.0, lo_open=True, hi=1e6)
    f: Any = 0.0
    g: Any = None
    # one number or d numbers: checked in __post_init__, not by the base's range for a number
    x0: Any = field(default=0.0, metadata={"checked": "__post_init__"})
    diffusion: Any = math.sqrt(2.0)
    exact: Any = None
    radial: bool = False
    hjb: float | None = opt(None, lo=0.0, hi=1e6)
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        from sciml import userfn
        own = self.name   # d (the base's [1, 100000]), T and hjb are declared on the fields
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
