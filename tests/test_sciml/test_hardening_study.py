"""Hardening (issue 18), studies and reports: damaged files, wrong values and
sizes are refused with one line (exit 2) before any cell runs, and a damaged
cell or reference summary is run again instead of blocking the study.

The cells are the cheap toys of ``test_study_toys`` (a truncated Fourier series).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sciml import cli, study

TOYS = "test_study_toys"
PROBLEM = f'[[problem]]\nname = "{TOYS}:Series"\n'
CACHED = PROBLEM + f'reference = "{TOYS}:Truncated"\nreference_options = {{ n = 100 }}\n'
SOLVER = f'[[solver]]\nname = "{TOYS}:Truncated"\noptions = {{ n = [4, 8] }}\n'


def run_cli(capsys, *args: str) -> tuple[int, str]:
    rc = cli.main([str(a) for a in args])
    return rc, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("sciml")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------- refused at planning time
BAD = {
    # UnicodeDecodeError traceback before
    "non-UTF-8 file": (b'title = "\xff\xfe"\n' + (PROBLEM + SOLVER).encode(), "not UTF-8 text (byte 0xff at line 1)"),
    # ValueError: Empty module name
    'name = ":"': ('[[problem]]\nname = ":"\n' + SOLVER, "name=':' is malformed"),
    "name = 'x:'": (f'[[problem]]\nname = "{TOYS}:"\n' + SOLVER, "is malformed"),
    # each cell failed at run time (exit 3, a dolfinx signature dump / KeyError: 2.5)
    "n = 4.5": (PROBLEM + f'[[solver]]\nname = "{TOYS}:Truncated"\noptions = {{ n = 4.5 }}\n', "n=4.5 is not allowed"),
    "d = 2.5": ('[[problem]]\nname = "poisson"\nparams = { d = 2.5 }\nreference = "exact"\n'
                '[[solver]]\nname = "fem"\n', "d=2.5 is not allowed"),
    "samples = 100.5": ('[[problem]]\nname = "heat"\nreference = "exact"\n[[solver]]\nname = "monte-carlo"\n'
                        'options = { samples = 100.5 }\n', "samples=100.5 is not allowed"),
    "device = cuda with fem": ('device = "cuda"\n[[problem]]\nname = "poisson"\nreference = "exact"\n'
                               '[[solver]]\nname = "fem"\n', "solver 'fem' has no CUDA path"),
    # accepted before, and the report silently had nothing to fit
    "metrics = nosuch": ('metrics = ["nosuch"]\n' + PROBLEM + SOLVER, "known metrics: rel_l2"),
    # limits of `sciml solve` hold in studies too
    "steps = 2e7": ('[[problem]]\nname = "heat"\nreference = "exact"\n[[solver]]\nname = "deep-kolmogorov"\n'
                    'options = { steps = 2e7 }\n', "sciml study --allow-large"),
    "threads = 1e9": ('[[problem]]\nname = "heat"\nreference = "exact"\n[[solver]]\nname = "deep-kolmogorov"\n'
                      'options = { threads = 1e9 }\n', "CPU cores"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_study_refused_before_any_cell(case, tmp_path, capsys):
    text, fragment = BAD[case]
    spec = tmp_path / "s.toml"
    (spec.write_bytes if isinstance(text, bytes) else spec.write_text)(text)
    rc, err = run_cli(capsys, "study", spec, "--out", tmp_path / "out", "--quiet")
    assert rc == 2, err
    assert fragment in one_line(err)
    assert not (tmp_path / "out").exists()


def test_allow_large_lifts_a_study_limit_not_the_memory_check():
    spec = {"problem": [{"name": "heat", "reference": "exact"}],
            "solver": [{"name": "deep-kolmogorov", "options": {"steps": 2e7}}]}
    with pytest.raises(study.StudyError, match="declared limit"):
        study.plan(spec)
    assert len(study.plan(spec, allow_large=True).cells) == 1
    spec["problem"][0]["params"] = {"d": 1000}
    spec["solver"][0]["options"] = {"batch": 10 ** 8 - 1}
    with pytest.raises(study.StudyError, match="needs about"):
        study.plan(spec, allow_large=True)


def test_numpy_grid_in_the_python_api(tmp_path):
    spec = {"seeds": np.array([0, 1]), "metrics": ["rel_l2"],
            "problem": [{"name": f"{TOYS}:Series", "params": {"p": np.float64(2.0)}}],
            "solver": [{"name": f"{TOYS}:Truncated", "options": {"n": np.array([4, 8, 16])}}]}
    res = study.run(spec, out=tmp_path / "out", report=False)  # TypeError / '<' not supported before
    assert len(res.done) == 6
    assert sorted({c["options"]["n"] for c in res.done}) == [4, 8, 16]
    assert json.loads((tmp_path / "out" / "study.json").read_text())["seeds"] == [0, 1]


# ----------------------------------------------------------- damaged study folders
@pytest.fixture
def finished(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(CACHED + SOLVER)
    out = tmp_path / "out"
    rc, err = run_cli(capsys, "study", spec, "--out", out, "--quiet")
    assert rc == 0, err
    return spec, out


@pytest.mark.parametrize("content", ["[]", "null"])
def test_damaged_cell_and_reference_summaries_are_run_again(finished, capsys, caplog, content):
    spec, out = finished
    cell = sorted((out / "cells").glob("*.json"))[0]
    ref = next((out / "references").glob("*.json"))
    cell.write_text(content)
    ref.write_text(content)
    rc, err = run_cli(capsys, "study", spec, "--out", out, "--quiet", "--resume")  # AttributeError before
    assert rc == 0, err
    assert "Traceback" not in err
    assert caplog.text.count("not a summary") == 2 and "run again" in caplog.text
    assert json.loads(cell.read_text())["status"] == "done"
    assert json.loads(ref.read_text())["status"] == "done"
    index = json.loads((out / "index.json").read_text())
    assert index["counts"] == {"done": 2, "failed": 0, "pending": 0}


def test_corrupt_study_json_with_resume(finished, capsys):
    spec, out = finished
    (out / "study.json").write_text("{bad")
    rc, err = run_cli(capsys, "study", spec, "--out", out, "--quiet", "--resume")  # JSONDecodeError before
    assert rc == 2 and "study.json is unreadable" in one_line(err) and "without --resume" in err
    rc, err = run_cli(capsys, "study", spec, "--out", out, "--quiet")  # the advice works
    assert rc == 0, err
    assert json.loads((out / "study.json").read_text())["seeds"] == [0]


def _edit_index(out: Path, fn) -> None:
    path = out / "index.json"
    index = json.loads(path.read_text())
    fn(index)
    path.write_text(json.dumps(index))


@pytest.mark.parametrize("damage, fragment", [
    (lambda ix: ix.pop("cells"), "has no list of 'cells'"),
    (lambda ix: ix.update(cells=None), "has no list of 'cells'"),
    (lambda ix: ix["cells"][0].pop("status"), "cell #1 lacks 'status'"),
    (lambda ix: ix["cells"][1].update(status="weird"), "cell #2 has status='weird'"),
    (lambda ix: ix["cells"].__setitem__(0, []), "cell #1 is list"),
    (lambda ix: ix["cells"][0].pop("errors"), "cell #1 is done but lacks its errors"),
])
def test_report_on_a_damaged_index(finished, capsys, damage, fragment):
    _, out = finished
    for f in (out / "cells").glob("*.json"):
        f.write_text("null")  # no sound summary on disk to fall back on
    _edit_index(out, damage)
    rc, err = run_cli(capsys, "report", out)  # KeyError tracebacks before
    assert rc == 2 and fragment in one_line(err) and "re-run the study" in err


def test_report_falls_back_on_the_cells_own_summary(finished, capsys):
    _, out = finished
    _edit_index(out, lambda ix: ix["cells"][0].pop("status"))
    rc, err = run_cli(capsys, "report", out)
    assert rc == 0, err
    assert "2 done" in (out / "report.md").read_text()


def test_report_in_a_read_only_folder(finished, capsys, monkeypatch):
    _, out = finished
    from sciml import report

    def refuse(path, obj):  # what a read-only folder does (root, who runs CI here, writes anywhere)
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(report, "write_json", refuse)
    rc, err = run_cli(capsys, "report", out)  # PermissionError traceback before
    assert rc == 2 and "cannot write the report into" in one_line(err) and "Permission denied" in err


# ------------------------------------------------------------------ process hygiene
def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_killing_the_main_process_leaves_no_workers(tmp_path):
    """SIGKILL of `sciml study --workers 2` left both workers, the forkserver and the
    resource tracker running (the workers waited for tasks forever)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    spec = tmp_path / "s.toml"
    spec.write_text(PROBLEM + f'[[solver]]\nname = "{TOYS}:Truncated"\noptions = {{ n = [1, 2, 3, 4], sleep = 60 }}\n')
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
    main = subprocess.Popen([sys.executable, "-m", "sciml.cli", "study", str(spec), "--out", str(tmp_path / "out"),
                             "--workers", "2", "--quiet"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        family: list[int] = []
        while time.monotonic() < deadline:  # tracker + forkserver, and the forkserver's 2 workers
            kids = _children(main.pid)
            family = kids + [g for k in kids for g in _children(k)]
            if len(family) >= 4:
                break
            time.sleep(0.2)
        assert len(family) >= 4, family
        main.send_signal(signal.SIGKILL)
        main.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in family):
            time.sleep(0.1)
        assert not [p for p in family if _alive(p)]
    finally:
        try:
            os.killpg(main.pid, signal.SIGKILL)  # the test's own session: nothing outlives a failure
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("address, fragment", [
    ("bogus://x", "is not a dask scheduler address"),  # refused before any client exists
    ("tcp://127.0.0.1", "missing port number"),  # a client half-built, then closed quietly
    ("inproc://nope", "cannot reach the dask scheduler"),
])
def test_dask_client_fails_quietly(tmp_path, address, fragment):
    """exit 2 with one line, then a Client.__del__ TimeoutError traceback 20 s later before."""
    pytest.importorskip("distributed")
    import subprocess
    import sys
    import time
    spec = tmp_path / "s.toml"
    spec.write_text(PROBLEM + SOLVER)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sciml.cli", "study", str(spec), "--out", str(tmp_path / "out"),
                           "--executor", "dask", "--scheduler", address, "--quiet"],
                          capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parent)})
    assert proc.returncode == 2, proc.stderr
    assert fragment in one_line(proc.stderr)
    assert time.monotonic() - t0 < 15  # the __del__ waited twice the 10 s connect timeout


