"""The entropy (Maxwell-Boltzmann) closure of the 1D slab moment system M_N:
quadrature, realisability and the Newton solver of the dual problem.

Moments are taken of the monomials m(μ) = (1, μ, ..., μ^N) on μ in [-1, 1]
with Gauss-Legendre quadrature; the closure density is f = exp(α·m).
:func:`newton_closure` is the reference algorithm behind
:class:`problems.moment_closure.MomentClosure`; the neural closure solver
uses the same quadrature and sampling.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["closure_quadrature", "monomials", "ansatz_moments", "realisable", "newton_closure",
           "sample_closure_moments"]


def closure_quadrature(n_quad: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on μ in [-1, 1]."""
    return np.polynomial.legendre.leggauss(n_quad)


def monomials(mu: np.ndarray, N: int) -> np.ndarray:
    """m(μ) = (1, μ, ..., μ^N), shape (N + 1, len(mu))."""
    return np.vander(mu, N + 1, increasing=True).T


def ansatz_moments(alpha: np.ndarray, N: int, n_quad: int = 64) -> np.ndarray:
    """<m exp(α·m)> for multipliers alpha (B, N + 1) -> moments (B, N + 1)."""
    mu, w = closure_quadrature(n_quad)
    m = monomials(mu, N)
    return (np.exp(np.asarray(alpha) @ m) * w) @ m.T


def realisable(u: np.ndarray, N: int, tol: float = 0.0) -> np.ndarray:
    """Interior of the realisable set of moments (u0 = 1, u1..uN) of positive
    measures on [-1, 1] (Hausdorff moment problem: Hankel conditions).
    ``u`` has shape (B, N) (the normalised moments u1..uN); returns (B,) bool."""
    u = np.atleast_2d(np.asarray(u, dtype=float))
    full = np.concatenate([np.ones((len(u), 1)), u], axis=1)
    k = N // 2
    if N % 2 == 0:
        H1 = np.stack([[full[:, i + j] for j in range(k + 1)] for i in range(k + 1)]).transpose(2, 0, 1)
        mats = [H1]
        if k >= 1:
            H2 = np.stack([[full[:, i + j] - full[:, i + j + 2] for j in range(k)] for i in range(k)]).transpose(2, 0, 1)
            mats.append(H2)
    else:
        Hp = np.stack([[full[:, i + j] + full[:, i + j + 1] for j in range(k + 1)] for i in range(k + 1)]).transpose(2, 0, 1)
        Hm = np.stack([[full[:, i + j] - full[:, i + j + 1] for j in range(k + 1)] for i in range(k + 1)]).transpose(2, 0, 1)
        mats = [Hp, Hm]
    ok = np.ones(len(u), dtype=bool)
    for H in mats:
        ok &= np.linalg.eigvalsh(H).min(axis=1) > tol
    return ok


def newton_closure(u: np.ndarray, N: int, *, tol: float = 1e-10, max_iter: int = 100,
                   n_quad: int = 64) -> tuple[np.ndarray, dict]:
    """Multipliers α (B, N + 1) of the entropy closure f = exp(α·m) with
    <m f> = (1, u1..uN), by damped Newton on the dual
    min_α <exp(α·m)> - α·u until |<m f> - u| <= tol (Alldredge, Hauck, Tits 2012 style; backtracking
    line search).  ``u`` has shape (B, N).  Returns α and stats."""
    u = np.atleast_2d(np.asarray(u, dtype=float))
    target = np.concatenate([np.ones((len(u), 1)), u], axis=1)
    mu, w = closure_quadrature(n_quad)
    m = monomials(mu, N)
    alpha = np.zeros((len(u), N + 1))
    alpha[:, 0] = -math.log(2.0)
    active = np.arange(len(u))
    iters = 0
    for iters in range(1, max_iter + 1):
        a = alpha[active]
        f = np.exp(a @ m) * w
        g = f @ m.T - target[active]
        done = np.linalg.norm(g, axis=1) <= tol
        active, a, f, g = active[~done], a[~done], f[~done], g[~done]
        if len(active) == 0:
            break
        H = np.einsum("bq,iq,jq->bij", f, m, m)
        d = -np.linalg.solve(H, g[..., None])[..., 0]
        phi0 = f.sum(1) - np.einsum("bi,bi->b", a, target[active])
        slope = np.einsum("bi,bi->b", g, d)
        step = np.ones(len(active))
        for _ in range(40):  # backtracking (Armijo) on the convex dual
            trial = a + step[:, None] * d
            phi = np.exp(trial @ m) @ w - np.einsum("bi,bi->b", trial, target[active])
            # Armijo, with a rounding allowance: near the minimum phi cannot decrease further
            bad = ~(phi <= phi0 + 1e-4 * step * slope + 1e-13 * np.abs(phi0)) | ~np.isfinite(phi)
            if not bad.any():
                break
            step = np.where(bad, 0.5 * step, step)
        alpha[active] = a + step[:, None] * d
    resid = np.linalg.norm(ansatz_moments(alpha, N, n_quad) - target, axis=1)
    return alpha, {"iterations": iters, "unconverged": int(np.sum(resid > tol)),
                   "max_residual": float(resid.max())}


def sample_closure_moments(N: int, count: int, alpha_max: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample multipliers α_1..α_N uniformly in [-alpha_max, alpha_max]^N,
    normalise (α_0 from <exp(α·m)> = 1) and return (u1..uN (B, N), α (B, N+1))."""
    rng = np.random.default_rng(seed)
    a = np.concatenate([np.zeros((count, 1)), rng.uniform(-alpha_max, alpha_max, (count, N))], axis=1)
    mu, w = closure_quadrature()
    a[:, 0] = -np.log(np.exp(a @ monomials(mu, N)) @ w)
    return ansatz_moments(a, N)[:, 1:], a
