"""Coefficient recovery from noisy point measurements: FEM least squares and PINN."""
import numpy as np
import pytest

pytest.importorskip("dolfinx")

from problems.elliptic import Box, Disk, Elliptic  # noqa: E402
from sciml.core import InvalidOption, InvalidProblem  # noqa: E402
from sciml.references.fem import FEM  # noqa: E402
from sciml.references.fem_inverse import quadrant_indicators, recover_coefficient  # noqa: E402

SQ = Box([0, 0], [1, 1])
RNG = np.random.default_rng(0)
XO = 0.1 + 0.8 * RNG.random((50, 2))
DRAW = RNG.standard_normal(50)


def source(x, xp):
    return 2 * xp.pi ** 2 * xp.sin(xp.pi * x[0]) * xp.sin(xp.pi * x[1])


CONST = Elliptic(domain=SQ, source=source, dirichlet=0.0)
# -div(k grad u) = 2π² sin(πx) sin(πy), u = 0: u = sin(πx) sin(πy) / k; k = 2 (closed form, written here)
U_CONST = 0.5 * np.sin(np.pi * XO[:, 0]) * np.sin(np.pi * XO[:, 1])


def noisy(u, level):
    return u + level * np.abs(u).max() * DRAW


def test_fem_least_squares_recovers_a_constant_within_one_percent_at_one_percent_noise():
    r = recover_coefficient(CONST, XO, noisy(U_CONST, 0.01), degree=1, n=32)
    # measured 0.24 %: mostly the P1 discretisation bias (0.23 % without noise)
    assert abs(r["params"][0] - 2) / 2 < 1e-2
    assert r["success"] and r["fem_solves"] < 50


def test_fem_least_squares_recovers_four_quadrant_values():
    ktrue = [1.0, 2.0, 3.0, 4.0]
    truth = Elliptic(domain=SQ, source=1.0, dirichlet=0.0,
                     coefficient=lambda x, xp: sum(k * i for k, i in zip(ktrue, quadrant_indicators(SQ, x, xp))))
    u = FEM(degree=2, n=64).solve(truth)(XO)
    r = recover_coefficient(Elliptic(domain=SQ, source=1.0, dirichlet=0.0), XO, u, parametrisation="quadrants",
                            degree=1, n=32)
    # noise-free data from a finer P2 solve: only the P1 model error remains (measured 0.45 %)
    np.testing.assert_allclose(r["params"], ktrue, rtol=1e-2)


@pytest.mark.slow
def test_pinn_recovers_a_constant_within_one_percent_at_one_percent_noise():
    pytest.importorskip("deepxde")
    from sciml.solvers.pinn_inverse import recover_constant_pinn
    # seeds 0, 1, 2 measured 0.17 %, 0.21 %, 0.45 % (about 50 s each at load 5); 1 % is the target.
    # (500 Adam + 500 L-BFGS steps were not enough: 2.3 %; Adam moves log k by about lr per step.)
    r = recover_constant_pinn(CONST, XO, noisy(U_CONST, 0.01), adam_steps=200, lbfgs_steps=1000, n_domain=300)
    assert abs(r["params"][0] - 2) / 2 < 1e-2


def test_bad_inverse_input():
    with pytest.raises(InvalidOption, match="x_obs"):
        recover_coefficient(CONST, XO[:, :1], U_CONST)
    with pytest.raises(InvalidProblem, match="2D Box"):
        recover_coefficient(Elliptic(domain=Disk(), source=1.0, dirichlet=0.0), XO * 0.5, U_CONST,
                            parametrisation="quadrants")
    with pytest.raises(InvalidOption, match="parametrisation"):
        recover_coefficient(CONST, XO, U_CONST, parametrisation="field")
