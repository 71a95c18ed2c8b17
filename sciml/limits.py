"""Sizes checked before work starts: memory estimates against the machine.

A configuration whose arrays cannot fit is refused up front with the
estimate in the message, instead of failing after minutes (or being killed by
the kernel's out-of-memory killer).  The budget is a fraction of the memory
available now (``MemAvailable`` on Linux, else the physical memory).
"""
from __future__ import annotations

import os
import sys
from .core import InvalidOption, SciMLError

__all__ = ["available_memory", "check_memory", "check_step", "fmt_bytes", "MEMORY_FRACTION",
           "INT32_MAX", "cpu_cores", "check_disk"]

#: fraction of the available memory one run may plan to use
MEMORY_FRACTION = 0.8
#: largest count a Numba/C int32 loop counter or array index can hold
INT32_MAX = 2 ** 31 - 1


def available_memory() -> int:
    """Bytes of memory available to a new allocation (best effort)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2 ** 40


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PB"  # pragma: no cover


def check_memory(owner: str, what: str, nbytes: float, *, error: type[SciMLError] = InvalidOption,
                 hint: str = "") -> None:
    """Refuse ``what`` (e.g. ``"steps=1000000000 with d=10"``) when its
    estimated ``nbytes`` exceed the memory budget."""
    budget = MEMORY_FRACTION * available_memory()
    if nbytes > budget:
        raise error(f"{owner}: {what} needs about {fmt_bytes(nbytes)} of memory; this machine has "
                    f"{fmt_bytes(budget)} to spare{'; ' + hint if hint else ''}")


def check_disk(owner: str, what: str, nbytes: float, directory: str | os.PathLike, *,
               error: type[SciMLError] = InvalidOption) -> None:
    """Refuse writing about ``nbytes`` into ``directory`` (or its nearest
    existing ancestor) when the file system has less free space."""
    import shutil
    d = os.path.abspath(directory)
    while not os.path.isdir(d) and os.path.dirname(d) != d:
        d = os.path.dirname(d)
    try:
        free = shutil.disk_usage(d).free
    except OSError:  # pragma: no cover - unusual file systems
        return
    if nbytes > free:
        raise error(f"{owner}: {what} writes about {fmt_bytes(nbytes)}; {d} has {fmt_bytes(free)} free")


def check_step(owner: str, what: str, length: float, steps: float, *,
               error: type[SciMLError] = InvalidOption) -> None:
    """Refuse a step count that overflows an int32 loop counter or a step
    ``length / steps`` that underflows (is 0 or subnormal in float64)."""
    if steps > INT32_MAX:
        raise error(f"{owner}: {what} is too many steps; allowed: at most {INT32_MAX}")
    dt = length / steps
    if not dt >= sys.float_info.min:
        raise error(f"{owner}: {what} gives a step {length!r}/{steps:g} = {dt!r}, below the smallest "
                    f"normal float64 ({sys.float_info.min:.3g}); use fewer steps")


def cpu_cores() -> int:
    """The number of CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
