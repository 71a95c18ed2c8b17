"""Domains of the elliptic problems: interval, box, disk, polygon, gmsh mesh file.

A domain knows its geometry only: dimension, bounding box, a membership
test, named boundary parts it provides itself, test points, and an
approximate distance function (zero on the boundary, positive inside) for
hard Dirichlet constraints.  It never imports dolfinx or gmsh: meshes are
made by the FEM module, DeepXDE geometries by the PINN adapter.  Points are
component-first: ``x[i]`` is the i-th coordinate, ``x`` has shape (d, ...).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from sciml.core import DataError, InvalidProblem

__all__ = ["Domain", "Interval", "Box", "Disk", "Polygon", "MeshFile"]

_TOL = 1e-10


def _sobol_inside(domain: "Domain", n: int, seed: int = 12345) -> np.ndarray:
    """``n`` scrambled Sobol points of the bounding box that lie in the domain, (n, d)."""
    from scipy.stats import qmc
    lo, hi = domain.bounds()
    sob = qmc.Sobol(domain.d, scramble=True, seed=seed)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        pts = lo + (hi - lo) * sob.random(2 ** int(math.ceil(math.log2(max(2 * n, 2)))))
        pts = pts[domain.contains(pts.T)]
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:n]


@dataclass(frozen=True)
class Domain:
    """Base class.  ``mesh_option`` says which FEM option sets the mesh size
    (``"n"`` cells per side for boxes, ``"h"`` for the others)."""

    mesh_option: ClassVar[str] = "h"

    @property
    def d(self) -> int:
        raise NotImplementedError

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def contains(self, x: np.ndarray, tol: float = _TOL) -> np.ndarray:
        """Boolean array: which points (d, n) lie in the closed domain."""
        raise NotImplementedError

    def parts(self) -> dict[str, Any]:
        """Boundary parts the domain names itself: name -> predicate or gmsh tag."""
        return {}

    def test_points(self, n: int = 0) -> np.ndarray:
        """Points (N, d) in the domain on which field solutions are compared."""
        return _sobol_inside(self, n or {1: 1001, 2: 10201, 3: 9261}[self.d])

    def distance(self, x: Any, xp: Any = np) -> Any:
        """An approximate distance function to the whole boundary."""
        raise NotImplementedError(f"{type(self).__name__} has no distance function")

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def diameter(self) -> float:
        lo, hi = self.bounds()
        return float(np.linalg.norm(hi - lo))


@dataclass(frozen=True)
class Box(Domain):
    """The box [lo_0, hi_0] x ... (1 to 3 dimensions).  Named faces:
    ``left``/``right`` (x = lo/hi), ``bottom``/``top`` (y), ``back``/``front`` (z)."""

    lo: Any = (0.0, 0.0)
    hi: Any = (1.0, 1.0)

    mesh_option: ClassVar[str] = "n"

    def __post_init__(self) -> None:
        lo = tuple(float(v) for v in np.atleast_1d(np.asarray(self.lo, dtype=float)))
        hi = tuple(float(v) for v in np.atleast_1d(np.asarray(self.hi, dtype=float)))
        if not 1 <= len(lo) <= 3 or len(lo) != len(hi):
            raise InvalidProblem(f"Box: lo={self.lo!r}, hi={self.hi!r}; need two sequences of the same length 1, 2 or 3")
        if not all(math.isfinite(a) and math.isfinite(b) and a < b for a, b in zip(lo, hi)):
            raise InvalidProblem(f"Box: lo={lo!r}, hi={hi!r}; need finite lo[i] < hi[i]")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @property
    def d(self) -> int:
        return len(self.lo)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.lo), np.array(self.hi)

    def contains(self, x: np.ndarray, tol: float = _TOL) -> np.ndarray:
        x = np.asarray(x, dtype=float).reshape(self.d, -1)
        lo, hi = self.bounds()
        return np.all((x >= lo[:, None] - tol) & (x <= hi[:, None] + tol), axis=0)

    def parts(self) -> dict[str, Any]:
        names = (("left", "right"), ("bottom", "top"), ("back", "front"))[: self.d]
        out: dict[str, Any] = {}
        for i, (a, b) in enumerate(names):
            lo, hi, scale = self.lo[i], self.hi[i], 1e-10 * (self.hi[i] - self.lo[i])
            out[a] = (lambda i, v: lambda x, xp: xp.abs(x[i] - v) < scale)(i, lo)
            out[b] = (lambda i, v: lambda x, xp: xp.abs(x[i] - v) < scale)(i, hi)
        return out

    def test_points(self, n: int = 0) -> np.ndarray:
        m = n or {1: 1001, 2: 101, 3: 21}[self.d]
        axes = [np.linspace(a, b, m) for a, b in zip(self.lo, self.hi)]
        grid = np.meshgrid(*axes, indexing="ij")
        return np.stack([g.reshape(-1) for g in grid], axis=1)

    def distance(self, x: Any, xp: Any = np) -> Any:
        out = 1.0
        for i in range(self.d):
            a, b = self.lo[i], self.hi[i]
            out = out * (x[i] - a) * (b - x[i]) / (b - a)
        return out

    def describe(self) -> dict[str, Any]:
        return {"type": "Box", "lo": list(self.lo), "hi": list(self.hi)}


@dataclass(frozen=True)
class Interval(Box):
    """The interval [a, b]; named ends ``left`` (x = a) and ``right`` (x = b)."""

    def __init__(self, a: float = 0.0, b: float = 1.0) -> None:
        object.__setattr__(self, "lo", (a,))
        object.__setattr__(self, "hi", (b,))
        self.__post_init__()

    def describe(self) -> dict[str, Any]:
        return {"type": "Interval", "a": self.lo[0], "b": self.hi[0]}


@dataclass(frozen=True)
class Disk(Domain):
    """The disk |x - center| <= radius; its boundary is the part ``boundary``."""

    center: Any = (0.0, 0.0)
    radius: float = 1.0

    def __post_init__(self) -> None:
        c = tuple(float(v) for v in np.asarray(self.center, dtype=float).reshape(-1))
        if len(c) != 2 or not all(map(math.isfinite, c)):
            raise InvalidProblem(f"Disk: center={self.center!r}; need two finite numbers")
        if not (isinstance(self.radius, (int, float)) and math.isfinite(self.radius) and self.radius > 0):
            raise InvalidProblem(f"Disk: radius={self.radius!r}; need a positive number")
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "radius", float(self.radius))

    @property
    def d(self) -> int:
        return 2

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c = np.array(self.center)
        return c - self.radius, c + self.radius

    def contains(self, x: np.ndarray, tol: float = _TOL) -> np.ndarray:
        x = np.asarray(x, dtype=float).reshape(2, -1)
        r2 = (x[0] - self.center[0]) ** 2 + (x[1] - self.center[1]) ** 2
        return r2 <= (self.radius * (1 + tol)) ** 2

    def parts(self) -> dict[str, Any]:
        return {"boundary": lambda x, xp: xp.abs(xp.sqrt((x[0] - self.center[0]) ** 2 + (x[1] - self.center[1]) ** 2)
                                                 - self.radius) < 1e-6 * self.radius}

    def distance(self, x: Any, xp: Any = np) -> Any:
        r2 = (x[0] - self.center[0]) ** 2 + (x[1] - self.center[1]) ** 2
        return (self.radius ** 2 - r2) / (2 * self.radius)

    def describe(self) -> dict[str, Any]:
        return {"type": "Disk", "center": list(self.center), "radius": self.radius}


def _segments_cross(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> bool:
    """Do the closed segments pq and rs intersect?"""
    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    def on(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
        return min(a[0], b[0]) - 1e-14 <= c[0] <= max(a[0], b[0]) + 1e-14 and \
            min(a[1], b[1]) - 1e-14 <= c[1] <= max(a[1], b[1]) + 1e-14

    d1, d2, d3, d4 = orient(r, s, p), orient(r, s, q), orient(p, q, r), orient(p, q, s)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and d1 * d2 < 0 and d3 * d4 < 0:
        return True
    return (d1 == 0 and on(r, s, p)) or (d2 == 0 and on(r, s, q)) or \
        (d3 == 0 and on(p, q, r)) or (d4 == 0 and on(p, q, s))


@dataclass(frozen=True)
class Polygon(Domain):
    """A simple polygon given by its vertices (either orientation).  Edge i
    (from vertex i to vertex i+1) is the boundary part ``edge{i}``."""

    vertices: Any = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))

    def __post_init__(self) -> None:
        try:
            v = np.asarray(self.vertices, dtype=float)
        except (TypeError, ValueError):
            raise InvalidProblem(f"Polygon: vertices={self.vertices!r}; need a list of (x, y) pairs") from None
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3 or not np.all(np.isfinite(v)):
            raise InvalidProblem(f"Polygon: vertices={self.vertices!r}; need at least 3 finite (x, y) pairs")
        n = len(v)
        area = 0.5 * float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))
        if abs(area) < 1e-14 * float(np.ptp(v)) ** 2:
            raise InvalidProblem(f"Polygon: vertices={self.vertices!r} enclose no area")
        for i in range(n):
            for j in range(i + 1, n):
                if j == i + 1 or (i == 0 and j == n - 1):
                    continue
                if _segments_cross(v[i], v[(i + 1) % n], v[j], v[(j + 1) % n]):
                    raise InvalidProblem(f"Polygon: edges {i} and {j} intersect; the vertices must form a simple polygon")
        object.__setattr__(self, "vertices", tuple((float(a), float(b)) for a, b in v))

    @property
    def d(self) -> int:
        return 2

    @property
    def _v(self) -> np.ndarray:
        return np.asarray(self.vertices)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self._v.min(axis=0), self._v.max(axis=0)

    def _edge_distance(self, x: np.ndarray) -> np.ndarray:
        """Euclidean distance of points (2, n) to the polygon's boundary."""
        v, w = self._v, np.roll(self._v, -1, axis=0)
        best = np.full(x.shape[1], np.inf)
        for a, b in zip(v, w):
            ab = b - a
            t = np.clip(((x[0] - a[0]) * ab[0] + (x[1] - a[1]) * ab[1]) / (ab @ ab), 0.0, 1.0)
            best = np.minimum(best, np.hypot(x[0] - a[0] - t * ab[0], x[1] - a[1] - t * ab[1]))
        return best

    def contains(self, x: np.ndarray, tol: float = _TOL) -> np.ndarray:
        x = np.asarray(x, dtype=float).reshape(2, -1)
        v, w = self._v, np.roll(self._v, -1, axis=0)
        inside = np.zeros(x.shape[1], dtype=bool)
        for a, b in zip(v, w):  # even-odd rule, ray towards +x
            crosses = (a[1] > x[1]) != (b[1] > x[1])
            with np.errstate(divide="ignore", invalid="ignore"):
                xint = a[0] + (x[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
            inside ^= crosses & (x[0] < xint)
        scale = float(np.ptp(v))
        return inside | (self._edge_distance(x) <= tol * scale)

    def parts(self) -> dict[str, Any]:
        v, n, scale = self._v, len(self.vertices), float(np.ptp(self._v))
        out: dict[str, Any] = {}
        for i in range(n):
            a, b = v[i], v[(i + 1) % n]
            out[f"edge{i}"] = (lambda a, b: lambda x, xp: _on_segment(x, a, b, 1e-9 * scale))(a, b)
        return out

    def distance(self, x: Any, xp: Any = np) -> Any:
        """R-equivalence (m = 1) of the edges' trimmed distance functions
        (Sukumar & Srivastava, CMAME 389, 2022): smooth, zero exactly on the
        edges, positive inside."""
        v, n = self._v, len(self.vertices)
        phis = []
        for i in range(n):
            a, b = v[i], v[(i + 1) % n]
            L = float(np.hypot(*(b - a)))
            c = 0.5 * (a + b)
            f = ((x[0] - a[0]) * (b[1] - a[1]) - (x[1] - a[1]) * (b[0] - a[0])) / L
            t = ((L / 2) ** 2 - (x[0] - c[0]) ** 2 - (x[1] - c[1]) ** 2) / L
            varphi = xp.sqrt(t ** 2 + f ** 4)
            phis.append(xp.sqrt(f ** 2 + ((varphi - t) / 2) ** 2))
        # 1 / sum(1/phi_i), written without division by a vanishing phi; den vanishes only at
        # the vertices (two phi_i = 0), where the tiny shift gives phi = 0 instead of 0/0
        num = 1.0
        for p in phis:
            num = num * p
        den = 0.0
        for j in range(n):
            prod = 1.0
            for i, p in enumerate(phis):
                if i != j:
                    prod = prod * p
            den = den + prod
        return num / (den + 1e-30 * float(np.ptp(v)) ** (n - 1))

    def describe(self) -> dict[str, Any]:
        return {"type": "Polygon", "vertices": [list(p) for p in self.vertices]}


def _on_segment(x: Any, a: np.ndarray, b: np.ndarray, tol: float) -> Any:
    """Points (2, n) within ``tol`` of the segment ab (NumPy, for mesh marking)."""
    x = np.asarray(x)
    ab = b - a
    t = np.clip(((x[0] - a[0]) * ab[0] + (x[1] - a[1]) * ab[1]) / (ab @ ab), 0.0, 1.0)
    return np.hypot(x[0] - a[0] - t * ab[0], x[1] - a[1] - t * ab[1]) <= tol


def _physical_names(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (dimension, tag) from the $PhysicalNames section (ASCII even in
    binary .msh files; it precedes the node and element data)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    start = head.find(b"$PhysicalNames")
    if start < 0:
        return {}
    end = head.find(b"$EndPhysicalNames", start)
    lines = head[start:end].decode("utf-8", "replace").splitlines()[2:]
    out = {}
    for line in lines:
        parts = line.split(None, 2)
        if len(parts) == 3:
            out[parts[2].strip().strip('"')] = (int(parts[0]), int(parts[1]))
    return out


@dataclass(frozen=True)
class MeshFile(Domain):
    """A gmsh mesh (``.msh``, format 2 or 4, ASCII or binary) read by DOLFINx.

    Physical groups of dimension d - 1 name boundary parts, those of
    dimension d name subdomains (``physical_names``).  The file must have
    physical groups: DOLFINx reads only the elements that belong to one.
    ``d`` is the highest dimension among the named physical groups; give it
    explicitly for a file without names.
    """

    path: str = ""
    dim: int = 0

    def __post_init__(self) -> None:
        p = Path(self.path)
        if not p.is_file():
            raise DataError(f"MeshFile: path={self.path!r} does not exist (or is not a file); give a gmsh .msh file")
        with open(p, "rb") as fh:
            first = fh.read(64).lstrip()
        if not first.startswith(b"$MeshFormat"):
            raise DataError(f"MeshFile: path={self.path!r} is not a gmsh .msh file (no $MeshFormat header)")
        names = _physical_names(p)
        dim = self.dim or max((dm for dm, _ in names.values()), default=0)
        if dim not in (1, 2, 3):
            raise DataError(f"MeshFile: path={self.path!r} has no named physical groups; give dim=1, 2 or 3")
        object.__setattr__(self, "dim", int(dim))
        object.__setattr__(self, "_names", names)

    @property
    def d(self) -> int:
        return self.dim

    @property
    def physical_names(self) -> dict[str, tuple[int, int]]:
        return dict(self._names)  # type: ignore[attr-defined]

    def parts(self) -> dict[str, Any]:
        return {k: tag for k, (dm, tag) in self.physical_names.items() if dm == self.d - 1}

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        raise InvalidProblem("MeshFile: the bounding box is known only once the mesh is read (FEM or PINN)")

    def contains(self, x: np.ndarray, tol: float = _TOL) -> np.ndarray:
        raise InvalidProblem("MeshFile: membership is known only once the mesh is read")

    def test_points(self, n: int = 0) -> np.ndarray:
        raise InvalidProblem("MeshFile: test points come from the mesh (the FEM reference provides them)")

    def describe(self) -> dict[str, Any]:
        return {"type": "MeshFile", "path": str(self.path), "dim": self.dim}


Predicate = Callable[[Any, Any], Any]
