"""A user's own Kolmogorov problem (tests/data/my_problems.py, written exactly as a user
would), through the Python API, the CLI and a study, against closed forms computed here.

Ornstein-Uhlenbeck dX = -theta X dt + s dW (theta = 1/2, s = 0.8, d = 5, T = 1):
coordinate i of X_T is N(x_i e^{-theta T}, v) with v = s^2 (1 - e^{-2 theta T}) / (2 theta),
so for phi = cos(sum x): u(T, x) = cos(e^{-theta T} sum x) exp(-d v / 2), and for
phi = exp(-|x|^2): u(T, x) = (1 + 2v)^{-d/2} exp(-e^{-2 theta T} |x|^2 / (1 + 2v)).
Euler-Maruyama with N steps of h = T / N keeps X Gaussian with mean factor (1 - theta h)^N
and variance s^2 h sum_k (1 - theta h)^{2k}: the Monte Carlo estimate with Euler is unbiased
for that discretised closed form, so it is tested against it within 3 standard errors.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sciml import cli, loading
from sciml.core import InvalidOption, InvalidProblem

DATA = Path(__file__).parents[1] / "data"
FILE = str(DATA / "my_problems.py")
THETA, S, D, T = 0.5, 0.8, 5, 1.0


def ou_moments(steps: int | None) -> tuple[float, float]:
    """(mean factor, variance) of X_T: exact (steps None) or after Euler steps."""
    if steps is None:
        return math.exp(-THETA * T), S * S * (1 - math.exp(-2 * THETA * T)) / (2 * THETA)
    h = T / steps
    q = 1.0 - THETA * h
    return q ** steps, S * S * h * sum(q ** (2 * k) for k in range(steps))


def cos_closed(x: np.ndarray, steps: int | None = None) -> np.ndarray:
    m, v = ou_moments(steps)
    return np.cos(m * x.sum(axis=1)) * math.exp(-0.5 * D * v)


def gauss_closed(x: np.ndarray, steps: int | None = None) -> np.ndarray:
    m, v = ou_moments(steps)
    return (1 + 2 * v) ** (-D / 2) * np.exp(-(m * m) * (x * x).sum(axis=1) / (1 + 2 * v))


def test_euler_closed_form_is_near_the_continuous_one():
    x = np.random.default_rng(0).uniform(-1, 1, (50, D))
    assert np.max(np.abs(cos_closed(x, 50) - cos_closed(x))) < 5e-3   # weak order 1: O(h)
    assert np.max(np.abs(cos_closed(x, 400) - cos_closed(x))) < 5e-3 / 8 * 1.1


def test_monte_carlo_on_the_users_ou_within_3_standard_errors():
    from sciml.references.monte_carlo import MonteCarlo
    p = loading.make_problem(f"{FILE}:ou", {"n_test": 10})
    sol = MonteCarlo(samples=20_000, steps=40).solve(p, seed=0)   # scheme auto -> euler (drift function)
    assert sol.stats["scheme"] == "euler"
    x = p.test_points()
    err = np.abs(sol(x) - cos_closed(x, 40)) / sol.fn.stderr(x)
    assert np.all(err < 3.0), err
    # the drift is used: without it the answer is far off (cos(sum x) e^{-d s^2 T / 2})
    no_drift = np.cos(x.sum(axis=1)) * math.exp(-0.5 * D * S * S * T)
    assert np.max(np.abs(sol(x) - no_drift)) > 10 * np.max(sol.fn.stderr(x))


def test_monte_carlo_exact_sampler_with_shift_and_full_matrix():
    from sciml.references.monte_carlo import MonteCarlo
    p = loading.make_problem(f"{FILE}:shifted")
    assert "sde-affine" in p.capabilities()
    sol = MonteCarlo(samples=20_000).solve(p, seed=1)
    assert sol.stats["scheme"] == "exact"
    x = p.test_points()
    mu = np.array([0.1, 0.2, 0.3])
    sig = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 2.0]])
    exact = ((x + mu * p.T) ** 2).sum(axis=1) + p.T * np.trace(sig @ sig.T)   # E|X_T|^2
    assert np.all(np.abs(sol(x) - exact) < 3.0 * sol.fn.stderr(x))


def test_deep_kolmogorov_on_the_users_ou_rel_l1_below_1e2():
    from sciml.solvers.deep_kolmogorov import DeepKolmogorov
    p = loading.make_problem(f"{FILE}:ou_gauss")
    sol = DeepKolmogorov(steps=2000, batch=2048, time_steps=100).solve(p, seed=0)
    x = p.test_points()
    v, u = sol(x), gauss_closed(x)
    rel_l1 = float(np.mean(np.abs(v - u) / np.abs(u)))
    assert rel_l1 <= 1e-2, rel_l1
    # the drift matters here: the drift-free answer is more than 10 % off
    u0 = (1 + 2 * S * S * T) ** (-D / 2) * np.exp(-(x * x).sum(axis=1) / (1 + 2 * S * S * T))
    assert np.mean(np.abs(u0 - u) / u) > 0.1


def test_affine_sde_refuses_a_kind_that_drops_a_term():
    from problems.kolmogorov import AffineSDE
    with pytest.raises(InvalidProblem, match="brownian.*drift = 0"):
        AffineSDE("brownian", np.full(2, 0.3), np.ones(2), np.zeros(2), np.eye(2))
    with pytest.raises(InvalidProblem, match="gbm.*s0 = 0"):
        AffineSDE("gbm", np.zeros(2), np.ones(2), np.ones(2), np.eye(2))


def _run(args, capsys):
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_solve_user_file_json(capsys, monkeypatch):
    monkeypatch.chdir(DATA)
    code, out, err = _run(["solve", "my_problems.py:ou", "--solver", "monte-carlo", "-p", "n_test=4",
                           "-o", "samples=4000", "-o", "steps=10", "-r", "samples=4000", "-r", "steps=10",
                           "--json"], capsys)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["problem"] == "my_problems.py:ou"
    assert rec["params"]["initial"] == "my_problems.phi" and rec["params"]["n_test"] == 4
    # |phi| <= 1, so each estimate's standard error is at most 1/sqrt(4000)
    u0 = float(cos_closed(np.zeros((1, D)), 10)[0])
    assert abs(rec["value"] - u0) < 4.0 / math.sqrt(4000)


def test_cli_module_name_and_help(capsys):
    code, out, err = _run(["solve", "problems.kolmogorov:Heat", "-p", "d=2", "-p", "n_test=5",
                           "--solver", "monte-carlo", "-o", "samples=2000", "--json"], capsys)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["params"]["d"] == 2 and rec["reference"] == "exact"
    code, out, err = _run(["solve", f"{FILE}:ou", "--solver", "deep-kolmogorov", "--help"], capsys)
    assert code == 0
    assert "initial" in out and "time_steps" in out and "can solve this problem" in out
    # ranges come from the validation code itself
    code, out, err = _run(["solve", "heat", "--solver", "monte-carlo", "--help"], capsys)
    assert code == 0 and "[1, 100000]" in out and "[samples, inf)" in out


@pytest.mark.parametrize("args, fragment", [
    (["solve", "nosuch_file.py:ou", "--solver", "monte-carlo"], "does not exist"),
    (["solve", f"{FILE}:nosuch", "--solver", "monte-carlo"], "has no 'nosuch'"),
    (["solve", f"{FILE}:drift", "--solver", "monte-carlo"], "calling it failed"),
    (["solve", f"{FILE}:THETA_NOT_THERE", "--solver", "monte-carlo"], "problems there:"),
    (["solve", "no_such_module:x", "--solver", "monte-carlo"], "no module named"),
    (["solve", f"{FILE}:ou", "--solver", "deep-bsde"], "cannot solve problem"),
    (["solve", f"{FILE}:ou", "--solver", "monte-carlo", "-o", "scheme=exact"], "scheme=exact needs"),
    (["solve", f"{FILE}:ou", "--solver", "monte-carlo", "-p", "nokey=1"], "unknown problem (-p) key"),
])
def test_cli_bad_user_problem_exit_2(capsys, args, fragment):
    code, out, err = _run(args, capsys)
    assert code == 2
    assert fragment in err and len(err.strip().splitlines()) == 1, err


def _k(**kw):
    from problems.kolmogorov import Kolmogorov
    base = dict(d=2, initial=lambda x, xp: xp.sum(x, axis=0))
    return Kolmogorov(**{**base, **kw})


@pytest.mark.parametrize("kw, fragment", [
    (dict(initial=lambda x: x[0]), "expected initial(x, xp)"),
    (dict(initial=lambda x, xp: x), "returned shape (2, 5); expected (5,)"),
    (dict(initial=lambda x, xp: xp.log(x[0] - 10.0)), "NaN or inf"),
    (dict(drift=lambda t, x, xp: x[0]), "drift returned shape (5,); expected (2, 5)"),
    (dict(diffusion=np.ones((3, 3))), "diffusion has shape (3, 3)"),
    (dict(diffusion=lambda t, x, xp: xp.ones((2, 3, 5))), "diffusion returned shape"),
    (dict(initial=None), "initial is required"),
    (dict(d=True), "expected an integer, not a boolean"),
])
def test_bad_user_kolmogorov_is_refused_in_one_line(kw, fragment):
    with pytest.raises(InvalidProblem) as info:
        _k(**kw)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_numba_refuses_what_it_cannot_compile_in_one_line():
    from sciml.references.monte_carlo import MonteCarlo

    def phi(x, xp):
        from scipy.special import erf   # a SciPy ufunc: NumPy runs it, Numba cannot
        return erf(x[0])

    p = _k(initial=phi, n_test=3)
    with pytest.raises(InvalidOption, match="cannot be compiled by Numba"):
        MonteCarlo(samples=100).solve(p)


def test_study_takes_a_user_file_relative_to_the_study(tmp_path):
    from sciml import study
    (tmp_path / "sub").mkdir()
    (tmp_path / "study_problems.py").write_text((DATA / "my_problems.py").read_text())
    spec = tmp_path / "sub" / "study.toml"
    spec.write_text('[[problem]]\nname = "../study_problems.py:shifted"\nparams = { n_test = 4 }\n'
                    'reference = "monte-carlo"\nreference_options = { samples = 2000 }\n'
                    '[[solver]]\nname = "monte-carlo"\noptions = { samples = [500, 1000] }\n')
    result = study.run(spec, out=tmp_path / "out", progress=False)
    assert not result.failed and len(result.cells) == 2


def test_monte_carlo_exact_sampler_with_an_untraceable_initial_value():
    """xp.amax is not traced into a fused loop: the compiled function runs instead.
    E max(X1, X2) for independent N(m_i, s^2 T): m1 N(q) + m2 N(-q) + th phi(q),
    th = s sqrt(2T), q = (m1 - m2) / th."""
    from scipy.stats import norm
    from problems.kolmogorov import Kolmogorov
    from sciml.references.monte_carlo import MonteCarlo
    s, T = 0.7, 0.5
    p = Kolmogorov(d=2, T=T, a=-1.0, b=1.0, drift=0.0, diffusion=s,
                   initial=lambda x, xp: xp.amax(x, axis=0), n_test=8)
    sol = MonteCarlo(samples=20_000).solve(p, seed=3)
    x = p.test_points()
    th = s * math.sqrt(2 * T)
    q = (x[:, 0] - x[:, 1]) / th
    exact = x[:, 0] * norm.cdf(q) + x[:, 1] * norm.cdf(-q) + th * norm.pdf(q)
    assert np.all(np.abs(sol(x) - exact) < 3.0 * sol.fn.stderr(x))
