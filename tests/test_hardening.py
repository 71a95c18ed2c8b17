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
