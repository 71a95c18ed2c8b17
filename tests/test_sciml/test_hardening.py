"""Hardening (issue 18): no silent wrong answer, no clobbered or stray file,
limits checked before work starts.

Each CLI case is a probe of the fuzz: the command, its exit status and a
fragment of its one-line message.  Commands run in-process through
``sciml.cli.main`` (a subprocess costs seconds each on a loaded machine).
"""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from sciml.cli import main
from sciml.core import InvalidOption, InvalidProblem


def cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_clean_failure(rc: int, out: str, err: str, code: int, fragment: str) -> None:
    assert rc == code, (rc, err)
    assert fragment in err, err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("sciml")]
    assert len(lines) == 1, err
    assert out == ""


MC = ("--solver", "monte-carlo", "-o", "samples=1000")

# ---------------------------------------------------------- silent wrong answers
# Each returned exit 0 with a wrong number or ``null`` in the JSON before.
SILENT = [
    # steps=1e9: dt and the per-thread buffers cannot be represented; the answer was 0.0
    (["heat", *MC, "-o", "scheme=euler", "-o", "steps=1e9"], 2, "needs about"),
    (["heat", "-p", "d=2", *MC, "-o", "scheme=euler", "-o", "steps=2.2e9"], 2, "at most 2147483647"),
    (["heat", "-p", "T=1e-300", *MC, "-o", "scheme=euler", "-o", "steps=1e9"], 2, "smallest normal"),
    # a reference that would have scored every solver against zeros: refused before the solver runs
    (["heat", "--solver", "exact", "--reference", "monte-carlo", "-r", "scheme=euler", "-r", "steps=5e9"],
     2, "steps=5000000000"),
    # non-finite results: exit 3 naming the quantity, never null with exit 0
    (["heat", "-p", "d=2", "-p", "b=1e300", *MC], 3, "value = inf"),
    (["black-scholes", "-p", "payoff=call", "-p", "d=1", "-p", "r=1e9", *MC], 3, "value = nan"),
    (["black-scholes", "-p", "payoff=call", "-p", "d=1", "-p", "T=1e9", *MC], 3, "not a finite number"),
    (["black-scholes", "-p", "payoff=call", "-p", "d=1", "-p", "K=1e300", *MC], 3, "not a finite number"),
    # booleans and fractions are not integers
    (["poisson", "--solver", "fem", "-p", "d=True"], 2, "d='True'"),
    (["poisson", "--solver", "fem", "-o", "n=4.5"], 2, "n='4.5'"),
]


@pytest.mark.parametrize("args, code, fragment", SILENT, ids=[" ".join(a) for a, *_ in SILENT])
def test_silent_wrong_answers_are_refused(capsys, args, code, fragment):
    rc, out, err = cli(capsys, "solve", *args, "--json")
    assert_clean_failure(rc, out, err, code, fragment)


def test_reference_solution_of_another_problem_is_refused():
    from problems.elliptic import Poisson
    from sciml.evaluate import evaluate
    from sciml.references.exact import Exact
    ref = Exact().solve(Poisson(k=1))
    assert ref.problem_id == {"name": "poisson", "params": Poisson(k=1).params()}
    with pytest.raises(InvalidOption, match="not of 'poisson'"):
        evaluate(Poisson(k=2), Exact(), reference=ref)  # scored rel_l2 = 1.41 before
    with pytest.raises(InvalidOption, match="'d': 2"):
        evaluate(Poisson(d=3), Exact(), reference=Exact().solve(Poisson(d=2)))
    rec = evaluate(Poisson(k=1), Exact(), reference=ref)  # the right one is still taken
    assert rec.errors["rel_l2"] == 0.0


def test_extra_errors_refuse_another_problem():
    from problems.elliptic import Poisson
    from sciml.references.fem import FEM
    sol = FEM(n=4).solve(Poisson(d=1))
    assert sol.extra_errors(Poisson(d=1))["l2_fem"] > 0
    with pytest.raises(InvalidOption, match="not of 'poisson'"):
        sol.extra_errors(Poisson(d=1, k=2))  # ignored its argument before


