"""The entropy closure of the 1D slab moment system M_N: given normalised
moments, the Lagrange multipliers of the Maxwell-Boltzmann entropy minimiser.
The quadrature and the Newton reference are :mod:`sciml.references.entropy_closure`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sciml.core import InvalidProblem, Problem, Solution, SolverDiverged, opt
from sciml.references.entropy_closure import (ansatz_moments, closure_quadrature, monomials, newton_closure,
                                              realisable, sample_closure_moments)

__all__ = ["MomentClosure"]


@dataclass(frozen=True)
class MomentClosure(Problem):
    """Entropy closure of the 1D (slab, μ in [-1, 1]) kinetic moment system M_N.

    Given normalised moments u = (u1..uN) (u0 = 1) of the monomials
    (1, μ, ..., μ^N), find the Lagrange multipliers α of the Maxwell-Boltzmann
    entropy minimiser f = exp(α·m) with <m f> = (1, u); ``exact`` solves the
    dual by Newton's method to 1e-11 (Schotthöfer, Xiao, Frank, Hauck, ICML
    2022, use the same setting; Newton to |<m f> - u| <= 1e-10).  Test points: ``n_test`` held-out moment
    vectors from multipliers uniform in [-alpha_max, alpha_max]^N (seed fixed
    and distinct from any training seed), or the single vector ``moments``.

    Errors: ``moments_rel`` (mean over test points of |<m exp(α_h·m)> - u| / |u|,
    the consistency of the closure), ``moments_rel_max``, ``alpha_rel`` (mean
    |α_h - α| / |α|), ``h_rel`` (mean relative error of the entropy
    h(u) = α·u - <exp(α·m)>).
    """

    name = "mn-closure"

    def capabilities(self) -> frozenset[str]:
        """An entropy moment-closure problem."""
        return frozenset({self.name, "moment-closure"})
    default_reference = "exact"
    kind = "field"
    TEST_SEED: ClassVar[int] = 987654321

    N: int = opt(2, lo=2, hi=4)
    alpha_max: float = opt(5.0, lo=0.0, hi=50.0, lo_open=True)
    n_test: int = opt(2000, lo=1, hi=10 ** 7)
    moments: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.moments is not None:
            if len(self.moments) != self.N:
                raise InvalidProblem(f"{self.name}: moments={self.moments!r} must have N={self.N} entries (u1..uN)")
            if not realisable(np.array(self.moments), self.N)[0]:
                raise InvalidProblem(f"{self.name}: moments={self.moments!r} is outside the realisable set of "
                                     "moments of positive densities on [-1, 1] (Hankel conditions fail)")

    def test_points(self) -> np.ndarray:
        if self.moments is not None:
            return np.array([self.moments], dtype=float)
        return sample_closure_moments(self.N, self.n_test, self.alpha_max, self.TEST_SEED)[0]

    def exact(self, x: np.ndarray) -> np.ndarray:
        """Multipliers α (B, N + 1) at normalised moments x (B, N), by Newton."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if not np.all(realisable(x, self.N)):
            raise InvalidProblem(f"{self.name}: a moment vector is outside the realisable set")
        alpha, st = newton_closure(x, self.N)
        # a few ill-conditioned vectors stall slightly above 1e-10 (rounding); 1e-8 is still far
        # below the accuracy of any closure being compared with this reference
        if st["max_residual"] > 1e-8:
            raise SolverDiverged(f"{self.name}: Newton closure did not converge for {st['unconverged']} "
                                 f"moment vectors (residual {st['max_residual']:.2e}; too close to the "
                                 "realisable boundary)")
        return alpha

    def entropy(self, alpha: np.ndarray, u: np.ndarray) -> np.ndarray:
        """h(u) = α·(1, u) - <exp(α·m)> for each row."""
        full = np.concatenate([np.ones((len(u), 1)), u], axis=1)
        mu, w = closure_quadrature()
        return np.einsum("bi,bi->b", alpha, full) - np.exp(alpha @ monomials(mu, self.N)) @ w

    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        u = self.test_points()
        a_h = np.asarray(solution(u), dtype=float)
        a_r = np.asarray(reference(u), dtype=float)
        full = np.concatenate([np.ones((len(u), 1)), u], axis=1)
        rec = np.linalg.norm(ansatz_moments(a_h, self.N) - full, axis=1) / np.linalg.norm(full, axis=1)
        h_h, h_r = self.entropy(a_h, u), self.entropy(a_r, u)
        return {"moments_rel": float(rec.mean()), "moments_rel_max": float(rec.max()),
                "alpha_rel": float(np.mean(np.linalg.norm(a_h - a_r, axis=1) / np.linalg.norm(a_r, axis=1))),
                "h_rel": float(np.mean(np.abs(h_h - h_r) / np.abs(h_r)))}
