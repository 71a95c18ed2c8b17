"""Device resolution: a request is honoured or refused (exit 2), and the record
says where the run really ran."""
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

import sciml.device as D
from sciml.core import InvalidOption, Problem, Solution, Solver
from sciml.evaluate import evaluate


@dataclass(frozen=True)
class _Const(Problem):
    name = "toy-const"
    kind = "value"

    def exact_value(self) -> float:
        return 1.0


@dataclass(frozen=True)
class _Exact(Solver):
    name = "toy-exact"
    accepts = ("toy-const",)

    def solve(self, problem, *, seed=0, device="cpu", progress=False):
        return Solution(value=1.0, stats={"device_seen": device})


@dataclass(frozen=True)
class _TorchLike(_Exact):
    name = "toy-torch"
    learned = True


@dataclass(frozen=True)
class _NumbaLike(_Exact):
    name = "toy-numba"
    cuda_engine = "numba"


@pytest.mark.parametrize("text, parsed", [("cpu", ("cpu", None)), ("cuda", ("cuda", None)),
                                          ("cuda:0", ("cuda", 0)), ("CUDA:3", ("cuda", 3))])
def test_parse(text, parsed):
    assert D.parse_device(text) == parsed


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "cpu:0", "cuda:-1", ""])
def test_parse_rejects(bad):
    with pytest.raises(InvalidOption, match="choose cpu, cuda or cuda:N"):
        D.parse_device(bad)


def test_engines():
    assert D.cuda_engine(_Exact()) is None          # classical: CPU only unless declared
    assert D.cuda_engine(_TorchLike()) == "torch"   # learned: torch
    assert D.cuda_engine(_NumbaLike()) == "numba"   # declared
    from sciml.references.monte_carlo import MonteCarlo
    from sciml.references.tomography import FBP, SIRT, TV
    for cls in (MonteCarlo, FBP, SIRT, TV):  # the references with Numba CUDA kernels
        assert D.cuda_engine(cls()) == "numba"


def test_cpu_always_resolves():
    for s in (_Exact(), _TorchLike(), _NumbaLike(), None):
        assert D.resolve_device("cpu", s) == "cpu"


def test_cuda_refused_for_cpu_only_solver(monkeypatch):
    monkeypatch.setattr(D, "cuda_device_count", lambda engine="torch": 4)  # even with GPUs present
    with pytest.raises(InvalidOption, match="no CUDA path"):
        D.resolve_device("cuda", _Exact())


def test_cuda_refused_without_devices(monkeypatch):
    monkeypatch.setattr(D, "cuda_device_count", lambda engine="torch": 0)
    for s in (_TorchLike(), _NumbaLike()):
        with pytest.raises(InvalidOption, match="CUDA is not available"):
            D.resolve_device("cuda", s)


def test_index_checked_against_count(monkeypatch):
    seen = []
    monkeypatch.setattr(D, "cuda_device_count", lambda engine="torch": seen.append(engine) or 2)
    assert D.resolve_device("cuda", _TorchLike()) == "cuda:0"
    assert D.resolve_device("cuda:1", _NumbaLike()) == "cuda:1"
    assert seen == ["torch", "numba"]  # each solver's own engine is asked
    with pytest.raises(InvalidOption, match=r"beyond this machine's 2 CUDA device\(s\); allowed: cuda:0 .. cuda:1"):
        D.resolve_device("cuda:2", _TorchLike())


def test_real_counts_are_consistent():
    import torch
    assert D.cuda_device_count("torch") == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert D.cuda_device_count("numba") >= 0


def test_record_says_where_it_ran(monkeypatch):
    rec = evaluate(_Const(), _TorchLike(), "exact")
    assert rec.device == "cpu" and rec.to_json()["device"] == "cpu"
    monkeypatch.setattr(D, "cuda_device_count", lambda engine="torch": 2)
    rec = evaluate(_Const(), _TorchLike(), _Exact(), device="cuda")
    assert rec.device == "cuda:0" and rec.stats["device_seen"] == "cuda:0"  # the solver got the resolved one
    with pytest.raises(InvalidOption):
        evaluate(_Const(), _Exact(), _Exact(), device="cuda")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sciml.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("solver, device, needle", [
    ("exact", "cuda", "no CUDA path"),
    ("monte-carlo", "gpu", "choose cpu, cuda or cuda:N"),
])
def test_cli_bad_device_exit_2(solver, device, needle):
    r = _cli("solve", "heat", "--solver", solver, "-p", "d=2", "--device", device, "--json")
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""


@pytest.mark.skipif(D.cuda_device_count("torch") > 0, reason="this machine has a CUDA device")
def test_cli_cuda_without_gpu_exit_2():
    r = _cli("solve", "heat", "--solver", "deep-kolmogorov", "-p", "d=2", "--device", "cuda:1", "--json")
    assert r.returncode == 2 and "CUDA is not available" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
