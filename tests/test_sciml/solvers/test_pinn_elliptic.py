"""PINN on Elliptic problems: hard Dirichlet constraints, Neumann/Robin residuals, bad options."""
import numpy as np
import pytest

pytest.importorskip("deepxde")
pytest.importorskip("dolfinx")

from problems.elliptic import Box, Disk, Elliptic, Polygon  # noqa: E402
from sciml.core import InvalidOption  # noqa: E402
from sciml.evaluate import evaluate  # noqa: E402
from sciml.references.fem import FEM  # noqa: E402
from sciml.solvers.pinn import PINN  # noqa: E402


def a(x, xp):
    return 1.0 + 0.5 * xp.sin(2 * xp.pi * x[0]) * xp.sin(2 * xp.pi * x[1])


VARCOEF = Elliptic(domain=Box([0, 0], [1, 1]), coefficient=a, source=1.0, dirichlet=0.0, x0=[0.5, 0.5])


def test_hard_dirichlet_pinn_on_the_variable_coefficient_problem():
    # A small budget (600 steps, 300 points; the documented run, 1500 steps, reaches 1.0e-3):
    # seeds 0, 1, 2 measured 6.5e-3, 6.3e-3, 1.2e-2; the bound is 2.5x the worst of them.
    ref = FEM(degree=2, n=48).solve(VARCOEF)
    rec = evaluate(VARCOEF, PINN(hard_dirichlet=True, width=20, depth=3, n_domain=300, adam_steps=300,
                                 lbfgs_steps=300), ref, seed=0)
    assert rec.errors["rel_l2"] < 3e-2
    # the constraint is exact: u = 0 on the boundary up to rounding
    x = np.array([[0.0, 0.3], [1.0, 0.7], [0.4, 0.0], [0.6, 1.0]])
    pinn = PINN(hard_dirichlet=True, adam_steps=1, lbfgs_steps=0).solve(VARCOEF)
    assert np.abs(pinn(x)).max() < 1e-12


def test_distance_functions_vanish_on_the_boundary_and_are_positive_inside():
    poly = Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)])
    t = np.linspace(0, 1, 7)
    on_poly = np.array([(-1 + 2 * s, -1) for s in t] + [(0, s) for s in t] + [(s, 0) for s in t] + [(-1, s) for s in t])
    cases = ((poly, on_poly, lambda x: poly._edge_distance(x.T) > 1e-3),
             (Disk(), np.stack([np.cos(6 * t), np.sin(6 * t)], 1), lambda x: np.hypot(x[:, 0], x[:, 1]) < 0.999),
             (Box([0, 0], [2, 1]), np.array([[0, 0.5], [2, 0.2], [1, 0], [1.5, 1]]),
              lambda x: np.min(np.concatenate([x, [2, 1] - x], 1), axis=1) > 1e-3))
    for dom, bnd, strictly_inside in cases:
        assert np.abs(dom.distance(bnd.T)).max() < 1e-12
        x = dom.test_points()
        x = x[strictly_inside(x)]
        assert len(x) > 100 and np.all(dom.distance(x.T) > 0)


def test_mixed_conditions_train_with_neumann_and_robin_residuals():
    u = lambda x, xp: 1 + x[0] * x[1]  # noqa: E731  (Δu = 0)
    p = Elliptic(domain=Box([0, 0], [1, 1]), source=0.0,
                 dirichlet={"left": u}, neumann={"right": lambda x, xp: x[1]},       # u_x = y
                 robin={"rest": (1.0, lambda x, xp: (1 + x[0] * x[1]) + xp.where(x[1] > 0.5, x[0], -x[0]))},
                 exact_solution=u)
    rec = evaluate(p, PINN(width=16, depth=2, n_domain=200, n_boundary=80, adam_steps=200, lbfgs_steps=300),
                   "exact", seed=0)
    # seeds 0, 1, 2 measured 5.3e-3, 5.0e-3, 4.7e-3 with this budget; the bound is 4x that
    assert rec.errors["rel_l2"] < 2e-2


def test_hard_dirichlet_needs_dirichlet_on_the_whole_boundary():
    p = Elliptic(domain=Box([0, 0], [1, 1]), source=1.0, dirichlet={"left": 0.0}, neumann={"rest": 0.0})
    with pytest.raises(InvalidOption, match="whole boundary"):
        PINN(hard_dirichlet=True, adam_steps=1, lbfgs_steps=0).solve(p)
    with pytest.raises(InvalidOption):
        PINN(hard_dirichlet="yes")


