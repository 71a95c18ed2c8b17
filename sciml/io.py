"""HDF5 results and checkpoints, always written atomically.

Results schema (``schema = "sciml-results/1"``)::

    /runs/<run_id>/            one group per run
        attrs: problem, solver, reference, seed, device, wall_s,
               reference_wall_s, value, reference_value, created (ISO time),
               params, options, errors, versions, stats (JSON strings)
        loss_history           float64 dataset (if the solver kept one)
        state/<key>            arrays from Solution.state (optional)

A file is written to ``<name>.tmp-<pid>`` in the same directory, flushed and
renamed over the target, so a killed run leaves either the whole file or none.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .core import DataError, MissingDependency

SCHEMA = "sciml-results/1"
CHECKPOINT_SCHEMA = "sciml-checkpoint/1"

__all__ = ["atomic_path", "open_h5", "save", "load", "save_checkpoint", "load_checkpoint", "SCHEMA"]


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise MissingDependency("h5py is not importable; install Debian's python3-h5py "
                                "(apt-get install python3-h5py), not the pip wheel") from exc
    return h5py


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:  # make the bytes durable before the rename
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def open_h5(path: str | os.PathLike, *, schema: str, what: str, hint: str = "") -> Iterator[Any]:
    """Open an HDF5 file of ours for reading, with the errors every reader gives.

    A missing file, a file of another ``schema`` and an unreadable (corrupt,
    truncated) file all raise :class:`DataError` naming the file; ``what``
    names the kind of file ("results file", "checkpoint", ...), ``hint`` is
    appended to the missing-file message.
    """
    h5py = _h5py()
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} {p} does not exist{hint}")
    try:
        with h5py.File(p, "r") as f:
            found = f.attrs.get("schema")
            if found != schema:
                raise DataError(f"{p} is not a {what} (schema {found!r}, expected {schema!r})")
            yield f
    except OSError as exc:
        raise DataError(f"cannot read {what} {p}: {exc}") from None


def _json(obj: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        return repr(o)
    return json.dumps(obj, default=default, allow_nan=True)


_SCALARS = ("problem", "solver", "reference", "seed", "device", "wall_s", "reference_wall_s",
            "value", "reference_value")
_DICTS = ("params", "options", "errors", "versions")


def _record_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, Mapping):
        return dict(record)
    return {k: getattr(record, k) for k in (*_SCALARS, *_DICTS, "stats", "state") if hasattr(record, k)}


def _write_run(group: Any, rec: dict[str, Any]) -> None:
    for key in _SCALARS:
        v = rec.get(key)
        group.attrs[key] = _json(v)
    for key in _DICTS:
        group.attrs[key] = _json(rec.get(key, {}))
    stats = dict(rec.get("stats") or {})
    history = stats.pop("loss_history", None)
    group.attrs["stats"] = _json({k: v for k, v in stats.items() if not isinstance(v, np.ndarray)})
    group.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
    if history is not None and len(history):
        group.create_dataset("loss_history", data=np.asarray(history, dtype=float))
    state = rec.get("state") or {}
    if state:
        sg = group.create_group("state")
        for k, v in state.items():
            arr = np.asarray(v)
            if arr.dtype.kind in "fiub":
                sg.create_dataset(k, data=arr)


def save(path: str | os.PathLike, records: Any) -> Path:
    """Write one record (or a list) to ``path`` atomically; returns the path."""
    h5py = _h5py()
    recs = records if isinstance(records, (list, tuple)) else [records]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema"] = SCHEMA
            runs = f.create_group("runs")
            for i, rec in enumerate(recs):
                _write_run(runs.create_group(f"{i:04d}"), _record_dict(rec))
    return Path(path)


def load(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read the runs of a results file as plain dicts (in file order)."""
    with open_h5(path, schema=SCHEMA, what="sciml results file") as f:
        out = []
        for name in sorted(f["runs"]):
            g = f["runs"][name]
            rec = {k: json.loads(g.attrs[k]) for k in (*_SCALARS, *_DICTS, "stats") if k in g.attrs}
            rec["created"] = g.attrs.get("created")
            if "loss_history" in g:
                rec.setdefault("stats", {})["loss_history"] = g["loss_history"][()]
            if "state" in g:
                rec["state"] = {k: g["state"][k][()] for k in g["state"]}
            out.append(rec)
        return out


def save_checkpoint(path: str | os.PathLike, config: Mapping[str, Any],
                    arrays: Mapping[str, np.ndarray]) -> Path:
    """Write a model checkpoint: its configuration (JSON) and named arrays."""
    h5py = _h5py()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema"] = CHECKPOINT_SCHEMA
            f.attrs["config"] = _json(dict(config))
            g = f.create_group("arrays")
            for k, v in arrays.items():
                g.create_dataset(k, data=np.asarray(v))
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read (config, arrays) from a checkpoint written by :func:`save_checkpoint`."""
    with open_h5(path, schema=CHECKPOINT_SCHEMA, what="sciml checkpoint") as f:
        return json.loads(f.attrs["config"]), {k: f["arrays"][k][()] for k in f["arrays"]}
