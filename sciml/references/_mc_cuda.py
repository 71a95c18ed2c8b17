"""Numba CUDA kernels of the Monte Carlo reference (``monte-carlo`` with device="cuda").

The same estimator as ``_mc_kernels`` (Feynman-Kac, exact sampling or
Euler-Maruyama for the affine-diagonal class, optional antithetic pairs,
paths shared by all points), with one GPU thread per path and counter-based
random numbers, so that every path's numbers are a function of
(seed, path index) alone:

* **Philox4x32-10** (Salmon, Moraes, Dror and Shaw, "Parallel random numbers:
  as easy as 1, 2, 3", SC 2011): a 10-round bijection of a 128-bit counter
  under a 64-bit key.  Key = the seed; counter = (c, path low 32 bits, path
  high 32 bits, 0), where c numbers the Philox calls of the path: the
  normals of Euler step k (or of the exact draw, k = 0) use
  c = k * ceil(d / 2) + i // 2, and coordinate i takes the (i mod 2)-th
  normal of that call.  It is checked against Random123's known-answer
  vectors in the tests.
* A call's four 32-bit words give two 53-bit uniforms u1, u2 and, by the
  Box-Muller transform, two independent standard normals
  sqrt(-2 ln(1 - u1)) (cos 2 pi u2, sin 2 pi u2).

Sums are deterministic whatever the launch configuration: a thread writes
its path's value per point, a second kernel sums fixed segments of ``SEG``
consecutive paths in path order, and the host adds the segment sums in path
order.  So the same seed gives the same estimate for any block size and any
number of paths per launch (which only bounds the GPU memory in use).  The
random streams differ from the CPU kernels' (xoshiro/Mersenne per chunk):
the two agree within their standard errors, not to rounding.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import cuda

__all__ = ["philox4x32", "normal_pair", "path_sums", "SEG", "THREADS"]

#: paths per reduction segment (fixed: it decides the summation order)
SEG = 256
#: threads per block unless a caller chooses (results do not depend on it)
THREADS = 128
#: GPU memory for one launch's buffers (paths per launch follow from it)
BUDGET_BYTES = 1 << 28
MAX_PATHS = 1 << 20

EXACT, EULER = 0, 1       # as _mc_kernels
BROWNIAN, GBM = 0, 1

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_S21 = np.uint64(21)
_S11 = np.uint64(11)
_TWO53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * math.pi


def _philox_body(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter (c0..c3) under key (k0, k1); all uint64 holding 32-bit words."""
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


def _normal_pair_body(c, plo, phi, k0, k1):
    """Two standard normals from the Philox call with counter (c, plo, phi, 0)."""
    w0, w1, w2, w3 = philox4x32(c, plo, phi, np.uint64(0), k0, k1)
    u1 = float((w0 << _S21) | (w1 >> _S11)) * _TWO53
    u2 = float((w2 << _S21) | (w3 >> _S11)) * _TWO53
    r = math.sqrt(-2.0 * math.log(1.0 - u1))
    return r * math.cos(_TWO_PI * u2), r * math.sin(_TWO_PI * u2)


# one definition, two targets: the GPU device functions, and CPU twins for tests
philox4x32 = cuda.jit(device=True)(_philox_body)
normal_pair = cuda.jit(device=True)(_normal_pair_body)
philox4x32_cpu = nb.njit(cache=True)(_philox_body)


@cuda.jit(device=True)
def _y(x, n, buf, off, i, p, mode):
    """Coordinate i of the path's end point for point n: x + g, x * g (exact; g = buf[off + i, p])
    or buf[off + i, p] itself (Euler)."""
    if mode == 0:
        return x[n, i] + buf[off + i, p]
    if mode == 1:
        return x[n, i] * buf[off + i, p]
    return buf[off + i, p]


@cuda.jit(device=True)
def _payoff(x, n, buf, off, p, d, mode, code, K):
    """phi(X_T) with X_T given by :func:`_y` (codes as problems.kolmogorov.PAYOFF_CODES)."""
    if code <= 1:  # paraboloid, gaussian
        s = 0.0
        for i in range(d):
            v = _y(x, n, buf, off, i, p, mode)
            s += v * v
        return s if code == 0 else math.exp(-s)
    if code == 2:  # call on asset 1
        return max(_y(x, n, buf, off, 0, p, mode) - K, 0.0)
    m = _y(x, n, buf, off, 0, p, mode)
    for i in range(1, d):
        v = _y(x, n, buf, off, i, p, mode)
        m = max(m, v) if code == 3 else min(m, v)
    return max(m - K, 0.0) if code == 3 else max(K - m, 0.0)


