"""Numba Monte Carlo kernels for a user's Kolmogorov problem (imported by monte_carlo.py).

The user's functions (initial value, drift, diffusion) are compiled once per
problem with :func:`sciml.userfn.njit_xp` and called on all points of one path
at once: Y has shape (d, N), component-first, so a function written with
``xp.sum(x * x, axis=0)`` runs vectorised over the points.  As in the preset
kernels, the paths' normals are shared by all points (common random
numbers) and chunk c is seeded with ``seeds[c]``, so the numbers do not depend
on the thread count.

Two samplers:

* exact (constant drift mu and diffusion factor S = diag(s0) L):
  Y = x + mu T + sqrt(T) S Z;
* Euler-Maruyama with ``steps`` steps: Y <- Y + b(t, Y) dt + sigma(t, Y) dW,
  sigma the diagonal (d, N) or the full matrix (d, d, N).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..userfn import njit_xp

_CACHE: dict[tuple[Any, ...], Any] = {}


def kernel(problem: Any, *, exact: bool) -> Any:
    """The compiled ``chunk_sums`` for ``problem`` (cached per set of functions):
    the exact Gaussian sampler, or Euler-Maruyama."""
    fns = problem.user_functions()
    full = bool(getattr(problem, "full_diffusion", False))
    key = (id(fns["initial"]), id(fns["drift"]), id(fns["diffusion"]), problem.d, exact, full)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is fns["initial"]:
        return hit[1]
    k = _build(problem, fns, exact, full)
    _CACHE[key] = (fns["initial"], k, fns)   # keep the functions alive: ids stay unique
    return k


def _build(problem: Any, fns: dict[str, Any], exact: bool, full: bool) -> Any:
    import numba as nb

    d, own = problem.d, problem.name
    x_ex = np.full((d, 3), 0.5 * (problem.a + problem.b))
    phi = njit_xp(own, "initial", fns["initial"], (x_ex,))

    if exact:
        from .._fuse import fuse_shifted
        rng = np.random.default_rng(3)
        fused = fuse_shifted(fns["initial"], d, rng.uniform(problem.a, problem.b, size=(d, 7)))
        if fused is not None:
            return _exact_kernel(d, *fused)

        @nb.njit
        def shifted(xT, g, acc, Y):   # acc += phi(xT + g), with Y (d, N) as the buffer
            for i in range(d):
                for n in range(xT.shape[1]):
                    Y[i, n] = xT[i, n] + g[i]
            acc += phi(Y)
        return _exact_kernel(d, shifted, d)

    drift, diff = fns["drift"], fns["diffusion"]
    const_drift = problem.drift_vector()
    const_sigma = problem.sigma_matrix()
    if const_drift is None:
        b = njit_xp(own, "drift", drift, (0.0, x_ex))
    else:
        mu = np.ascontiguousarray(const_drift)

        @nb.njit
        def b(t, Y):
            out = np.empty_like(Y)
            for i in range(Y.shape[0]):
                out[i, :] = mu[i]
            return out
    if const_sigma is None:
        sig = njit_xp(own, "diffusion", diff, (0.0, x_ex))
    else:
        Sc = np.ascontiguousarray(const_sigma)
        full = True

        @nb.njit
        def sig(t, Y):
            out = np.empty((Y.shape[0], Y.shape[0], Y.shape[1]))
            for i in range(Y.shape[0]):
                for j in range(Y.shape[0]):
                    out[i, j, :] = Sc[i, j]
            return out

    @nb.njit
    def update_full(Y, bb, ss, zk, dt, sqs):
        for i in range(Y.shape[0]):
            for n in range(Y.shape[1]):
                w = 0.0
                for j in range(Y.shape[0]):
                    w += ss[i, j, n] * zk[j]
                Y[i, n] += bb[i, n] * dt + sqs * w

    @nb.njit
    def update_diag(Y, bb, ss, zk, dt, sqs):
        for i in range(Y.shape[0]):
            for n in range(Y.shape[1]):
                Y[i, n] += bb[i, n] * dt + sqs * ss[i, n] * zk[i]

    update = update_full if full else update_diag

    @nb.njit(parallel=True)
    def chunk_sums_euler(x, seeds, counts, steps, T, shift, S, antithetic):
        n_chunks = seeds.shape[0]
        N = x.shape[0]
        xT = np.ascontiguousarray(x.T)
        S1 = np.zeros((n_chunks, N))
        S2 = np.zeros((n_chunks, N))
        n_sign = 2 if antithetic else 1
        dt = T / steps
        sq = math.sqrt(dt)
        for c in nb.prange(n_chunks):
            np.random.seed(seeds[c])
            z = np.empty((steps, d))
            Y = np.empty((d, N))
            acc = np.zeros(N)
            for _ in range(counts[c]):
                for k in range(steps):
                    for i in range(d):
                        z[k, i] = np.random.standard_normal()
                acc[:] = 0.0
                for sgn_i in range(n_sign):
                    sgn = 1.0 - 2.0 * sgn_i
                    for i in range(d):
                        for n in range(N):
                            Y[i, n] = xT[i, n]
                    for k in range(steps):
                        t = k * dt
                        update(Y, b(t, Y), sig(t, Y), z[k], dt, sq * sgn)
                    acc += phi(Y)
                for n in range(N):
                    v = acc[n] / n_sign
                    S1[c, n] += v
                    S2[c, n] += v * v
        return S1, S2
    return chunk_sums_euler


def _exact_kernel(d: int, shifted: Any, rows: int) -> Any:
    """The exact sampler: per path, ``shifted(xT, g, acc, t)`` adds phi(x + g) at every
    point to acc (a fused loop nest from sciml._fuse, or the compiled phi on a buffer),
    ``t`` a (rows, N) work array."""
    import numba as nb

    @nb.njit(parallel=True)
    def chunk_sums(x, seeds, counts, steps, T, shift, S, antithetic):
        n_chunks = seeds.shape[0]
        N = x.shape[0]
        xT = np.ascontiguousarray(x.T)
        S1 = np.zeros((n_chunks, N))
        S2 = np.zeros((n_chunks, N))
        n_sign = 2 if antithetic else 1
        sq = math.sqrt(T)
        for c in nb.prange(n_chunks):
            np.random.seed(seeds[c])
            z = np.empty(d)
            g = np.empty(d)
            t = np.empty((rows, N))
            acc = np.zeros(N)
            for _ in range(counts[c]):
                for i in range(d):
                    z[i] = np.random.standard_normal()
                acc[:] = 0.0
                for sgn_i in range(n_sign):
                    sgn = 1.0 - 2.0 * sgn_i
                    for i in range(d):
                        s = 0.0
                        for j in range(d):
                            s += S[i, j] * z[j]
                        g[i] = shift[i] * T + sq * sgn * s
                    shifted(xT, g, acc, t)
                for n in range(N):
                    v = acc[n] / n_sign
                    S1[c, n] += v
                    S2[c, n] += v * v
        return S1, S2
    return chunk_sums
