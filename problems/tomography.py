"""2D parallel-beam computed tomography: recover an image from its noisy sinogram.

The field/image convention
--------------------------
The unknown is a function f on [-1, 1]^2 represented by an ``n x n`` image
(``operators.radon`` conventions: ``img[i, j]`` is the pixel centred at
``(x_j, y_i) = (-1 + (j + 1/2) h, -1 + (i + 1/2) h)``, ``h = 2 / n``).  As a
field, an image is the piecewise-constant function equal to ``img[i, j]`` on
its pixel; :meth:`CT.test_points` are the ``n^2`` pixel centres in row-major
order, so ``solution(problem.test_points()).reshape(n, n)`` is the image.
The reference (``exact``) is the phantom's image on that grid: the mean of
the phantom over each pixel, computed from ``oversample^2`` point samples.

Data
----
The sinogram is simulated with the Joseph projector on an ``oversample``
times finer grid from the point-sampled phantom (so that the data is not
produced by the reconstruction model: no "inverse crime"), unless
``inverse_crime=True``, which projects the reconstruction-grid image with
the reconstruction operator.  Noise models: ``gaussian`` adds
``noise_level * mean|y|`` times standard normal noise per bin (DIVal);
``poisson`` draws ``counts ~ Poisson(photons exp(-y))`` and returns
``-log(max(counts, 1) / photons)`` (counts clipped at 1 so the log is finite).
The phantom draws from ``default_rng([seed, 0])`` and the noise from
``default_rng([seed, 1])``: same seed, same data.

Metrics (:meth:`CT.errors`): ``psnr`` with data range = max - min of the
reference image (per image), ``ssim`` (Wang et al. 2004, Gaussian window
sigma 1.5, same data range), ``ssim_7x7`` (the same with a 7 x 7 uniform
window: scikit-image's default, what DIVal reports), ``rel_l2`` over the pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from sciml.core import InvalidProblem, Problem, Solution, opt

from . import tomography_phantoms as ph
from .ct_conventions import CONVENTIONS, to_sciml

__all__ = ["CT", "CTData", "CONVENTIONS", "PHANTOMS", "NOISES", "image_of"]

PHANTOMS = ("shepp-logan", "ellipses", "disk")
NOISES = ("none", "gaussian", "poisson")


@dataclass(frozen=True)
class CT(Problem):
    """Parallel-beam CT of an ``n x n`` image from ``angles`` projections."""

    name = "ct"

    def capabilities(self) -> frozenset[str]:
        """A CT problem whose phantoms a learned solver can also train on."""
        return frozenset({self.name, "ct", "ct-phantoms"})
    default_reference = "exact"
    kind = "field"

    n: int = opt(128, lo=8, hi=4096)
    angles: int = opt(30, lo=1, hi=100000)
    angle_range: float = opt(180.0, lo=0, hi=360, lo_open=True)
    detectors: int | None = opt(None, lo=1, hi=100000)   # None: ceil(sqrt(2) n) (fan: enough for the circle of radius sqrt 2)
    beam: Literal["parallel", "fan"] = "parallel"
    source_distance: float = opt(4.0, lo=math.sqrt(2.0), lo_open=True)          # fan beam: centre to source (> sqrt 2)
    detector_distance: float = opt(4.0, lo=0.0)        # fan beam: centre to the flat detector
    phantom: Literal["shepp-logan", "ellipses", "disk"] = "shepp-logan"
    noise: Literal["none", "gaussian", "poisson"] = "gaussian"
    noise_level: float = opt(0.025, lo=0)
    photons: float = opt(1e4, lo=0, lo_open=True)
    seed: int = opt(0, lo=0)
    inverse_crime: bool = False
    oversample: int = opt(2, lo=1, hi=8)

    def __post_init__(self) -> None:
        for key in ("n", "angles", "seed", "oversample"):
            if int(getattr(self, key)) != getattr(self, key):
                raise InvalidProblem(f"ct: {key}={getattr(self, key)!r} must be an integer")

    # ------------------------------------------------------------ geometry
    def geometry(self):
        """The reconstruction geometry (operators.radon.Geometry, or operators.fanbeam.FanGeometry)."""
        if self.beam == "fan":
            from operators.fanbeam import FanGeometry
            return FanGeometry(int(self.n), int(self.angles), float(self.source_distance),
                               float(self.detector_distance), int(self.detectors or 0),
                               angle_range=float(self.angle_range))
        from operators.radon import Geometry
        return Geometry(int(self.n), int(self.angles), float(self.angle_range), int(self.detectors or 0))

    def ellipses(self) -> np.ndarray:
        """The phantom as an ellipse table (value, a, b, x0, y0, phi)."""
        if self.phantom == "shepp-logan":
            return ph.shepp_logan()
        if self.phantom == "disk":
            return ph.disk()
        return ph.random_ellipses(np.random.default_rng([int(self.seed), 0]))

    # --------------------------------------------------------------- data
    @cached_property
    def _images(self) -> tuple[np.ndarray, np.ndarray]:
        f = int(self.oversample)
        fine = ph.rasterize(self.ellipses(), self.n * f, 1)
        if self.phantom == "ellipses":
            fine = ph.normalize_foreground(fine)
        coarse = ph.block_mean(fine, f)
        fine.setflags(write=False)
        coarse.setflags(write=False)
        return fine, coarse

    def image(self) -> np.ndarray:
        """The ground truth (n, n): pixel means of the phantom (read-only)."""
        return self._images[1]

    @cached_property
    def _clean(self) -> np.ndarray:
        from operators.radon import projector
        g = self.geometry()
        if self.inverse_crime:
            y = projector(g).forward(self.image())
        else:
            y = projector(g.refined(int(self.oversample))).forward(self._images[0])
        y.setflags(write=False)
        return y

    def clean_sinogram(self) -> np.ndarray:
        """Noise-free data (angles, detectors)."""
        return self._clean

    @cached_property
    def _noisy(self) -> np.ndarray:
        y = np.array(self._clean, dtype=float)
        rng = np.random.default_rng([int(self.seed), 1])
        if self.noise == "gaussian":
            y = y + self.noise_level * np.mean(np.abs(y)) * rng.standard_normal(y.shape)
        elif self.noise == "poisson":
            counts = rng.poisson(self.photons * np.exp(-y))
            y = -np.log(np.maximum(counts, 1) / self.photons)
        y.setflags(write=False)
        return y

    def sinogram(self) -> np.ndarray:
        """The measured (noisy) data (angles, detectors), read-only."""
        return self._noisy

    # ----------------------------------------------------- Problem interface
    def test_points(self) -> np.ndarray:
        x, y = self.geometry().pixel_centres()
        return np.stack([x.reshape(-1), y.reshape(-1)], axis=1)

    def exact(self, x: np.ndarray) -> np.ndarray:
        return image_field(self.image())(x)

    @staticmethod
    def from_sinogram(sinogram: Any, angles: Any, *, convention: str = "sciml", image: Any = None,
                      **fields: Any) -> "CTData":
        """A CT problem from a measured sinogram in memory (see :class:`CTData` for the
        conventions and the other fields: ``n``, ``detector_spacing``, ``offset``, ...)."""
        arrays = {"sinogram": np.asarray(sinogram, dtype=float), "angles": np.asarray(angles, dtype=float)}
        if image is not None:
            arrays["image"] = np.asarray(image, dtype=float)
        return CTData(convention=convention, _arrays=arrays, **fields)

    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        from sciml import metrics
        img, ref = image_of(self, solution), image_of(self, reference)
        return {"psnr": metrics.psnr(img, ref), "ssim": metrics.ssim(img, ref),
                "ssim_7x7": metrics.ssim(img, ref, window="uniform"), "rel_l2": metrics.rel_l2(img, ref)}


def image_field(img: np.ndarray):
    """The piecewise-constant function on [-1, 1]^2 of an image (points (N, 2) -> values)."""
    img = np.asarray(img, dtype=float)
    n = img.shape[0]

    def fn(x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        j = np.clip(np.floor((x[:, 0] + 1.0) * n / 2.0).astype(int), 0, n - 1)
        i = np.clip(np.floor((x[:, 1] + 1.0) * n / 2.0).astype(int), 0, n - 1)
        return img[i, j]
    return fn


def image_of(problem: CT, solution: Solution) -> np.ndarray:
    """The (n, n) image of a solution (its ``state['image']`` or its values at the pixel centres)."""
    n = int(problem.geometry().n)
    img = solution.state.get("image") if solution.state else None
    if img is not None and np.shape(img) == (n, n):
        return np.asarray(img, dtype=float)
    return np.asarray(solution(problem.test_points()), dtype=float).reshape(n, n)


def image_solution(img: np.ndarray, stats: dict[str, Any] | None = None) -> Solution:
    """Wrap a reconstructed image as a Solution (field + state['image'])."""
    img = np.asarray(img, dtype=float)
    return Solution(fn=image_field(img), stats=dict(stats or {}), state={"image": img})






# ----------------------------------------------------------- CT from your data


@dataclass(frozen=True)
class CTData(Problem):
    """Parallel-beam CT from a measured sinogram (``-p data=FILE`` or :meth:`CT.from_sinogram`).

    The file (NPZ or HDF5) holds ``sinogram``, ``angles`` and optionally
    ``image`` (the ground truth, for metrics) and scalar ``n``,
    ``detector_spacing``, ``offset`` (fields given with ``-p`` win).
    ``convention`` says how to read them (docs/tomography.md):

    * ``sciml``: ours (:mod:`operators.radon`): sinogram (angles, detectors),
      angles in radians, ray direction (cos, sin), image ``img[i, j]`` at
      (x_j, y_i) on [-1, 1]^2 with y growing with i, line integrals in that
      unit of length; detector k at ``(k + 1/2 - D/2) ds + offset * ds``
      with ``ds = detector_spacing`` (default 2 sqrt(2) / D).
    * ``beam=fan`` (sciml convention): the flat-detector fan beam of
      :mod:`operators.fanbeam`, angles = source angles (radians, a full
      circle), ``source_distance`` and ``detector_distance`` (fields or file
      scalars, in units of the image half-width), ``detector_spacing`` (default
      h (R + Dd) / R), ``offset`` in bins.
    * ``skimage``: ``skimage.transform.radon``'s: sinogram (detectors,
      angles), angles in degrees, line integrals in pixel units, rotation
      about pixel (n // 2, n // 2), detector k at k - D // 2 pixels from the
      axis (+ ``offset`` pixels), image rows from the top.  Read as: the
      transpose, times h = 2 / n, angles in radians, the image flipped
      upside down (row i of ours is row n - 1 - i of skimage's), detector
      spacing h, rotation centre (-1 + (n//2 + 1/2) h, 1 - (n//2 + 1/2) h).
      ``n`` defaults to D (skimage's ``circle=True``); with ``circle=False``
      data pass n (or store ``image``).
    * ``astra``: the ASTRA Toolbox's 2D ``parallel`` and ``fanflat`` geometries
      on its default volume ``create_vol_geom(n, n)`` (pixels of size 1, centred
      at the origin, row 0 on top): sinogram (angles, detectors), angles in
      radians, ``detector_spacing`` = ASTRA's ``det_width`` (pixels, default 1),
      ``beam=fan``: ``source_distance`` / ``detector_distance`` = ASTRA's
      ``source_origin`` / ``origin_det`` (pixels); line integrals in pixel
      units.  ASTRA's ray for angle t has direction (sin t, -cos t) and bin k
      sits at (k - (D-1)/2) det_width (cos t, sin t); the fan's source is at
      source_origin (sin t, -cos t).  Read as: times h = 2 / n (lengths and
      data), the image flipped upside down, the same parallel angles, fan
      source angle beta = t - pi/2; ``offset`` in bins along (cos t, sin t).

    Any angle set works (unsorted, limited, repeated); FBP weights the angles
    by :attr:`operators.radon.Geometry.angle_weights`.  Pixels outside the
    disk that every projection covers are not determined by the data; the
    reconstructions are zero there (:meth:`support_mask`).
    ``noise_level`` > 0 adds Gaussian noise of that fraction of mean |y| per
    bin (as ``ct``; ``default_rng([seed, 1])``).

    Metrics: ``psnr``, ``ssim``, ``rel_l2`` against ``image`` when the file has
    one, and always ``residual`` = ||A x - y|| / ||y||.
    """

    name = "ct-data"

    def capabilities(self) -> frozenset[str]:
        """A CT problem from a measured sinogram (no phantoms to train on)."""
        return frozenset({self.name, "ct"})
    default_reference = "exact"
    kind = "field"

    data: str = ""
    convention: Literal["sciml", "skimage", "astra"] = "sciml"
    n: int = opt(0, lo=0, hi=8192)
    detector_spacing: float = opt(0.0, lo=0)
    offset: float = 0.0
    beam: Literal["parallel", "fan"] = "parallel"
    source_distance: float = opt(0.0, lo=0)
    detector_distance: float = opt(0.0, lo=0)
    noise_level: float = opt(0.0, lo=0)
    seed: int = opt(0, lo=0)
    _arrays: Any = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.beam == "fan" and self.convention == "skimage":
            raise InvalidProblem("ct-data: beam=fan is read in the sciml and astra conventions, not "
                                 "convention=skimage (scikit-image has no fan beam)")
        if not np.isfinite(self.offset):
            raise InvalidProblem(f"ct-data: offset={self.offset!r} must be finite (detector bins)")
        if not self.data and self._arrays is None:
            raise InvalidProblem("ct-data: data='' names no file; pass -p data=FILE (an .npz or .h5 file "
                                 "with datasets 'sinogram' and 'angles')")
        self._read()  # validate now, before any work

    # ------------------------------------------------------------- reading
    @property
    def _source(self) -> str:
        return self.data or "from_sinogram"

    def _read(self) -> dict[str, Any]:
        if "read" in self._cache:
            return self._cache["read"]
        from .datafile import check_finite, read_arrays
        src = self._source
        if self._arrays is not None:
            d = dict(self._arrays)
            for k in ("sinogram", "angles", "image"):
                if k in d:
                    check_finite(src, k, d[k])
        else:
            d = read_arrays(self.data, ("sinogram", "angles"),
                            ("image", "n", "detector_spacing", "offset", "source_distance", "detector_distance"))

        def scalar(key: str) -> float:  # the option if given, else the file's scalar, else 0
            given = getattr(self, key)
            if given:
                return float(given)
            v = d.get(key)
            return float(np.asarray(v).reshape(-1)[0]) if v is not None and np.size(v) == 1 else 0.0
        geom, sino, image = to_sciml(d["sinogram"], d["angles"], d.get("image"), self.convention, self.beam,
                                     scalar, src)
        if self.noise_level:
            rng = np.random.default_rng([int(self.seed), 1])
            sino = sino + self.noise_level * np.mean(np.abs(sino)) * rng.standard_normal(sino.shape)
        for arr in (sino, image):
            if arr is not None:
                arr.setflags(write=False)
        self._cache["read"] = {"geometry": geom, "sinogram": np.ascontiguousarray(sino),
                               "image": None if image is None else np.ascontiguousarray(image)}
        return self._cache["read"]

    # ------------------------------------------------------------- interface
    def geometry(self):
        """The reconstruction geometry (operators.radon.Geometry) of the data."""
        return self._read()["geometry"]

    def sinogram(self) -> np.ndarray:
        """The data in the sciml layout and units (angles, detectors), read-only."""
        return self._read()["sinogram"]

    def image(self) -> np.ndarray | None:
        """The ground truth in the sciml layout (n, n), or None."""
        return self._read()["image"]

    def support_mask(self) -> np.ndarray | None:
        """Pixels inside the disk about the rotation centre that every projection covers (None: all)."""
        g = self.geometry()
        x, y = g.pixel_centres()
        if self.beam == "fan":  # the fan's edge rays: |s| <= R sin(gamma_edge), tan gamma_edge = |u_edge| / (R + Dd)
            u_edge = min(-(g.u[0] - g.du / 2), g.u[-1] + g.du / 2)
            gam = math.atan(max(u_edge, 0.0) / (g.source_distance + g.detector_distance))
            r, c = g.source_distance * math.sin(gam), (0.0, 0.0)
        else:
            r = min(-(g.s[0] - g.ds / 2), g.s[-1] + g.ds / 2)
            c = g.center
        mask = (x - c[0]) ** 2 + (y - c[1]) ** 2 <= r * r
        return None if mask.all() else mask

    def test_points(self) -> np.ndarray:
        x, y = self.geometry().pixel_centres()
        return np.stack([x.reshape(-1), y.reshape(-1)], axis=1)

    @property
    def has_exact(self) -> bool:
        return True

    def exact(self, x: np.ndarray) -> np.ndarray:
        """The ground-truth image as a field (NaN where the file has no image)."""
        img = self.image()
        if img is None:
            return np.full(len(np.atleast_2d(x)), np.nan)
        return image_field(img)(x)

    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        from operators.radon import projector
        from sciml import metrics
        img = image_of(self, solution)
        y = self.sinogram()
        out = {"residual": float(np.linalg.norm(projector(self.geometry()).forward(img) - y) / np.linalg.norm(y))}
        truth = self.image()
        if truth is not None:
            out.update(psnr=metrics.psnr(img, truth), ssim=metrics.ssim(img, truth),
                       ssim_7x7=metrics.ssim(img, truth, window="uniform"), rel_l2=metrics.rel_l2(img, truth))
        return out
