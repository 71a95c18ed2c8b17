"""What the learned CT solvers (``fbp-unet``, ``learned-primal-dual``) share.

* :func:`training_data`: the train and validation images and sinograms of a
  CT problem, from a ``sciml data ct-ellipses`` file (whose geometry must be
  the problem's) or simulated for the problem's geometry and noise.
* :class:`CTLearning`: the solver side (a mixin of the frozen solver
  dataclasses): the configuration that a checkpoint must match, loading a
  matching checkpoint or training (and saving), and ``_solve``.
* :class:`CTModel`: a trained network with its geometry, configuration and
  statistics; ``reconstruct`` of a sinogram or a batch of them.
* :class:`Selection`: model selection on the validation PSNR during
  training (a non-finite PSNR is :class:`~sciml.core.SolverDiverged`).

Each solver keeps its own network, loss and training schedule.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core import DataError, Problem, Solution, SolverDiverged
from ..progress import bar

log = logging.getLogger(__name__)

__all__ = ["CTLearning", "CTModel", "Selection", "training_data", "json_eq", "mean_psnr", "apply_batched"]


# --------------------------------------------------------------------- data
def _geometry_diff(have: dict[str, Any], want: dict[str, Any], source: str) -> str:
    return ", ".join(f"{k} {have.get(k)} ({source}) vs {v} (problem)" for k, v in want.items() if have.get(k) != v)


def training_data(solver: Any, problem: Problem, progress: bool,
                  val_limit: int | None = None) -> tuple[np.ndarray, ...]:
    """(train images, train sinograms, val images, val sinograms) for ``solver``
    (its options ``data``, ``train_size``, ``val_size``, ``data_seed``).

    From the file ``solver.data``: its train split and its val split (the first
    ``val_limit`` images when given), after checking that it was made for the
    problem's geometry (else a DataError naming what differs).  Without a
    file: ``train_size`` + ``val_size`` ellipse phantoms simulated with the
    problem's geometry and noise, image ``k`` with seed ``image_seed(data_seed, k)``
    (float64)."""
    from ..datasets.ct import image_seed, load
    if solver.data is not None:
        xtr, ytr, conf = load(solver.data, "train")
        xva, yva, _ = load(solver.data, "val")
        want = problem.geometry().config()
        if conf["geometry"] != want:
            raise DataError(f"{solver.name}: dataset {solver.data} was made for another geometry: "
                            + _geometry_diff(conf["geometry"], want, "data"))
        if len(xva) == 0:
            raise DataError(f"{solver.name}: dataset {solver.data} has an empty validation split")
        if val_limit is not None:
            xva, yva = xva[:val_limit], yva[:val_limit]
        return xtr, ytr, xva, yva
    geom = problem.geometry()
    total = solver.train_size + solver.val_size
    imgs = np.empty((total, *geom.image_shape))
    sinos = np.empty((total, *geom.sino_shape))
    with bar(total, f"{solver.name} data", progress) as pb:
        for k in range(total):
            pk = replace(problem, phantom="ellipses", seed=image_seed(solver.data_seed, k))
            imgs[k], sinos[k] = pk.image(), pk.sinogram()
            pb.update(1)
    t = solver.train_size
    return imgs[:t], sinos[:t], imgs[t:], sinos[t:]


def mean_psnr(images: np.ndarray, truths: np.ndarray) -> float:
    """The mean PSNR (dB) of ``images`` against ``truths``, image by image."""
    from ..metrics import psnr
    return float(np.mean([psnr(a, b) for a, b in zip(images, truths)]))


def json_eq(a: Any, b: Any) -> bool:
    """Compare a JSON-loaded value with a Python one (tuples vs lists, ints vs floats)."""
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def apply_batched(fn: Callable[[Any], Any], inputs: np.ndarray, out: np.ndarray, *, batch: int, device: Any,
                  dtype: Any = None) -> np.ndarray:
    """``out[i] = fn(inputs[i])`` under ``torch.no_grad``, ``batch`` inputs at a time
    (converted to a tensor of ``dtype`` on ``device``)."""
    import torch
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            t = torch.as_tensor(inputs[i:i + batch], dtype=dtype, device=device)
            out[i:i + batch] = fn(t).cpu().numpy()
    return out


# -------------------------------------------------------------------- model
@dataclass
class CTModel:
    """A trained network with the geometry it expects, its configuration and statistics.

    Subclasses set ``solver`` (for messages), ``input_dtype`` and ``batch``
    and write ``_reconstruct`` of a (B, A, D) batch of checked sinograms."""

    net: Any
    geometry: Any
    config: dict[str, Any]
    stats: dict[str, Any]
    device: Any

    solver = "ct"
    input_dtype = np.float64
    batch = 32

    def reconstruct(self, sinograms: np.ndarray, batch: int | None = None) -> np.ndarray:
        """(B, A, D) or (A, D) sinograms -> (B, n, n) or (n, n) images."""
        sino = np.asarray(sinograms, dtype=self.input_dtype)
        single = sino.ndim == 2
        sino = sino[None] if single else sino
        self.geometry.check_sino(sino, f"sinogram for {self.solver}")
        out = self._reconstruct(sino, self.batch if batch is None else batch)
        return out[0] if single else out

    def _reconstruct(self, sino: np.ndarray, batch: int) -> np.ndarray:
        raise NotImplementedError


class Selection:
    """Model selection on the validation PSNR: keeps the best weights of ``net``
    (and where they were reached); a non-finite PSNR is SolverDiverged."""

    def __init__(self, net: Any, solver: str, lr: float) -> None:
        self.net, self.solver, self.lr = net, solver, lr
        self.psnr, self.state, self.at = -math.inf, None, -1

    def update(self, psnr: float, at: int, *, where: str, step: int, loss: float) -> None:
        """Record the PSNR reached at ``at`` (an epoch or a step; ``where`` says where,
        with the loss, for the message; ``step``, ``loss``: the training loop's)."""
        if not math.isfinite(psnr):  # a finite loss, a network whose output is not (lr far too large)
            raise SolverDiverged(f"{self.solver}: validation PSNR = {psnr} {where}: "
                                 f"the network's output is not finite; lower lr={self.lr:g}", step=step, loss=loss)
        if psnr > self.psnr:
            self.psnr, self.at = psnr, at
            self.state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}

    def restore(self) -> None:
        """Load the best weights into the network and set it to evaluation mode."""
        self.net.load_state_dict(self.state)
        self.net.eval()


