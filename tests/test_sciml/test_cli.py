"""The command-line contract (docs/architecture.md): JSON keys, exit codes, one-line errors."""
import json
import subprocess
import sys

import pytest

from sciml.evaluate import JSON_KEYS


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "sciml.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_list_is_fast_and_imports_no_heavy_module():
    code = ("import sys; from sciml.cli import main; main(['list']); "
            "heavy = [m for m in ('torch', 'dolfinx', 'deepxde', 'numba') if m in sys.modules]; "
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "poisson" in r.stdout and "fem" in r.stdout and "pinn" in r.stdout


def test_solve_json_contract(tmp_path):
    out = tmp_path / "run.h5"
    r = run("solve", "poisson", "--solver", "fem", "-p", "d=1", "-o", "n=16", "-o", "degree=2",
            "--reference", "exact", "--json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)  # stdout is exactly one JSON object
    assert tuple(rec) == JSON_KEYS
    assert rec["problem"] == "poisson" and rec["solver"] == "fem" and rec["reference"] == "exact"
    assert rec["params"]["d"] == 1 and rec["options"]["n"] == 16
    for key in ("rel_l2", "rel_l1", "max", "l2_fem"):  # P2, h = 1/16: O(h^3) in these norms
        assert rec["errors"][key] < 1e-3
    assert rec["errors"]["h1_fem"] < 1e-2  # O(h^2)
    assert rec["versions"]["dolfinx"]
    assert out.exists()
    from sciml import io
    assert io.load(out)[0]["errors"]["rel_l2"] == rec["errors"]["rel_l2"]


def test_fem_reference_for_a_solver(tmp_path):
    r = run("solve", "poisson", "--solver", "fem", "-o", "n=8", "--reference", "fem", "-r", "degree=2",
            "-r", "n=32", "--json")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["reference"] == "fem" and 1e-4 < rec["errors"]["rel_l2"] < 5e-2


@pytest.mark.parametrize("args, needle", [
    (["solve", "nope", "--solver", "fem"], "unknown problem 'nope'"),
    (["solve", "poisson", "--solver", "nope"], "unknown solver 'nope'"),
    (["solve", "poisson", "--solver", "fem", "-p", "foo=1"], "valid keys"),
    (["solve", "poisson", "--solver", "fem", "-o", "foo=1"], "valid keys"),
    (["solve", "poisson", "--solver", "fem", "-p", "d=4"], "d=4"),
    (["solve", "poisson", "--solver", "fem", "-p", "d=0"], "d=0"),
    (["solve", "poisson", "--solver", "fem", "-p", "d=two"], "d='two'"),
    (["solve", "poisson", "--solver", "fem", "-o", "n=0"], "n=0"),
    (["solve", "poisson", "--solver", "fem", "-o", "degree=3"], "degree=3"),
    (["solve", "poisson", "--solver", "fem", "-p", "alpha=-1"], "alpha=-1"),
    (["solve", "poisson", "--solver", "pinn", "-o", "width=0"], "width=0"),
    (["solve", "poisson", "--solver", "fem", "-p", "d"], "KEY=VALUE"),
    (["solve", "poisson"], "--solver"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exit_2_one_line_no_traceback(tmp_path, args, needle):
    out = tmp_path / "never.h5"
    r = run(*args, "--out", str(out)) if args[0] == "solve" and len(args) > 2 else run(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""
    assert not out.exists()


def test_missing_dolfinx_gives_missing_dependency_and_the_rest_works(tmp_path):
    # Hide dolfinx from the import system in a child process.
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('dolfinx', 'petsc4py', 'ufl'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from sciml.cli import main\n"
        "rc = main(['solve', 'poisson', '--solver', 'fem'])\n"
        "assert rc == 2, rc\n"
        "assert main(['solve', 'poisson', '--solver', 'exact', '--json']) == 0\n"
        "assert main(['list', 'solvers']) == 0\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "MissingDependency" in r.stderr and "apt-get install python3-dolfinx" in r.stderr
    assert "unavailable" in r.stdout
