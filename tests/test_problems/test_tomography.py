"""The ct problem, its classical reconstructions, the dataset generator and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from problems.tomography import CT
from sciml import registry
from sciml.cli import main
from sciml.core import InvalidOption, InvalidProblem
from sciml.evaluate import evaluate

SMALL = dict(n=32, angles=24)


def test_problem_is_deterministic_and_seeded():
    a, b = CT(phantom="ellipses", seed=3, **SMALL), CT(phantom="ellipses", seed=3, **SMALL)
    c = CT(phantom="ellipses", seed=4, **SMALL)
    assert np.array_equal(a.sinogram(), b.sinogram()) and np.array_equal(a.image(), b.image())
    assert not np.array_equal(a.image(), c.image())
    img = a.image()
    assert img.shape == (32, 32) and img.min() >= 0.0 and img.max() <= 1.0 + 1e-12
    assert a.sinogram().shape == a.geometry().sino_shape == (24, 46)


def test_image_field_convention():
    """test_points are the pixel centres in row-major order; exact() gives the image."""
    p = CT(phantom="shepp-logan", **SMALL)
    x = p.test_points()
    assert x.shape == (32 * 32, 2)
    assert np.allclose(x[1] - x[0], [2 / 32, 0.0])        # j (x) runs fastest
    assert np.allclose(x[32] - x[0], [0.0, 2 / 32])       # i (y) next
    assert np.array_equal(p.exact(x).reshape(32, 32), p.image())


def test_noise_models():
    clean = CT(noise="none", **SMALL)
    g = CT(noise="gaussian", noise_level=0.05, **SMALL)
    r = g.sinogram() - clean.sinogram()
    sigma = 0.05 * np.mean(np.abs(clean.sinogram()))
    # sample std of 1104 normals is within 5 standard errors of sigma
    assert abs(r.std() / sigma - 1) < 5 / np.sqrt(2 * r.size)
    pois = CT(noise="poisson", photons=1e6, **SMALL)
    # -log(counts / N0) has std ~ 1 / sqrt(N0 exp(-y)) <= exp(1) / 1e3
    assert np.abs(pois.sinogram() - clean.sinogram()).max() < 6 * np.exp(np.max(clean.sinogram()) / 2) / 1e3


def test_inverse_crime_switch():
    """Without the inverse crime the data come from a finer grid, not from A x_true."""
    from operators.radon import Radon
    p = CT(noise="none", **SMALL)
    q = CT(noise="none", inverse_crime=True, **SMALL)
    ax = Radon(p.geometry()).forward(p.image())
    assert np.allclose(q.sinogram(), ax, rtol=1e-12, atol=1e-12)
    assert not np.allclose(p.sinogram(), ax, atol=1e-6)
    # the model mismatch is an O(h) boundary effect: it shrinks under refinement
    fine = CT(noise="none", n=64, angles=24)
    ax64 = Radon(fine.geometry()).forward(fine.image())
    m32 = np.linalg.norm(p.sinogram() - ax) / np.linalg.norm(ax)
    m64 = np.linalg.norm(fine.sinogram() - ax64) / np.linalg.norm(ax64)
    assert m64 < 0.75 * m32 and m32 < 0.15


@pytest.mark.parametrize("bad, match", [
    (dict(n=4), "n=4"), (dict(angles=0), "angles=0"), (dict(detectors=0), "detectors=0"),
    (dict(noise_level=-0.1), "noise_level"), (dict(photons=0.0), "photons"),
    (dict(phantom="cat"), "phantom='cat'"), (dict(noise="salt"), "noise='salt'"),
])
def test_bad_problem(bad, match):
    with pytest.raises(InvalidProblem, match=match):
        CT(**bad)


def test_bad_options():
    with pytest.raises(InvalidOption, match="filter='box'"):
        registry.make_solver("fbp", filter="box")
    with pytest.raises(InvalidOption, match="iterations"):
        registry.make_solver("sirt", iterations=0)
    with pytest.raises(InvalidOption, match="weight"):
        registry.make_solver("tv", weight=-1.0)


def _psnr(problem, solver, **opts):
    return evaluate(problem, registry.make_solver(solver, **opts)).errors


def test_reconstructions_rank_as_expected():
    """On noisy Shepp-Logan (64 x 64, 40 angles, 2.5 % noise) the regularising
    iterative methods beat the unregularised ram-lak FBP in PSNR, TV has the
    best SSIM (piecewise-constant phantom), and the metrics are consistent."""
    p = CT(n=64, angles=40)
    e = {"sirt": _psnr(p, "sirt", iterations=100), "tv": _psnr(p, "tv", weight=2e-4, iterations=200),
         "ram-lak": _psnr(p, "fbp", filter="ram-lak"), "hann": _psnr(p, "fbp", filter="hann")}
    assert e["tv"]["psnr"] > e["ram-lak"]["psnr"] and e["sirt"]["psnr"] > e["ram-lak"]["psnr"]
    assert e["tv"]["ssim"] == max(v["ssim"] for v in e.values())
    for v in e.values():
        assert set(v) == {"psnr", "ssim", "ssim_7x7", "rel_l2"} and 0 < v["rel_l2"] < 1
        # PSNR and rel_l2 measure the same MSE: psnr = -20 log10(rel_l2 ||x|| / (sqrt(N) range))
        x = p.image()
        assert abs(v["psnr"] + 20 * np.log10(v["rel_l2"] * np.linalg.norm(x) / (x.size ** 0.5 * np.ptp(x)))) < 1e-9


def test_tv_noise_free_approaches_truth():
    """Noise-free inverse-crime data, tiny weight: TV drives the data misfit down and the
    image toward the truth; more iterations, smaller error (no fixed budget of luck)."""
    p = CT(n=32, angles=48, phantom="disk", noise="none", inverse_crime=True)
    short = _psnr(p, "tv", weight=1e-6, iterations=50)["rel_l2"]
    long = _psnr(p, "tv", weight=1e-6, iterations=400)["rel_l2"]
    assert long < 0.6 * short and long < 0.05


def test_dataset_resumable_and_atomic(tmp_path):
    from sciml.datasets import ct
    out = tmp_path / "set.h5"
    ct.generate(out=out, n=16, angles=6, count=10, chunk=4, seed=5)
    with h5py.File(out, "r") as f:
        full = f["sinograms"][()]
        cfg = json.loads(f.attrs["config"])
        assert f.attrs["completed"] == 10 and list(f["seeds"][:2]) == [ct.image_seed(5, 0), ct.image_seed(5, 1)]
    assert cfg["splits"] == {"train": [0, 8], "val": [8, 9], "test": [9, 10]}
    # a killed run leaves <out>.partial with some chunks: simulate by truncating `completed`
    out2 = tmp_path / "again.h5"
    ct.generate(out=out2, n=16, angles=6, count=10, chunk=4, seed=5)
    partial = tmp_path / "again.h5.partial"
    out2.rename(partial)
    with h5py.File(partial, "a") as f:
        f.attrs["completed"] = 4
        f["sinograms"][4:] = 0.0
    ct.generate(out=out2, n=16, angles=6, count=10, chunk=4, seed=5)
    with h5py.File(out2, "r") as f:
        assert np.array_equal(f["sinograms"][()], full)
    assert not partial.exists()
    # the image of the file equals the problem with its seed
    p = CT(n=16, angles=6, phantom="ellipses", seed=ct.image_seed(5, 9))
    ph, _, _ = ct.load(out, "test")
    assert np.allclose(ph[0], p.image(), atol=1e-6)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sciml.cli", *args], capture_output=True, text=True)


def test_cli_solve_json():
    r = _cli("solve", "ct", "--solver", "fbp", "-p", "n=32", "-p", "angles=20", "-o", "filter=hamming", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["problem"] == "ct" and out["reference"] == "exact" and out["errors"]["psnr"] > 15
    assert set(out["errors"]) == {"psnr", "ssim", "ssim_7x7", "rel_l2"}


@pytest.mark.parametrize("args, word", [
    (["-p", "n=4"], "n=4"), (["-p", "angles=0"], "angles"), (["-p", "detectors=0"], "detectors"),
    (["-p", "noise_level=-1"], "noise_level"), (["-p", "photons=0"], "photons"),
    (["-p", "phantom=cat"], "phantom"), (["-o", "filter=box"], "filter"),
])
def test_cli_bad_input_exit_2(args, word, capsys):
    code = main(["solve", "ct", "--solver", "fbp", *args, "--json"])
    err = capsys.readouterr().err
    assert code == 2 and word in err and "Traceback" not in err


def test_cli_data(tmp_path, capsys):
    out = tmp_path / "d.h5"
    assert main(["data", "ct-ellipses", "--out", str(out), "--n", "16", "--angles", "5", "--count", "6",
                 "--quiet"]) == 0
    assert out.exists()
    assert main(["data", "ct-ellipses", "--out", str(out), "--n", "4", "--quiet"]) == 2
    assert "n=4" in capsys.readouterr().err
