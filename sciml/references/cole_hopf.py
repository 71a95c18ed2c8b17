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

from ..core import InvalidOption, Problem, Solution, Solver, check_range

__all__ = ["ColeHopf", "cole_hopf_value", "radial_expectation", "log_radial_expectation"]


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


@dataclass(frozen=True)
class ColeHopf(Solver):
    """Cole-Hopf quadrature for ``hjb`` (any d, T, lam >= 0, xi); ``tol`` is
    QUADPACK's relative tolerance."""

    name = "cole-hopf"
    accepts = ("hjb",)

    tol: float = 1e-13

    def __post_init__(self) -> None:
        check_range(self, "tol", self.tol, lo=1e-15, hi=1e-3, error=InvalidOption)

    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> Solution:
        self.check_problem(problem)
        t0 = time.perf_counter()
        p: Any = problem
        value = cole_hopf_value(p.d, p.T, p.lam, float(p.d * p.x0 ** 2), tol=self.tol)

        def fn(x: np.ndarray) -> np.ndarray:
            r = np.sum(np.atleast_2d(x) ** 2, axis=1)
            return np.array([cole_hopf_value(p.d, p.T, p.lam, float(ri), tol=self.tol) for ri in r])

        return Solution(fn=fn, value=value, stats={"wall_s": time.perf_counter() - t0, "solver": self.name})
