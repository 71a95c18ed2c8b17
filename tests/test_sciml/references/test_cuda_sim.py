"""The Numba CUDA kernels, run on Numba's CUDA simulator in a subprocess.

NUMBA_ENABLE_CUDASIM is read when numba is first imported, so the checks
(tests/cuda_sim_cases.py) run in a fresh interpreter with the variable set;
this process, and every other test in it, keeps the real CUDA target.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[2]


def test_kernels_on_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-m", "pytest", str(HERE / "cuda_sim_cases.py"), "-q", "-x",
                        "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"],
                       capture_output=True, text=True, env=env, cwd=HERE.parent, timeout=600)
    tail = (r.stdout + r.stderr)[-4000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and "skipped" not in r.stdout, tail


def test_philox_known_answers():
    """Random123's known-answer vectors for Philox4x32-10 (kat_vectors), on the kernels'
    own round function compiled for the CPU."""
    from sciml.references._mc_cuda import philox4x32_cpu
    u = np.uint64
    cases = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for ctr, key, want in cases:
        got = philox4x32_cpu(*(u(c) for c in ctr), *(u(k) for k in key))
        assert tuple(int(v) for v in got) == want


def test_cuda_modules_import_without_a_gpu():
    """Importing the kernels defines them lazily: no driver is needed until a launch."""
    code = "import operators._radon_cuda, sciml.references._mc_cuda; print('ok')"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=HERE.parent, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def _gpu_check_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("gpu_check", HERE.parent / "scripts" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_check_without_cuda_exits_2():
    from sciml.device import cuda_device_count
    if cuda_device_count("torch") or cuda_device_count("numba"):
        import pytest
        pytest.skip("this machine has a CUDA device")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, str(HERE.parent / "scripts" / "gpu_check.py")], capture_output=True,
                       text=True, env=env, cwd=HERE.parent, timeout=300)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("gpu_check: no CUDA device") and len(r.stderr.strip().splitlines()) == 1


def test_gpu_check_torch_sections_run_on_the_cpu():
    """The torch sections of gpu_check at toy sizes, with the CPU standing in for the GPU."""
    from sciml.torch_utils import torch_threads
    gc = _gpu_check_module()
    with torch_threads(1):  # one thread: no spin-wait contention on a shared machine
        f = gc.check_fno("cpu", 1, res=16, batch=2, steps=1, cpu_threads=1)
        k = gc.check_deep_kolmogorov("cpu", d=2, steps=3, batch=64, cpu_steps=2)
    assert f["forward_fp64_rel_diff"] == 0.0 and f["train_samples_per_s_gpu"] > 0
    assert k["train_samples_per_s_gpu"] > 0 and np.isfinite(k["rel_l2_vs_exact_after_3_steps"])
