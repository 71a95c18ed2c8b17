"""Data-parallel training: 2 gloo processes under torchrun train as one process
with the same global batch (deep-kolmogorov in DistributedDataParallel and
deep-bsde with averaged gradients, fno on 40 pairs with epochs of 5 batches,
learned-primal-dual on 8 phantoms; 20 steps each, float64, learned-primal-dual
float32)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sciml.core import InvalidOption
from sciml.distributed import World, local_slice

HERE = Path(__file__).resolve().parents[1]


def _torchrun(out, case, data=None):
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(HERE / "ddp_worker.py"), str(out), case, str(data)], capture_output=True, text=True, env=env,
                       cwd=HERE.parent, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    ddp_worker = _worker()
    return ddp_worker.arrays(ddp_worker.run(case, data)), np.load(out)


def _worker():
    sys.path.insert(0, str(HERE))
    try:
        import ddp_worker
    finally:
        sys.path.remove(str(HERE))
    return ddp_worker


@pytest.mark.parametrize("case", ["kolmogorov", "bsde", "fno", "lpd"])
def test_two_processes_match_one(tmp_path, case):
    data = tmp_path / "pairs.npz"
    _worker().operator_pairs(data)
    one, two = _torchrun(tmp_path / "ddp.npz", case, data)
    # float64: the two runs differ only in how the gradient's sum over the batch is split
    # (two halves averaged by all-reduce), i.e. by rounding; 1e-6 leaves room for Adam's
    # amplification of rounding over 20 steps
    assert set(one) == set(two.files) and len(one) > 1
    assert len(one["loss"]) == (4 if case == "fno" else 20)   # fno: one loss per epoch of 5 steps
    # lpd trains in float32: rounding is ~1e-7 per operation instead of ~1e-16, so the
    # same argument allows 1e-5
    rtol, atol = (1e-5, 1e-7) if case == "lpd" else (1e-6, 1e-9)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=rtol)
    for k in one:
        np.testing.assert_allclose(two[k], one[k], rtol=rtol, atol=atol)
    # rank 0 alone saw half of each batch: matching the global-batch run means the
    # gradients were averaged over both ranks at every step
    assert np.all(np.isfinite(two["loss"])) and np.ptp(two["loss"]) > 0


def test_batch_must_divide():
    assert local_slice(64, World(1, 2), solver="s") == slice(32, 64)
    with pytest.raises(InvalidOption, match="batch=63 is not divisible by the world size 2"):
        local_slice(63, World(0, 2), solver="s")


def test_sciml_solve_under_torchrun_writes_once(tmp_path):
    """`torchrun -m sciml.cli solve ...`: both ranks train (the loss is the
    global batch's), rank 0 alone prints the JSON line and writes the file."""
    import json
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    out = tmp_path / "run.h5"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "sciml.cli", "solve", "heat", "-p", "d=2", "--solver", "deep-kolmogorov",
                        "-o", "steps=10", "-o", "batch=32", "-o", "width=8", "--json", "--quiet",
                        "--out", str(out)], capture_output=True, text=True, env=env, cwd=HERE.parent, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, r.stdout
    rec = json.loads(lines[0])
    assert rec["solver"] == "deep-kolmogorov" and np.isfinite(rec["errors"]["rel_l2"])
    assert out.exists() and not list(tmp_path.glob("*.tmp*"))
