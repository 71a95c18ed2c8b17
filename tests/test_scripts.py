"""Every script under scripts/ compiles, and every benchmark and paper reproduction
answers ``--help`` (exit 0) and imports only names the project still has (checked for
every ``from sciml|problems|operators... import`` in the file, also those inside
functions), so none rots when the library changes under it.

The ``--help`` runs share one child process (the heavy imports, torch and Numba,
are paid once), each script run as ``__main__`` with its own ``sys.argv``; the
test process itself imports none of them.
"""
from __future__ import annotations

import json
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
RUNNABLE = sorted([*(SCRIPTS / "bench").glob("*.py"), *(SCRIPTS / "paper").glob("*.py")])
ALL_PY = sorted(SCRIPTS.rglob("*.py"))

# Run inside the child: each script with --help as __main__, its exit code and any
# exception recorded; one JSON object on the last line of stdout.
_CHILD = r"""
import ast, contextlib, importlib, importlib.util, io, json, runpy, sys, traceback
out = {}
for path in sys.argv[1:]:
    buf = io.StringIO()
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [path, "--help"]
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_path(path, run_name="__main__")
        out[path] = {"code": None, "help": buf.getvalue()}
    except SystemExit as exc:
        out[path] = {"code": exc.code, "help": buf.getvalue()}
    except BaseException:
        out[path] = {"code": "exception", "help": traceback.format_exc()}
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    # the project names the script imports anywhere (also inside main) must exist
    missing = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and \
                (node.module or "").split(".")[0] in ("sciml", "problems", "operators"):
            try:
                mod = importlib.import_module(node.module)
            except ImportError as exc:
                missing.append(f"{node.module} ({exc})")
                continue
            missing += [f"{node.module}.{a.name}" for a in node.names if not hasattr(mod, a.name)
                        and not (hasattr(mod, "__path__")  # a submodule of a package
                                 and importlib.util.find_spec(f"{node.module}.{a.name}"))]
    out[path]["missing"] = missing
print(json.dumps(out))
"""


def test_layout():
    """The top of scripts/ holds only what users run to set up and try the product."""
    top = sorted(p.name for p in SCRIPTS.iterdir() if p.is_file())
    assert top == ["demo.sh", "gpu_check.py", "quickstart.toml", "setup.sh", "test.sh"]
    assert all(p.name.startswith("bench_") for p in (SCRIPTS / "bench").glob("*.py"))
    assert not any(p.name.startswith("bench_") for p in (SCRIPTS / "paper").glob("*.py"))


@pytest.mark.parametrize("path", ALL_PY, ids=lambda p: str(p.relative_to(SCRIPTS)))
def test_compiles(path: Path, tmp_path: Path):
    py_compile.compile(str(path), cfile=str(tmp_path / "x.pyc"), doraise=True)


def test_bench_and_paper_scripts_answer_help():
    assert len(RUNNABLE) >= 20
    proc = subprocess.run([sys.executable, "-c", _CHILD, *map(str, RUNNABLE)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    bad = {Path(p).name: r for p, r in results.items() if r["code"] not in (0, None)}
    assert not bad, json.dumps(bad, indent=1)[-4000:]
    for path, r in results.items():
        assert "usage:" in r["help"], f"{path}: no argparse usage in its --help output"
    missing = {Path(p).name: r["missing"] for p, r in results.items() if r["missing"]}
    assert not missing, f"scripts import names the project no longer has: {missing}"
