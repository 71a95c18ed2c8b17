"""Coefficients per gmsh subdomain (physical groups of dimension d): FEM against the exact
solution of a two-material disk, bad input, the CLI, and the PINN's refusal.

-div(k grad u) = 1 on the unit disk, u = 0 at r = 1, k = k1 for r < a, k2 for a < r < 1.
Radially, (r k u')' = -r, so k u' = -r/2 in both regions (u' bounded at 0; the flux
k u' is continuous at r = a), hence u = (1 - r^2)/(4 k2) for a <= r <= 1 and
u = (1 - a^2)/(4 k2) + (a^2 - r^2)/(4 k1) for r <= a.
"""
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("gmsh")

from problems.elliptic import Box, Elliptic, MeshFile  # noqa: E402
from sciml.core import InvalidOption, InvalidProblem  # noqa: E402
from sciml.references.fem import FEM  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "data"
MSH = str(DATA / "two_disks.msh")
A, K1, K2 = 0.5, 10.0, 1.0


def exact(x, xp):
    r2 = x[0] ** 2 + x[1] ** 2
    return xp.where(r2 >= A * A, (1 - r2) / (4 * K2), (1 - A * A) / (4 * K2) + (A * A - r2) / (4 * K1))


def exact_ufl(x, xp):
    # the same function without a branch (UFL's conditional needs a UFL condition):
    # (1 - r^2)/(4 k2) + max(a^2 - r^2, 0) (1/(4 k1) - 1/(4 k2))
    r2 = x[0] ** 2 + x[1] ** 2
    return (1 - r2) / (4 * K2) + xp.maximum(A * A - r2, 0.0) * (1 / (4 * K1) - 1 / (4 * K2))


