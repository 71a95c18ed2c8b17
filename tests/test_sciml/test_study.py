"""Studies: grids, cells on disk, resume after SIGKILL, corrupt files, failures,
executors, cached references, the FEM rates read from the analysis."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sciml import io, report, study
from test_study_toys import tail_l2

TESTS = Path(__file__).resolve().parents[1]
TOYS = "test_study_toys"


def toy_spec(tmp_path: Path, *, ns=(4, 8, 16, 32), seeds=(0,), noise=0.0, sleep=0.0, fail_at=0,
             p="2", reference: str | None = None, name="study.toml") -> Path:
    ref = f'reference = "{reference}"\n' if reference else ""
    text = f"""title = "toy"
seeds = {list(seeds)}

[[problem]]
name = "{TOYS}:Series"
params = {{ p = {p} }}
{ref}
[[solver]]
name = "{TOYS}:Truncated"
options = {{ n = {list(ns)}, noise = {noise}, sleep = {sleep}, fail_at = {fail_at} }}
"""
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_by_key(cells):
    return {(c["options"]["n"], c["seed"], json.dumps(c["params"])): c["errors"] for c in cells}


def test_plan_expands_grids_and_ids_do_not_depend_on_spelling(tmp_path):
    pl = study.plan(toy_spec(tmp_path, seeds=(0, 1, 2), p="[2, 3]"))
    assert len(pl.cells) == 2 * 4 * 3
    assert len({c.id for c in pl.cells}) == len(pl.cells)
    again = study.plan(toy_spec(tmp_path, seeds=(2, 0, 1), p="[2.0, 3.0]", name="b.toml"))
    assert {c.id for c in again.cells} == {c.id for c in pl.cells}
    assert {c.problem.p for c in pl.cells} == {2.0, 3.0}
    assert study.declared_rates(pl.cells[0].solver) == {"n": {"rel_l2": 1.5}}


def test_a_list_for_a_tuple_field_is_one_value_and_a_list_of_lists_a_grid(tmp_path):
    def instances(tags: str) -> list:
        spec = {"problem": [{"name": f"{TOYS}:Series", "params": {"tags": json.loads(tags)}}],
                "solver": [{"name": "exact"}]}
        return sorted(c.problem.tags for c in study.plan(spec).cells)
    assert instances("[1, 2]") == [(1, 2)]
    assert instances("[[1], [2, 3]]") == [(1,), (2, 3)]
    with pytest.raises(study.StudyError, match="empty grid"):
        instances("[]")


def test_solvers_pair_with_the_problems_they_accept_and_may_have_their_own_seeds(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(f"""seeds = [0, 1]
[[problem]]
name = "{TOYS}:Series"
[[problem]]
name = "poisson"
params = {{ d = 1 }}
[[solver]]
name = "{TOYS}:Truncated"
options = {{ n = [4, 8] }}
seeds = [5]
[[solver]]
name = "exact"
""")
    cells = study.plan(spec).cells
    pairs = sorted((c.solver.name, c.problem.name, c.seed) for c in cells)
    assert pairs == [("exact", "poisson", 0), ("exact", "poisson", 1), ("exact", "toy-series", 0),
                     ("exact", "toy-series", 1), ("toy-truncated", "toy-series", 5),
                     ("toy-truncated", "toy-series", 5)]


def test_run_writes_cells_index_and_the_rate_of_the_truncation_error(tmp_path):
    ns = (4, 8, 16, 32, 64)
    res = study.run(toy_spec(tmp_path, ns=ns), out=tmp_path / "out", progress=True)
    assert isinstance(res, study.StudyResult) and len(res.done) == len(ns) and not res.failed
    index = study.load_index(tmp_path / "out")
    assert index["counts"] == {"done": len(ns), "failed": 0, "pending": 0}
    for c in res.done:  # each cell is a complete sciml results file
        rec = io.load(tmp_path / "out" / c["file"])[0]
        assert rec["errors"] == pytest.approx(c["errors"], rel=0, abs=0)
        assert c["errors"]["rel_l2"] == pytest.approx(tail_l2(2.0, c["options"]["n"], 200), rel=1e-10)
    # the fitted rate is the least-squares slope of the independently computed errors
    x = np.log(ns)
    y = np.log([tail_l2(2.0, n, 200) for n in ns])
    expected = -np.polyfit(x, y, 1)[0]
    (rate,) = [r for r in report.analyse(tmp_path / "out")["problems"][0]["rates"] if r["metric"] == "rel_l2"]
    assert rate["rate"] == pytest.approx(expected, abs=1e-9)
    assert rate["ci"] is None and rate["declared"] == 1.5
    assert res.report == tmp_path / "out" / "report.md" and res.report.exists()


def test_bootstrap_interval_over_seeds_brackets_the_rate(tmp_path):
    ns = (8, 16, 32, 64)
    study.run(toy_spec(tmp_path, ns=ns, seeds=(0, 1, 2, 3, 4), noise=0.05), out=tmp_path / "out")
    (r,) = [r for r in report.analyse(tmp_path / "out")["problems"][0]["rates"] if r["metric"] == "rel_l2"]
    clean = -np.polyfit(np.log(ns), np.log([tail_l2(2.0, n, 200) for n in ns]), 1)[0]
    lo, hi = r["ci"]
    assert lo < r["rate"] < hi
    # 5% multiplicative noise, 5 seeds, 4 points: slope sd ~ 0.05/sqrt(5)/sqrt(Sxx=2.4) ~ 0.015
    assert 0.005 < hi - lo < 0.15
    assert abs(r["rate"] - clean) < 0.1


def _done_cells(out: Path) -> int:
    n = 0
    for meta in (out / "cells").glob("*.json"):
        try:
            n += json.loads(meta.read_text())["status"] == "done"
        except (ValueError, KeyError):
            pass
    return n


def test_sigkill_then_resume_gives_every_cell_once_with_the_same_numbers(tmp_path):
    spec = toy_spec(tmp_path, ns=tuple(range(2, 14)), seeds=(0,), noise=0.1, sleep=0.25)
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "sciml.cli", "study", str(spec), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while _done_cells(out) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole study, workers included
        proc.wait()
    before = {m.name: m.read_text() for m in (out / "cells").glob("*.json")}
    assert 3 <= _done_cells(out) < 12, "the study was not killed part-way"
    rc = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    index = study.load_index(out)
    assert index["counts"] == {"done": 12, "failed": 0, "pending": 0}
    assert len({c["id"] for c in index["cells"]}) == 12 and len(list((out / "cells").glob("*.h5"))) == 12
    assert not list((out / "cells").glob(".*"))  # no temporary files left behind
    for name, text in before.items():  # complete cells were not run again
        if json.loads(text)["status"] == "done":
            assert (out / "cells" / name).read_text() == text
    whole = study.run(spec, out=tmp_path / "whole", report=False)
    assert errors_by_key(index["cells"]) == errors_by_key(whole.cells)


def test_truncated_corrupt_or_missing_cell_files_are_run_again(tmp_path):
    spec = toy_spec(tmp_path, ns=(4, 8, 16, 32), seeds=(0, 1), noise=0.1)
    out = tmp_path / "out"
    first = study.run(spec, out=out, report=False)
    files = [out / c["file"] for c in first.done]
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])                  # truncated
    data = bytearray(files[1].read_bytes())
    data[len(data) // 2] ^= 0xFF                                  # one byte altered
    files[1].write_bytes(bytes(data))
    files[2].unlink()                                             # gone
    untouched = {f: f.stat().st_mtime_ns for f in files[3:]}
    second = study.run(spec, out=out, report=False)
    assert len(second.done) == 8
    for f in files[:3]:
        assert io.load(f)  # rewritten, readable
    assert {f: f.stat().st_mtime_ns for f in files[3:]} == untouched
    assert errors_by_key(second.cells) == errors_by_key(first.cells)


def test_a_failed_cell_is_recorded_and_the_study_goes_on(tmp_path):
    out = tmp_path / "out"
    res = study.run(toy_spec(tmp_path, ns=(4, 8, 16, 32), fail_at=8), out=out)
    assert len(res.done) == 3 and len(res.failed) == 1
    (bad,) = res.failed
    assert bad["options"]["n"] == 8 and bad["error"] == "SolverDiverged" and "n=8" in bad["message"]
    assert "## Failed cells" in (out / "report.md").read_text()
    (r,) = [r for r in report.analyse(out)["problems"][0]["rates"] if r["metric"] == "rel_l2"]
    assert [q[0] for q in r["points"]] == [4, 16, 32]


def test_a_worker_that_dies_fails_its_cell_only_and_the_pool_is_restarted(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(f"""[[problem]]
name = "{TOYS}:Series"
[[solver]]
name = "{TOYS}:Truncated"
options = {{ n = [4, 5, 6, 7, 8, 9], crash_at = 5 }}
""")
    res = study.run(spec, out=tmp_path / "out", workers=2, report=False)
    # the cells in flight beside it are re-run one at a time, which names the culprit
    assert [c["options"]["n"] for c in res.failed] == [5] and len(res.done) == 5
    assert res.failed[0]["error"] == "BrokenProcessPool"


def test_fail_fast_stops_with_exit_3(tmp_path, capsys):
    from sciml import cli
    spec = toy_spec(tmp_path, ns=(4, 8, 16, 32), fail_at=4)
    rc = cli.main(["study", str(spec), "--out", str(tmp_path / "out"), "--fail-fast", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 3 and "fail-fast" in err and "SolverDiverged" in err
    assert _done_cells(tmp_path / "out") == 0  # stopped at the first cell


def test_cli_exit_3_when_cells_failed_but_the_study_went_on(tmp_path, capsys):
    from sciml import cli
    spec = toy_spec(tmp_path, ns=(4, 8, 16), fail_at=8)
    rc = cli.main(["study", str(spec), "--out", str(tmp_path / "out"), "--quiet"])
    assert rc == 3 and "1 of 3 cells failed" in capsys.readouterr().err
    assert _done_cells(tmp_path / "out") == 2


def test_process_pool_and_dask_give_the_inline_numbers_and_references_are_computed_once(tmp_path):
    pytest.importorskip("distributed")
    log = tmp_path / "fine.log"
    text = f"""seeds = [0, 1, 2]
