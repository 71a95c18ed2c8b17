"""Darcy data: the random field, the resumable generator, the problem and its metrics, bad input."""
from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from problems.darcy import Darcy, _h1_sq, h1_per_sample, rel_l2_per_sample
from sciml.cli import main
from sciml.core import DataError, InvalidOption, InvalidProblem
from sciml.datasets import darcy as ds
from sciml.datasets.grf import grf_coefficients, grf_on_grid

pytest.importorskip("dolfinx")


# ------------------------------------------------------------------ the field
def test_grf_is_the_same_function_at_every_resolution():
    coef = grf_coefficients(seed=3, index=7, terms=64)
    coarse, fine = grf_on_grid(coef, 17), grf_on_grid(coef, 33)
    np.testing.assert_allclose(coarse, fine[::2, ::2], rtol=0, atol=1e-12)


def test_grf_variance_matches_the_covariance_operator():
    """Var g(x) = Σ_{k≠0} λ_k φ_k(x)², λ_k = (π²|k|² + 9)^(-2); Monte Carlo within 4 standard errors."""
    terms, n, x, y = 16, 4000, 0.3, 0.7
    t = np.array([x, y])
    vals = np.array([grf_on_grid(grf_coefficients(0, i, terms), 11)[3, 7] for i in range(n)])
    k = np.arange(terms)
    lam = (np.pi ** 2 * (k[:, None] ** 2 + k[None, :] ** 2) + 9.0) ** (-2.0)
    c = np.where(k == 0, 1.0, 2.0)  # squared normalisation of the cosines
    phi2 = (c[:, None] * np.cos(np.pi * k[:, None] * t[0]) ** 2) * (c[None, :] * np.cos(np.pi * k[None, :] * t[1]) ** 2)
    lam[0, 0] = 0.0
    var = float(np.sum(lam * phi2))
    assert abs(vals.var(ddof=1) - var) < 4 * var * math.sqrt(2.0 / (n - 1))
    assert abs(vals.mean()) < 4 * math.sqrt(var / n)


# -------------------------------------------------------------- the generator
@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("darcy") / "d16.h5"
    ds.generate(out=out, res=16, count=12, seed=5, workers=1, chunk=5)
    return out


def test_generate_writes_fem_solutions(small_file):
    d = ds.load(small_file, res=16)
    assert d["a"].shape == d["u"].shape == (12, 16, 16)
    np.testing.assert_array_equal(d["index"], np.arange(12))
    assert set(np.unique(d["a"])) == {3.0, 12.0}
    assert d["attrs"]["complete"] and d["attrs"]["n_done"] == 12
    assert not small_file.with_name(small_file.name + ".partial").exists()
    from sciml.references.fem import DarcyFEM
    fem = DarcyFEM(16)
    for n in (0, 11):
        np.testing.assert_allclose(d["u"][n], fem.solve(d["a"][n].astype(float)), rtol=0, atol=1e-14)
    np.testing.assert_array_equal(d["u"][:, 0, :], 0.0)  # Dirichlet boundary


