"""Fan-beam FBP by rebinning to parallel beam (Kak and Slaney, ch. 3.4.3).

Every line of the plane is a ray of the flat-detector fan geometry of
:mod:`operators.fanbeam` twice over a full scan: the parallel line
``x . (cos theta, sin theta) = s`` is the fan ray of source angle
``beta = theta + gamma + pi/2`` and fan angle ``gamma = -asin(s / R)``
(virtual detector coordinate ``u' = R tan gamma``, physical ``u = (R + Dd) tan gamma``),
and again at ``(beta + pi - 2 gamma, -gamma)``.  The parallel sinogram on a
midpoint grid of [0, pi) is the sum of the two conjugate fan values, each
interpolated bilinearly in (beta, u) from the redundancy-weighted fan data
(weights 1/2 for a full scan, Parker's for a short scan: the two weights of a
line sum to 1), then :func:`operators.radon.fbp` reconstructs it.  The
rebinning is one sparse matrix per geometry (8 entries per parallel bin),
built once.

Defaults: the parallel angle step is half the source angle step
(``360 * angles / angle_range`` parallel angles over 180 degrees; with the
step equal to the source step the disk error of the benchmark grows from
0.038 to 0.046) and the parallel bin width is the fan's virtual detector
spacing ``du R / (R + Dd)``.  Slightly less accurate than the direct fan FBP
of :func:`operators.fanbeam.fan_fbp` with interpolated views (0.038 against
0.030 on the off-centre disk at n = 256, 180 views; 0.050 without the view
interpolation), and about twice as fast: it back-projects 180 parallel
views where the direct method back-projects 360 fan views with a division
per pixel and view.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from sciml.core import InvalidOption

from .radon import Geometry, Radon, fbp

__all__ = ["parallel_geometry", "rebin_matrix", "rebinned_fbp"]


def parallel_geometry(g: Any, angles: int = 0) -> Geometry:
    """The parallel geometry the fan geometry ``g`` is rebinned to: ``angles`` over [0, pi)
    (0: ``round(360 * g.angles / g.angle_range)``), bins of the virtual detector's spacing
    covering every line the detector sees."""
    R, RD = g.source_distance, g.source_distance + g.detector_distance
    u_edge = float(np.max(np.abs(g.u))) + 0.5 * g.du
    half = R * math.sin(math.atan(u_edge / RD))
    ds = g.du * R / RD
    P = int(angles) or max(1, int(round(360.0 * g.angles / g.angle_range)))
    D = int(math.ceil(2.0 * half / ds))
    return Geometry(g.n, P, angle_range=180.0, detectors=D, half_width=0.5 * D * ds)


def rebin_matrix(g: Any, pg: Geometry, weights: np.ndarray) -> Any:
    """Sparse (P D_par, A D) matrix taking the fan sinogram of ``g`` to the parallel one of
    ``pg``: bilinear interpolation in (beta, u) of ``weights * sino`` at both conjugate rays of
    each parallel line (periodic in beta for a full scan; nothing beyond the scan or the detector)."""
    import scipy.sparse as sp
    if g.theta_values:
        raise InvalidOption("fan FBP: rebinning needs the midpoint grid of source angles (angles, angle_range)")
    R, RD = g.source_distance, g.source_distance + g.detector_distance
    A, D = g.angles, g.n_det
    full = g.angle_range >= 360.0 - 1e-9
    step = math.radians(g.angle_range) / A
    th, s = pg.theta[:, None], pg.s[None, :]
    rid = np.arange(th.size * s.size).reshape(th.size, s.size)
    rows, cols, vals = [], [], []
    for tc, sc in ((th, s), (th + math.pi, -s)):   # the line and its conjugate ray
        gam = -np.arcsin(np.clip(sc / R, -1.0, 1.0))
        ia, ku = np.broadcast_arrays(np.mod(tc + gam + 0.5 * math.pi, 2 * math.pi) / step - 0.5,
                                     (RD * np.tan(gam) - g.u[0]) / g.du)
        a0, k0 = np.floor(ia).astype(np.int64), np.floor(ku).astype(np.int64)
        fa, fk = ia - a0, ku - k0
        for a, wa in ((a0, 1.0 - fa), (a0 + 1, fa)):
            a = a % A if full else a
            for k, wk in ((k0, 1.0 - fk), (k0 + 1, fk)):
                ok = (a >= 0) & (a < A) & (k >= 0) & (k < D)
                w = np.where(ok, wa * wk * weights[np.clip(a, 0, A - 1), np.clip(k, 0, D - 1)], 0.0)
                keep = w != 0.0
                rows.append(rid[keep])
                cols.append((a * D + k)[keep])
                vals.append(w[keep])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(rid.size, A * D))


def rebinned_fbp(g: Any, sino: np.ndarray, weights: np.ndarray, cache: dict, filter: str = "ram-lak",
                 frequency_scaling: float = 1.0) -> np.ndarray:
    """FBP of the fan sinogram(s) ``sino`` ((A, D) or (B, A, D)) of ``g`` by rebinning (see the
    module docstring); ``weights`` are the redundancy weights (A, D); ``cache`` keeps the
    parallel projector and the rebinning matrix between calls."""
    if "rebin" not in cache:
        pg = parallel_geometry(g)
        cache["rebin"] = (Radon(pg), rebin_matrix(g, pg, weights))
    par, S = cache["rebin"]
    dtype = np.float32 if sino.dtype == np.float32 else np.float64
    y = sino.reshape(-1, g.angles * g.n_det)
    q = np.ascontiguousarray((S @ y.T).T.reshape(-1, *par.geometry.sino_shape), dtype=dtype)
    out = fbp(par, q, filter, frequency_scaling)
    return out[0] if sino.ndim == 2 else out
