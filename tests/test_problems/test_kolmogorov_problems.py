"""Kolmogorov problems: validation, closed forms, quadrature."""
from __future__ import annotations

import math

import numpy as np
import pytest

from problems.kolmogorov import BlackScholes, Heat, black_scholes_call, max_call_price
from sciml import registry
from sciml.core import InvalidOption, InvalidProblem


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("name, values, key", [
    ("heat", dict(d=0), "d"),
    ("heat", dict(T=0.0), "T"),
    ("heat", dict(T=-1.0), "T"),
    ("heat", dict(a=1.0, b=1.0), "a"),
    ("heat", dict(a=2.0, b=1.0), "a"),
    ("heat", dict(d=3, x0=(0.5, 1.5, 0.5)), "x0"),
    ("heat", dict(d=3, x0=(0.5, 0.5)), "x0"),
    ("heat", dict(initial="cubic"), "initial"),
    ("black-scholes", dict(sigma=(-0.2,)), "sigma"),
    ("black-scholes", dict(d=3, sigma=(0.2, 0.3)), "sigma"),
    ("black-scholes", dict(payoff="put-min", d=5, rho=-0.3), "rho"),
    ("black-scholes", dict(payoff="put-min", d=5, rho=1.0), "rho"),
    ("black-scholes", dict(payoff="call", d=3), "d"),
    ("black-scholes", dict(a=0.0), "a"),
    ("black-scholes", dict(K=-1.0), "K"),
])
def test_bad_input_names_the_key(name, values, key):
    with pytest.raises(InvalidProblem, match=rf"\b{key}\b"):
        registry.make_problem(name, **values)


def test_rho_range_is_the_positive_definite_range():
    # equicorrelation eigenvalues: 1 - rho (d-1 times) and 1 + (d-1) rho
    BlackScholes(payoff="put-min", d=5, rho=-0.24)
    with pytest.raises(InvalidProblem, match=r"\(-0.25, 1\)"):
        BlackScholes(payoff="put-min", d=5, rho=-0.25)


def test_defaults_and_cli_strings():
    p = registry.make_problem("black-scholes", payoff="put-min")
    assert (p.d, p.K, p.a, p.b, p.T, p.rho) == (50, 5.5, 4.5, 5.5, 1.0, 0.5)
    assert p.vols[0] == pytest.approx(0.1 + 1 / 100) and p.vols[-1] == pytest.approx(0.6)
    assert np.allclose(p.sde().drift, -0.05)
    q = registry.make_problem("black-scholes", d="3", sigma="0.1,0.2,0.3", x0="100")
    assert q.vols.tolist() == [0.1, 0.2, 0.3] and q.value_point().tolist() == [100.0] * 3
    assert Heat(d=3, x0=0.2).value_point().tolist() == [0.2] * 3  # numbers from Python, too
    assert BlackScholes(d=2, sigma=0.3).vols.tolist() == [0.3, 0.3]
    h = Heat(d=4, a=-1.0, b=3.0)
    assert h.value_point().tolist() == [1.0] * 4
    x = h.test_points()
    assert x.shape == (1000, 4) and x.min() >= -1 and x.max() <= 3
    assert np.array_equal(x, Heat(d=4, a=-1.0, b=3.0).test_points())


def test_exact_requires_matching_dimension_and_closed_form():
    with pytest.raises(InvalidOption, match="coordinates"):
        Heat(d=3).exact(np.zeros((2, 4)))
    with pytest.raises(InvalidOption, match="monte-carlo"):
        BlackScholes(payoff="put-min", d=3).exact(np.full((1, 3), 5.0))
    assert not BlackScholes(payoff="put-min", d=3).has_exact
    assert not BlackScholes(payoff="max-call", d=3, rho=0.2).has_exact


# ------------------------------------------------------------ closed forms
def test_heat_gaussian_closed_form_against_gauss_hermite():
    # u(T, x) = prod_i E exp(-(x_i + sqrt(2T) Z)^2), each factor by 100-point Gauss-Hermite
    # (80 points already agree to 1e-15)
    p = Heat(d=5, T=0.7, initial="gaussian", a=-1.0, b=1.0, n_test=20)
    t, w = np.polynomial.hermite_e.hermegauss(100)
    w = w / w.sum()
    x = p.test_points()
    s = math.sqrt(2 * p.T)
    factors = np.exp(-(x[:, :, None] + s * t[None, None, :]) ** 2) @ w
    np.testing.assert_allclose(p.exact(x), factors.prod(axis=1), rtol=1e-12)


def _bs_call_erf(x, K, r, q, s, T):
    # independent implementation with math.erfc
    N = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))  # noqa: E731
    d1 = (math.log(x / K) + (r - q + s * s / 2) * T) / (s * math.sqrt(T))
    return x * math.exp(-q * T) * N(d1) - K * math.exp(-r * T) * N(d1 - s * math.sqrt(T))


def test_call_exact_is_black_scholes_formula():
    # Hull, Options, Futures and Other Derivatives, Example 15.6: c = 4.76
    assert black_scholes_call(np.array([42.0]), 40.0, 0.1, 0.0, 0.2, 0.5)[0] == pytest.approx(4.7594, abs=1e-4)
    p = BlackScholes(payoff="call", d=1, T=1.5, r=0.03, q=0.01, sigma=(0.25,))
    x = p.test_points()[:50]
    ref = np.array([_bs_call_erf(v, p.K, p.r, p.q, 0.25, p.T) for v in x[:, 0]])
    np.testing.assert_allclose(p.exact(x), ref, rtol=1e-10, atol=0)


def test_max_call_quadrature_reduces_to_black_scholes_for_one_asset():
    x = np.linspace(60.0, 160.0, 41)[:, None]
    for T, s in ((3.0, 0.2), (0.25, 0.6), (1.0, 0.05)):
        quad = max_call_price(x, 100.0, 0.05, 0.1, np.array([s]), T)
        exact = black_scholes_call(x[:, 0], 100.0, 0.05, 0.1, s, T)
        np.testing.assert_allclose(quad, exact, rtol=1e-10, atol=1e-12)


def test_max_call_quadrature_is_converged_and_symmetric():
    p = BlackScholes(d=10, n_test=40)
    x = p.test_points()
    base = p.exact(x)
    finer = max_call_price(x, p.K, p.r, p.q, p.vols, p.T, panels=96, order=24)
    np.testing.assert_allclose(base, finer, rtol=1e-12)
    # the price is symmetric in the assets (equal volatilities)
    np.testing.assert_allclose(p.exact(x[:, ::-1]), base, rtol=1e-12)
    # max_i X_i >= X_j pathwise, so the max-call dominates each single-asset call
    q = BlackScholes(d=2)
    y = q.test_points()[:20]
    single = [black_scholes_call(y[:, i], q.K, q.r, q.q, 0.2, q.T) for i in range(2)]
    assert np.all(q.exact(y) >= np.maximum(*single))


def test_phi_numpy_and_torch_agree():
    torch = pytest.importorskip("torch")
    for p in (Heat(d=3), Heat(d=3, initial="gaussian"), BlackScholes(payoff="call", d=1),
              BlackScholes(d=3), BlackScholes(payoff="put-min", d=3)):
        x = p.test_points()[:7] * 1.05
        np.testing.assert_allclose(p.phi(torch.as_tensor(x), torch).numpy(), p.phi(x), rtol=1e-14)
