"""Semilinear family: problems, the cole-hopf and radial references, and the CLI contract."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from problems.semilinear import HJB, AllenCahn, DefaultRisk, SineGordon
from sciml.core import InvalidOption, InvalidProblem
from sciml.references import radial as radial_mod
from sciml.references.cole_hopf import ColeHopf, cole_hopf_value, log_radial_expectation
from sciml.references.radial import Radial, radial_solve, transition_matrix


# ------------------------------------------------------------------ problems
@pytest.mark.parametrize("cls,key,value", [
    (AllenCahn, "d", 0), (AllenCahn, "T", 0.0), (SineGordon, "T", -1.0), (HJB, "lam", -1.0),
    (DefaultRisk, "sigma", 0.0), (DefaultRisk, "v_l", 40.0), (AllenCahn, "T", math.nan),
])
def test_bad_problem_fields_name_key_and_value(cls, key, value):
    with pytest.raises(InvalidProblem, match=key):
        cls(**{key: value})


def test_flows_are_exact_solutions_of_the_reaction_ode():
    from scipy.integrate import solve_ivp
    for p in (AllenCahn(d=2), SineGordon(d=2)):
        u0 = np.array([0.05, 0.3, 0.5, 0.9])
        ref = solve_ivp(lambda t, u: p.f(u), (0.0, 0.7), u0, rtol=1e-12, atol=1e-14).y[:, -1]
        assert np.allclose(p.flow(u0, 0.7), ref, rtol=1e-9, atol=1e-12)
        # semigroup property
        assert np.allclose(p.flow(p.flow(u0, 0.3), 0.4), p.flow(u0, 0.7), rtol=1e-13)


def test_default_risk_Q_is_piecewise_linear_and_continuous():
    p = DefaultRisk()
    u = np.array([0.0, 49.999, 50.0, 60.0, 69.999, 70.0, 100.0])
    q = p.Q(u)
    assert q[0] == p.gamma_h and q[-1] == p.gamma_l
    assert q[3] == pytest.approx(0.5 * (p.gamma_h + p.gamma_l))
    assert abs(q[4] - p.gamma_l) < 1e-4 and abs(q[1] - p.gamma_h) < 1e-4


# ---------------------------------------------------------------- cole-hopf
@pytest.mark.parametrize("lam,d,r0", [(1.0, 100, 0.0), (50.0, 100, 0.0), (2.0, 1, 0.0), (1.0, 10, 3.0)])
def test_cole_hopf_against_an_independent_trapezoid_rule(lam, d, r0):
    # trapezoid rule on x = |X_T|, X_T = xi + sqrt(2T) Z, from the noncentral chi density
    # written out directly (Bessel function): spectrally accurate for this smooth integrand
    from scipy.special import ive, gammaln
    T = 1.0
    s = np.linspace(0.0, math.sqrt(r0) + math.sqrt(2 * T) * (math.sqrt(d) + 12), 400_001)
    sig2 = 2 * T
    s_pos = np.maximum(s, 1e-300)
    if r0 == 0.0:
        logp = (d - 1) * np.log(s_pos) - s * s / (2 * sig2) - (d / 2 - 1) * math.log(2) - gammaln(d / 2) \
            - d / 2 * math.log(sig2) + math.log(1.0)
    else:
        a = math.sqrt(r0)
        nu = d / 2 - 1
        logp = (np.log(s_pos / sig2) + nu * np.log(s_pos / a) - (s - a) ** 2 / (2 * sig2)
                + np.log(np.maximum(ive(nu, a * s / sig2), 1e-300)))
    li = logp - lam * np.log(0.5 * (1 + s * s))
    m = li.max()
    log_e = m + math.log(np.trapz(np.exp(li - m), s))
    assert cole_hopf_value(d, T, lam, r0) == pytest.approx(-log_e / lam, rel=1e-9)


def test_cole_hopf_reproduces_pnas_value_and_monte_carlo():
    u = cole_hopf_value(100, 1.0, 1.0)
    assert abs(u - 4.5901) < 1e-4                      # PNAS, 5 digits
    rng = np.random.default_rng(7)
    w = np.exp(-np.log(0.5 * (1 + 2 * (rng.standard_normal((20_000, 100)) ** 2).sum(1))))
    mc, se = -math.log(w.mean()), w.std() / w.mean() / math.sqrt(w.size)   # delta method
    assert abs(mc - u) < 5 * se


def test_cole_hopf_lam_zero_is_the_heat_solution_and_continuous():
    u0 = cole_hopf_value(100, 1.0, 0.0)
    assert u0 == pytest.approx(HJB(lam=0.0).linear_value(), rel=1e-10)
    # d/dlam u = -Var(g)/2 at lam = 0: a small lam moves the value by O(lam)
    assert abs(cole_hopf_value(100, 1.0, 1e-6) - u0) < 1e-5
    assert HJB().exact_value() == cole_hopf_value(100, 1.0, 1.0)


def test_log_radial_expectation_of_a_moment():
    # E|X_T|^2 = r0 + 2 T d exactly
    val = math.exp(log_radial_expectation(7, 0.5, 2.0, lambda r: np.log(r)))
    assert val == pytest.approx(2.0 + 2 * 0.5 * 7, rel=1e-10)


# ------------------------------------------------------------------- radial
class _Linear:
    """AllenCahn with the reaction switched off: radial then computes E[g(X_T)]."""

    def __init__(self, base):
        self.base = base

    def __getattr__(self, name):
        return getattr(self.base, name)

    def flow(self, u, tau):
        return u


def test_radial_transition_matrix_is_stochastic_and_exact_on_linear_functions():
    rho = np.linspace(0, 12, 301)
    P = transition_matrix(rho, 0.05, 5)
    assert np.allclose(np.asarray(P.sum(axis=1)).ravel(), 1.0, atol=1e-14)
    r = rho * rho
    # E[R'] = r + 2 h d: exact for interior nodes (hat interpolation reproduces linear functions)
    inner = rho < 8
    assert np.allclose((P @ r)[inner], r[inner] + 2 * 0.05 * 5, rtol=1e-10, atol=1e-10)


def test_radial_heat_step_converges_at_second_order_in_the_grid():
    p = _Linear(AllenCahn(d=10, T=0.5))
    exact = AllenCahn(d=10, T=0.5).linear_value()
    errs = []
    for nodes in (51, 101, 201):
        _, v, _ = radial_solve(p, nodes, 1)
        errs.append(abs(v[0] - exact))
    order = np.polyfit(np.log([51, 101, 201]), np.log(errs), 1)[0]
    assert -order == pytest.approx(radial_mod.ORDER_INTERPOLATION, abs=0.3)


def test_radial_joint_refinement_order_and_richardson():
    p = AllenCahn(d=10, T=0.5)
    vals = [radial_solve(p, 100 * 2 ** k + 1, 5 * 2 ** k)[1][0] for k in range(4)]
    dv = np.abs(np.diff(vals))
    order = np.polyfit(np.arange(3), np.log2(dv), 1)[0]
    assert -order == pytest.approx(radial_mod.ORDER_JOINT, abs=0.2)
    ex = 2 * np.array(vals[1:]) - np.array(vals[:-1])
    de = np.abs(np.diff(ex))
    assert math.log2(de[0] / de[1]) == pytest.approx(radial_mod.ORDER_EXTRAPOLATED, abs=0.3)


@pytest.mark.parametrize("cls,d", [(AllenCahn, 10), (SineGordon, 10)])
def test_radial_reproduces_becker_et_al_within_0_2_percent(cls, d):
    p = cls(d=d, T=1.0)
    published = p.published()[0]
    sol = Radial(nodes=400, steps=20).solve(p)
    assert abs(sol.value - published) / published < 2e-3
    # the Richardson correction is a small fraction of the tolerance
    assert abs(sol.value - sol.stats["coarse_value"]) / published < 1e-3


def test_nonlinearity_check_rejects_the_linear_answer():
    # the 1% tolerance of the targets separates the nonlinear from the linear (f = 0) answer
    for p, ref in ((AllenCahn(d=10, T=1.0), Radial(nodes=400, steps=20).solve(AllenCahn(d=10, T=1.0)).value),
                   (HJB(d=100, lam=50.0), cole_hopf_value(100, 1.0, 50.0))):
        lin = p.linear_value()
        assert abs(lin - ref) / abs(ref) > 0.01


def test_radial_rejects_problems_it_cannot_solve():
    with pytest.raises(InvalidOption, match="radial"):
        Radial().check_problem(DefaultRisk())
    with pytest.raises(InvalidOption, match="nodes"):
        Radial(nodes=2)


# --------------------------------------------------------------------- CLI
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sciml.cli", *args], capture_output=True, text=True, timeout=300)


def test_cli_cole_hopf_json_contract():
    out = _cli("solve", "hjb", "--solver", "cole-hopf", "--reference", "exact", "-p", "lam=2", "--json")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["value"] == pytest.approx(cole_hopf_value(100, 1.0, 2.0), rel=1e-12)
    assert rec["errors"]["rel_error"] < 1e-12 and rec["params"]["lam"] == 2.0


@pytest.mark.parametrize("args,word", [
    (("solve", "allen-cahn", "--solver", "radial", "-p", "d=0"), "d=0"),
    (("solve", "allen-cahn", "--solver", "radial", "-p", "T=0"), "T=0"),
    (("solve", "hjb", "--solver", "cole-hopf", "-p", "lam=-1"), "lam=-1"),
    (("solve", "default-risk", "--solver", "radial", "--reference", "radial"), "radial"),
    (("solve", "allen-cahn", "--solver", "multilevel-picard", "-o", "level=0"), "level=0"),
    (("solve", "allen-cahn", "--solver", "deep-bsde", "-o", "time_steps=0"), "time_steps=0"),
])
def test_cli_bad_input_exits_2_with_one_line(args, word):
    out = _cli(*args)
    assert out.returncode == 2
    assert word in out.stderr and "Traceback" not in out.stderr
