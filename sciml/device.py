"""Where a run executes: ``cpu``, ``cuda`` or ``cuda:N``, resolved honestly.

:func:`resolve_device` is the one place that turns a requested device into
the device a run will really use, or refuses with :class:`InvalidOption`
(exit status 2) when the request cannot be honoured:

* an unknown spelling (``gpu``, ``cuda:x``);
* ``cuda`` for a solver without a CUDA path (a classical reference with CPU
  kernels only): the run would otherwise silently run on the CPU;
* ``cuda`` on a machine where the solver's CUDA engine sees no device;
* ``cuda:N`` with N at or beyond the number of devices.

A solver says which engine runs it on a GPU with the class attribute
``cuda_engine``: ``"torch"`` (tensors and networks on the device),
``"numba"`` (Numba CUDA kernels) or ``None`` (CPU only).  Without the
attribute, learned solvers are taken to be torch solvers and classical ones
CPU-only.  The resolved name always carries the index (``cuda:0``), so a
record says on which device it ran.
"""
from __future__ import annotations

import re
from typing import Any

from .core import InvalidOption

__all__ = ["parse_device", "resolve_device", "cuda_engine", "cuda_device_count", "device_name"]

_PATTERN = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


def parse_device(requested: Any) -> tuple[str, int | None]:
    """``"cpu"`` -> ("cpu", None); ``"cuda"`` -> ("cuda", None); ``"cuda:2"`` -> ("cuda", 2)."""
    text = str(requested).strip().lower()
    m = _PATTERN.match(text)
    if m is None or (m.group(1) == "cpu" and m.group(2) is not None):
        raise InvalidOption(f"device={requested!r} is not allowed; choose cpu, cuda or cuda:N")
    return m.group(1), (int(m.group(2)) if m.group(2) is not None else None)


def cuda_engine(solver: Any) -> str | None:
    """The engine that runs ``solver`` on a GPU: "torch", "numba", or None (CPU only)."""
    if solver is None:
        return "torch"
    engine = getattr(type(solver), "cuda_engine", "unset")
    if engine == "unset":
        return "torch" if getattr(solver, "learned", False) else None
    return engine


def cuda_device_count(engine: str = "torch") -> int:
    """Number of CUDA devices ``engine`` can use here (0 without CUDA or without the engine)."""
    if engine == "torch":
        try:
            import torch
        except ImportError:
            return 0
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    if engine == "numba":
        try:
            from numba import cuda
        except ImportError:  # pragma: no cover - numba is a dependency
            return 0
        try:
            return len(cuda.gpus) if cuda.is_available() else 0
        except Exception:  # a driver that loads but fails to enumerate: no usable device
            return 0
    raise ValueError(f"unknown CUDA engine {engine!r}")


def device_name(device: str, engine: str = "torch") -> str:
    """A readable name of the device (the GPU's model for ``cuda:N``)."""
    kind, index = parse_device(device)
    if kind == "cpu":
        import platform
        return platform.processor() or platform.machine() or "cpu"
    if engine == "torch":
        import torch
        return torch.cuda.get_device_name(index or 0)
    from numba import config, cuda
    if config.ENABLE_CUDASIM:
        return "Numba CUDA simulator"
    name = cuda.gpus[index or 0].name
    return name.decode() if isinstance(name, bytes) else str(name)


def resolve_device(requested: Any, solver: Any = None) -> str:
    """The device ``solver`` will really run on for the request: "cpu" or "cuda:N".

    Raises :class:`InvalidOption` (one line naming the request and what is
    allowed) when the request cannot be honoured; see the module docstring.
    ``solver=None`` resolves for torch work in general.
    """
    kind, index = parse_device(requested)
    if kind == "cpu":
        return "cpu"
    engine = cuda_engine(solver)
    who = f"solver {getattr(solver, 'name', type(solver).__name__)!r}" if solver is not None else "this run"
    if engine is None:
        raise InvalidOption(f"device={requested!r}: {who} has no CUDA path (it runs on the CPU only); "
                            "use --device cpu")
    count = cuda_device_count(engine)
    if count == 0:
        hint = ("a CUDA build of torch and an NVIDIA driver" if engine == "torch"
                else "an NVIDIA driver and the numba-cuda package")
        raise InvalidOption(f"device={requested!r} requested but CUDA is not available here "
                            f"({who} needs {hint}); use --device cpu")
    index = 0 if index is None else index
    if index >= count:
        raise InvalidOption(f"device={requested!r} is beyond this machine's {count} CUDA device(s); "
                            f"allowed: cuda:0 .. cuda:{count - 1}")
    return f"cuda:{index}"
