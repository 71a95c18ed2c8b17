"""Learned primal-dual reconstruction (Adler and Öktem, IEEE TMI 37 (2018) 1322).

The network unrolls ``n_iter`` iterations of a primal-dual scheme in which
both proximal steps are replaced by small CNNs, with the forward operator K
and its adjoint applied inside (the Joseph matrix of the torch projectors,
parallel or fan beam, held as CSR matrices by :class:`SparseProjector`,
scaled by its operator norm so that ||K|| = 1).  With a primal memory f (``n_primal`` images) and a
dual memory h (``n_dual`` sinograms), both starting at zero::

    for i in 1..n_iter:
        h <- h + Gamma_i([h, K f[1], g])        # dual step,   data space
        f <- f + Lambda_i([f, K^T h[0]])        # primal step, image space
    return f[0]

(``f[1]`` is ``f[0]`` when ``n_primal`` = 1).  Every Gamma_i and Lambda_i is
its own 3-layer CNN: 3x3 convolutions with ``width`` channels, PReLU after
the first two (Xavier-initialised weights, zero biases).  Training
minimises the mean squared error to the phantoms with Adam (beta2 = 0.99),
learning rate ``lr`` on a cosine schedule down to zero over ``steps`` steps,
and the gradient norm clipped at ``clip`` (the paper's recipe).

Training data: as ``fbp-unet``: the train split and the first ``val_size``
images of the val split of a ``sciml data ct-ellipses`` file (option
``data``), or ``train_size`` + ``val_size`` ellipse phantoms simulated for
the problem's geometry and noise (dataset seed ``data_seed``).  The
validation PSNR is measured ``validations`` times during training and the
best weights are kept.  Checkpoints (option
``checkpoint``) hold the weights, the operator norm and the configuration;
one that matches is loaded, not retrained; one made for another geometry or
other options is a DataError naming the difference (``retrain=true``
overwrites it).
"""
from __future__ import annotations

import functools
import logging
import math
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core import DataError, InvalidOption, Problem, Solution, Solver, SolverDiverged, opt
from ..progress import bar

log = logging.getLogger(__name__)

__all__ = ["LearnedPrimalDual", "PrimalDualModel", "SparseProjector", "build_primal_dual_net", "torch_operator"]

# options that change the trained weights (checked against a checkpoint)
_MODEL_KEYS = ("n_iter", "n_primal", "n_dual", "width", "steps", "batch_size", "lr", "clip",
               "train_size", "val_size", "data_seed", "validations")
_NORM_ITERATIONS = 100


# ------------------------------------------------------------------ network
def torch_operator(geometry: Any, device: Any = "cpu", dtype: str = "float32") -> "SparseProjector":
    """The Joseph projector of ``geometry`` (parallel :class:`operators.radon.Geometry`
    or :class:`operators.fanbeam.FanGeometry`) as a :class:`SparseProjector`."""
    from operators.fanbeam import FanGeometry, TorchFanRadon
    from operators.radon_torch import TorchRadon
    cls = TorchFanRadon if isinstance(geometry, FanGeometry) else TorchRadon
    return SparseProjector(cls(geometry, device="cpu", dtype="float64"), device=device, dtype=dtype)


