"""FEM solve time vs unknowns in d = 2 with CG + algebraic multigrid (hypre BoomerAMG).

Solves Poisson (sine, k = 1) with P1 elements on n x n meshes giving 1e4 to
1e6 unknowns, times assembly and the CG+AMG solve separately, and fits the
exponent of solve time against unknowns (near-linear means <= 1.2).  The
baseline named in the JSON line is the same fit for sparse direct LU (MUMPS)
over the sizes where LU fits in memory quickly (up to ~2.5e5 unknowns).

``--versus-bare N`` compares sciml's FEM with a bare DOLFINx script of the same
problem on an N x N mesh; ``--gmsh H`` times a user's gmsh mesh of the unit disk
(size H; 0.0019: about 1e6 unknowns): generating and writing the .msh, then
``Elliptic(domain=MeshFile(...))`` solved by FEM (reading, assembly, CG + AMG).

Prints one JSON line on stdout.  Usage: python scripts/bench/bench_fem.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from problems.elliptic import Poisson
from sciml.references.fem import FEM


def timed(solver: FEM, problem: Poisson, repeats: int) -> tuple[float, float, int, float]:
    best_solve, best_asm, its, err = np.inf, np.inf, 0, np.nan
    for _ in range(repeats):
        sol = solver.solve(problem)
        best_solve = min(best_solve, sol.stats["solve_s"])
        best_asm = min(best_asm, sol.stats["assemble_s"])
        its = sol.stats["iterations"]
        err = sol.extra_errors(problem)["rel_l2_fem"]
    return best_solve, best_asm, its, err


def bare_dolfinx(n: int) -> tuple[float, float]:
    """The same P1 problem written directly against DOLFINx 0.5 (no sciml): unit
    square, n x n triangles, -Δu = 2 pi^2 sin(pi x) sin(pi y), u = 0 on the boundary,
    CG + BoomerAMG with rtol 1e-10.  Returns (wall seconds from mesh to solution,
    u at the centre)."""
    import ufl
    from dolfinx import fem, mesh
    from dolfinx.fem import petsc
    from mpi4py import MPI
    from petsc4py import PETSc
    t0 = time.perf_counter()
    msh = mesh.create_unit_square(MPI.COMM_WORLD, n, n)
    V = fem.FunctionSpace(msh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    x = ufl.SpatialCoordinate(msh)
    f = 2.0 * ufl.pi ** 2 * ufl.sin(ufl.pi * x[0]) * ufl.sin(ufl.pi * x[1])
    a = fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
    L = fem.form(f * v * ufl.dx)
    msh.topology.create_connectivity(1, 2)
    facets = mesh.exterior_facet_indices(msh.topology)
    dofs = fem.locate_dofs_topological(V, 1, facets)
    bc = fem.dirichletbc(PETSc.ScalarType(0.0), dofs, V)
    A = petsc.assemble_matrix(a, bcs=[bc])
    A.assemble()
    b = petsc.assemble_vector(L)
    petsc.apply_lifting(b, [a], [[bc]])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    petsc.set_bc(b, [bc])
    uh = fem.Function(V)
    ksp = PETSc.KSP().create(msh.comm)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.getPC().setType("hypre")
    ksp.getPC().setHYPREType("boomeramg")
    ksp.setTolerances(rtol=1e-10, atol=0.0, max_it=1000)
    ksp.solve(b, uh.vector)
    uh.x.scatter_forward()
    wall = time.perf_counter() - t0
    ksp.destroy()
    return wall, float(uh.x.array.max())


def versus_bare(n: int, repeats: int) -> dict:
    """sciml's FEM.solve against bare_dolfinx on the same problem, alternating, best of repeats."""
    problem = Poisson(d=2, solution="sine", k=1)
    solver = FEM(degree=1, n=n, linear_solver="cg-amg", rtol=1e-10)
    solver.solve(problem)
    bare_dolfinx(8)                                # JIT-compile both sets of forms outside the timing
    ours, bare, peak_ours, peak_bare = [], [], np.nan, np.nan
    for _ in range(repeats):
        t0 = time.perf_counter()
        sol = solver.solve(problem)
        ours.append(time.perf_counter() - t0)
        w, peak_bare = bare_dolfinx(n)
        bare.append(w)
        peak_ours = float(sol(np.array([[0.5, 0.5]]))[0])
    return {"n": n, "unknowns": (n + 1) ** 2, "sciml_s": min(ours), "bare_dolfinx_s": min(bare),
            "ratio": min(ours) / min(bare), "sciml_all_s": ours, "bare_all_s": bare,
            "u_centre_sciml": peak_ours, "u_max_bare": peak_bare}


