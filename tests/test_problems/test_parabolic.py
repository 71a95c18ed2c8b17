"""Parabolic problems: FEM time stepping orders against closed forms, Allen-Cahn self-convergence."""
import math

import numpy as np
import pytest

pytest.importorskip("dolfinx")

from problems.domains import Interval  # noqa: E402
from problems.parabolic import Parabolic, allen_cahn_deepxde, logistic  # noqa: E402
from sciml.core import InvalidOption, InvalidProblem  # noqa: E402
from sciml.references.fem import FEM  # noqa: E402
from sciml.references.fem_parabolic import THETA  # noqa: E402

BAND = 0.15


def order(steps, errs):
    return float(-np.polyfit(np.log(steps), np.log(errs), 1)[0])


@pytest.mark.parametrize("scheme", ["be", "cn"])
def test_reaction_only_newton_time_order(scheme):
    # u_t = u - u^3, u(0) = 0.2, zero flux: u(t) = u0 e^t / sqrt(1 + u0^2 (e^2t - 1)) (written here)
    p = logistic(u0=0.2, T=1.0)
    exact = 0.2 * math.e / math.sqrt(1 + 0.04 * (math.e ** 2 - 1))
    steps = [10, 20, 40]
    errs = [abs(FEM(degree=1, n=4, steps=s, scheme=scheme).solve(p)(np.array([[0.5]]))[0] - exact) for s in steps]
    assert abs(order(steps, errs) - THETA[scheme][1]) <= BAND


@pytest.mark.parametrize("scheme", ["be", "cn"])
def test_heat_equation_time_order(scheme):
    # u = exp(-π² t) sin(πx): P2 on 64 cells makes the spatial error (~1e-7) negligible
    p = Parabolic(domain=Interval(0, 1), T=0.1, initial=lambda x, xp: xp.sin(xp.pi * x[0]), dirichlet=0.0,
                  exact_solution=lambda x, t, xp: xp.exp(-xp.pi ** 2 * t) * xp.sin(xp.pi * x[0]))
    steps = [5, 10, 20]
    errs = [FEM(degree=2, n=64, steps=s, scheme=scheme).solve(p).extra_errors(p)["l2_fem"] for s in steps]
    assert abs(order(steps, errs) - THETA[scheme][1]) <= BAND


def test_allen_cahn_reference_converges_in_space_and_time():
    # h and dt halved together: P2 in space (h^3) and Crank-Nicolson in time (dt^2) give at
    # least order 2 in the successive differences (measured 2.9-3.0 on these levels)
    p = allen_cahn_deepxde()
    x = np.linspace(-1, 1, 401)[:, None]
    u = [FEM(degree=2, n=128 * 2 ** k, steps=100 * 2 ** k).solve(p)(x) for k in range(3)]
    d1, d2 = np.abs(u[1] - u[0]).max(), np.abs(u[2] - u[1]).max()
    assert math.log2(d1 / d2) >= 2 - BAND
    assert d2 < 1e-3
    assert np.all(np.abs(u[2]) <= 1 + 1e-6)  # the maximum principle of Allen-Cahn with |u0|, |g| <= 1


def test_bad_time_input():
    with pytest.raises(InvalidProblem, match="T=0"):
        Parabolic(T=0, dirichlet=0.0)
    with pytest.raises(InvalidProblem, match="T=-1"):
        Parabolic(T=-1.0, dirichlet=0.0)
    with pytest.raises(InvalidOption, match="steps"):
        FEM(steps=0)
    with pytest.raises(InvalidOption, match="scheme"):
        FEM(scheme="rk4")
