"""2D parallel-beam Radon transform, its exact adjoint, FBP filtering, operator norm.

Conventions (used by the whole CT family)
-----------------------------------------
* Image: an ``n x n`` array ``img[i, j]`` on the square [-1, 1]^2 with pixel
  size ``h = 2 / n``; ``img[i, j]`` is the value on the pixel centred at
  ``(x_j, y_i) = (-1 + (j + 1/2) h, -1 + (i + 1/2) h)``: rows go up in y
  (plot with ``origin="lower"``).
* Angles: ``theta_a = (a + 1/2) * angle_range / angles`` (midpoints of a
  uniform partition of [0, angle_range), as ODL/DIVal), or any list
  ``theta_values`` (radians: unsorted, limited, repeated angles are fine);
  ray direction omega = (cos theta, sin theta).
* Detectors: ``detectors`` bins of width ``ds = 2 * half_width / detectors``
  centred at ``s_k = -half_width + (k + 1/2) ds + offset``; ``half_width =
  sqrt(2)`` covers the square's diagonal.  The default count is
  ``ceil(sqrt 2 * n)`` (so ds ~= h).  With a rotation ``center`` c = (cx, cy)
  off the origin, s is measured from c's projection: bin k of angle a sits
  at ``s0[a] + k ds`` with ``s0[a] = s_0 + c . omega_a``.
* Sinogram: ``sino[a, k] ~= (R f)(theta_a, s_k) = int f(s omega + t omega_perp) dt``.

Discretisation: Joseph's method (P. M. Joseph, IEEE TMI 1982): a ray walks
the rows (or the columns, whichever is closer to perpendicular to it),
interpolates the image linearly between the two pixels it crosses and
multiplies by the step length ``h / max(|cos|, |sin|)``.  Written as a
matrix, ``A[(a,k),(i,j)] = (h/m) hat((s_k - p_ij) / (h m))`` with
``m = max(|cos theta_a|, |sin theta_a|)``, ``p_ij = x_j cos + y_i sin`` and
``hat(t) = max(0, 1 - |t|)``: the adjoint (back-projection) is the
pixel-driven gather of the same entries.  For smooth images the line
integrals are second-order accurate in h.

Two implementations of the same matrix: :class:`Radon` (NumPy arrays,
Numba kernels, float64/float32) and :class:`TorchRadon` (batched,
differentiable through autograd, CPU or CUDA).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from sciml.core import InvalidOption, InvalidProblem

# re-exported: the filters, the norm and the torch projector are part of this module's API
from .filters import FILTERS, fbp_filter, fbp_scale, filter_padded, filter_sinogram
from .grid import ImageGrid
from .norms import power_norm
from .radon_torch import TorchRadon

__all__ = ["Geometry", "Radon", "TorchRadon", "FILTERS", "fbp", "fbp_filter", "filter_sinogram",
           "fbp_scale", "power_norm", "projector"]

#: a gap between sorted angles wider than this many median gaps is a missing wedge (Geometry.angle_weights)
WEDGE_GAPS = 16.0


@dataclass(frozen=True)
class Geometry(ImageGrid):
    """Parallel-beam geometry; see the module docstring for the conventions."""

    n: int
    angles: int
    angle_range: float = 180.0   # degrees
    detectors: int = 0           # 0: ceil(sqrt(2) n)
    half_width: float = math.sqrt(2.0)
    theta_values: tuple[float, ...] = ()   # radians; () = the midpoint grid of angle_range
    offset: float = 0.0                    # detector shift (same length unit as s)
    center: tuple[float, float] = (0.0, 0.0)  # rotation centre in image coordinates

    def __post_init__(self) -> None:
        if int(self.n) != self.n or self.n < 2:
            raise InvalidProblem(f"geometry: n={self.n!r} must be an integer >= 2")
        if int(self.angles) != self.angles or self.angles < 1:
            raise InvalidProblem(f"geometry: angles={self.angles!r} must be an integer >= 1")
        if not (0 < self.angle_range <= 360):
            raise InvalidProblem(f"geometry: angle_range={self.angle_range!r} out of range (0, 360]")
        if self.detectors < 0:
            raise InvalidProblem(f"geometry: detectors={self.detectors!r} must be >= 1 (0 = automatic)")
        if not self.half_width > 0:
            raise InvalidProblem(f"geometry: half_width={self.half_width!r} must be > 0")
        if self.theta_values:
            if len(self.theta_values) != self.angles:
                raise InvalidProblem(f"geometry: {len(self.theta_values)} theta_values for angles={self.angles}")
            if not np.all(np.isfinite(self.theta_values)):
                raise InvalidProblem("geometry: theta_values must be finite (radians)")
        if not (math.isfinite(self.offset) and all(math.isfinite(c) for c in self.center)):
            raise InvalidProblem(f"geometry: offset={self.offset!r} and center={self.center!r} must be finite")

    @property
    def n_det(self) -> int:
        return int(self.detectors) if self.detectors else int(math.ceil(math.sqrt(2.0) * self.n))

    @property
    def ds(self) -> float:
        return 2.0 * self.half_width / self.n_det

    @property
    def theta(self) -> np.ndarray:
        if self.theta_values:
            return np.asarray(self.theta_values, dtype=float)
        return (np.arange(self.angles) + 0.5) * math.radians(self.angle_range) / self.angles

    @property
    def s(self) -> np.ndarray:
        """Detector centres relative to the rotation centre's projection."""
        return -self.half_width + (np.arange(self.n_det) + 0.5) * self.ds + self.offset

    @property
    def s0(self) -> np.ndarray:
        """Position of bin 0 for each angle: ``s[0] + center . omega`` (A,)."""
        th = self.theta
        return self.s[0] + self.center[0] * np.cos(th) + self.center[1] * np.sin(th)

    @property
    def angle_weights(self) -> np.ndarray:
        """FBP quadrature weights of the angles (A,), for f = int_0^pi q_theta dtheta.

        Midpoint grid: ``angle_range / angles`` each (radians).  Explicit
        angles: reduced modulo pi (theta + pi sees the same lines) and sorted;
        each angle gets half of the gaps to its two neighbours (periodic: the
        trapezoidal rule, right for any set that covers [0, pi), random ones
        included).  A gap wider than ``WEDGE_GAPS`` median gaps is a missing
        wedge and counts as one median gap, so the ends of a limited-angle scan
        are not over-weighted (random uniform angles have a largest gap of
        about log2(A) median gaps: 16 is reached only beyond ~60000 angles).
        Repeated angles share their weight."""
        if not self.theta_values:
            return np.full(self.angles, math.radians(self.angle_range) / self.angles)
        phi = np.mod(self.theta, math.pi)
        order = np.argsort(phi, kind="stable")
        p = phi[order]
        gaps = np.diff(np.concatenate([p, [p[0] + math.pi]]))  # gap after each sorted angle
        positive = gaps[gaps > 1e-12]
        if len(positive) == 0:
            return np.full(self.angles, math.pi / self.angles)
        med = float(np.median(positive))
        gaps = np.where(gaps > WEDGE_GAPS * med, med, gaps)
        w_sorted = 0.5 * (gaps + np.roll(gaps, 1))
        # repeated angles: spread the weight of a run of equal angles evenly over it
        run = np.concatenate([[0], np.cumsum(np.diff(p) > 1e-12)])
        tot = np.bincount(run, weights=w_sorted)
        cnt = np.bincount(run)
        out = np.empty(self.angles)
        out[order] = (tot / cnt)[run]
        return out

    def refined(self, factor: int) -> "Geometry":
        """Same angles and detectors on an image grid ``factor`` times finer."""
        return Geometry(self.n * factor, self.angles, self.angle_range, self.n_det, self.half_width,
                        self.theta_values, self.offset, self.center)

    def config(self) -> dict[str, Any]:
        out = {"n": int(self.n), "angles": int(self.angles), "angle_range": float(self.angle_range),
               "detectors": self.n_det, "half_width": float(self.half_width)}
        if self.theta_values or self.offset or any(self.center):
            out.update(theta_values=[float(t) for t in self.theta_values], offset=float(self.offset),
                       center=[float(c) for c in self.center])
        return out


