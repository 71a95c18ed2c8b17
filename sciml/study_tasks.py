"""What runs in the workers (a reference, a cell), and the executors.

Workers only compute and return plain results; the driving process writes
every file (:mod:`sciml.study_store`).  Conventions in :mod:`sciml.study`.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import traceback
from typing import Any, Callable, Iterable

import numpy as np

from . import io
from .core import InvalidOption, MissingDependency, Problem, Solution, Solver
from .study_spec import StudyError

log = logging.getLogger(__name__)


# ===================================================== work done in workers
def _limit_threads(n: int | None) -> None:
    """Keep each worker to ``n`` threads (None: leave the defaults), for the
    libraries loaded now and, through the environment, later."""
    from .threads import set_threads
    set_threads(n, environment=True)


def plot_grid(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(points, lo, hi) of the report's plot grid for a 1D/2D field problem:
    401 points on the test points' range in 1D, 81 x 81 in 2D (ij order)."""
    if problem.kind != "field":
        return None
    try:
        x = np.asarray(problem.test_points(), dtype=float)
    except NotImplementedError:
        return None
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        return None
    lo, hi = x.min(axis=0), x.max(axis=0)
    if x.shape[1] == 1:
        return np.linspace(lo[0], hi[0], 401)[:, None], lo, hi
    axes = [np.linspace(lo[i], hi[i], 81) for i in range(2)]
    g = np.meshgrid(*axes, indexing="ij")
    return np.stack([a.reshape(-1) for a in g], axis=1), lo, hi


def _point_sets(problem: Problem) -> list[np.ndarray]:
    """Where a cached reference must be known: test points, value point, plot grid."""
    sets = []
    if problem.kind == "field":
        try:
            sets.append(np.asarray(problem.test_points(), dtype=float))
        except NotImplementedError:
            pass
    x0 = problem.value_point()
    if x0 is not None:
        sets.append(np.asarray(x0, dtype=float).reshape(1, -1))
    grid = plot_grid(problem)
    if grid is not None:
        sets.append(grid[0])
    return sets


class Table:
    """A reference known on fixed point sets only (a cached reference).

    Calling it with one of its point sets (bitwise equal) returns the stored
    values; any other points raise :class:`InvalidOption`.
    """

    def __init__(self, points: list[np.ndarray], values: list[np.ndarray]) -> None:
        self.points = [np.asarray(p, dtype=float) for p in points]
        self.values = [np.asarray(v, dtype=float) for v in values]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        for p, v in zip(self.points, self.values):
            if p.shape == x.shape and np.array_equal(p, x):
                return v.copy()
        raise InvalidOption("a cached study reference is known on the problem's test points, value point "
                            f"and plot grid only, not on these {x.shape[0]} points")


def _reference_solution(table: dict[str, Any]) -> Solution:
    fn = Table(table["points"], table["values"]) if table["points"] else None
    return Solution(fn=fn, value=table["value"], stats=dict(table["stats"]), state=dict(table["state"]))


def failure_record(exc: BaseException) -> dict[str, Any]:
    """The summary fields of a failed task: status, error class, message and the traceback's end."""
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"status": "failed", "error": type(exc).__name__, "message": str(exc) or repr(exc),
            "traceback": "".join(tb[-6:])}


def _solve_reference(problem: Problem, solver: Solver, seed: int) -> Solution:
    from .evaluate import solve_timed
    sol, _ = solve_timed(solver, problem, seed=seed, device="cpu", progress=False)
    sol.stats["solver"] = solver.name
    return sol


def run_reference_task(task: dict[str, Any]) -> dict[str, Any]:
    """Worker: compute a reference and tabulate it (see the module docstring)."""
    _limit_threads(task.get("threads"))
    problem = task["problem"]
    try:
        sol = _solve_reference(problem, task["solver"], task["seed"])
        points = _point_sets(problem) if sol.fn is not None else []
        values = [np.asarray(sol(p), dtype=float).reshape(-1) for p in points]
        value = None if sol.value is None else float(sol.value)
        stats = {k: v for k, v in sol.stats.items() if not isinstance(v, np.ndarray)}
        state = {k: np.asarray(v) for k, v in sol.state.items() if np.asarray(v).dtype.kind in "fiub"}
        return {"status": "done", "points": points, "values": values, "value": value,
                "stats": json.loads(io.json_text(stats)), "state": state}
    except Exception as exc:  # noqa: BLE001 - recorded, the study goes on
        return failure_record(exc)