def _writer():
    spec = importlib.util.spec_from_file_location("make_two_disks_msh", DATA / "make_two_disks_msh.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.write


def problem(path=MSH, **kw):
    args = dict(coefficient={"inner": K1, "outer": K2}, source=1.0, dirichlet={"boundary": 0.0},
                exact_solution=exact_ufl, x0=[0.0, 0.0])
    args.update(kw)
    return Elliptic(domain=MeshFile(str(path)), **args)


def test_the_two_forms_of_the_exact_solution_agree():
    r = np.linspace(0, 1, 101)
    x = np.stack([r * math.cos(0.3), r * math.sin(0.3)])
    assert np.allclose(exact(x, np), exact_ufl(x, np), rtol=0, atol=1e-15)
    # flux continuity at r = a: k1 u'(a-) = k2 u'(a+) = -a/2
    eps = 1e-7
    for k, s in ((K1, -1), (K2, 1)):
        ra = np.array([A + s * eps, A + s * 2 * eps]) * np.array([[1.0], [0.0]])
        du = (exact(ra, np)[1] - exact(ra, np)[0]) / (s * eps)
        assert k * du == pytest.approx(-A / 2, rel=1e-5)


def test_p1_and_p2_converge_at_their_rates_on_meshes_that_follow_the_interface(tmp_path):
    write = _writer()
    errs = {1: [], 2: []}
    cells = []
    for h in (0.1, 0.05):
        path = tmp_path / f"two_disks_{h}.msh"
        write(path, h=h, order=2)
        p = problem(path)
        for deg in (1, 2):
            sol = FEM(degree=deg).solve(p)
            errs[deg].append(sol.extra_errors(p)["l2_fem"])
        cells.append(sol.stats["cells"])
    # mesh size from the cell count (h ~ (area / cells)^(1/2)): robust to gmsh's sizes
    ratio = 0.5 * math.log(cells[1] / cells[0])
    rate = {deg: math.log(e[0] / e[1]) / ratio for deg, e in errs.items()}
    # P1: ||u - u_h||_L2 = O(h^2) (u is smooth on each side and the cells follow the interface)
    assert abs(rate[1] - 2) <= 0.15, rate
    # P2 on second-order (curved) cells: u is piecewise quadratic, so only the geometry's
    # error is left, O(h^3) or better for isoparametric P2 (Lenoir 1986)
    assert rate[2] >= 3 - 0.15, rate
    assert errs[2][-1] < 1e-5


def test_committed_mesh_p2_value_at_the_centre_and_function_values_per_subdomain():
    u0 = (1 - A * A) / (4 * K2) + A * A / (4 * K1)   # 0.19375
    p = problem()
    sol = FEM(degree=2).solve(p)
    # cells of size 0.25 (second order): P2 error ~ the geometry's, below 1e-3 relative
    assert float(sol(np.zeros((1, 2)))[0]) == pytest.approx(u0, rel=1e-3)
    assert sol.extra_errors(p)["rel_l2_fem"] < 1e-3
    # the same coefficient as a function on "inner" and "rest" for the outer region
    pf = problem(coefficient={"inner": lambda x, xp: K1 * (1 + 0 * x[0]), "rest": K2})
    solf = FEM(degree=2).solve(pf)
    assert np.allclose(solf.state["dofs"], sol.state["dofs"], rtol=0, atol=1e-12)
    # a per-subdomain source and reaction: f = 2 on inner, 0 outside, c = 0
    ps = problem(source={"inner": 2.0, "outer": 0.0}, reaction={"rest": 0.0}, exact_solution=None)
    assert np.all(np.isfinite(FEM(degree=1).solve(ps).state["dofs"]))


def test_bad_subdomain_input_is_refused_in_one_line_when_the_problem_is_made():
    with pytest.raises(InvalidProblem, match=r"'middle'.*inner \(\d+ cells\), outer") as e:
        problem(coefficient={"middle": 2.0, "outer": 1.0})
    assert "\n" not in str(e.value)
    with pytest.raises(InvalidProblem, match=r"coefficient\['inner'\]=0.0 is not positive"):
        problem(coefficient={"inner": 0.0, "outer": 1.0})
    with pytest.raises(InvalidProblem, match=r"coefficient\['outer'\]=-1.0 is not positive"):
        problem(coefficient={"inner": 1.0, "outer": -1.0})
    with pytest.raises(InvalidProblem, match="no value on subdomain.*outer"):
        problem(coefficient={"inner": 1.0})
    with pytest.raises(InvalidProblem, match="reaction.*negative"):
        problem(reaction={"rest": -1.0})
    with pytest.raises(InvalidProblem, match="MeshFile"):
        Elliptic(domain=Box([0, 0], [1, 1]), coefficient={"inner": 1.0}, source=1.0, dirichlet=0.0)


def test_a_group_that_marks_no_cell_is_refused(tmp_path):
    import gmsh
    path = tmp_path / "empty_group.msh"
    _writer()(path, h=0.25, order=1)
    gmsh.initialize(readConfigFiles=False)
    try:   # a physical surface "hole" on a surface that has no elements
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.open(str(path))
        s = gmsh.model.addDiscreteEntity(2)
        gmsh.model.addPhysicalGroup(2, [s], 9)
        gmsh.model.setPhysicalName(2, 9, "hole")
        gmsh.write(str(path))
    finally:
        gmsh.finalize()
    with pytest.raises(InvalidProblem, match="'hole' marks no cell"):
        problem(path, coefficient={"inner": 2.0, "hole": 3.0, "rest": 1.0})


def test_a_function_not_positive_on_its_subdomain_is_refused_before_assembly():
    # negative only near the centre, inside "inner": seen at the quadrature points
    p = problem(coefficient={"inner": lambda x, xp: x[0] ** 2 + x[1] ** 2 - 0.01, "outer": 1.0})
    with pytest.raises(InvalidProblem, match=r"coefficient\['inner'\] is not positive at some quadrature point "
                                             "of subdomain 'inner'"):
        FEM(degree=1).solve(p)


def test_cli_solves_the_user_file_and_the_pinn_refuses_it(monkeypatch, capsys):
    from sciml.cli import main
    monkeypatch.chdir(DATA)
    assert main(["solve", "my_subdomains.py:two_disks", "--solver", "fem", "-o", "degree=2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["value"] == pytest.approx(0.19375, rel=1e-3)
    assert out["params"]["coefficient"] == {"inner": 10.0, "outer": 1.0}
    assert main(["solve", "my_subdomains.py:two_disks", "--solver", "pinn", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "per subdomain" in err[0] and "flux" in err[0]


def test_pinn_refuses_before_training():
    from sciml.solvers.pinn import PINN
    with pytest.raises(InvalidOption, match="per subdomain"):
        PINN(adam_steps=1, lbfgs_steps=0).solve(problem())
