"""Learned operators: FNO layers, DeepONet, U-Net, training on Darcy, checkpoints, zero-shot, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("dolfinx")

from operators.deeponet import DeepONetModule  # noqa: E402
from operators.fno import (FNO1d, FNO2d, SpectralConv1d, SpectralConv2d,  # noqa: E402
                           fft_friendly_padding, largest_prime_factor)
from operators.unet_operator import UNet2d  # noqa: E402
from sciml import registry  # noqa: E402
from sciml.cli import main  # noqa: E402
from sciml.core import InvalidOption  # noqa: E402
from sciml.evaluate import evaluate  # noqa: E402
from sciml.solvers.operator_learning import load_operator  # noqa: E402


# ---------------------------------------------------------- spectral layers
def _band_limited(n: int, dims: int, kmax: int) -> torch.Tensor:
    """Two channels of a random trigonometric polynomial of degree < kmax on n^dims points of [0, 1)."""
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(n, dtype=torch.float64) / n
    out = torch.zeros((1, 2) + (n,) * dims, dtype=torch.float64)
    for _ in range(6):
        k = torch.randint(0, kmax, (dims,), generator=gen).double()
        ph = torch.rand(dims, generator=gen, dtype=torch.float64) * 6.28
        term = torch.ones((n,) * dims, dtype=torch.float64)
        for d in range(dims):
            shape = [1] * dims
            shape[d] = n
            term = term * torch.cos(2 * torch.pi * k[d] * t + ph[d]).reshape(shape)
        out = out + torch.randn((1, 2) + (1,) * dims, generator=gen, dtype=torch.float64) * term
    return out


@pytest.mark.parametrize("dims", [1, 2])
def test_spectral_convolution_is_resolution_independent(dims):
    """On a band-limited input the Fourier layer gives the same function at 16 and 32 points."""
    torch.manual_seed(0)
    layer = (SpectralConv1d if dims == 1 else SpectralConv2d)(2, 3, 5).double()
    coarse = layer(_band_limited(16, dims, 4))
    fine = layer(_band_limited(32, dims, 4))
    sub = fine[..., ::2] if dims == 1 else fine[..., ::2, ::2]
    torch.testing.assert_close(coarse, sub, rtol=0, atol=1e-12)
    assert coarse.abs().max() > 1e-3


def test_fno_shapes_padding_and_modes_check():
    torch.manual_seed(0)
    f1 = FNO1d(1, modes=6, width=8, layers=2, padding=3)
    assert f1(torch.randn(4, 20, 1)).shape == (4, 20)
    f2 = FNO2d(1, modes=5, width=8, layers=2, padding=2)
    assert f2(torch.randn(3, 13, 13, 1)).shape == (3, 13, 13)
    assert f2(torch.randn(3, 21, 21, 1)).shape == (3, 21, 21)  # another resolution, same weights
    with pytest.raises(InvalidOption, match="modes=5"):
        f2(torch.randn(1, 7, 7, 1))  # 7 + 2 padding points carry at most 4 modes


def test_fft_friendly_padding():
    """The FNO paper's 85 + 9 = 94 = 2 x 47 is moved to 96 = 2^5 x 3; friendly sizes stay."""
    assert largest_prime_factor(94) == 47 and largest_prime_factor(96) == 3
    assert largest_prime_factor(1) == 1 and largest_prime_factor(97) == 97
    assert fft_friendly_padding(85, 9) == 11
    assert fft_friendly_padding(32, 4) == 4          # 36 = 2^2 3^2
    for n in range(2, 300):
        p = fft_friendly_padding(n, 0)
        assert largest_prime_factor(n + p) <= 7
        assert all(largest_prime_factor(n + q) > 7 for q in range(p))


def test_deeponet_and_unet_shapes():
    torch.manual_seed(0)
    net = DeepONetModule(res=17, sensor_stride=4, width=16, depth=2, p=8)
    assert net(torch.randn(2, 17, 17)).shape == (2, 17, 17)
    assert net(torch.randn(2, 17, 17), res=33).shape == (2, 33, 33)
    with pytest.raises(InvalidOption, match="17 x 17"):
        net(torch.randn(2, 21, 21))
    unet = UNet2d(1, base=4, levels=2)
    assert unet(torch.randn(2, 17, 19, 1)).shape == (2, 17, 19)