[[problem]]
name = "{TOYS}:Series"
params = {{ p = [2, 3] }}
reference = "{TOYS}:Fine"
reference_options = {{ log = "{log}" }}
[[solver]]
name = "{TOYS}:Truncated"
options = {{ n = [4, 8], noise = 0.1 }}
"""
    spec = tmp_path / "s.toml"
    spec.write_text(text)
    pool = study.run(spec, out=tmp_path / "pool", workers=2, report=False)
    assert len(pool.done) == 12
    assert len(log.read_text().splitlines()) == 2  # one reference per problem instance
    assert len(list((tmp_path / "pool" / "references").glob("*.h5"))) == 2
    again = study.run(spec, out=tmp_path / "pool", workers=2, report=False)  # nothing left to do
    assert len(log.read_text().splitlines()) == 2 and len(again.done) == 12
    dask = study.run(spec, out=tmp_path / "dask", executor="dask", workers=2, report=False)
    inline = study.run(toy_spec(tmp_path, ns=(4, 8), seeds=(0, 1, 2), noise=0.1, p="[2, 3]"),
                       out=tmp_path / "inline", report=False)
    # the cached reference equals the exact one bitwise, so the errors agree exactly
    assert errors_by_key(pool.cells) == errors_by_key(dask.cells) == errors_by_key(inline.cells)
    assert all(c["reference"] == "toy-fine" for c in pool.cells)


def test_resume_needs_the_same_study(tmp_path):
    spec = toy_spec(tmp_path, ns=(4, 8))
    with pytest.raises(study.StudyError, match="no study to resume"):
        study.run(spec, out=tmp_path / "out", resume=True)
    study.run(spec, out=tmp_path / "out", report=False)
    other = toy_spec(tmp_path, ns=(4, 8, 16), name="other.toml")
    with pytest.raises(study.StudyError, match="differs"):
        study.run(other, out=tmp_path / "out", resume=True)
    assert len(study.run(other, out=tmp_path / "out", report=False).done) == 3  # a plain run extends


def test_python_api_accepts_a_dict(tmp_path):
    spec = {"seeds": 0, "problem": [{"name": "poisson", "params": {"d": 1, "n_test": 101}}],
            "solver": [{"name": "exact"}]}
    res = study.run(spec, out=tmp_path / "out")
    assert len(res.done) == 1 and res.done[0]["errors"]["rel_l2"] == 0.0


@pytest.mark.fem
def test_poisson_fem_study_recovers_the_declared_orders(tmp_path):
    pytest.importorskip("dolfinx")
    from sciml.references.fem import FEM
    spec = tmp_path / "fem.toml"
    spec.write_text("""seeds = [0]
