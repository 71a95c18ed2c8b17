"""Numba kernels of the Monte Carlo reference (imported only by monte_carlo.py).

One call of :func:`chunk_sums` simulates ``counts[c]`` samples in chunk c,
seeded with ``seeds[c]`` at the start of the chunk, so the numbers depend on
the chunking only, never on which thread ran a chunk.  Paths are shared by
all points (common random numbers): every point's estimator is still an
unbiased Monte Carlo estimator with its own standard error, and the Brownian
increments are drawn once per path instead of once per (path, point).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

EXACT = 0
EULER = 1
BROWNIAN = 0
GBM = 1


@nb.njit(cache=True, inline="always")
def _phi(y: np.ndarray, code: int, K: float) -> float:
    d = y.shape[0]
    if code == 0 or code == 1:  # paraboloid, gaussian
        s = 0.0
        for i in range(d):
            s += y[i] * y[i]
        return s if code == 0 else math.exp(-s)
    if code == 2:  # call on asset 1
        return max(y[0] - K, 0.0)
    if code == 3:  # call on the maximum
        m = y[0]
        for i in range(1, d):
            m = max(m, y[i])
        return max(m - K, 0.0)
    m = y[0]  # put on the minimum
    for i in range(1, d):
        m = min(m, y[i])
    return max(K - m, 0.0)


@nb.njit(cache=True, inline="always")
def _fold(tmp: np.ndarray, xrow: np.ndarray, gi: float, mult: bool, code: int, first: bool) -> None:
    """tmp[n] <- tmp[n] (op) y_i[n] with y_i = x_i + g_i or x_i * g_i, for all points n.

    The loop runs over points (contiguous), so it vectorises; ``op`` is + of
    squares (paraboloid, gaussian), max (max-call), min (put-min), or the
    first coordinate (call)."""
    N = tmp.shape[0]
    if code <= 1:
        for n in range(N):
            v = xrow[n] * gi if mult else xrow[n] + gi
            tmp[n] = v * v if first else tmp[n] + v * v
    elif code == 3:
        for n in range(N):
            v = xrow[n] * gi if mult else xrow[n] + gi
            tmp[n] = v if first else max(tmp[n], v)
    elif code == 4:
        for n in range(N):
            v = xrow[n] * gi if mult else xrow[n] + gi
            tmp[n] = v if first else min(tmp[n], v)
    elif first:  # call: only the first coordinate matters
        for n in range(N):
            tmp[n] = xrow[n] * gi if mult else xrow[n] + gi


@nb.njit(cache=True, inline="always")
def _finish(v: float, code: int, K: float) -> float:
    if code == 0:
        return v
    if code == 1:
        return math.exp(-v)
    if code == 4:
        return max(K - v, 0.0)
    return max(v - K, 0.0)


@nb.njit(cache=True, parallel=True)
def chunk_sums(x, seeds, counts, kind, scheme, steps, T, drift, s0, s1, L, antithetic, code, K):
    """Per-chunk sums of the samples and of their squares at each point.

    x (N, d) points; a sample is phi(X_T) for one path (or the mean over an
    antithetic pair Z, -Z).  Returns (S1, S2), each (n_chunks, N).
    """
    n_chunks = seeds.shape[0]
    N, d = x.shape
    xT = np.ascontiguousarray(x.T)  # coordinates by rows: inner loops run over points
    S1 = np.zeros((n_chunks, N))
    S2 = np.zeros((n_chunks, N))
    dt = T / steps
    sq = math.sqrt(dt)
    n_sign = 2 if antithetic else 1
    for c in nb.prange(n_chunks):
        np.random.seed(seeds[c])
        z = np.empty((steps, d))
        w = np.empty((steps, d))
        g = np.empty(d)
        y = np.empty(d)
        tmp = np.empty(N)
        acc = np.zeros(N)
        for _ in range(counts[c]):
            for k in range(steps):
                for i in range(d):
                    z[k, i] = np.random.standard_normal()
                for i in range(d):  # w = L z: correlated increments per unit time
                    s = 0.0
                    for j in range(i + 1):
                        s += L[i, j] * z[k, j]
                    w[k, i] = s
            for n in range(N):
                acc[n] = 0.0
            for sgn_i in range(n_sign):
                sgn = 1.0 - 2.0 * sgn_i
                if scheme == EXACT:
                    # the per-path factor g, shared by all points: X_T = x + g or x * g
                    for i in range(d):
                        if kind == BROWNIAN:
                            g[i] = s0[i] * math.sqrt(T) * sgn * w[0, i]
                        else:
                            g[i] = math.exp((drift[i] - 0.5 * s1[i] * s1[i]) * T + s1[i] * math.sqrt(T) * sgn * w[0, i])
                    for i in range(d):
                        _fold(tmp, xT[i], g[i], kind == GBM, code, i == 0)
                    for n in range(N):
                        acc[n] += _finish(tmp[n], code, K)
                else:
                    for n in range(N):
                        for i in range(d):
                            y[i] = x[n, i]
                        for k in range(steps):
                            for i in range(d):
                                y[i] = y[i] + drift[i] * y[i] * dt + (s0[i] + s1[i] * y[i]) * sq * sgn * w[k, i]
                        acc[n] += _phi(y, code, K)
            for n in range(N):
                v = acc[n] / n_sign
                S1[c, n] += v
                S2[c, n] += v * v
    return S1, S2
