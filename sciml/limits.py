"""Sizes checked before work starts: memory estimates against the machine.

A configuration whose arrays cannot fit is refused up front with the
estimate in the message, instead of failing after minutes (or being killed by
the kernel's out-of-memory killer).  The budget is a fraction of the memory
available now (``MemAvailable`` on Linux, else the physical memory).
"""
from __future__ import annotations

import os
import sys
from typing import Any
from .core import InvalidOption, SciMLError

__all__ = ["available_memory", "check_memory", "check_step", "fmt_bytes", "MEMORY_FRACTION",
           "INT32_MAX", "cpu_cores", "check_disk", "check_declared"]

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
    """A byte count as a short human-readable string (``1.5 GB``)."""
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


# ------------------------------------------------------------ declared limits
#: iteration-like options (training steps, epochs, solver iterations, time steps)
COUNT_LIMIT = 10 ** 7
COUNT_KEYS = ("steps", "adam_steps", "lbfgs_steps", "iters", "iterations", "epochs", "time_steps",
              "steps_next", "level", "repeats", "polish")
#: sample-like options (batch sizes, collocation points, samples, training set sizes)
SAMPLE_LIMIT = 10 ** 8
SAMPLE_KEYS = ("batch", "batch_size", "valid_batch", "eval_paths", "n_domain", "n_boundary", "train_size",
               "val_size", "mc_samples", "n_train", "samples", "max_samples", "n_traj", "nodes")
#: FEM unknowns ((degree * n + 1)^d on the unit cube)
UNKNOWNS_LIMIT = 10 ** 7
#: bytes per FEM unknown with a direct solver (matrix, factors, vectors): a measured order of magnitude
BYTES_PER_UNKNOWN = 2_000

#: how a refused size is lifted (the end of the message; studies rewrite it for their own command)
ALLOW_LARGE_HINT = "pass --allow-large (Python: evaluate(..., allow_large=True)) to run it anyway"


def check_declared(solver: Any, problem: Any, *, allow_large: bool = False) -> None:
    """Refuse, before any work, sizes beyond the declared limits above or
    beyond memory: threads above the core count (always), iteration and
    sample counts above ``COUNT_LIMIT``/``SAMPLE_LIMIT`` (unless
    ``allow_large``), samples x dimension and FEM unknowns beyond memory."""
    opts = solver.options() if hasattr(solver, "options") else {}
    name = getattr(solver, "name", type(solver).__name__)
    d = int(getattr(problem, "d", 1) or 1)
    threads = opts.get("threads")
    if isinstance(threads, int) and threads > cpu_cores():
        raise InvalidOption(f"{name}: threads={threads} is more than the {cpu_cores()} CPU cores of this "
                            f"machine; allowed: [1, {cpu_cores()}]")
    for key, v in opts.items():
        if not isinstance(v, int) or isinstance(v, bool):
            continue
        if key in SAMPLE_KEYS:
            check_memory(name, f"{key}={v} with d={d}", float(v) * d * 8,
                         hint=f"lower {key}")
        if allow_large:
            continue
        for keys, limit, what in ((COUNT_KEYS, COUNT_LIMIT, "iterations"), (SAMPLE_KEYS, SAMPLE_LIMIT, "samples")):
            if key in keys and v > limit:
                raise InvalidOption(f"{name}: {key}={v} exceeds the declared limit of {limit:g} {what}; {ALLOW_LARGE_HINT}")
    if name == "fem" and isinstance(opts.get("n"), int) and opts.get("h", 0) == 0:
        unknowns = float(opts.get("degree", 1) * opts["n"] + 1) ** d
        check_memory(name, f"n={opts['n']} with degree={opts.get('degree', 1)} in d={d} "
                     f"({unknowns:.3g} unknowns)", unknowns * BYTES_PER_UNKNOWN, hint="use a smaller n")
        if unknowns > UNKNOWNS_LIMIT and not allow_large:
            raise InvalidOption(f"{name}: n={opts['n']} in d={d} gives {unknowns:.3g} unknowns, above the declared "
                                f"limit of {UNKNOWNS_LIMIT:g}; {ALLOW_LARGE_HINT}")
    if callable(getattr(problem, "sde", None)):  # Kolmogorov problems: the SDE's d x d matrices (and copies)
        check_memory(getattr(problem, "name", "problem"), f"d={d} (the SDE's {d} x {d} matrices)",
                     3.0 * d * d * 8, hint="use a smaller d")
    n_test = getattr(problem, "n_test", None)
    if isinstance(n_test, int) and n_test > 0:
        points = float(n_test) ** d if getattr(problem, "name", "") == "poisson" else float(n_test)
        check_memory(getattr(problem, "name", "problem"), f"n_test={n_test} in d={d} ({points:.3g} test points)",
                     points * d * 8 * 4, hint="use a smaller n_test")