def test_space_time_pinn_with_hard_initial_and_boundary_values():
    from problems.domains import Interval
    from problems.parabolic import Parabolic
    heat = Parabolic(domain=Interval(0, 1), T=0.1, initial=lambda x, xp: xp.sin(xp.pi * x[0]), dirichlet=0.0,
                     exact_solution=lambda x, t, xp: xp.exp(-xp.pi ** 2 * t) * xp.sin(xp.pi * x[0]), x0=(0.5,))
    rec = evaluate(heat, PINN(hard_dirichlet=True, width=20, depth=3, n_domain=300, adam_steps=300,
                              lbfgs_steps=500), "exact", seed=0)
    # seeds 0, 1, 2 measured 2.2e-5, 5.0e-5, 1.8e-5 (soft constraints: 1.2-2.3e-2); bound 4x the worst
    assert rec.errors["rel_l2"] < 2e-4
    # hard needs u0 = g on the boundary
    bad = Parabolic(domain=Interval(0, 1), T=0.1, initial=1.0, dirichlet=0.0)
    with pytest.raises(InvalidOption, match="initial = dirichlet"):
        PINN(hard_dirichlet=True, adam_steps=1, lbfgs_steps=0).solve(bad)


# ---------------------------------------------------------------- PINN on a gmsh mesh file
from pathlib import Path  # noqa: E402

from problems.elliptic import MeshFile  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "data"


def _disk_torsion(**conditions):
    # -Δu = 1 on the unit disk: u = (1 - r²)/4 (u = 0 and du/dn = -1/2 on r = 1)
    return Elliptic(domain=MeshFile(str(DATA / "disk.msh")), source=1.0, x0=[0.0, 0.0],
                    exact_solution=lambda x, xp: (1 - x[0] ** 2 - x[1] ** 2) / 4, **conditions)


MESH_PINN = dict(width=20, depth=3, n_domain=300, n_boundary=100, adam_steps=300, lbfgs_steps=500)


def test_mesh_sampling_is_uniform_in_area_and_on_the_curved_boundary():
    from sciml.solvers.pinn import import_deepxde
    from sciml.solvers.pinn_mesh import mesh_geometry
    dde = import_deepxde()
    np.random.seed(0)
    g = mesh_geometry(dde, MeshFile(str(DATA / "disk.msh")))
    # disk.msh has curved (P2) triangles: area and perimeter within O(h^4) of π and 2π (h = 0.25)
    assert abs(g.mesh.cell_measure.sum() - np.pi) < 1e-4 and abs(g.mesh.facet_measure.sum() - 2 * np.pi) < 1e-4
    x = np.asarray(g.random_points(20000, "pseudo"), dtype=float)
    r2 = (x ** 2).sum(1)
    # uniform in the disk: E r² = 1/2, sd(r²) = 1/sqrt(12); 4 standard errors
    assert abs(r2.mean() - 0.5) < 4 / np.sqrt(12 * len(x)) and r2.max() <= 1 + 1e-6
    xb = np.asarray(g.random_boundary_points(4000, "pseudo"), dtype=float)
    r = np.hypot(xb[:, 0], xb[:, 1])
    assert np.abs(r - 1).max() < 1e-4                       # on the P2 arcs, measured 5e-6
    # uniform in arc length: each of 8 equal arcs holds 1/8 (binomial sd sqrt(n p (1 - p)), 4 sd)
    counts = np.histogram(np.arctan2(xb[:, 1], xb[:, 0]), 8, range=(-np.pi, np.pi))[0]
    assert np.abs(counts - 500).max() < 4 * np.sqrt(4000 * (1 / 8) * (7 / 8))
    nrm = g.boundary_normal(xb)                             # outer normals of the curved facets
    assert np.abs(nrm - xb / r[:, None]).max() < 4e-3       # O(h²) tangent error, measured 3.5e-4
    assert g.on_boundary(xb).all() and not g.on_boundary(x[:100]).any()
    assert g.mesh.facet_tags.tolist() == [1] * len(g.mesh.facets)   # every boundary facet is "outer"


