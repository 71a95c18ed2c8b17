"""Monte Carlo reference: rate, standard errors, reproducibility, agreement with closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest

from problems.kolmogorov import BlackScholes, Heat, black_scholes_call
from sciml.core import InvalidOption
from sciml.references.monte_carlo import MonteCarlo

pytest.importorskip("numba")


def _rms_errors(problem, x, sizes, reps, antithetic=False):
    u = problem.exact(x)
    out = []
    for n in sizes:
        mc = MonteCarlo(samples=n, antithetic=antithetic)
        err = [mc.estimate(problem, x, seed=s)[0] - u for s in range(reps)]
        out.append(math.sqrt(np.mean(np.square(err))))
    return np.array(out)


@pytest.mark.parametrize("problem", [Heat(d=10, n_test=8), BlackScholes(payoff="call", d=1, n_test=8)],
                         ids=["heat", "call"])
def test_error_decays_at_the_declared_rate(problem):
    # 120 independent repetitions per size: the RMS error is known to about 1/sqrt(240) = 7 %,
    # so the fitted slope over a factor 256 in samples is known to about +-0.02
    sizes = 2 ** np.arange(6, 15, 2)
    rms = _rms_errors(problem, problem.test_points(), sizes, reps=120)
    slope = np.polyfit(np.log(sizes), np.log(rms), 1)[0]
    assert abs(slope - MonteCarlo.RATE) <= 0.1, (slope, rms)


def test_standard_error_matches_the_observed_spread():
    p = Heat(d=10, n_test=4)
    x = p.test_points()
    mc = MonteCarlo(samples=2000)
    runs = [mc.estimate(p, x, seed=s) for s in range(200)]
    spread = np.std([r[0] for r in runs], axis=0, ddof=1)
    se = np.mean([r[1] for r in runs], axis=0)
    # the sample standard deviation of 200 draws is within ~ 3 * 5 % of the truth
    np.testing.assert_allclose(se, spread, rtol=0.15)


def test_same_seed_same_numbers_whatever_the_thread_count(monkeypatch):
    import numba

    from sciml.references import monte_carlo
    monkeypatch.setattr(monte_carlo, "_SERIAL_WORK", 0)  # small jobs would otherwise run serially
    p = BlackScholes(payoff="put-min", d=6, n_test=5)
    x = p.test_points()
    mc = MonteCarlo(samples=9000, antithetic=True)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = mc.estimate(p, x, seed=3)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = mc.estimate(p, x, seed=3)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
    other = mc.estimate(p, x, seed=4)
    assert not np.array_equal(one[0], other[0])


@pytest.mark.parametrize("problem", [
    Heat(d=10, initial="gaussian", a=-0.5, b=0.5, n_test=30),
    BlackScholes(d=10, n_test=30),
    BlackScholes(payoff="call", d=1, n_test=30),
], ids=["heat-gaussian", "max-call", "call"])
@pytest.mark.parametrize("antithetic", [False, True])
def test_agrees_with_exact_within_standard_errors(problem, antithetic):
    x = problem.test_points()
    mean, se, n = MonteCarlo(samples=100_000, antithetic=antithetic).estimate(problem, x, seed=11)
    assert n == 100_000
    # paths are shared by the points, so this is about one Gaussian draw: 4.5 SE is a 1e-5 event
    assert np.all(np.abs(mean - problem.exact(x)) <= 4.5 * se)


def test_standard_errors_match_the_exact_variances_for_the_paraboloid():
    # phi = |x + sZ|^2, s^2 = 2T: Var = 4 s^2 |x|^2 + 2 s^4 d.  An antithetic pair mean is
    # |x|^2 + s^2 |Z|^2 with variance 2 s^4 d (the odd term 2 s <x, Z> cancels)
    p = Heat(d=10, T=0.5, n_test=20)
    x = p.test_points()
    s2, n = 2 * p.T, 40_000
    _, se_plain, _ = MonteCarlo(samples=n).estimate(p, x, seed=0)
    _, se_anti, _ = MonteCarlo(samples=n, antithetic=True).estimate(p, x, seed=0)
    var_plain = 4 * s2 * np.sum(x * x, axis=1) + 2 * s2 ** 2 * p.d
    # the relative error of a sample standard deviation is about sqrt((kurtosis - 1) / 4n) < 1 %
    np.testing.assert_allclose(se_plain, np.sqrt(var_plain / n), rtol=0.03)
    np.testing.assert_allclose(se_anti, np.sqrt(2 * s2 ** 2 * p.d / n), rtol=0.03)


def test_antithetic_pays_for_a_monotone_payoff():
    # for a monotone phi, Cov(phi(Z), phi(-Z)) < 0: n/2 pairs beat n independent paths
    p = BlackScholes(payoff="call", d=1, n_test=20)
    x = p.test_points()
    _, se_plain, _ = MonteCarlo(samples=40_000).estimate(p, x, seed=0)
    _, se_anti, _ = MonteCarlo(samples=20_000, antithetic=True).estimate(p, x, seed=0)
    assert np.all(se_anti < se_plain)


def test_put_on_the_minimum_of_one_asset_is_a_european_put():
    p = BlackScholes(payoff="put-min", d=1, a=4.0, b=7.0, sigma=(0.3,), n_test=20)
    x = p.test_points()
    call = black_scholes_call(x[:, 0], p.K, p.r, p.q, 0.3, p.T)
    put = call - x[:, 0] * math.exp(-p.q * p.T) + p.K * math.exp(-p.r * p.T)  # put-call parity
    mean, se, _ = MonteCarlo(samples=200_000, antithetic=True).estimate(p, x, seed=5)
    assert np.all(np.abs(mean - put) <= 4.5 * se)


def test_euler_maruyama_is_exact_in_law_for_brownian_motion_and_first_order_for_gbm():
    p = Heat(d=5, n_test=10)
    x = p.test_points()
    mean, se, _ = MonteCarlo(samples=50_000, scheme="euler", steps=4).estimate(p, x, seed=2)
    assert np.all(np.abs(mean - p.exact(x)) <= 4.5 * se)
    # GBM, call, one point: Euler-Maruyama has weak order 1 (error ~ 8 / steps here, measured
    # 1.44 at 4 steps); 8x more steps must cut the error well below a third (SE ~ 0.05)
    q = BlackScholes(payoff="call", d=1, sigma=(0.5,), T=2.0, n_test=1)
    y = np.array([[100.0]])
    exact = q.exact(y)[0]
    errs = []
    for steps in (4, 32):
        m, s, _ = MonteCarlo(samples=400_000, antithetic=True, scheme="euler", steps=steps).estimate(q, y, seed=1)
        errs.append(abs(m[0] - exact))
    assert errs[0] > 10 * s[0] and errs[1] < errs[0] / 3


def test_rel_se_target_is_reached_at_every_point():
    p = BlackScholes(payoff="put-min", d=5, n_test=50)
    sol = MonteCarlo(samples=1000, rel_se=5e-3, antithetic=True).solve(p, seed=0)
    x = p.test_points()
    rel = sol.fn.stderr(x) / np.abs(sol(x))
    assert rel.max() <= 5e-3 and sol.stats["rel_stderr_max"] <= 5e-3
    assert sol.stats["samples"] > 1000
    # test points and x0 come from the cache; other points are estimated with the same seed
    y = x[:3] + 0.01
    assert np.array_equal(sol(y), sol(y))


@pytest.mark.parametrize("key, value", [("samples", 1), ("steps", 0), ("rel_se", -1.0), ("scheme", "milstein")])
def test_bad_options(key, value):
    with pytest.raises(InvalidOption, match=key):
        MonteCarlo(**{key: value})
