"""Numba kernels of the Joseph-type parallel-beam projector (see operators.radon).

All kernels share one matrix: for angle a with m = max(|cos|, |sin|) and the
pixel centre's projection p = x_j cos + y_i sin,

    A[(a, k), (i, j)] = (h / m) * hat((s_k - p) / (h m)),   hat(t) = max(0, 1 - |t|).

The forward kernel is ray-driven (each ray walks the rows, or the columns,
and interpolates linearly between the two pixels it passes), the adjoint is
pixel-driven (each pixel gathers the detector bins under its footprint);
both are gathers, so they parallelise without write races, and they are
exact transposes of each other up to rounding.

Speed: the innermost loops are reductions over contiguous index ranges
whose only memory traffic is loads, so LLVM vectorises them (SIMD gathers)
once reassociation is allowed (``_FM``: rounding-level changes only, no
assumption that values are finite).  Branches are kept out of those loops
by zero borders around the image (forward) and the sinogram (FBP), and by
computing each ray's range of rows in advance.  Detector positions are
``s0[a] + k ds`` (the geometry's formula; ``s0`` has one entry per angle, so
a rotation centre off the origin is a per-angle detector shift).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# reassoc: vectorised reductions; contract: FMA; no nnan/ninf (NaN input stays NaN)
_FM = {"reassoc", "contract", "nsz", "arcp"}

#: zero border (pixels / detector bins) around the arrays the kernels read
BORDER = 2


@njit(fastmath=_FM, cache=True)
def _walk_range(c0, r, n):  # pragma: no cover - compiled
    """First and last i in [0, n) with BORDER - 1 < c0 - i r < n + BORDER (empty: last < first).

    Computed from the bounds, then tightened with the loop's own expression,
    so the kernel's positions stay within rounding of that open interval: the
    two pixels read are always inside the bordered image."""
    lo_pos = BORDER - 1.0
    hi_pos = n + BORDER
    if r == 0.0:
        if lo_pos < c0 < hi_pos:
            return 0, n - 1
        return 0, -1
    ia = (c0 - lo_pos) / r
    ib = (c0 - hi_pos) / r
    if ia > ib:
        ia, ib = ib, ia
    ia = max(ia, -1.0)          # also keeps int() away from huge values when r ~ 0
    ib = min(ib, float(n))
    lo = max(0, int(math.floor(ia)))
    hi = min(n - 1, int(math.ceil(ib)))
    while lo <= hi and not (lo_pos < c0 - lo * r < hi_pos):
        lo += 1
    while hi >= lo and not (lo_pos < c0 - hi * r < hi_pos):
        hi -= 1
    return lo, hi


@njit(parallel=True, fastmath=_FM, cache=True)
def forward(pimg, cos, sin, s0, ds, h, out):  # pragma: no cover - compiled
    """pimg (B, n + 4, n + 4): images with a zero border of 2 -> out (B, A, D) (overwritten)."""
    nb, n4, _ = pimg.shape
    n = n4 - 2 * BORDER
    na = cos.shape[0]
    nd = out.shape[2]
    t0 = -1.0 + 0.5 * h
    for job in prange(nb * na):
        b = job // na
        a = job % na
        c = cos[a]
        sn = sin[a]
        if abs(c) >= abs(sn):  # walk the rows y_i, interpolate along x: flat index (i + 2) n4 + j
            u, v, si, sj = c, sn, float(n4), 1.0
        else:                  # walk the columns x_j, interpolate along y: flat index j n4 + (i + 2)
            u, v, si, sj = sn, c, 1.0, float(n4)
        step = np.uint64(sj)
        scale = h / abs(u)
        r = v / u
        flat = pimg[b].ravel()
        for k in range(nd):
            # position along the interpolation axis, in pixels from the border's start:
            # jf(i) = ((s_k - t_i v) / u + 1) / h - 1/2 + 2 = c0 - i r
            c0 = ((s0[a] + k * ds) / u + 1.0) / h - 0.5 + BORDER - t0 * r / h
            lo, hi = _walk_range(c0, r, n)
            acc = 0.0
            fi = float(lo)  # i as a float induction variable: no int <-> float conversions
            for _ in range(lo, hi + 1):
                jf = c0 - fi * r
                j0 = np.floor(jf)
                fr = jf - j0
                idx = np.uint64(j0 * sj + (fi + BORDER) * si)
                p0 = flat[idx]
                acc += p0 + fr * (flat[idx + step] - p0)
                fi += 1.0
            out[b, a, k] = acc * scale


@njit(parallel=True, cache=True)
def adjoint_any(sino, cos, sin, s0, ds, h, n, out):  # pragma: no cover - compiled
    """sino (B, A, D) -> out (B, n, n) (overwritten): the transpose of forward, any footprint."""
    nb, na, nd = sino.shape
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
                kmin = int(math.ceil((p - w - s0[a]) / ds))
                kmax = int(math.floor((p + w - s0[a]) / ds))
                if kmin < 0:
                    kmin = 0
                if kmax > nd - 1:
                    kmax = nd - 1
                part = 0.0
                for k in range(kmin, kmax + 1):
                    t = 1.0 - abs(s0[a] + k * ds - p) / w
                    if t > 0.0:
                        part += t * sino[b, a, k]
                acc += part * (h / m)
            out[b, i, j] = acc


#: zero border (detector bins) of the sinogram that :func:`adjoint3` reads
ADJ_BORDER = 6


@njit(parallel=True, fastmath=_FM, cache=True)
def adjoint3(psino, cos, sin, s0, ds, h, n, out):  # pragma: no cover - compiled
    """The transpose of forward when every footprint covers at most 3 bins (h m / ds <= 1.5).

    psino (B, A, D + 12): sinograms with a zero border of ADJ_BORDER bins.  In bin
    units (kf = (p - s0) / ds + border, wk = h m / ds) the pixel's footprint is the
    open interval (kf - wk, kf + wk); the three taps from floor(kf - wk) + 1 on get
    the hat weights max(0, 1 - |k - kf| / wk), so taps beyond the footprint weigh 0.
    kf is clamped to [1.5, D + 7.5]: outside it every real bin has weight 0 and
    the clamped taps fall on the border."""
    nb, na, w = psino.shape
    nd = w - 2 * ADJ_BORDER
    lo_pos = 1.5
    hi_pos = nd + 7.5
    cd = np.empty(na)
    wk = np.empty(na)
    inv = np.empty(na)
    sc = np.empty(na)
    for a in range(na):
        m = max(abs(cos[a]), abs(sin[a]))
        cd[a] = cos[a] / ds
        wk[a] = h * m / ds
        inv[a] = ds / (h * m)
        sc[a] = h / m
    for job in prange(nb * n):
        b = job // n
        i = job % n
        y = -1.0 + (i + 0.5) * h
        off = np.empty(na)
        for a in range(na):
            off[a] = (y * sin[a] - s0[a]) / ds + ADJ_BORDER
        flat = psino[b].ravel()
        for j in range(n):
            x = -1.0 + (j + 0.5) * h
            acc = 0.0
            for a in range(na):
                kf = min(max(x * cd[a] + off[a], lo_pos), hi_pos)
                k1 = math.floor(kf - wk[a]) + 1.0
                d = kf - k1  # in [wk - 1, wk): a fourth tap would need wk > 1.5
                t1 = max(0.0, 1.0 - abs(d) * inv[a])
                t2 = max(0.0, 1.0 - abs(d - 1.0) * inv[a])
                t3 = max(0.0, 1.0 - abs(d - 2.0) * inv[a])
                idx = np.uint64(k1) + np.uint64(a * w)
                acc += sc[a] * (t1 * flat[idx] + t2 * flat[idx + np.uint64(1)]
                                + t3 * flat[idx + np.uint64(2)])
            out[b, i, j] = acc


@njit(parallel=True, fastmath=_FM, cache=True)
def backproject_linear(pq, cos, sin, s0, ds, h, n, mirror, out):  # pragma: no cover - compiled
    """FBP back-projection: out[b, i, j] = sum_a q_a(x_j cos + y_i sin), q linearly
    interpolated between detector centres (zero outside).

    pq (B, A, D + 4): the filtered projections with a zero border of 2 bins; the
    position is clamped into the border, where both neighbours are zero.

    ``mirror``: the angles are symmetric about pi/2 (angle A-1-a is pi minus angle a,
    same detector offset), as on a midpoint grid over 180 degrees.  Pixel (i, n-1-j)
    at angle A-1-a then projects to the same position as pixel (i, j) at angle a,
    so each position and weight serves two pixels (about 10 % faster; same sums
    up to rounding)."""
    nb, na, w = pq.shape
    nd = w - 2 * BORDER
    lo_pos = BORDER - 1.5
    hi_pos = nd + BORDER + 0.5
    last = (na - 1) * w  # offset of the last projection
    cd = np.empty(na)
    for a in range(na):
        cd[a] = cos[a] / ds
    for job in prange(nb * n):
        b = job // n
        i = job % n
        y = -1.0 + (i + 0.5) * h
        off = np.empty(na)  # kf = (x cos + y sin - s0) / ds + BORDER = x cd + off
        for a in range(na):
            off[a] = (y * sin[a] - s0[a]) / ds + BORDER
        flat = pq[b].ravel()
        if mirror:
            for j in range((n + 1) // 2):
                x = -1.0 + (j + 0.5) * h
                acc = 0.0
                acc2 = 0.0
                aw = 0.0  # a * w, as a float induction variable
                for a in range(na):
                    kf = min(max(x * cd[a] + off[a], lo_pos), hi_pos)
                    k0 = np.floor(kf)
                    fr = kf - k0
                    idx = np.uint64(k0 + aw)
                    idx2 = np.uint64(k0 + (last - aw))
                    aw += w
                    q0 = flat[idx]
                    acc += q0 + fr * (flat[idx + np.uint64(1)] - q0)
                    r0 = flat[idx2]
                    acc2 += r0 + fr * (flat[idx2 + np.uint64(1)] - r0)
                out[b, i, n - 1 - j] = acc2
                out[b, i, j] = acc  # the middle column of an odd n: its own sum
        else:
            for j in range(n):
                x = -1.0 + (j + 0.5) * h
                acc = 0.0
                aw = 0.0
                for a in range(na):
                    kf = min(max(x * cd[a] + off[a], lo_pos), hi_pos)
                    k0 = np.floor(kf)
                    fr = kf - k0
                    idx = np.uint64(k0 + aw)
                    aw += w
                    q0 = flat[idx]
                    acc += q0 + fr * (flat[idx + np.uint64(1)] - q0)
                out[b, i, j] = acc


# ------------------------------------------------------------------ fan beam (flat detector)
#: zero border (detector bins) of the sinograms the fan-beam kernels read
FAN_BORDER = 8


@njit(parallel=True, fastmath=_FM, cache=True)
def fan_adjoint4(pz, pinv, cb, sb, R, RD, u0, du, wmax, h, n, out):  # pragma: no cover - compiled
    """The transpose of the fan-beam Joseph matrix when every footprint covers at most 4 bins.

    Ray (a, k) runs from the source R e_s through the detector point -Dd e_s + u_k e_u; a pixel x
    at L = R - x . e_s from the source projects to uc = RD (x . e_u) / L (RD = R + Dd) and lies at
    the distance L cos(gamma_k) |uc - u_k| / RD from the ray, so its weight
    (h / m) hat(distance / (h m)) is ``max(0, 1 - |kf - k| L pinv[a, k]) * (h / m)`` with kf the
    bin coordinate of uc and ``pinv = du cos(gamma_k) / (RD h m_ak)``.
    pz (B, A, D + 2 FAN_BORDER): (h / m_ak) y[a, k] with a zero border; pinv (A, D + 2 FAN_BORDER)
    (border 0).  Taps from floor(kf - wmax) + 1 cover the footprint (half-width <= wmax <= 2 bins);
    taps beyond it weigh 0."""
    nb, na, w = pz.shape
    nd = w - 2 * FAN_BORDER
    lo_pos = FAN_BORDER - wmax - 1.0
    hi_pos = nd + FAN_BORDER + wmax
    cu = RD / du
    c0 = FAN_BORDER - u0 / du
    for job in prange(nb * n):
        b = job // n
        i = job % n
        y = -1.0 + (i + 0.5) * h
        ly = np.empty(na)
        uy = np.empty(na)
        for a in range(na):
            ly[a] = R - y * sb[a]
            uy[a] = y * cb[a]
        flat = pz[b].ravel()
        finv = pinv.ravel()
        for j in range(n):
            x = -1.0 + (j + 0.5) * h
            acc = 0.0
            aw = 0.0
            for a in range(na):
                L = ly[a] - x * cb[a]
                kf = (uy[a] - x * sb[a]) * cu / L + c0
                kf = min(max(kf, lo_pos), hi_pos)
                k1 = math.floor(kf - wmax) + 1.0
                d = kf - k1
                idx = np.uint64(k1 + aw)
                aw += w
                t0 = max(0.0, 1.0 - abs(d) * L * finv[idx])
                t1 = max(0.0, 1.0 - abs(d - 1.0) * L * finv[idx + np.uint64(1)])
                t2 = max(0.0, 1.0 - abs(d - 2.0) * L * finv[idx + np.uint64(2)])
                t3 = max(0.0, 1.0 - abs(d - 3.0) * L * finv[idx + np.uint64(3)])
                acc += (t0 * flat[idx] + t1 * flat[idx + np.uint64(1)] + t2 * flat[idx + np.uint64(2)]
                        + t3 * flat[idx + np.uint64(3)])
            out[b, i, j] = acc


@njit(parallel=True, cache=True)
def fan_adjoint_any(pz, pinv, cb, sb, R, RD, u0, du, wmax, h, n, out):  # pragma: no cover - compiled
    """:func:`fan_adjoint4` for footprints of any width (same arrays; taps 2 wmax + 1)."""
    nb, na, w = pz.shape
    nd = w - 2 * FAN_BORDER
    taps = int(math.ceil(2.0 * wmax)) + 1
    lo_pos = FAN_BORDER - wmax - 1.0
    hi_pos = nd + FAN_BORDER + wmax
    for job in prange(nb * n):
        b = job // n
        i = job % n
        y = -1.0 + (i + 0.5) * h
        for j in range(n):
            x = -1.0 + (j + 0.5) * h
            acc = 0.0
            for a in range(na):
                L = R - x * cb[a] - y * sb[a]
                kf = ((y * cb[a] - x * sb[a]) * RD / L - u0) / du + FAN_BORDER
                kf = min(max(kf, lo_pos), hi_pos)
                k1 = int(math.floor(kf - wmax)) + 1
                for k in range(max(k1, 0), min(k1 + taps, w)):
                    t = 1.0 - abs(kf - k) * L * pinv[a, k]
                    if t > 0.0:
                        acc += t * pz[b, a, k]
            out[b, i, j] = acc


@njit(parallel=True, fastmath=_FM, cache=True)
def fan_backproject(pq, cb, sb, wa, R, up0, dup, h, n, out):  # pragma: no cover - compiled
    """Fan-beam FBP back-projection: out[b, i, j] = R^2 sum_a wa[a] q_a(u'(x)) / L^2, with
    L = R - x . e_s and u'(x) = R (x . e_u) / L on the virtual detector (u'_k = up0 + k dup),
    q linearly interpolated between bins (zero outside).  pq (B, A, D + 2 FAN_BORDER): the
    filtered projections with a zero border; the position is clamped into it."""
    nb, na, w = pq.shape
    nd = w - 2 * FAN_BORDER
    lo_pos = FAN_BORDER - 1.5
    hi_pos = nd + FAN_BORDER + 0.5
    cu = R / dup
    c0 = FAN_BORDER - up0 / dup
    for job in prange(nb * n):
        b = job // n
        i = job % n
        y = -1.0 + (i + 0.5) * h
        ly = np.empty(na, dtype=cb.dtype)
        uy = np.empty(na, dtype=cb.dtype)
        wr = np.empty(na, dtype=cb.dtype)
        for a in range(na):
            ly[a] = R - y * sb[a]
            uy[a] = (y * cb[a]) * cu
            wr[a] = wa[a] * R * R
        ssb = sb * cu
        flat = pq[b].ravel()
        for j in range(n):
            x = -1.0 + (j + 0.5) * h
            acc = 0.0
            aw = 0.0
            for a in range(na):
                iL = 1.0 / (ly[a] - x * cb[a])
                kf = (uy[a] - x * ssb[a]) * iL + c0
                kf = min(max(kf, lo_pos), hi_pos)
                k0 = np.floor(kf)
                fr = kf - k0
                idx = np.uint64(k0 + aw)
                aw += w
                q0 = flat[idx]
                acc += wr[a] * iL * iL * (q0 + fr * (flat[idx + np.uint64(1)] - q0))
            out[b, i, j] = acc
