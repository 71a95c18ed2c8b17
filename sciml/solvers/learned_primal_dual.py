"""Learned primal-dual reconstruction (Adler and Öktem, IEEE TMI 37 (2018) 1322).

The network unrolls ``n_iter`` iterations of a primal-dual scheme in which
both proximal steps are replaced by small CNNs, with the forward operator K
and its adjoint applied inside (the Joseph matrix of the torch projectors,
parallel or fan beam, held as CSR matrices by :class:`operators.radon_sparse.SparseProjector`,
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

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from operators.radon_sparse import SparseProjector, sparse_projector

from ..core import DataError, InvalidOption, Problem, Solver, opt
from .ct_learning import CTLearning, CTModel, Selection, apply_batched, mean_psnr, training_data

log = logging.getLogger(__name__)

__all__ = ["LearnedPrimalDual", "PrimalDualModel", "build_primal_dual_net", "operator_norm", "torch_operator"]

# options that change the trained weights (checked against a checkpoint)
_MODEL_KEYS = ("n_iter", "n_primal", "n_dual", "width", "steps", "batch_size", "lr", "clip",
               "train_size", "val_size", "data_seed", "validations")
_NORM_ITERATIONS = 100


# ------------------------------------------------------------------ network
def torch_operator(geometry: Any, device: Any = "cpu", dtype: str = "float32") -> SparseProjector:
    """The Joseph projector of ``geometry`` (parallel or fan beam) as the CSR
    :class:`operators.radon_sparse.SparseProjector` the network applies."""
    return sparse_projector(geometry, device=device, dtype=dtype)


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


class PrimalDualModel(CTModel):
    """A trained network with the geometry it was trained for: sinograms -> images."""

    solver, input_dtype, batch = "learned-primal-dual", np.float32, 8  # see CTModel

    def _reconstruct(self, sino: np.ndarray, batch: int) -> np.ndarray:
        self.net.eval()
        out = np.empty((len(sino), *self.geometry.image_shape), dtype=np.float64)
        return apply_batched(self.net, sino, out, batch=batch, device=self.device)


# ------------------------------------------------------------------- solver
@dataclass(frozen=True)
class LearnedPrimalDual(CTLearning, Solver):
    """Learned primal-dual CT reconstruction (see module docstring)."""

    name = "learned-primal-dual"
    requires = ("ct", "ct-phantoms")
    learned = True
    model_keys = _MODEL_KEYS
    model_class = PrimalDualModel

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
        from .. import distributed as D
        from ..torch_utils import count_parameters, keep_torch_threads, seeded, torch_device
        dev = torch_device(device)
        world = D.world(dev)  # torchrun: each rank takes its share of every batch
        dev = D.rank_device(dev, world)
        geom = problem.geometry()
        t0 = time.perf_counter()
        with keep_torch_threads():       # Numba's OpenMP would reset torch's thread count
            xtr, ytr, xva, yva = (np.asarray(a, dtype=np.float32)
                                  for a in training_data(self, problem, progress, val_limit=self.val_size))
        data_s = time.perf_counter() - t0
        with seeded(seed, str(dev)):
            net, norm = self._net(geom, dev)
        Xtr, Ytr = torch.as_tensor(xtr), torch.as_tensor(ytr)
        rng = np.random.default_rng([int(seed), 17])
        n_train, bs = len(xtr), min(self.batch_size, len(xtr))
        part = D.local_slice(bs, world, solver=self.name)   # refuses a batch the ranks do not divide
        train_net = D.wrap(net, world, dev)
        order: list[int] = []

        def loss_fn(step: int) -> Any:
            # shuffled epochs: every image once before any twice (the same on every rank)
            while len(order) < bs:
                order.extend(rng.permutation(n_train).tolist())
            idx = torch.as_tensor([order.pop(0) for _ in range(bs)])[part]
            net.train()
            return torch.mean((train_net(Ytr[idx].to(dev)) - Xtr[idx].to(dev)) ** 2)

        model = PrimalDualModel(net, geom, {}, {}, dev)
        marks = {int(round(self.steps * (j + 1) / self.validations)) - 1 for j in range(self.validations)}
        val_history: list[list[float]] = []
        best = Selection(net, self.name, self.lr)
        clock = {"t": time.perf_counter(), "train_s": 0.0}

        def after_step(step: int, loss: float) -> None:
            if step not in marks:
                return
            clock["train_s"] += time.perf_counter() - clock["t"]
            vp = _mean_psnr(model.reconstruct(yva), xva)
            val_history.append([step + 1, clock["train_s"], vp])
            log.info("%s step %d: val psnr %.2f dB (%.0f s of training)", self.name, step + 1, vp,
                     clock["train_s"])
            best.update(vp, step + 1, where=f"at step {step + 1} (loss {loss:.3g})", step=step + 1, loss=loss)
            if monitor is not None:
                monitor(step + 1, clock["train_s"], model)
            clock["t"] = time.perf_counter()

        rec = _fit(net, loss_fn, steps=self.steps, lr=self.lr, clip=self.clip, solver=self.name,
                   after_step=after_step, progress=progress, device=dev, world=world)
        best.restore()
        stats = {"train_wall_s": rec.train_s, "train_s": clock["train_s"], "data_wall_s": data_s,
                 "steps": rec.steps, "parameters": count_parameters(net), "best_step": best.at,
                 "val_psnr": best.psnr, "val_history": val_history, "op_norm": norm,
                 "loss_history": np.asarray(rec.loss_history), "train_images": n_train, "device": str(dev)}
        return PrimalDualModel(net, geom, {**self.model_config(problem), "op_norm": norm}, stats, dev)

    # ---------------------------------------------------------- checkpoints
    def _network(self, problem: Problem, config: dict[str, Any], device: Any) -> tuple[Any, Any]:
        """An untrained network on ``device`` with the checkpoint's operator norm, and the geometry."""
        if "op_norm" not in config:
            raise DataError(f"{self.name}: checkpoint {self.checkpoint} has no op_norm in its configuration; "
                            "retrain=true")
        geom = problem.geometry()
        return self._net(geom, device, op_norm=config["op_norm"])[0], geom

    def _train_model(self, problem: Problem, **kw: Any) -> PrimalDualModel:
        from ..threads import limit_threads
        with limit_threads(self.threads, torch=True):
            return self.train(problem, **kw)


def _fit(net: Any, loss_fn: Callable[[int], Any], *, steps: int, lr: float, clip: float, solver: str,
         after_step: Callable[[int, float], Any], progress: bool, device: Any, world: Any = None) -> Any:
    """Adam (beta2 = 0.99), cosine annealing to zero, gradient norm clipped at ``clip``,
    through the one training loop (:func:`sciml.training.train`)."""
    import torch
    from ..training import train
    return train(list(net.parameters()), loss_fn, steps=steps, lr=lr, solver=solver, optimizer="adam",
                 optimizer_options={"betas": (0.9, 0.99)},
                 schedule=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.0),
                 after_step=after_step, clip_grad_norm=clip, progress=progress, desc=f"{solver} train",
                 device=device, world=world)


_mean_psnr = mean_psnr
