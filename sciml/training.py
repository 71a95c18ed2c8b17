"""The one training loop of the torch solvers.

Every learned solver writes its loss as a function of the step,
``loss_fn(step) -> scalar tensor`` (drawing its batch, in the order it always
has), and hands it to :func:`train`, which owns the rest: the optimiser
(Adam or L-BFGS), the learning-rate schedule, mixed precision, gradient
averaging over data-parallel ranks, the divergence check (a NaN or exploding
loss raises :class:`~sciml.core.SolverDiverged` naming the step and the
loss), the progress bar and the loss history.  What a solver does between
steps (validation, model selection, a time limit, logging) goes in
``after_step``.

One step, in this order: set the learning rate (``lr_at``), compute the loss
(under ``torch.autocast`` for bf16/fp16), clear the gradients, back-propagate
(scaled for fp16), average the gradients over the ranks (``average_gradients``;
a module wrapped in DistributedDataParallel averages its own), clip their
norm (``clip_grad_norm``), take the
optimiser step, step the schedule every ``schedule_every`` steps, record the
loss (averaged over the ranks), check it, call ``after_step``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal

from .core import InvalidOption
from .progress import bar as _bar

__all__ = ["train", "TrainRecord", "AcceleratorOptions", "autocast_dtype", "compiled", "PRECISIONS"]

#: the precision choices of the solvers' ``precision`` option
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class AcceleratorOptions:
    """Options a solver inherits (declared here once): ``precision`` (``fp32``,
    or ``bf16``/``fp16`` mixed precision: autocast on CUDA, fp16 with loss
    scaling; on the CPU a one-line InvalidOption) and ``compile``
    (``torch.compile`` the network for training)."""

    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False


@dataclass
class TrainRecord:
    """What :func:`train` returns: the loss of every step (every function
    evaluation for L-BFGS), the optimiser steps taken, the number of trained
    scalars, the seconds spent, and whether ``after_step`` stopped early."""

    loss_history: list[float] = field(default_factory=list)
    steps: int = 0
    parameters: int = 0
    train_s: float = 0.0
    stopped: bool = False

    def stats(self) -> dict[str, Any]:
        """The record under the solvers' common stats names."""
        return {"loss_history": list(self.loss_history), "steps": self.steps, "parameters": self.parameters,
                "train_s": self.train_s, "final_loss": self.loss_history[-1] if self.loss_history else None}


def autocast_dtype(precision: str, device: Any, *, solver: str) -> Any:
    """The torch dtype of mixed precision ``precision`` on ``device`` (None for fp32).

    Mixed precision runs on CUDA only: on another device it is an
    :class:`InvalidOption` naming the option."""
    if precision not in PRECISIONS:
        raise InvalidOption(f"{solver}: precision={precision!r} is not allowed; choose one of "
                            + ", ".join(PRECISIONS))
    if precision == "fp32":
        return None
    import torch
    if getattr(device, "type", str(device).split(":")[0]) != "cuda":
        raise InvalidOption(f"{solver}: precision={precision!r}: mixed precision needs CUDA; "
                            "use precision=fp32 on the CPU or --device cuda")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def compiled(module: Any, enabled: bool, *, solver: str) -> Any:
    """``torch.compile(module)`` when ``enabled`` (the module itself otherwise).

    The compiled module shares the parameters of ``module``, so optimisers,
    checkpoints and parameter counts keep using ``module``."""
    if not enabled:
        return module
    import torch
    if not hasattr(torch, "compile"):  # pragma: no cover - torch >= 2 has it
        raise InvalidOption(f"{solver}: compile=true needs torch >= 2 (torch.compile)")
    return torch.compile(module)


def _unique(params: Iterable[Any]) -> list[Any]:
    seen: set[int] = set()
    out = []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def _optimizer(kind: str, params: list[Any], lr: float, weight_decay: float, options: dict[str, Any]) -> Any:
    import torch
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **options)
    if kind == "lbfgs":
        return torch.optim.LBFGS(params, lr=lr, **options)
    raise InvalidOption(f"optimizer={kind!r} is not allowed; choose adam or lbfgs")


def _average_gradients(params: list[Any], world: Any) -> None:
    """Each gradient replaced by its mean over the ranks (DistributedDataParallel's
    reduction, for parameters that are not in one wrapped module)."""
    import torch.distributed as dist
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(world.size)


