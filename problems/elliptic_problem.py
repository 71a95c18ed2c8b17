"""The general elliptic problem -div(A grad u) + c u = f with boundary
conditions per named part of the boundary (imported from problems.elliptic)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from sciml.core import InvalidOption, InvalidProblem, Problem

from .domains import Box, Domain, MeshFile, Polygon

__all__ = ["Elliptic", "BoundaryCondition", "torsion", "lshape_corner", "as_function"]

REST = "rest"
SUBDOMAIN_FIELDS = ("coefficient", "reaction", "source")
ALL = "boundary"  # the whole boundary (a BC given as a number or function, not a dict)


def as_function(value: Any) -> Callable[[Any, Any], Any]:
    """A number stands for a constant function of (x, xp)."""
    if callable(value):
        return value
    c = float(value)
    return lambda x, xp: c


def describe_value(value: Any) -> Any:
    """A JSON-able description of a field value (functions by their name)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Domain):
        return value.describe()
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    if isinstance(value, dict):
        return {str(k): describe_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [describe_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


@dataclass(frozen=True)
class BoundaryCondition:
    """One condition on one boundary part.

    ``kind`` is ``dirichlet`` (u = g), ``neumann`` (A grad u . n = g) or
    ``robin`` (A grad u . n + alpha u = g); ``part`` is a part name,
    ``"rest"`` (every facet no other condition names) or ``"boundary"``
    (the whole boundary).
    """

    kind: str
    part: str
    g: Callable[[Any, Any], Any]
    alpha: Callable[[Any, Any], Any] | None = None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Elliptic(Problem):
    """-div(A grad u) + c u = f in the domain, with boundary conditions.

    * ``domain``: :class:`Interval`, :class:`Box`, :class:`Disk`,
      :class:`Polygon` or :class:`MeshFile`.
    * ``coefficient`` A: a positive number, a function ``a(x, xp)`` (scalar),
      a symmetric positive-definite matrix (d x d numbers) or a function
      returning one (nested lists ``[[a11, a12], [a12, a22]]``).
    * ``reaction`` c >= 0 and ``source`` f: numbers or functions.
    * On a :class:`MeshFile`, ``coefficient``, ``reaction`` and ``source`` may
      also be dicts from the names of physical groups of dimension d
      (subdomains) to a number or a scalar function, with ``"rest"`` for every
      subdomain not named (FEM only; the PINN refuses a coefficient that jumps).
    * ``dirichlet`` (u = g), ``neumann`` (A grad u . n = g, n the outer
      normal) and ``robin`` (A grad u . n + alpha u = g, data ``(alpha, g)``):
      each a number or function for the whole boundary, or a dict from part
      names to data.  Part names are the domain's own (``left``/``right``/
      ``bottom``/``top``/``back``/``front`` of a box, ``edge{i}`` of a
      polygon, ``boundary`` of a disk, the physical names of a mesh file),
      those of ``boundaries``, and ``rest``: every facet no other condition
      names.  A facet no condition names gets the natural condition
      A grad u . n = 0.
    * ``boundaries``: name -> predicate ``p(x, xp)`` true on the facets of
      the part (all of a facet's vertices must satisfy it), or a gmsh
      physical tag (number or name) of a :class:`MeshFile`.
    * ``exact_solution``: u(x, xp) where known (errors then use it).
    * ``x0``: the point of interest; ``value`` is u(x0).
    * ``regularity``: s with u in H^(1+s) (e.g. 2/3 at the L-shape's corner);
      :meth:`orders` turns it into the expected FEM rates.
    * ``n_test``: test points (0: the domain's default set).

    Functions are written once with ``xp`` (NumPy, torch or UFL) and take
    component-first points: ``x[i]`` is the i-th coordinate.  Use the names
    NumPy and torch share: ``sin cos exp log sqrt tanh arctan2 where abs pi``.
    """

    name = "elliptic"

    def capabilities(self) -> frozenset[str]:
        """An elliptic PDE on its own domain."""
        return frozenset({self.name, "pde-on-domain"})
    kind = "field"

    domain: Domain = Box((0.0, 0.0), (1.0, 1.0))
    coefficient: Any = 1.0
    reaction: Any = 0.0
    source: Any = 0.0
    dirichlet: Any = None
    neumann: Any = None
    robin: Any = None
    boundaries: Any = None
    exact_solution: Any = None
    x0: Any = None
    regularity: float | None = None
    n_test: int = 0

    # ------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        if not isinstance(self.domain, Domain):
            raise InvalidProblem(f"elliptic: domain={self.domain!r} is not a domain; use Interval, Box, Disk, "
                                 "Polygon or MeshFile")
        object.__setattr__(self, "boundaries", dict(self.boundaries or {}))
        for key in ("reaction", "source"):
            v = getattr(self, key)
            if not (callable(v) or _is_number(v) or isinstance(v, dict)):
                raise InvalidProblem(f"elliptic: {key}={v!r}; give a number or a function (x, xp)")
        if _is_number(self.reaction) and self.reaction < 0:
            raise InvalidProblem(f"elliptic: reaction={self.reaction!r} is negative; allowed: c >= 0")
        self._check_coefficient_form()
        self._check_subdomain_fields()
        for name, part in self.boundaries.items():
            if not (callable(part) or isinstance(part, (int, str))) or isinstance(part, bool):
                raise InvalidProblem(f"elliptic: boundaries[{name!r}]={part!r}; give a predicate (x, xp) or a "
                                     "gmsh physical tag (number or name)")
            if not callable(part) and not isinstance(self.domain, MeshFile):
                raise InvalidProblem(f"elliptic: boundaries[{name!r}]={part!r} is a mesh tag, but the domain is "
                                     f"a {type(self.domain).__name__}; use a predicate (x, xp)")
            if isinstance(part, str) and part not in self.domain.parts():
                raise InvalidProblem(f"elliptic: boundaries[{name!r}]={part!r} is not a boundary physical name "
                                     f"of {self.domain.path}; it has: {', '.join(self.domain.parts()) or 'none'}")
            if isinstance(part, int) and part not in {t for _, t in self.domain.physical_names.values()} \
                    and self.domain.physical_names:
                raise InvalidProblem(f"elliptic: boundaries[{name!r}]={part} is not a physical tag of "
                                     f"{self.domain.path}")
        self.conditions()  # checks names and overlaps
        if self.exact_solution is not None and not callable(self.exact_solution):
            raise InvalidProblem(f"elliptic: exact_solution={self.exact_solution!r}; give a function (x, xp)")
        if self.regularity is not None and not (_is_number(self.regularity) and self.regularity > 0):
            raise InvalidProblem(f"elliptic: regularity={self.regularity!r}; give a positive number")
        if not (isinstance(self.n_test, int) and self.n_test >= 0):
            raise InvalidProblem(f"elliptic: n_test={self.n_test!r}; give an integer >= 0")
        if self.x0 is not None:
            x0 = np.asarray(self.x0, dtype=float).reshape(-1)
            if x0.shape != (self.d,):
                raise InvalidProblem(f"elliptic: x0={self.x0!r} has {x0.size} coordinates; the domain has {self.d}")
            if not isinstance(self.domain, MeshFile) and not self.domain.contains(x0[:, None])[0]:
                raise InvalidProblem(f"elliptic: x0={self.x0!r} lies outside the domain")
            object.__setattr__(self, "x0", tuple(float(v) for v in x0))
        if not self.conditions_of("dirichlet") and not self.conditions_of("robin") \
                and _is_number(self.reaction) and self.reaction == 0:
            raise InvalidProblem("elliptic: no Dirichlet or Robin condition and reaction 0: u is determined only "
                                 "up to a constant; add a dirichlet/robin part or a positive reaction")
        if not isinstance(self.domain, MeshFile):
            self.check_functions(self.domain.test_points()[:: max(1, len(self.domain.test_points()) // 64)].T)

    @property
    def d(self) -> int:
        return self.domain.d

    def _check_coefficient_form(self) -> None:
        A = self.coefficient
        if callable(A) or isinstance(A, dict):   # a dict: _check_subdomain_fields
            return
        if _is_number(A):
            if not A > 0:
                raise InvalidProblem(f"elliptic: coefficient={A!r} is not positive; allowed: A > 0")
            return
        try:
            M = np.asarray(A, dtype=float)
        except (TypeError, ValueError):
            raise InvalidProblem(f"elliptic: coefficient={A!r}; give a number, a function (x, xp), or a "
                                 "d x d matrix") from None
        if M.shape != (self.d, self.d):
            raise InvalidProblem(f"elliptic: coefficient has shape {M.shape}; the domain has dimension {self.d}, "
                                 f"so a matrix must be {self.d} x {self.d}")
        if not np.allclose(M, M.T) or np.linalg.eigvalsh(M).min() <= 0:
            raise InvalidProblem(f"elliptic: coefficient={A!r} is not symmetric positive definite")

    @property
    def subdomain_fields(self) -> tuple[str, ...]:
        """The fields given per subdomain (dicts of physical names)."""
        return tuple(k for k in SUBDOMAIN_FIELDS if isinstance(getattr(self, k), dict))

    def on_subdomain(self, key: str, name: str) -> Any:
        """The value of a per-subdomain field on one subdomain (``rest`` if not named)."""
        spec = getattr(self, key)
        return spec[name] if name in spec else spec[REST]

    def _check_subdomain_fields(self) -> None:
        """Dicts of subdomains: a MeshFile, known names of dimension d that mark cells,
        numbers or functions, every subdomain covered (by name or ``rest``)."""
        keys = self.subdomain_fields
        if not keys:
            return
        if not isinstance(self.domain, MeshFile):
            raise InvalidProblem(f"elliptic: {keys[0]} is a dict of subdomains, but the domain is a "
                                 f"{type(self.domain).__name__}; subdomains are physical groups of a MeshFile")
        from sciml.references.fem_gmsh import msh_subdomains   # the gmsh module only, no DOLFINx
        subs = msh_subdomains(self.domain.path, self.d)
        have = ", ".join(f"{n} ({c} cells)" for n, (_, c) in subs.items()) or "none"
        for key in keys:
            spec = getattr(self, key)
            for name, val in spec.items():
                if name != REST and name not in subs:
                    raise InvalidProblem(f"elliptic: {key}[{name!r}] names no subdomain of {self.domain.path}; its "
                                         f"physical groups of dimension {self.d}: {have} (and 'rest')")
                if name != REST and subs[name][1] == 0:
                    raise InvalidProblem(f"elliptic: {key}[{name!r}]: subdomain {name!r} marks no cell of "
                                         f"{self.domain.path}; its physical groups of dimension {self.d}: {have}")
                if not (callable(val) or _is_number(val)):
                    raise InvalidProblem(f"elliptic: {key}[{name!r}]={val!r}; give a number or a scalar function "
                                         "(x, xp)")
                if _is_number(val) and not math.isfinite(val):
                    raise InvalidProblem(f"elliptic: {key}[{name!r}]={val!r} is not finite")
                if key == "coefficient" and _is_number(val) and not val > 0:
                    raise InvalidProblem(f"elliptic: coefficient[{name!r}]={val!r} is not positive; allowed: A > 0")
                if key == "reaction" and _is_number(val) and val < 0:
                    raise InvalidProblem(f"elliptic: reaction[{name!r}]={val!r} is negative; allowed: c >= 0")
            left = [n for n in subs if n not in spec]
            if left and REST not in spec:
                raise InvalidProblem(f"elliptic: {key} gives no value on subdomain(s) {', '.join(left)} of "
                                     f"{self.domain.path}; name them or add 'rest'")

    # ------------------------------------------------------------ boundary
    def parts(self) -> dict[str, Any]:
        """Every named boundary part: the domain's own, overridden by ``boundaries``."""
        out = dict(self.domain.parts())
        out.update(self.boundaries)
        return out

    def conditions(self) -> list[BoundaryCondition]:
        """The boundary conditions, one per part (validated)."""
        known = self.parts()
        out: list[BoundaryCondition] = []
        whole = []
        for kind in ("dirichlet", "neumann", "robin"):
            spec = getattr(self, kind)
            if spec is None:
                continue
            items = spec.items() if isinstance(spec, dict) else [(ALL, spec)]
            if not isinstance(spec, dict):
                whole.append(kind)
            for part, data in items:
                if part not in known and part not in (REST, ALL):
                    raise InvalidProblem(f"elliptic: {kind}[{part!r}] names no boundary part; known parts: "
                                         f"{', '.join(sorted(known)) or 'none'} (and 'rest')")
                if kind == "robin":
                    if not (isinstance(data, (tuple, list)) and len(data) == 2):
                        raise InvalidProblem(f"elliptic: robin[{part!r}]={data!r}; give (alpha, g) for "
                                             "A grad u . n + alpha u = g")
                    alpha, g = data
                    if _is_number(alpha) and alpha < 0:
                        raise InvalidProblem(f"elliptic: robin[{part!r}] alpha={alpha!r} is negative; allowed: >= 0")
                    for v in (alpha, g):
                        if not (callable(v) or _is_number(v)):
                            raise InvalidProblem(f"elliptic: robin[{part!r}] value {v!r}; give numbers or functions")
                    out.append(BoundaryCondition(kind, part, as_function(g), as_function(alpha)))
                else:
                    if not (callable(data) or _is_number(data)):
                        raise InvalidProblem(f"elliptic: {kind}[{part!r}]={data!r}; give a number or a function "
                                             "(x, xp)")
                    out.append(BoundaryCondition(kind, part, as_function(data)))
        seen: dict[str, str] = {}
        for bc in out:
            if bc.part in seen:
                raise InvalidProblem(f"elliptic: boundary part {bc.part!r} has two conditions "
                                     f"({seen[bc.part]} and {bc.kind}); give each part one")
            seen[bc.part] = bc.kind
        if whole and len(out) > 1:
            raise InvalidProblem(f"elliptic: {whole[0]} is given for the whole boundary, so no other condition "
                                 "may be given; use dicts of parts (and 'rest') to mix conditions")
        return out

    def conditions_of(self, kind: str) -> list[BoundaryCondition]:
        return [bc for bc in self.conditions() if bc.kind == kind]

    # ------------------------------------------------------------ functions
    def _eval(self, fn: Any, key: str, x: np.ndarray, raw: bool = False) -> Any:
        try:
            with np.errstate(all="ignore"):
                return as_function(fn)(x, np)
        except (IndexError, ValueError, TypeError) as exc:
            raise InvalidProblem(f"elliptic: {key} failed on points of dimension {x.shape[0]} (the domain's): "
                                 f"{type(exc).__name__}: {exc}") from None

    def scalar(self, fn: Any, key: str, x: np.ndarray) -> np.ndarray:
        """Values (n,) of a scalar function at points x (d, n), checked."""
        v = np.asarray(self._eval(fn, key, x), dtype=float)
        try:
            v = np.broadcast_to(v, x.shape[1:])
        except ValueError:
            raise InvalidProblem(f"elliptic: {key} returned shape {v.shape} on points of shape {x.shape}; "
                                 f"a scalar function must return shape {x.shape[1:]}") from None
        if not np.all(np.isfinite(v)):
            raise InvalidProblem(f"elliptic: {key} is not finite at some points of the domain")
        return v

    def matrix(self, x: np.ndarray) -> np.ndarray:
        """A at points x (d, n) as an array (n, d, d) (scalar A times the identity)."""
        n, d = x.shape[1], self.d
        A = self.coefficient
        raw = A if not callable(A) else self._eval(A, "coefficient", x)
        if isinstance(raw, (list, tuple)) or (np.ndim(raw) >= 2 and np.shape(raw)[:2] == (d, d)):
            try:
                M = np.array([[np.broadcast_to(np.asarray(raw[i][j], dtype=float), (n,)) for j in range(d)]
                              for i in range(d)])
            except (IndexError, ValueError, TypeError):
                raise InvalidProblem(f"elliptic: coefficient returned a matrix that is not {d} x {d} with "
                                     f"entries of shape ({n},)") from None
            M = np.moveaxis(M, -1, 0)
        else:
            s = self.scalar(A, "coefficient", x)
            M = s[:, None, None] * np.eye(d)[None]
        if not np.all(np.isfinite(M)):
            raise InvalidProblem("elliptic: coefficient is not finite at some points of the domain")
        return M

    def check_functions(self, x: np.ndarray) -> None:
        """Evaluate every function at points x (d, n) of the domain: shapes, finiteness,
        A symmetric positive definite, c >= 0 (raises InvalidProblem)."""
        x = np.asarray(x, dtype=float)
        # a constant coefficient is checked at one point (it is the same everywhere)
        check_coefficient_values(self.matrix(x if callable(self.coefficient) else x[:, :1]),
                                 "at some points of the domain")
        c = self.scalar(self.reaction, "reaction", x)
        if np.any(c < 0):
            raise InvalidProblem(f"elliptic: reaction is negative (min {c.min():.3g}); allowed: c >= 0")
        self.scalar(self.source, "source", x)
        for bc in self.conditions():
            self.scalar(bc.g, f"{bc.kind}[{bc.part!r}]", x)
            if bc.alpha is not None:
                self.scalar(bc.alpha, f"robin[{bc.part!r}] alpha", x)
        if self.exact_solution is not None:
            self.scalar(self.exact_solution, "exact_solution", x)

    # ------------------------------------------------------------ Problem API
    @property
    def default_reference(self) -> str:  # type: ignore[override]
        return "exact" if self.exact_solution is not None else "fem"

    @property
    def has_exact(self) -> bool:
        return self.exact_solution is not None

    def exact(self, x: np.ndarray) -> np.ndarray:
        if self.exact_solution is None:
            raise InvalidOption("problem 'elliptic' has no exact solution; use --reference fem")
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return self.scalar(self.exact_solution, "exact_solution", x[:, : self.d].T).copy()

    def exact_expr(self, x: Any, xp: Any = np) -> Any:
        if self.exact_solution is None:
            raise InvalidOption("problem 'elliptic' has no exact solution")
        return self.exact_solution(x, xp)

    def value_point(self) -> np.ndarray | None:
        return None if self.x0 is None else np.asarray(self.x0, dtype=float)

    def test_points(self) -> np.ndarray:
        if isinstance(self.domain, MeshFile):
            from sciml.references.fem_gmsh import msh_cell_centres
            pts = msh_cell_centres(self.domain.path, self.d)
            m = self.n_test or 10_000
            return pts[:: max(1, len(pts) // m)]
        return self.domain.test_points(self.n_test)

    def params(self) -> dict[str, Any]:
        from sciml.core import fields_of
        return {k: describe_value(getattr(self, k)) for k in fields_of(self)}

    def orders(self, degree: int) -> dict[str, float]:
        """Expected FEM convergence orders in h for Lagrange elements of ``degree``:
        |u - u_h|_H1 = O(h^min(p, s)) and ||u - u_h||_L2 = O(h^(min(p, s) + min(1, s)))
        (Aubin-Nitsche with a dual problem of the same regularity), s = ``regularity``
        (infinite when not declared)."""
        s = math.inf if self.regularity is None else float(self.regularity)
        h1 = min(degree, s)
        return {"h1_fem": h1, "l2_fem": min(degree + 1, h1 + min(1.0, s))}


def check_coefficient_values(M: np.ndarray, where: str) -> None:
    """Refuse a coefficient (n, d, d) that is not symmetric positive definite."""
    if not np.allclose(M, np.swapaxes(M, 1, 2), rtol=1e-12, atol=1e-14):
        raise InvalidProblem(f"elliptic: coefficient matrix is not symmetric {where}")
    lam = np.linalg.eigvalsh(M).min() if M.shape[1] > 1 else M[:, 0, 0].min()
    if not lam > 0:
        raise InvalidProblem(f"elliptic: coefficient is not positive {where} (smallest eigenvalue {lam:.3g}); "
                             "allowed: A > 0")


# -------------------------------------------------------------------- presets
def torsion() -> Elliptic:
    """-Δu = 1 on the unit square, u = 0 on the boundary; x0 its centre."""
    return Elliptic(domain=Box((0.0, 0.0), (1.0, 1.0)), source=1.0, dirichlet=0.0, x0=(0.5, 0.5))


LSHAPE = ((-1.0, -1.0), (1.0, -1.0), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (-1.0, 1.0))


def _lshape_u(x: Any, xp: Any) -> Any:
    # polar angle measured from the edge (0,0)-(0,1) through the domain: the
    # branch cut of arctan2 lies in the missing quadrant x, y > 0
    r = xp.sqrt(x[0] ** 2 + x[1] ** 2)
    theta = xp.arctan2(x[0] - x[1], -(x[0] + x[1])) + 0.75 * math.pi
    return r ** (2.0 / 3.0) * xp.sin(2.0 * theta / 3.0)


def lshape_corner() -> Elliptic:
    """Δu = 0 on the L-shape (-1, 1)^2 minus [0, 1]^2 with u = r^(2/3) sin(2θ/3):
    the corner singularity, u in H^(1 + 2/3 - ε) only (regularity 2/3)."""
    return Elliptic(domain=Polygon(LSHAPE), source=0.0, dirichlet=_lshape_u, exact_solution=_lshape_u,
                    regularity=2.0 / 3.0, x0=(-0.5, -0.5))
