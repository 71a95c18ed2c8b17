"""Gaussian random fields on the unit square by a truncated cosine series.

The field has covariance operator C = (-Δ + tau² I)^(-alpha) with Neumann
boundary conditions on (0, 1)², i.e. the Karhunen-Loève expansion

    g(x, y) = Σ_{k1, k2 = 0}^{K-1} ξ_k  sqrt(λ_k)  φ_k1(x) φ_k2(y),
    λ_k = (π² (k1² + k2²) + tau²)^(-alpha),
    φ_0 = 1,  φ_k(t) = sqrt(2) cos(π k t)  (orthonormal in L²(0, 1)),

with ξ_k iid standard normal, truncated at K terms per direction, and the
constant mode (k = 0, 0) set to zero as in the data-generation code of the
FNO paper (Li et al., "Fourier neural operator for parametric PDEs", ICLR
2021: alpha = 2, tau = 3).  Because the coefficients ξ of sample ``i`` come
from the stream ``SeedSequence([seed, i])`` and K is fixed, the *same* random
function is obtained at every grid resolution: files at resolutions 85 and
141 with the same seed hold the same coefficient fields, which is what a
zero-shot super-resolution test needs.
"""
from __future__ import annotations

import numpy as np

__all__ = ["grf_coefficients", "grf_on_grid", "darcy_coefficient"]


def grf_coefficients(seed: int, index: int, terms: int, alpha: float = 2.0, tau: float = 3.0) -> np.ndarray:
    """The (terms, terms) array ξ_k sqrt(λ_k) c_k1 c_k2 of sample ``index``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
    xi = rng.standard_normal((terms, terms))
    k = np.arange(terms)
    lam = (np.pi ** 2 * (k[:, None] ** 2 + k[None, :] ** 2) + tau ** 2) ** (-alpha)
    norm = np.where(k == 0, 1.0, np.sqrt(2.0))
    coef = xi * np.sqrt(lam) * norm[:, None] * norm[None, :]
    coef[0, 0] = 0.0
    return coef


def grf_on_grid(coef: np.ndarray, res: int) -> np.ndarray:
    """g[i, j] = g(x_i, y_j) on the grid x_i = i/(res-1) from series coefficients."""
    t = np.linspace(0.0, 1.0, res)
    basis = np.cos(np.pi * np.arange(coef.shape[0])[:, None] * t[None, :])  # (K, res)
    return basis.T @ coef @ basis


def darcy_coefficient(g: np.ndarray, a_plus: float = 12.0, a_minus: float = 3.0) -> np.ndarray:
    """a = a_plus where the field is positive, a_minus elsewhere (Li et al. 2021)."""
    return np.where(g > 0.0, a_plus, a_minus)
