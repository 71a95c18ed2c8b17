"""sciml._fuse: a user's phi traced into one fused loop agrees with NumPy's phi(x + g),
and what the tracer does not know falls back (None) instead of guessing."""
from __future__ import annotations

import numpy as np
import pytest

from sciml._fuse import fuse_shifted

D, N = 4, 9
RNG = np.random.default_rng(0)
X = RNG.uniform(-1.0, 1.0, size=(D, N))


def _check(fn):
    out = fuse_shifted(fn, D, X)
    assert out is not None, "expected a fused loop"
    fused, rows = out
    g = RNG.standard_normal(D)
    acc = np.full(N, 0.5)
    fused(np.ascontiguousarray(X), g, acc, np.empty((rows, N)))
    want = 0.5 + np.asarray(fn(X + g[:, None], np), dtype=float)
    np.testing.assert_allclose(acc, want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("fn", [
    lambda x, xp: xp.sum(x * x, axis=0),
    lambda x, xp: 1.0 / (2.0 + 0.4 * xp.sum(x * x, axis=0)),
    lambda x, xp: xp.cos(xp.sum(x, axis=0)),
    lambda x, xp: xp.exp(-xp.sum(x * x, axis=0)) + x[0] * x[2] - 3.0,
    lambda x, xp: xp.prod(1.0 + 0.1 * xp.sin(xp.pi * x), axis=0) ** 2,
    lambda x, xp: xp.maximum(x[1] - 0.2, 0.0) + xp.sqrt(xp.sum(xp.abs(x), axis=0)),
    lambda x, xp: xp.sum(x * xp.sum(x, axis=0), axis=0),        # a reduction inside a reduction
])
def test_fused_equals_numpy(fn):
    _check(fn)


@pytest.mark.parametrize("fn", [
    lambda x, xp: xp.amax(x, axis=0),              # a reduction the tracer does not know
    lambda x, xp: xp.sum(x, axis=1),               # over the points, not the coordinates
    lambda x, xp: x * 2.0,                         # one value per coordinate: wrong shape
    lambda x, xp: x[0] if float(x[0]) > 0 else 0,  # a branch on a value
    lambda x, xp: xp.where(x[0] > 0, x[0], 0.0),   # a comparison
])
def test_untraceable_falls_back(fn):
    assert fuse_shifted(fn, D, X) is None
