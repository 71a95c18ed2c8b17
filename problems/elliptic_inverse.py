"""Coefficient recovery as a problem: -div(k grad u) = f with k unknown, from
noisy point measurements of u (registry name ``elliptic-inverse``).

The answer is the recovered coefficient: the constant k, or the four values
of k on the quadrants of a 2D box.  The data are read from a file (``data``:
an NPZ with ``x_obs`` (d, n) and ``u_obs`` (n), optionally ``k_true``) or
generated from a known coefficient ``k_true``: ``n_obs`` points drawn
uniformly in the middle 80 % of the box (seeded by ``seed``), u there from
the closed form of the default problem (u = sin(πx) sin(πy) / k) or from a P2
FEM solve on ``data_n`` cells per side, plus Gaussian noise of standard
deviation ``noise`` · max|u| (one standard-normal draw per ``seed``, scaled by
``noise``, so a noise grid perturbs the same way at every level).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sciml.core import DataError, InvalidOption, InvalidProblem, Problem, opt

from .domains import Box
from .elliptic_problem import Elliptic

__all__ = ["EllipticInverse", "default_forward", "quadrant_indicators"]

#: the coefficient generated data use when ``k_true`` is not given
DEFAULT_TRUTH = {"constant": (2.0,), "quadrants": (1.0, 2.0, 3.0, 4.0)}


def _source(x: Any, xp: Any) -> Any:
    return 2 * xp.pi ** 2 * xp.sin(xp.pi * x[0]) * xp.sin(xp.pi * x[1])


def default_forward() -> Elliptic:
    """-div(k grad u) = 2π² sin(πx) sin(πy) on the unit square, u = 0: u = sin(πx) sin(πy) / k for constant k."""
    return Elliptic(domain=Box((0.0, 0.0), (1.0, 1.0)), source=_source, dirichlet=0.0)


def quadrant_indicators(domain: Any, x: Any, xp: Any) -> list[Any]:
    """Indicators of the four quadrants of a 2D box (split at its centre), in the
    order (x < cx, y < cy), (x >= cx, y < cy), (x < cx, y >= cy), (x >= cx, y >= cy)."""
    cx = 0.5 * (domain.lo[0] + domain.hi[0])
    cy = 0.5 * (domain.lo[1] + domain.hi[1])
    left, low = xp.where(x[0] < cx, 1.0, 0.0), xp.where(x[1] < cy, 1.0, 0.0)
    return [left * low, (1 - left) * low, left * (1 - low), (1 - left) * (1 - low)]


@dataclass(frozen=True)
class EllipticInverse(Problem):
    """Recover k in -div(k grad u) = f (the ``forward`` problem's source and
    Dirichlet data; its own coefficient is not used) from u at points.

    * ``forward``: an :class:`Elliptic` with Dirichlet conditions (None: the
      default problem, :func:`default_forward`).
    * ``parametrisation``: ``constant`` (k) or ``quadrants`` (k1..k4 on the
      quadrants of a 2D box).
    * ``k_true``: the true values where known (the reference ``exact``); for
      generated data the default is 2 (constant) or (1, 2, 3, 4).
    * ``data``: an NPZ file with ``x_obs`` (d, n), ``u_obs`` (n) and optionally
      ``k_true``; empty: generated (``n_obs``, ``noise``, ``seed``, ``data_n``).

    The JSON ``value`` is the mean of k over the domain (k itself when
    constant); the errors compare the parameter vector: ``rel_error`` is the
    largest relative error of its entries (``rel_k{i}`` each, for quadrants).
    """

    name = "elliptic-inverse"
    kind = "value"
    default_reference = "exact"

    forward: Any = None
    parametrisation: Literal["constant", "quadrants"] = "constant"
    k_true: tuple[float, ...] = ()
    data: str = ""
    n_obs: int = opt(50, lo=1)
    noise: float = opt(0.0, lo=0.0)
    seed: int = opt(0, lo=0)
    data_n: int = opt(64, lo=2)

    def capabilities(self) -> frozenset[str]:
        """Coefficient recovery from point data."""
        return frozenset({self.name, "elliptic-inverse"})

    def __post_init__(self) -> None:
        fwd = self.forward_problem()
        if not isinstance(fwd, Elliptic):
            raise InvalidProblem(f"elliptic-inverse: forward={self.forward!r} is not an Elliptic problem")
        if fwd.conditions_of("neumann") or fwd.conditions_of("robin") or not fwd.conditions_of("dirichlet"):
            raise InvalidProblem("elliptic-inverse: the forward problem must have Dirichlet conditions only")
        if self.parametrisation == "quadrants" and not (isinstance(fwd.domain, Box) and fwd.d == 2):
            raise InvalidProblem("elliptic-inverse: parametrisation=quadrants needs a 2D Box domain; "
                                 f"the forward problem's domain is {type(fwd.domain).__name__} in {fwd.d}D")
        p = self.n_params
        kt = tuple(float(v) for v in self.k_true)
        if kt and (len(kt) != p or not all(math.isfinite(v) and v > 0 for v in kt)):
            raise InvalidProblem(f"elliptic-inverse: k_true={self.k_true!r}; give {p} positive number(s) for "
                                 f"parametrisation={self.parametrisation}")
        object.__setattr__(self, "k_true", kt)
        if self.data:
            self._read_data()

    # ------------------------------------------------------------ the data
    @property
    def n_params(self) -> int:
        return 1 if self.parametrisation == "constant" else 4

    def forward_problem(self) -> Elliptic:
        return default_forward() if self.forward is None else self.forward

    def truth(self) -> np.ndarray | None:
        """The true parameter vector where known."""
        if self.k_true:
            return np.asarray(self.k_true)
        if self.data:
            kt = self._read_data()[2]
            return None if kt is None else np.asarray(kt, dtype=float).reshape(-1)
        return np.asarray(DEFAULT_TRUTH[self.parametrisation])

    def _read_data(self) -> tuple[np.ndarray, np.ndarray, Any]:
        cache = self.__dict__.get("_file")
        if cache is not None:
            return cache
        p = Path(self.data)
        if not p.is_file():
            raise DataError(f"elliptic-inverse: data={self.data!r} does not exist; give an NPZ file with x_obs "
                            "(d, n) and u_obs (n)")
        try:
            with np.load(p) as z:
                arrays = {k: np.asarray(z[k]) for k in z.files}
        except Exception as exc:  # noqa: BLE001 - numpy raises several kinds for a non-NPZ file
            raise DataError(f"elliptic-inverse: data={self.data!r} is not an NPZ file ({type(exc).__name__})") \
                from None
        missing = [k for k in ("x_obs", "u_obs") if k not in arrays]
        if missing:
            raise DataError(f"elliptic-inverse: data={self.data!r} lacks {', '.join(missing)}; it has "
                            f"{', '.join(arrays) or 'nothing'}")
        x, u = np.asarray(arrays["x_obs"], dtype=float), np.asarray(arrays["u_obs"], dtype=float).reshape(-1)
        d = self.forward_problem().d
        if x.ndim != 2 or x.shape != (d, len(u)):
            raise DataError(f"elliptic-inverse: data={self.data!r}: x_obs has shape {x.shape}, u_obs {u.shape}; "
                            f"need x_obs ({d}, n) and u_obs (n,)")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(u))):
            raise DataError(f"elliptic-inverse: data={self.data!r} has non-finite values")
        kt = arrays.get("k_true")
        if kt is not None and np.size(kt) != self.n_params:
            raise DataError(f"elliptic-inverse: data={self.data!r}: k_true has {np.size(kt)} values; "
                            f"parametrisation={self.parametrisation} has {self.n_params}")
        object.__setattr__(self, "_file", (x, u, kt))
        return x, u, kt

    def coefficient(self, k: Any) -> Any:
        """The coefficient function (x, xp) of parameters k."""
        k = [float(v) for v in np.asarray(k).reshape(-1)]
        if len(k) == 1:
            return k[0]
        dom = self.forward_problem().domain
        return lambda x, xp: sum(kk * ind for kk, ind in zip(k, quadrant_indicators(dom, x, xp)))

    def observations(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_obs (d, n), u_obs (n,)): read, or generated once and kept."""
        if self.data:
            x, u, _ = self._read_data()
            return x, u
        cache = self.__dict__.get("_generated")
        if cache is not None:
            return cache
        fwd = self.forward_problem()
        rng = np.random.default_rng(self.seed)
        lo, hi = fwd.domain.bounds()
        x = np.empty((fwd.d, 0))
        while x.shape[1] < self.n_obs:  # uniform in the middle 80 % of the bounding box, inside the domain
            cand = (lo + (hi - lo) * (0.1 + 0.8 * rng.random((self.n_obs, fwd.d)))).T
            x = np.concatenate([x, cand[:, fwd.domain.contains(cand)]], axis=1)
        x = x[:, : self.n_obs]
        draw = rng.standard_normal(self.n_obs)
        k = self.truth()
        if self.forward is None and self.parametrisation == "constant":
            u = np.sin(np.pi * x[0]) * np.sin(np.pi * x[1]) / k[0]   # the closed form
        else:
            from sciml.references.fem import FEM
            from dataclasses import replace
            truth = replace(fwd, coefficient=self.coefficient(k), x0=None)
            u = np.asarray(FEM(degree=2, n=self.data_n).solve(truth)(x.T), dtype=float)
        u = u + self.noise * np.abs(u).max() * draw
        object.__setattr__(self, "_generated", (x, u))
        return x, u

    # ------------------------------------------------------------ Problem API
    def params(self) -> dict[str, Any]:
        out = super().params()
        out["forward"] = None if self.forward is None else self.forward.params()
        return out

    def value_of(self, k: np.ndarray) -> float:
        """The scalar answer of parameters k: the mean of k over the domain (quadrants: equal areas)."""
        return float(np.mean(k))

    def exact_value(self) -> float:
        k = self.truth()
        if k is None:
            raise InvalidOption("problem 'elliptic-inverse' has no known true coefficient (give k_true, or "
                                "k_true in the data file); use another solver's result as the reference")
        return self.value_of(k)

    def errors(self, solution: Any, reference: Any) -> dict[str, float]:
        k = np.asarray(solution.state.get("params"), dtype=float).reshape(-1)
        ref = reference.state.get("params")
        ref = self.truth() if ref is None else np.asarray(ref, dtype=float).reshape(-1)
        if ref is None or len(ref) != len(k):
            raise InvalidOption("elliptic-inverse: the reference gives no coefficient to compare with")
        rel = np.abs(k - ref) / np.abs(ref)
        out = {"rel_error": float(rel.max()), "abs_error": float(np.abs(k - ref).max())}
        if len(k) > 1:
            out.update({f"rel_k{i}": float(r) for i, r in enumerate(rel)})
        return out
