"""Elliptic problems on user domains: FEM against values computed independently here."""
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("gmsh")

from problems.elliptic import Box, Disk, Elliptic, MeshFile, Polygon, lshape_corner, torsion  # noqa: E402
from sciml.core import DataError, InvalidProblem  # noqa: E402
from sciml.references.fem import FEM  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
BAND = 0.15  # the issue's band around an a-priori order


def slope(h, e):
    return float(np.polyfit(np.log(h), np.log(e), 1)[0])


def test_torsion_centre_value_matches_the_series():
    # -Δu = 1 on (0,1)^2, u = 0: u = x(1-x)/2 - sum_k odd 4/(π³k³) sin(kπx) cosh(kπ(y-1/2))/cosh(kπ/2)
    # (the 1D particular solution plus a harmonic correction); at the centre sin(kπ/2) = (-1)^((k-1)/2).
    k = np.arange(1, 80, 2)
    series = 1 / 8 - np.sum(4 / (math.pi ** 3 * k ** 3) * (-1.0) ** ((k - 1) // 2) / np.cosh(k * math.pi / 2))
    assert series == pytest.approx(0.0736713533, abs=1e-10)
    p = torsion()
    sol = FEM(degree=2, n=32).solve(p)
    value = float(sol(np.array(p.value_point())[None])[0])
    assert value == pytest.approx(series, rel=1e-6)


def test_lshape_corner_singularity_rates_declared_by_the_problem():
    p = lshape_corner()
    hs, e1, e0 = [], [], []
    for h in (0.2, 0.1, 0.05):
        sol = FEM(degree=1, h=h).solve(p)
        err = sol.extra_errors(p)
        hs.append(sol.stats["h"])
        e1.append(err["h1_fem"])
        e0.append(err["l2_fem"])
    expected = p.orders(1)
    assert expected["h1_fem"] == pytest.approx(2 / 3) and expected["l2_fem"] == pytest.approx(4 / 3)
    assert abs(slope(hs, e1) - expected["h1_fem"]) <= BAND
    assert abs(slope(hs, e0) - expected["l2_fem"]) <= BAND


# mixed manufactured problem: u = e^x cos(y - 0.3) is harmonic; A = 1 + x, c = 2, so
# -div(A grad u) + c u = -A Δu - u_x + 2u = e^x cos(y - 0.3) on the unit square.
def _u(x, xp):
    return xp.exp(x[0]) * xp.cos(x[1] - 0.3)


def _mixed():
    A = lambda x, xp: 1 + x[0]  # noqa: E731
    right = lambda x, xp: 2 * xp.exp(x[0]) * xp.cos(x[1] - 0.3)  # A u_x at x = 1: A = 2  # noqa: E731
    # top (n = +y): A u_y + 3 u with u_y = -e^x sin(y - 0.3)
    top = lambda x, xp: xp.exp(x[0]) * (-(1 + x[0]) * xp.sin(x[1] - 0.3) + 3 * xp.cos(x[1] - 0.3))  # noqa: E731
    bottom = lambda x, xp: (1 + x[0]) * xp.exp(x[0]) * xp.sin(x[1] - 0.3)  # -A u_y at y = 0  # noqa: E731
    return Elliptic(domain=Box([0, 0], [1, 1]), coefficient=A, reaction=2.0,
                    source=lambda x, xp: xp.exp(x[0]) * xp.cos(x[1] - 0.3),
                    boundaries={"west": lambda x, xp: x[0] < 1e-12},
                    dirichlet={"west": _u}, neumann={"right": right, "rest": bottom},
                    robin={"top": (3.0, top)}, exact_solution=_u)


@pytest.mark.parametrize("degree", [1, 2])
def test_mixed_dirichlet_neumann_robin_orders(degree):
    p = _mixed()
    ns = [4, 8, 16, 32]
    errs = [FEM(degree=degree, n=n).solve(p).extra_errors(p) for n in ns]
    h = 1.0 / np.array(ns)
    for key, order in p.orders(degree).items():
        assert order == degree + (1 if key == "l2_fem" else 0)
        assert abs(slope(h, [e[key] for e in errs]) - order) <= BAND, key


def test_gmsh_disk_file_p2_against_the_exact_solution():
    u = lambda x, xp: (1 - x[0] ** 2 - x[1] ** 2) / 4  # noqa: E731
    p = Elliptic(domain=MeshFile(str(DATA / "disk.msh")), source=1.0, dirichlet={"outer": 0.0},
                 exact_solution=u, x0=[0, 0])
    sol = FEM(degree=2).solve(p)
    err = sol.extra_errors(p)
    # second-order (curved) cells of size 0.29: the only error is the geometry's, O(h^3) in L2
    assert err["rel_l2_fem"] < 1e-3
    assert float(sol(np.zeros((1, 2)))[0]) == pytest.approx(0.25, rel=1e-3)
    # isoparametric P2 on generated disks of size h: L2 order at least 3 (Lenoir 1986)
    pd = Elliptic(domain=Disk(), source=1.0, dirichlet=0.0, exact_solution=u)
    hs = [0.4, 0.2, 0.1]
    e = [FEM(degree=2, h=h).solve(pd).extra_errors(pd)["l2_fem"] for h in hs]
    assert slope(hs, e) >= 3 - BAND


def test_issue_example_problems_solve(monkeypatch):
    monkeypatch.chdir(DATA)
    import importlib.util
    spec = importlib.util.spec_from_file_location("my_elliptic", DATA / "my_elliptic.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ("varcoef", "lshape", "mixed", "disk"):
        p = getattr(mod, name)
        sol = FEM(degree=1, n=8, h=0.25).solve(p)
        x = p.test_points()
        v = sol(x[:: max(1, len(x) // 50)])
        assert np.all(np.isfinite(v)) and np.abs(v).max() > 0


# ------------------------------------------------------------------ bad input
def test_bad_mesh_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        MeshFile(str(tmp_path / "nope.msh"))
    bad = tmp_path / "bad.msh"
    bad.write_text("hello\n")
    with pytest.raises(DataError, match="not a gmsh"):
        MeshFile(str(bad))
    with pytest.raises(InvalidProblem, match="inner"):
        Elliptic(domain=MeshFile(str(DATA / "disk.msh")), source=1.0, dirichlet={"inner": 0.0})


def test_boundary_part_marking_no_facet_is_refused_before_assembly():
    p = Elliptic(domain=Box([0, 0], [1, 1]), source=1.0, boundaries={"far": lambda x, xp: x[0] > 2},
                 dirichlet={"far": 0.0, "rest": 0.0})
    with pytest.raises(InvalidProblem, match="'far' marks no facet"):
        FEM(degree=1, n=4).solve(p)


def test_coefficient_not_positive_at_a_quadrature_point_is_refused():
    # negative only in a small disc that holds none of the points checked on construction
    probe = Box([0, 0], [1, 1]).test_points()
    probe = probe[:: max(1, len(probe) // 64)]
    grid = np.stack(np.meshgrid(np.linspace(0.1, 0.9, 41), np.linspace(0.1, 0.9, 41)), -1).reshape(-1, 2)
    dist = np.min(np.linalg.norm(grid[:, None] - probe[None], axis=2), axis=1)
    c = grid[np.argmax(dist)]
    r = 0.5 * dist.max()

    def a(x, xp):
        return xp.where((x[0] - c[0]) ** 2 + (x[1] - c[1]) ** 2 < r ** 2, -1.0, 1.0)

    p = Elliptic(domain=Box([0, 0], [1, 1]), coefficient=a, source=1.0, dirichlet=0.0)
    with pytest.raises(InvalidProblem, match="not positive at some quadrature point"):
        FEM(degree=1, n=32).solve(p)


def test_bad_functions_and_conditions():
    sq = Box([0, 0], [1, 1])
    with pytest.raises(InvalidProblem, match="dimension 2"):
        Elliptic(domain=sq, coefficient=lambda x, xp: 1 + x[2], dirichlet=0.0)
    with pytest.raises(InvalidProblem, match="2 x 2"):
        Elliptic(domain=sq, coefficient=np.eye(3), dirichlet=0.0)
    with pytest.raises(InvalidProblem, match="not positive"):
        Elliptic(domain=sq, coefficient=lambda x, xp: x[0] - 0.5, dirichlet=0.0)
    with pytest.raises(InvalidProblem, match="names no boundary part"):
        Elliptic(domain=sq, dirichlet={"lfet": 0.0})
    with pytest.raises(InvalidProblem, match="up to a constant"):
        Elliptic(domain=sq, neumann=1.0)
    with pytest.raises(InvalidProblem, match="outside"):
        Elliptic(domain=Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]), dirichlet=0.0, x0=[0.5, 0.5])
    with pytest.raises(InvalidProblem, match="intersect"):
        Polygon([(0, 0), (2, 2), (2, 0), (0, 1)])


def test_cli_solves_a_user_file_and_refuses_bad_input(monkeypatch, capsys, tmp_path):
    import json

    from sciml.cli import main
    monkeypatch.chdir(DATA)
    assert main(["solve", "my_elliptic.py:disk", "--solver", "fem", "-o", "degree=2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the default reference is FEM with default options (P1 on the file's mesh): P2 vs P1, O(h^2)
    assert out["params"]["domain"]["type"] == "MeshFile" and out["reference"] == "fem"
    assert 0 < out["errors"]["rel_l2"] < 0.1
    bad = tmp_path / "bad_elliptic.py"
    bad.write_text("from problems.elliptic import Elliptic, MeshFile\n"
                   "p = Elliptic(domain=MeshFile('missing.msh'), source=1.0, dirichlet=0.0)\n")
    assert main(["solve", f"{bad}:p", "--solver", "fem", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.msh" in err[0]


def test_matrix_coefficient_and_a_3d_box():
    # A = [[1 + x², 0.3], [0.3, 2]], u = sin(πx) sin(πy): -div(A grad u) =
    # -(2x u_x + (1 + x²) u_xx + 0.6 u_xy + 2 u_yy), derived by hand here
    pi = math.pi

    def u(x, xp):
        return xp.sin(pi * x[0]) * xp.sin(pi * x[1])

    def f(x, xp):
        ux = pi * xp.cos(pi * x[0]) * xp.sin(pi * x[1])
        uxy = pi ** 2 * xp.cos(pi * x[0]) * xp.cos(pi * x[1])
        return -(2 * x[0] * ux - (1 + x[0] ** 2) * pi ** 2 * u(x, xp) + 0.6 * uxy - 2 * pi ** 2 * u(x, xp))

    p = Elliptic(domain=Box([0, 0], [1, 1]), coefficient=lambda x, xp: [[1 + x[0] ** 2, 0.3], [0.3, 2.0]],
                 source=f, dirichlet=0.0, exact_solution=u)
    ns = [4, 8, 16]
    e = [FEM(degree=2, n=n).solve(p).extra_errors(p)["l2_fem"] for n in ns]
    assert abs(slope(1.0 / np.array(ns), e) - 3) <= BAND
    # 3D: -Δu = 3π² u with u = Π sin(π x_i) on a non-unit box; P1 L2 order 2
    u3 = lambda x, xp: xp.sin(pi * x[0]) * xp.sin(pi * x[1]) * xp.sin(pi * x[2])  # noqa: E731
    p3 = Elliptic(domain=Box([0, 0, 0], [1, 1, 2]), source=lambda x, xp: 3 * pi ** 2 * u3(x, xp),
                  dirichlet=0.0, exact_solution=u3)
    hs = [0.25, 0.125, 0.0625]
    e3 = [FEM(degree=1, h=h).solve(p3).extra_errors(p3)["l2_fem"] for h in hs]
    assert abs(slope(hs, e3) - 2) <= BAND


# ------------------------------------------------- checks on the mesh, before assembly
def _spike(px, py, value=float("nan")):
    """A function that is 1 everywhere but at the single point (px, py), where it is ``value``
    (on a 7 x 7 mesh (3/7, 4/7) is a node, and no probe point of the construction check)."""
    def fn(x, xp):
        return xp.where((abs(x[0] - px) < 1e-9) & (abs(x[1] - py) < 1e-9), value, 1.0)
    return fn


def test_source_not_finite_at_one_node_is_refused():
    p = Elliptic(domain=Box([0, 0], [1, 1]), source=_spike(3 / 7, 4 / 7), dirichlet=0.0)
    with pytest.raises(InvalidProblem, match="source is not finite at some node of the mesh"):
        FEM(degree=1, n=7).solve(p)


def test_neumann_data_not_finite_at_one_node_is_refused():
    p = Elliptic(domain=Box([0, 0], [1, 1]), source=1.0, boundaries={"left": lambda x, xp: x[0] < 1e-12},
                 dirichlet={"left": 0.0}, neumann={"rest": _spike(1.0, 3 / 7, float("inf"))})
    with pytest.raises(InvalidProblem, match=r"neumann\['rest'\] is not finite at some node of the mesh"):
        FEM(degree=1, n=7).solve(p)


def test_dirichlet_data_are_checked_where_they_are_interpolated():
    p = Elliptic(domain=Box([0, 0], [1, 1]), source=1.0, dirichlet=_spike(1.0, 3 / 7))
    with pytest.raises(InvalidProblem, match="dirichlet.* is not finite where it is interpolated"):
        FEM(degree=2, n=7).solve(p)
    # NaN inside the domain does not matter to Dirichlet data (only the boundary values are used)
    inside = Elliptic(domain=Box([0, 0], [1, 1]), source=0.0, dirichlet=_spike(3 / 7, 4 / 7))
    sol = FEM(degree=1, n=7).solve(inside)
    assert np.allclose(sol.state["dofs"], 1.0, atol=1e-12)   # u = 1 solves -Δu = 0, u = 1 on the boundary


def test_an_assembled_system_that_is_not_finite_is_refused():
    from petsc4py import PETSc

    from sciml.references.fem_checks import check_assembled
    from mpi4py import MPI
    A = PETSc.Mat().createAIJ([2, 2], nnz=1, comm=MPI.COMM_SELF)
    A.setValue(0, 0, 1.0)
    A.setValue(1, 1, 1.0)
    A.assemble()
    b = PETSc.Vec().createSeq(2)
    b.set(1.0)
    check_assembled(A, b, MPI.COMM_SELF)  # finite: accepted
    b.setValue(1, float("nan"))
    b.assemble()
    with pytest.raises(InvalidProblem, match="assembled system is not finite"):
        check_assembled(A, b, MPI.COMM_SELF)
    b.set(1.0)
    A.setValue(1, 1, float("inf"))
    A.assemble()
    with pytest.raises(InvalidProblem, match="assembled system is not finite"):
        check_assembled(A, b, MPI.COMM_SELF)
