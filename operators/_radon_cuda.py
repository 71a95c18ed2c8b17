"""Numba CUDA kernels of the Joseph parallel-beam projector (see operators.radon).

The same matrix as the CPU kernels of ``_radon_numba``:

    A[(a, k), (i, j)] = (h / m) * hat((s_k - p) / (h m)),   m = max(|cos|, |sin|),

with one GPU thread per output entry, so every kernel is a gather without
write races and without atomics:

* :func:`forward_kernel`: one thread per ray (b, a, k) walks the rows (or the
  columns) of a zero-bordered image and interpolates linearly, exactly as the
  CPU ray walker (same start/stop rows, same positions);
* :func:`adjoint_kernel`: one thread per pixel (b, i, j) gathers the detector
  bins under its footprint for every angle (the CPU ``adjoint_any`` formula),
  so it is the exact transpose of the forward kernel up to rounding;
* :func:`backproject_kernel`: the FBP back-projector (linear interpolation of
  the filtered projections at each pixel centre's projection).

A thread's result does not depend on the launch configuration (the block
size only decides which threads run together).  Host wrappers take NumPy
arrays or device arrays; with device arrays nothing is copied, which is how
``scripts/gpu_check.py`` measures the kernels.  Without a GPU the kernels run
on Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), which the tests use.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ._radon_numba import BORDER

#: threads per block unless a caller chooses (results do not depend on it)
THREADS = 128


@cuda.jit(device=True)
def _walk_range(c0, r, n):  # pragma: no cover - compiled
    """First and last i in [0, n) with BORDER - 1 < c0 - i r < n + BORDER (as the CPU kernel)."""
    lo_pos = BORDER - 1.0
    hi_pos = n + BORDER
    if r == 0.0:
        if lo_pos < c0 and c0 < hi_pos:
            return 0, n - 1
        return 0, -1
    ia = (c0 - lo_pos) / r
    ib = (c0 - hi_pos) / r
    if ia > ib:
        ia, ib = ib, ia
    ia = max(ia, -1.0)
    ib = min(ib, float(n))
    lo = max(0, int(math.floor(ia)))
    hi = min(n - 1, int(math.ceil(ib)))
    while lo <= hi and not (lo_pos < c0 - lo * r and c0 - lo * r < hi_pos):
        lo += 1
    while hi >= lo and not (lo_pos < c0 - hi * r and c0 - hi * r < hi_pos):
        hi -= 1
    return lo, hi


@cuda.jit
def forward_kernel(pimg, cos, sin, s0, ds, h, out):  # pragma: no cover - compiled
    """pimg (B, n + 4, n + 4) with a zero border of 2 -> out (B, A, D); one thread per ray."""
    job = cuda.grid(1)
    nb, na, nd = out.shape
    if job >= nb * na * nd:
        return
    b = job // (na * nd)
    rest = job - b * (na * nd)
    a = rest // nd
    k = rest - a * nd
    n = pimg.shape[1] - 2 * BORDER
    t0 = -1.0 + 0.5 * h
    c = cos[a]
    sn = sin[a]
    rows = abs(c) >= abs(sn)
    if rows:
        u, v = c, sn
    else:
        u, v = sn, c
    scale = h / abs(u)
    r = v / u
    c0 = ((s0 + k * ds) / u + 1.0) / h - 0.5 + BORDER - t0 * r / h
    lo, hi = _walk_range(c0, r, n)
    acc = 0.0
    for i in range(lo, hi + 1):
        jf = c0 - i * r
        j0 = math.floor(jf)
        fr = jf - j0
        jj = int(j0)
        if rows:
            p0 = pimg[b, i + BORDER, jj]
            p1 = pimg[b, i + BORDER, jj + 1]
        else:
            p0 = pimg[b, jj, i + BORDER]
            p1 = pimg[b, jj + 1, i + BORDER]
        acc += p0 + fr * (p1 - p0)
    out[b, a, k] = acc * scale


@cuda.jit
def adjoint_kernel(sino, cos, sin, s, h, out):  # pragma: no cover - compiled
    """sino (B, A, D) -> out (B, n, n): the transpose of forward; one thread per pixel."""
    job = cuda.grid(1)
    nb, n, _ = out.shape
    if job >= nb * n * n:
        return
    b = job // (n * n)
    rest = job - b * (n * n)
    i = rest // n
    j = rest - i * n
    na = sino.shape[1]
    nd = sino.shape[2]
    s0 = s[0]
    ds = s[1] - s[0] if nd > 1 else 1.0
    y = -1.0 + (i + 0.5) * h
    x = -1.0 + (j + 0.5) * h
    acc = 0.0
    for a in range(na):
        c = cos[a]
        sn = sin[a]
        m = max(abs(c), abs(sn))
        w = h * m
        p = x * c + y * sn
        kmin = max(0, int(math.ceil((p - w - s0) / ds)))
        kmax = min(nd - 1, int(math.floor((p + w - s0) / ds)))
        part = 0.0
        for k in range(kmin, kmax + 1):
            t = 1.0 - abs(s[k] - p) / w
            if t > 0.0:
                part += t * sino[b, a, k]
        acc += part * (h / m)
    out[b, i, j] = acc


@cuda.jit
def backproject_kernel(q, cos, sin, s0, ds, h, out):  # pragma: no cover - compiled
    """out[b, i, j] = sum_a q_a(x_j cos + y_i sin), q (B, A, D) linearly interpolated
    between detector centres, zero outside (the FBP back-projector)."""
    job = cuda.grid(1)
    nb, n, _ = out.shape
    if job >= nb * n * n:
        return
    b = job // (n * n)
    rest = job - b * (n * n)
    i = rest // n
    j = rest - i * n
    na = q.shape[1]
    nd = q.shape[2]
    y = -1.0 + (i + 0.5) * h
    x = -1.0 + (j + 0.5) * h
    acc = 0.0
    for a in range(na):
        kf = (x * cos[a] + y * sin[a] - s0) / ds
        k0 = math.floor(kf)
        fr = kf - k0
        kk = int(k0)
        if kk >= 0 and kk < nd:
            acc += (1.0 - fr) * q[b, a, kk]
        if kk + 1 >= 0 and kk + 1 < nd:
            acc += fr * q[b, a, kk + 1]
    out[b, i, j] = acc


# ------------------------------------------------------------------ launchers
def _blocks(total: int, threads: int) -> int:
    return max(1, (total + threads - 1) // threads)


def _is_device_array(x) -> bool:
    return cuda.is_cuda_array(x) and not isinstance(x, np.ndarray)


def forward(pimg, cos, sin, s0, ds, h, out, threads: int = THREADS) -> None:
    """Launch :func:`forward_kernel` (arguments as it; NumPy or device arrays)."""
    total = out.shape[0] * out.shape[1] * out.shape[2]
    forward_kernel[_blocks(total, threads), threads](pimg, cos, sin, s0, ds, h, out)


def adjoint(sino, cos, sin, s, h, out, threads: int = THREADS) -> None:
    """Launch :func:`adjoint_kernel`."""
    total = out.shape[0] * out.shape[1] * out.shape[2]
    adjoint_kernel[_blocks(total, threads), threads](sino, cos, sin, s, h, out)


def backproject(q, cos, sin, s0, ds, h, out, threads: int = THREADS) -> None:
    """Launch :func:`backproject_kernel`."""
    total = out.shape[0] * out.shape[1] * out.shape[2]
    backproject_kernel[_blocks(total, threads), threads](q, cos, sin, s0, ds, h, out)


def on_device(index: int):
    """Context manager making GPU ``index`` current (``cuda:N``)."""
    return cuda.gpus[index]


def run_host(kernel_launch, host_in: np.ndarray, out_shape: tuple[int, ...], dtype, *args,
             index: int = 0, threads: int = THREADS) -> np.ndarray:
    """Copy ``host_in`` to GPU ``index``, launch, and copy the result back."""
    with on_device(index):
        d_in = cuda.to_device(np.ascontiguousarray(host_in))
        d_args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
        d_out = cuda.device_array(out_shape, dtype=dtype)
        kernel_launch(d_in, *d_args, d_out, threads=threads)
        return d_out.copy_to_host()
