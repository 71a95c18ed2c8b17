"""FEM reference: fitted convergence orders against the orders the element declares."""
import numpy as np
import pytest

pytest.importorskip("dolfinx")

from problems.elliptic import Poisson  # noqa: E402
from sciml.core import InvalidOption  # noqa: E402
from sciml.evaluate import evaluate  # noqa: E402
from sciml.references.fem import FEM, DarcyFEM, LagrangeElement  # noqa: E402

# Meshes inside the asymptotic range for each dimension (coarser in 3D, where
# one more refinement costs 8x); P1 in 3D needs n >= 8 for the peak (alpha = 10).
MESHES = {(1, 1): [8, 16, 32, 64], (1, 2): [8, 16, 32, 64],
          (2, 1): [8, 16, 32, 64], (2, 2): [8, 16, 32, 64],
          (3, 1): [8, 16, 32], (3, 2): [4, 8, 16]}
BAND = 0.15  # the band around the a-priori order


def fitted_orders(problem, degree):
    ns = MESHES[(problem.d, degree)]
    solver = "cg-amg" if problem.d == 3 else "auto"  # 3D sparse LU fills in; AMG is ~linear
    errs = np.array([[FEM(degree=degree, n=n, linear_solver=solver).solve(problem).extra_errors(problem)[k]
                      for k in ("l2_fem", "h1_fem")] for n in ns])
    h = 1.0 / np.array(ns)
    return {k: np.polyfit(np.log(h), np.log(errs[:, i]), 1)[0] for i, k in enumerate(("l2_fem", "h1_fem"))}


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("solution", ["sine", "peak"])
@pytest.mark.parametrize("degree", [1, 2])
def test_fem_convergence_orders(d, solution, degree):
    rates = fitted_orders(Poisson(d=d, solution=solution), degree)
    expected = FEM.orders[degree]
    assert expected == {"l2_fem": LagrangeElement(degree).l2_order, "h1_fem": LagrangeElement(degree).h1_order}
    for key, order in expected.items():
        assert abs(rates[key] - order) <= BAND, (key, rates[key], order)


def test_p2_n64_accuracy_target():
    rec = evaluate(Poisson(d=2, solution="sine", k=1), FEM(degree=2, n=64), "exact")
    assert rec.errors["rel_l2"] < 1e-5
    assert rec.errors["rel_l2_fem"] < 1e-5


def test_cg_amg_matches_lu():
    p = Poisson(d=2, solution="peak", alpha=100)
    lu = FEM(degree=1, n=48, linear_solver="lu").solve(p)
    amg = FEM(degree=1, n=48, linear_solver="cg-amg", rtol=1e-12).solve(p)
    x = p.test_points()
    assert amg.stats["iterations"] > 0
    np.testing.assert_allclose(amg(x), lu(x), atol=1e-9)


def test_point_evaluation_is_exact_for_p2_quadratics():
    # A P2 space represents u = x(1-x) exactly in 1D (f = 2): point values must match to rounding.
    class Quad(Poisson):
        def exact_expr(self, x, xp=np):
            return x[0] * (1 - x[0])

        def source_expr(self, x, xp=np):
            return 2.0 + 0 * x[0]

    p = Quad(d=1)
    sol = FEM(degree=2, n=3).solve(p)
    x = np.linspace(0, 1, 37)[:, None]
    np.testing.assert_allclose(sol(x), x[:, 0] * (1 - x[:, 0]), atol=1e-13)


def test_bad_options():
    for bad in (dict(degree=3), dict(n=0), dict(linear_solver="gmres")):
        with pytest.raises(InvalidOption):
            FEM(**bad)
    with pytest.raises(InvalidOption, match="cpu"):
        FEM(n=4).solve(Poisson(d=1), device="cuda")


def test_darcy_constant_coefficient_matches_poisson():
    # -div(a grad u) = 1 with a = 2 is u = w / 2 with -Δw = 1; P1 nodal error is O(h^2), h = 1/16.
    S = 17
    darcy = DarcyFEM(S).solve(np.full((S, S), 2.0))
    x = np.linspace(0, 1, S)
    assert np.abs(darcy[0]).max() == 0 and np.abs(darcy[:, -1]).max() == 0
    # series solution of -Δw = 1 at the centre: w(1/2,1/2) = 0.0736713532...
    assert darcy[S // 2, S // 2] * 2 == pytest.approx(0.0736713532, rel=2e-2)
    np.testing.assert_allclose(darcy, darcy.T, atol=1e-14)
    assert x.size == S


def test_fem_under_mpi_gives_the_serial_numbers():
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun not installed")
    script = Path(__file__).resolve().parents[2] / "data" / "mpi_fem_poisson.py"
    # this process initialised MPI as a singleton (importing dolfinx); its OMPI_/PMIX_ variables
    # would make the child mpirun believe it runs inside a job
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "OPAL_"))}
    outs = []
    for cmd in ([sys.executable, str(script)],
                ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable, str(script)]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 0, r.stderr
        outs.append([float(v) for v in r.stdout.split()])
    (n1, l2_1, pt_1), (n2, l2_2, pt_2) = outs
    assert (n1, n2) == (1, 2)
    # the same discrete problem: norms agree to the CG tolerance, not bit for bit (partitioned sums)
    assert l2_2 == pytest.approx(l2_1, rel=1e-6) and pt_2 == pytest.approx(pt_1, rel=1e-6)
