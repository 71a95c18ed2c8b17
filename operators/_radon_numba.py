"""Numba kernels of the Joseph-type parallel-beam projector (see operators.radon).

All kernels share one matrix: for angle a with m = max(|cos|, |sin|) and the
pixel centre's projection p = x_j cos + y_i sin,

    A[(a, k), (i, j)] = (h / m) * hat((s_k - p) / (h m)),   hat(t) = max(0, 1 - |t|).

The forward kernel is ray-driven (each ray walks the rows, or the columns,
and interpolates linearly between the two pixels it passes), the adjoint is
pixel-driven (each pixel gathers the detector bins under its footprint);
both are gathers, so they parallelise without write races, and they are
exact transposes of each other up to rounding.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def forward(img, cos, sin, s, h, out):  # pragma: no cover - compiled
    """img (B, n, n) -> out (B, A, D) (overwritten)."""
    nb, n, _ = img.shape
    na = cos.shape[0]
    nd = s.shape[0]
    for job in prange(nb * na):
        b = job // na
        a = job % na
        c = cos[a]
        sn = sin[a]
        rows = abs(c) >= abs(sn)
        if rows:  # walk the rows y_i, interpolate along x
            u, v, scale = c, sn, h / abs(c)
        else:     # walk the columns x_j, interpolate along y
            u, v, scale = sn, c, h / abs(sn)
        r = v / u
        for k in range(nd):
            acc = 0.0
            # jf(i) = ((s_k - t_i v) / u + 1) / h - 1/2 with t_i = -1 + (i + 1/2) h: linear in i
            c0 = (s[k] / u + 1.0) / h - 0.5 - (-1.0 + 0.5 * h) * r / h
            for i in range(n):
                jf = c0 - i * r
                if jf <= -1.0 or jf >= n:
                    continue
                j0 = int(math.floor(jf))
                fr = jf - j0
                if rows:
                    if j0 >= 0:
                        acc += (1.0 - fr) * img[b, i, j0]
                    if j0 + 1 < n:
                        acc += fr * img[b, i, j0 + 1]
                else:
                    if j0 >= 0:
                        acc += (1.0 - fr) * img[b, j0, i]
                    if j0 + 1 < n:
                        acc += fr * img[b, j0 + 1, i]
            out[b, a, k] = acc * scale


@njit(parallel=True, cache=True)
def adjoint(sino, cos, sin, s, h, n, out):  # pragma: no cover - compiled
    """sino (B, A, D) -> out (B, n, n) (overwritten): the transpose of forward."""
    nb, na, nd = sino.shape
    s0 = s[0]
    ds = s[1] - s[0] if nd > 1 else 1.0
    for job in prange(nb * n):
        b = job // n
        i = job % n
        y = -1.0 + (i + 0.5) * h
        for j in range(n):
            x = -1.0 + (j + 0.5) * h
            acc = 0.0
            for a in range(na):
                c = cos[a]
                sn = sin[a]
                m = max(abs(c), abs(sn))
                w = h * m
                p = x * c + y * sn
                kmin = int(math.ceil((p - w - s0) / ds))
                kmax = int(math.floor((p + w - s0) / ds))
                if kmin < 0:
                    kmin = 0
                if kmax > nd - 1:
                    kmax = nd - 1
                part = 0.0
                for k in range(kmin, kmax + 1):
                    t = 1.0 - abs(s[k] - p) / w
                    if t > 0.0:
                        part += t * sino[b, a, k]
                acc += part * (h / m)
            out[b, i, j] = acc


def empty_like_out(shape, dtype):
    return np.empty(shape, dtype=dtype)


@njit(parallel=True, cache=True)
def backproject_linear(sino, cos, sin, s0, ds, h, n, out):  # pragma: no cover - compiled
    """FBP back-projection: out[b, i, j] = sum_a q_a(x_j cos + y_i sin), q linearly
    interpolated between detector centres (zero outside)."""
    nb, na, nd = sino.shape
    for job in prange(nb * n):
        b = job // n
        i = job % n
        y = -1.0 + (i + 0.5) * h
        for j in range(n):
            x = -1.0 + (j + 0.5) * h
            acc = 0.0
            for a in range(na):
                kf = (x * cos[a] + y * sin[a] - s0) / ds
                k0 = int(math.floor(kf))
                fr = kf - k0
                if 0 <= k0 < nd:
                    acc += (1.0 - fr) * sino[b, a, k0]
                if 0 <= k0 + 1 < nd:
                    acc += fr * sino[b, a, k0 + 1]
            out[b, i, j] = acc
