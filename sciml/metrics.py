"""Error metrics.  Plain NumPy; no framework imports.

Conventions (stated because papers differ):

* ``rel_l2``  = ||u_h - u||_2 / ||u||_2 over the test points (discrete norms);
* ``rel_l1``  = ||u_h - u||_1 / ||u||_1 over the test points;
* ``max``     = max |u_h - u| (absolute);
* ``mean_rel_l1`` = mean over points of |u_h - u| / |u| (Beck et al. 2021's
  "relative L1" for Kolmogorov problems);
* ``psnr``    = 10 log10(range^2 / MSE), range = max - min of the ground truth
  of that image.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InvalidOption

__all__ = ["rel_l2", "rel_l1", "max_error", "mean_rel_l1", "pointwise_errors",
           "value_errors", "psnr", "ssim"]


def _pair(approx, exact) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(approx, dtype=float).reshape(-1)
    e = np.asarray(exact, dtype=float).reshape(-1)
    if a.shape != e.shape:
        raise InvalidOption(f"cannot compare arrays of {a.size} and {e.size} values")
    return a, e


def rel_l2(approx, exact) -> float:
    """Relative discrete L2 error ||approx - exact||_2 / ||exact||_2."""
    a, e = _pair(approx, exact)
    return float(np.linalg.norm(a - e) / np.linalg.norm(e))


def rel_l1(approx, exact) -> float:
    """Relative discrete L1 error ||approx - exact||_1 / ||exact||_1."""
    a, e = _pair(approx, exact)
    return float(np.sum(np.abs(a - e)) / np.sum(np.abs(e)))


def max_error(approx, exact) -> float:
    """Absolute maximum error max |approx - exact|."""
    a, e = _pair(approx, exact)
    return float(np.max(np.abs(a - e)))


def mean_rel_l1(approx, exact) -> float:
    """Mean over points of |approx - exact| / |exact| (Beck et al. 2021)."""
    a, e = _pair(approx, exact)
    return float(np.mean(np.abs(a - e) / np.abs(e)))


def pointwise_errors(approx, exact) -> dict[str, float]:
    """rel_l2, rel_l1 and absolute max error on the same points."""
    return {"rel_l2": rel_l2(approx, exact), "rel_l1": rel_l1(approx, exact),
            "max": max_error(approx, exact)}


def value_errors(value: float | None, reference: float | None) -> dict[str, float]:
    """Relative and absolute error of a scalar answer."""
    if value is None or reference is None:
        raise InvalidOption("value comparison needs a value from both the solver and the reference")
    abs_err = abs(float(value) - float(reference))
    rel = abs_err / abs(float(reference)) if reference != 0 else math.inf
    return {"rel_error": rel, "abs_error": abs_err}


def psnr(image, truth, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to max - min of ``truth``."""
    x = np.asarray(image, dtype=float)
    t = np.asarray(truth, dtype=float)
    if x.shape != t.shape:
        raise InvalidOption(f"psnr: image shape {x.shape} does not match truth shape {t.shape}")
    rng = float(t.max() - t.min()) if data_range is None else float(data_range)
    mse = float(np.mean((x - t) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(rng * rng / mse)


def _window_filter(img: np.ndarray, sigma: float, radius: int) -> np.ndarray:
    """Separable Gaussian (``sigma`` finite) or uniform (``sigma`` infinite) window of half-width ``radius``."""
    k = np.arange(-radius, radius + 1, dtype=float)
    w = np.exp(-0.5 * (k / sigma) ** 2)
    w /= w.sum()
    # 'valid' separable convolution: avoids boundary effects, as in Wang et al.
    out = np.apply_along_axis(lambda r: np.convolve(r, w, mode="valid"), 0, img)
    return np.apply_along_axis(lambda r: np.convolve(r, w, mode="valid"), 1, out)


def ssim(image, truth, data_range: float | None = None, sigma: float = 1.5, window: str = "gaussian") -> float:
    """Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004).

    ``window="gaussian"``: Gaussian window sigma = 1.5 truncated at 3.5 sigma (the
    paper's); ``window="uniform"``: a 7 x 7 uniform window (scikit-image's
    ``structural_similarity`` default, which DIVal reports).  K1 = 0.01,
    K2 = 0.03, sample covariances, mean over the pixels whose window lies in the
    image; ``data_range`` defaults to max - min of truth.
    """
    x = np.asarray(image, dtype=float)
    t = np.asarray(truth, dtype=float)
    if x.shape != t.shape or x.ndim != 2:
        raise InvalidOption(f"ssim: needs two 2D images of one shape, got {x.shape} and {t.shape}")
    if window not in ("gaussian", "uniform"):
        raise InvalidOption(f"ssim: window={window!r} is not one of 'gaussian', 'uniform'")
    rng = float(t.max() - t.min()) if data_range is None else float(data_range)
    radius = int(3.5 * sigma + 0.5) if window == "gaussian" else 3
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2
    f = lambda a: _window_filter(a, sigma if window == "gaussian" else math.inf, radius)  # noqa: E731
    mx, mt = f(x), f(t)
    # unbiased (sample) covariance, as in the reference implementation
    npix = (2 * radius + 1) ** 2
    cov_norm = npix / (npix - 1)
    vx = cov_norm * (f(x * x) - mx * mx)
    vt = cov_norm * (f(t * t) - mt * mt)
    cxt = cov_norm * (f(x * t) - mx * mt)
    s = ((2 * mx * mt + c1) * (2 * cxt + c2)) / ((mx ** 2 + mt ** 2 + c1) * (vx + vt + c2))
    return float(s.mean())


#: every error name a problem of the catalogue (``Problem.errors``) or a solver's
#: ``extra_errors`` reports; a study's ``metrics`` must name some of these
NAMES = ("rel_l2", "rel_l1", "max", "rel_error", "abs_error", "psnr", "ssim", "residual",
         "rel_l2_max", "h1", "rel_max", "ssim_7x7", "mass", "momentum", "energy", "moments_rel", "moments_rel_max",
         "alpha_rel", "h_rel", "l2_fem", "h1_fem", "rel_l2_fem", "rel_h1_fem",
         "train_s", "infer_s_per_sample", "fem_s_per_sample")


def is_metric_name(name: str) -> bool:
    """True for a name in :data:`NAMES` or a per-resolution ``rel_l2@resN`` (Darcy)."""
    import re
    return name in NAMES or re.fullmatch(r"rel_l2@res\d+", name) is not None