class _Capture:
    """Delegates to a solver and keeps the Solution ``solve`` returns, so that the
    cell can tabulate it on the plot grid after :func:`evaluate` (which returns
    only the record)."""

    def __init__(self, solver: Solver) -> None:
        self._solver = solver
        self.solution: Solution | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._solver, name)

    def solve(self, problem: Problem, **kwargs: Any) -> Solution:
        self.solution = self._solver.solve(problem, **kwargs)
        return self.solution


def _plot_state(problem: Problem, sol: Solution | None, ref: Solution) -> dict[str, np.ndarray]:
    grid = plot_grid(problem)
    if grid is None or sol is None or sol.fn is None or ref.fn is None:
        return {}
    pts, lo, hi = grid
    shape = (pts.shape[0],) if pts.shape[1] == 1 else (81, 81)
    try:
        u = np.asarray(sol(pts), dtype=float).reshape(shape)
        r = np.asarray(ref(pts), dtype=float).reshape(shape)
    except Exception as exc:  # noqa: BLE001 - a figure is a nicety, the errors are the result
        log.info("no plot values for %s: %s", problem.name, exc)
        return {}
    return {"study_plot_u": u, "study_plot_ref": r, "study_plot_lo": lo, "study_plot_hi": hi}


def run_cell_task(task: dict[str, Any]) -> dict[str, Any]:
    """Worker: one evaluate() run against the cell's reference."""
    from .evaluate import evaluate
    _limit_threads(task.get("threads"))
    problem, solver = task["problem"], task["solver"]
    try:
        if "table" in task:
            ref = _reference_solution(task["table"])
        else:
            ref = _solve_reference(problem, task["ref_solver"], task["ref_seed"])
        cap = _Capture(solver)
        rec = evaluate(problem, cap, ref, seed=task["seed"], device=task["device"], progress=False,
                       allow_large=task.get("allow_large", False))
        rec.state = {**rec.state, **_plot_state(problem, cap.solution, ref)}
        return {"status": "done", "record": rec}
    except Exception as exc:  # noqa: BLE001 - recorded, the study goes on
        return failure_record(exc)


# ================================================================ executors
def _watch_parent(pid: int) -> None:
    """End this worker as soon as the study's main process ``pid`` is gone.

    A main process killed with SIGKILL runs no cleanup: its pool workers would
    wait for tasks forever, and keep the forkserver and the resource tracker
    alive with them.  A daemon thread waits on a pidfd of the main process
    (Linux >= 5.3), else polls it once a second, then exits the worker.
    """
    import threading
    import time

    def alive() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - exists, owned by another user
            return True
        return True

    def watch() -> None:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            os._exit(1)  # gone already
        except (AttributeError, OSError):  # no pidfd here: poll
            fd = None
        if fd is not None:
            import select
            select.select([fd], [], [])  # readable when the process has exited
        else:  # pragma: no cover - old kernels
            while alive():
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="sciml-parent-watch", daemon=True).start()


def _init_worker(threads: int | None, parent: int | None = None) -> None:
    if parent is not None:
        _watch_parent(parent)
    _limit_threads(threads)


class InlineExecutor:
    """One worker: run in this process when the task is submitted."""

    capacity = 1

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(arg))
        except BaseException as exc:  # KeyboardInterrupt included: surfaced by result()
            fut.set_exception(exc)
        return fut

    def wait(self, futures: Iterable[Any]) -> set[Any]:
        return {f for f in futures if f.done()}

    def close(self) -> None:
        pass


class PoolExecutor:
    """A process pool; a worker that dies (segfault, out of memory) fails the cells
    in flight (BrokenProcessPool) and the pool is started again for the rest."""

    def __init__(self, workers: int, threads: int) -> None:
        self.capacity = 2 * workers
        self.threads = threads
        self._workers = workers
        self._ex = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        ctx = multiprocessing.get_context("forkserver")
        return cf.ProcessPoolExecutor(max_workers=self._workers, mp_context=ctx,
                                      initializer=_init_worker, initargs=(self.threads, os.getpid()))

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> cf.Future:
        try:
            return self._ex.submit(fn, arg)
        except cf.process.BrokenProcessPool:
            log.warning("a worker process died; starting a new pool")
            self._ex.shutdown(wait=False, cancel_futures=True)
            self._ex = self._start()
            return self._ex.submit(fn, arg)

    def wait(self, futures: Iterable[Any]) -> set[Any]:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return set(done)

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)