# ------------------------------------------------- remaining tracebacks and limits (solve)
def _solve(capsys, *args: str) -> tuple[int, str]:
    rc = cli.main(["solve", *args, "--json"])
    cap = capsys.readouterr()
    assert cap.out == "" or rc == 0
    return rc, cap.err


SOLVE = [
    # OverflowError traceback before (exit 1)
    (["black-scholes", "-p", "payoff=call", "-p", "d=1", "-p", "q=-1e9", "--solver", "monte-carlo", "-o",
      "samples=1000"], 3, "OverflowError: math range error"),
    # LinAlgError traceback before
    (["boltzmann-bkw", "--solver", "spectral", "-o", "L=1e-300", "-o", "n=8"], 3, "LinAlgError"),
    # ran for hours (1e12 RK4 steps)
    (["boltzmann-bkw", "--solver", "spectral", "-o", "dt=1e-12"], 2, "1e+12 RK4 steps"),
    # MemoryError after the d x d matrices were asked for
    (["heat", "-p", "d=100000", "--solver", "monte-carlo", "-o", "samples=1000"], 2, "100000 x 100000 matrices"),
    # escaped the on-the-fly limit res has
    (["darcy", "-p", "eval_res=1025", "-p", "n_train=10", "-p", "n_test=2", "--solver", "fno"], 2,
     "eval_res=1025 with n_test=2 is too many"),
    # mass/momentum/energy null with exit 0 before
    (["boltzmann-bkw", "--solver", "neural-collision", "-o", "L=1e9", "-o", "iters=20", "-o", "n=8", "-o", "n_traj=1"],
     3, "= nan is not a finite number"),
]


