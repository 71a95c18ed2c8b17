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
sigma 1.5, same data range), ``rel_l2`` over the pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from sciml.core import InvalidProblem, Problem, Solution, check_choice, check_range

from . import tomography_phantoms as ph

__all__ = ["CT", "PHANTOMS", "NOISES", "image_of"]

PHANTOMS = ("shepp-logan", "ellipses", "disk")
NOISES = ("none", "gaussian", "poisson")


@dataclass(frozen=True)
class CT(Problem):
    """Parallel-beam CT of an ``n x n`` image from ``angles`` projections."""

    name = "ct"
    default_reference = "exact"
    kind = "field"

    n: int = 128
    angles: int = 30
    angle_range: float = 180.0
    detectors: int | None = None          # None: ceil(sqrt(2) n)
    phantom: Literal["shepp-logan", "ellipses", "disk"] = "shepp-logan"
    noise: Literal["none", "gaussian", "poisson"] = "gaussian"
    noise_level: float = 0.025
    photons: float = 1e4
    seed: int = 0
    inverse_crime: bool = False
    oversample: int = 2

    def __post_init__(self) -> None:
        check_range(self, "n", self.n, lo=8, hi=4096)
        check_range(self, "angles", self.angles, lo=1, hi=100000)
        check_range(self, "angle_range", self.angle_range, lo=0, hi=360, lo_open=True)
        if self.detectors is not None:
            check_range(self, "detectors", self.detectors, lo=1, hi=100000)
        check_choice(self, "phantom", self.phantom, PHANTOMS)
        check_choice(self, "noise", self.noise, NOISES)
        check_range(self, "noise_level", self.noise_level, lo=0)
        check_range(self, "photons", self.photons, lo=0, lo_open=True)
        check_range(self, "seed", self.seed, lo=0)
        check_range(self, "oversample", self.oversample, lo=1, hi=8)
        for key in ("n", "angles", "seed", "oversample"):
            if int(getattr(self, key)) != getattr(self, key):
                raise InvalidProblem(f"ct: {key}={getattr(self, key)!r} must be an integer")

    # ------------------------------------------------------------ geometry
    def geometry(self):
        """The reconstruction geometry (operators.radon.Geometry)."""
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
        from operators.radon import Radon
        g = self.geometry()
        if self.inverse_crime:
            y = Radon(g).forward(self.image())
        else:
            y = Radon(g.refined(int(self.oversample))).forward(self._images[0])
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

    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        from sciml import metrics
        img, ref = image_of(self, solution), image_of(self, reference)
        return {"psnr": metrics.psnr(img, ref), "ssim": metrics.ssim(img, ref),
                "rel_l2": metrics.rel_l2(img, ref)}


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
    n = int(problem.n)
    img = solution.state.get("image") if solution.state else None
    if img is not None and np.shape(img) == (n, n):
        return np.asarray(img, dtype=float)
    return np.asarray(solution(problem.test_points()), dtype=float).reshape(n, n)


def image_solution(img: np.ndarray, stats: dict[str, Any] | None = None) -> Solution:
    """Wrap a reconstructed image as a Solution (field + state['image'])."""
    img = np.asarray(img, dtype=float)
    return Solution(fn=image_field(img), stats=dict(stats or {}), state={"image": img})




