"""Collocation points sampled from a gmsh mesh file, as a DeepXDE geometry.

The mesh is read with the ``gmsh`` Python module (no DOLFINx): its cells of
the top dimension (triangles or tetrahedra, straight or curved, any order
gmsh knows) and, found topologically, its boundary facets (facets that
belong to one cell), each with the physical tag of dimension d - 1 it
carries (-1 if none).

Sampling is uniform in area/volume (surface/length on the boundary): a cell
is drawn with probability proportional to its measure, then a point is drawn
uniformly in the reference simplex and mapped through the cell's own
(isoparametric) map.  On a curved cell the map's Jacobian is not constant,
so a point ξ drawn in cell K is kept with probability r / M, where
r = |det J(ξ)| |K_ref| / |K| (1 on average over K) and M bounds r (the largest
r of the batch, times 1.05): the density is then proportional to area.  ``sampler`` is
DeepXDE's: pseudo-random or a quasi-random sequence in d + 1 dimensions (one
coordinate picks the cell by its cumulative measure, the others place the
point).

DeepXDE asks a geometry whether points lie on the boundary and for their
normals; the points it asks about are those this geometry sampled, so each
sampled boundary point is remembered with its facet tag and outer normal.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..core import DataError, InvalidOption

log = logging.getLogger(__name__)

__all__ = ["MeshData", "read_mesh", "mesh_geometry"]


class MeshData:
    """Cells and boundary facets of a gmsh mesh, with what sampling needs.

    ``cells`` (M, k) node indices of the top-dimensional elements (gmsh's
    node order), ``cell_type`` their gmsh type; ``facets`` (F, kf) node
    indices of the boundary facets, ``facet_type``, ``facet_tags`` (F,) the
    physical tag of each (-1: none), ``facet_inward`` (F, d) a vector from the
    facet towards its cell's interior; ``nodes`` (N, d)."""

    def __init__(self, path: str, d: int) -> None:
        from ..references.fem_gmsh import gmsh_session, open_msh
        if d not in (2, 3):
            raise InvalidOption(f"pinn: a mesh file of dimension {d} is not supported; use a 2D or 3D mesh")
        self.d = d
        with gmsh_session() as gmsh:
            open_msh(gmsh, path)
            mesh = gmsh.model.mesh
            tags, coords, _ = mesh.getNodes()
            index = np.full(int(tags.max()) + 1, -1, dtype=np.int64)
            index[np.asarray(tags, dtype=np.int64)] = np.arange(len(tags))
            self.nodes = np.asarray(coords, dtype=float).reshape(-1, 3)[:, :d]
            types = [t for t in mesh.getElementTypes(d)]
            if len(types) != 1:
                raise DataError(f"MeshFile: path={path!r} has {len(types)} element types of dimension {d}; "
                                "the PINN samples meshes of one simplex type")
            ct = int(types[0])
            name, dim, order, nn, ref, nprim = mesh.getElementProperties(ct)
            if nprim != d + 1:
                raise DataError(f"MeshFile: path={path!r} has {name} cells; the PINN samples simplices only")
            _, enodes = mesh.getElementsByType(ct)
            self.cells = index[np.asarray(enodes, dtype=np.int64)].reshape(-1, nn)
            self.cell_type, self.order = ct, int(order)
            # every facet of every cell, with its high-order nodes (gmsh's own local order)
            if d == 2:
                fn = np.asarray(mesh.getElementEdgeNodes(ct, -1, False), dtype=np.int64)
                self.facet_type = int(mesh.getElementType("line", order))
            else:
                fn = np.asarray(mesh.getElementFaceNodes(ct, 3, -1, False), dtype=np.int64)
                self.facet_type = int(mesh.getElementType("triangle", order))
            kf = mesh.getElementProperties(self.facet_type)[3]
            fn = index[fn].reshape(len(self.cells), d + 1, kf)
            # boundary facets: those whose vertex set occurs once
            verts = np.sort(fn[:, :, :d], axis=2).reshape(-1, d)
            _, inv, counts = np.unique(verts, axis=0, return_inverse=True, return_counts=True)
            inv = inv.reshape(-1)
            once = counts[inv] == 1
            self.facets = fn.reshape(-1, kf)[once]
            cell_of = np.repeat(np.arange(len(self.cells)), d + 1)[once]
            centre = self.nodes[self.cells[cell_of, : d + 1]].mean(axis=1)
            self.facet_inward = centre - self.nodes[self.facets[:, :d]].mean(axis=1)
            # physical tags of dimension d - 1, by vertex set
            self.facet_tags = np.full(len(self.facets), -1, dtype=np.int64)
            key = {tuple(v): i for i, v in enumerate(np.sort(self.facets[:, :d], axis=1))}
            for dim_, tag in gmsh.model.getPhysicalGroups(d - 1):
                for ent in gmsh.model.getEntitiesForPhysicalGroup(dim_, tag):
                    ftypes, _, fnodes = mesh.getElements(d - 1, int(ent))
                    for ft, nodes in zip(ftypes, fnodes):
                        kk = mesh.getElementProperties(ft)[3]
                        vs = np.sort(index[np.asarray(nodes, dtype=np.int64)].reshape(-1, kk)[:, :d], axis=1)
                        for v in vs:
                            i = key.get(tuple(v))
                            if i is not None:
                                self.facet_tags[i] = tag
            self._ref = {t: np.asarray(mesh.getElementProperties(t)[4], dtype=float).reshape(-1, d if t == ct
                                                                                              else d - 1)
                         for t in (ct, self.facet_type)}
        self.cell_measure = self._measure(self.cell_type, self.cells)
        self.facet_measure = self._measure(self.facet_type, self.facets)
        self.lo, self.hi = self.nodes.min(axis=0), self.nodes.max(axis=0)

    # -------------------------------------------------------------- maps
    def map(self, etype: int, elems: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points x (n, d) and Jacobians (n, d, k) of elements ``elems`` (n, nn) at reference
        coordinates ``xi`` (n, k), through gmsh's Lagrange basis of the element type."""
        from ..references.fem_gmsh import gmsh_session
        n, k = xi.shape
        loc = np.zeros((n, 3))
        loc[:, :k] = xi
        with gmsh_session() as gmsh:
            _, val, _ = gmsh.model.mesh.getBasisFunctions(etype, loc.reshape(-1).tolist(), "Lagrange")
            _, grad, _ = gmsh.model.mesh.getBasisFunctions(etype, loc.reshape(-1).tolist(), "GradLagrange")
        nn = elems.shape[1]
        N = np.asarray(val).reshape(n, nn)
        G = np.asarray(grad).reshape(n, nn, 3)[:, :, :k]
        X = self.nodes[elems]                       # (n, nn, d)
        return np.einsum("na,nad->nd", N, X), np.einsum("nad,nak->ndk", X, G)

    def _measure(self, etype: int, elems: np.ndarray) -> np.ndarray:
        """Measure of each element by Gauss quadrature of |det J| (exact for straight simplices)."""
        from ..references.fem_gmsh import gmsh_session
        with gmsh_session() as gmsh:
            pts, w = gmsh.model.mesh.getIntegrationPoints(etype, "Gauss" + str(2 * self.order + 2))
        k = self.d if etype == self.cell_type else self.d - 1
        pts = np.asarray(pts).reshape(-1, 3)[:, :k]
        total = np.zeros(len(elems))
        for p, wq in zip(pts, np.asarray(w)):
            _, J = self.map(etype, elems, np.broadcast_to(p, (len(elems), k)).copy())
            total += wq * _jac_measure(J)
        return total


def _jac_measure(J: np.ndarray) -> np.ndarray:
    """|det J| of square Jacobians, sqrt(det JᵀJ) of d x (d-1) ones."""
    if J.shape[1] == J.shape[2]:
        return np.abs(np.linalg.det(J))
    return np.sqrt(np.abs(np.linalg.det(np.einsum("ndi,ndj->nij", J, J))))


def _simplex(u: np.ndarray, etype_ref: np.ndarray) -> np.ndarray:
    """Map uniform points u (n, k) of [0, 1]^k to uniform points of the reference
    element whose vertices are the first k + 1 rows of ``etype_ref``."""
    n, k = u.shape
    if k == 1:
        lam = np.stack([1 - u[:, 0], u[:, 0]], axis=1)
    elif k == 2:  # fold the square onto the triangle
        s, t = u[:, 0].copy(), u[:, 1].copy()
        flip = s + t > 1
        s[flip], t[flip] = 1 - s[flip], 1 - t[flip]
        lam = np.stack([1 - s - t, s, t], axis=1)
    else:  # spacings of sorted uniforms are uniform on the simplex
        v = np.sort(u, axis=1)
        lam = np.diff(np.concatenate([np.zeros((n, 1)), v, np.ones((n, 1))], axis=1), axis=1)
    return lam @ etype_ref[: k + 1]


def mesh_geometry(dde: Any, domain: Any) -> Any:
    """A DeepXDE geometry sampling the mesh file of ``domain`` (a MeshFile)."""
    data = MeshData(domain.path, domain.d)
    return _make_class(dde)(data)


def _make_class(dde: Any) -> type:
    class MeshGeometry(dde.geometry.Geometry):
        """DeepXDE geometry of a gmsh mesh (see the module docstring)."""

        def __init__(self, mesh: MeshData) -> None:
            super().__init__(mesh.d, (mesh.lo, mesh.hi), float(np.linalg.norm(mesh.hi - mesh.lo)))
            self.mesh = mesh
            self.rng = np.random.default_rng(int(np.random.randint(2 ** 31)))  # seeded by DeepXDE's seed
            self._boundary: dict[bytes, tuple[int, np.ndarray]] = {}

        # -- sampling
        def _u(self, n: int, k: int, random: str) -> np.ndarray:
            if random == "pseudo":
                return self.rng.random((n, k))
            return np.asarray(dde.geometry.sampler.sample(n, k, random), dtype=float)

        def _sample(self, n: int, etype: int, elems: np.ndarray, measure: np.ndarray,
                    random: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """n points (and their element indices and Jacobians), uniform in measure."""
            k = self.mesh.d if etype == self.mesh.cell_type else self.mesh.d - 1
            cdf = np.cumsum(measure) / measure.sum()
            ref = self.mesh._ref[etype]
            want, got, draws = n, [], max(n, 1)
            straight = self.mesh.order == 1
            for _ in range(50):
                u = self._u(draws, k + 1, random) if not got else self.rng.random((draws, k + 1))
                e = np.minimum(np.searchsorted(cdf, u[:, 0], side="right"), len(cdf) - 1)
                xi = _simplex(u[:, 1:], ref)
                x, J = self.mesh.map(etype, elems[e], xi)
                if not straight:  # keep with probability |det J(xi)| / (bound of it on the element)
                    ratio = _jac_measure(J) * _ref_measure(ref, k) / measure[e]
                    keep = self.rng.random(len(x)) * max(1.0, float(ratio.max())) * 1.05 < ratio
                    x, e, J = x[keep], e[keep], J[keep]
                got.append((x, e, J))
                want -= len(x)
                if want <= 0:
                    break
                draws = int(1.2 * want) + 8
            x, e, J = (np.concatenate(a)[:n] for a in zip(*got))
            return x, e, J

        def random_points(self, n: int, random: str = "pseudo") -> np.ndarray:
            x, _, _ = self._sample(n, self.mesh.cell_type, self.mesh.cells, self.mesh.cell_measure, random)
            return x.astype(dde.config.real(np))

        def uniform_points(self, n: int, boundary: bool = True) -> np.ndarray:
            return self.random_points(n, "Hammersley")

        def random_boundary_points(self, n: int, random: str = "pseudo") -> np.ndarray:
            m = self.mesh
            x, e, J = self._sample(n, m.facet_type, m.facets, m.facet_measure, random)
            if m.d == 2:
                nrm = np.stack([J[:, 1, 0], -J[:, 0, 0]], axis=1)
            else:
                nrm = np.cross(J[:, :, 0], J[:, :, 1])
            nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
            nrm *= -np.sign(np.sum(nrm * m.facet_inward[e], axis=1, keepdims=True))
            x = x.astype(dde.config.real(np))
            for xi, fi, ni in zip(x, e, nrm):
                self._boundary[np.asarray(xi, dtype=np.float64).tobytes()] = (int(m.facet_tags[fi]), ni)
            return x

        def uniform_boundary_points(self, n: int) -> np.ndarray:
            return self.random_boundary_points(n, "Hammersley")

        # -- questions DeepXDE asks about its (our) points
        def _lookup(self, x: np.ndarray) -> list[Any]:
            return [self._boundary.get(np.asarray(p, dtype=np.float64).tobytes()) for p in np.atleast_2d(x)]

        def on_boundary(self, x: np.ndarray) -> np.ndarray:
            return np.array([r is not None for r in self._lookup(x)], dtype=bool)

        def facet_tag(self, x: np.ndarray) -> int:
            r = self._lookup(x)[0]
            return -1 if r is None else r[0]

        def boundary_normal(self, x: np.ndarray) -> np.ndarray:
            # zero away from the boundary, as DeepXDE's own geometries (OperatorBC asks at every point)
            out = [np.zeros(self.dim) if r is None else r[1] for r in self._lookup(x)]
            return np.asarray(out, dtype=dde.config.real(np)).reshape(-1, self.dim)

        def inside(self, x: np.ndarray) -> np.ndarray:
            """Point location in the straight-sided cells (curved cells: approximately)."""
            m = self.mesh
            x = np.atleast_2d(np.asarray(x, dtype=float))
            v = m.nodes[m.cells[:, : m.d + 1]]
            T = np.linalg.inv(np.swapaxes(v[:, 1:] - v[:, :1], 1, 2))     # (M, d, d)
            out = np.zeros(len(x), dtype=bool)
            for s in range(0, len(x), 256):
                lam = np.einsum("mij,nmj->nmi", T, x[s:s + 256, None, :] - v[None, :, 0])
                ok = (lam >= -1e-12).all(axis=2) & (lam.sum(axis=2) <= 1 + 1e-12)
                out[s:s + 256] = ok.any(axis=1)
            return out | self.on_boundary(x)

    return MeshGeometry


def _ref_measure(ref: np.ndarray, k: int) -> float:
    """Measure of the reference simplex spanned by the first k + 1 rows of ``ref``."""
    import math
    E = ref[1: k + 1] - ref[0]
    return abs(float(np.linalg.det(E))) / math.factorial(k) if k == E.shape[1] else \
        float(np.sqrt(abs(np.linalg.det(E @ E.T)))) / math.factorial(k)
