"""Thread counts, set one way: this module is the only place that changes
torch's and Numba's thread counts.

A solver's ``threads`` option goes through it (the :meth:`Solver.solve
<sciml.core.Solver.solve>` template applies it around ``_solve``); study
workers call :func:`set_threads` with ``environment=True`` to also fix the
OpenMP/BLAS variables for libraries loaded later; the Monte Carlo kernels use
:func:`numba_threads` to run short calls on fewer threads.

torch and Numba share one OpenMP runtime in a process, and a Numba parallel
kernel (the Radon transform, Monte Carlo) resets the runtime's thread count,
after which torch silently runs with all cores; restoring torch's count when
the block ends (whatever ran inside it) keeps a training meant for one thread
on one thread (measured in the CT test: 4-6x slower on a busy machine
otherwise).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

__all__ = ["limit_threads", "set_threads", "numba_threads"]

_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def set_threads(n: int | None, *, torch: bool | None = None, environment: bool = False) -> None:
    """torch (and Numba, where loaded) run ``n`` threads from now on (``None``:
    nothing changes).  ``torch``: True imports torch to set it, None sets it
    only if torch is already imported.  ``environment``: also set the
    OpenMP/BLAS/Numba environment variables, for libraries loaded later (a
    worker process)."""
    if not n:
        return
    if environment:
        for var in _ENV:
            os.environ[var] = str(n)
    if torch or (torch is None and "torch" in sys.modules):
        import torch as tm
        if tm.get_num_threads() != n:
            tm.set_num_threads(n)
    nb = sys.modules.get("numba")
    if nb is not None:
        nb.set_num_threads(max(1, min(n, nb.config.NUMBA_NUM_THREADS)))


@contextlib.contextmanager
def limit_threads(n: int | None = None, *, torch: bool | None = None) -> Iterator[None]:
    """Inside the block torch (and Numba, where loaded) run ``n`` threads
    (:func:`set_threads`; ``None``: left as they are); afterwards both are what
    they were, whatever ran inside the block."""
    tm = None
    if torch or (torch is None and "torch" in sys.modules):
        import torch as tm  # noqa: F811
    t_before = tm.get_num_threads() if tm is not None else None
    nb_before = sys.modules["numba"].get_num_threads() if "numba" in sys.modules else None
    try:
        set_threads(n, torch=torch)
        yield
    finally:
        if tm is not None and tm.get_num_threads() != t_before:
            tm.set_num_threads(t_before)
        nb = sys.modules.get("numba")
        if nb is not None and nb_before is not None and nb.get_num_threads() != nb_before:
            nb.set_num_threads(nb_before)


@contextlib.contextmanager
def numba_threads(at_most: int) -> Iterator[None]:
    """Numba runs at most ``at_most`` threads inside the block: idle threads
    still join every parallel region, which costs tens of milliseconds per call
    on a loaded machine (results do not depend on the thread count)."""
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(before, int(at_most))))
    try:
        yield
    finally:
        numba.set_num_threads(before)