def gmsh_disk(h: float, repeats: int) -> dict:
    """Mesh the unit disk with gmsh (size h, Frontal-Delaunay), write it as .msh (ASCII), and
    solve -Δu = 1, u = 0 on the boundary on it through the user path (Elliptic on a
    MeshFile; P1, CG + BoomerAMG, rtol 1e-10); best of ``repeats`` for each stage.
    The error against u = (1 - r^2)/4 is computed after the timing."""
    import tempfile
    from pathlib import Path

    from problems.elliptic import Disk, Elliptic, MeshFile
    from sciml.references.fem_gmsh import generate, gmsh_session

    def exact(x, xp):
        return (1.0 - x[0] ** 2 - x[1] ** 2) / 4.0
    solver = FEM(degree=1, linear_solver="cg-amg", rtol=1e-10)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "disk.msh")
        mesh_s, write_s, solve_all, sol = [], [], [], None
        for _ in range(repeats):
            with gmsh_session() as gmsh:
                t0 = time.perf_counter()
                generate(gmsh, Disk((0.0, 0.0), 1.0), h, order=1)
                t1 = time.perf_counter()
                gmsh.write(path)
                mesh_s.append(t1 - t0)
                write_s.append(time.perf_counter() - t1)
        problem = Elliptic(domain=MeshFile(path), source=1.0, dirichlet=0.0, exact_solution=exact)
        # compile the forms outside the timing (the same forms on a coarse disk)
        FEM(degree=1, h=0.5).solve(Elliptic(domain=Disk((0.0, 0.0), 1.0), source=1.0, dirichlet=0.0))
        for _ in range(repeats):
            t0 = time.perf_counter()
            sol = solver.solve(problem)
            solve_all.append({"wall_s": time.perf_counter() - t0, "read_and_assemble_s": sol.stats["assemble_s"],
                              "linear_solve_s": sol.stats["solve_s"]})
        size_mb = Path(path).stat().st_size / 1e6
    best = min(solve_all, key=lambda r: r["wall_s"])
    return {"h": h, "unknowns": sol.stats["ndofs"], "cells": sol.stats["cells"], "msh_mb": size_mb,
            "gmsh_generate_s": min(mesh_s), "gmsh_write_s": min(write_s), "fem_wall_s": best["wall_s"],
            "read_and_assemble_s": best["read_and_assemble_s"], "linear_solve_s": best["linear_solve_s"],
            "cg_iterations": sol.stats["iterations"], "rel_l2_fem": sol.extra_errors(problem)["rel_l2_fem"],
            "gmsh_all_s": mesh_s, "fem_all": solve_all}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--versus-bare", type=int, default=0, metavar="N",
                    help="only compare sciml's FEM with a bare DOLFINx script on an N x N mesh "
                         "(999: 1e6 unknowns); the ratio is sciml / bare, wall time from mesh to solution")
    ap.add_argument("--gmsh", type=float, default=0.0, metavar="H",
                    help="only time a gmsh mesh of the unit disk of size H (0.0019: about 1e6 unknowns): "
                         "generation, then FEM through Elliptic(domain=MeshFile(...))")
    args = ap.parse_args()
    if args.gmsh:
        print(json.dumps({"bench": "fem_gmsh_disk", **gmsh_disk(args.gmsh, args.repeats)}))
        return
    if args.versus_bare:
        out = versus_bare(args.versus_bare, args.repeats)
        print(json.dumps({"bench": "fem_vs_bare_dolfinx", "baseline": "bare DOLFINx script, same problem",
                          "target": 1.05, **out}))
        return
    problem = Poisson(d=2, solution="sine", k=1)
    ns = [99, 199, 315, 499, 707, 999]  # (n+1)^2 = 1e4 ... 1e6 unknowns
    rows = []
    for n in ns:
        s, a, its, err = timed(FEM(degree=1, n=n, linear_solver="cg-amg", rtol=1e-10), problem, args.repeats)
        rows.append({"n": n, "unknowns": (n + 1) ** 2, "solve_s": s, "assemble_s": a, "cg_iterations": its,
                     "rel_l2_fem": err})
        print(f"cg-amg n={n:5d} unknowns={(n + 1) ** 2:8d} solve {s:7.3f}s assemble {a:7.3f}s its {its:3d} "
              f"rel_l2 {err:.2e}", file=sys.stderr)
    lu_rows = []
    for n in ns[:4]:
        s, a, _its, err = timed(FEM(degree=1, n=n, linear_solver="lu"), problem, args.repeats)
        lu_rows.append({"unknowns": (n + 1) ** 2, "solve_s": s})
        print(f"lu     n={n:5d} solve {s:7.3f}s", file=sys.stderr)
    N = np.array([r["unknowns"] for r in rows], dtype=float)
    T = np.array([r["solve_s"] for r in rows])
    exponent = float(np.polyfit(np.log(N), np.log(T), 1)[0])
    NL = np.array([r["unknowns"] for r in lu_rows], dtype=float)
    TL = np.array([r["solve_s"] for r in lu_rows])
    lu_exponent = float(np.polyfit(np.log(NL), np.log(TL), 1)[0])
    ratio = float(TL[-1] / T[len(lu_rows) - 1])
    print(json.dumps({"bench": "fem", "solver": "cg-amg", "exponent": exponent, "target_exponent": 1.2,
                      "baseline": "mumps-lu", "baseline_exponent": lu_exponent,
                      "lu_over_amg_time_at_largest_lu": ratio, "rows": rows}))


if __name__ == "__main__":
    main()
