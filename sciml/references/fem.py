"""Finite-element references with DOLFINx: the FEM solver, DarcyFEM and the
semilinear heat reference.

Written against the DOLFINx 0.5 API (Debian 12).  A newer DOLFINx changes
names in the fem*.py modules only (fem_common.py holds the shared helpers,
fem_elliptic.py and fem_parabolic.py the per-problem-type solves, fem_gmsh.py
the gmsh meshes).  Runs under MPI (``mpirun -n N``): the mesh is distributed
over ``MPI.COMM_WORLD``, norms are reduced over ranks and point values are
gathered to every rank.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from ..core import InvalidOption, Problem, Solution, Solver, SolverDiverged, check_range, opt
from .fem_common import (PointEvaluator, assemble_system, boundary_dofs,  # noqa: F401 (re-exported)
                         keep_root_logger, make_ksp, petsc_options, solve_linear, dolfinx_modules)

log = logging.getLogger(__name__)

__all__ = ["FEM", "LagrangeElement", "DarcyFEM", "dolfinx_modules"]


@dataclass(frozen=True)
class LagrangeElement:
    """Continuous Lagrange element of a given degree and its a-priori orders.

    For smooth solutions on quasi-uniform meshes (Ciarlet; Brenner & Scott,
    Thm 5.4.8 with the Aubin-Nitsche trick): ||u - u_h||_L2 = O(h^(p+1)) and
    |u - u_h|_H1 = O(h^p).
    """

    degree: int

    @property
    def l2_order(self) -> int:
        return self.degree + 1

    @property
    def h1_order(self) -> int:
        return self.degree


# ------------------------------------------------------------------ Poisson
@dataclass(frozen=True)
class FEM(Solver):
    """Lagrange finite elements for ``elliptic`` (-div(A grad u) + c u = f with
    Dirichlet, Neumann and Robin parts, on any of its domains) and its
    preset ``poisson`` (-Δu = f, u = g on the boundary).

    Options: ``degree`` (1 or 2), ``n`` cells per side of a structured
    simplex mesh of a box (the unit square/cube for ``poisson``), ``h`` the
    mesh size (gmsh meshes of disks and polygons; for a box, h > 0 sets the
    cells per side to ceil(side / h); 0: diameter / 32), ``linear_solver``:
    ``lu`` (MUMPS), ``cg-amg`` (conjugate gradients with hypre BoomerAMG,
    relative tolerance ``rtol``), or ``auto`` (LU below 50 000 unknowns).
    Data are the problem's functions in UFL (integrated with quadrature of
    degree 2*degree + 4; Dirichlet data interpolated into the space).
    ``parabolic`` problems are stepped to T in ``steps`` implicit steps of
    ``scheme`` ``cn`` (Crank-Nicolson) or ``be`` (backward Euler), with
    Newton's method for the reaction (fem_parabolic.py).  The Solution evaluates at
    points and reports FEM-norm errors against the exact solution on its own
    mesh: ``l2_fem`` = ||u - u_h||_L2, ``h1_fem`` = |u - u_h|_H1 and their
    relative versions, with quadrature degree 2*degree + 6.
    """

    name = "fem"
    requires = ("pde-on-domain",)
    #: a-priori convergence orders in h = 1/n, per degree (read by tests and study reports)
    orders: ClassVar[dict[int, dict[str, int]]] = {
        p: {"l2_fem": LagrangeElement(p).l2_order, "h1_fem": LagrangeElement(p).h1_order} for p in (1, 2)}
    #: the option that sets the mesh size, and how h depends on it
    refinement_option: ClassVar[str] = "n"

    degree: int = opt(1, choices=(1, 2))
    n: int = opt(32, lo=1)
    linear_solver: Literal["auto", "lu", "cg-amg"] = "auto"
    rtol: float = opt(1e-12, lo=0, hi=1, lo_open=True, hi_open=True)
    h: float = opt(0.0, lo=0)
    steps: int = opt(100, lo=1)
    scheme: Literal["cn", "be"] = "cn"

    @property
    def element(self) -> LagrangeElement:
        return LagrangeElement(self.degree)

    @keep_root_logger
    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> Solution:
        self.check_problem(problem)
        if device != "cpu":
            raise InvalidOption("fem runs on the CPU only; use --device cpu")
        mods = dolfinx_modules()
        if hasattr(problem, "spatial"):  # parabolic: implicit time stepping
            from .fem_parabolic import solve_parabolic
            return solve_parabolic(self, problem, mods)
        from .fem_elliptic import solve_elliptic
        # poisson is a preset of elliptic: the same mesh, forms and solver
        sol = solve_elliptic(self, problem.elliptic() if hasattr(problem, "elliptic") else problem, mods)
        return _withhold_unresolved_norms(self, problem, sol)


#: FEM-norm errors use quadrature of degree 2*degree + 6 (fem_elliptic.fem_errors)
def _withhold_unresolved_norms(solver: FEM, problem: Problem, sol: Solution) -> Solution:
    """A degree-q rule has about q/2 points per direction and cell: when the
    exact solution varies on ``problem.length_scale()`` below about half their
    spacing (a 1e9-sharp peak between the points of an n = 8 mesh), the
    quadrature misses it and l2_fem = h1_fem = 0 would be reported.  Such
    FEM-norm errors are withheld with a warning (the pointwise errors stay)."""
    scale = getattr(problem, "length_scale", None)
    h = sol.stats.get("h")
    if not callable(scale) or not h or sol.extra_errors is None:
        return sol
    q = 2 * solver.degree + 6
    if 4.0 * float(h) / scale() <= q:
        return sol
    log.warning("fem: the exact solution varies on a length %.3g, below what the error quadrature "
                "(degree %d) resolves on cells of size %.3g; the FEM-norm errors (l2_fem, h1_fem) "
                "are not reported; refine the mesh (h <= %.3g)", scale(), q, float(h), q * scale() / 4.0)
    sol.extra_errors = None
    return sol


# -------------------------------------------------------------------- Darcy
class DarcyFEM:
    """Repeated P1 solves of -div(a grad u) = f, u = 0 on the unit square.

    The mesh is the S x S grid's: (S-1) x (S-1) squares, each cut into two
    triangles, so the P1 unknowns sit exactly on the grid points.  The
    coefficient a, given at the grid points, is represented piecewise
    constant: each triangle takes the mean of a at its three vertices.  The
    mesh, forms and sparsity are built once; each :meth:`solve` only
    refreshes the coefficient, reassembles and solves (LU by default).
    """

    @keep_root_logger
    def __init__(self, S: int, f: float = 1.0, linear_solver: str = "lu") -> None:
        if S < 3:
            raise InvalidOption(f"darcy: res={S} is too small; allowed: res >= 3")
        if linear_solver not in ("lu", "cg-amg"):
            raise InvalidOption(f"darcy: linear_solver={linear_solver!r}; choose lu or cg-amg")
        mods = dolfinx_modules()
        self._mods = mods
        dolfinx, ufl, MPI = mods["dolfinx"], mods["ufl"], mods["MPI"]
        fem = dolfinx.fem
        self.S = S
        msh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, S - 1, S - 1, dolfinx.mesh.CellType.triangle)
        V = fem.FunctionSpace(msh, ("Lagrange", 1))
        Q = fem.FunctionSpace(msh, ("DG", 0))
        self._a = fem.Function(Q)
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        self._a_form = fem.form(self._a * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
        self._L_form = fem.form(fem.Constant(msh, float(f)) * v * ufl.dx)
        zero = fem.Function(V)
        self._bc = fem.dirichletbc(zero, boundary_dofs(mods, msh, V))
        self._uh = fem.Function(V)
        self._options = petsc_options(linear_solver, 1e-12)
        # grid index (i along x, j along y) of each P1 dof
        xy = V.tabulate_dof_coordinates()[:, :2]
        ij = np.rint(xy * (S - 1)).astype(np.int64)
        self._dof_to_grid = ij[:, 0] * S + ij[:, 1]
        # the grid indices of the three vertices of every triangle (affine P1
        # geometry: the geometry nodes of a cell are its vertices)
        nodes = msh.geometry.dofmap.array.reshape(-1, 3)
        node_ij = np.rint(msh.geometry.x[:, :2] * (S - 1)).astype(np.int64)
        self._cell_vertices = (node_ij[:, 0] * S + node_ij[:, 1])[nodes]
        self.ndofs = V.dofmap.index_map.size_global

    def solve(self, a: np.ndarray) -> np.ndarray:
        """u on the S x S grid (u[i, j] at x = i/(S-1), y = j/(S-1)) for the coefficient a on that grid."""
        a = np.asarray(a, dtype=float)
        if a.shape != (self.S, self.S):
            raise InvalidOption(f"darcy: coefficient of shape {a.shape} does not match the grid ({self.S}, {self.S})")
        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise InvalidOption("darcy: the coefficient a must be finite and positive")
        self._a.x.array[:] = a.reshape(-1)[self._cell_vertices].mean(axis=1)
        A, b = assemble_system(self._mods, self._a_form, self._L_form, [self._bc])
        solve_linear(self._mods, A, b, self._uh, self._options, prefix=f"sciml_darcy_{id(self)}_")
        A.destroy()
        b.destroy()
        out = np.empty(self.S * self.S)
        out[self._dof_to_grid] = self._uh.x.array
        return out.reshape(self.S, self.S)


# --------------------------------------------------- semilinear heat (low d)
@keep_root_logger
def solve_backward_semilinear(d: int, T: float, g: Any, reaction_flow: Any, *, L: float = 10.0,
                              n: int | None = None, degree: int = 1, steps: int = 200,
                              point: np.ndarray | None = None) -> float:
    """u(0, point) for du/dt + Δu + f(u) = 0 on [0, T) x R^d, u(T, .) = g, with d = 1 or 2.

    In reversed time s = T - t the equation is v_s = Δv + f(v), v(0) = g.
    It is solved on the box [-L, L]^d with v = 0 on its boundary (the heat
    kernel over time T at distance L weighs exp(-L²/(4T)): about 1e-11 for
    L = 10, T = 1, so truncation is far below discretisation error for data
    that are O(1) near the box), Lagrange elements of ``degree`` on a
    structured mesh with ``n`` cells per side, and Strang splitting:
    half a step of the exact reaction flow ``reaction_flow(values, dt)``
    applied at the nodes, a Crank-Nicolson diffusion step (LU factorised
    once), half a reaction step.  Second order in time and, for P1, in
    space.  ``g`` maps points (N, d) to values.
    """
    if d not in (1, 2):
        raise InvalidOption(f"solve_backward_semilinear: d={d} is not allowed; choose 1 or 2")
    check_range("solve_backward_semilinear", "T", T, lo=0, lo_open=True, error=InvalidOption)
    check_range("solve_backward_semilinear", "steps", steps, lo=1, error=InvalidOption)
    mods = dolfinx_modules()
    dolfinx, ufl, MPI, PETSc = mods["dolfinx"], mods["ufl"], mods["MPI"], mods["PETSc"]
    fem, petsc = dolfinx.fem, dolfinx.fem.petsc
    n = n or (int(40 * L) if d == 1 else int(16 * L))
    n += n % 2  # the origin is a vertex
    if d == 1:
        msh = dolfinx.mesh.create_interval(MPI.COMM_WORLD, n, [-L, L])
    else:
        msh = dolfinx.mesh.create_rectangle(MPI.COMM_WORLD, [np.array([-L, -L]), np.array([L, L])], [n, n],
                                            dolfinx.mesh.CellType.triangle)
    V = fem.FunctionSpace(msh, ("Lagrange", degree))
    u, w = ufl.TrialFunction(V), ufl.TestFunction(V)
    dt = T / steps
    lhs = fem.form(u * w * ufl.dx + 0.5 * dt * ufl.inner(ufl.grad(u), ufl.grad(w)) * ufl.dx)
    rhs_op = fem.form(u * w * ufl.dx - 0.5 * dt * ufl.inner(ufl.grad(u), ufl.grad(w)) * ufl.dx)
    zero = fem.Function(V)
    bc = fem.dirichletbc(zero, boundary_dofs(mods, msh, V))
    A = petsc.assemble_matrix(lhs, bcs=[bc])
    A.assemble()
    B = petsc.assemble_matrix(rhs_op)  # no bc: the rhs rows of boundary dofs are overwritten below
    B.assemble()
    v = fem.Function(V)
    v.interpolate(lambda X: g(X[:d].T))
    bdofs = boundary_dofs(mods, msh, V)
    v.x.array[bdofs] = 0.0
    ksp = make_ksp(mods, A, petsc_options("lu", 1e-12), prefix=f"sciml_semilinear_{id(v)}_")
    b = A.createVecRight()
    for _ in range(steps):
        v.x.array[:] = reaction_flow(v.x.array, 0.5 * dt)
        B.mult(v.vector, b)
        petsc.set_bc(b, [bc])
        ksp.solve(b, v.vector)
        v.x.scatter_forward()
        v.x.array[:] = reaction_flow(v.x.array, 0.5 * dt)
    if ksp.getConvergedReason() < 0:
        raise SolverDiverged(f"solve_backward_semilinear: LU solve failed (reason {ksp.getConvergedReason()})")
    ksp.destroy()
    A.destroy()
    B.destroy()
    x0 = np.zeros((1, d)) if point is None else np.asarray(point, dtype=float).reshape(1, d)
    return float(PointEvaluator(mods, v)(x0)[0])