@pytest.mark.parametrize("make, exc, fragment", [
    (lambda P, F: P(d=True), InvalidProblem, "d=True"),
    (lambda P, F: P(d=2.5), InvalidProblem, "d=2.5"),
    (lambda P, F: P(d=[2]), InvalidProblem, "d=[2]"),
    (lambda P, F: P(solution=3), InvalidProblem, "solution=3"),
    (lambda P, F: F(n=4.5), InvalidOption, "n=4.5"),
    (lambda P, F: F(n=True), InvalidOption, "n=True"),
    (lambda P, F: F(degree=True), InvalidOption, "degree=True"),
])
def test_exact_types_in_python(make, exc, fragment):
    from problems.elliptic import Poisson
    from sciml.references.fem import FEM
    with pytest.raises(exc, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        make(Poisson, FEM)


def test_numpy_scalars_and_integral_floats_are_their_python_values():
    from problems.elliptic import Poisson
    from sciml.references.fem import FEM
    f = FEM(degree=np.int32(2), n=8.0)  # UFLException / dolfinx TypeError before
    assert type(f.degree) is int and f.degree == 2 and type(f.n) is int and f.n == 8
    p = Poisson(d=np.int64(1), k=np.float32(2.0))
    assert type(p.d) is int and type(p.k) is float
    assert json.dumps(p.params())


@pytest.mark.parametrize("key, value, fragment", [
    ("n", True, "n=True"), ("n", 4.5, "n=4.5"), ("degree", False, "degree=False"),
])
def test_exact_types_in_study_files(key, value, fragment):
    from sciml.study import StudyError
    from sciml.study_plan import plan
    spec = {"problem": [{"name": "poisson", "reference": "exact"}],
            "solver": [{"name": "fem", "options": {key: value}}]}
    with pytest.raises(StudyError, match=fragment):
        plan(spec)  # a study with n = true ran fem with n = 1 before


def test_sharp_peak_never_scores_zero_in_fem_norms(capsys, caplog):
    # alpha = 1e9: the peak (width 3e-5) falls between the quadrature points of an n = 8 mesh;
    # l2_fem = h1_fem = 0 was reported while rel_l2 = 1
    with caplog.at_level(logging.WARNING):
        rc, out, err = cli(capsys, "solve", "poisson", "-p", "solution=peak", "-p", "alpha=1e9",
                           "--solver", "fem", "-o", "n=8", "--json")
    assert rc == 0, err
    errors = json.loads(out)["errors"]
    assert errors["rel_l2"] == pytest.approx(1.0, abs=1e-6)
    assert "l2_fem" not in errors and "h1_fem" not in errors
    assert "not reported" in caplog.text


# ------------------------------------------------------------------- output files
@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exists.h5").write_text("keep me")
    ro = tmp_path / "readonly.h5"
    ro.write_text("keep me too")
    ro.chmod(0o444)
    (tmp_path / "adir").mkdir()
    return tmp_path


EXACT = ("solve", "poisson", "--solver", "exact", "-p", "d=1", "--json")
FILES = [
    ([*EXACT, "--out", "/dev/null"], "not a regular file"),  # replaced the null device as root
    ([*EXACT, "--out", ""], "is empty"),
    ([*EXACT, "--out", "exists.h5"], "--overwrite"),  # replaced whatever was there
    ([*EXACT, "--out", "readonly.h5", "--overwrite"], "read-only"),
    ([*EXACT, "--out", "adir"], "is a directory"),
    ([*EXACT, "--out", "x" * 5000 + ".h5"], "at most 255"),
    ([*EXACT, "--out", "a.h5", "--out", "b.h5"], "given twice"),
    (["study", "nosuch.toml", "--out", ""], "is empty"),  # wrote cells/ into the current directory
    (["data", "ct-ellipses", "--out", ""], "is empty"),
    (["data", "ct-ellipses", "--out", "adir", "--n", "16", "--count", "2"], "is a directory"),
    (["data", "ct-ellipses", "--out", "big.h5", "--count", "1e12"], "count=1000000000000"),
    (["data", "ct-ellipses", "--out", "s.h5", "--seed", "-1"], "seed=-1"),
    (["data", "darcy", "--out", "big.h5", "--res", "100000"], "res=100000"),
    (["data", "darcy", "--out", "small.h5", "--res", "4"], "res=4"),
]


@pytest.mark.parametrize("args, fragment", FILES, ids=[" ".join(a)[:80] for a, _ in FILES])
def test_output_paths_checked_before_work(workdir, capsys, args, fragment):
    before = {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()}
    rc, out, err = cli(capsys, *args)
    assert_clean_failure(rc, out, err, 2, fragment)
    after = {p.name: p.stat().st_mtime_ns for p in workdir.iterdir()}
    assert after == before  # nothing written, nothing replaced, no .partial
    assert (workdir / "exists.h5").read_text() == "keep me"


def test_overwrite_replaces_and_keeps_the_umask(workdir, capsys):
    import os
    old = os.umask(0o027)
    try:
        rc, _, err = cli(capsys, *EXACT, "--out", "exists.h5", "--overwrite")
    finally:
        os.umask(old)
    assert rc == 0, err
    from sciml import io
    assert io.load(workdir / "exists.h5")[0]["problem"] == "poisson"
    assert (workdir / "exists.h5").stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600
    assert [p.name for p in workdir.iterdir() if p.name.endswith(".tmp")] == []


def test_atomic_write_removes_its_temporary_on_sigterm(tmp_path):
    import os
    import signal
    from sciml import io
    target = tmp_path / "run.h5"
    with pytest.raises(SystemExit) as info:
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGTERM)
    assert info.value.code == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_stale_temporary_of_a_killed_writer_is_cleaned(tmp_path):
    import os
    from sciml import io
    target = tmp_path / "run.h5"
    dead = tmp_path / ".run.h5.999999999-0badcafe.tmp"  # above pid_max: its writer is gone
    live = tmp_path / f".run.h5.{os.getpid()}-0badcafe.tmp"  # a writer still at work
    dead.write_bytes(b"x" * 100)
    live.write_bytes(b"x" * 100)
    with io.atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert not dead.exists() and live.exists()


