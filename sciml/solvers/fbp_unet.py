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

from ..core import (DataError, InvalidOption, Problem, Solution, Solver, SolverDiverged, check_choice, check_range, opt)
from ..progress import bar
from ..training import AcceleratorOptions

log = logging.getLogger(__name__)

__all__ = ["FBPUNet", "TrainedModel"]

_FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")
# options that change the trained weights (checked against a checkpoint)
_MODEL_KEYS = ("width", "depth", "norm", "filter", "frequency_scaling", "epochs", "batch_size", "lr",
               "crop", "train_size", "val_size", "data_seed")


@dataclass
class TrainedModel:
    """A trained network with the geometry and FBP settings it expects."""

    net: Any
    geometry: Any
    config: dict[str, Any]
    stats: dict[str, Any]
    device: Any

    def reconstruct(self, sinograms: np.ndarray, batch: int = 32) -> np.ndarray:
        """(B, A, D) or (A, D) sinograms -> images, FBP then the network."""
        import torch
        from operators.radon import Radon, fbp
        sino = np.asarray(sinograms, dtype=np.float64)
        single = sino.ndim == 2
        sino = sino[None] if single else sino
        self.geometry.check_sino(sino, "sinogram for fbp-unet")
        from ..torch_utils import keep_torch_threads
        with keep_torch_threads():       # Numba's OpenMP would reset torch's thread count
            x = fbp(Radon(self.geometry), sino, self.config["filter"], self.config["frequency_scaling"])
        out = np.empty_like(x)
        self.net.eval()
        with torch.no_grad():
            for i in range(0, x.shape[0], batch):
                t = torch.as_tensor(x[i:i + batch, None], dtype=torch.float32, device=self.device)
                out[i:i + batch] = (t + self.net(t)).cpu().numpy()[:, 0]
        return out[0] if single else out


