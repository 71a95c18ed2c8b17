"""Measured sinograms in the sciml, scikit-image and ASTRA conventions, turned into ours.

:func:`to_sciml` takes the arrays of a sinogram file (``sinogram``, ``angles``,
optional ``image``) and the scalars that describe its geometry, and returns
the reconstruction geometry of :mod:`operators.radon` or
:mod:`operators.fanbeam` with the sinogram (angles, detectors) and image
(rows up in y) in that geometry's layout and units.  The conventions are
described on :class:`problems.tomography.CTData` and in docs/tomography.md.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from sciml.core import DataError, InvalidProblem

__all__ = ["CONVENTIONS", "to_sciml"]

CONVENTIONS = ("sciml", "skimage", "astra")


def to_sciml(sino: np.ndarray, ang: np.ndarray, image: np.ndarray | None, convention: str, beam: str,
             scalar: Callable[[str], float], src: str) -> tuple[Any, np.ndarray, np.ndarray | None]:
    """(geometry, sinogram, image) in sciml's layout and units from a file's arrays.

    ``scalar(key)`` gives the value of ``n``, ``detector_spacing``, ``offset``,
    ``source_distance`` or ``detector_distance`` (0 where neither the option
    nor the file gives one); ``src`` names the file in error messages, which
    raise :class:`sciml.core.DataError`.
    """
    if sino.ndim != 2:
        raise DataError(f"{src}: dataset 'sinogram' has shape {sino.shape}; expected 2 dimensions")
    if ang.ndim != 1:
        raise DataError(f"{src}: dataset 'angles' has shape {ang.shape}; expected one angle per projection")
    layout = "(detectors, angles)" if convention == "skimage" else "(angles, detectors)"
    axis = 1 if convention == "skimage" else 0
    if sino.shape[axis] != len(ang):
        raise DataError(f"{src}: dataset 'sinogram' has shape {sino.shape} but 'angles' holds {len(ang)} "
                        f"angles; convention={convention} expects {layout}")
    if convention == "skimage":
        sino, ang = sino.T, np.deg2rad(ang)
    A, D = sino.shape
    n = int(scalar("n")) or (image.shape[0] if image is not None else 0)
    if not n and convention == "astra":  # the square's diagonal fits the (virtual) detector
        R, Dd = scalar("source_distance"), scalar("detector_distance")
        width = D * (scalar("detector_spacing") or 1.0)
        n = max(2, int(math.floor(width * (R / (R + Dd) if beam == "fan" and R > 0 else 1.0)
                                  / math.sqrt(2.0))))
    if not n:
        n = D if convention == "skimage" else max(2, int(math.floor(D / math.sqrt(2.0))))
    if image is not None and image.shape != (n, n):
        raise DataError(f"{src}: dataset 'image' has shape {image.shape}; expected ({n}, {n}) (n={n})")
    offset = scalar("offset")
    h = 2.0 / n
    if convention == "skimage":
        c = (n // 2 + 0.5) * h
        ds, center = h, (-1.0 + c, 1.0 - c)
        shift = (D / 2 - 0.5 - D // 2) * h + offset * h
        sino = sino * h
        image = image[::-1] if image is not None else None
    elif convention == "astra":  # pixel units -> [-1, 1]^2; ASTRA's row 0 is on top
        ds = (scalar("detector_spacing") or 1.0) * h
        center, shift = (0.0, 0.0), offset * ds
        sino = sino * h
        image = image[::-1] if image is not None else None
    else:
        ds = scalar("detector_spacing") or 2.0 * math.sqrt(2.0) / D
        center, shift = (0.0, 0.0), offset * ds
    from operators.radon import Geometry
    try:
        if beam == "fan" and convention == "astra":
            from operators.fanbeam import FanGeometry
            if not scalar("source_distance") > n / math.sqrt(2.0):
                raise InvalidProblem(
                    f"source_distance={scalar('source_distance')!r} (ASTRA's "
                    f"source_origin, pixels) must be > n/sqrt(2) = {n / math.sqrt(2.0):.4g}: the source "
                    "stays outside the circle holding the image")
            geom = FanGeometry(n, A, scalar("source_distance") * h, scalar("detector_distance") * h, D, ds, shift,
                               theta_values=tuple(float(t) - math.pi / 2 for t in ang))
        elif beam == "fan":
            from operators.fanbeam import FanGeometry
            probe = FanGeometry(n, A, scalar("source_distance"), scalar("detector_distance"), D,
                                scalar("detector_spacing"))
            geom = FanGeometry(n, A, probe.source_distance, probe.detector_distance, D, probe.du,
                               offset * probe.du, theta_values=tuple(float(t) for t in ang))
        else:
            geom = Geometry(n, A, detectors=D, half_width=D * ds / 2.0,
                            theta_values=tuple(float(t) for t in ang), offset=shift, center=center)
    except InvalidProblem as exc:
        raise DataError(f"{src}: {exc}") from None
    return geom, sino, image
