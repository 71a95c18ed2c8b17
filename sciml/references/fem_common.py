"""What every FEM module shares (DOLFINx 0.5): importing dolfinx & co, keeping
FFCx's compiler logging off the root logger, boundary dofs, PETSc linear
solves and point evaluation of a finite-element function over MPI ranks.

fem.py (the solver), fem_elliptic.py, fem_parabolic.py and fem_inverse.py
import from here; this module imports none of them.
"""
from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np

from ..core import InvalidOption, MissingDependency, SolverDiverged

__all__ = ["dolfinx_modules", "PointEvaluator"]

_INSTALL = ("DOLFINx is not importable. On Debian/Ubuntu: apt-get install python3-dolfinx python3-h5py, "
            "then use a venv made with /usr/bin/python3 -m venv --system-site-packages (scripts/setup.sh does both)")


def dolfinx_modules() -> dict[str, Any]:
    """Import dolfinx & co, or raise MissingDependency saying how to install them."""
    try:
        import dolfinx
        import dolfinx.fem.petsc  # noqa: F401
        import dolfinx.geometry  # noqa: F401
        import dolfinx.mesh  # noqa: F401
        import ufl
        from mpi4py import MPI
        from petsc4py import PETSc
    except ImportError as exc:
        raise MissingDependency(f"{_INSTALL} ({exc})") from None
    return {"dolfinx": dolfinx, "ufl": ufl, "MPI": MPI, "PETSc": PETSc}


def keep_root_logger(fn: Any) -> Any:
    """Silence INFO records while ``fn`` runs and restore the root logger after.

    FFCx compiles forms through cffi/setuptools, whose distutils logging
    lowers the *root* logger to INFO and logs every compiler command; those
    lines would reach stderr whatever the caller configured.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        level, disabled = logging.root.level, logging.root.manager.disable
        logging.disable(max(disabled, logging.INFO))
        try:
            return fn(*args, **kwargs)
        finally:
            logging.disable(disabled)
            logging.root.setLevel(level)
    return wrapper


# -------------------------------------------------------------- mesh helpers
def boundary_dofs(mods: dict[str, Any], msh: Any, V: Any) -> np.ndarray:
    mesh, fem = mods["dolfinx"].mesh, mods["dolfinx"].fem
    fdim = msh.topology.dim - 1
    msh.topology.create_connectivity(fdim, msh.topology.dim)
    facets = mesh.exterior_facet_indices(msh.topology)
    return fem.locate_dofs_topological(V, fdim, facets)


def petsc_options(kind: str, rtol: float) -> dict[str, Any]:
    if kind == "lu":
        return {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
    return {"ksp_type": "cg", "pc_type": "hypre", "pc_hypre_type": "boomeramg",
            "ksp_rtol": rtol, "ksp_atol": 0.0, "ksp_max_it": 1000}


def make_ksp(mods: dict[str, Any], A: Any, options: dict[str, Any], prefix: str) -> Any:
    PETSc = mods["PETSc"]
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOperators(A)
    ksp.setOptionsPrefix(prefix)
    opts = PETSc.Options()
    for k, v in options.items():
        opts[prefix + k] = v
    ksp.setFromOptions()
    for k in options:  # keep the global options table clean for the next solve
        del opts[prefix + k]
    return ksp


def assemble_system(mods: dict[str, Any], a_form: Any, L_form: Any, bcs: list[Any]) -> tuple[Any, Any]:
    """The PETSc matrix and vector of the compiled forms ``a_form``, ``L_form`` with the
    Dirichlet conditions ``bcs`` applied symmetrically (lifting, then the values set)."""
    petsc = mods["dolfinx"].fem.petsc
    PETSc = mods["PETSc"]
    A = petsc.assemble_matrix(a_form, bcs=bcs)
    A.assemble()
    b = petsc.assemble_vector(L_form)
    petsc.apply_lifting(b, [a_form], bcs=[bcs])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    petsc.set_bc(b, bcs)
    return A, b


def solve_linear(mods: dict[str, Any], A: Any, b: Any, uh: Any, options: dict[str, Any], prefix: str) -> int:
    ksp = make_ksp(mods, A, options, prefix)
    ksp.solve(b, uh.vector)
    uh.x.scatter_forward()
    reason = ksp.getConvergedReason()
    its = ksp.getIterationNumber()
    ksp.destroy()
    if reason < 0:
        raise SolverDiverged(f"fem: PETSc KSP {options['ksp_type']}/{options['pc_type']} did not converge "
                             f"(reason {reason}) after {its} iterations; try -o linear_solver=lu",
                             step=its)
    return its


class PointEvaluator:
    """Evaluate a dolfinx Function at arbitrary points (gathered over MPI ranks)."""

    def __init__(self, mods: dict[str, Any], uh: Any) -> None:
        self._mods, self._uh = mods, uh
        self._tree: Any = None   # built on the first evaluation (about 0.3 s per 1e6 cells)
        self._gdim = uh.function_space.mesh.geometry.dim

    def __call__(self, x: np.ndarray) -> np.ndarray:
        geometry = self._mods["dolfinx"].geometry
        if self._tree is None:
            msh = self._uh.function_space.mesh
            self._tree = geometry.BoundingBoxTree(msh, msh.topology.dim)
        comm = self._uh.function_space.mesh.comm
        x = np.atleast_2d(np.asarray(x, dtype=float))
        pts = np.zeros((x.shape[0], 3))
        pts[:, : x.shape[1]] = x
        cand = geometry.compute_collisions(self._tree, pts)
        cells = geometry.compute_colliding_cells(self._uh.function_space.mesh, cand, pts)
        offsets, flat = cells.offsets, cells.array
        found = np.diff(offsets) > 0
        vals = np.zeros(x.shape[0])
        count = np.zeros(x.shape[0])
        if found.any():
            first = flat[offsets[:-1][found]]
            vals[found] = self._uh.eval(pts[found], first).reshape(-1)
            count[found] = 1.0
        if comm.size > 1:  # a point on a partition boundary is found by several ranks
            vals = comm.allreduce(vals)
            count = comm.allreduce(count)
        if np.any(count == 0):
            raise InvalidOption(f"fem: {int(np.sum(count == 0))} evaluation points lie outside the mesh")
        return vals / count