def test_killed_generation_resumes_without_duplicates(small_file, tmp_path, monkeypatch):
    out = tmp_path / "d16.h5"
    real, calls = ds._solve_task, []

    def dies_on_second_chunk(args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt  # what a kill between chunks looks like to this process
        return real(args)

    monkeypatch.setattr(ds, "_solve_task", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        ds.generate(out=out, res=16, count=12, seed=5, workers=1, chunk=5)
    assert not out.exists()
    with pytest.raises(DataError, match="partial"):
        ds.load(out)
    with h5py.File(out.with_name(out.name + ".partial"), "r") as f:
        assert f.attrs["n_done"] == 5 and not f.attrs["complete"]
    monkeypatch.setattr(ds, "_solve_task", real)
    ds.generate(out=out, res=16, count=12, seed=5, workers=1, chunk=5)
    new, ref = ds.load(out), ds.load(small_file)
    np.testing.assert_array_equal(new["index"], np.arange(12))
    np.testing.assert_array_equal(new["a"], ref["a"])
    np.testing.assert_allclose(new["u"], ref["u"], rtol=0, atol=1e-14)
    assert ds.generate(out=out, res=16, count=12, seed=5, workers=1) == out  # complete: nothing to do


def test_parallel_generation_equals_serial(small_file, tmp_path):
    out = ds.generate(out=tmp_path / "p.h5", res=16, count=6, seed=5, workers=2, chunk=3)
    par, ser = ds.load(out), ds.load(small_file)
    np.testing.assert_array_equal(par["a"], ser["a"][:6])
    np.testing.assert_allclose(par["u"], ser["u"][:6], rtol=0, atol=1e-14)


def test_corrupt_partial_file_is_restarted(small_file, tmp_path):
    out = tmp_path / "d16.h5"
    out.with_name(out.name + ".partial").write_bytes(b"not hdf5 at all" * 10)
    ds.generate(out=out, res=16, count=12, seed=5, workers=1, chunk=6)
    np.testing.assert_array_equal(ds.load(out)["a"], ds.load(small_file)["a"])


def test_load_errors_name_the_file(small_file, tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(DataError, match="nope.h5"):
        ds.load(missing)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(DataError, match="junk.h5"):
        ds.load(junk)
    with pytest.raises(DataError, match="resolution 16"):
        ds.load(small_file, res=32)
    with pytest.raises(InvalidOption, match="count"):
        ds.generate(out=tmp_path / "x.h5", count=0)


# ---------------------------------------------------------------- the problem
def test_problem_reads_the_file_like_the_generator(small_file):
    p = Darcy(res=16, data=str(small_file), n_train=8, n_test=4, seed=5)
    on_the_fly = Darcy(res=16, n_train=8, n_test=4, seed=5)
    np.testing.assert_array_equal(p.test_set()[0], on_the_fly.test_set()[0])
    np.testing.assert_allclose(p.test_set()[1], on_the_fly.test_set()[1], rtol=0, atol=1e-14)
    with pytest.raises(DataError, match="samples"):
        Darcy(res=16, data=str(small_file), n_train=10, n_test=4, seed=5)
    with pytest.raises(DataError, match="resolution"):
        Darcy(res=32, data=str(small_file), n_train=8, n_test=4, seed=5)
    with pytest.raises(InvalidProblem, match="seed"):
        Darcy(res=16, data=str(small_file), n_train=8, n_test=4, seed=0)
    with pytest.raises(InvalidProblem, match="too many"):
        Darcy(res=85, n_train=1000, n_test=100)


def test_h1_metric_is_the_p1_norm_and_converges_at_second_order():
    """For v = sin(πx) sin(πy): ||v||²_H1 = π²/2 + 1/4; the P1/lumped value is O(h²) off."""
    exact = math.pi ** 2 / 2 + 0.25
    errs = []
    for S in (33, 65):
        g = np.linspace(0, 1, S)
        v = np.sin(np.pi * g)[:, None] * np.sin(np.pi * g)[None, :]
        errs.append(abs(_h1_sq(v[None])[0] - exact))
    assert 3.5 < errs[0] / errs[1] < 4.5
    # v = x: the gradient part is exactly |x|²_H1 = 1; the L2 part is the trapezoidal rule of x²
    from problems.darcy import _h1_sq as h1sq
    x = np.linspace(0, 1, 9)
    w = np.r_[0.5, np.ones(7), 0.5] / 8
    lin = np.broadcast_to(x[:, None], (9, 9))[None]
    assert abs(h1sq(lin)[0] - (1.0 + np.sum(w[:, None] * w[None, :] * x[:, None] ** 2))) < 1e-14
    u = np.random.default_rng(0).random((3, 9, 9)) + 1
    np.testing.assert_allclose(rel_l2_per_sample(1.1 * u, u), 0.1, rtol=1e-12)
    np.testing.assert_allclose(h1_per_sample(1.1 * u, u), 0.1, rtol=1e-12)


# ---------------------------------------------------------------- bad input
def test_cli_bad_input_exits_2(small_file, tmp_path, capsys):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00garbage" * 100)
    cases = [
        (["data", "darcy", "--count", "0", "--out", str(tmp_path / "c.h5")], "count"),
        (["solve", "darcy", "--solver", "fno", "-p", f"data={tmp_path / 'missing.h5'}"], "missing.h5"),
        (["solve", "darcy", "--solver", "fno", "-p", f"data={junk}"], "junk.h5"),
        (["solve", "darcy", "--solver", "fno", "-p", "res=32", "-p", f"data={small_file}",
          "-p", "n_train=8", "-p", "n_test=4", "-p", "seed=5"], "resolution 16"),
        (["solve", "darcy", "--solver", "fno", "-p", "res=16", "-p", "n_train=8", "-p", "n_test=2",
          "-o", "modes=20", "-o", "padding=0"], "modes=20"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, (argv, err)
