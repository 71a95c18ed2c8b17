"""Learned solution operators: FNO, DeepONet and U-Net, one training loop.

Each solver trains a torch module on the problem's training pairs (a, u)
and predicts the test set; ``evaluate`` compares the predictions with the
reference (``darcy``: the FEM solutions, ``darcy-fem``; ``operator-data``:
the user's own test pairs).  Fields are 1D (N, S) or 2D (N, S, S) arrays;
the problem's ``dim`` (default 2) picks FNO1d/FNO2d, a 1D or 2D DeepONet
trunk and U-Net.  Conventions shared by the three:

* input: a scaled by one scalar mean/std of the training coefficients (a
  is two-valued, so this loses nothing and is resolution independent);
* output: the network predicts (u - mean_u) / std_u with pointwise mean and
  std fields of the training solutions (as the FNO paper's code does); at
  another resolution these fields are interpolated bilinearly;
* loss ``l2``: mean over the batch of the relative L2 error of u (the FNO
  paper's loss); ``h1``: the relative H1 error of the P1 interpolants
  (:func:`problems.darcy.h1_per_sample`);
* Adam with weight decay; schedule ``step`` (multiply lr by ``gamma`` every
  ``step_size`` epochs, default epochs // 5: the paper's 500 epochs /
  step 100 / gamma 0.5), ``cosine`` (per iteration) or ``none``;
* ``time_limit`` > 0 stops after the first epoch that ends past it (for
  CPU budgets); ``eval_every`` > 0 records the test error every so many
  epochs in ``stats['curve']`` as (epoch, train seconds, mean rel L2) for an
  error-vs-time curve (it is never used to select a model);
* ``threads``: torch intra-op threads during the solve (0: leave torch's
  setting; restored afterwards);
* ``precision`` (``bf16``/``fp16`` autocast on CUDA) and ``compile``
  (``torch.compile`` for training): :class:`sciml.training.AcceleratorOptions`;
* under ``torchrun`` every rank draws the same epoch permutation and trains
  on its share of each batch (DistributedDataParallel); rank 0 writes the
  checkpoint;
* ``checkpoint=PATH`` writes the trained model with its configuration
  (:func:`sciml.io.save_checkpoint`); ``load=PATH`` skips training and uses
  that model (:func:`load_operator`): the predictions are identical.

Zero-shot super-resolution: the FNO also predicts the test sets at the
problem's ``eval_res`` / ``eval_data`` resolutions with the same weights
(state ``u_pred@res<R>``, error ``rel_l2@res<R>``).  DeepONet and U-Net are
tied to their training grid and skip those sets.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from ..core import DataError, InvalidOption, Problem, Solution, Solver, check_range, opt
from ..training import AcceleratorOptions
from .operator_model import CONFIG_SCHEMA, OperatorModel, build_network, load_operator

log = logging.getLogger(__name__)

__all__ = ["FNO", "DeepONet", "UNet", "OperatorModel", "load_operator", "SOLVER_CLASSES"]

# ---------------------------------------------------------------- losses
def _rel_l2(pred: Any, true: Any) -> Any:
    import torch
    d = (pred - true).flatten(1)
    return (torch.linalg.vector_norm(d, dim=1) / torch.linalg.vector_norm(true.flatten(1), dim=1)).mean()


def _h1_sq(v: Any) -> Any:
    import torch
    S = v.shape[-1]
    if v.dim() == 2:  # 1D: piecewise-linear interpolant on x_i = i/(S-1), trapezoidal L2 part
        w = torch.ones(S, dtype=v.dtype, device=v.device)
        w[0] = w[-1] = 0.5
        return (torch.diff(v, dim=1) ** 2).sum(1) * (S - 1) + (v ** 2 * w).sum(1) / (S - 1)
    w = torch.ones(S, dtype=v.dtype, device=v.device)
    w[0] = w[-1] = 0.5
    dx = torch.diff(v, dim=1) ** 2
    dy = torch.diff(v, dim=2) ** 2
    semi = (dx * w[None, None, :]).sum((1, 2)) + (dy * w[None, :, None]).sum((1, 2))
    return semi + (v ** 2 * w[None, :, None] * w[None, None, :]).sum((1, 2)) / (S - 1) ** 2


def _rel_h1(pred: Any, true: Any) -> Any:
    return (_h1_sq(pred - true) / _h1_sq(true)).sqrt().mean()


# --------------------------------------------------------------- solvers
@dataclass(frozen=True)
class _OperatorLearner(Solver, AcceleratorOptions):
    requires = ("operator-pairs",)
    learned = True
    kind: ClassVar[str] = ""
    arch_keys: ClassVar[tuple[str, ...]] = ()

    epochs: int = 100
    batch: int = opt(20, lo=1)
    lr: float = opt(1e-3, lo=0, lo_open=True, hi=10)
    schedule: Literal["step", "cosine", "none"] = "step"
    step_size: int = opt(0, lo=0)
    gamma: float = opt(0.5, lo=0, hi=1, lo_open=True)
    weight_decay: float = opt(1e-4, lo=0)
    loss: Literal["l2", "h1"] = "l2"
    dtype: Literal["float32", "float64"] = "float32"
    time_limit: float = opt(0.0, lo=0)
    eval_every: int = opt(0, lo=0)
    checkpoint: str = ""
    load: str = ""
    threads: int = opt(1, lo=0)

    def __post_init__(self) -> None:
        e = InvalidOption
        check_range(self, "epochs", self.epochs, lo=0 if self.load else 1, error=e)
        self._check_arch()

    def _check_arch(self) -> None:
        for k in self.arch_keys:
            check_range(self, k, getattr(self, k), lo=1, error=InvalidOption)

    def arch(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.arch_keys}

    def _check_fits(self, res: int) -> None:
        """Resolution-dependent checks before any work (overridden by FNO)."""

    # ------------------------------------------------------------------ solve
    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from .. import distributed as D
        from ..torch_utils import count_parameters, seeded, torch_device, torch_dtype
        from ..training import autocast_dtype
        dev = torch_device(device)
        dt = torch_dtype(self.dtype)
        autocast_dtype(self.precision, dev, solver=self.name)  # refuse before any work
        world = D.world(dev) if not self.load else D.World()  # torchrun: data-parallel training
        dev = D.rank_device(dev, world)
        dim = int(getattr(problem, "dim", 2))
        stats: dict[str, Any] = {"solver": self.name}
        if self.load:
            model = load_operator(self.load, device=str(dev))
            if model.kind != self.kind:
                raise DataError(f"checkpoint {self.load} holds a {model.kind}, not a {self.kind}")
            model.check_resolution(problem.res)
            if model.dim != dim:
                raise DataError(f"checkpoint {self.load} holds a {model.dim}D {model.kind}, the data are {dim}D")
            stats.update(train_s=0.0, loaded=self.load)
        else:
            self._check_fits(problem.res)
            a_tr, u_tr = problem.train_set()
            if not np.isfinite(u_tr.std()) or u_tr.std() == 0:
                raise DataError(f"{self.name}: the training outputs u are constant; nothing to learn")
            norm = {"a_mean": np.float64(a_tr.mean()), "a_std": np.float64(a_tr.std() or 1.0),
                    "u_mean": u_tr.mean(axis=0), "u_std": u_tr.std(axis=0) + 1e-3 * u_tr.std()}
            with seeded(seed, str(dev)):
                net = build_network(self.kind, self.arch(), problem.res, dim).to(device=dev, dtype=dt)
            model = OperatorModel(self.kind, self.arch(), problem.res, net, norm, self.dtype, str(dev), dim)
            stats.update(self._train(model, problem, a_tr, u_tr, seed, progress, world))
            if self.checkpoint:
                if world.rank == 0:  # the ranks hold the same weights: one writes them
                    model.save(self.checkpoint)
                stats["checkpoint"] = self.checkpoint
        stats["parameters"] = count_parameters(model.net)

        a_te, _ = problem.test_set()
        model.predict(a_te[: min(2, len(a_te))], batch=self.batch)  # warm-up: first-call allocations
        t0 = time.perf_counter()
        u_pred = model.predict(a_te, batch=self.batch)
        stats["infer_s_per_sample"] = (time.perf_counter() - t0) / len(a_te)
        state = {"u_pred": u_pred}
        for res, (a_r, _) in problem.eval_sets().items():
            if self.kind == "fno":
                state[f"u_pred@res{res}"] = model.predict(a_r, batch=self.batch)
            else:
                log.warning("%s: skipping the res-%d test set (tied to the training grid)", self.name, res)
        if hasattr(problem, "grid_function"):
            return Solution(fn=problem.grid_function(u_pred), stats=stats, state=state)
        from ..references.darcy_fem import grid_fn
        return Solution(fn=grid_fn(u_pred), stats=stats, state=state)

    # ------------------------------------------------------------------ train
    def _train(self, model: OperatorModel, problem: Problem, a_tr: np.ndarray, u_tr: np.ndarray,
               seed: int, progress: bool, world: Any = None) -> dict[str, Any]:
        """Adam over shuffled mini-batches through :func:`sciml.training.train`; under
        torchrun every rank draws the same permutation and trains on its share of each batch."""
        import torch
        from .. import distributed as D
        from ..torch_utils import seeded_generator, torch_dtype
        from ..training import compiled, train
        dt, dev = torch_dtype(self.dtype), torch.device(model.device)
        world = world if world is not None else D.World()
        A = torch.as_tensor(a_tr, dtype=dt, device=dev)
        U = torch.as_tensor(u_tr, dtype=dt, device=dev)
        n = len(A)
        per_epoch = math.ceil(n / self.batch)
        if world.active:  # every batch, the last one of an epoch too, splits evenly
            D.local_slice(self.batch, world, solver=self.name)
            D.local_slice(n - (per_epoch - 1) * self.batch, world, solver=f"{self.name} (last batch of an epoch)")
        if self.schedule == "step":
            schedule = lambda opt: torch.optim.lr_scheduler.StepLR(  # noqa: E731
                opt, step_size=self.step_size or max(1, self.epochs // 5), gamma=self.gamma)
        elif self.schedule == "cosine":
            schedule = lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(  # noqa: E731
                opt, T_max=self.epochs * per_epoch)
        else:
            schedule = None
        loss_of = _rel_l2 if self.loss == "l2" else _rel_h1
        net = compiled(D.wrap(model.net, world, dev), self.compile, solver=self.name)
        gen = seeded_generator(seed, "cpu")
        a_te, u_te = problem.test_set() if self.eval_every else (None, None)
        history: list[float] = []
        curve: list[tuple[int, float, float]] = []
        batch: dict[str, Any] = {}
        total = [0.0]
        t0 = time.perf_counter()

        def loss_fn(step: int) -> Any:
            nonlocal t0
            if step == 0:  # the clock starts with the first step (after the optimiser's set-up)
                t0 = time.perf_counter()
            k = step % per_epoch
            if k == 0:
                model.net.train()
                batch["perm"] = torch.randperm(n, generator=gen).to(dev)
            idx = batch["perm"][k * self.batch:(k + 1) * self.batch]
            batch["size"] = len(idx)
            idx = idx[D.local_slice(len(idx), world, solver=self.name)]
            return loss_of(model.forward(A[idx], net), U[idx])

        def after_step(step: int, value: float) -> bool:
            total[0] += value * batch["size"]
            if (step + 1) % per_epoch:
                return False
            epoch = (step + 1) // per_epoch
            history.append(total[0] / n)
            total[0] = 0.0
            elapsed = time.perf_counter() - t0
            if self.eval_every and (epoch % self.eval_every == 0 or epoch == self.epochs):
                from problems.darcy import rel_l2_per_sample
                err = float(rel_l2_per_sample(model.predict(a_te, self.batch), u_te).mean())
                curve.append((epoch, elapsed, err))
                log.info("%s: epoch %d  %.1f s  train loss %.4e  test rel_l2 %.4e",
                         self.name, epoch, elapsed, history[-1], err)
            if self.time_limit and elapsed > self.time_limit:
                log.info("%s: time limit %.0f s reached after epoch %d", self.name, self.time_limit, epoch)
                return True
            return False

        rec = train(model.net.parameters(), loss_fn, steps=self.epochs * per_epoch, lr=self.lr,
                    weight_decay=self.weight_decay, schedule=schedule,
                    schedule_every=per_epoch if self.schedule == "step" else 1, after_step=after_step,
                    progress=progress, desc=f"{self.name} training", step_base=1, world=world, solver=self.name,
                    precision=self.precision, device=dev)
        out: dict[str, Any] = {"train_s": time.perf_counter() - t0, "epochs_run": len(history),
                               "steps": rec.steps, "loss_history": np.asarray(history),
                               "final_loss": history[-1], "parameters": rec.parameters}
        if curve:
            out["curve"] = np.asarray(curve)
        return out


@dataclass(frozen=True)
class FNO(_OperatorLearner):
    """Fourier neural operator (Li et al. 2021); defaults are the paper's Darcy setting
    (modes 12, width 32, 4 layers, padding 9; 500 epochs, batch 20, lr 1e-3 halved every 100)."""

    name = "fno"
    kind = "fno"
    arch_keys = ("modes", "width", "layers")

    modes: int = 12
    width: int = 32
    layers: int = 4
    padding: int = 9

    def _check_arch(self) -> None:
        super()._check_arch()
        check_range(self, "padding", self.padding, lo=0, error=InvalidOption)

    def arch(self) -> dict[str, Any]:
        return {"modes": self.modes, "width": self.width, "layers": self.layers, "padding": self.padding}

    def _check_fits(self, res: int) -> None:
        from operators.fno import check_modes, fft_friendly_padding
        check_modes(self.modes, res, self.padding)
        better = fft_friendly_padding(res, self.padding)
        if better != self.padding:
            log.warning("fno: res %d + padding %d = %d has a large prime factor, so every FFT is "
                        "slow; padding=%d (grid %d) trains about twice as fast on CPU (2.1-2.3x measured at res 85)",
                        res, self.padding, res + self.padding, better, res + better)


@dataclass(frozen=True)
class DeepONet(_OperatorLearner):
    """DeepONet (Lu et al. 2021): MLP branch on the grid values of a every ``sensor_stride``
    points, MLP trunk on (x, y), ``p`` basis functions."""

    name = "deeponet"
    kind = "deeponet"
    arch_keys = ("sensor_stride", "width", "depth", "p")

    sensor_stride: int = 4
    width: int = 128
    depth: int = 3
    p: int = 128

    def _check_fits(self, res: int) -> None:
        check_range(self, f"sensor_stride (res={res})", self.sensor_stride, lo=1, hi=res - 1, error=InvalidOption)


@dataclass(frozen=True)
class UNet(_OperatorLearner):
    """U-Net on the grid (Ronneberger et al. 2015; the shared ``operators/unet.py``) with
    ``levels`` poolings and ``base`` channels at the finest level; ``norm="none"`` drops its
    GroupNorm layers, which divide out each sample's amplitude (use it for operators linear in a)."""

    name = "unet"
    kind = "unet"
    arch_keys = ("base", "levels")

    base: int = 32
    levels: int = 3
    norm: Literal["group", "none"] = "group"

    def _check_arch(self) -> None:
        super()._check_arch()

    def arch(self) -> dict[str, Any]:
        return {"base": self.base, "levels": self.levels, "norm": self.norm}

    def _check_fits(self, res: int) -> None:
        check_range(self, f"levels (res={res})", self.levels, lo=1, hi=max(1, int(math.log2(res)) - 1),
                    error=InvalidOption)


SOLVER_CLASSES = {"fno": FNO, "deeponet": DeepONet, "unet": UNet}