# ------------------------------------------------------ training on Darcy
@pytest.fixture(scope="module")
def trained_fno(tmp_path_factory):
    """A small FNO at res 32 with 200 training samples (the issue's test size)."""
    ckpt = tmp_path_factory.mktemp("fno") / "fno.ckpt.h5"
    problem = registry.make_problem("darcy", res=32, n_train=200, n_test=50, seed=0, eval_res=(48,))
    solver = registry.make_solver("fno", modes=8, width=16, layers=4, padding=4, epochs=20, batch=5,
                                  lr=3e-3, schedule="cosine", checkpoint=str(ckpt))
    return problem, solver, evaluate(problem, solver, "darcy-fem", seed=0), ckpt


def test_small_fno_learns_the_darcy_operator(trained_fno):
    _, _, rec, _ = trained_fno
    assert rec.errors["rel_l2"] < 5e-2
    assert rec.errors["rel_l2"] <= rec.errors["rel_l2_max"]
    assert 0 < rec.errors["h1"] < 1
    assert rec.reference_stats["max_diff_vs_data"] < 1e-12  # the reference reproduces the data
    for key in ("train_s", "infer_s_per_sample", "fem_s_per_sample", "fem_over_infer"):
        assert rec.errors[key] > 0


def test_checkpoint_reload_gives_identical_predictions(trained_fno):
    problem, solver, rec, ckpt = trained_fno
    model = load_operator(str(ckpt))
    a_test, _ = problem.test_set()
    before = torch.get_num_threads()
    torch.set_num_threads(solver.threads)  # bitwise equality needs the same reduction order
    try:
        np.testing.assert_array_equal(model.predict(a_test, batch=solver.batch), rec.state["u_pred"])
    finally:
        torch.set_num_threads(before)
    again = evaluate(problem, registry.make_solver("fno", load=str(ckpt), epochs=0, batch=solver.batch),
                     "darcy-fem", seed=1)
    np.testing.assert_array_equal(again.state["u_pred"], rec.state["u_pred"])
    assert again.errors["rel_l2"] == rec.errors["rel_l2"]


def test_zero_shot_second_resolution_reports_an_error(trained_fno):
    _, _, rec, _ = trained_fno
    assert rec.state["u_pred@res48"].shape == (50, 48, 48)
    err = rec.errors["rel_l2@res48"]
    assert np.isfinite(err) and 0 < err < 0.5


def test_same_seed_same_numbers_and_json_contract(capsys):
    argv = ["solve", "darcy", "--solver", "deeponet", "-p", "res=16", "-p", "n_train=20", "-p", "n_test=5",
            "-o", "epochs=3", "-o", "width=16", "-o", "p=8", "--json", "--quiet"]
    outs = []
    for _ in range(2):
        assert main(argv) == 0
        outs.append(json.loads(capsys.readouterr().out))
    errs = outs[0]["errors"]
    assert {"rel_l2", "rel_l2_max", "h1"} <= set(errs) and outs[0]["reference"] == "darcy-fem"
    assert errs["rel_l2"] == outs[1]["errors"]["rel_l2"]


def test_unet_trains_and_lowers_the_loss():
    problem = registry.make_problem("darcy", res=16, n_train=40, n_test=8)
    rec = evaluate(problem, registry.make_solver("unet", base=8, levels=2, epochs=6, batch=5, lr=3e-3),
                   "darcy-fem", seed=0)
    hist = rec.stats["loss_history"]
    assert hist[-1] < hist[0] and np.isfinite(rec.errors["rel_l2"])


def test_reloading_a_foreign_or_corrupt_checkpoint_is_a_data_error(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"junk" * 50)
    rc = main(["solve", "darcy", "--solver", "fno", "-p", "res=16", "-p", "n_train=4", "-p", "n_test=2",
               "-o", f"load={bad}", "-o", "epochs=0"])
    assert rc == 2 and "bad.h5" in capsys.readouterr().err