def test_garbage_ct_partial_does_not_block_the_next_run(tmp_path, capsys):
    out = tmp_path / "ct.h5"
    (tmp_path / "ct.h5.partial").write_bytes(b"garbage")  # OSError: file signature not found before
    args = ("data", "ct-ellipses", "--out", str(out), "--n", "16", "--angles", "6", "--count", "3")
    rc, _, err = cli(capsys, *args)
    assert rc == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.h5"]
    from sciml.datasets import ct
    assert ct.load(out)[0].shape == (3, 16, 16)
    assert cli(capsys, *args)[0] == 0  # the same arguments: the finished file is kept
    rc, _, err = cli(capsys, *args[:-1], "4")  # other arguments: refused, not clobbered
    assert rc == 2 and "not this dataset" in err
    assert ct.load(out)[0].shape == (3, 16, 16)


@pytest.mark.parametrize("args, fragment", [
    (["--seed", "-1"], "--seed -1"),
    (["--seed", str(10 ** 22)], "allowed: [0, 4294967295]"),
    (["--seed", "1", "--seed", "2"], "given twice"),
    (["-p", "d=1", "-p", "d=2"], "-p d is given twice"),
    (["--reference", "fem", "-r", "bogus=1"], "reference option (-r)"),
])
def test_command_line_wording(capsys, args, fragment):
    rc, out, err = cli(capsys, "solve", "poisson", "--solver", "exact", *args, "--json")
    assert_clean_failure(rc, out, err, 2, fragment)


# ------------------------------------------------------------------ limits up front
LIMITS = [
    (["poisson", "--solver", "fem", "-o", "n=100000"], "unknowns"),
    (["poisson", "-p", "d=3", "--solver", "fem", "-o", "n=2000"], "unknowns"),
    (["poisson", "-p", "n_test=1e9", "--solver", "fem"], "n_test=1000000000"),
    (["heat", "--solver", "deep-kolmogorov", "-o", "batch=1e9"], "batch=1000000000"),
    (["heat", "--solver", "deep-kolmogorov", "-o", "steps=1e9"], "--allow-large"),
    (["heat", "--solver", "deep-kolmogorov", "-o", "threads=1e9"], "CPU cores"),
    (["poisson", "--solver", "pinn", "-o", "n_domain=1e9"], "--allow-large"),
    (["poisson", "--solver", "pinn", "-o", "adam_steps=1e9"], "--allow-large"),
    (["ct", "--solver", "fbp-unet", "-o", "train_size=1e9"], "--allow-large"),
    (["allen-cahn", "--solver", "deep-splitting", "-o", "mc_samples=1e9"], "needs about"),
    (["heat", "--solver", "monte-carlo", "-o", "samples=1e12"], "exceeds max_samples"),
    (["allen-cahn", "--solver", "deep-bsde", "--reference", "exact"], "no exact solution"),  # was after 10.8 s
]


@pytest.mark.parametrize("args, fragment", LIMITS, ids=[" ".join(a) for a, _ in LIMITS])
def test_sizes_refused_before_any_work(capsys, args, fragment):
    import time
    t0 = time.perf_counter()
    rc, out, err = cli(capsys, "solve", *args, "--json")
    assert_clean_failure(rc, out, err, 2, fragment)
    assert time.perf_counter() - t0 < 30  # refused up front, not after the work (generous: a loaded machine)


def test_allow_large_lifts_the_declared_limit_not_the_memory_check():
    from problems.elliptic import Poisson
    from sciml.limits import COUNT_LIMIT, check_declared
    from sciml.references.fem import FEM
    from sciml.solvers.pinn import PINN
    big = PINN(adam_steps=COUNT_LIMIT + 1)
    with pytest.raises(InvalidOption, match="declared limit"):
        check_declared(big, Poisson())
    check_declared(big, Poisson(), allow_large=True)  # lifted
    with pytest.raises(InvalidOption, match="needs about"):
        check_declared(FEM(n=100_000), Poisson(), allow_large=True)  # memory is never lifted
