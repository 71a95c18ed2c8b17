"""Closed-form and quadrature prices of European options on geometric Brownian
motions: the Black-Scholes-Merton call and the call on the maximum of d
independent assets.  The exact references of :class:`problems.kolmogorov.BlackScholes`."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["black_scholes_call", "max_call_price"]


def black_scholes_call(x: np.ndarray, K: float, r: float, q: float, sigma: float, T: float) -> np.ndarray:
    """European call with continuous dividend yield q (Black-Scholes-Merton):
    x e^{-qT} N(d1) - K e^{-rT} N(d2), d1,2 = (log(x/K) + (r - q ± sigma²/2) T) / (sigma sqrt T)."""
    from scipy.special import ndtr
    x = np.asarray(x, dtype=float)
    sd = sigma * math.sqrt(T)
    d1 = (np.log(x / K) + (r - q + 0.5 * sigma * sigma) * T) / sd
    d2 = d1 - sd
    return x * math.exp(-q * T) * ndtr(d1) - K * math.exp(-r * T) * ndtr(d2)


def max_call_price(x: np.ndarray, K: float, r: float, q: float, vols: np.ndarray, T: float,
                   panels: int = 48, order: int = 16) -> np.ndarray:
    """Price of a call on the maximum of d independent GBMs at spots x (N, d).

    e^{-rT} E[(max_i X_i - K)^+] = e^{-rT} ∫_K^∞ P(max_i X_i > y) dy
                                 = e^{-rT} ∫_{log K}^{s_max} (1 - Π_i F_i(e^s)) e^s ds,
    F_i(y) = N((log(y / x_i) - (r - q - sigma_i²/2) T) / (sigma_i sqrt T)).  The
    integrand is analytic; s_max = max_i(mean_i + 12 sd_i) cuts a tail below 1e-30.
    1 - Π F_i is formed as -expm1(Σ log F_i) so it keeps its relative accuracy in the tail.
    """
    from scipy.special import log_ndtr
    x = np.atleast_2d(np.asarray(x, dtype=float))
    vols = np.broadcast_to(np.asarray(vols, dtype=float), (x.shape[1],))
    sd = vols * math.sqrt(T)
    mean = np.log(x) + (r - q - 0.5 * vols ** 2) * T           # (N, d) mean of log X_T
    s_lo = math.log(K)
    s_hi = np.maximum(np.max(mean + 12.0 * sd, axis=1), s_lo)  # (N,)
    t, w = np.polynomial.legendre.leggauss(order)
    t = (t + 1.0) / 2.0
    w = w / 2.0
    edges = np.linspace(0.0, 1.0, panels + 1)
    tt = (edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * t[None, :]).reshape(-1)
    ww = np.repeat(np.diff(edges), order) * np.tile(w, panels)
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], 256):  # bound the (points, nodes, d) temporary
        sl = slice(start, start + 256)
        length = s_hi[sl] - s_lo
        s = s_lo + length[:, None] * tt[None, :]                            # (n, nodes)
        logF = log_ndtr((s[:, :, None] - mean[sl, None, :]) / sd).sum(axis=2)
        integrand = -np.expm1(logF) * np.exp(s)
        out[sl] = length * (integrand @ ww)
    return math.exp(-r * T) * out
