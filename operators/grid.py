"""The image grid and shape checks that every CT geometry shares.

The image is the square [-1, 1]^2 sampled at ``n`` x ``n`` pixel centres,
``img[i, j]`` at (x_j, y_i); a sinogram has shape (angles, n_det).
:class:`ImageGrid` gives a geometry with fields ``n``, ``angles`` and a
``n_det`` its pixel size, shapes, pixel centres and the checks that raise
:class:`sciml.core.InvalidProblem` on arrays of the wrong shape.
"""
from __future__ import annotations

import numpy as np

from sciml.core import InvalidProblem

__all__ = ["ImageGrid"]


class ImageGrid:
    """Mixin for geometries on the [-1, 1]^2 pixel grid (``n``, ``angles``, ``n_det`` given by the class)."""

    #: how error messages name the geometry
    label = "geometry"

    @property
    def h(self) -> float:
        """Pixel size 2 / n."""
        return 2.0 / self.n

    @property
    def image_shape(self) -> tuple[int, int]:
        """(n, n)."""
        return (self.n, self.n)

    @property
    def sino_shape(self) -> tuple[int, int]:
        """(angles, n_det)."""
        return (self.angles, self.n_det)

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) coordinate arrays of shape (n, n), ``x[i, j] = x_j``, ``y[i, j] = y_i``."""
        c = -1.0 + (np.arange(self.n) + 0.5) * self.h
        return np.meshgrid(c, c, indexing="xy")

    def check_image(self, x: np.ndarray, what: str = "image") -> None:
        """Raise InvalidProblem unless the last two axes of ``x`` are :attr:`image_shape`."""
        if tuple(x.shape[-2:]) != self.image_shape:
            raise InvalidProblem(f"{what} shape {tuple(x.shape)} does not match the {self.label}'s "
                                 f"image shape {self.image_shape}")

    def check_sino(self, y: np.ndarray, what: str = "sinogram") -> None:
        """Raise InvalidProblem unless the last two axes of ``y`` are :attr:`sino_shape`."""
        if tuple(y.shape[-2:]) != self.sino_shape:
            raise InvalidProblem(f"{what} shape {tuple(y.shape)} does not match the {self.label} "
                                 f"(angles, detectors) = {self.sino_shape}")
