"""Checks of an elliptic problem's functions on a DOLFINx mesh, before and after
assembly: every user function where the finite element solver evaluates it
(quadrature points of the cells, mesh nodes, each subdomain's own cells), all
MPI ranks agreeing on the verdict, and the assembled system checked finite.
Used by fem_elliptic.py and fem_parabolic.py; needs basix (part of DOLFINx).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core import InvalidProblem

__all__ = ["check_on_mesh", "check_assembled", "quadrature_points", "vertices_of_cells", "located",
           "agree_on_ranks", "cell_tag_array"]


def vertices_of_cells(msh: Any) -> np.ndarray:
    """Vertex coordinates (cells, d+1, gdim) of the local cells (simplices)."""
    tdim, gdim = msh.topology.dim, msh.geometry.dim
    ncell = msh.topology.index_map(tdim).size_local
    nodes = msh.geometry.dofmap.array.reshape(-1, msh.geometry.dofmap.links(0).size)[:ncell, : tdim + 1]
    return msh.geometry.x[nodes][:, :, :gdim]


def quadrature_points(msh: Any, q: int) -> np.ndarray:
    """Physical quadrature points (gdim, n) of degree q on every local cell
    (mapped through the cells' vertices), cell by cell."""
    import basix
    tdim = msh.topology.dim
    ref = {1: basix.CellType.interval, 2: basix.CellType.triangle, 3: basix.CellType.tetrahedron}[tdim]
    xi, _ = basix.make_quadrature(basix.QuadratureType.Default, ref, q)
    V = vertices_of_cells(msh)
    edges = V[:, 1:, :] - V[:, :1, :]
    out = np.empty((V.shape[2], V.shape[0], xi.shape[0]))
    for g in range(V.shape[2]):   # one (cells, tdim) @ (tdim, points) product per coordinate
        out[g] = V[:, 0, g, None] + edges[:, :, g] @ xi.T
    return out.reshape(V.shape[2], -1)


def agree_on_ranks(comm: Any, msg: str | None) -> None:
    """Raise InvalidProblem on every rank when some rank found a problem."""
    msgs = [m for m in comm.allgather(msg) if m]
    if msgs:
        raise InvalidProblem(msgs[0])


def check_on_mesh(problem: Any, msh: Any, degree: int, cells: Any = None) -> None:
    """The problem's functions where the solver uses them, before anything is assembled
    (all ranks agree).  A coefficient and a reaction given as functions at the cells'
    quadrature points of degree 2*degree + 2 (A symmetric positive definite, c >= 0);
    the source, the Neumann and Robin data and the exact solution at the mesh nodes,
    each distinct function once and a constant at one node.  Every value is checked
    finite and of the right shape.  Dirichlet data are checked where they are
    interpolated (:func:`dirichlet_conditions`), and the assembled system is checked
    finite (:func:`check_assembled`), which covers every quadrature point of the assembly.
    Fields given per subdomain are checked on each subdomain's cells (``cells``: the
    fifth item of :func:`build_mesh` with ``cell_tags=True``)."""
    from problems.elliptic_problem import check_coefficient_values
    msg = None
    try:
        if getattr(problem, "subdomain_fields", ()):
            if cells is None:
                raise InvalidProblem(f"elliptic: {problem.subdomain_fields[0]} is given per subdomain, which "
                                     "only the elliptic FEM (solver fem) supports")
            _check_subdomains(problem, msh, degree, cells)
        if callable(problem.coefficient) or callable(problem.reaction):
            where = "at some quadrature point of the mesh"
            X = quadrature_points(msh, 2 * degree + 2)
            if callable(problem.coefficient):
                located(lambda: check_coefficient_values(problem.matrix(X), where), where)
            if callable(problem.reaction):
                c = located(lambda: problem.scalar(problem.reaction, "reaction", X), where)
                if np.any(c < 0):
                    raise InvalidProblem(f"elliptic: reaction is negative {where} (min {c.min():.3g}); "
                                         "allowed: c >= 0")
        nodes = msh.geometry.x[:, : problem.d].T
        named = [] if isinstance(problem.source, dict) else [(problem.source, "source")]
        for bc in problem.conditions():
            if bc.kind != "dirichlet":   # Dirichlet data: where they are interpolated
                named.append((bc.g, f"{bc.kind}[{bc.part!r}]"))
            if bc.alpha is not None:
                named.append((bc.alpha, f"robin[{bc.part!r}] alpha"))
        if problem.exact_solution is not None:
            named.append((problem.exact_solution, "exact_solution"))
        seen: set[int] = set()
        for fn, key in named:
            if id(fn) not in seen:   # e.g. Dirichlet data that are the exact solution
                seen.add(id(fn))
                X = nodes if callable(fn) else nodes[:, :1]
                located(lambda: problem.scalar(fn, key, X), "at some node of the mesh")
    except InvalidProblem as exc:
        msg = str(exc)
    agree_on_ranks(msh.comm, msg)


def cell_tag_array(msh: Any, ctags: Any) -> np.ndarray:
    """The physical tag of every local cell (-1 where none)."""
    ncell = msh.topology.index_map(msh.topology.dim).size_local
    out = np.full(ncell, -1, dtype=np.int64)
    keep = ctags.indices < ncell
    out[ctags.indices[keep]] = ctags.values[keep]
    return out


def _check_subdomains(problem: Any, msh: Any, degree: int, cells: Any) -> None:
    """Per-subdomain functions at the quadrature points (degree 2*degree + 2) of their
    own cells: finite, scalar, a coefficient positive and a reaction >= 0."""
    ctags, subdomains = cells
    tag_of = cell_tag_array(msh, ctags)
    X = quadrature_points(msh, 2 * degree + 2)
    X = X.reshape(X.shape[0], len(tag_of), -1)
    for key in problem.subdomain_fields:
        for name, tag in subdomains.items():
            fn = problem.on_subdomain(key, name)
            sel = tag_of == tag
            if not callable(fn) or not sel.any():
                continue   # numbers were checked when the problem was made
            where = f"at some quadrature point of subdomain {name!r}"
            Xs = X[:, sel, :].reshape(X.shape[0], -1)
            v = located(lambda: problem.scalar(fn, f"{key}[{name!r}]", Xs), where)
            if key == "coefficient" and not np.all(v > 0):
                raise InvalidProblem(f"elliptic: coefficient[{name!r}] is not positive {where} (min {v.min():.3g}); "
                                     "allowed: A > 0")
            if key == "reaction" and np.any(v < 0):
                raise InvalidProblem(f"elliptic: reaction[{name!r}] is negative {where} (min {v.min():.3g}); "
                                     "allowed: c >= 0")


def located(check: Any, where: str) -> Any:
    """Run a check of the problem's, saying where on the mesh a refused value lies."""
    try:
        return check()
    except InvalidProblem as exc:
        raise InvalidProblem(str(exc).replace("at some points of the domain", where)) from None


def check_assembled(A: Any, b: Any, comm: Any) -> None:
    """Refuse a system with a value that is not finite: then a coefficient, reaction,
    source or boundary datum is not finite at a quadrature point of the assembly
    (the checks before assembly saw the nodes and a coarser rule)."""
    ok = min(comm.allgather(bool(np.all(np.isfinite(b.array)))))
    if not (ok and math.isfinite(A.norm())):
        raise InvalidProblem("elliptic: the assembled system is not finite: the coefficient, reaction, source "
                             "or boundary data are not finite at some quadrature point of the mesh")
