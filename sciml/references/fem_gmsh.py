"""gmsh for the FEM reference: meshes of disks and polygons, reading .msh files.

gmsh comes from Debian (``python3-gmsh``, scripts/setup.sh): it links the
same system libraries as DOLFINx, so one process never holds two copies of
them.  gmsh's messages are switched off (they would go to stdout, which
``sciml solve --json`` keeps for the record), and importing gmsh, which
resets the SIGINT handler, leaves the caller's handler in place.
"""
from __future__ import annotations

import contextlib
import signal
from typing import Any, Iterator

import numpy as np

from ..core import DataError, MissingDependency

__all__ = ["gmsh_session", "generate", "model_to_mesh", "msh_cell_centres", "msh_points", "msh_subdomains"]


def _import_gmsh() -> Any:
    handler = signal.getsignal(signal.SIGINT)
    try:
        import gmsh
    except (ImportError, OSError) as exc:
        raise MissingDependency(f"gmsh is not importable ({exc}); apt-get install python3-gmsh "
                                "(scripts/setup.sh does it)") from None
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
    return gmsh


@contextlib.contextmanager
def gmsh_session() -> Iterator[Any]:
    """An initialised, silent gmsh (finalised on exit)."""
    gmsh = _import_gmsh()
    handler = signal.getsignal(signal.SIGINT)
    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.Verbosity", 0)
        yield gmsh
    finally:
        gmsh.finalize()
        if handler is not None:
            signal.signal(signal.SIGINT, handler)


def generate(gmsh: Any, domain: Any, h: float, order: int) -> None:
    """Mesh a Disk or Polygon in the current gmsh model with size ``h`` and
    geometry ``order``; the domain is physical group 1 (``domain``), each
    boundary piece a physical group named as the domain's part."""
    from problems.domains import Disk, Polygon
    geo = gmsh.model.geo
    gmsh.model.add("sciml")
    if isinstance(domain, Disk):
        cx, cy = domain.center
        R = domain.radius
        c = geo.addPoint(cx, cy, 0.0, h)
        pts = [geo.addPoint(cx + R * np.cos(a), cy + R * np.sin(a), 0.0, h)
               for a in (0.0, 0.5 * np.pi, np.pi, 1.5 * np.pi)]
        arcs = [geo.addCircleArc(pts[i], c, pts[(i + 1) % 4]) for i in range(4)]
        loop = geo.addCurveLoop(arcs)
        surf = geo.addPlaneSurface([loop])
        geo.synchronize()
        gmsh.model.addPhysicalGroup(1, arcs, 2)
        gmsh.model.setPhysicalName(1, 2, "boundary")
    elif isinstance(domain, Polygon):
        pts = [geo.addPoint(x, y, 0.0, h) for x, y in domain.vertices]
        n = len(pts)
        lines = [geo.addLine(pts[i], pts[(i + 1) % n]) for i in range(n)]
        loop = geo.addCurveLoop(lines)
        surf = geo.addPlaneSurface([loop])
        geo.synchronize()
        for i, line in enumerate(lines):
            gmsh.model.addPhysicalGroup(1, [line], 2 + i)
            gmsh.model.setPhysicalName(1, 2 + i, f"edge{i}")
    else:  # pragma: no cover - guarded by the caller
        raise TypeError(type(domain).__name__)
    gmsh.model.addPhysicalGroup(2, [surf], 1)
    gmsh.model.setPhysicalName(2, 1, "domain")
    gmsh.option.setNumber("Mesh.CharacteristicLengthMin", h)
    gmsh.option.setNumber("Mesh.CharacteristicLengthMax", h)
    gmsh.option.setNumber("Mesh.Algorithm", 6)  # Frontal-Delaunay: near-equilateral triangles
    gmsh.model.mesh.generate(2)
    if order > 1:
        gmsh.model.mesh.setOrder(order)


def open_msh(gmsh: Any, path: str) -> None:
    """Read ``path`` into the current gmsh session (DataError if gmsh cannot)."""
    try:
        gmsh.open(str(path))
    except Exception as exc:  # gmsh raises a bare Exception with its last error message
        raise DataError(f"MeshFile: path={path!r} could not be read by gmsh ({exc})") from None


