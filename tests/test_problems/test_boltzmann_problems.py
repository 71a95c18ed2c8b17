"""The BKW formulas, checked independently of the spectral solver.

* moments by adaptive radial quadrature (scipy.integrate.quad);
* Q(f_BKW) by brute-force quadrature of the collision integral at a few
  velocities, against K'(t) ∂f/∂K with ∂f/∂K by complex step (exact to
  rounding) and K' checked against a finite difference of K(t).

Why the brute-force quadrature is accurate: for fixed (v, v_*) the BKW product
f(v') f(v'_*) has the constant Gaussian factor exp(-(|v|^2+|v_*|^2)/(2K))
(energy conservation) times a polynomial of degree 2 in ω, so a spherical rule
exact for degree >= 2 integrates ω exactly; the remaining v_* integrand is a
polynomial times a Gaussian, for which the trapezoidal rule on a periodic-like
grid converges geometrically.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from problems.boltzmann import (BKW3_T_MIN, BoltzmannBKW, BoltzmannBimodal, bkw_dK_dt, bkw_f, bkw_K,
                                euler_riemann_gamma3)
from sciml.core import InvalidProblem

SPHERE = {2: 2 * math.pi, 3: 4 * math.pi}


def radial_moment(dim: int, K: float, power: int) -> float:
    g = lambda r: SPHERE[dim] * r ** (dim - 1 + power) * bkw_f(np.array([[r] + [0.0] * (dim - 1)]), K, dim)[0]  # noqa: E731
    val, err = quad(g, 0.0, 60.0, epsabs=1e-13, epsrel=1e-13, limit=200)
    return val


@pytest.mark.parametrize("dim,t", [(2, 0.0), (2, 0.7), (2, 5.0), (3, BKW3_T_MIN), (3, 6.0), (3, 9.0)])
def test_bkw_moments_by_quadrature(dim, t):
    K = bkw_K(t, dim)
    assert radial_moment(dim, K, 0) == pytest.approx(1.0, abs=1e-11)
    assert radial_moment(dim, K, 2) == pytest.approx(dim, rel=1e-11)
    assert radial_moment(dim, K, 4) == pytest.approx(dim * (dim + 2) * K * (2 - K), rel=1e-11)
    # the problem states the same values
    m = BoltzmannBKW(dim=dim, t0=max(t, BKW3_T_MIN) if dim == 3 else t, t1=t + 1).moments_exact(t)
    assert m["fourth"] == pytest.approx(dim * (dim + 2) * K * (2 - K), rel=1e-15)


@pytest.mark.parametrize("dim", [2, 3])
def test_bkw_dK_dt_matches_finite_difference(dim):
    for t in (5.5, 6.0, 7.3) if dim == 3 else (0.0, 0.4, 3.0):
        eps = 1e-5
        fd = (bkw_K(t + eps, dim) - bkw_K(t - eps, dim)) / (2 * eps)
        assert bkw_dK_dt(t, dim) == pytest.approx(fd, rel=1e-9)  # central difference: O(eps^2)


def test_bkw3_nonnegative_exactly_from_6_ln_5_over_2():
    v = np.linspace(0, 10, 2001)[:, None] * np.array([[1.0, 0, 0]])
    assert bkw_f(v, bkw_K(BKW3_T_MIN, 3), 3).min() >= -1e-15
    assert bkw_f(v, bkw_K(BKW3_T_MIN - 0.05, 3), 3).min() < 0


def _sphere_rule(dim: int):
    if dim == 2:
        a = 2 * math.pi * np.arange(8) / 8
        return np.stack([np.cos(a), np.sin(a)], 1), np.full(8, 2 * math.pi / 8)
    # exact for polynomials of degree <= 5 on the sphere (degree 2 is needed)
    x, w = np.polynomial.legendre.leggauss(3)
    phi = 2 * math.pi * np.arange(6) / 6
    ct, ph = np.meshgrid(x, phi, indexing="ij")
    st = np.sqrt(1 - ct ** 2)
    om = np.stack([st * np.cos(ph), st * np.sin(ph), ct], -1).reshape(-1, 3)
    return om, (w[:, None] * np.full(6, 2 * math.pi / 6)[None, :]).reshape(-1)


def brute_force_Q(v: np.ndarray, K: float, dim: int) -> float:
    """Q(f_BKW)(v) = ∫∫ B [f(v') f(v'_*) - f(v) f(v_*)] dω dv_* by quadrature."""
    B = 1 / (2 * math.pi) if dim == 2 else 1 / (4 * math.pi)
    m = 121 if dim == 2 else 33
    ax = np.linspace(-9, 9, m)
    h = ax[1] - ax[0]
    vs = np.stack([g.reshape(-1) for g in np.meshgrid(*([ax] * dim), indexing="ij")], 1)
    om, wom = _sphere_rule(dim)
    q = v[None, :] - vs
    qn = np.linalg.norm(q, axis=1)
    c = 0.5 * (v[None, :] + vs)
    gain = np.zeros(len(vs))
    for o, wo in zip(om, wom):
        vp = c + 0.5 * qn[:, None] * o
        vps = c - 0.5 * qn[:, None] * o
        gain += wo * bkw_f(vp, K, dim) * bkw_f(vps, K, dim)
    loss = SPHERE[dim] * bkw_f(v[None, :], K, dim) * bkw_f(vs, K, dim)
    return float(B * h ** dim * np.sum(gain - loss))


@pytest.mark.parametrize("dim,t", [(2, 0.0), (2, 1.0), (3, 5.6), (3, 7.0)])
def test_Q_of_bkw_equals_dK_dt_df_dK(dim, t):
    K = bkw_K(t, dim)
    pts = np.array([[0.0] * dim, [0.7, -0.3, 0.2][:dim], [1.5, 0.4, -0.8][:dim], [2.5, 0.0, 0.0][:dim]])
    eps = 1e-30  # complex step: ∂f/∂K = Im f(K + iε)/ε without cancellation
    dfdK = np.imag(bkw_f(pts, K + 1j * eps, dim)) / eps
    rhs = bkw_dK_dt(t, dim) * dfdK
    Q = np.array([brute_force_Q(p, K, dim) for p in pts])
    scale = np.max(np.abs(rhs))
    assert np.max(np.abs(Q - rhs)) <= 1e-11 * scale  # measured ~1e-14


def test_bad_problem_input():
    with pytest.raises(InvalidProblem, match="dim"):
        BoltzmannBKW(dim=4)
    with pytest.raises(InvalidProblem, match="6 ln"):
        BoltzmannBKW(dim=3, t0=5.0, t1=6.0)
    with pytest.raises(InvalidProblem, match="t1"):
        BoltzmannBKW(dim=2, t0=1.0, t1=1.0)
    with pytest.raises(InvalidProblem, match="weight"):
        BoltzmannBimodal(weight=-0.1)


def test_bimodal_conserved_moments_and_equilibrium():
    p = BoltzmannBimodal(dim=2, separation=1.5, temperature=0.4, weight=0.3)
    ax = np.linspace(-12, 12, 241)
    h = ax[1] - ax[0]
    v = np.stack([g.reshape(-1) for g in np.meshgrid(ax, ax, indexing="ij")], 1)
    for f in (p.initial(v), p.equilibrium(v)):
        mom = h * h * np.concatenate([[f.sum()], v.T @ f, [np.sum(v ** 2, 1) @ f]])
        assert np.allclose(mom, p.conserved(), atol=1e-12)


def test_euler_riemann_solver_against_toro_sod_gamma_1_4():
    # Toro (2009), Table 4.3, test 1: p* = 0.30313, u* = 0.92745, rho*L = 0.42632, rho*R = 0.26557
    # t = 0.25: x = 0.2 is left of the contact (0.232), x = 0.3 between contact and shock (0.438)
    out = euler_riemann_gamma3(np.array([0.2, 0.3]), 0.25, (1.0, 0.0, 1.0), (0.125, 0.0, 0.1), gamma=1.4)
    assert out[2] == pytest.approx([0.30313, 0.30313], abs=1e-5)
    assert out[1] == pytest.approx([0.92745, 0.92745], abs=1e-5)
    assert out[0] == pytest.approx([0.42632, 0.26557], abs=1e-5)
