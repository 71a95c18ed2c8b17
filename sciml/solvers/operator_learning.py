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

from ..core import DataError, InvalidOption, Problem, Solution, Solver, check_choice, check_range
from ..io import schema as _schema

log = logging.getLogger(__name__)

__all__ = ["FNO", "DeepONet", "UNet", "OperatorModel", "load_operator", "SOLVER_CLASSES"]

CONFIG_SCHEMA = _schema("operator")


# ------------------------------------------------------------- the model
class OperatorModel:
    """A trained network with its normalisation: ``predict(a) -> u`` on (N, S, S) arrays."""

    def __init__(self, kind: str, arch: dict[str, Any], res: int, net: Any, norm: dict[str, np.ndarray],
                 dtype: str = "float32", device: str = "cpu", dim: int = 2) -> None:
        self.kind, self.arch, self.res, self.net, self.norm = kind, dict(arch), int(res), net, norm
        self.dtype, self.device, self.dim = dtype, device, int(dim)

    # -- normalisation (torch tensors in, torch tensors out)
    def _u_stats(self, res: int) -> tuple[Any, Any]:
        import torch
        from ..torch_utils import torch_dtype
        dt = torch_dtype(self.dtype)
        mean = torch.as_tensor(self.norm["u_mean"], dtype=dt, device=self.device)
        std = torch.as_tensor(self.norm["u_std"], dtype=dt, device=self.device)
        if res != self.res:  # (bi)linear on x_i = i/(S-1): align_corners matches that grid
            both = torch.stack([mean, std])[None]
            size, mode = ((res,), "linear") if self.dim == 1 else ((res, res), "bilinear")
            both = torch.nn.functional.interpolate(both, size=size, mode=mode, align_corners=True)[0]
            mean, std = both[0], both[1]
        return mean, std

    def forward(self, a: Any) -> Any:
        """a: torch (b, S) or (b, S, S) raw inputs -> u of the same shape, differentiable."""
        x = (a - float(self.norm["a_mean"])) / float(self.norm["a_std"])
        z = self.net(x) if self.kind == "deeponet" else self.net(x[..., None])
        mean, std = self._u_stats(a.shape[-1])
        return z * std + mean

    def check_resolution(self, res: int) -> None:
        if res == self.res:
            return
        if self.kind != "fno":
            raise InvalidOption(f"{self.kind}: trained at res {self.res}, cannot evaluate at res {res} "
                                "(only fno is resolution independent)")
        from operators.fno import check_modes
        check_modes(int(self.arch["modes"]), res, int(self.arch["padding"]))

    def predict(self, a: np.ndarray, batch: int = 20) -> np.ndarray:
        """u for inputs a (N, S) in 1D or (N, S, S) in 2D (numpy in, float64 numpy out)."""
        import torch
        from ..torch_utils import torch_dtype
        a = np.asarray(a)
        if a.ndim != self.dim + 1 or (self.dim == 2 and a.shape[1] != a.shape[2]):
            want = "(N, S)" if self.dim == 1 else "(N, S, S)"
            raise InvalidOption(f"{self.kind}: expected inputs of shape {want}, got {a.shape}")
        self.check_resolution(a.shape[-1])
        dt = torch_dtype(self.dtype)
        self.net.eval()
        out = []
        with torch.inference_mode():
            for lo in range(0, len(a), batch):
                t = torch.as_tensor(a[lo:lo + batch], dtype=dt, device=self.device)
                out.append(self.forward(t).double().cpu().numpy())
        return np.concatenate(out)

    def save(self, path: str) -> None:
        from ..io import save_checkpoint
        config = {"schema": CONFIG_SCHEMA, "kind": self.kind, "arch": self.arch, "res": self.res,
                  "dtype": self.dtype, "dim": self.dim}
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        arrays.update({f"norm.{k}": np.asarray(v) for k, v in self.norm.items()})
        save_checkpoint(path, config, arrays)