def _morton_order(x: np.ndarray) -> np.ndarray:
    """Permutation that sorts points (N, d) along a Z-order (Morton) curve: points
    near each other in space get near numbers (16 bits per coordinate)."""
    lo, span = x.min(axis=0), np.ptp(x, axis=0)
    q = ((x - lo) / np.where(span > 0, span, 1.0) * 65535).astype(np.uint64)
    key = np.zeros(len(x), dtype=np.uint64)
    for bit in range(16):
        for i in range(x.shape[1]):
            key |= ((q[:, i] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(bit * x.shape[1] + i)
    return np.argsort(key, kind="stable")


def model_to_mesh(gmsh: Any, comm: Any, gdim: int, facet_tags: bool = True, cell_tags: bool = False) -> tuple:
    """(DOLFINx mesh, facet MeshTags or None) of the elements of highest dimension of
    the current gmsh model (read on rank 0, distributed by DOLFINx); with
    ``cell_tags=True`` a third item: the cells' MeshTags (their physical tags).

    Unlike ``dolfinx.io.gmshio.model_to_mesh`` it renumbers nodes along a Morton
    curve and cells by their first node before DOLFINx builds the mesh (a gmsh
    mesh's numbering has little locality; on a 1e6-node disk this makes
    ``create_mesh`` about 4x faster), and builds cell and facet tags only when asked.
    The mesh is the same; only its numbering differs."""
    import dolfinx.mesh
    from dolfinx import cpp
    from dolfinx.io import gmshio
    facets = values = None
    if comm.rank == 0:
        x = gmshio.extract_geometry(gmsh.model)
        topologies = gmshio.extract_topology_and_markers(gmsh.model)
        by_dim = {gmsh.model.mesh.getElementProperties(t)[1]: t for t in topologies}
        cell_type = by_dim[max(by_dim)]
        facet_type = by_dim.get(max(by_dim) - 1)
        cells = np.asarray(topologies[cell_type]["topology"], dtype=np.int64)
        cell_values = np.asarray(topologies[cell_type]["cell_data"], dtype=np.int32)
        order = _morton_order(x[:, :gdim])
        new = np.empty(len(x), dtype=np.int64)
        new[order] = np.arange(len(x))
        cells = new[cells]
        by_node = np.argsort(cells[:, 0], kind="stable")
        cells, cell_values = cells[by_node], cell_values[by_node]
        x = x[order]
        meta = [cell_type, cells.shape[1], facet_type is not None and facet_tags]
        if meta[2]:
            facets = new[np.asarray(topologies[facet_type]["topology"], dtype=np.int64)]
            values = np.asarray(topologies[facet_type]["cell_data"], dtype=np.int32)
            meta.append(facets.shape[1])
        comm.bcast(meta, root=0)
    else:
        meta = comm.bcast(None, root=0)
        cells, x = np.empty((0, meta[1]), dtype=np.int64), np.empty((0, 3))
        cell_values = np.empty(0, dtype=np.int32)
        if meta[2]:
            facets, values = np.empty((0, meta[3]), dtype=np.int64), np.empty(0, dtype=np.int32)
    domain = gmshio.ufl_mesh(meta[0], gdim)
    kind = cpp.mesh.to_type(str(domain.ufl_cell()))
    cells = cells[:, gmshio.cell_perm_array(kind, meta[1])]
    msh = dolfinx.mesh.create_mesh(comm, cells, x[:, :gdim], domain)
    tdim = msh.topology.dim
    ctags = None
    if cell_tags:
        entities, local_values = cpp.io.distribute_entity_data(msh._mesh, tdim, cells, cell_values)
        msh.topology.create_connectivity(tdim, 0)
        ctags = dolfinx.mesh.meshtags_from_entities(msh, tdim, cpp.graph.AdjacencyList_int32(entities),
                                                    local_values.astype(np.int32))
    if not meta[2]:
        return (msh, None, ctags) if cell_tags else (msh, None)
    facet_kind = cpp.mesh.cell_entity_type(kind, tdim - 1, 0)
    facets = facets[:, gmshio.cell_perm_array(facet_kind, facets.shape[1])]
    entities, local_values = cpp.io.distribute_entity_data(msh._mesh, tdim - 1, facets, values)
    msh.topology.create_connectivity(tdim - 1, 0)
    tags = dolfinx.mesh.meshtags_from_entities(msh, tdim - 1, cpp.graph.AdjacencyList_int32(entities),
                                               local_values.astype(np.int32))
    return (msh, tags, ctags) if cell_tags else (msh, tags)


def msh_points(path: str, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(nodes (N, d), cells (M, k) as indices into nodes) of the top-dimensional
    elements of a .msh file (the first element type found, vertices only)."""
    with gmsh_session() as gmsh:
        open_msh(gmsh, path)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        types, _, enodes = gmsh.model.mesh.getElements(d)
        if len(types) == 0:
            raise DataError(f"MeshFile: path={path!r} has no elements of dimension {d}")
        nv = d + 1  # simplices: the first d + 1 nodes are the vertices
        props = gmsh.model.mesh.getElementProperties(types[0])
        conn = np.asarray(enodes[0], dtype=np.int64).reshape(-1, props[3])[:, :nv]
    index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
    index[np.asarray(tags, dtype=np.int64)] = np.arange(len(tags))
    xyz = np.asarray(coords, dtype=float).reshape(-1, 3)[:, :d]
    return xyz, index[conn]


def msh_cell_centres(path: str, d: int) -> np.ndarray:
    """Barycentres (M, d) of the top-dimensional cells: points inside the mesh."""
    xyz, cells = msh_points(path, d)
    return xyz[cells].mean(axis=1)


def msh_subdomains(path: str, d: int) -> dict[str, tuple[int, int]]:
    """name -> (physical tag, number of elements) of every physical group of dimension
    ``d`` of a .msh file (read with the gmsh module, no DOLFINx); an unnamed group is
    listed under its tag as a string."""
    out = {}
    with gmsh_session() as gmsh:
        open_msh(gmsh, path)
        for dim, tag in gmsh.model.getPhysicalGroups(d):
            count = 0
            for entity in gmsh.model.getEntitiesForPhysicalGroup(dim, tag):
                _, elems, _ = gmsh.model.mesh.getElements(dim, int(entity))
                count += sum(len(e) for e in elems)
            out[gmsh.model.getPhysicalName(dim, tag) or str(tag)] = (int(tag), int(count))
    return out
