"""Regenerate the small example files of data/ (see data/README.md).

    .venv/bin/python data/make_examples.py            # writes both files next to this script

* ``shepp_logan_skimage.npz``: scikit-image's Shepp-Logan phantom resized to
  128 x 128 (``skimage.transform.resize``, anti-aliased) and its sinogram by
  ``skimage.transform.radon`` (circle=True) at 90 angles 0, 2, ..., 178
  degrees: datasets ``sinogram`` (128 detectors x 90 angles, skimage's
  layout), ``angles`` (degrees), ``image`` (skimage's layout, row 0 on top),
  ``n`` = 128.  Read it with ``-p convention=skimage``.
* ``antiderivative_1d.npz``: 200 pairs (a, u) at 64 points of [0, 1]:
  a random smooth function (8 sine/cosine modes with amplitudes ~ k^-1.5
  plus a constant, seed 0), u(x) = int_0^x a by the trapezoidal rule on a
  grid 8 times finer; datasets ``a``, ``u`` (200 x 64) and ``x`` (64).
  Read it with ``sciml solve operator-data -p data=data/antiderivative_1d.npz``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def shepp_logan_skimage(n: int = 128, angles: int = 90) -> dict[str, np.ndarray]:
    from skimage.data import shepp_logan_phantom
    from skimage.transform import radon, resize
    image = resize(shepp_logan_phantom(), (n, n), anti_aliasing=True)
    theta = np.linspace(0.0, 180.0, angles, endpoint=False)
    return {"sinogram": radon(image, theta=theta, circle=True), "angles": theta, "image": image,
            "n": np.array(n)}


def antiderivative_1d(count: int = 200, S: int = 64, seed: int = 0, fine: int = 8) -> dict[str, np.ndarray]:
    """``count`` pairs: a, random smooth functions on [0, 1] (8 sine and cosine modes with
    decaying random amplitudes plus a random constant); u(x) = int_0^x a by the composite
    trapezoidal rule on a grid ``fine`` times finer (error <= max|a''| h^2 / 12, about 1e-6
    relative), both sampled at S points ``x``."""
    rng = np.random.default_rng(seed)
    k = np.arange(1, 9)
    c = rng.standard_normal((count, 8)) / k ** 1.5
    d = rng.standard_normal((count, 8)) / k ** 1.5
    xf = np.linspace(0.0, 1.0, fine * (S - 1) + 1)
    af = (c @ np.sin(np.pi * k[:, None] * xf) + d @ np.cos(np.pi * k[:, None] * xf)
          + 0.5 * rng.standard_normal((count, 1)))
    h = xf[1] - xf[0]
    uf = np.concatenate([np.zeros((count, 1)), np.cumsum((af[:, 1:] + af[:, :-1]) * h / 2, axis=1)], axis=1)
    return {"a": af[:, ::fine], "u": uf[:, ::fine], "x": xf[::fine]}


def main() -> None:
    np.savez_compressed(HERE / "shepp_logan_skimage.npz", **shepp_logan_skimage())
    np.savez_compressed(HERE / "antiderivative_1d.npz", **antiderivative_1d())


if __name__ == "__main__":
    main()
