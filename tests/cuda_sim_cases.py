"""The CUDA kernels against the CPU kernels, at small sizes.

Not collected by the default run (the file name does not start with test_):
tests/test_sciml/references/test_cuda_sim.py runs this module in a subprocess with
NUMBA_ENABLE_CUDASIM=1, because the simulator must be chosen before numba
is imported and must not leak into other tests.  On a machine with a GPU,
``pytest tests/cuda_sim_cases.py`` runs the same checks on the real device.
"""
import math

import numpy as np
import pytest
from numba import cuda

from operators import _radon_cuda as KC
from operators.radon import Geometry, Radon, fbp
from sciml.references import _mc_cuda as G

pytestmark = pytest.mark.skipif(not cuda.is_available(), reason="neither a GPU nor the CUDA simulator")


# --------------------------------------------------------------------- Radon
# detectors=8 at n=10 makes a pixel's footprint wider than 1.5 bins, where the
# CPU adjoint uses its general kernel; the default count uses the 3-tap one.
GEOMETRIES = [Geometry(10, 7), Geometry(10, 5, angle_range=360.0, detectors=8)]


@pytest.mark.parametrize("g", GEOMETRIES, ids=["default", "wide-footprint"])
def test_radon_matches_cpu_to_rounding(g):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, *g.image_shape))
    y = rng.standard_normal((2, *g.sino_shape))
    cpu, gpu = Radon(g), Radon(g, device="cuda")
    # float64: the kernels differ only in the order of a few dozen additions
    for a, b in ((cpu.forward(x), gpu.forward(x)), (cpu.adjoint(y), gpu.adjoint(y)),
                 (fbp(cpu, y[0]), fbp(gpu, y[0]))):
        assert a.shape == b.shape
        assert np.max(np.abs(a - b)) <= 1e-13 * np.max(np.abs(a))
    # float32 in, float32 out, within float32 rounding
    a32, b32 = cpu.forward(x.astype(np.float32)), gpu.forward(x.astype(np.float32))
    assert b32.dtype == np.float32 and np.max(np.abs(a32 - b32)) <= 1e-5 * np.max(np.abs(a32))


@pytest.mark.parametrize("g", GEOMETRIES, ids=["default", "wide-footprint"])
def test_radon_adjoint_identity(g):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(g.image_shape)
    y = rng.standard_normal(g.sino_shape)
    gpu = Radon(g, device="cuda")
    lhs, rhs = np.vdot(gpu.forward(x), y), np.vdot(x, gpu.adjoint(y))
    scale = np.linalg.norm(gpu.forward(x)) * np.linalg.norm(y)
    assert abs(lhs - rhs) <= 1e-13 * scale


def test_radon_block_size_does_not_matter():
    g = GEOMETRIES[0]
    x = np.random.default_rng(3).random((1, g.n + 4, g.n + 4))
    x[:, :2] = x[:, -2:] = x[:, :, :2] = x[:, :, -2:] = 0.0  # the kernels read a zero border
    c, s = np.cos(g.theta), np.sin(g.theta)
    outs = []
    for threads in (32, 128):
        out = np.empty((1, *g.sino_shape))
        KC.forward(x, c, s, g.s[0], g.ds, g.h, out, threads=threads)
        outs.append(out)
    assert np.array_equal(outs[0], outs[1])


# --------------------------------------------------------------- Monte Carlo
def _philox_reference(ctr, key):
    """Philox4x32-10 in plain Python integers (independent of the kernel's code)."""
    c, k = list(ctr), list(key)
    for r in range(10):
        if r:
            k = [(k[0] + 0x9E3779B9) & 0xFFFFFFFF, (k[1] + 0xBB67AE85) & 0xFFFFFFFF]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k[1], p0 & 0xFFFFFFFF]
    return c


def _normals_reference(seed, path, d, steps=1):
    """z[k, i] as _mc_cuda documents: call c = k ceil(d/2) + i // 2, normal i mod 2 of it."""
    h = (d + 1) // 2
    z = np.empty((steps, d))
    for k in range(steps):
        for i in range(d):
            w = _philox_reference((k * h + i // 2, path & 0xFFFFFFFF, path >> 32, 0),
                                  (seed & 0xFFFFFFFF, seed >> 32))
            u1 = ((w[0] << 21) | (w[1] >> 11)) / 2.0 ** 53
            u2 = ((w[2] << 21) | (w[3] >> 11)) / 2.0 ** 53
            r = math.sqrt(-2.0 * math.log(1.0 - u1))
            z[k, i] = r * (math.cos if i % 2 == 0 else math.sin)(2.0 * math.pi * u2)
    return z


def test_paths_follow_the_documented_streams():
    """Each path's sample is phi(x + s0 sqrt(T) L z) with z from (seed, path) alone."""
    d, T, seed, first, npaths = 3, 0.7, (5 << 32) + 11, (1 << 32) - 2, 4  # paths straddle 2^32
    x = np.array([[0.1, -0.2, 0.3], [1.0, 0.5, -1.0]])
    s0 = np.array([1.0, 1.5, 0.5])
    L = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
    vals = np.zeros((2, npaths))
    G.paths_kernel[1, 32](x, np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32), first, npaths,
                          G.BROWNIAN, G.EXACT, 1, T, np.zeros(d), s0, np.zeros(d), L, 0, 0, 0, 0.0,
                          np.zeros((d, npaths)), np.zeros((2 * d, npaths)), vals)
    for p in range(npaths):
        w = L @ _normals_reference(seed, first + p, d)[0]
        want = np.sum((x + s0 * math.sqrt(T) * w) ** 2, axis=1)
        np.testing.assert_allclose(vals[:, p], want, rtol=1e-13)