@pytest.mark.parametrize("args, code, fragment", SOLVE, ids=[" ".join(a)[:60] for a, *_ in SOLVE])
def test_solve_fails_in_one_line(capsys, args, code, fragment):
    import time
    t0 = time.perf_counter()
    rc, err = _solve(capsys, *args)
    assert rc == code, err
    assert fragment in one_line(err)
    assert time.perf_counter() - t0 < 30


def test_allow_large_lifts_the_spectral_step_limit():
    from problems.boltzmann import BoltzmannBKW
    from sciml.core import InvalidOption
    from sciml.evaluate import check_sizes
    from sciml.references.kinetic import Spectral
    with pytest.raises(InvalidOption, match="--allow-large"):
        check_sizes(Spectral(dt=1e-8), BoltzmannBKW())
    check_sizes(Spectral(dt=1e-8), BoltzmannBKW(), allow_large=True)
    check_sizes(Spectral(dt=1e-7), BoltzmannBKW())  # 1e7 steps: at the limit


def test_fbp_unet_non_finite_validation_is_solver_diverged(monkeypatch):
    # lr=1e9: finite losses, a network whose output is NaN; `load_state_dict(None)` TypeError before
    from problems.tomography import CT
    from sciml.core import SolverDiverged
    from sciml.solvers import fbp_unet
    monkeypatch.setattr(fbp_unet, "_mean_psnr", lambda *a: float("nan"))
    solver = fbp_unet.FBPUNet(train_size=2, val_size=1, epochs=1, batch_size=2, width=4, depth=1)
    with pytest.raises(SolverDiverged, match="validation PSNR = nan"):
        solver.solve(CT(n=16, angles=8))