def _batched(x: np.ndarray) -> tuple[np.ndarray, bool]:
    return (x[None], True) if x.ndim == 2 else (x, False)


def _bordered(x: np.ndarray, axes: tuple[int, ...], dtype: type, border: int) -> np.ndarray:
    """A (B, ...) copy of ``x`` in ``dtype`` with ``border`` zeros on both sides of ``axes``
    (the Numba kernels read across the edges without bounds tests)."""
    x, _ = _batched(x)
    shape = list(x.shape)
    inner = [slice(None)] * x.ndim
    for ax in axes:
        shape[ax] += 2 * border
        inner[ax] = slice(border, border + x.shape[ax])
    out = np.zeros(shape, dtype=dtype)
    out[tuple(inner)] = x
    return out


@dataclass(frozen=True)
class Radon:
    """The Joseph projector with Numba kernels (parallel over rays / pixels).

    ``forward(img)`` maps (n, n) or (B, n, n) to (A, D) or (B, A, D);
    ``adjoint(sino)`` is its exact transpose.  The dtype of the input is
    kept (float32 or float64).  ``device="cuda"`` (or ``"cuda:N"``) runs the
    same matrix with the Numba CUDA kernels of ``_radon_cuda`` (NumPy in and
    out, copied to and from the GPU per call).
    """

    geometry: Geometry
    device: str = "cpu"
    _trig: tuple = field(init=False, repr=False, compare=False)
    _responses: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.geometry).__name__ == "FanGeometry":
            raise InvalidOption("radon: a fan-beam geometry needs operators.fanbeam.FanRadon "
                                "(operators.radon.projector picks the right one)")
        th = self.geometry.theta
        object.__setattr__(self, "_trig", (np.cos(th), np.sin(th), self.geometry.s0))
        object.__setattr__(self, "_responses", {})
        from sciml.device import parse_device
        parse_device(self.device)  # the spelling; availability is the caller's resolve_device

    @property
    def _gpu(self) -> int | None:
        """The CUDA device index, or None on the CPU."""
        from sciml.device import parse_device
        kind, index = parse_device(self.device)
        return None if kind == "cpu" else (index or 0)

    def response(self, filter: str = "ram-lak", frequency_scaling: float = 1.0) -> np.ndarray:
        """:func:`fbp_filter` of this geometry, computed once per (filter, scaling)."""
        key = (filter, float(frequency_scaling))
        if key not in self._responses:
            resp = fbp_filter(self.geometry, filter, frequency_scaling)
            resp.flags.writeable = False
            self._responses[key] = resp
        return self._responses[key]

    @property
    def _mirror(self) -> bool:
        """Angle A-1-a is pi minus angle a with the same detector offset (to rounding), so
        the FBP kernel serves pixel (i, n-1-j) with pixel (i, j)'s positions."""
        c, s, det = self._trig
        tol = 1e-12
        return bool(np.all(np.abs(c + c[::-1]) <= tol) and np.all(np.abs(s - s[::-1]) <= tol)
                    and np.all(np.abs(det - det[::-1]) <= tol * self.geometry.ds))

    @property
    def _footprint_bins(self) -> float:
        """Largest half-width h m / ds of a pixel's footprint on the detector, in bins."""
        c, s, _ = self._trig
        return self.geometry.h * float(np.max(np.maximum(np.abs(c), np.abs(s)))) / self.geometry.ds

    def _args(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """cos, sin and the per-angle position of bin 0 (``Geometry.s0``) in ``dtype``."""
        c, s, det = self._trig
        if self._gpu is not None and any(self.geometry.center):
            raise InvalidOption("radon: device=cuda needs the rotation centre at the origin "
                                f"(center={self.geometry.center}); use device=cpu")
        return c.astype(dtype), s.astype(dtype), det.astype(dtype)

    def forward(self, img: np.ndarray) -> np.ndarray:
        from . import _radon_numba as k
        img = np.asarray(img)
        self.geometry.check_image(img)
        dtype = np.float32 if img.dtype == np.float32 else np.float64
        g = self.geometry
        x = _bordered(img, (-2, -1), dtype, k.BORDER)
        c, s, det = self._args(dtype)
        if self._gpu is not None:
            from . import _radon_cuda as kc
            out = kc.run_host(kc.forward, x, (x.shape[0], *g.sino_shape), dtype, c, s, dtype(det[0]),
                              dtype(g.ds), dtype(g.h), index=self._gpu)
            return out[0] if img.ndim == 2 else out
        out = np.empty((x.shape[0], *g.sino_shape), dtype=dtype)
        k.forward(x, c, s, det, dtype(g.ds), dtype(g.h), out)
        return out[0] if img.ndim == 2 else out

    def adjoint(self, sino: np.ndarray) -> np.ndarray:
        from . import _radon_numba as k
        sino = np.asarray(sino)
        self.geometry.check_sino(sino)
        dtype = np.float32 if sino.dtype == np.float32 else np.float64
        g = self.geometry
        c, s, det = self._args(dtype)
        if self._gpu is not None:
            from . import _radon_cuda as kc
            y, _ = _batched(np.ascontiguousarray(sino, dtype=dtype))
            out = kc.run_host(kc.adjoint, y, (y.shape[0], g.n, g.n), dtype, c, s, g.s.astype(dtype), dtype(g.h),
                              index=self._gpu)
        elif self._footprint_bins <= 1.5:  # at most 3 bins per pixel and angle: the SIMD kernel
            y = _bordered(sino, (-1,), dtype, k.ADJ_BORDER)
            out = np.empty((y.shape[0], g.n, g.n), dtype=dtype)
            k.adjoint3(y, c, s, det, dtype(g.ds), dtype(g.h), g.n, out)
        else:
            y, _ = _batched(np.ascontiguousarray(sino, dtype=dtype))
            out = np.empty((y.shape[0], g.n, g.n), dtype=dtype)
            k.adjoint_any(y, c, s, det, dtype(g.ds), dtype(g.h), g.n, out)
        return out[0] if sino.ndim == 2 else out

    __call__ = forward

    def norm(self, iterations: int = 50, seed: int = 0) -> float:
        """||A||_2 by power iteration on A^T A (see :func:`power_norm`)."""
        return power_norm(lambda v: self.adjoint(self.forward(v)), self.geometry.image_shape,
                          iterations=iterations, seed=seed)


def projector(geometry: Any, device: str = "cpu") -> Any:
    """The Numba projector of a geometry: :class:`Radon` (parallel beam), or the one
    the geometry builds itself (``geometry.projector(device)``: the fan beam's
    :class:`operators.fanbeam.FanRadon`), so this module needs no other geometry."""
    if not isinstance(geometry, Geometry) and hasattr(geometry, "projector"):
        return geometry.projector(device)
    return Radon(geometry, device=device)


def fbp(radon: Radon, sino: np.ndarray, filter: str = "ram-lak", frequency_scaling: float = 1.0) -> np.ndarray:
    """Filtered back-projection (Numba): (..., A, D) -> (..., n, n).

    The filtered projections are interpolated linearly between detector
    centres at each pixel centre's projection and summed over angles times
    angle_range / A (the standard FBP back-projector; it is not A^T, whose
    footprint of width h m under-samples the detector for oblique angles).
    """
    from . import _radon_numba as k
    if not isinstance(radon, Radon):  # another geometry's projector reconstructs itself (fan beam)
        return radon.fbp(sino, filter, frequency_scaling)
    g = radon.geometry
    sino = np.asarray(sino)
    g.check_sino(sino)
    dtype = np.float32 if sino.dtype == np.float32 else np.float64
    q = filter_padded(sino, radon.response(filter, frequency_scaling))[..., :g.n_det]
    if g.theta_values:  # explicit angles: per-angle quadrature weights (Geometry.angle_weights)
        q = q * g.angle_weights[:, None]
    c, s, det = radon._args(dtype)
    if radon._gpu is not None:
        from . import _radon_cuda as kc
        q, _ = _batched(np.ascontiguousarray(q, dtype=dtype))
        out = kc.run_host(kc.backproject, q, (q.shape[0], g.n, g.n), dtype, c, s, dtype(det[0]),
                          dtype(g.ds), dtype(g.h), index=radon._gpu)
    else:
        q = _bordered(q, (-1,), dtype, k.BORDER)
        out = np.empty((q.shape[0], g.n, g.n), dtype=dtype)
        k.backproject_linear(q, c, s, det, dtype(g.ds), dtype(g.h), g.n, radon._mirror, out)
    if not g.theta_values:
        out *= dtype(math.radians(g.angle_range) / g.angles)
    return out[0] if sino.ndim == 2 else out
