"""The `cole-hopf` reference: the HJB value by one-dimensional quadrature.

For du/dt + Δu - lam |∇u|^2 = 0, u(T) = g, the transform w = exp(-lam u)
solves dw/dt + Δw = 0, so  u(0, x) = -1/lam ln E[exp(-lam g(x + sqrt(2) W_T))].
For g depending on r = |x|^2 only, |X_T|^2 = 2T Y with Y noncentral
chi-square (d degrees of freedom, noncentrality |x|^2 / (2T)); we integrate
over s = sqrt(Y) (a smooth density even for d = 1), in log space so that
large lam (exp(-lam g) ~ 1e-200) neither under- nor overflows.  Adaptive
Gauss-Kronrod (QUADPACK) with relative tolerance 1e-13 on a window holding
all but e^-80 of the integrand: the value is accurate to about 1e-10
relative (the test checks it against an independent Gauss-Laguerre rule).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..core import InvalidOption, Problem, Solution, Solver, opt

__all__ = ["ColeHopf", "cole_hopf_value", "radial_expectation", "log_radial_expectation",
           "gauss_hermite_log_expectation"]


def _log_density_s(d: int, lam_nc: float) -> Callable[[np.ndarray], np.ndarray]:
    """log density of s = sqrt(Y), Y ~ chi2'(d, lam_nc): log(2 s) + log p_Y(s^2)."""
    from scipy import stats
    law = stats.chi2(d) if lam_nc == 0.0 else stats.ncx2(d, lam_nc)

    def logp(s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(2.0 * s) + law.logpdf(s * s)
        return np.where(s > 0, out, -np.inf)
    return logp


def _window(logint: Callable[[np.ndarray], np.ndarray], s_hi: float, drop: float = 80.0) -> tuple[float, float, float, float]:
    """(a, peak, b, log max) with logint < max - drop outside [a, b] on a fine grid."""
    s = np.linspace(0.0, s_hi, 20001)[1:]
    L = logint(s)
    i = int(np.nanargmax(L))
    keep = np.nonzero(L >= L[i] - drop)[0]
    h = s[1] - s[0]
    return max(s[keep[0]] - h, 0.0), float(s[i]), float(s[keep[-1]] + h), float(L[i])


def _s_max(d: int, lam_nc: float) -> float:
    # far beyond the law's support that matters: mean + 40 standard deviations of s
    return math.sqrt(d + lam_nc) + 40.0 + 0.1 * math.sqrt(d)


def log_radial_expectation(d: int, T: float, r0: float, log_phi: Callable[[np.ndarray], np.ndarray],
                           *, tol: float = 1e-13) -> float:
    """ln E[exp(log_phi(|X_T|^2))], X_T = x + sqrt(2) W_T, |x|^2 = r0."""
    from scipy import integrate
    lam_nc = r0 / (2.0 * T)
    logp = _log_density_s(d, lam_nc)

    def logint(s: np.ndarray) -> np.ndarray:
        return logp(s) + log_phi(2.0 * T * np.asarray(s) ** 2)

    a, peak, b, lmax = _window(logint, _s_max(d, lam_nc))
    total = 0.0
    for lo, hi in ((a, peak), (peak, b)):
        if hi > lo:
            val, _ = integrate.quad(lambda s: math.exp(float(logint(s)) - lmax), lo, hi,
                                    epsabs=0.0, epsrel=tol, limit=500)
            total += val
    return lmax + math.log(total)


def radial_expectation(d: int, T: float, r0: float, phi: Callable[[np.ndarray], np.ndarray],
                       *, tol: float = 1e-12) -> float:
    """E[phi(|X_T|^2)], X_T = x + sqrt(2) W_T, |x|^2 = r0 (phi of moderate growth)."""
    from scipy import integrate
    lam_nc = r0 / (2.0 * T)
    logp = _log_density_s(d, lam_nc)
    a, peak, b, _ = _window(logp, _s_max(d, lam_nc))
    total = 0.0
    for lo, hi in ((a, peak), (peak, b)):
        if hi > lo:
            val, _ = integrate.quad(lambda s: float(phi(2.0 * T * s * s) * math.exp(float(logp(s)))),
                                    lo, hi, epsabs=0.0, epsrel=tol, limit=500)
            total += val
    return float(total)


def _g_hjb(r: np.ndarray) -> np.ndarray:
    return np.log(0.5 * (1.0 + np.asarray(r, dtype=float)))


def cole_hopf_value(d: int, T: float, lam: float, r0: float = 0.0, *, tol: float = 1e-13) -> float:
    """u(0, x) of the HJB problem (problems.semilinear.HJB) with |x|^2 = r0."""
    if lam == 0.0:
        return radial_expectation(d, T, r0, _g_hjb, tol=max(tol, 1e-12))
    log_e = log_radial_expectation(d, T, r0, lambda r: -lam * _g_hjb(r), tol=tol)
    return -log_e / lam


def gauss_hermite_log_expectation(xi: np.ndarray, T: float, log_phi: Callable[[np.ndarray], np.ndarray],
                                  nodes: int) -> float:
    """ln E[exp(log_phi(X_T))], X_T = xi + sqrt(2) W_T, by the tensor Gauss-Hermite rule
    with ``nodes`` points per coordinate (nodes^d points, in blocks), in log space.
    ``log_phi`` takes points of shape (d, n) (component-first)."""
    from scipy.special import logsumexp, roots_hermitenorm
    d = xi.size
    z, w = roots_hermitenorm(nodes)                  # weight exp(-z^2 / 2); stable for large n
    with np.errstate(divide="ignore"):               # far nodes' weights underflow to 0
        logw = np.log(w / math.sqrt(2.0 * math.pi))
    total = nodes ** d
    parts = []
    block = 200_000
    for start in range(0, total, block):
        idx = np.arange(start, min(start + block, total))
        digits = np.empty((d, idx.size), dtype=np.int64)
        rest = idx
        for k in range(d):
            digits[k] = rest % nodes
            rest = rest // nodes
        x = xi[:, None] + math.sqrt(2.0 * T) * z[digits]
        lp = np.asarray(log_phi(x), dtype=float) + logw[digits].sum(axis=0)
        parts.append(logsumexp(lp))
    return float(logsumexp(np.array(parts)))


@dataclass(frozen=True)
class ColeHopf(Solver):
    """Cole-Hopf for any problem with the ``hjb`` capability (f = -lam |∇u|^2,
    the Laplacian): u(0, xi) = -1/lam ln E[exp(-lam g(xi + sqrt(2) W_T))].

    * the built-in ``hjb``: its g = ln((1 + |x|^2) / 2), by the 1D quadrature;
    * a user's problem (Semilinear(hjb=lam, g=...)) with ``radial=True``
      declared: the same 1D quadrature on its own g(|x|^2);
    * otherwise its own g by the tensor Gauss-Hermite rule with ``nodes``
      points per coordinate (0: the most with nodes^d <= ``max_points``, at
      most 400); the rule with about 2/3 of the nodes gives the error estimate
      ``stats["gh_error"]``.  A d too large for at least 12 nodes is refused.

    ``tol`` is QUADPACK's relative tolerance."""

    name = "cole-hopf"
    requires = ("semilinear", "hjb")

    tol: float = opt(1e-13, lo=1e-15, hi=1e-3)
    nodes: int = opt(0, lo=0, hi=1000)
    max_points: int = opt(2_000_000, lo=1, hi=10**9)

    def _nodes(self, d: int) -> int:
        if self.nodes:
            return self.nodes
        n = 400
        while n > 1 and n ** d > self.max_points:
            n -= 1
        return n

    def check_problem(self, problem: Problem) -> None:
        super().check_problem(problem)
        p: Any = problem
        if p.user_functions() is not None and not p.radial and self._nodes(p.d) < 12:
            raise InvalidOption(f"solver 'cole-hopf' cannot solve problem {p.name!r}: d={p.d} is too large for "
                                f"the tensor Gauss-Hermite rule (nodes^d <= max_points={self.max_points}); "
                                "declare radial=True if g depends on |x|^2 only")

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        t0 = time.perf_counter()
        p: Any = problem
        stats: dict[str, Any] = {"solver": self.name}
        if p.user_functions() is None:        # the built-in hjb: its own g, radial
            value = cole_hopf_value(p.d, p.T, p.lam, float(p.d * p.x0 ** 2), tol=self.tol)

            def fn(x: np.ndarray) -> np.ndarray:
                r = np.sum(np.atleast_2d(x) ** 2, axis=1)
                return np.array([cole_hopf_value(p.d, p.T, p.lam, float(ri), tol=self.tol) for ri in r])
        else:
            lam = float(p.hjb)
            if lam == 0.0:
                raise InvalidOption(f"solver 'cole-hopf' cannot solve problem {p.name!r}: hjb=0 is the heat "
                                    "equation (use multilevel-picard or monte-carlo)")

            def at(x0: np.ndarray) -> float:
                if p.radial:
                    log_e = log_radial_expectation(p.d, p.T, float(x0 @ x0), lambda r: -lam * p.g_radial(r),
                                                   tol=self.tol)
                    return -log_e / lam
                log_phi = lambda x: -lam * np.asarray(p.g_xp(x, np), dtype=float)  # noqa: E731
                n = self._nodes(p.d)
                v = -gauss_hermite_log_expectation(x0, p.T, log_phi, n) / lam
                if "gh_error" not in stats:
                    coarse = -gauss_hermite_log_expectation(x0, p.T, log_phi, max(2, (2 * n) // 3)) / lam
                    stats.update(gh_nodes=n, gh_error=abs(v - coarse))
                return v

            value = at(np.asarray(p.xi(), dtype=float))

            def fn(x: np.ndarray) -> np.ndarray:
                return np.array([at(np.asarray(xk, dtype=float)) for xk in np.atleast_2d(x)])

        stats["wall_s"] = time.perf_counter() - t0
        return Solution(fn=fn, value=value, stats=stats)
