"""Correctness of the Radon operators: adjoint identity, Numba == torch,
convergence to analytic projections, FBP of the disk, operator norm."""
from __future__ import annotations

import math

import numpy as np
import pytest

from operators.radon import FILTERS, Geometry, Radon, TorchRadon, fbp, fbp_filter, power_norm
from problems import tomography_phantoms as ph
from sciml.core import InvalidOption, InvalidProblem

GEOMS = [Geometry(24, 7), Geometry(31, 12, angle_range=120.0, detectors=40), Geometry(16, 45, detectors=9)]


def _pair(g: Geometry, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((3, g.n, g.n)), rng.random((3, *g.sino_shape))


@pytest.mark.parametrize("g", GEOMS)
def test_adjoint_identity_numba(g):
    """<A x, y> = <x, A^T y> to rounding (positive data: no cancellation)."""
    R = Radon(g)
    x, y = _pair(g)
    lhs, rhs = np.vdot(R.forward(x), y), np.vdot(x, R.adjoint(y))
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


@pytest.mark.parametrize("g", GEOMS)
def test_adjoint_identity_torch(g):
    torch = pytest.importorskip("torch")
    T = TorchRadon(g, dtype="float64", chunk_elems=g.n * g.n_det * 3 * 6)  # several angle chunks
    x, y = (torch.as_tensor(a) for a in _pair(g, 1))
    lhs = float(torch.sum(T.forward(x) * y))
    rhs = float(torch.sum(x * T.adjoint(y)))
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


@pytest.mark.parametrize("g", GEOMS)
def test_numba_and_torch_agree(g):
    torch = pytest.importorskip("torch")
    R, T = Radon(g), TorchRadon(g, dtype="float64")
    x, y = _pair(g, 2)
    fx, tx = R.forward(x), T.forward(torch.as_tensor(x)).numpy()
    ay, ty = R.adjoint(y), T.adjoint(torch.as_tensor(y)).numpy()
    assert np.linalg.norm(fx - tx) <= 1e-6 * np.linalg.norm(fx)
    assert np.linalg.norm(ay - ty) <= 1e-6 * np.linalg.norm(ay)
    # float32 kernels: same matrix, single-precision rounding
    f32 = R.forward(x.astype(np.float32))
    assert f32.dtype == np.float32 and np.linalg.norm(f32 - fx) <= 1e-5 * np.linalg.norm(fx)


EDGE_GEOMS = [Geometry(20, 4, angle_range=360.0),        # |cos| = |sin|: rows/columns switch
              Geometry(17, 3),                            # 90 degrees: rays parallel to the columns
              Geometry(20, 6, half_width=0.5),            # detector narrower than the image
              Geometry(20, 6, half_width=0.5, detectors=10),  # the same, 3-bin adjoint kernel
              Geometry(16, 9, detectors=31),              # footprints up to 1.37 bins each side
              Geometry(12, 5, detectors=80)]              # detector bins much finer than pixels


@pytest.mark.parametrize("g", EDGE_GEOMS)
def test_numba_edge_geometries(g):
    """The bordered, range-precomputed Numba kernels against torch's table-driven ones
    where rays graze the image edge, switch walking axis or miss the detector."""
    torch = pytest.importorskip("torch")
    R, T = Radon(g), TorchRadon(g, dtype="float64")
    x, y = _pair(g, 4)
    fx, ay = R.forward(x), R.adjoint(y)
    assert np.linalg.norm(fx - T.forward(torch.as_tensor(x)).numpy()) <= 1e-12 * np.linalg.norm(fx)
    assert np.linalg.norm(ay - T.adjoint(torch.as_tensor(y)).numpy()) <= 1e-12 * np.linalg.norm(ay)
    assert abs(np.vdot(fx, y) - np.vdot(x, ay)) <= 1e-10 * abs(np.vdot(fx, y))
    a, b = fbp(R, y[0], "hann"), T.fbp(torch.as_tensor(y[0]), "hann").numpy()
    assert np.linalg.norm(a - b) <= 1e-10 * np.linalg.norm(a)


def test_torch_autograd_is_the_adjoint():
    torch = pytest.importorskip("torch")
    g = Geometry(20, 9)
    T = TorchRadon(g)
    x = torch.rand(g.n, g.n, dtype=torch.float64, requires_grad=True)
    y = torch.rand(*g.sino_shape, dtype=torch.float64)
    torch.sum(T.forward(x) * y).backward()
    assert torch.allclose(x.grad, T.adjoint(y), rtol=1e-12, atol=1e-14)


def _slope(ns, errs):
    return -np.polyfit(np.log(ns), np.log(errs), 1)[0]


def test_smooth_projection_second_order():
    """Joseph's line integrals are second order in h for a C^1 image:
    f = (1 - r^2/R^2)^2 on r < R has R f(s) = 16/15 (R^2 - s^2)^(5/2) / R^4."""
    r0, ns, errs = 0.6, [16, 32, 64, 128], []
    for n in ns:
        g = Geometry(n, 20)
        x, y = g.pixel_centres()
        img = np.clip(1.0 - (x ** 2 + y ** 2) / r0 ** 2, 0.0, None) ** 2
        exact = 16.0 / 15.0 * np.clip(r0 ** 2 - g.s ** 2, 0.0, None) ** 2.5 / r0 ** 4
        errs.append(np.abs(Radon(g).forward(img) - exact).max())
    assert 1.8 <= _slope(ns, errs) <= 2.6, errs


def test_disk_projection_first_order():
    """The disk image (point samples of the indicator) differs from the disk on a
    boundary strip of width O(h), so ||A x_h - 2 sqrt(r^2 - s^2)||_L1 = O(h):
    the fitted order must be 1 (band [0.75, 1.5]; above 1 would need
    cancellation the point sampling does not have)."""
    ns, errs = [16, 32, 64, 128, 256], []
    for n in ns:
        g = Geometry(n, 30)
        p = Radon(g).forward(ph.rasterize(ph.disk(), n))
        exact = 2.0 * np.sqrt(np.clip(ph.DISK_RADIUS ** 2 - g.s ** 2, 0.0, None))
        errs.append(np.abs(p - exact).sum() * g.ds / g.angles)
    assert np.all(np.diff(errs) < 0), errs
    assert 0.75 <= _slope(ns, errs) <= 1.5, errs


def test_disk_fbp_converges():
    """Noise-free FBP of exact disk projections converges in L1 as n and angles grow
    (first order: the reconstruction of a jump is smeared over O(h))."""
    ns, errs = [32, 64, 128], []
    for n in ns:
        g = Geometry(n, 2 * n)
        sino = ph.analytic_sinogram(ph.disk(), g.theta, g.s)
        rec = fbp(Radon(g), sino, "ram-lak")
        truth = ph.rasterize(ph.disk(), n, 8)
        errs.append(np.abs(rec - truth).mean())
    assert np.all(np.diff(errs) < 0), errs
    assert _slope(ns, errs) >= 0.7, errs
    assert errs[-1] < 0.02


def test_filters_and_bad_filter():
    g = Geometry(32, 10)
    ramp = fbp_filter(g, "ram-lak", shortest=False)
    for name in FILTERS:  # each window damps the ramp, on the frequencies it is defined on
        w = fbp_filter(g, name, 0.5, shortest=False)
        assert w.shape == ramp.shape and np.all(np.abs(w) <= np.abs(ramp) + 1e-15)
    with pytest.raises(InvalidOption, match="filter='bogus'"):
        fbp_filter(g, "bogus")
    with pytest.raises(InvalidOption, match="frequency_scaling"):
        fbp_filter(g, "hann", 0.0)


@pytest.mark.parametrize("detectors", [9, 65, 365, 725])
def test_shortest_filter_length_filters_the_same(detectors):
    """A projection of D bins meets only the kernel taps |m| < D, so the filter moved to
    the shortest fast length >= 2 D convolves exactly as on the power-of-two padding."""
    from operators.filters import filter_sinogram
    g = Geometry(16, 6, detectors=detectors)
    sino = np.random.default_rng(detectors).standard_normal((6, detectors))
    for name in FILTERS:
        for scaling in (1.0, 0.6):
            short = fbp_filter(g, name, scaling)
            full = fbp_filter(g, name, scaling, shortest=False)
            assert short.shape[0] <= full.shape[0]
            a, b = filter_sinogram(sino, short), filter_sinogram(sino, full)
            assert np.max(np.abs(a - b)) <= 1e-13 * np.max(np.abs(b))


def test_operator_norm():
    """Power iteration agrees with the largest singular value from a dense SVD."""
    g = Geometry(12, 8)
    R = Radon(g)
    dense = np.stack([R.forward(e.reshape(g.image_shape)).ravel() for e in np.eye(g.n * g.n)], axis=1)
    smax = np.linalg.svd(dense, compute_uv=False)[0]
    est = R.norm(iterations=200)
    assert est <= smax * (1 + 1e-12) and est >= smax * (1 - 1e-6)
    assert math.isclose(power_norm(lambda v: 4.0 * v, (3, 3)), 2.0, rel_tol=1e-12)


def test_shape_mismatch_is_clear():
    g = Geometry(16, 5)
    with pytest.raises(InvalidProblem, match=r"does not match the geometry"):
        Radon(g).adjoint(np.zeros((5, 3)))
    with pytest.raises(InvalidProblem, match=r"image shape"):
        Radon(g).forward(np.zeros((8, 8)))


@pytest.mark.parametrize("g, mirrored", [
    (Geometry(24, 10, detectors=30), True), (Geometry(25, 9), True),  # midpoint grids over 180 degrees
    (Geometry(20, 8, angle_range=120.0), False), (Geometry(20, 8, center=(0.1, 0.0)), False)])
def test_fbp_numba_and_torch_agree(g, mirrored):
    """The Numba FBP (which pairs pixel (i, n-1-j) with (i, j) when the angles are
    symmetric about pi/2) against the torch one, which gathers every pair itself."""
    torch = pytest.importorskip("torch")
    R = Radon(g)
    assert R._mirror is mirrored
    y = np.random.default_rng(3).random(g.sino_shape)
    a = fbp(R, y, "shepp-logan", 0.8)
    b = TorchRadon(g).fbp(torch.as_tensor(y), "shepp-logan", 0.8).numpy()
    assert np.linalg.norm(a - b) <= 1e-10 * np.linalg.norm(a)