def _bs_args(d=2, steps=3, antithetic=True, code=3):
    drift, s1 = np.full(d, 0.03), np.full(d, 0.25)
    L = np.linalg.cholesky(np.full((d, d), 0.3) + 0.7 * np.eye(d))
    return (G.GBM, G.EULER, steps, 1.0, drift, np.zeros(d), s1, L, antithetic, code, 1.0)


def test_same_numbers_whatever_the_launch():
    x = np.array([[0.9, 1.1], [1.2, 0.8], [1.0, 1.0]])
    ref = G.path_sums(x, 42, 300, 700, *_bs_args(), threads=128)
    for threads, per_launch in ((32, 256), (64, 512)):
        got = G.path_sums(x, 42, 300, 700, *_bs_args(), threads=threads, paths_per_launch=per_launch)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    other = G.path_sums(x, 43, 300, 700, *_bs_args())
    assert not np.array_equal(other[0], ref[0])  # the seed matters


def test_gpu_estimate_within_standard_errors_of_cpu():
    """Heat (exact sampling) and a max-call (Euler, antithetic, correlated): the GPU and
    CPU estimates use different streams, so they agree within their standard errors:
    |m_gpu - m_cpu| <= 4.5 sqrt(se_gpu^2 + se_cpu^2) at every point (5 points in all; a
    false alarm has probability below 5 * 7e-6)."""
    from problems.kolmogorov import BlackScholes, Heat
    from sciml.references.monte_carlo import MonteCarlo
    cases = [(Heat(d=2), MonteCarlo(samples=1024), np.array([[0.2, 0.4], [0.9, 0.1], [0.5, 0.5]])),
             (BlackScholes(d=2, payoff="max-call"), MonteCarlo(samples=512, scheme="euler", steps=3,
                                                                antithetic=True),
              np.array([[95.0, 105.0], [110.0, 100.0]]))]
    for problem, mc, x in cases:
        mg, sg, ng = mc.estimate(problem, x, seed=3, device="cuda")
        mc_, sc, nc = mc.estimate(problem, x, seed=3)
        assert ng == nc == mc.samples
        assert np.all(np.abs(mg - mc_) <= 4.5 * np.hypot(sg, sc)), (problem.name, mg, mc_, sg, sc)
        assert np.all(sg > 0) and np.all(sg < 2.0 * sc) and np.all(sc < 2.0 * sg)  # same variance
    # heat: the closed form |x|^2 + 2 d T as well
    problem, mc, x = cases[0]
    mg, sg, _ = mc.estimate(problem, x, seed=3, device="cuda")
    assert np.all(np.abs(mg - problem.exact(x)) <= 4.5 * sg)


def test_solver_records_the_gpu():
    from problems.kolmogorov import Heat
    from sciml.evaluate import evaluate
    from sciml.references.monte_carlo import MonteCarlo
    from sciml.registry import make_solver
    # few test points keep the simulator quick; the reference is the closed form
    problem = Heat(d=1)
    rec = evaluate(problem, MonteCarlo(samples=64), make_solver("exact"), device="cuda")
    assert rec.device == "cuda:0"
    assert abs(rec.value - rec.reference_value) <= 5 * rec.stats["stderr_value"]


def test_gpu_check_sections_at_toy_sizes():
    """scripts/gpu_check.py's Numba sections, full code path at toy sizes."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    gc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gc)
    mem = gc._Memory()
    r = gc.check_radon(0, False, 1, mem, n=8, angles=4, batch=2, small=(8, 4))
    for key in ("small_forward_rel_diff", "small_adjoint_rel_diff", "small_fbp_rel_diff",
                "full_forward_rel_diff", "full_adjoint_rel_diff", "small_adjoint_identity"):
        assert r[key] < 1e-12, (key, r[key])
    assert r["forward_images_per_s_fp32"] > 0 and r["forward_images_per_s_fp32_8x8"] > 0
    m = gc.check_monte_carlo(0, False, mem, d=2, log2_paths=9, steps=2, points=4, small_paths=512)
    assert m["small_max_z"] < 5 and m["heat_d2_max_z_vs_exact"] < 5 and m["maxcall_d2_z_gpu_vs_cpu"] < 5
    assert m["heat_d2_points"] == 4 and m["heat_d2_paths_x_dims_per_s"] > 0