@dataclass(frozen=True)
class FBPUNet(Solver, AcceleratorOptions):
    """U-Net post-processing of the FBP (see module docstring)."""

    name = "fbp-unet"
    requires = ("ct", "ct-phantoms")
    learned = True

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
    crop: int | None = None
    train_size: int = opt(256, lo=1)
    val_size: int = opt(32, lo=1)
    data_seed: int = opt(7, lo=0)

    def __post_init__(self) -> None:
        e = InvalidOption
        check_choice(self, "filter", self.filter, _FILTERS, error=e)
        if self.crop is not None:
            check_range(self, "crop", self.crop, lo=8, error=e)

    # ------------------------------------------------------------- config
    def model_config(self, problem: Problem) -> dict[str, Any]:
        cfg = {k: getattr(self, k) for k in _MODEL_KEYS}
        cfg["geometry"] = problem.geometry().config()
        cfg["data"] = None if self.data is None else str(Path(self.data).resolve())
        if self.data is None:
            cfg["noise"] = {"noise": problem.noise, "noise_level": problem.noise_level,
                            "photons": problem.photons, "inverse_crime": problem.inverse_crime,
                            "oversample": problem.oversample}
        return cfg

    # --------------------------------------------------------------- data
    def _training_data(self, problem: Problem, progress: bool):
        from ..datasets.ct import image_seed, load
        if self.data is not None:
            xtr, ytr, conf = load(self.data, "train")
            xva, yva, _ = load(self.data, "val")
            want = problem.geometry().config()
            if conf["geometry"] != want:
                diff = {k: (conf["geometry"].get(k), v) for k, v in want.items() if conf["geometry"].get(k) != v}
                raise DataError(f"fbp-unet: dataset {self.data} was made for another geometry: "
                                + ", ".join(f"{k} {a} (data) vs {b} (problem)" for k, (a, b) in diff.items()))
            if len(xva) == 0:
                raise DataError(f"fbp-unet: dataset {self.data} has an empty validation split")
            return xtr, ytr, xva, yva
        from dataclasses import replace
        total = self.train_size + self.val_size
        imgs = np.empty((total, problem.n, problem.n))
        sinos = np.empty((total, *problem.geometry().sino_shape))
        with bar(total, "fbp-unet data", progress) as pb:
            for k in range(total):
                pk = replace(problem, phantom="ellipses", seed=image_seed(self.data_seed, k))
                imgs[k], sinos[k] = pk.image(), pk.sinogram()
                pb.update(1)
        t = self.train_size
        return imgs[:t], sinos[:t], imgs[t:], sinos[t:]

    # ------------------------------------------------------------ training
    def _fbp(self, geometry, sinos: np.ndarray) -> np.ndarray:
        from operators.radon import Radon, fbp
        return fbp(Radon(geometry), np.asarray(sinos, dtype=np.float64), self.filter,
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
            xtr, ytr, xva, yva = self._training_data(problem, progress)
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
        best: list[Any] = [-math.inf, None, -1]
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
            model = TrainedModel(net, geom, {"filter": self.filter, "frequency_scaling": self.frequency_scaling},
                                 {}, dev)
            vp = _mean_psnr(_apply(model, fva), xva)
            val_history.append(vp)
            log.info("fbp-unet epoch %d: val psnr %.2f dB", epoch, vp)
            if not math.isfinite(vp):  # a finite loss, a network whose output is not (lr far too large)
                raise SolverDiverged(f"{self.name}: validation PSNR = {vp} after epoch {epoch} (step {step + 1}, "
                                     f"loss {lv:.3g}): the network's output is not finite; lower lr={self.lr:g}",
                                     step=step + 1, loss=lv)
            if vp > best[0]:
                best[:] = [vp, {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}, epoch]

        rec = train(net.parameters(), loss_fn, steps=total, lr=self.lr, solver=self.name,
                    schedule=lambda opt: torch.optim.lr_scheduler.OneCycleLR(
                        opt, max_lr=self.lr, total_steps=total, pct_start=0.1),
                    after_step=after_epoch, progress=progress, desc="fbp-unet train", world=world,
                    precision=self.precision, device=dev)
        step, history = rec.steps, rec.loss_history
        t1 = time.perf_counter() - rec.train_s
        net.load_state_dict(best[1])
        net.eval()
        stats = {"train_wall_s": time.perf_counter() - t1, "data_wall_s": data_s, "steps": step,
                 "parameters": count_parameters(net), "best_epoch": best[2], "val_psnr": best[0],
                 "val_psnr_history": val_history, "loss_history": np.asarray(history),
                 "train_images": n_train, "device": str(dev)}
        return TrainedModel(net, geom, self.model_config(problem), stats, dev)

    # ---------------------------------------------------------- checkpoints
    def _load(self, problem: Problem, device: str) -> TrainedModel | None:
        import torch
        from operators.unet import build_unet
        from .. import io
        from ..torch_utils import torch_device
        path = Path(self.checkpoint)
        if self.retrain or not path.exists():
            return None
        config, arrays = io.load_checkpoint(path)
        want = self.model_config(problem)
        if config.get("geometry") != want["geometry"]:
            diff = [f"{k} {config.get('geometry', {}).get(k)} (checkpoint) vs {v} (problem)"
                    for k, v in want["geometry"].items() if config.get("geometry", {}).get(k) != v]
            raise DataError(f"fbp-unet: checkpoint {path} was trained for another geometry: " + ", ".join(diff))
        other = [k for k in want if k != "geometry" and json_eq(config.get(k), want[k]) is False]
        if other:
            raise DataError(f"fbp-unet: checkpoint {path} was trained with other options: "
                            + ", ".join(f"{k}={config.get(k)!r} (checkpoint) vs {want[k]!r}" for k in other)
                            + "; pass the same options, another checkpoint path, or retrain=true")
        dev = torch_device(device)
        net = build_unet(1, 1, self.width, self.depth, self.norm)
        net.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items() if not k.startswith("_stats.")})
        net.to(dev).eval()
        stats = dict(config.get("stats", {}))
        stats["loaded_from"] = str(path)
        from operators.radon import Geometry
        return TrainedModel(net, Geometry(**config["geometry"]), config, stats, dev)

    def _save(self, model: TrainedModel) -> None:
        from .. import io
        arrays = {k: v.detach().cpu().numpy() for k, v in model.net.state_dict().items()}
        stats = {k: v for k, v in model.stats.items() if not isinstance(v, np.ndarray)}
        arrays["_stats.loss_history"] = np.asarray(model.stats.get("loss_history", []))
        io.save_checkpoint(self.checkpoint, {**model.config, "stats": stats}, arrays)

    def model(self, problem: Problem, *, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> TrainedModel:
        """The trained network for ``problem``'s geometry: loaded from the
        checkpoint when it matches, else trained (and saved if a path is set)."""
        self.check_problem(problem)
        if self.checkpoint is not None:
            loaded = self._load(problem, device)
            if loaded is not None:
                return loaded
        model = self.train(problem, seed=seed, device=device, progress=progress)
        if self.checkpoint is not None and _rank() == 0:  # the ranks hold the same weights: one writes
            self._save(model)
        return model

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from problems.tomography import image_solution
        from ..torch_utils import count_parameters
        t0 = time.perf_counter()
        model = self.model(problem, seed=seed, device=device, progress=progress)
        t1 = time.perf_counter()
        img = model.reconstruct(np.asarray(problem.sinogram()))
        stats = dict(model.stats)
        stats.update({"reconstruct_wall_s": time.perf_counter() - t1, "model_wall_s": t1 - t0,
                      "parameters": count_parameters(model.net)})
        return image_solution(img, stats)


def _rank() -> int:
    """This process's rank under torchrun (0 alone)."""
    import os
    return int(os.environ.get("RANK", "0"))


def json_eq(a: Any, b: Any) -> bool:
    """Compare a JSON-loaded value with a Python one (tuples vs lists, ints vs floats)."""
    import json
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def _apply(model: TrainedModel, fbp_imgs: np.ndarray, batch: int = 32) -> np.ndarray:
    import torch
    out = np.empty(fbp_imgs.shape, dtype=np.float32)
    model.net.eval()
    with torch.no_grad():
        for i in range(0, len(fbp_imgs), batch):
            t = torch.as_tensor(fbp_imgs[i:i + batch, None], device=model.device)
            out[i:i + batch] = (t + model.net(t)).cpu().numpy()[:, 0]
    return out


def _mean_psnr(images: np.ndarray, truths: np.ndarray) -> float:
    from ..metrics import psnr
    return float(np.mean([psnr(a, b) for a, b in zip(images, truths)]))
