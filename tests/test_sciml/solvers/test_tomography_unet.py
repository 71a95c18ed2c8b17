"""fbp-unet: a small U-Net beats FBP on held-out images; checkpoints are reused
when the configuration matches and refused, with a clear error, otherwise."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from ct_learning_checks import check_checkpoint_reused  # noqa: E402
from operators.radon import Radon, fbp  # noqa: E402
from problems.tomography import CT  # noqa: E402
from sciml import registry  # noqa: E402
from sciml.cli import main  # noqa: E402
from sciml.core import DataError  # noqa: E402
from sciml.metrics import psnr  # noqa: E402

# sparse-view setting where FBP has streaks a network can learn to remove
GEOM = dict(n=64, angles=15, phantom="ellipses")
# batch 2 with group normalisation: at this budget the network under-fits (training and
# validation PSNR agree), and the number of Adam steps is what helps most (measured:
# batch 16 / 240 steps +1.14 dB, batch 4 / 960 steps +1.87 dB, batch 2 / 1920 steps +2.16 dB)
OPTS = dict(width=16, depth=3, epochs=12, train_size=320, val_size=32, batch_size=2, lr=5e-3, norm="group")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch
    # one intra-op thread: small convolutions gain nothing from two, and on a
    # shared machine OpenMP barriers with a descheduled thread cost seconds
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ckpt = tmp_path_factory.mktemp("ct") / "unet.h5"
        solver = registry.make_solver("fbp-unet", checkpoint=str(ckpt), **OPTS)
        model = solver.model(CT(**GEOM), seed=0)
        yield solver, model, ckpt
    finally:
        torch.set_num_threads(threads)


def _gains(model) -> list[float]:
    """PSNR gain of the U-Net over FBP (hann) on held-out problems (seeds 0..15 are
    never dataset seeds) at 2.5 % noise."""
    gain = []
    for seed in range(16):
        p = CT(**GEOM, seed=seed)
        y = p.sinogram()
        gain.append(psnr(model.reconstruct(y), p.image())
                    - psnr(fbp(Radon(p.geometry()), y, "hann"), p.image()))
    return gain


def test_unet_beats_fbp_on_every_held_out_image(trained):
    """The learned reconstruction improves on its own input (the FBP) on every held-out image."""
    _, model, _ = trained
    gain = _gains(model)
    assert min(gain) > 0, gain
    assert model.stats["train_images"] == 320 and model.stats["parameters"] > 0


def test_unet_reaches_the_2db_target(trained):
    """Issue 5: the small U-Net beats FBP (hann) by at least 2 dB in mean PSNR on 16 held-out images."""
    _, model, _ = trained
    assert np.mean(_gains(model)) >= 2.0


def test_checkpoint_reused_not_retrained(trained):
    solver, model, ckpt = trained
    check_checkpoint_reused(solver, model, ckpt, CT(**GEOM, seed=3))


def test_checkpoint_geometry_mismatch_is_clear(trained, capsys):
    solver, _, ckpt = trained
    with pytest.raises(DataError, match=r"another geometry: angles 15 \(checkpoint\) vs 20"):
        solver.model(CT(n=64, angles=20, phantom="ellipses"))
    with pytest.raises(DataError, match=r"other options: width=16"):
        registry.make_solver("fbp-unet", checkpoint=str(ckpt), **{**OPTS, "width": 8}).model(CT(**GEOM))
    args = ["solve", "ct", "--solver", "fbp-unet", "-p", "n=64", "-p", "angles=20", "-p", "phantom=ellipses",
            "-o", f"checkpoint={ckpt}"]
    for k, v in OPTS.items():
        args += ["-o", f"{k}={v}"]
    assert main(args + ["--json"]) == 2
    assert "geometry" in capsys.readouterr().err


def test_sinogram_shape_mismatch(trained):
    _, model, _ = trained
    with pytest.raises(Exception, match="does not match the geometry"):
        model.reconstruct(np.zeros((10, 91)))


def test_fan_beam_trains_and_reloads(tmp_path):
    """fbp-unet on a full-scan fan-beam geometry: FBP through the fan projector, and a
    checkpoint reloads with the fan geometry (same reconstruction, bitwise)."""
    p = CT(n=16, angles=24, beam="fan", angle_range=360, phantom="ellipses", seed=2)
    solver = registry.make_solver("fbp-unet", train_size=4, val_size=1, epochs=1, batch_size=2, width=4, depth=1,
                                  checkpoint=str(tmp_path / "fan.h5"))
    model = solver.model(p)
    again = solver.model(p)
    assert again.stats["loaded_from"] == str(tmp_path / "fan.h5") and type(again.geometry).__name__ == "FanGeometry"
    assert np.array_equal(again.reconstruct(p.sinogram()), model.reconstruct(p.sinogram()))