@cuda.jit
def paths_kernel(x, k0, k1, first, npaths, kind, scheme, steps, T, drift, s0, s1, L, diag,
                 antithetic, code, K, wbuf, gbuf, vals):  # pragma: no cover - compiled
    """vals[n, p] <- the sample of path first + p at point n (the pair mean if antithetic).

    wbuf (steps d, P): the path's correlated normals w = L z per step;
    gbuf (2 d, P): the exact factor per sign, or the Euler state."""
    p = cuda.grid(1)
    if p >= npaths:
        return
    N = x.shape[0]
    d = x.shape[1]
    path = np.uint64(first + p)
    plo = path & _MASK
    phi = path >> _S32
    H = (d + 1) // 2
    for k in range(steps):
        base = k * d
        for h in range(H):
            z0, z1 = normal_pair(np.uint64(k * H + h), plo, phi, k0, k1)
            wbuf[base + 2 * h, p] = z0
            if 2 * h + 1 < d:
                wbuf[base + 2 * h + 1, p] = z1
        if diag:
            for i in range(d):
                wbuf[base + i, p] *= L[i, i]
        else:  # w = L z in place, from the last row up (row i reads z_0..z_i only)
            for ii in range(d):
                i = d - 1 - ii
                acc = 0.0
                for j in range(i + 1):
                    acc += L[i, j] * wbuf[base + j, p]
                wbuf[base + i, p] = acc
    nsign = 2 if antithetic else 1
    dt = T / steps
    sq = math.sqrt(dt)
    if scheme == EXACT:
        rt = math.sqrt(T)
        for sg in range(nsign):
            sgn = 1.0 - 2.0 * sg
            for i in range(d):
                if kind == BROWNIAN:
                    gbuf[sg * d + i, p] = s0[i] * rt * sgn * wbuf[i, p]
                else:
                    gbuf[sg * d + i, p] = math.exp((drift[i] - 0.5 * s1[i] * s1[i]) * T
                                                   + s1[i] * rt * sgn * wbuf[i, p])
        for n in range(N):
            acc = _payoff(x, n, gbuf, 0, p, d, kind, code, K)
            if antithetic:  # the second sign's factors sit d rows further down
                acc += _payoff(x, n, gbuf, d, p, d, kind, code, K)
            vals[n, p] = acc / nsign
    else:
        for n in range(N):
            acc = 0.0
            for sg in range(nsign):
                sgn = 1.0 - 2.0 * sg
                for i in range(d):
                    gbuf[i, p] = x[n, i]
                for k in range(steps):
                    for i in range(d):
                        y = gbuf[i, p]
                        gbuf[i, p] = y + drift[i] * y * dt + (s0[i] + s1[i] * y) * sq * sgn * wbuf[k * d + i, p]
                acc += _payoff(x, n, gbuf, 0, p, d, 2, code, K)
            vals[n, p] = acc / nsign


@cuda.jit
def segment_kernel(vals, npaths, out1, out2):  # pragma: no cover - compiled
    """out1[s, n], out2[s, n] <- sums of vals[n, p] and of its squares over segment s, in path order."""
    t = cuda.grid(1)
    nseg = out1.shape[0]
    N = out1.shape[1]
    if t >= nseg * N:
        return
    n = t // nseg
    s = t - n * nseg
    a = 0.0
    b = 0.0
    for p in range(s * SEG, min((s + 1) * SEG, npaths)):
        v = vals[n, p]
        a += v
        b += v * v
    out1[s, n] = a
    out2[s, n] = b


def _paths_per_launch(N: int, d: int, steps: int, count: int) -> int:
    per_path = 8 * (N + steps * d + 2 * d)
    P = max(SEG, min(MAX_PATHS, BUDGET_BYTES // per_path) // SEG * SEG)
    return min(P, -(-count // SEG) * SEG)


def path_sums(x, seed, first, count, kind, scheme, steps, T, drift, s0, s1, L, antithetic, code, K,
              *, index: int = 0, threads: int = THREADS, paths_per_launch: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """(S1, S2), each (N,): sums over paths first .. first + count - 1 of the samples at
    the points x (N, d) and of their squares (arguments after ``count`` as
    ``_mc_kernels.chunk_sums``).  ``index``: the GPU; ``threads`` and
    ``paths_per_launch`` (a multiple of SEG) change the launches, never the result."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    N, d = x.shape
    seed = int(seed)
    if not 0 <= seed < 1 << 64:
        raise ValueError(f"seed={seed} must be in [0, 2^64)")
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    L = np.ascontiguousarray(L, dtype=np.float64)
    diag = int(np.array_equal(L, np.diag(np.diag(L))))
    P = paths_per_launch or _paths_per_launch(N, d, steps, count)
    if P % SEG:
        raise ValueError(f"paths_per_launch={P} must be a multiple of {SEG}")
    S1 = np.zeros(N)
    S2 = np.zeros(N)
    with cuda.gpus[index]:
        dx, ddrift, ds0, ds1, dL = (cuda.to_device(np.ascontiguousarray(a, dtype=np.float64))
                                    for a in (x, drift, s0, s1, L))
        wbuf = cuda.device_array((steps * d, P))
        gbuf = cuda.device_array((2 * d, P))
        vals = cuda.device_array((N, P))
        for start in range(0, int(count), P):
            m = min(P, int(count) - start)
            paths_kernel[(m + threads - 1) // threads, threads](
                dx, k0, k1, int(first) + start, m, int(kind), int(scheme), int(steps), float(T),
                ddrift, ds0, ds1, dL, diag, int(bool(antithetic)), int(code), float(K), wbuf, gbuf, vals)
            nseg = -(-m // SEG)
            o1 = cuda.device_array((nseg, N))
            o2 = cuda.device_array((nseg, N))
            segment_kernel[(nseg * N + threads - 1) // threads, threads](vals, m, o1, o2)
            h1, h2 = o1.copy_to_host(), o2.copy_to_host()
            for s in range(nseg):  # path order: the sum does not depend on P
                S1 += h1[s]
                S2 += h2[s]
    return S1, S2