metrics = ["l2_fem"]
[[problem]]
name = "poisson"
params = { d = 2, solution = "sine", k = 1 }
[[solver]]
name = "fem"
options = { degree = [1, 2], n = [8, 16, 32, 64] }
""")
    study.run(spec, out=tmp_path / "out")
    rates = {r["fixed"]["degree"]: r for r in report.analyse(tmp_path / "out")["problems"][0]["rates"]
             if r["metric"] == "l2_fem"}
    for degree in (1, 2):
        declared = FEM.orders[degree]["l2_fem"]
        assert rates[degree]["declared"] == declared
        assert abs(rates[degree]["rate"] - declared) <= 0.15, rates[degree]


@pytest.mark.slow
def test_quickstart_study_runs_and_recovers_the_fem_orders(tmp_path):
    pytest.importorskip("dolfinx")
    res = study.run(TESTS.parent / "scripts" / "quickstart.toml", out=tmp_path / "qs", workers=2)
    assert not res.failed and res.report.exists()
    poisson = next(p for p in report.analyse(tmp_path / "qs")["problems"] if p["problem"] == "poisson")
    for r in poisson["rates"]:
        if r["metric"] == "l2_fem":
            assert abs(r["rate"] - r["declared"]) <= 0.15, r


def _echo_device(task):
    return task["device"]


def test_dask_cells_on_cuda_ask_for_one_gpu_resource():
    """Workers started with GPU resources (``dask worker --resources GPU=1``): a cell on
    CUDA is submitted with ``resources={"GPU": 1}`` (one such cell per GPU at a time),
    a CPU cell without restrictions."""
    distributed = pytest.importorskip("distributed")
    from sciml.study_tasks import DaskExecutor
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, resources={"GPU": 1},
                                  dashboard_address=None) as cluster:
        ex = DaskExecutor(workers=1, scheduler=cluster.scheduler_address, timeout=30)
        try:
            assert ex.gpus == 1
            gpu = ex.submit(_echo_device, {"device": "cuda"})
            cpu = ex.submit(_echo_device, {"device": "cpu"})
            assert gpu.result() == "cuda" and cpu.result() == "cpu"
            # the futures are held, so the scheduler still knows their tasks
            restrictions = ex._client.run_on_scheduler(
                lambda dask_scheduler, keys=(gpu.key, cpu.key): [
                    dask_scheduler.tasks[k].resource_restrictions for k in keys])
            assert restrictions[0] == {"GPU": 1} and not restrictions[1]
        finally:
            ex.close()
