"""Core nouns, registry parsing and the Poisson problem's mathematics."""
import math
from typing import Literal

import numpy as np
import pytest

from problems.elliptic import Poisson
from sciml import registry
from sciml.core import InvalidOption, InvalidProblem
from sciml.metrics import pointwise_errors, psnr, rel_l2, ssim, value_errors


def test_parse_values_by_field_type():
    assert registry.parse_value(int, "1e4") == 10000
    assert registry.parse_value(float, "2.5") == 2.5
    assert registry.parse_value(bool, "true") is True
    assert registry.parse_value(Literal["a", "b"], "b") == "b"
    assert registry.parse_value(tuple[float, ...], "1,2.5") == (1.0, 2.5)
    assert registry.parse_value(float | None, "none") is None
    for tp, text in [(int, "two"), (int, "1.5"), (float, "x"), (Literal["a"], "c"), (bool, "maybe")]:
        with pytest.raises(ValueError):
            registry.parse_value(tp, text)


def test_make_problem_from_strings_and_errors_name_the_key():
    p = registry.make_problem("poisson", d="3", solution="peak", alpha="100")
    assert (p.d, p.solution, p.alpha) == (3, "peak", 100.0)
    with pytest.raises(InvalidProblem, match=r"d=5 .*\[1, 3\]"):
        registry.make_problem("poisson", d="5")
    with pytest.raises(InvalidProblem, match="alpha"):
        registry.make_problem("poisson", alpha="-1")
    with pytest.raises(InvalidProblem, match="valid keys: d, solution"):
        registry.make_problem("poisson", dd="1")
    with pytest.raises(InvalidProblem, match="unknown problem"):
        registry.make_problem("poisson2")
    with pytest.raises(InvalidOption, match="unknown solver"):
        registry.make_solver("nope")


def test_registry_availability_does_not_import_targets():
    ok, why = registry.availability("solver", "exact")
    assert ok and why == ""
    for kind, table in registry.TABLES.items():
        for name in table:
            ok, why = registry.availability(kind, name)
            assert ok or why  # unavailable always comes with a reason


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("solution", ["sine", "peak"])
def test_poisson_source_is_minus_laplacian_of_exact(d, solution):
    """f = -Δu checked by a 4th-order central difference, independent of source_expr."""
    p = Poisson(d=d, solution=solution, k=2, alpha=10)
    rng = np.random.default_rng(0)
    x = 0.2 + 0.6 * rng.random((50, d))
    h = 1e-3
    lap = np.zeros(len(x))
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        lap += (-p.exact(x + 2 * e) + 16 * p.exact(x + e) - 30 * p.exact(x)
                + 16 * p.exact(x - e) - p.exact(x - 2 * e)) / (12 * h * h)
    np.testing.assert_allclose(p.source(x), -lap, rtol=1e-6, atol=1e-6 * np.abs(lap).max())


def test_poisson_test_points():
    assert Poisson(d=2).test_points().shape == (101 * 101, 2)
    s = Poisson(d=3, test_points_kind="sobol", n_test=8).test_points()
    assert s.shape == (512, 3) and s.min() >= 0 and s.max() <= 1


def test_metrics():
    u = np.array([1.0, -2.0, 3.0])
    e = pointwise_errors(u + 0.1, u)
    assert math.isclose(e["rel_l2"], 0.1 * math.sqrt(3) / math.sqrt(14))
    assert math.isclose(e["rel_l1"], 0.3 / 6)
    assert math.isclose(e["max"], 0.1)
    assert value_errors(1.01, 1.0)["rel_error"] == pytest.approx(0.01)
    with pytest.raises(InvalidOption):
        rel_l2(np.ones(3), np.ones(4))
    img = np.random.default_rng(1).random((32, 32))
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)
    noisy = img + 0.1 * np.random.default_rng(2).standard_normal(img.shape)
    mse = np.mean((noisy - img) ** 2)
    assert psnr(noisy, img) == pytest.approx(10 * math.log10((img.max() - img.min()) ** 2 / mse))
    assert 0 < ssim(noisy, img) < 1


@pytest.mark.parametrize("window", ["gaussian", "uniform"])
def test_ssim_equals_scikit_image(window):
    """Our SSIM with either window equals scikit-image's structural_similarity (the Gaussian window:
    gaussian_weights=True, sigma 1.5; the uniform one: its default 7 x 7, what DIVal reports) to
    rounding, on a smooth image and a noisy copy, with the data range of the truth."""
    metrics = pytest.importorskip("skimage.metrics")
    x, y = np.meshgrid(np.linspace(-1, 1, 48), np.linspace(-1, 1, 40))
    truth = np.exp(-4 * (x ** 2 + y ** 2)) + 0.3 * (x > 0.2)
    noisy = truth + 0.05 * np.random.default_rng(3).standard_normal(truth.shape)
    rng = float(truth.max() - truth.min())
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=True) if window == "gaussian" else {}
    ref = metrics.structural_similarity(noisy, truth, data_range=rng, **kw)
    assert ssim(noisy, truth, window=window) == pytest.approx(ref, rel=1e-12, abs=1e-12)
    with pytest.raises(InvalidOption, match="window"):
        ssim(noisy, truth, window="box")