# ------------------------------------------------------------------- solver
class CTLearning:
    """The shared half of a learned CT solver (a mixin of its frozen dataclass).

    The solver declares ``model_keys`` (the options that change the trained
    weights), ``model_class`` (its :class:`CTModel`), ``train(problem, *, seed,
    device, progress, ...)`` and ``_network(problem, config, device) -> (net,
    geometry)`` (an untrained network on ``device`` for a checkpoint's
    configuration)."""

    model_keys: tuple[str, ...] = ()
    model_class: type = CTModel

    def model_config(self, problem: Problem) -> dict[str, Any]:
        """The configuration a checkpoint must match: the options in ``model_keys``,
        the geometry, the data file, or the noise of simulated data."""
        cfg: dict[str, Any] = {k: getattr(self, k) for k in self.model_keys}
        cfg["geometry"] = problem.geometry().config()
        cfg["data"] = None if self.data is None else str(Path(self.data).resolve())
        if self.data is None:
            cfg["noise"] = {"noise": problem.noise, "noise_level": problem.noise_level,
                            "photons": problem.photons, "inverse_crime": problem.inverse_crime,
                            "oversample": problem.oversample}
        return cfg

    def _load(self, problem: Problem, device: str) -> CTModel | None:
        """The checkpoint's model when it exists and matches (None when absent or
        ``retrain``); a DataError naming what differs otherwise."""
        import torch
        from .. import io
        from ..torch_utils import torch_device
        path = Path(self.checkpoint)
        if self.retrain or not path.exists():
            return None
        config, arrays = io.load_checkpoint(path)
        want = self.model_config(problem)
        have_geom = config.get("geometry") or {}
        if have_geom != want["geometry"]:
            raise DataError(f"{self.name}: checkpoint {path} was trained for another geometry: "
                            + _geometry_diff(have_geom, want["geometry"], "checkpoint"))
        other = [k for k in want if k != "geometry" and not json_eq(config.get(k), want[k])]
        if other:
            raise DataError(f"{self.name}: checkpoint {path} was trained with other options: "
                            + ", ".join(f"{k}={config.get(k)!r} (checkpoint) vs {want[k]!r}" for k in other)
                            + "; pass the same options, another checkpoint path, or retrain=true")
        dev = torch_device(device)
        net, geom = self._network(problem, config, dev)
        net.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items() if not k.startswith("_stats.")})
        net.eval()
        stats = dict(config.get("stats", {}))
        stats["loaded_from"] = str(path)
        return self.model_class(net, geom, config, stats, dev)

    def _save(self, model: CTModel) -> None:
        from .. import io
        arrays = {k: v.detach().cpu().numpy() for k, v in model.net.state_dict().items()}
        stats = {k: v for k, v in model.stats.items() if not isinstance(v, np.ndarray)}
        arrays["_stats.loss_history"] = np.asarray(model.stats.get("loss_history", []))
        io.save_checkpoint(self.checkpoint, {**model.config, "stats": stats}, arrays)

    def _train_model(self, problem: Problem, **kw: Any) -> CTModel:
        return self.train(problem, **kw)

    def model(self, problem: Problem, *, seed: int = 0, device: str = "cpu", progress: bool = False,
              **train_options: Any) -> CTModel:
        """The trained network for ``problem``'s geometry: loaded from the
        checkpoint when it matches, else trained (``train_options`` go to
        ``train``) and saved if a path is set."""
        self.check_problem(problem)
        if self.checkpoint is not None:
            loaded = self._load(problem, device)
            if loaded is not None:
                return loaded
        model = self._train_model(problem, seed=seed, device=device, progress=progress, **train_options)
        if self.checkpoint is not None and int(os.environ.get("RANK", "0")) == 0:  # torchrun: one rank writes
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
