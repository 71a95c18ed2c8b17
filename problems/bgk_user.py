"""1D-1V BGK from your own initial data: ``f_t + v f_x = (M[f] - f) / kn`` on x in
[a, b], v in [-v_max, v_max], specular or periodic walls.

The initial data is EITHER the macroscopic profiles ``rho(x, xp)``, ``u(x, xp)``,
``T(x, xp)`` (component-first x of shape (1, ...): ``x[0]`` is the position; a
number stands for a constant), f0 being then the local Maxwellian, OR the
distribution ``f0(x, v, xp)`` itself (x, v arrays of equal shape).  One velocity
dimension: ``M = rho (2πT)^(-1/2) exp(-(v-u)^2/(2T))``, ``p = rho T``.

The data are checked when the problem is made, on ``n_check`` cell centres of
[a, b] (and, for f0, on velocities out to 5 v_max): finite, rho > 0 and T > 0 /
f0 >= 0 of positive mass, and at most ``tail_tol`` (1e-10) of the mass beyond
|v| = v_max, where the solver's truncated velocity grid would silently lose it.
The reference is ``dvm`` (there is no closed form in general).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np

from sciml.core import InvalidProblem, opt
from sciml.userfn import check_signature, describe, is_number

from .bgk import BGK1D, maxwellian_state

__all__ = ["BGK"]

#: velocity samples of the check grid per unit of v_max (inside [-v_max, v_max] and in each tail)
_NV_CHECK = 400


@dataclass(frozen=True)
class BGK(BGK1D):
    """1D-1V BGK from the user's initial data: profiles ``rho``, ``u``, ``T`` (functions of
    (x, xp) or numbers) or ``f0(x, v, xp)``; ``walls`` "specular" or "periodic" on
    ``domain`` = (a, b).  ``kn`` up to 1e12: the relaxation then changes f by about
    t1/kn of |M - f| (collisionless to rounding)."""

    name = "bgk"
    default_reference = "dvm"

    kn: float = opt(1e-2, lo=0.0, hi=1e12, lo_open=True)
    t1: float = opt(0.1, lo=0.0, hi=100.0, lo_open=True)
    v_max: float = opt(10.0, lo=0.1, hi=1000.0)
    n_test: int = opt(1000, lo=10, hi=10 ** 6)

    rho: Callable[..., Any] | float | None = None
    u: Callable[..., Any] | float | None = None
    T: Callable[..., Any] | float | None = None
    f0: Callable[..., Any] | None = None
    walls: Literal["specular", "periodic"] = "specular"
    domain: tuple[float, float] = (-0.5, 0.5)
    n_check: int = opt(128, lo=8, hi=4096)  # cells of [a, b] on which the data are checked
    tail_tol: float = opt(1e-10, lo=0.0, hi=1e-2, lo_open=True)

    def __post_init__(self) -> None:
        if len(self.domain) != 2 or not all(is_number(t) and math.isfinite(t) for t in self.domain) \
                or not self.domain[0] < self.domain[1]:
            raise InvalidProblem(f"{self.name}: domain={self.domain!r} must be (a, b) with finite a < b")
        given = [k for k in ("rho", "u", "T") if getattr(self, k) is not None]
        if self.f0 is not None and given:
            raise InvalidProblem(f"{self.name}: both f0 and {', '.join(given)} are given; give EITHER the "
                                 "profiles rho, u, T OR the distribution f0(x, v, xp)")
        if self.f0 is None and len(given) < 3:
            missing = ", ".join(k for k in ("rho", "u", "T") if k not in given)
            raise InvalidProblem(f"{self.name}: no initial data ({missing} not given); give the profiles "
                                 "rho, u, T (functions (x, xp) or numbers) OR the distribution f0(x, v, xp)")
        if self.f0 is not None:
            check_signature(self.name, "f0", self.f0, ["x", "v"])
        for k in given:
            if not is_number(getattr(self, k)):
                check_signature(self.name, k, getattr(self, k), ["x"])
        self._check_data()

    # ------------------------------------------------------------ evaluation
    def _call(self, key: str, args: list[np.ndarray], n: int) -> np.ndarray:
        """The user's function ``key`` at the points ``args`` (the last argument xp = numpy),
        as float64 (n,) (a number or a constant result is broadcast); may hold inf/NaN."""
        fn = getattr(self, key)
        if is_number(fn):
            return np.full(n, float(fn))
        try:
            with np.errstate(all="ignore"):
                out = fn(*args, np)
            arr = np.asarray(out, dtype=float)
        except Exception as exc:  # the user's code: any error is bad input, in one line
            raise InvalidProblem(f"{self.name}: {key}={describe(fn)} raised {type(exc).__name__}: {exc} "
                                 f"(called with arrays of shape {np.shape(args[-1])} and xp=numpy)") from None
        if arr.ndim == 0:
            return np.full(n, float(arr))
        shape = np.shape(args[-1]) if key == "f0" else (n,)  # profiles: x (1, n) -> values (n,)
        if arr.shape != shape and not (key != "f0" and arr.shape == (1, n)):
            raise InvalidProblem(f"{self.name}: {key} returned shape {arr.shape} for arrays of shape "
                                 f"{np.shape(args[-1])}; expected {shape}"
                                 + ("" if key == "f0" else " (x is component-first: the position is x[0])"))
        return arr.reshape(n)

    def profiles(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """rho, u, T at positions x (N,), checked finite with rho > 0 and T > 0."""
        x = np.asarray(x, dtype=float).reshape(-1)
        out = []
        for key, name in (("rho", "density"), ("u", "velocity"), ("T", "temperature")):
            val = self._call(key, [x[None, :]], len(x))
            if not np.all(np.isfinite(val)):
                at = x[~np.isfinite(val)][0]
                raise InvalidProblem(f"{self.name}: the {name} {key} is not finite at x = {at:.6g}")
            if key != "u" and val.min() <= 0.0:
                raise InvalidProblem(f"{self.name}: the {name} {key} is not positive (min {val.min():.3g} at "
                                     f"x = {x[np.argmin(val)]:.6g}); it must be > 0 on the whole of "
                                     f"[{self.domain[0]:g}, {self.domain[1]:g}]")
            out.append(val)
        return out[0], out[1], out[2]

    def _f0_on(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """f0 on the tensor grid x (nx,) by v (nv,): (nx, nv), checked finite and non-negative."""
        X, V = np.meshgrid(x, v, indexing="ij")
        f = self._call("f0", [X, V], X.size).reshape(X.shape)
        if not np.all(np.isfinite(f)):
            i, j = np.argwhere(~np.isfinite(f))[0]
            raise InvalidProblem(f"{self.name}: f0 is not finite at x = {x[i]:.6g}, v = {v[j]:.6g}; "
                                 "expected a finite, non-negative distribution")
        top = float(f.max())
        if f.min() < -1e-12 * max(top, 0.0) or (top < 0.0):
            i, j = np.unravel_index(np.argmin(f), f.shape)
            raise InvalidProblem(f"{self.name}: f0 is negative ({f.min():.3g} at x = {x[i]:.6g}, v = {v[j]:.6g}); "
                                 "a distribution must be non-negative")
        return f

    def initial_f(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """f(0) on cell centres x (nx,) and the uniform grid v (nv,): (nx, nv).  Profiles: the
        discrete Maxwellian whose discrete moments are exactly rho, rho u, rho u^2/2 + rho T/2;
        f0: its point values."""
        x = np.asarray(x, dtype=float).reshape(-1)
        v = np.asarray(v, dtype=float).reshape(-1)
        if self.f0 is not None:
            return self._f0_on(x, v)
        rho, u, T = self.profiles(x)
        return maxwellian_state(rho, u, rho * T, v)

    # ---------------------------------------------------------------- checks
    def check_points(self) -> np.ndarray:
        """The n_check cell centres of [a, b] on which the data are checked."""
        a, b = self.domain
        return a + (b - a) / self.n_check * (np.arange(self.n_check) + 0.5)

    def _check_data(self) -> None:
        """Positivity, finiteness, positive mass and a negligible tail beyond v_max."""
        x, vk = self.check_points(), self.v_max
        if self.f0 is None:
            rho, u, T = self.profiles(x)
            erfc = np.vectorize(math.erfc)
            s = np.sqrt(2.0 * T)
            tail = 0.5 * erfc((vk - u) / s) + 0.5 * erfc((vk + u) / s)
            frac = float(np.sum(rho * tail) / np.sum(rho))
            need = float(np.max(np.abs(u) + 6.5 * np.sqrt(T)))  # 0.5 erfc(6.5/sqrt 2) = 4e-11
            hint = f"raise v_max to at least {need:.3g} (max over x of |u| + 6.5 sqrt(T))"
        else:
            inner = np.linspace(-vk, vk, 2 * _NV_CHECK + 1)
            outer = np.linspace(vk, 5.0 * vk, _NV_CHECK + 1)
            f_in = self._f0_on(x, inner)
            f_hi, f_lo = self._f0_on(x, outer), self._f0_on(x, -outer)
            trap = lambda f, h: h * (f.sum() - 0.5 * (f[:, 0].sum() + f[:, -1].sum()))  # noqa: E731
            m_in = trap(f_in, inner[1] - inner[0])
            m_out = trap(f_hi, outer[1] - outer[0]) + trap(f_lo, outer[1] - outer[0])
            if m_in + m_out <= 0.0:
                raise InvalidProblem(f"{self.name}: f0 has zero mass on [{self.domain[0]:g}, {self.domain[1]:g}] x "
                                     f"[-{5 * vk:g}, {5 * vk:g}]; expected a non-negative distribution of "
                                     "positive mass")
            frac = float(m_out / (m_in + m_out))
            hint = "raise v_max"
        if frac > self.tail_tol:
            raise InvalidProblem(f"{self.name}: v_max={vk:g} is too small for the initial data: a fraction "
                                 f"{frac:.3g} of its mass lies beyond |v| = {vk:g} (allowed tail_tol="
                                 f"{self.tail_tol:g}), which the truncated velocity grid would lose; {hint}")
