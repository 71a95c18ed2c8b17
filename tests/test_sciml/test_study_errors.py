"""Bad study input: one clear line on stderr, exit 2, before any cell runs."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from sciml import cli, study

TOYS = "test_study_toys"
GOOD_PROBLEM = f'[[problem]]\nname = "{TOYS}:Series"\nparams = {{ p = 2 }}\n'
GOOD_SOLVER = f'[[solver]]\nname = "{TOYS}:Truncated"\noptions = {{ n = [4, 8] }}\n'

CASES = {
    "malformed TOML": ("seeds = [0,, 1]\n" + GOOD_PROBLEM + GOOD_SOLVER, ["malformed TOML", "line 1"]),
    "malformed value": (f'[[problem]]\nname = "{TOYS}:Series"\nparams = {{ p = }}\n' + GOOD_SOLVER,
                        ["malformed TOML", "line 3", "params"]),
    "unknown top-level key": ("seed = [0]\n" + GOOD_PROBLEM + GOOD_SOLVER, ["unknown key 'seed'", "line 1"]),
    "unknown problem": ('[[problem]]\nname = "poison"\n' + GOOD_SOLVER, ["unknown problem 'poison'", "line 2"]),
    "unknown solver": (GOOD_PROBLEM + '[[solver]]\nname = "femm"\n', ["unknown solver 'femm'", "line 5"]),
    "unknown parameter": (f'[[problem]]\nname = "{TOYS}:Series"\nparams = {{ q = 2 }}\n' + GOOD_SOLVER,
                          ["unknown parameter 'q'", "valid keys: p, terms", "line 3"]),
    "unknown option": (GOOD_PROBLEM + f'[[solver]]\nname = "{TOYS}:Truncated"\noptions = {{ m = 4 }}\n',
                       ["unknown option 'm'", "line 6"]),
    "bad option value": (GOOD_PROBLEM + f'[[solver]]\nname = "{TOYS}:Truncated"\noptions = {{ n = [4, 0] }}\n',
                         ["n=0 is out of range", "line 6"]),
    "empty grid": (GOOD_PROBLEM + f'[[solver]]\nname = "{TOYS}:Truncated"\noptions = {{ n = [] }}\n',
                   ["empty grid", "'n'", "line 6"]),
    "empty seeds": ("seeds = []\n" + GOOD_PROBLEM + GOOD_SOLVER, ["seeds = [] is an empty grid"]),
    "incompatible solver": ('[[problem]]\nname = "poisson"\n' + GOOD_SOLVER,
                            ["cannot solve problem 'poisson'", "[[solver]] #1"]),
    "no exact solution": (f'[[problem]]\nname = "{TOYS}:Series"\nreference = "{TOYS}:Truncated"\n'
                          'reference_options = { n = 0 }\n' + GOOD_SOLVER, ["n=0 is out of range", "line 4"]),
    "no solver": (GOOD_PROBLEM, ["at least one [[solver]]"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_study_file_exits_2_with_one_line_before_any_cell(case, tmp_path, capsys):
    text, needles = CASES[case]
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    rc = cli.main(["study", str(spec), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not list(tmp_path.glob("out/cells/*.h5"))


def test_unwritable_out_dir_exits_2(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(GOOD_PROBLEM + GOOD_SOLVER)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc = cli.main(["study", str(spec), "--out", str(blocker / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "not writable" in err
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert cli.main(["study", str(spec), "--out", str(ro / "out"), "--quiet"]) == 2


def test_unreachable_scheduler_and_scheduler_without_dask(tmp_path, capsys):
    pytest.importorskip("distributed")
    spec = tmp_path / "s.toml"
    spec.write_text(GOOD_PROBLEM + GOOD_SOLVER)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(study.StudyError, match="cannot reach the dask scheduler") as info:
        study.run(spec, out=tmp_path / "out", executor="dask", scheduler=f"tcp://127.0.0.1:{port}",
                  connect_timeout=1.0)
    assert info.value.exit_code == 2
    assert not list((tmp_path / "out" / "cells").glob("*.h5"))
    rc = cli.main(["study", str(spec), "--out", str(tmp_path / "out"), "--scheduler", "tcp://x:1", "--quiet"])
    assert rc == 2 and "--executor dask" in capsys.readouterr().err


def test_missing_study_file_exits_2(tmp_path, capsys):
    rc = cli.main(["study", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "out"), "--quiet"])
    assert rc == 2 and "cannot read study file" in capsys.readouterr().err
