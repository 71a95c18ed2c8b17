"""The base of the Kolmogorov family: the affine-diagonal SDEs (:class:`AffineSDE`)
and :class:`KolmogorovProblem` (the cube, x0, test points, errors).  The
convention (u(T, x) = disc * E[phi(X_T^x)]) is stated in :mod:`problems.kolmogorov`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sciml import metrics
from sciml.core import InvalidOption, InvalidProblem, Problem, Solution, check_range

__all__ = ["AffineSDE", "KolmogorovProblem", "TEST_SEED", "PAYOFF_CODES"]

#: Seed of the uniform test points (fixed so that every run compares on the same points).
TEST_SEED = 20210731

#: Payoff codes shared with the Numba Monte Carlo kernels.
PAYOFF_CODES = {"paraboloid": 0, "gaussian": 1, "call": 2, "max-call": 3, "put-min": 4}


@dataclass(frozen=True, eq=False)
class AffineSDE:
    """dX = (shift + drift ⊙ X) dt + diag(s0 + s1 ⊙ X) L dW, with L lower
    triangular and L L^T the correlation matrix of the driving noise (unit diagonal).

    ``kind`` says which exact sampler applies:

    * ``"brownian"`` (drift = 0, s1 = 0): X_T = x + shift T + s0 ⊙ sqrt(T) L Z;
    * ``"gbm"`` (shift = 0, s0 = 0): X_T = x ⊙ exp((drift - s1²/2) T + s1 ⊙ sqrt(T) L Z),

    with Z ~ N(0, I_d).  Euler-Maruyama applies to the whole class.  The kind
    is checked against the coefficients: a sampler never drops a term.
    """

    kind: str
    drift: np.ndarray
    s0: np.ndarray
    s1: np.ndarray
    L: np.ndarray
    shift: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.shift is None:
            object.__setattr__(self, "shift", np.zeros_like(np.asarray(self.drift, dtype=float)))
        dropped = {"brownian": ("drift", "s1"), "gbm": ("shift", "s0")}.get(self.kind)
        if dropped is None:
            raise InvalidProblem(f"AffineSDE: kind={self.kind!r}; choose brownian or gbm")
        for key in dropped:
            if np.any(np.asarray(getattr(self, key)) != 0):
                raise InvalidProblem(f"AffineSDE: kind={self.kind!r} needs {key} = 0 (its exact sampler has no "
                                     f"such term), got {key}={np.asarray(getattr(self, key))!r}")

    def exact_factor(self, w: np.ndarray, T: float) -> np.ndarray:
        """Per-path factor g from correlated normals w = Z L^T (shape (M, d)):
        X_T = x + g (brownian) or x ⊙ g (gbm)."""
        if self.kind == "brownian":
            return self.shift * T + self.s0 * math.sqrt(T) * w
        return np.exp((self.drift - 0.5 * self.s1 ** 2) * T + self.s1 * math.sqrt(T) * w)

    def apply_factor(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        return x + g if self.kind == "brownian" else x * g


def _positive_part(y: Any) -> Any:
    # (y + |y|)/2 works unchanged on NumPy arrays and torch tensors (exact in floating point)
    return 0.5 * (y + abs(y))


@dataclass(frozen=True)
class KolmogorovProblem(Problem):
    """Shared part of the Kolmogorov problems: the cube, x0, test points, errors.

    Errors (:meth:`errors`) on ``n_test`` points drawn uniformly from
    [a, b]^d with the fixed seed :data:`TEST_SEED`:

    * ``rel_l1``: the mean over test points of |v(x) - u(x)| / |u(x)|, the
      "relative L1 error" of Beck et al. 2021 (``sciml.metrics.mean_rel_l1``);
    * ``rel_l2``: ||v - u||_2 / ||u||_2 over the test points;
    * ``max``: max |v(x) - u(x)| (absolute).
    """

    kind = "field"

    def _check_common(self) -> None:
        """The checks relating several fields (d, T and n_test are declared on each
        subclass's fields): a < b, and x0 (1 or d values) inside [a, b]."""
        check_range(self, "a", self.a, hi=self.b, hi_open=True)
        check_range(self, "b", self.b, lo=self.a, lo_open=True)
        if isinstance(self.x0, (int, float)):  # a number from Python means every coordinate
            object.__setattr__(self, "x0", (float(self.x0),))
        if self.x0 is not None:
            if len(self.x0) not in (1, self.d):
                raise InvalidProblem(f"{self.name}: x0 has {len(self.x0)} values; give 1 (all coordinates) "
                                     f"or d={self.d}")
            for v in self.x0:
                check_range(self, "x0", float(v), lo=self.a, hi=self.b)

    # ---- the PDE, as data
    def sde(self) -> AffineSDE:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def discount(self) -> float:
        """Factor in u(T, x) = discount * E[phi(X_T^x)]."""
        return 1.0

    @property
    def phi_kind(self) -> str:  # pragma: no cover - overridden
        """Which phi: paraboloid, gaussian, call, max-call or put-min (a key of PAYOFF_CODES)."""
        raise NotImplementedError

    @property
    def strike(self) -> float:
        return 0.0

    def phi(self, x: Any, xp: Any = np) -> Any:
        """The initial value phi at points x (N, d), for NumPy (xp=np) or torch (xp=torch)."""
        p = self.phi_kind
        if p == "paraboloid":
            return (x * x).sum(1)
        if p == "gaussian":
            return xp.exp(-(x * x).sum(1))
        if p == "call":
            return _positive_part(x[:, 0] - self.strike)
        if p == "max-call":
            return _positive_part(xp.amax(x, 1) - self.strike)
        if p == "put-min":
            return _positive_part(self.strike - xp.amin(x, 1))
        raise AssertionError(p)

    # ---- the general interface (component-first, written once with xp)
    def initial_xp(self, x: Any, xp: Any = np) -> Any:
        """phi at points x of shape (d, ...), the component-first form."""
        return self.phi(x.T, xp)

    def user_functions(self) -> dict[str, Any] | None:
        """The plain xp functions (Numba-compilable) of a user problem, or None for a
        preset whose kernels are hand-written (payoff codes)."""
        return None

    def capabilities(self) -> frozenset[str]:
        caps = {self.name, "kolmogorov"}
        if self.has_exact_sampler():
            caps.add("sde-affine")
        return frozenset(caps)

    def has_exact_sampler(self) -> bool:
        """Whether ``sde()`` gives an exact sampler (the presets: always; checked
        without building the d x d matrices)."""
        return True

    # ---- the Problem interface
    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.full(self.d, float(self.a)), np.full(self.d, float(self.b))

    def value_point(self) -> np.ndarray:
        if self.x0 is None:
            return np.full(self.d, 0.5 * (self.a + self.b))
        return np.broadcast_to(np.asarray(self.x0, dtype=float), (self.d,)).copy()

    def test_points(self) -> np.ndarray:
        rng = np.random.default_rng(TEST_SEED)
        return rng.uniform(self.a, self.b, size=(self.n_test, self.d))

    def check_points(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.shape[1] != self.d:
            raise InvalidOption(f"{self.name}: points have {x.shape[1]} coordinates, expected d={self.d}")
        return x

    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        x = self.test_points()
        v = np.asarray(solution(x), dtype=float).reshape(-1)
        u = np.asarray(reference(x), dtype=float).reshape(-1)
        return {"rel_l1": metrics.mean_rel_l1(v, u), "rel_l2": metrics.rel_l2(v, u),
                "max": metrics.max_error(v, u)}