def test_pinn_on_a_mesh_file_robin_by_tag():
    # u = (1 - r²)/4 satisfies du/dn + u = -1/2 on r = 1 (the tag "outer"): the normals of the curved
    # facets enter the residual.  Seeds 0, 1, 2 measured 1.4e-4, 2.9e-4, 7.2e-4 with this budget (the
    # Dirichlet problem: 3.2e-4, 5.2e-4, 4.3e-4, see the CLI test); the bound is about 4x the worst.
    rec = evaluate(_disk_torsion(robin={"outer": (1.0, -0.5)}), PINN(**MESH_PINN), "exact", seed=0)
    assert rec.errors["rel_l2"] < 3e-3
    with pytest.raises(InvalidOption, match="distance function"):
        PINN(hard_dirichlet=True, adam_steps=1, lbfgs_steps=0).solve(_disk_torsion(dirichlet=0.0))
    from problems.parabolic import Parabolic
    heat = Parabolic(domain=MeshFile(str(DATA / "disk.msh")), T=0.1, initial=0.0, source=1.0, dirichlet=0.0)
    with pytest.raises(InvalidOption, match="distance function"):
        PINN(hard_dirichlet=True, adam_steps=1, lbfgs_steps=0).solve(heat)


def test_cli_pinn_on_the_users_mesh_file(monkeypatch, capsys):
    import json

    from sciml.cli import main
    monkeypatch.chdir(DATA)
    opts = [f"{k}={v}" for k, v in MESH_PINN.items()]
    args = ["solve", "my_elliptic.py:disk", "--solver", "pinn", "--reference", "fem", "-r", "degree=2", "--json"]
    assert main(args + [a for o in opts for a in ("-o", o)]) == 0
    out = json.loads(capsys.readouterr().out)
    # FEM P2 on this mesh is within 1.1e-4 of the exact solution, so the PINN's error dominates: against
    # the exact solution seeds 0, 1, 2 measured 3.2e-4, 5.2e-4, 4.3e-4 with this budget; bound about 4x
    assert out["solver"] == "pinn" and out["errors"]["rel_l2"] < 2e-3
    assert out["params"]["domain"]["type"] == "MeshFile" and out["reference"] == "fem"


def test_mesh_sampling_of_a_tetrahedral_cube_with_two_tags(tmp_path):
    gmsh = pytest.importorskip("gmsh")
    from sciml.solvers.pinn import import_deepxde
    from sciml.solvers.pinn_mesh import mesh_geometry
    path = str(tmp_path / "cube.msh")
    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        vol = gmsh.model.occ.addBox(0, 0, 0, 1, 1, 1)
        gmsh.model.occ.synchronize()
        faces = [t for _, t in gmsh.model.getBoundary([(3, vol)], oriented=False)]
        gmsh.model.addPhysicalGroup(2, faces[:1], 1)
        gmsh.model.addPhysicalGroup(2, faces[1:], 2)
        gmsh.model.addPhysicalGroup(3, [vol], 3)
        gmsh.option.setNumber("Mesh.CharacteristicLengthMax", 0.3)
        gmsh.model.mesh.generate(3)
        gmsh.write(path)
    finally:
        gmsh.finalize()
    dde = import_deepxde()
    np.random.seed(0)
    g = mesh_geometry(dde, MeshFile(path, dim=3))
    # straight cells: exact up to the rounding of the coordinates written in the file (measured 3e-12)
    assert abs(g.mesh.cell_measure.sum() - 1) < 1e-10 and abs(g.mesh.facet_measure.sum() - 6) < 1e-10
    assert set(g.mesh.facet_tags.tolist()) == {1, 2}         # every boundary facet carries its tag
    x = np.asarray(g.random_points(12000, "pseudo"), dtype=float)
    # uniform in the cube: mean 1/2, variance 1/12 per coordinate (sd of the mean 0.29/sqrt(n); 4 sd)
    assert np.abs(x.mean(0) - 0.5).max() < 4 * 0.29 / np.sqrt(len(x)) and np.all((x >= 0) & (x <= 1))
    xb = np.asarray(g.random_boundary_points(6000, "pseudo"), dtype=float)
    n = g.boundary_normal(xb)
    axis = np.argmax(np.abs(n), axis=1)
    outer = (n[np.arange(len(n)), axis] > 0).astype(float)   # +e_i on the face x_i = 1, -e_i on x_i = 0
    assert np.allclose(np.abs(n).max(axis=1), 1) and np.abs(xb[np.arange(len(n)), axis] - outer).max() < 1e-12
    # each face holds 1/6 of the points (binomial, 4 sd)
    counts = np.bincount(2 * axis + outer.astype(int), minlength=6)
    assert np.abs(counts - 1000).max() < 4 * np.sqrt(6000 * (1 / 6) * (5 / 6))
