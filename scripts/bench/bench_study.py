"""Benchmark of the study runner; prints one JSON line.

* ``overhead_per_cell``: a study of N CPU-bound cells of about 1 s each (one
  worker, in process) against the same N solves called directly, in the same
  run: (study wall - direct wall) / direct wall, the fastest of ``--rounds``
  alternating rounds of each.  ``overhead_vs_cell_solver_time``: (study wall -
  the cells' own solver seconds) / solver seconds, within one study run.
* ``speedup_local_2`` / ``speedup_dask_2``: the same kind of study of M cells
  with 2 workers (process pool; dask LocalCluster, its start-up included)
  against 1 worker.  ``speedup_dask_2_warm`` excludes the cluster start-up
  (the study connects to an already running scheduler, as with --scheduler).
  ``concurrency_*``: the cells' summed wall time over the study's wall time
  (2 when two cells always run at once, whatever share of the CPU they get).

The cells are a fixed amount of pure-Python arithmetic (GIL-bound, one
core each), calibrated to ``--cell-s`` seconds at the start.  On a shared
machine other users' load lowers the speedups: the load average is printed.

    python scripts/bench/bench_study.py [--cells 12] [--cell-s 1.0]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sciml.core import Problem, Solution, Solver, check_range


def spin(iterations: int) -> float:
    """A fixed amount of CPU work (an LCG in pure Python)."""
    x = 1
    for _ in range(iterations):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x / 0x7FFFFFFF


@dataclass(frozen=True)
class Busy(Solver):
    """Spins ``iterations`` LCG steps, then returns the problem's exact solution."""

    name = "busy"
    accepts = ("poisson",)

    iterations: int = 1_000_000
    tag: int = 0  # makes cells distinct

    def __post_init__(self) -> None:
        check_range(self, "iterations", self.iterations, lo=0)

    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu", progress: bool = False) -> Solution:
        r = spin(self.iterations)
        return Solution(fn=problem.exact, stats={"spin": r})


def _spec(iterations: int, cells: int) -> dict:
    return {"seeds": [0],
            "problem": [{"name": "poisson", "params": {"d": 1, "n_test": 101}}],
            "solver": [{"name": "bench_study:Busy",
                        "options": {"iterations": iterations, "tag": list(range(cells))}}]}


def _timed_study(spec: dict, tmp: str, name: str, **kw) -> tuple[float, float]:
    """(study wall seconds, sum of the cells' own solver wall seconds)."""
    from sciml import study
    t0 = time.perf_counter()
    res = study.run(spec, out=Path(tmp) / name, report=False, **kw)
    wall = time.perf_counter() - t0
    assert len(res.done) == len(res.cells), res.failed[:1]
    return wall, sum(c["wall_s"] for c in res.done)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=12, help="cells of the speedup studies")
    ap.add_argument("--overhead-cells", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the overhead measurement")
    ap.add_argument("--cell-s", type=float, default=1.0)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parent)
    sys.path.insert(0, here)  # workers import this file as the module bench_study
    os.environ["PYTHONPATH"] = os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])
    import bench_study as me
    from sciml import registry

    t0 = time.perf_counter()
    me.spin(2_000_000)
    iterations = int(2_000_000 * args.cell_s / (time.perf_counter() - t0))
    out: dict = {"bench": "study", "cpu_count": os.cpu_count(), "iterations_per_cell": iterations}

    with tempfile.TemporaryDirectory() as tmp:
        # --- runner overhead per cell, 1 worker, against direct solves; rounds
        # alternate and the fastest of each kind counts (the machine is shared)
        problem = registry.make_problem("poisson", d=1, n_test=101)
        directs, studies, inside = [], [], []
        for rnd in range(args.rounds):
            t0 = time.perf_counter()
            for tag in range(args.overhead_cells):
                me.Busy(iterations=iterations, tag=tag).solve(problem, seed=0)
            directs.append(time.perf_counter() - t0)
            wall, solver_s = _timed_study(_spec(iterations, args.overhead_cells), tmp, f"overhead{rnd}")
            studies.append(wall)
            inside.append((wall - solver_s) / solver_s)
        direct, wall = min(directs), min(studies)
        out.update(cell_s=direct / args.overhead_cells, overhead_direct_s=direct, overhead_study_s=wall,
                   overhead_per_cell=(wall - direct) / direct,
                   overhead_vs_cell_solver_time=min(inside))

        # --- speedups with 2 workers; concurrency = sum of cell walls / study wall
        spec = _spec(iterations, args.cells)
        one, _ = _timed_study(spec, tmp, "one")
        local2, cells2 = _timed_study(spec, tmp, "local2", workers=2)
        out.update(cells=args.cells, one_worker_s=one, local_2_s=local2, speedup_local_2=one / local2,
                   concurrency_local_2=cells2 / local2)
        if not args.no_dask:
            dask2, cellsd = _timed_study(spec, tmp, "dask2", executor="dask", workers=2)
            import distributed
            with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                          silence_logs=40) as cluster:
                warm, _ = _timed_study(spec, tmp, "dask2warm", executor="dask",
                                       scheduler=cluster.scheduler_address)
            out.update(dask_2_s=dask2, speedup_dask_2=one / dask2, concurrency_dask_2=cellsd / dask2,
                       dask_2_warm_s=warm, speedup_dask_2_warm=one / warm)
    out.update(baseline="1 worker (in process) / direct solver calls", load_avg_1min=os.getloadavg()[0],
               note="2-core machine shared with other users (kernel autogroup scheduling gives one "
                    "autogroup (everything started from one terminal) one share): "
                    "timings and speedups are pessimistic")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
