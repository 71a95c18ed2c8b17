"""Read named arrays from a user's NPZ or HDF5 file, with the errors every reader gives.

``read_arrays(path, required=("a", "u"), optional=("x",))`` returns a dict of
float arrays (plus the HDF5 root attributes under ``"attrs"``).  A missing
file, an unreadable file, a missing required dataset and non-finite values
each raise :class:`~sciml.core.DataError` naming the file and the dataset.
HDF5 datasets are looked up by name at the root of the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from sciml.core import DataError

__all__ = ["read_arrays", "check_finite"]

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def check_finite(path: str, name: str, arr: np.ndarray) -> None:
    """DataError naming the file, dataset and first bad index unless ``arr`` is all finite."""
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{path}: dataset {name!r} holds {int(bad.sum())} non-finite values "
                        f"(first at index {idx}); expected finite numbers")


def read_arrays(path: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict[str, Any]:
    """The datasets ``required`` (and those of ``optional`` that exist) of an NPZ/HDF5 file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file {path} does not exist (expected an .npz or .h5/.hdf5 file)")
    names = list(required) + list(optional)
    out: dict[str, Any] = {"attrs": {}}
    try:
        if p.suffix.lower() in HDF5_SUFFIXES:
            from sciml.io import h5_file
            with h5_file(p) as f:
                have = set(f.keys())
                out["attrs"] = {k: _plain(v) for k, v in f.attrs.items()}
                for n in names:
                    if n in have:
                        out[n] = np.asarray(f[n][()])
        else:
            with np.load(p, allow_pickle=False) as z:
                have = set(z.files)
                for n in names:
                    if n in have:
                        out[n] = np.asarray(z[n])
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read data file {path}: {exc} (expected an .npz or .h5/.hdf5 file)") from None
    for n in required:
        if n not in out:
            raise DataError(f"{path}: dataset {n!r} is missing; the file holds {sorted(have) or 'nothing'}")
    for n in names:
        if n in out:
            arr = out[n]
            if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
                raise DataError(f"{path}: dataset {n!r} has dtype {arr.dtype}; expected real numbers")
            out[n] = arr.astype(float)
            check_finite(path, n, out[n])
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v