def train(params: Iterable[Any], loss_fn: Callable[[int], Any], *, steps: int, lr: float, solver: str,
          optimizer: Literal["adam", "lbfgs"] = "adam", weight_decay: float = 0.0,
          optimizer_options: dict[str, Any] | None = None,
          schedule: Callable[[Any], Any] | None = None, schedule_every: int = 1,
          lr_at: Callable[[int], float] | None = None,
          after_step: Callable[[int, float], bool | None] | None = None,
          progress: Any = False, desc: str = "", step_base: int = 0,
          world: Any = None, average_gradients: bool = False,
          precision: str = "fp32", device: Any = "cpu", loss_limit: float = 1e12,
          clip_grad_norm: float | None = None) -> TrainRecord:
    """Minimise ``loss_fn`` over ``params`` for ``steps`` optimiser steps.

    ``params``: the tensors trained (a module's ``parameters()``, or a list).
    ``loss_fn(step)``: the loss of step ``step`` (0-based) as a scalar tensor.
    ``optimizer``: ``"adam"`` (with ``weight_decay``) or ``"lbfgs"`` (each of
    the ``steps`` steps is one ``LBFGS.step``, which evaluates ``loss_fn``
    up to ``max_iter`` times; every evaluation is recorded);
    ``optimizer_options``: further keyword arguments of the optimiser.
    ``schedule(optimizer) -> scheduler``: stepped every ``schedule_every``
    steps (an epoch of ``schedule_every`` batches); ``lr_at(step)``: the
    learning rate of each step, set before it.  ``after_step(step, loss)``
    returning True stops training.  ``progress``: a bool (a bar on stderr
    when true) or a bar to update.  ``step_base``: the number of the first
    step in messages (0 or 1).  ``world`` (:func:`sciml.distributed.world`):
    the recorded loss is the mean over the ranks; ``average_gradients``
    averages the gradients of ``params`` over the ranks after each backward
    pass.  ``precision``: ``fp32``, or ``bf16``/``fp16`` autocast on CUDA
    (fp16 with a gradient scaler).  A loss that is not finite or exceeds
    ``loss_limit`` raises :class:`~sciml.core.SolverDiverged`.
    ``clip_grad_norm``: the gradient of ``params`` is rescaled to at most this
    Euclidean norm before each Adam step (after averaging over the ranks and
    unscaling).
    """
    import torch
    from . import distributed as D
    from .torch_utils import check_loss
    params = _unique(params)
    opt = _optimizer(optimizer, params, lr, weight_decay, dict(optimizer_options or {}))
    sched = schedule(opt) if schedule is not None else None
    amp = autocast_dtype(precision, device, solver=solver)
    if amp is not None and optimizer == "lbfgs":
        raise InvalidOption(f"{solver}: precision={precision!r} is not supported with L-BFGS; use fp32")
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    reduce = average_gradients and world is not None and world.active
    rec = TrainRecord(parameters=int(sum(p.numel() for p in params)))
    own_bar = isinstance(progress, bool)
    pb = _bar(steps, desc or solver, progress) if own_bar else progress
    every = max(1, steps // 200)

    def forward(step: int) -> Any:
        if amp is None:
            return loss_fn(step)
        with torch.autocast("cuda", dtype=amp):
            return loss_fn(step)

    def record(loss: Any) -> float:
        value = float(D.global_mean(loss.detach(), world) if world is not None else loss.detach())
        rec.loss_history.append(value)
        check_loss(value, len(rec.loss_history) - 1 + step_base, solver=solver, limit=loss_limit)
        return value

    t0 = time.perf_counter()
    try:
        for step in range(steps):
            if optimizer == "lbfgs":
                def closure(step: int = step) -> Any:
                    opt.zero_grad()
                    loss = forward(step)
                    loss.backward()
                    if reduce:
                        _average_gradients(params, world)
                    record(loss)
                    return loss
                opt.step(closure)
                value = rec.loss_history[-1]
            else:
                if lr_at is not None:
                    for group in opt.param_groups:
                        group["lr"] = lr_at(step)
                loss = forward(step)
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                else:
                    loss.backward()
                if reduce or clip_grad_norm is not None:
                    if scaler is not None:
                        scaler.unscale_(opt)
                    if reduce:
                        _average_gradients(params, world)
                    if clip_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                if sched is not None and (step + 1) % schedule_every == 0:
                    sched.step()
                value = record(loss)
            rec.steps = step + 1
            pb.update(1)
            if step % every == 0 or step == steps - 1:
                pb.set_postfix(loss=f"{value:.3e}")
            if after_step is not None and after_step(step, value):
                rec.stopped = True
                break
    finally:
        if own_bar:
            pb.close()
    rec.train_s = time.perf_counter() - t0
    return rec
