"""HDF5 results and checkpoints: round trip and atomicity."""
import numpy as np
import pytest

from problems.elliptic import Poisson
from sciml import io
from sciml.core import DataError
from sciml.evaluate import evaluate
from sciml.references.exact import Exact


def test_results_round_trip(tmp_path):
    rec = evaluate(Poisson(d=1), Exact(), "exact", seed=3)
    rec.stats["loss_history"] = np.array([[0, 1.0], [10, 0.5]])
    path = io.save(tmp_path / "run.h5", rec)
    (back,) = io.load(path)
    assert back["problem"] == "poisson" and back["seed"] == 3
    assert back["params"] == Poisson(d=1).params()
    assert back["errors"] == rec.errors
    assert back["versions"]["numpy"] == np.__version__
    np.testing.assert_array_equal(back["stats"]["loss_history"], [[0, 1.0], [10, 0.5]])


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.h5"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    io.save_checkpoint(tmp_path / "c.h5", {"width": 8}, {"w": np.arange(4.0)})
    cfg, arrays = io.load_checkpoint(tmp_path / "c.h5")
    assert cfg == {"width": 8}
    np.testing.assert_array_equal(arrays["w"], np.arange(4.0))
    with pytest.raises(DataError, match="does not exist"):
        io.load(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="junk.h5"):
        io.load(tmp_path / "junk.h5")
