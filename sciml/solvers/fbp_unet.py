"""FBP + U-Net ("FBPConvNet", Jin, McCann, Froustey, Unser 2017): a U-Net trained
to map the filtered back-projection to the phantom, with residual learning
(output = FBP + U-Net(FBP)).

Training data: the HDF5 set of ``sciml data ct-ellipses`` (option ``data``;
train split for the weights, val split to pick the best epoch), or, when
``data`` is None, ``train_size`` + ``val_size`` ellipse phantoms simulated in
memory for the problem's geometry and noise (dataset seed ``data_seed``).
Checkpoints (option ``checkpoint``) hold the weights and the configuration;
an existing checkpoint whose configuration matches is loaded, not retrained;
one trained for another geometry (or other options) is a DataError naming
what differs (``retrain=true`` overwrites it).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..core import InvalidOption, Problem, Solver, opt
from ..training import AcceleratorOptions
from .ct_learning import CTLearning, CTModel, Selection, apply_batched, mean_psnr, training_data

log = logging.getLogger(__name__)

__all__ = ["FBPUNet", "TrainedModel"]

# options that change the trained weights (checked against a checkpoint)
_MODEL_KEYS = ("width", "depth", "norm", "filter", "frequency_scaling", "epochs", "batch_size", "lr",
               "crop", "train_size", "val_size", "data_seed")


class TrainedModel(CTModel):
    """A trained U-Net with the geometry and FBP settings it expects: FBP, then the network."""

    solver, input_dtype, batch = "fbp-unet", np.float64, 32  # see CTModel

    def _reconstruct(self, sino: np.ndarray, batch: int) -> np.ndarray:
        from operators.radon import fbp, projector
        from ..torch_utils import keep_torch_threads
        with keep_torch_threads():       # Numba's OpenMP would reset torch's thread count
            x = fbp(projector(self.geometry), sino, self.config["filter"], self.config["frequency_scaling"])
        return _apply(self, x, batch, out=np.empty_like(x))


@dataclass(frozen=True)
class FBPUNet(CTLearning, Solver, AcceleratorOptions):
    """U-Net post-processing of the FBP (see module docstring)."""

    name = "fbp-unet"
    requires = ("ct", "ct-phantoms")
    learned = True
    model_keys = _MODEL_KEYS
    model_class = TrainedModel

    data: str | None = None
    checkpoint: str | None = None
    retrain: bool = False
    width: int = opt(32, lo=1, hi=1024)
    depth: int = opt(4, lo=0, hi=8)
    norm: Literal["batch", "group", "none"] = "batch"
    filter: Literal["ram-lak", "shepp-logan", "cosine", "hamming", "hann"] = "hann"
    frequency_scaling: float = opt(1.0, lo=0, hi=1, lo_open=True)
    epochs: int = opt(20, lo=1, hi=10**6)
    batch_size: int = opt(16, lo=1, hi=10**5)
    lr: float = opt(1e-3, lo=0, lo_open=True)
    crop: int | None = opt(None, lo=8)
    train_size: int = opt(256, lo=1)
    val_size: int = opt(32, lo=1)
    data_seed: int = opt(7, lo=0)

    # ------------------------------------------------------------ training
    def _fbp(self, geometry, sinos: np.ndarray) -> np.ndarray:
        from operators.radon import fbp, projector
        return fbp(projector(geometry), np.asarray(sinos, dtype=np.float64), self.filter,
                   self.frequency_scaling).astype(np.float32)

    def train(self, problem: Problem, *, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> TrainedModel:
        import torch
        from operators.unet import build_unet
        from .. import distributed as D
        from ..torch_utils import count_parameters, keep_torch_threads, seeded, torch_device
        from ..training import autocast_dtype, compiled, train
        dev = torch_device(device)
        autocast_dtype(self.precision, dev, solver=self.name)  # refuse before any work
        world = D.world(dev)  # torchrun: data-parallel training
        dev = D.rank_device(dev, world)
        if world.active and self.norm == "batch":
            raise InvalidOption(f"{self.name}: norm='batch' is not supported with several processes "
                                "(each rank would normalise by its own batch); use norm=group")
        geom = problem.geometry()
        t0 = time.perf_counter()
        with keep_torch_threads():       # Numba's OpenMP would reset torch's thread count
            xtr, ytr, xva, yva = training_data(self, problem, progress)
            ftr, fva = self._fbp(geom, ytr), self._fbp(geom, yva)
        data_s = time.perf_counter() - t0
        with seeded(seed, str(dev)):
            net = build_unet(1, 1, self.width, self.depth, self.norm).to(dev)
        n_train = len(ftr)
        steps_per_epoch = max(1, math.ceil(n_train / self.batch_size))
        total = self.epochs * steps_per_epoch
        if world.active:  # every batch, the last one of an epoch too, splits evenly over the ranks
            D.local_slice(self.batch_size, world, solver=self.name)
            D.local_slice(n_train - (steps_per_epoch - 1) * self.batch_size, world,
                          solver=f"{self.name} (last batch of an epoch)")
        train_net = compiled(D.wrap(net, world, dev), self.compile, solver=self.name)
        rng = np.random.default_rng([int(seed), 17])
        Ftr = torch.as_tensor(ftr[:, None])
        Xtr = torch.as_tensor(np.asarray(xtr, dtype=np.float32)[:, None])
        val_history: list[float] = []
        best = Selection(net, self.name, self.lr)
        perm: list[Any] = [None]

        def loss_fn(step: int) -> Any:
            b = step % steps_per_epoch
            if b == 0:
                net.train()
                perm[0] = rng.permutation(n_train)
            idx = torch.as_tensor(perm[0][b * self.batch_size:(b + 1) * self.batch_size])
            fb, xb = Ftr[idx], Xtr[idx]
            if self.crop is not None and self.crop < fb.shape[-1]:
                i0, j0 = rng.integers(0, fb.shape[-1] - self.crop + 1, 2)
                fb = fb[..., i0:i0 + self.crop, j0:j0 + self.crop]
                xb = xb[..., i0:i0 + self.crop, j0:j0 + self.crop]
            part = D.local_slice(len(idx), world, solver=self.name)
            fb, xb = fb[part].to(dev), xb[part].to(dev)
            return torch.mean((fb + train_net(fb) - xb) ** 2)

        def after_epoch(step: int, lv: float) -> None:
            if (step + 1) % steps_per_epoch:
                return
            epoch = step // steps_per_epoch
            model = TrainedModel(net, geom, {}, {}, dev)
            vp = _mean_psnr(_apply(model, fva), xva)
            val_history.append(vp)
            log.info("fbp-unet epoch %d: val psnr %.2f dB", epoch, vp)
            best.update(vp, epoch, where=f"after epoch {epoch} (step {step + 1}, loss {lv:.3g})",
                        step=step + 1, loss=lv)

        rec = train(net.parameters(), loss_fn, steps=total, lr=self.lr, solver=self.name,
                    schedule=lambda opt: torch.optim.lr_scheduler.OneCycleLR(
                        opt, max_lr=self.lr, total_steps=total, pct_start=0.1),
                    after_step=after_epoch, progress=progress, desc="fbp-unet train", world=world,
                    precision=self.precision, device=dev)
        step, history = rec.steps, rec.loss_history
        t1 = time.perf_counter() - rec.train_s
        best.restore()
        stats = {"train_wall_s": time.perf_counter() - t1, "data_wall_s": data_s, "steps": step,
                 "parameters": count_parameters(net), "best_epoch": best.at, "val_psnr": best.psnr,
                 "val_psnr_history": val_history, "loss_history": np.asarray(history),
                 "train_images": n_train, "device": str(dev)}
        return TrainedModel(net, geom, self.model_config(problem), stats, dev)

    # ---------------------------------------------------------- checkpoints
    def _network(self, problem: Problem, config: dict[str, Any], device: Any) -> tuple[Any, Any]:
        """An untrained U-Net on ``device`` and the geometry (the checkpoint's, checked equal to the problem's)."""
        from operators.unet import build_unet
        return build_unet(1, 1, self.width, self.depth, self.norm).to(device), problem.geometry()


def _apply(model: TrainedModel, fbp_imgs: np.ndarray, batch: int = 32, out: np.ndarray | None = None) -> np.ndarray:
    """FBP images (B, n, n) -> FBP + U-Net(FBP), computed in float32 (into ``out``, float32 by default)."""
    import torch
    model.net.eval()
    out = np.empty(fbp_imgs.shape, np.float32) if out is None else out
    return apply_batched(lambda t: (t + model.net(t))[:, 0], fbp_imgs[:, None], out, batch=batch,
                         device=model.device, dtype=torch.float32)


_mean_psnr = mean_psnr  # validation PSNR (a module attribute: a test replaces it)
