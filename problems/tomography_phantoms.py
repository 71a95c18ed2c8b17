"""CT phantoms as sums of ellipses: parameters, rasterisation, analytic projections.

An ellipse is a row ``(value, a, b, x0, y0, phi)``: semi-axes a (along the
rotated x axis) and b, centre (x0, y0), rotation phi (radians), on [-1, 1]^2;
a phantom is the sum of the ellipses' indicator functions times their values
(overlaps add, as in ODL's ``ellipsoid_phantom``).

Sources: modified Shepp-Logan (Toft 1996, higher contrast values of Shepp
and Logan 1974); random ellipses follow the DIVal "ellipses" dataset
(Leuschner, Schmidt, Baguer, Maass 2019): a Poisson(40) number of ellipses
(at most 70), values U(-0.4, 1), semi-axes 0.2 Exp(1), centres U(-0.9, 0.9)^2,
rotations U(0, 2 pi), then the foreground (non-zero pixels) shifted and
scaled to [0, 1].
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["shepp_logan", "disk", "random_ellipses", "rasterize", "analytic_sinogram",
           "DISK_RADIUS", "normalize_foreground"]

DISK_RADIUS = 0.5

# value, a, b, x0, y0, phi (degrees) of the modified Shepp-Logan phantom
_SHEPP_LOGAN = np.array([
    [1.0, 0.69, 0.92, 0.0, 0.0, 0.0],
    [-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0],
    [-0.2, 0.1100, 0.3100, 0.22, 0.0, -18.0],
    [-0.2, 0.1600, 0.4100, -0.22, 0.0, 18.0],
    [0.1, 0.2100, 0.2500, 0.0, 0.35, 0.0],
    [0.1, 0.0460, 0.0460, 0.0, 0.1, 0.0],
    [0.1, 0.0460, 0.0460, 0.0, -0.1, 0.0],
    [0.1, 0.0460, 0.0230, -0.08, -0.605, 0.0],
    [0.1, 0.0230, 0.0230, 0.0, -0.606, 0.0],
    [0.1, 0.0230, 0.0460, 0.06, -0.605, 0.0],
])


def shepp_logan() -> np.ndarray:
    """Ellipse table (10, 6) of the modified Shepp-Logan phantom (phi in radians)."""
    e = _SHEPP_LOGAN.copy()
    e[:, 5] = np.radians(e[:, 5])
    return e


def disk(radius: float = DISK_RADIUS) -> np.ndarray:
    """A centred disk of value 1: projections 2 sqrt(r^2 - s^2)."""
    return np.array([[1.0, radius, radius, 0.0, 0.0, 0.0]])


def random_ellipses(rng: np.random.Generator, mean_count: float = 40.0, max_count: int = 70) -> np.ndarray:
    """Random ellipse table as in DIVal's ellipses dataset (see module docstring)."""
    v = rng.uniform(-0.4, 1.0, max_count)
    a = 0.2 * rng.exponential(1.0, max_count)
    b = 0.2 * rng.exponential(1.0, max_count)
    x0 = rng.uniform(-0.9, 0.9, max_count)
    y0 = rng.uniform(-0.9, 0.9, max_count)
    phi = rng.uniform(0.0, 2.0 * math.pi, max_count)
    count = min(int(rng.poisson(mean_count)), max_count)
    return np.stack([v, a, b, x0, y0, phi], axis=1)[:count]


def rasterize(ellipses: np.ndarray, n: int, supersample: int = 1) -> np.ndarray:
    """Image (n, n) on [-1, 1]^2 (``img[i, j]`` at (x_j, y_i)): the mean of
    ``supersample^2`` point samples per pixel (1: point samples at the centres)."""
    m = n * supersample
    c = -1.0 + (np.arange(m) + 0.5) * (2.0 / m)
    x, y = np.meshgrid(c, c, indexing="xy")
    img = np.zeros((m, m))
    for val, a, b, x0, y0, phi in np.asarray(ellipses, dtype=float):
        if val == 0.0 or a <= 0.0 or b <= 0.0:
            continue
        cp, sp = math.cos(phi), math.sin(phi)
        # only the bounding box can be inside: saves most of the work for small ellipses
        r = max(a, b)
        j0, j1 = np.searchsorted(c, [x0 - r, x0 + r])
        i0, i1 = np.searchsorted(c, [y0 - r, y0 + r])
        if j0 >= j1 or i0 >= i1:
            continue
        dx = x[i0:i1, j0:j1] - x0
        dy = y[i0:i1, j0:j1] - y0
        inside = ((dx * cp + dy * sp) / a) ** 2 + ((-dx * sp + dy * cp) / b) ** 2 <= 1.0
        img[i0:i1, j0:j1] += val * inside
    return block_mean(img, supersample)


def block_mean(img: np.ndarray, factor: int) -> np.ndarray:
    """Average over ``factor x factor`` blocks (fine grid -> coarse grid)."""
    if factor == 1:
        return img
    m = img.shape[-1] // factor
    return img.reshape(*img.shape[:-2], m, factor, m, factor).mean(axis=(-3, -1))


def normalize_foreground(img: np.ndarray) -> np.ndarray:
    """DIVal's normalisation: shift the non-zero pixels by -min, divide by max."""
    out = img.copy()
    nz = out != 0.0
    if nz.any():
        out[nz] -= out.min()
        top = out.max()
        if top > 0:
            out /= top
    return out


def analytic_sinogram(ellipses: np.ndarray, theta: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Exact line integrals (A, D) of the ellipse phantom:
    2 v a b sqrt(a_t^2 - (s - s0)^2) / a_t^2, a_t^2 = a^2 cos^2(t - phi) + b^2 sin^2(t - phi),
    s0 = x0 cos t + y0 sin t."""
    th = np.asarray(theta, dtype=float)[:, None]
    s = np.asarray(s, dtype=float)[None, :]
    out = np.zeros((th.shape[0], s.shape[1]))
    for val, a, b, x0, y0, phi in np.asarray(ellipses, dtype=float):
        at2 = (a * np.cos(th - phi)) ** 2 + (b * np.sin(th - phi)) ** 2
        s0 = x0 * np.cos(th) + y0 * np.sin(th)
        out += 2.0 * val * a * b * np.sqrt(np.clip(at2 - (s - s0) ** 2, 0.0, None)) / at2
    return out
