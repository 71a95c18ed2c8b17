"""The in-kernel generator of the multilevel Picard kernels (xoshiro256** + ziggurat).

Every tolerance is 5 standard errors of the statistic under the null
hypothesis that the draws are i.i.d. N(0, 1) (fixed seeds: deterministic)."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba")

from sciml.references._rng_numba import kernels, zig_tables  # noqa: E402

N = 2_000_000


@pytest.fixture(scope="module")
def draws() -> np.ndarray:
    return kernels()["normals"](7, 0, 0, N, 100)


def test_ziggurat_tables_close():
    x, r = zig_tables()
    v = 9.91256303526217e-3
    # every layer above the base has area v: x_i (f(x_{i+1}) - f(x_i)) = v
    f = np.exp(-0.5 * x * x)
    assert np.allclose(x[1:127] * (f[2:128] - f[1:127]), v, rtol=1e-9)
    # the top layer closes at the mode: x_127 (1 - f(x_127)) = v (to the precision of R, V)
    assert x[127] * (1.0 - f[127]) == pytest.approx(v, rel=1e-6)
    assert np.all(np.diff(x) < 0) and np.all((r[:127] > 0) & (r[:127] < 1)) and r[127] == 0.0


def test_moments(draws):
    z = draws
    assert abs(z.mean()) < 5 / math.sqrt(N)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2.0 / N)
    assert abs((z ** 3).mean()) < 5 * math.sqrt(15.0 / N)
    assert abs((z ** 4).mean() - 3.0) < 5 * math.sqrt(96.0 / N)


@pytest.mark.parametrize("q", [-4.0, -3.442619855899, -2.0, -1.0, -0.3, 0.0, 0.7, 1.5, 2.5, 3.442619855899, 4.0])
def test_cdf_at_quantiles_including_the_tail_and_wedges(draws, q):
    p = 0.5 * math.erfc(-q / math.sqrt(2.0))
    assert abs(np.mean(draws < q) - p) < 5 * math.sqrt(p * (1 - p) / N)


def test_kolmogorov_smirnov(draws):
    from scipy import stats
    assert stats.kstest(draws, "norm").pvalue > 1e-4


def test_streams_reproducible_and_uncorrelated():
    k = kernels()
    a = k["normals"](3, 1, 2, 200_000, 100)
    # the same stream for the same (seed, repeat, task) and block; the block size changes
    # the order in which the rare-path draws consume the stream, not the distribution
    assert np.array_equal(a, k["normals"](3, 1, 2, 200_000, 100))
    c = k["normals"](3, 1, 2, 200_000, 7)
    assert not np.array_equal(a, c) and abs(c.var() - 1.0) < 5 * math.sqrt(2.0 / c.size)
    for other in [(3, 1, 3), (3, 2, 2), (4, 1, 2)]:
        b = k["normals"](*other, 200_000, 100)
        assert abs(np.mean(a * b)) < 5 / math.sqrt(a.size)