def _darcy_files(tmp_path):
    # in a subprocess: an in-process darcy.generate leaves its file locked for this process (HDF5 errno 11)
    import subprocess
    import sys
    train, extra = tmp_path / "d8.h5", tmp_path / "d16.h5"
    for out, args in ((train, ["--res", "8", "--count", "12"]), (extra, ["--res", "16", "--start", "10", "--count", "2"])):
        subprocess.run([sys.executable, "-m", "sciml.cli", "data", "darcy", "--out", str(out), "--workers", "1",
                        "--quiet", *args], check=True, capture_output=True, timeout=120)
    return train, extra


def test_nan_in_darcy_eval_data_is_refused(tmp_path, capsys):
    import h5py
    train, extra = _darcy_files(tmp_path)
    with h5py.File(extra, "r+") as f:
        u = f["u"][()]
        u[1, 3, 3] = np.nan
        f["u"][...] = u
    rc, err = _solve(capsys, "darcy", "-p", f"data={train}", "-p", "res=8", "-p", "n_train=10", "-p", "n_test=2",
                     "-p", f"eval_data={extra}", "--solver", "fno", "-o", "epochs=1", "-o", "modes=4")
    assert rc == 2, err  # exit 0 with rel_l2@res16 = NaN before
    line = one_line(err)
    assert str(extra) in line and "dataset u holds 1 non-finite" in line


@pytest.mark.parametrize("damage, fragment", [
    (lambda f: f.attrs.__delitem__("config"), "no 'config' attribute"),
    (lambda f: f.attrs.__setitem__("config", "{bad"), "is not JSON"),
    (lambda f: f.attrs.__setitem__("config", "[]"), "is list, not a table"),
    (lambda f: f.attrs.__setitem__("config", '{"count": 3}'), "config geometry=None"),
    (lambda f: f.attrs.__setitem__("config", '{"count": 99, "geometry": {"n": 16, "angles": 6}}'), "count=99"),
])
def test_ct_dataset_with_a_bad_config(tmp_path, damage, fragment):
    import h5py
    from sciml.core import DataError
    from sciml.datasets import ct
    path = tmp_path / "ct.h5"
    assert cli.main(["data", "ct-ellipses", "--out", str(path), "--n", "16", "--angles", "6", "--count", "3",
                     "--quiet"]) == 0
    with h5py.File(path, "r+") as f:
        damage(f)
    with pytest.raises(DataError, match=fragment) as info:  # KeyError / JSONDecodeError before
        ct.load(path, "train")
    assert str(path) in str(info.value)


def test_deepxde_import_prints_no_banner_and_writes_nothing_home(tmp_path):
    """DeepXDE's 3-line backend banner preceded every pinn error; nothing may go to ~/.deepxde."""
    pytest.importorskip("deepxde")
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "DDE_BACKEND"}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", "from sciml.solvers.pinn import import_deepxde; "
                           "print(import_deepxde().backend.backend_name)"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=str(Path(__file__).parents[2]))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "pytorch"
    assert "Using backend" not in proc.stderr and "paddle" not in proc.stderr, proc.stderr
    assert not (tmp_path / ".deepxde").exists()
