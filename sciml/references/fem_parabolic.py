"""Implicit FEM time stepping for :class:`problems.parabolic.Parabolic` (DOLFINx 0.5).

theta-scheme (backward Euler theta = 1, Crank-Nicolson theta = 1/2) for
u_t - div(A grad u) + r(u) = f: every step solves, by Newton's method
(DOLFINx's NewtonSolver, LU), the residual
  ((u - u_n)/dt, v) + theta a(u; v) + (1 - theta) a(u_n; v) = 0,
  a(w; v) = (A grad w, grad v) + (r(w) - f, v) + <alpha w - g, v>_Robin - <g, v>_Neumann,
with u = g on the Dirichlet parts.  Mesh, parts and checks are those of the
elliptic solver (fem_elliptic).
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..core import Solution, SolverDiverged
from .fem_common import PointEvaluator
from .fem_checks import check_on_mesh
from .fem_elliptic import (UFLNamespace, fem_errors, mark_parts, ufl_coefficient, build_mesh, dirichlet_conditions,
                           uses_tags)

log = logging.getLogger(__name__)

__all__ = ["solve_parabolic", "THETA"]

#: theta of each scheme, and its order in time (read by tests)
THETA = {"be": (1.0, 1), "cn": (0.5, 2)}


def solve_parabolic(fem_solver: Any, problem: Any, mods: dict[str, Any]) -> Solution:
    """Step a Parabolic problem to T with ``fem_solver``'s degree, mesh, steps and scheme;
    the Solution evaluates u(T, .) at points and carries FEM-norm errors at T."""
    dolfinx, ufl, MPI, PETSc = mods["dolfinx"], mods["ufl"], mods["MPI"], mods["PETSc"]
    fem = dolfinx.fem
    import dolfinx.fem.petsc  # noqa: F401
    import dolfinx.nls.petsc
    spatial = problem.spatial()
    p, steps = fem_solver.degree, fem_solver.steps
    theta = THETA[fem_solver.scheme][0]
    t0 = time.perf_counter()
    msh, facet_tags, names, hsize = build_mesh(mods, problem.domain, n=fem_solver.n, h=fem_solver.h,
                                               degree=p, comm=MPI.COMM_WORLD, facet_tags=uses_tags(spatial))
    check_on_mesh(spatial, msh, p)
    parts = mark_parts(mods, spatial, msh, facet_tags, names)
    d = problem.d
    V = fem.FunctionSpace(msh, ("Lagrange", p))
    ndofs = V.dofmap.index_map.size_global
    x = ufl.SpatialCoordinate(msh)
    xp = UFLNamespace(ufl)
    u, u_n, v = fem.Function(V), fem.Function(V), ufl.TestFunction(V)
    dxq = ufl.dx(metadata={"quadrature_degree": 2 * p + 4})
    dt = problem.T / steps
    A, is_matrix = ufl_coefficient(spatial, ufl, x, xp)
    r = problem.reaction_fn()
    f = spatial.source(x, xp) if callable(spatial.source) else float(spatial.source)
    fdim = msh.topology.dim - 1
    flux = [bc for bc in spatial.conditions() if bc.kind in ("neumann", "robin")]
    ds = None
    if flux:
        ids = np.concatenate([np.full(len(parts[bc.part]), i + 1, dtype=np.int32) for i, bc in enumerate(flux)])
        facets = np.concatenate([parts[bc.part] for bc in flux]).astype(np.int32)
        order = np.argsort(facets)
        mt = dolfinx.mesh.meshtags(msh, fdim, facets[order], ids[order])
        ds = ufl.Measure("ds", domain=msh, subdomain_data=mt, metadata={"quadrature_degree": 2 * p + 4})

    def a(w: Any) -> Any:
        grad = A * ufl.grad(w)  # a matrix times a vector, or a scalar times it
        form = ufl.inner(grad, ufl.grad(v)) * dxq
        lower = (r(w, xp) - f) * v
        if not isinstance(lower, ufl.constantvalue.Zero):  # no reaction and no source
            form = form + lower * dxq
        for i, bc in enumerate(flux):
            form = form - bc.g(x, xp) * v * ds(i + 1)
            if bc.kind == "robin":
                form = form + bc.alpha(x, xp) * w * v * ds(i + 1)
        return form

    F = (u - u_n) / dt * v * dxq + theta * a(u)
    if theta < 1:
        F = F + (1 - theta) * a(u_n)
    bcs = dirichlet_conditions(mods, spatial, V, parts)
    u0 = problem.initial_fn()
    u_n.interpolate(lambda X: np.broadcast_to(np.asarray(u0(X[:d], np), dtype=float), X.shape[1:]))
    u.x.array[:] = u_n.x.array
    nlp = dolfinx.fem.petsc.NonlinearProblem(F, u, bcs=bcs)
    newton = dolfinx.nls.petsc.NewtonSolver(msh.comm, nlp)
    newton.rtol, newton.atol, newton.max_it = 1e-12, 1e-13, 25
    newton.convergence_criterion = "residual"
    ksp = newton.krylov_solver
    opts = PETSc.Options()
    prefix = ksp.getOptionsPrefix() or f"sciml_parabolic_{id(u)}_"
    ksp.setOptionsPrefix(prefix)
    for k, val in {"ksp_type": "preonly", "pc_type": "lu"}.items():
        opts[prefix + k] = val
    ksp.setFromOptions()
    for k in ("ksp_type", "pc_type"):
        del opts[prefix + k]
    t_setup = time.perf_counter() - t0
    newton_its = 0
    for step in range(steps):
        try:
            its, ok = newton.solve(u)
        except RuntimeError as exc:
            raise SolverDiverged(f"fem: Newton failed at time step {step + 1} of {steps} (t = {(step + 1) * dt:.4g}):"
                                 f" {exc}; try more steps", step=step + 1) from None
        if not ok or not np.all(np.isfinite(u.x.array)):
            raise SolverDiverged(f"fem: Newton did not converge at time step {step + 1} (t = {(step + 1) * dt:.4g})",
                                 step=step + 1)
        newton_its += its
        u.x.scatter_forward()
        u_n.x.array[:] = u.x.array
    wall = time.perf_counter() - t0
    errors = fem_errors(mods, problem, u, msh, p) if problem.exact_solution is not None else {}
    log.info("fem: parabolic %s P%d h=%.4g ndofs=%d steps=%d newton=%d %.3fs", fem_solver.scheme, p, hsize,
             ndofs, steps, newton_its, wall)
    stats = {"ndofs": int(ndofs), "h": hsize, "dt": dt, "steps": steps, "newton_iterations": int(newton_its),
             "setup_s": t_setup, "time_stepping_s": wall - t_setup}
    state = {"dofs": u.x.array.copy(), "dof_coordinates": V.tabulate_dof_coordinates()[:, :d].copy()}
    return Solution(fn=PointEvaluator(mods, u), stats=stats, state=state, extra_errors=lambda _p: dict(errors))
