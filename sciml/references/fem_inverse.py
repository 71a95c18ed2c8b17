"""Coefficient recovery from point measurements by FEM-constrained least squares.

Given an :class:`Elliptic` problem whose coefficient is unknown, point
measurements u_obs at x_obs and a parametrisation of the coefficient
(``constant``: A = k; ``quadrants``: A = k_i on the four quadrants of a 2D
box), minimise sum_j (u_h(x_j; k) - u_obs_j)^2 over log k with
scipy.optimize.least_squares (trust region, forward-difference Jacobian:
p + 1 FEM solves per iteration for p parameters).  The mesh, the forms and
the point-evaluation cells are built once; each evaluation only changes the
DOLFINx Constants holding k, reassembles and solves.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import InvalidOption, InvalidProblem, Solution, Solver, opt
from .fem_common import PointEvaluator, assemble_system, dolfinx_modules, keep_root_logger, petsc_options, solve_linear
from .fem_elliptic import UFLNamespace, mark_parts, build_mesh

__all__ = ["recover_coefficient", "quadrant_indicators", "FEMInverse"]


def quadrant_indicators(domain: Any, x: Any, xp: Any) -> list[Any]:
    """Indicators of the four quadrants of a 2D box (problems.elliptic_inverse)."""
    from problems.elliptic_inverse import quadrant_indicators as q
    return q(domain, x, xp)


def recover_coefficient(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Recovered parameters, residual and cost (see :func:`_recover`)."""
    return keep_root_logger(_recover)(*args, **kwargs)


def _recover(problem: Any, x_obs: np.ndarray, u_obs: np.ndarray, *, parametrisation: str = "constant",
                        degree: int = 1, n: int = 32, initial: float = 1.0) -> dict[str, Any]:
    """Recovered parameters, residual and cost (``fem_solves``, ``wall_s``)."""
    from scipy.optimize import least_squares

    from problems.domains import Box
    if parametrisation not in ("constant", "quadrants"):
        raise InvalidOption(f"inverse: parametrisation={parametrisation!r}; choose constant or quadrants")
    if parametrisation == "quadrants" and not (isinstance(problem.domain, Box) and problem.d == 2):
        raise InvalidProblem("inverse: parametrisation=quadrants needs a 2D Box domain")
    x_obs = np.atleast_2d(np.asarray(x_obs, dtype=float))
    u_obs = np.asarray(u_obs, dtype=float).reshape(-1)
    if x_obs.shape != (len(u_obs), problem.d):
        raise InvalidOption(f"inverse: x_obs has shape {x_obs.shape}; expected ({len(u_obs)}, {problem.d})")
    mods = dolfinx_modules()
    dolfinx, ufl, MPI, PETSc = mods["dolfinx"], mods["ufl"], mods["MPI"], mods["PETSc"]
    fem = dolfinx.fem
    t0 = time.perf_counter()
    msh, tags, names, _ = build_mesh(mods, problem.domain, n=n, h=0.0, degree=degree, comm=MPI.COMM_WORLD)
    parts = mark_parts(mods, problem, msh, tags, names)
    V = fem.FunctionSpace(msh, ("Lagrange", degree))
    x = ufl.SpatialCoordinate(msh)
    xp = UFLNamespace(ufl)
    p = 1 if parametrisation == "constant" else 4
    ks = [fem.Constant(msh, PETSc.ScalarType(1.0)) for _ in range(p)]
    A = ks[0] if p == 1 else sum(k * ind for k, ind in zip(ks, quadrant_indicators(problem.domain, x, xp)))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    dxq = ufl.dx(metadata={"quadrature_degree": 2 * degree + 4})
    f = problem.source(x, xp) if callable(problem.source) else fem.Constant(msh, PETSc.ScalarType(problem.source))
    a_form = fem.form(A * ufl.inner(ufl.grad(u), ufl.grad(v)) * dxq)
    if problem.conditions_of("neumann") or problem.conditions_of("robin"):
        raise InvalidProblem("inverse: only Dirichlet conditions are supported for coefficient recovery")
    L_form = fem.form(f * v * dxq)
    fdim = msh.topology.dim - 1
    bcs = []
    for bc in problem.conditions_of("dirichlet"):
        g = fem.Function(V)
        g.interpolate(lambda X, fn=bc.g: np.broadcast_to(np.asarray(fn(X[: problem.d], np), dtype=float),
                                                         X.shape[1:]))
        bcs.append(fem.dirichletbc(g, fem.locate_dofs_topological(V, fdim, parts[bc.part])))
    uh = fem.Function(V)
    evaluator = PointEvaluator(mods, uh)
    solves = [0]

    def forward(theta: np.ndarray) -> np.ndarray:
        for k, t in zip(ks, theta):
            k.value = math.exp(float(t))
        Amat, b = assemble_system(mods, a_form, L_form, bcs)
        solve_linear(mods, Amat, b, uh, petsc_options("lu", 1e-12), prefix=f"sciml_inverse_{id(uh)}_")
        Amat.destroy()
        b.destroy()
        solves[0] += 1
        return evaluator(x_obs) - u_obs

    res = least_squares(forward, np.full(p, math.log(initial)), method="trf", x_scale=1.0,
                        xtol=1e-10, ftol=1e-12, gtol=1e-12, diff_step=1e-6)
    return {"params": np.exp(res.x), "cost": float(res.cost), "fem_solves": solves[0],
            "iterations": int(res.nfev), "wall_s": time.perf_counter() - t0, "success": bool(res.success)}


@dataclass(frozen=True)
class FEMInverse(Solver):
    """``fem-inverse``: the coefficient of an ``elliptic-inverse`` problem by
    FEM-constrained least squares (:func:`recover_coefficient`: Lagrange
    elements of ``degree`` on ``n`` cells per side, trust-region least squares
    over log k from ``initial``, forward-difference Jacobian)."""

    name = "fem-inverse"
    requires = ("elliptic-inverse",)

    degree: int = opt(1, choices=(1, 2))
    n: int = opt(32, lo=2)
    initial: float = opt(1.0, lo=0.0, lo_open=True)

    def _solve(self, problem: Any, *, seed: int, device: str, progress: bool) -> Solution:
        x_obs, u_obs = problem.observations()
        r = recover_coefficient(problem.forward_problem(), x_obs.T, u_obs, parametrisation=problem.parametrisation,
                                degree=self.degree, n=self.n, initial=self.initial)
        k = np.asarray(r["params"], dtype=float)
        stats = {"wall_s": r["wall_s"], "fem_solves": r["fem_solves"], "iterations": r["iterations"],
                 "cost": r["cost"], "success": r["success"], "params": k.tolist()}
        return Solution(value=problem.value_of(k), stats=stats, state={"params": k})