def _close_failed_client(exc: BaseException, client_type: type) -> None:
    """Close the half-built Client a failed ``Client(...)`` left behind (found in the
    traceback's frames), quickly and quietly: otherwise its ``__del__`` blocks up to
    twice the connect timeout and prints a TimeoutError traceback after the one-line
    error."""
    tb = exc.__traceback__
    while tb is not None:
        client = tb.tb_frame.f_locals.get("self")
        if isinstance(client, client_type):
            try:
                client.close(timeout=1)
            except Exception:  # noqa: BLE001 - it never connected: nothing to shut down cleanly
                pass
            client.status = "closed"  # __del__ then has nothing to do
            try:
                client._loop_runner.stop()
            except Exception:  # noqa: BLE001
                pass
            return
        tb = tb.tb_next


class DaskExecutor:
    """A dask.distributed client: a local cluster of ``workers`` processes, or the
    ``scheduler`` at an address (connected within ``timeout`` seconds)."""

    def __init__(self, workers: int, scheduler: str | None, timeout: float) -> None:
        try:
            import distributed
        except ImportError:
            raise MissingDependency("the dask executor needs dask[distributed]; "
                                    "pip install 'dask[distributed]'") from None
        self._distributed = distributed
        self._cluster = None
        # distributed logs its start-up at INFO on stderr; keep the study's stderr to the
        # progress bar unless the caller asked for INFO (sciml -v).  Restored in close().
        self._dlog = logging.getLogger("distributed")
        self._dlog_level = self._dlog.level
        if logging.getLogger().getEffectiveLevel() > logging.INFO:
            self._dlog.setLevel(logging.WARNING)
        if scheduler:
            try:
                from distributed.comm.addressing import parse_address
                from distributed.comm.registry import get_backend
                get_backend(parse_address(scheduler)[0])  # an unknown scheme, before any client exists
            except (ValueError, TypeError) as exc:
                self._dlog.setLevel(self._dlog_level)
                raise StudyError(f"--scheduler {scheduler!r} is not a dask scheduler address: {exc}") from None
            try:
                self._client = distributed.Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
            except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a bad address
                _close_failed_client(exc, distributed.Client)
                self._dlog.setLevel(self._dlog_level)
                raise StudyError(f"cannot reach the dask scheduler at {scheduler!r} within {timeout:g} s: "
                                 f"{exc}") from None
            workers_info = self._client.scheduler_info().get("workers", {}).values()
            n = sum(w.get("nthreads", 1) for w in workers_info)
            self.gpus = sum(int(w.get("resources", {}).get("GPU", 0)) for w in workers_info)
            self.threads = 1  # a cluster's worker slots are cores: one thread each
        else:
            self._cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                     dashboard_address=None, silence_logs=logging.ERROR)
            self._client = distributed.Client(self._cluster, set_as_default=False)
            n = workers
            self.gpus = 0
            self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.capacity = max(64, 2 * n)

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """Submit ``fn(arg)``; a cell on CUDA asks for one ``GPU`` resource when the
        cluster's workers declare GPUs (``dask worker --resources GPU=1``), so the
        scheduler runs one such cell per GPU at a time."""
        if self.gpus and isinstance(arg, dict) and str(arg.get("device", "cpu")).startswith("cuda"):
            return self._client.submit(fn, arg, pure=False, resources={"GPU": 1})
        return self._client.submit(fn, arg, pure=False)

    def wait(self, futures: Iterable[Any]) -> set[Any]:
        with self._client.as_current():  # wait() looks for the current client; ours is not the default
            done, _ = self._distributed.wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done)

    def close(self) -> None:
        try:
            self._client.close()
            if self._cluster is not None:
                self._cluster.close()
        finally:
            self._dlog.setLevel(self._dlog_level)
