"""Data-parallel training with torch.distributed (one process per device, ``torchrun``).

A torch solver trains under ``torchrun --nproc_per_node N`` through these
helpers; in a plain process they are no-ops (world size 1).

* :func:`world` joins the process group that torchrun describes in its
  environment (gloo on the CPU, NCCL on CUDA), with a timeout, so that a
  killed rank makes the others fail with an error instead of waiting forever;
* :func:`local_slice` splits the global batch: every rank draws the same
  global batch from the same seeded generator and trains on its contiguous
  share, so the gradients DistributedDataParallel averages are the
  single-process gradient of the global batch, up to the order of the
  floating-point sums (the ranks replicate the sampling, which is cheap next
  to the network for the solvers that use this);
* :func:`global_mean` averages a scalar (the loss) over the ranks, so every
  rank records the global batch's loss.

A global batch that the world size does not divide is an ``InvalidOption``.
"""
from __future__ import annotations

import atexit
import datetime
import os
from typing import Any

from .core import InvalidOption

__all__ = ["World", "world", "local_slice", "global_mean", "wrap", "finish"]

#: seconds a collective waits for the other ranks before failing the run
TIMEOUT_S = 300


class World:
    """rank and size of the data-parallel group (0 and 1 outside torchrun)."""

    def __init__(self, rank: int = 0, size: int = 1) -> None:
        self.rank, self.size = rank, size

    @property
    def active(self) -> bool:
        return self.size > 1


def world(device: Any) -> World:
    """The process group torchrun set up for this process (joined on first use)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch.distributed as dist
    if not dist.is_available():
        raise InvalidOption("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if not dist.is_initialized():
        backend = "nccl" if getattr(device, "type", str(device)) == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_S))
        atexit.register(finish)
    return World(dist.get_rank(), dist.get_world_size())


def finish() -> None:
    """Leave the process group: wait for every rank, then destroy it.

    Without the barrier a rank that finishes first tears down its gloo
    connections while a slower rank (still writing its results) holds them,
    and the slower rank aborts ("terminate called without an active
    exception"). Registered with ``atexit`` when :func:`world` joins; safe to
    call twice."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def local_slice(batch: int, w: World, *, solver: str) -> slice:
    """This rank's contiguous share of a global batch of ``batch`` samples."""
    if batch % w.size:
        raise InvalidOption(f"{solver}: batch={batch} is not divisible by the world size {w.size}; "
                            f"use a multiple of {w.size}")
    n = batch // w.size
    return slice(w.rank * n, (w.rank + 1) * n)


def wrap(module: Any, w: World, device: Any) -> Any:
    """``module`` in DistributedDataParallel when several ranks train, else itself."""
    if not w.active:
        return module
    from torch.nn.parallel import DistributedDataParallel
    ids = [device.index or 0] if getattr(device, "type", "cpu") == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def global_mean(value: Any, w: World) -> Any:
    """The mean of a scalar tensor over the ranks (``value`` itself with one rank)."""
    if not w.active:
        return value
    import torch.distributed as dist
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / w.size


def rank_device(device: Any, w: World) -> Any:
    """Under torchrun on GPUs each rank takes the GPU of its local rank (``cuda:LOCAL_RANK``)."""
    if w.active and getattr(device, "type", "cpu") == "cuda":
        import torch
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device
