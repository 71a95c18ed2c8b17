"""Operator norms of linear maps given by their normal operator (power iteration)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["power_norm"]


def power_norm(normal_op, shape: tuple[int, ...], *, iterations: int = 50, seed: int = 0) -> float:
    """Operator norm ||K|| = sqrt(lambda_max(K^T K)) by power iteration.

    ``normal_op`` applies K^T K.  The iterate starts from a seeded Gaussian
    vector; the Rayleigh quotient increases monotonically to lambda_max, so
    the estimate is a lower bound that converges from below (callers add a
    safety margin for step sizes).
    """
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(shape)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(iterations):
        w = normal_op(v)
        lam = float(np.vdot(v, w))
        nw = np.linalg.norm(w)
        if nw == 0:
            return 0.0
        v = w / nw
    return math.sqrt(max(lam, 0.0))