def build_network(kind: str, arch: dict[str, Any], res: int, dim: int = 2) -> Any:
    """The torch module of a solver kind with architecture options ``arch`` on a ``dim``-D grid."""
    if kind == "fno":
        from operators.fno import FNO1d, FNO2d
        cls = FNO1d if dim == 1 else FNO2d
        return cls(1, int(arch["modes"]), int(arch["width"]), int(arch["layers"]), int(arch["padding"]))
    if kind == "deeponet":
        from operators.deeponet import DeepONet as Net
        return Net(res, int(arch["sensor_stride"]), int(arch["width"]), int(arch["depth"]), int(arch["p"]),
                   dim=dim)
    if kind == "unet":
        return _unet_class(dim)(1, base=int(arch["base"]), levels=int(arch["levels"]),
                                norm=str(arch.get("norm", "group")))  # older checkpoints: group
    raise InvalidOption(f"unknown operator kind {kind!r}")


def _unet_class(dim: int = 2) -> Any:
    from operators.unet_operator import UNet1d, UNet2d
    return UNet1d if dim == 1 else UNet2d


def load_operator(path: str, device: str = "cpu") -> OperatorModel:
    """Rebuild a trained operator from a checkpoint written with ``checkpoint=PATH``."""
    import torch
    from ..io import load_checkpoint
    from ..torch_utils import torch_device, torch_dtype
    config, arrays = load_checkpoint(path)
    if config.get("schema") != CONFIG_SCHEMA:
        raise DataError(f"checkpoint {path} is not an operator checkpoint (schema {config.get('schema')!r})")
    try:
        kind, arch, res, dtype = config["kind"], config["arch"], int(config["res"]), config["dtype"]
        dim = int(config.get("dim", 2))  # checkpoints written before 1D support are 2D
        net = build_network(kind, arch, res, dim).to(device=torch_device(device), dtype=torch_dtype(dtype))
        state = {k[4:]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("net.")}
        net.load_state_dict(state, strict=True)
        norm = {k[5:]: v for k, v in arrays.items() if k.startswith("norm.")}
    except (KeyError, RuntimeError) as exc:
        raise DataError(f"checkpoint {path} is corrupt or does not match its configuration: {exc}") from None
    return OperatorModel(kind, arch, res, net, norm, dtype=dtype, device=device, dim=dim)


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
class _OperatorLearner(Solver):
    requires = ("operator-pairs",)
    learned = True
    kind: ClassVar[str] = ""
    arch_keys: ClassVar[tuple[str, ...]] = ()

    epochs: int = 100
    batch: int = 20
    lr: float = 1e-3
    schedule: Literal["step", "cosine", "none"] = "step"
    step_size: int = 0
    gamma: float = 0.5
    weight_decay: float = 1e-4
    loss: Literal["l2", "h1"] = "l2"
    dtype: Literal["float32", "float64"] = "float32"
    time_limit: float = 0.0
    eval_every: int = 0
    checkpoint: str = ""
    load: str = ""
    threads: int = 1

    def __post_init__(self) -> None:
        e = InvalidOption
        check_range(self, "epochs", self.epochs, lo=0 if self.load else 1, error=e)
        check_range(self, "batch", self.batch, lo=1, error=e)
        check_range(self, "lr", self.lr, lo=0, lo_open=True, hi=10, error=e)
        check_choice(self, "schedule", self.schedule, ("step", "cosine", "none"), error=e)
        check_range(self, "step_size", self.step_size, lo=0, error=e)
        check_range(self, "gamma", self.gamma, lo=0, hi=1, lo_open=True, error=e)
        check_range(self, "weight_decay", self.weight_decay, lo=0, error=e)
        check_choice(self, "loss", self.loss, ("l2", "h1"), error=e)
        check_choice(self, "dtype", self.dtype, ("float32", "float64"), error=e)
        check_range(self, "time_limit", self.time_limit, lo=0, error=e)
        check_range(self, "eval_every", self.eval_every, lo=0, error=e)
        check_range(self, "threads", self.threads, lo=0, error=e)
        self._check_arch()

    def _check_arch(self) -> None:
        for k in self.arch_keys:
            check_range(self, k, getattr(self, k), lo=1, error=InvalidOption)

    def arch(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.arch_keys}

    def _check_fits(self, res: int) -> None:
        """Resolution-dependent checks before any work (overridden by FNO)."""

    # ------------------------------------------------------------------ solve
    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> Solution:
        self.check_problem(problem)
        import torch
        before = torch.get_num_threads()
        if self.threads:
            # intra-op threads for this solve only (restored below): on a shared
            # machine OpenMP spinning with >1 thread is several times slower
            torch.set_num_threads(self.threads)
        try:
            return self._solve(problem, seed=seed, device=device, progress=progress)
        finally:
            torch.set_num_threads(before)

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from ..torch_utils import count_parameters, seeded, torch_device, torch_dtype
        dev = torch_device(device)
        dt = torch_dtype(self.dtype)
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
            stats.update(self._train(model, problem, a_tr, u_tr, seed, progress))
            if self.checkpoint:
                model.save(self.checkpoint)
                stats["checkpoint"] = self.checkpoint
        stats["params"] = count_parameters(model.net)

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
        from ..references.darcy_fem import _grid_fn
        return Solution(fn=_grid_fn(u_pred), stats=stats, state=state)

    # ------------------------------------------------------------------ train
    def _train(self, model: OperatorModel, problem: Problem, a_tr: np.ndarray, u_tr: np.ndarray,
               seed: int, progress: bool) -> dict[str, Any]:
        import torch
        from ..progress import bar
        from ..torch_utils import check_loss, seeded_generator, torch_dtype
        dt, dev = torch_dtype(self.dtype), torch.device(model.device)
        A = torch.as_tensor(a_tr, dtype=dt, device=dev)
        U = torch.as_tensor(u_tr, dtype=dt, device=dev)
        n = len(A)
        per_epoch = math.ceil(n / self.batch)
        opt = torch.optim.Adam(model.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.schedule == "step":
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=self.step_size or max(1, self.epochs // 5),
                                                    gamma=self.gamma)
        elif self.schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs * per_epoch)
        else:
            sched = None
        loss_fn = _rel_l2 if self.loss == "l2" else _rel_h1
        gen = seeded_generator(seed, "cpu")
        a_te, u_te = problem.test_set() if self.eval_every else (None, None)
        history, curve = [], []
        t0 = time.perf_counter()
        step, epoch = 0, 0
        with bar(self.epochs, f"{self.name} training", progress, unit="epoch") as pb:
            for epoch in range(1, self.epochs + 1):
                model.net.train()
                perm = torch.randperm(n, generator=gen).to(dev)
                total = 0.0
                for lo in range(0, n, self.batch):
                    idx = perm[lo:lo + self.batch]
                    loss = loss_fn(model.forward(A[idx]), U[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    step += 1
                    val = float(loss.detach())
                    check_loss(val, step, solver=self.name)
                    total += val * len(idx)
                    if self.schedule == "cosine":
                        sched.step()
                if self.schedule == "step":
                    sched.step()
                history.append(total / n)
                elapsed = time.perf_counter() - t0
                if self.eval_every and (epoch % self.eval_every == 0 or epoch == self.epochs):
                    from problems.darcy import rel_l2_per_sample
                    err = float(rel_l2_per_sample(model.predict(a_te, self.batch), u_te).mean())
                    curve.append((epoch, elapsed, err))
                    log.info("%s: epoch %d  %.1f s  train loss %.4e  test rel_l2 %.4e",
                             self.name, epoch, elapsed, history[-1], err)
                pb.update(1)
                pb.set_postfix(loss=f"{history[-1]:.3e}")
                if self.time_limit and elapsed > self.time_limit:
                    log.info("%s: time limit %.0f s reached after epoch %d", self.name, self.time_limit, epoch)
                    break
        train_s = time.perf_counter() - t0
        out: dict[str, Any] = {"train_s": train_s, "epochs_run": epoch, "steps": step,
                               "loss_history": np.asarray(history), "final_loss": history[-1]}
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
        check_choice(self, "norm", self.norm, ("group", "none"), error=InvalidOption)

    def arch(self) -> dict[str, Any]:
        return {"base": self.base, "levels": self.levels, "norm": self.norm}

    def _check_fits(self, res: int) -> None:
        check_range(self, f"levels (res={res})", self.levels, lo=1, hi=max(1, int(math.log2(res)) - 1),
                    error=InvalidOption)


SOLVER_CLASSES = {"fno": FNO, "deeponet": DeepONet, "unet": UNet}