class SparseProjector:
    """The matrix of a torch projector (:class:`operators.radon_torch.TorchRadon`
    or :class:`operators.fanbeam.TorchFanRadon`) held twice in CSR form, K and
    K^T, so that ``forward`` and ``adjoint`` are each one sparse-dense product.

    Same matrix, same results (to rounding) as the projector's own forward
    and adjoint; its adjoint is a scatter-add, about 50x slower than the CSR
    product at 128^2 / 30 angles on one thread, and the network applies it
    20 times per pass (plus as many in the backward pass).  Each product is
    an autograd function whose derivative is the other product.
    """

    def __init__(self, op: Any, device: Any = "cpu", dtype: str = "float32") -> None:
        import torch
        from ..torch_utils import torch_dtype
        self.geometry = op.geometry
        rays = getattr(op, "_rays", op)          # the fan beam is a TorchRadon over its rays
        index = rays._index.reshape(-1).long()   # (rays, n, 2) pixel indices, row-major per ray
        weight = rays._weight.reshape(-1).to(torch.float64)
        n_rays = int(np.prod(self.geometry.sino_shape))
        n_pix = int(np.prod(self.geometry.image_shape))
        rows = torch.arange(n_rays).repeat_interleave(index.numel() // n_rays)
        keep = weight != 0
        coo = torch.sparse_coo_tensor(torch.stack([rows[keep], index[keep]]), weight[keep], (n_rays, n_pix),
                                      check_invariants=True).coalesce()
        dt = torch_dtype(dtype)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": the product is all we use
            warnings.simplefilter("ignore", UserWarning)
            self._K = coo.to_sparse_csr().to(device=device, dtype=dt)
            self._KT = coo.t().coalesce().to_sparse_csr().to(device=device, dtype=dt)
        self.nnz = int(coo._nnz())

    @staticmethod
    def _product(M: Any, MT: Any, x: Any, n_in: int) -> Any:
        cols = x.reshape(-1, n_in).t().contiguous()
        return _csr_product().apply(cols, M, MT).t()

    def forward(self, x: Any) -> Any:
        """(..., n, n) images -> (..., A, D) sinograms."""
        g = self.geometry
        lead = x.shape[:-2]
        return self._product(self._K, self._KT, x, int(np.prod(g.image_shape))).reshape(*lead, *g.sino_shape)

    __call__ = forward

    def adjoint(self, y: Any) -> Any:
        """(..., A, D) sinograms -> (..., n, n) images (the exact transpose)."""
        g = self.geometry
        lead = y.shape[:-2]
        return self._product(self._KT, self._K, y, int(np.prod(g.sino_shape))).reshape(*lead, *g.image_shape)


@functools.lru_cache(maxsize=None)
def _csr_product() -> Any:
    import torch

    class CSRProduct(torch.autograd.Function):
        """M @ x for a CSR matrix M whose transpose MT is given (the derivative)."""

        @staticmethod
        def forward(ctx: Any, x: Any, M: Any, MT: Any) -> Any:
            ctx.MT = MT
            return M @ x

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return ctx.MT @ grad.contiguous(), None, None

    return CSRProduct


def operator_norm(op: Any, *, device: Any = "cpu", dtype: Any = None, iterations: int = _NORM_ITERATIONS,
                  seed: int = 0) -> float:
    """||K|| of a torch projector by power iteration on K^T K (a lower bound
    converging from below; 100 iterations reach it to about 1e-4)."""
    import torch
    from operators.norms import power_norm

    def normal(v: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(v, dtype=dtype or torch.float32, device=device)
        with torch.no_grad():
            return op.adjoint(op.forward(t)).cpu().numpy().astype(np.float64)
    return power_norm(normal, op.geometry.image_shape, iterations=iterations, seed=seed)


def build_primal_dual_net(op: Any, op_norm: float, *, n_iter: int = 10, n_primal: int = 5,
                          n_dual: int = 5, width: int = 32) -> Any:
    """A :class:`PrimalDualNet` (torch imported here) around the projector ``op``
    (applied as ``op / op_norm``)."""
    return _classes()["PrimalDualNet"](op, op_norm, n_iter, n_primal, n_dual, width)


def _classes() -> dict[str, type]:
    import torch
    from torch import nn

    class ConvBlock(nn.Sequential):
        """conv3x3 -> PReLU -> conv3x3 -> PReLU -> conv3x3 (the paper's proximal CNN)."""

        def __init__(self, cin: int, cout: int, width: int) -> None:
            super().__init__(nn.Conv2d(cin, width, 3, padding=1), nn.PReLU(width),
                             nn.Conv2d(width, width, 3, padding=1), nn.PReLU(width),
                             nn.Conv2d(width, cout, 3, padding=1))
            for m in self:
                if isinstance(m, nn.Conv2d):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    class PrimalDualNet(nn.Module):
        """The unrolled learned primal-dual network: sinograms (B, A, D) -> images (B, n, n).

        The operator is held as a plain attribute (its tables are not
        parameters); inputs are the data in the problem's units, scaled
        inside by 1 / ||K|| together with the operator."""

        def __init__(self, op: Any, op_norm: float, n_iter: int, n_primal: int, n_dual: int,
                     width: int) -> None:
            super().__init__()
            self.op, self.op_norm = op, float(op_norm)
            self.n_iter, self.n_primal, self.n_dual = int(n_iter), int(n_primal), int(n_dual)
            self.dual = nn.ModuleList(ConvBlock(n_dual + 2, n_dual, width) for _ in range(n_iter))
            self.primal = nn.ModuleList(ConvBlock(n_primal + 1, n_primal, width) for _ in range(n_iter))

        def K(self, f: Any) -> Any:
            return self.op.forward(f) / self.op_norm

        def KT(self, h: Any) -> Any:
            return self.op.adjoint(h) / self.op_norm

        def forward(self, g: Any) -> Any:
            geom = self.op.geometry
            b = g.shape[0]
            g = g[:, None] / self.op_norm
            f = g.new_zeros((b, self.n_primal, *geom.image_shape))
            h = g.new_zeros((b, self.n_dual, *geom.sino_shape))
            k = 1 if self.n_primal > 1 else 0
            for dual, primal in zip(self.dual, self.primal):
                h = h + dual(torch.cat([h, self.K(f[:, k:k + 1]), g], dim=1))
                f = f + primal(torch.cat([f, self.KT(h[:, :1])], dim=1))
            return f[:, 0]

    return {"PrimalDualNet": PrimalDualNet, "ConvBlock": ConvBlock}


@dataclass
class PrimalDualModel:
    """A trained network with the geometry it was trained for."""

    net: Any
    geometry: Any
    config: dict[str, Any]
    stats: dict[str, Any]
    device: Any

    def reconstruct(self, sinograms: np.ndarray, batch: int = 8) -> np.ndarray:
        """(B, A, D) or (A, D) sinograms -> (B, n, n) or (n, n) images."""
        import torch
        sino = np.asarray(sinograms, dtype=np.float32)
        single = sino.ndim == 2
        sino = sino[None] if single else sino
        self.geometry.check_sino(sino, "sinogram for learned-primal-dual")
        out = np.empty((len(sino), *self.geometry.image_shape), dtype=np.float64)
        self.net.eval()
        with torch.no_grad():
            for i in range(0, len(sino), batch):
                t = torch.as_tensor(sino[i:i + batch], device=self.device)
                out[i:i + batch] = self.net(t).cpu().numpy()
        return out[0] if single else out


# ------------------------------------------------------------------- solver
@dataclass(frozen=True)
class LearnedPrimalDual(Solver):
    """Learned primal-dual CT reconstruction (see module docstring)."""

    name = "learned-primal-dual"
    requires = ("ct", "ct-phantoms")
    learned = True

    n_iter: int = opt(10, lo=1, hi=100)
    n_primal: int = opt(5, lo=1, hi=64)
    n_dual: int = opt(5, lo=1, hi=64)
    width: int = opt(32, lo=1, hi=1024)
    steps: int = opt(2000, lo=1, hi=10**7)
    batch_size: int = opt(1, lo=1, hi=10**4)
    lr: float = opt(1e-3, lo=0, lo_open=True, hi=1)
    clip: float = opt(1.0, lo=0, lo_open=True)
    validations: int = opt(10, lo=1, hi=10**4)
    data: str | None = None
    checkpoint: str | None = None
    retrain: bool = False
    train_size: int = opt(256, lo=1)
    val_size: int = opt(16, lo=1)
    data_seed: int = opt(7, lo=0)
    threads: int = opt(1, lo=1, hi=4096)

    def __post_init__(self) -> None:
        if self.validations > self.steps:
            raise InvalidOption(f"{self.name}: validations={self.validations} exceeds steps={self.steps}; "
                                "allowed: at most one validation per step (validations <= steps)")

    # ------------------------------------------------------------- config
    def model_config(self, problem: Problem) -> dict[str, Any]:
        cfg: dict[str, Any] = {k: getattr(self, k) for k in _MODEL_KEYS}
        cfg["geometry"] = problem.geometry().config()
        cfg["data"] = None if self.data is None else str(Path(self.data).resolve())
        if self.data is None:
            cfg["noise"] = {"noise": problem.noise, "noise_level": problem.noise_level,
                            "photons": problem.photons, "inverse_crime": problem.inverse_crime,
                            "oversample": problem.oversample}
        return cfg

    # --------------------------------------------------------------- data
    def _training_data(self, problem: Problem, progress: bool) -> tuple[np.ndarray, ...]:
        """(train images, train sinograms, val images, val sinograms), float32."""
        from ..datasets.ct import image_seed, load
        if self.data is not None:
            xtr, ytr, conf = load(self.data, "train")
            xva, yva, _ = load(self.data, "val")
            want = problem.geometry().config()
            if conf["geometry"] != want:
                diff = [f"{k} {conf['geometry'].get(k)} (data) vs {v} (problem)"
                        for k, v in want.items() if conf["geometry"].get(k) != v]
                raise DataError(f"{self.name}: dataset {self.data} was made for another geometry: " + ", ".join(diff))
            if len(xva) == 0:
                raise DataError(f"{self.name}: dataset {self.data} has an empty validation split")
            out = (xtr, ytr, xva[:self.val_size], yva[:self.val_size])
        else:
            total = self.train_size + self.val_size
            imgs = np.empty((total, *problem.geometry().image_shape), dtype=np.float32)
            sinos = np.empty((total, *problem.geometry().sino_shape), dtype=np.float32)
            with bar(total, f"{self.name} data", progress) as pb:
                for k in range(total):
                    pk = replace(problem, phantom="ellipses", seed=image_seed(self.data_seed, k))
                    imgs[k], sinos[k] = pk.image(), pk.sinogram()
                    pb.update(1)
            t = self.train_size
            out = (imgs[:t], sinos[:t], imgs[t:], sinos[t:])
        return tuple(np.asarray(a, dtype=np.float32) for a in out)

    # ------------------------------------------------------------ training
    def _net(self, geometry: Any, device: Any, op_norm: float | None = None) -> tuple[Any, float]:
        op = torch_operator(geometry, device)
        norm = operator_norm(op, device=device) if op_norm is None else float(op_norm)
        net = build_primal_dual_net(op, norm, n_iter=self.n_iter, n_primal=self.n_primal,
                                    n_dual=self.n_dual, width=self.width)
        return net.to(device), norm

    def train(self, problem: Problem, *, seed: int = 0, device: str = "cpu", progress: bool = False,
              monitor: Callable[[int, float, PrimalDualModel], None] | None = None) -> PrimalDualModel:
        """Train on ``problem``'s geometry.  ``monitor(step, train_s, model)`` is called
        after each validation (``train_s``: seconds of training so far, validation
        and monitoring excluded) with the current weights."""
        import torch
        from ..torch_utils import count_parameters, keep_torch_threads, seeded, torch_device
        dev = torch_device(device)
        geom = problem.geometry()
        t0 = time.perf_counter()
        with keep_torch_threads():       # Numba's OpenMP would reset torch's thread count
            xtr, ytr, xva, yva = self._training_data(problem, progress)
        data_s = time.perf_counter() - t0
        with seeded(seed, str(dev)):
            net, norm = self._net(geom, dev)
        Xtr, Ytr = torch.as_tensor(xtr), torch.as_tensor(ytr)
        rng = np.random.default_rng([int(seed), 17])
        n_train, bs = len(xtr), min(self.batch_size, len(xtr))
        order: list[int] = []

        def loss_fn(step: int) -> Any:
            # shuffled epochs: every image once before any twice
            while len(order) < bs:
                order.extend(rng.permutation(n_train).tolist())
            idx = torch.as_tensor([order.pop(0) for _ in range(bs)])
            net.train()
            return torch.mean((net(Ytr[idx].to(dev)) - Xtr[idx].to(dev)) ** 2)

        model = PrimalDualModel(net, geom, {}, {}, dev)
        marks = {int(round(self.steps * (j + 1) / self.validations)) - 1 for j in range(self.validations)}
        val_history: list[list[float]] = []
        best: dict[str, Any] = {"psnr": -math.inf, "state": None, "step": -1}
        clock = {"t": time.perf_counter(), "train_s": 0.0}

        def after_step(step: int, loss: float) -> None:
            if step not in marks:
                return
            clock["train_s"] += time.perf_counter() - clock["t"]
            vp = _mean_psnr(model.reconstruct(yva), xva)
            val_history.append([step + 1, clock["train_s"], vp])
            log.info("%s step %d: val psnr %.2f dB (%.0f s of training)", self.name, step + 1, vp,
                     clock["train_s"])
            if not math.isfinite(vp):
                raise SolverDiverged(f"{self.name}: validation PSNR = {vp} at step {step + 1} (loss {loss:.3g}): "
                                     f"the network's output is not finite; lower lr={self.lr:g}",
                                     step=step + 1, loss=loss)
            if vp > best["psnr"]:
                best.update(psnr=vp, step=step + 1,
                            state={k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
            if monitor is not None:
                monitor(step + 1, clock["train_s"], model)
            clock["t"] = time.perf_counter()

        rec = _fit(net, loss_fn, steps=self.steps, lr=self.lr, clip=self.clip, solver=self.name,
                   after_step=after_step, progress=progress, device=dev)
        net.load_state_dict(best["state"])
        net.eval()
        stats = {"train_wall_s": rec.train_s, "train_s": clock["train_s"], "data_wall_s": data_s,
                 "steps": rec.steps, "parameters": count_parameters(net), "best_step": best["step"],
                 "val_psnr": best["psnr"], "val_history": val_history, "op_norm": norm,
                 "loss_history": np.asarray(rec.loss_history), "train_images": n_train, "device": str(dev)}
        return PrimalDualModel(net, geom, {**self.model_config(problem), "op_norm": norm}, stats, dev)

    # ---------------------------------------------------------- checkpoints
    def _load(self, problem: Problem, device: str) -> PrimalDualModel | None:
        import torch
        from .. import io
        from ..torch_utils import torch_device
        from .fbp_unet import json_eq
        path = Path(self.checkpoint)
        if self.retrain or not path.exists():
            return None
        config, arrays = io.load_checkpoint(path)
        want = self.model_config(problem)
        have_geom = config.get("geometry") or {}
        if have_geom != want["geometry"]:
            diff = [f"{k} {have_geom.get(k)} (checkpoint) vs {v} (problem)"
                    for k, v in want["geometry"].items() if have_geom.get(k) != v]
            raise DataError(f"{self.name}: checkpoint {path} was trained for another geometry: " + ", ".join(diff))
        other = [k for k in want if k != "geometry" and not json_eq(config.get(k), want[k])]
        if other:
            raise DataError(f"{self.name}: checkpoint {path} was trained with other options: "
                            + ", ".join(f"{k}={config.get(k)!r} (checkpoint) vs {want[k]!r}" for k in other)
                            + "; pass the same options, another checkpoint path, or retrain=true")
        if "op_norm" not in config:
            raise DataError(f"{self.name}: checkpoint {path} has no op_norm in its configuration; retrain=true")
        dev = torch_device(device)
        geom = problem.geometry()
        net, _ = self._net(geom, dev, op_norm=config["op_norm"])
        net.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items() if not k.startswith("_stats.")})
        net.eval()
        stats = dict(config.get("stats", {}))
        stats["loaded_from"] = str(path)
        return PrimalDualModel(net, geom, config, stats, dev)

    def _save(self, model: PrimalDualModel) -> None:
        from .. import io
        arrays = {k: v.detach().cpu().numpy() for k, v in model.net.state_dict().items()}
        stats = {k: v for k, v in model.stats.items() if not isinstance(v, np.ndarray)}
        arrays["_stats.loss_history"] = np.asarray(model.stats.get("loss_history", []))
        io.save_checkpoint(self.checkpoint, {**model.config, "stats": stats}, arrays)

    def model(self, problem: Problem, *, seed: int = 0, device: str = "cpu", progress: bool = False,
              monitor: Callable[[int, float, PrimalDualModel], None] | None = None) -> PrimalDualModel:
        """The trained network for ``problem``'s geometry: loaded from the
        checkpoint when it matches, else trained (and saved if a path is set)."""
        from ..threads import limit_threads
        self.check_problem(problem)
        if self.checkpoint is not None:
            loaded = self._load(problem, device)
            if loaded is not None:
                return loaded
        with limit_threads(self.threads, torch=True):
            model = self.train(problem, seed=seed, device=device, progress=progress, monitor=monitor)
        if self.checkpoint is not None:
            self._save(model)
        return model

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from problems.tomography import image_solution
        t0 = time.perf_counter()
        model = self.model(problem, seed=seed, device=device, progress=progress)
        t1 = time.perf_counter()
        img = model.reconstruct(np.asarray(problem.sinogram()))
        stats = dict(model.stats)
        stats.update({"reconstruct_wall_s": time.perf_counter() - t1, "model_wall_s": t1 - t0})
        return image_solution(img, stats)


def _fit(net: Any, loss_fn: Callable[[int], Any], *, steps: int, lr: float, clip: float, solver: str,
         after_step: Callable[[int, float], Any], progress: bool, device: Any) -> Any:
    """Adam (beta2 = 0.99), cosine annealing to zero, gradient norm clipped at ``clip``,
    through the one training loop (:func:`sciml.training.train`)."""
    import torch
    from ..training import train
    return train(list(net.parameters()), loss_fn, steps=steps, lr=lr, solver=solver, optimizer="adam",
                 optimizer_options={"betas": (0.9, 0.99)},
                 schedule=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.0),
                 after_step=after_step, clip_grad_norm=clip, progress=progress, desc=f"{solver} train",
                 device=device)


def _mean_psnr(images: np.ndarray, truths: np.ndarray) -> float:
    from ..metrics import psnr
    return float(np.mean([psnr(a, b) for a, b in zip(images, truths)]))
