"""The CLI contract for the Kolmogorov family: JSON keys, values at x0, bad input -> exit 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sciml.cli import main
from sciml.evaluate import JSON_KEYS


def _solve(capsys, *args):
    code = main(["solve", *args, "--json", "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def test_monte_carlo_against_exact_json(capsys):
    code, out, err = _solve(capsys, "heat", "--solver", "monte-carlo", "-p", "d=5", "-p", "n_test=50",
                            "-p", "x0=0.25", "-o", "samples=20000", "--seed", "3")
    assert code == 0, err
    rec = json.loads(out)
    assert tuple(rec) == JSON_KEYS
    assert rec["reference"] == "exact" and rec["params"]["x0"] == [0.25]
    assert rec["reference_value"] == pytest.approx(5 * 0.25 ** 2 + 2 * 5)  # |x0|^2 + 2Td
    assert set(rec["errors"]) == {"rel_l1", "rel_l2", "max"}
    # standard error of the paraboloid estimator at 2e4 samples is about 0.3 % relative
    assert rec["value"] == pytest.approx(rec["reference_value"], rel=0.015)
    assert rec["errors"]["rel_l1"] < 0.015


def test_deep_kolmogorov_against_monte_carlo_reference(capsys):
    code, out, err = _solve(capsys, "black-scholes", "--solver", "deep-kolmogorov", "-p", "payoff=put-min",
                            "-p", "d=3", "-p", "n_test=20", "-o", "steps=30", "-o", "batch=256",
                            "--reference", "monte-carlo", "-r", "samples=20000", "-r", "antithetic=true")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["reference"] == "monte-carlo" and rec["params"]["sigma"] == pytest.approx([0.1 + i / 6 for i in (1, 2, 3)])
    assert rec["value"] is not None and rec["reference_value"] > 0


@pytest.mark.parametrize("args, key", [
    (["heat", "--solver", "exact", "-p", "d=0"], "d"),
    (["heat", "--solver", "exact", "-p", "T=0"], "T"),
    (["heat", "--solver", "exact", "-p", "a=1", "-p", "b=0"], "a"),
    (["heat", "--solver", "exact", "-p", "x0=2"], "x0"),
    (["black-scholes", "--solver", "exact", "-p", "sigma=-0.2"], "sigma"),
    (["black-scholes", "--solver", "exact", "-p", "payoff=put-min", "-p", "d=4", "-p", "rho=-0.5"], "rho"),
    (["black-scholes", "--solver", "exact", "-p", "payoff=call", "-p", "d=2"], "d"),
    (["heat", "--solver", "monte-carlo", "-o", "samples=1"], "samples"),
    (["heat", "--solver", "deep-kolmogorov", "-o", "width=0"], "width"),
    (["heat", "--solver", "deep-kolmogorov", "-o", "sparsity=1"], "sparsity"),
    (["black-scholes", "--solver", "exact", "-p", "payoff=put-min", "-p", "d=2"], "monte-carlo"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, key):
    code, out, err = _solve(capsys, *args)
    assert code == 2 and out == ""
    assert key in err and "Traceback" not in err and err.count("\n") == 1


def test_subprocess_exit_code():
    proc = subprocess.run([sys.executable, "-m", "sciml.cli", "solve", "black-scholes", "--solver", "exact",
                           "-p", "payoff=call", "-p", "d=3", "--json"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == "" and "payoff=call" in proc.stderr


def test_out_file_round_trip(tmp_path, capsys):
    from sciml import io
    out = tmp_path / "run.h5"
    code, _, err = _solve(capsys, "heat", "--solver", "deep-kolmogorov", "-p", "d=3", "-p", "n_test=10",
                          "-o", "steps=10", "-o", "batch=64", "--out", str(out))
    assert code == 0, err
    (run,) = io.load(out)
    assert run["solver"] == "deep-kolmogorov" and "param.0.weight" in run["state"]
    assert len(run["stats"]["loss_history"]) == 10
