"""Helpers shared by the torch-based solvers (imported only by them)."""
from __future__ import annotations

import math

from .core import InvalidOption, SolverDiverged


def torch_device(device: str):
    """Resolve ``device`` ("cpu", "cuda", "cuda:1") with a clear error if unavailable."""
    import torch
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidOption(f"device={device!r} requested but CUDA is not available; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise InvalidOption(f"device={device!r} is not allowed; choose cpu or cuda")
    return torch.device(device)


def torch_dtype(name: str):
    """The torch dtype named ``float32`` or ``float64``."""
    import torch
    table = {"float32": torch.float32, "float64": torch.float64}
    if name not in table:
        raise InvalidOption(f"dtype={name!r} is not allowed; choose float32 or float64")
    return table[name]


def seeded_generator(seed: int, device):
    """A torch.Generator seeded explicitly (no global RNG state is touched)."""
    import torch
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def check_loss(loss: float, step: int, *, solver: str, limit: float = 1e12) -> None:
    """Raise SolverDiverged on a NaN/inf or exploding loss."""
    if not math.isfinite(loss) or abs(loss) > limit:
        raise SolverDiverged(f"{solver}: loss became {loss!r} at step {step}; "
                             "lower the learning rate or use float64", step=step, loss=loss)


def count_parameters(module) -> int:
    """Number of scalar parameters of a torch module."""
    return int(sum(p.numel() for p in module.parameters()))


def seeded(seed: int, device: str = "cpu"):
    """Context manager: torch's global RNG seeded with ``seed`` inside, restored after.

    Network initialisation draws from torch's global generator; forking it
    keeps solvers reproducible without leaking state to the caller.
    """
    import torch
    devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    ctx = torch.random.fork_rng(devices=devices)

    class _Seeded:
        def __enter__(self):
            ctx.__enter__()
            torch.manual_seed(int(seed))
            return self

        def __exit__(self, *exc):
            return ctx.__exit__(*exc)

    return _Seeded()


def torch_threads(n: int | None = None):
    """Context manager: torch's (and Numba's) thread count is ``n`` inside the block
    (``None``: left as it is) and what it was before after the block
    (:func:`sciml.threads.limit_threads`, the one mechanism).

    With ``None`` it guards Numba calls made between torch work: Numba's
    OpenMP threading layer and torch share one OpenMP runtime in a process,
    and a Numba parallel kernel (the Radon transform, Monte Carlo) resets the
    runtime's thread count, after which torch silently runs with all cores."""
    from .threads import limit_threads
    return limit_threads(n, torch=True)


def keep_torch_threads():
    """torch's thread count restored after the block (see :func:`torch_threads`)."""
    return torch_threads(None)
