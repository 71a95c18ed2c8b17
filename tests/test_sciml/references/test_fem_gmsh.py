"""sciml.references.fem_gmsh: reading gmsh models into DOLFINx."""
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("gmsh")

from sciml.references.fem_gmsh import _morton_order, gmsh_session, model_to_mesh, open_msh  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "data"


def _cells_and_facets(msh, tags):
    """Cells as sorted rows of vertex coordinates, and tagged facets as (midpoint, value),
    both in a canonical order: independent of how the mesh is numbered."""
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim, 0)
    msh.topology.create_connectivity(tdim - 1, 0)
    X = msh.geometry.x[:, :2]
    # vertex -> geometry node (affine cells: the cell's first nodes are its vertices)
    c2v = msh.topology.connectivity(tdim, 0).array.reshape(-1, tdim + 1)
    nodes = msh.geometry.dofmap.array.reshape(len(c2v), -1)[:, : tdim + 1]
    v2x = np.empty(msh.topology.index_map(0).size_local + msh.topology.index_map(0).num_ghosts, dtype=np.int64)
    v2x[c2v.reshape(-1)] = nodes.reshape(-1)
    cells = np.sort(np.round(X[nodes], 12).reshape(len(nodes), -1).view(complex), axis=1)
    cells = cells[np.lexsort(cells.T[::-1])]
    f2v = msh.topology.connectivity(tdim - 1, 0)
    mids = np.array([X[v2x[f2v.links(f)]].mean(axis=0) for f in tags.indices])
    facets = np.column_stack([np.round(mids, 12), tags.values])
    return cells, facets[np.lexsort(facets.T[::-1])]


def test_the_renumbered_reader_builds_the_same_mesh_and_facet_tags_as_dolfinx():
    from dolfinx.io import gmshio
    from mpi4py import MPI
    with gmsh_session() as gmsh:
        open_msh(gmsh, str(DATA / "disk.msh"))
        ours, our_tags = model_to_mesh(gmsh, MPI.COMM_SELF, 2)
        ref, _cells, ref_tags = gmshio.model_to_mesh(gmsh.model, MPI.COMM_SELF, 0, gdim=2)
        none = model_to_mesh(gmsh, MPI.COMM_SELF, 2, facet_tags=False)[1]
    assert none is None
    c1, f1 = _cells_and_facets(ours, our_tags)
    c2, f2 = _cells_and_facets(ref, ref_tags)
    assert c1.shape == c2.shape and np.array_equal(c1, c2)
    assert f1.shape == f2.shape and len(f1) > 0 and np.array_equal(f1, f2)


def test_morton_order_keeps_neighbours_close():
    # on a shuffled 64 x 64 grid, consecutive points in Z order are on average about one
    # spacing apart (the Z curve's mean step on a 2^k grid tends to a small constant)
    g = np.stack(np.meshgrid(np.arange(64.0), np.arange(64.0)), -1).reshape(-1, 2)
    g = g[np.random.default_rng(0).permutation(len(g))]
    order = _morton_order(g)
    assert sorted(order) == list(range(len(g)))
    steps = np.linalg.norm(np.diff(g[order], axis=0), axis=1)
    assert steps.mean() < 2.0 and np.linalg.norm(np.diff(g, axis=0), axis=1).mean() > 20
