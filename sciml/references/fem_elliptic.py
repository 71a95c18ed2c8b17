"""Lagrange finite elements for :class:`problems.elliptic.Elliptic` (DOLFINx 0.5).

Weak form: find u in V with u = g on the Dirichlet parts and
  (A grad u, grad v) + (c u, v) + <alpha u, v>_Robin = (f, v) + <g, v>_Neumann + <g, v>_Robin
for every v in V vanishing on the Dirichlet parts.  Only the fem*.py modules
of sciml/references touch dolfinx/gmsh.  Every user function is checked on the
mesh (nodes and the cells' quadrature points) before anything is assembled
(fem_checks.py).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from ..core import InvalidProblem, Solution
from .fem_checks import agree_on_ranks, check_assembled, check_on_mesh, located, vertices_of_cells
from .fem_common import PointEvaluator, assemble_system, keep_root_logger, petsc_options, solve_linear

log = logging.getLogger(__name__)

__all__ = ["UFLNamespace", "solve_elliptic", "build_mesh", "dirichlet_conditions"]


class UFLNamespace:
    """The ``xp`` a user's function sees when it is turned into UFL: NumPy's
    names (those torch shares) mapped to UFL's operators."""

    def __init__(self, ufl: Any) -> None:
        self._ufl = ufl
        self.pi, self.e = math.pi, math.e
        for name in ("sin", "cos", "tan", "exp", "sqrt", "tanh", "sinh", "cosh", "erf", "sign"):
            setattr(self, name, getattr(ufl, name))
        self.log = ufl.ln
        self.arctan, self.arcsin, self.arccos = ufl.atan, ufl.asin, ufl.acos
        self.arctan2 = self.atan2 = ufl.atan_2

    def abs(self, a: Any) -> Any:
        return abs(a)

    def maximum(self, a: Any, b: Any) -> Any:
        return self._ufl.max_value(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return self._ufl.min_value(a, b)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self._ufl.conditional(cond, a, b)

    def sum(self, a: Any, axis: int = 0) -> Any:
        if axis != 0:
            raise InvalidProblem("elliptic: in UFL, xp.sum supports axis=0 (over coordinates) only")
        return sum(a[i] for i in range(a.ufl_shape[0])) if hasattr(a, "ufl_shape") else sum(a)


# ------------------------------------------------------------------- meshes
def build_mesh(mods: dict[str, Any], domain: Any, *, n: int, h: float, degree: int,
               comm: Any, facet_tags: bool = True, cell_tags: bool = False) -> tuple:
    """(mesh, facet tags or None, physical name -> tag, mesh size h) for a domain;
    ``facet_tags=False``: no facet tags are built (no condition names a tag).
    ``cell_tags=True`` (a MeshFile): a fifth item (cell MeshTags, subdomain name -> tag),
    the physical groups of dimension d (an unnamed one under its tag as a string)."""
    from problems.domains import Box, Disk, MeshFile, Polygon
    dmesh = mods["dolfinx"].mesh
    if isinstance(domain, Box):
        lo, hi, d = np.array(domain.lo), np.array(domain.hi), domain.d
        counts = [n] * d if h <= 0 else [max(1, int(math.ceil((b - a) / h))) for a, b in zip(lo, hi)]
        unit = np.all(lo == 0) and np.all(hi == 1) and len(set(counts)) == 1
        if d == 1:
            msh = dmesh.create_unit_interval(comm, counts[0]) if unit else \
                dmesh.create_interval(comm, counts[0], [lo[0], hi[0]])
        elif d == 2:
            msh = dmesh.create_unit_square(comm, *counts, dmesh.CellType.triangle) if unit else \
                dmesh.create_rectangle(comm, [lo, hi], counts, dmesh.CellType.triangle)
        else:
            msh = dmesh.create_unit_cube(comm, *counts, dmesh.CellType.tetrahedron) if unit else \
                dmesh.create_box(comm, [lo, hi], counts, dmesh.CellType.tetrahedron)
        return msh, None, {}, float(np.max((hi - lo) / np.array(counts)))
    from .fem_gmsh import generate, gmsh_session, model_to_mesh, open_msh
    with gmsh_session() as gmsh:
        if isinstance(domain, (Disk, Polygon)):
            h = h if h > 0 else domain.diameter / 32
            generate(gmsh, domain, h, order=min(degree, 2) if isinstance(domain, Disk) else 1)
        elif isinstance(domain, MeshFile):
            open_msh(gmsh, domain.path)
            if not gmsh.model.getPhysicalGroups(domain.d):
                raise InvalidProblem(f"MeshFile: {domain.path!r} has no physical group of dimension {domain.d}; "
                                     "DOLFINx reads only elements in physical groups")
        else:  # pragma: no cover
            raise InvalidProblem(f"elliptic: no mesh generator for {type(domain).__name__}")
        names = {gmsh.model.getPhysicalName(dim, tag): tag for dim, tag in gmsh.model.getPhysicalGroups()
                 if dim == domain.d - 1}
        cell_tags = cell_tags and isinstance(domain, MeshFile)
        subdomains = {gmsh.model.getPhysicalName(dim, tag) or str(tag): tag
                      for dim, tag in gmsh.model.getPhysicalGroups(domain.d)}
        try:
            msh, facets, *ctags = model_to_mesh(gmsh, comm, domain.d, facet_tags, cell_tags=cell_tags)
        except Exception as exc:
            raise InvalidProblem(f"elliptic: DOLFINx could not build a mesh from the gmsh model ({exc})") from None
    if h <= 0:  # a mesh file: report its longest cell edge
        V = vertices_of_cells(msh)
        k = V.shape[1]
        edges = [np.linalg.norm(V[:, i] - V[:, j], axis=1) for i in range(k) for j in range(i + 1, k)]
        h = float(comm.allreduce(float(np.max(edges, initial=0.0)), op=mods["MPI"].MAX))
    if cell_tags:
        return msh, facets, names, float(h), (ctags[0], subdomains)
    return msh, facets, names, float(h)


def dirichlet_conditions(mods: dict[str, Any], problem: Any, V: Any, parts: dict[str, np.ndarray]) -> list[Any]:
    """One DOLFINx DirichletBC per Dirichlet part.  Its data are interpolated on the
    cells that touch the part's facets only (the values the condition uses), and
    checked finite and of the right shape as they are interpolated (all ranks agree)."""
    fem = mods["dolfinx"].fem
    msh = V.mesh
    fdim = msh.topology.dim - 1
    msh.topology.create_connectivity(fdim, fdim + 1)
    f2c = msh.topology.connectivity(fdim, fdim + 1)
    out, errors = [], []
    for bc in problem.conditions_of("dirichlet"):
        facets = parts[bc.part]
        first, count = f2c.offsets[facets], np.diff(f2c.offsets)[facets]
        start = np.repeat(first - np.cumsum(count) + count, count)
        cells = np.unique(f2c.array[start + np.arange(count.sum())]).astype(np.int32)
        key = f"dirichlet[{bc.part!r}]"

        def values(X: np.ndarray, fn: Any = bc.g, key: str = key) -> np.ndarray:
            try:
                where = "where it is interpolated on the mesh"
                return np.ascontiguousarray(located(lambda: problem.scalar(fn, key, X[: problem.d]), where))
            except InvalidProblem as exc:
                errors.append(str(exc))
                return np.zeros(X.shape[1])
        g = fem.Function(V)
        if len(cells):
            g.interpolate(values, cells)
        out.append(fem.dirichletbc(g, fem.locate_dofs_topological(V, fdim, facets)))
    agree_on_ranks(msh.comm, errors[0] if errors else None)
    return out


# ------------------------------------------------------------- boundaries
def uses_tags(problem: Any) -> bool:
    """Whether a boundary condition names a part given by a mesh tag."""
    known = problem.parts()
    return any(bc.part not in ("boundary", "rest") and bc.part in known and not callable(known[bc.part])
               for bc in problem.conditions())   # "boundary" and "rest" are found from the exterior facets


def mark_parts(mods: dict[str, Any], problem: Any, msh: Any, facet_tags: Any,
                names: dict[str, int]) -> dict[str, np.ndarray]:
    """Facet indices of every boundary part a condition uses."""
    dmesh = mods["dolfinx"].mesh
    tdim = msh.topology.dim
    fdim = tdim - 1
    msh.topology.create_connectivity(fdim, tdim)
    exterior = dmesh.exterior_facet_indices(msh.topology)
    known = problem.parts()
    d = problem.d

    def facets_of(part: Any, label: str) -> np.ndarray:
        if callable(part):
            def marker(X: np.ndarray) -> np.ndarray:
                return np.broadcast_to(np.asarray(part(X[:d], np), dtype=bool), X.shape[1:])
            try:
                found = dmesh.locate_entities_boundary(msh, fdim, marker)
            except (IndexError, ValueError, TypeError) as exc:
                raise InvalidProblem(f"elliptic: boundary part {label!r}: its predicate failed on points of "
                                     f"dimension {d}: {type(exc).__name__}: {exc}") from None
            return np.intersect1d(found, exterior)
        tag = names.get(part) if isinstance(part, str) else int(part)
        if tag is None or facet_tags is None:
            raise InvalidProblem(f"elliptic: boundary part {label!r}: tag {part!r} is not in the mesh; "
                                 f"boundary tags: {', '.join(map(str, names)) or 'none'}")
        return facet_tags.indices[facet_tags.values == tag].astype(np.int32)

    out: dict[str, np.ndarray] = {}
    conditions = problem.conditions()
    for bc in conditions:
        if bc.part == "boundary":
            out[bc.part] = exterior
        elif bc.part != "rest":
            out[bc.part] = facets_of(known[bc.part], bc.part)
    if any(bc.part == "rest" for bc in conditions):
        used = np.concatenate([v for v in out.values()] + [np.empty(0, np.int32)])
        out["rest"] = np.setdiff1d(exterior, used).astype(np.int32)
    comm = msh.comm
    for name, facets in out.items():
        if comm.allreduce(len(facets)) == 0:
            raise InvalidProblem(f"elliptic: boundary part {name!r} marks no facet of the mesh; check its "
                                 "predicate (all vertices of a facet must satisfy it) or tag")
    names_list = list(out)
    for i, a in enumerate(names_list):
        for b in names_list[i + 1:]:
            if comm.allreduce(len(np.intersect1d(out[a], out[b]))):
                raise InvalidProblem(f"elliptic: boundary parts {a!r} and {b!r} share facets; a facet may carry "
                                     "one condition only")
    return out


# ------------------------------------------------------------------ forms
def ufl_coefficient(problem: Any, ufl: Any, x: Any, xp: Any) -> tuple[Any, bool]:
    """(A as UFL, is it a matrix)."""
    A = problem.coefficient
    if isinstance(A, dict):
        raise InvalidProblem("elliptic: a coefficient per subdomain is supported by the elliptic FEM only")
    val = A(x, xp) if callable(A) else A
    if isinstance(val, (list, tuple, np.ndarray)):
        return ufl.as_matrix([[val[i][j] for j in range(problem.d)] for i in range(problem.d)]), True
    if hasattr(val, "ufl_shape") and len(val.ufl_shape) == 2:
        return val, True
    return val, False


def solve_elliptic(fem_solver: Any, problem: Any, mods: dict[str, Any]) -> Solution:
    """Assemble and solve; the Solution evaluates at points and carries FEM-norm errors."""
    dolfinx, ufl, MPI, PETSc = mods["dolfinx"], mods["ufl"], mods["MPI"], mods["PETSc"]
    fem = dolfinx.fem
    p = fem_solver.degree
    t0 = time.perf_counter()
    per_subdomain = getattr(problem, "subdomain_fields", ())
    msh, facet_tags, names, hsize, *cells = build_mesh(mods, problem.domain, n=fem_solver.n, h=fem_solver.h,
                                                       degree=p, comm=MPI.COMM_WORLD,
                                                       facet_tags=uses_tags(problem), cell_tags=bool(per_subdomain))
    cells = cells[0] if cells else None
    check_on_mesh(problem, msh, p, cells)
    parts = mark_parts(mods, problem, msh, facet_tags, names)
    d = problem.d
    V = fem.FunctionSpace(msh, ("Lagrange", p))
    ndofs = V.dofmap.index_map.size_global * V.dofmap.index_map_bs
    x = ufl.SpatialCoordinate(msh)
    xp = UFLNamespace(ufl)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    q_rhs = 2 * p + 4
    dxq = ufl.dx(metadata={"quadrature_degree": q_rhs})

    if per_subdomain:   # sums of integrals over the subdomains' cells, dx(tag)
        dxc = ufl.Measure("dx", domain=msh, subdomain_data=cells[0], metadata={"quadrature_degree": q_rhs})

        def field(key: str, term: Any, default: Any) -> Any:
            spec = getattr(problem, key)
            if not isinstance(spec, dict):
                return default
            out = None
            for name, tag in cells[1].items():
                val = problem.on_subdomain(key, name)
                if not callable(val) and key != "coefficient" and float(val) == 0.0:
                    continue
                expr = val(x, xp) if callable(val) else fem.Constant(msh, PETSc.ScalarType(val))
                out = term(expr) * dxc(tag) if out is None else out + term(expr) * dxc(tag)
            return out

    A, is_matrix = (None, False) if isinstance(problem.coefficient, dict) else ufl_coefficient(problem, ufl, x, xp)
    if isinstance(problem.coefficient, dict):
        a = field("coefficient", lambda k: k * ufl.inner(ufl.grad(u), ufl.grad(v)), None)
    elif is_matrix:
        a = ufl.inner(A * ufl.grad(u), ufl.grad(v)) * dxq
    elif not callable(problem.coefficient) and float(A) == 1.0:
        a = ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
    else:
        a = A * ufl.inner(ufl.grad(u), ufl.grad(v)) * dxq
    if isinstance(problem.reaction, dict):
        r = field("reaction", lambda c: c * u * v, None)
        a = a if r is None else a + r
    elif callable(problem.reaction) or problem.reaction != 0:
        c = problem.reaction(x, xp) if callable(problem.reaction) else float(problem.reaction)
        a = a + c * u * v * dxq
    if isinstance(problem.source, dict):
        L = field("source", lambda f: f * v, None)
        if L is None:   # a zero source everywhere
            L = fem.Constant(msh, PETSc.ScalarType(0.0)) * v * dxq
    else:
        f = problem.source(x, xp) if callable(problem.source) else \
            fem.Constant(msh, PETSc.ScalarType(problem.source))
        L = f * v * dxq

    # one facet-tag id per Neumann/Robin part for ds
    fdim = msh.topology.dim - 1
    flux = [bc for bc in problem.conditions() if bc.kind in ("neumann", "robin")]
    if flux:
        ids = np.concatenate([np.full(len(parts[bc.part]), i + 1, dtype=np.int32) for i, bc in enumerate(flux)])
        facets = np.concatenate([parts[bc.part] for bc in flux]).astype(np.int32)
        order = np.argsort(facets)
        mt = dolfinx.mesh.meshtags(msh, fdim, facets[order], ids[order])
        ds = ufl.Measure("ds", domain=msh, subdomain_data=mt, metadata={"quadrature_degree": q_rhs})
        for i, bc in enumerate(flux):
            L = L + bc.g(x, xp) * v * ds(i + 1)
            if bc.kind == "robin":
                a = a + bc.alpha(x, xp) * u * v * ds(i + 1)

    bcs = dirichlet_conditions(mods, problem, V, parts)

    a_form, L_form = fem.form(a), fem.form(L)
    Amat, b = assemble_system(mods, a_form, L_form, bcs)
    check_assembled(Amat, b, msh.comm)
    t_asm = time.perf_counter() - t0

    kind = fem_solver.linear_solver
    if kind == "auto":
        kind = "lu" if ndofs < 50_000 else "cg-amg"
    uh = fem.Function(V)
    t1 = time.perf_counter()
    its = solve_linear(mods, Amat, b, uh, petsc_options(kind, fem_solver.rtol), prefix=f"sciml_fem_{id(uh)}_")
    t_solve = time.perf_counter() - t1
    Amat.destroy()
    b.destroy()

    cache: dict[str, dict[str, float]] = {}

    def extra_errors(_problem: Any) -> dict[str, float]:
        # computed when asked (by evaluate), not as part of the solve it measures
        if "errors" not in cache:
            cache["errors"] = keep_root_logger(fem_errors)(mods, problem, uh, msh, p)
        return dict(cache["errors"])
    log.info("fem: %s P%d h=%.4g ndofs=%d %s its=%d assemble %.3fs solve %.3fs", type(problem.domain).__name__,
             p, hsize, ndofs, kind, its, t_asm, t_solve)
    stats = {"ndofs": int(ndofs), "h": hsize, "linear_solver": kind, "iterations": int(its),
             "assemble_s": t_asm, "solve_s": t_solve, "cells": int(msh.topology.index_map(msh.topology.dim).size_global)}
    state = {"dofs": uh.x.array.copy(), "dof_coordinates": V.tabulate_dof_coordinates()[:, :d].copy()}
    return Solution(fn=PointEvaluator(mods, uh), stats=stats, state=state, extra_errors=extra_errors)


def fem_errors(mods: dict[str, Any], problem: Any, uh: Any, msh: Any, degree: int) -> dict[str, float]:
    """||u - u_h||_L2, |u - u_h|_H1 and relative versions on the mesh, when u is known."""
    if not getattr(problem, "has_exact", False):
        return {}
    ufl, fem, MPI = mods["ufl"], mods["dolfinx"].fem, mods["MPI"]
    x = ufl.SpatialCoordinate(msh)
    u_ex = fem.Constant(msh, 1.0) * problem.exact_expr(x, UFLNamespace(ufl))  # binds a constant u to the mesh
    dxq = ufl.dx(metadata={"quadrature_degree": 2 * degree + 6})

    def integral(expr: Any) -> float:
        if isinstance(expr, ufl.constantvalue.Zero):  # e.g. |grad u|^2 of a constant u
            return 0.0
        local = fem.assemble_scalar(fem.form(expr * dxq))
        return float(msh.comm.allreduce(local, op=MPI.SUM))

    e = uh - u_ex
    l2 = math.sqrt(integral(e * e))
    h1 = math.sqrt(integral(ufl.inner(ufl.grad(e), ufl.grad(e))))
    l2_ref = math.sqrt(integral(u_ex * u_ex))
    h1_ref = math.sqrt(integral(ufl.inner(ufl.grad(u_ex), ufl.grad(u_ex))))
    out = {"l2_fem": l2, "h1_fem": h1}
    if l2_ref > 0:
        out["rel_l2_fem"] = l2 / l2_ref
    if h1_ref > 0:
        out["rel_h1_fem"] = h1 / h1_ref
    return out

