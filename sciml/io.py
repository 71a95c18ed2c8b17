"""HDF5 results and checkpoints, always written atomically.

Results schema (``schema = "sciml-results/1"``)::

    /runs/<run_id>/            one group per run
        attrs: problem, solver, reference, seed, device, wall_s,
               reference_wall_s, value, reference_value, created (ISO time),
               params, options, errors, versions, stats (JSON strings)
        loss_history           float64 dataset (if the solver kept one)
        state/<key>            arrays from Solution.state (optional)

A file is written to ``.<name>.<pid>-<random>.tmp`` in the same directory,
flushed and renamed over the target, so a killed run leaves either the whole
file or none; the temporary is removed on any exception and on SIGTERM, and a
SIGKILLed writer's temporary is removed by the next write (see :func:`atomic_path`;
:func:`atomic_h5` opens that temporary as an HDF5 file).  Data sets written in
resumable chunks (``sciml data``) grow in ``<out>.partial`` and are moved into
place by :func:`finish_partial`.

Every file kind carries a ``schema`` attribute from :data:`SCHEMAS`, and h5py is
imported by this module only (:func:`h5_file` opens any HDF5 file).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import json
import os
import re
import signal
import stat
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping, NamedTuple

import numpy as np

from .core import DataError, InvalidOption, MissingDependency


class Schema(NamedTuple):
    """A file kind: the ``schema`` tag its files carry and what it holds."""

    tag: str
    description: str


#: every file kind sciml writes: name -> (schema tag, one line on what it holds)
SCHEMAS: dict[str, Schema] = {
    "results": Schema("sciml-results/1", "evaluation records, /runs/<id> (sciml.io.save; `sciml solve --out`)"),
    "checkpoint": Schema("sciml-checkpoint/1", "a model's configuration (JSON) and /arrays (sciml.io.save_checkpoint)"),
    "operator": Schema("sciml-operator/1", "the configuration inside an operator-learning checkpoint"),
    "study": Schema("sciml-study/1", "a study folder's index.json: the plan and every cell's state"),
    "study-reference": Schema("sciml-study-reference/1", "a study's cached reference, references/<id>.h5"),
    "darcy": Schema("sciml-darcy/1", "Darcy flow pairs (a, u) from `sciml data darcy`"),
    "ct-dataset": Schema("sciml-ct-dataset/1", "phantoms and noisy sinograms from `sciml data ct-ellipses`"),
}


def schema(name: str) -> str:
    """The schema tag of the file kind ``name`` (a key of :data:`SCHEMAS`)."""
    return SCHEMAS[name].tag


SCHEMA = schema("results")
CHECKPOINT_SCHEMA = schema("checkpoint")

__all__ = ["atomic_path", "atomic_h5", "check_output", "clean_stale_temps", "finish_partial", "h5_file", "json_text",
           "open_h5", "save", "load", "save_checkpoint", "load_checkpoint", "schema", "Schema", "SCHEMAS",
           "SCHEMA"]


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise MissingDependency("h5py is not importable; install Debian's python3-h5py "
                                "(apt-get install python3-h5py), not the pip wheel") from exc
    return h5py


#: name limit of common file systems (ext4, xfs, btrfs, tmpfs)
_NAME_MAX = 255


def _temp_name(target: Path) -> Path:
    """``.<name>.<pid>-<random>.tmp`` beside ``target``: the pid lets a later
    run tell a stale temporary (its writer is dead) from one being written."""
    return target.with_name(f".{target.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``target`` left by a killed writer (SIGKILL
    cannot be caught); returns what was removed.  A temporary whose writer
    is alive is left alone."""
    target = Path(target)
    removed = []
    try:
        candidates = list(target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        m = re.fullmatch(re.escape(f".{target.name}.") + r"(\d+)-[0-9a-f]+\.tmp", tmp.name)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _umask() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # pragma: no cover - not Linux
    os.umask(old)
    return old


def check_output(path: str | os.PathLike | None, *, overwrite: bool = False, flag: str = "--out",
                 suffix: str = "") -> Path:
    """Validate an output file path before any work starts.

    Refuses (:class:`InvalidOption`, exit 2) an empty path, a name longer
    than the file system allows, an existing path that is not a regular
    file (a directory, a device such as /dev/null), an existing file unless
    ``overwrite``, and a directory that cannot be written into.  ``suffix``
    (e.g. ``".h5"``) is named in the messages.
    """
    if path is None or str(path).strip() == "":
        raise InvalidOption(f"{flag} {str(path or '')!r} is empty; give a file name"
                            + (f" ending in {suffix}" if suffix else ""))
    p = Path(path)
    if len(os.fsencode(p.name)) > _NAME_MAX:
        raise InvalidOption(f"{flag}: the file name is {len(os.fsencode(p.name))} bytes long; "
                            f"allowed: at most {_NAME_MAX}")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InvalidOption(f"{flag} {p}: {exc.strerror or exc}") from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise InvalidOption(f"{flag} {p} is {kind}; give a file name"
                                + (f" ending in {suffix}" if suffix else ""))
        if not overwrite:
            raise InvalidOption(f"{flag} {p} exists; pass --overwrite to replace it, or choose another name")
        if not st.st_mode & 0o222 or not os.access(p, os.W_OK):
            raise InvalidOption(f"{flag} {p} is read-only; refusing to replace it")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:  # created on write
        parent = parent.parent
    if not parent.is_dir():
        raise InvalidOption(f"{flag} {p}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidOption(f"{flag} {p}: the directory {parent} is not writable")
    return p


class _Terminated(SystemExit):
    """SIGTERM turned into an exception, so that ``finally`` blocks run."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While writing, SIGTERM raises (exit status 143) instead of killing the
    process on the spot, so the temporary file is removed on the way out.
    Only in the main thread and only over the default handler."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On any exception, and on SIGTERM, the temporary file is removed and
    ``path`` is untouched; a temporary left by a SIGKILLed writer is
    removed by the next write of the same ``path``.  The file gets the
    mode the user's umask gives a new file (not mkstemp's 0600).  An
    existing ``path`` that is not a regular file (a directory, a device) is
    refused with :class:`DataError`.
    """
    target = Path(path)
    if target.exists() and not target.is_file():
        raise DataError(f"{target} exists and is not a regular file; refusing to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target)
    tmp_path = _temp_name(target)
    with _sigterm_raises():
        try:
            fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            yield tmp_path
            with open(tmp_path, "rb+") as fh:  # make the bytes durable before the rename
                os.fsync(fh.fileno())
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, target)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, *, schema: str | None = None) -> Iterator[Any]:
    """Write an HDF5 file atomically: yields an ``h5py.File`` open on a temporary
    file beside ``path`` (with ``attrs["schema"] = schema`` if given); on success
    the file is closed, synced and renamed to ``path`` (:func:`atomic_path`)."""
    h5py = _h5py()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            if schema is not None:
                f.attrs["schema"] = schema
            yield f


def h5_file(path: str | os.PathLike, mode: str = "r") -> Any:
    """``h5py.File(path, mode)``: any HDF5 file, opened without schema checks (use
    :func:`open_h5` to read a file of ours, :func:`atomic_h5` to write one)."""
    return _h5py().File(path, mode)


def finish_partial(partial: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Move a finished, closed ``partial`` file (written in resumable chunks) to
    ``target``: its bytes are synced first, so a crash leaves the old state or the
    complete file, never a renamed half-written one."""
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, target)
    return Path(target)


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


def json_text(obj: Any) -> str:
    """``obj`` as JSON text: NumPy scalars and arrays as numbers and lists, paths as strings."""
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
        group.attrs[key] = json_text(v)
    for key in _DICTS:
        group.attrs[key] = json_text(rec.get(key, {}))
    stats = dict(rec.get("stats") or {})
    history = stats.pop("loss_history", None)
    group.attrs["stats"] = json_text({k: v for k, v in stats.items() if not isinstance(v, np.ndarray)})
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
    recs = records if isinstance(records, (list, tuple)) else [records]
    with atomic_h5(path, schema=SCHEMA) as f:
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
    with atomic_h5(path, schema=CHECKPOINT_SCHEMA) as f:
        f.attrs["config"] = json_text(dict(config))
        g = f.create_group("arrays")
        for k, v in arrays.items():
            g.create_dataset(k, data=np.asarray(v))
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read (config, arrays) from a checkpoint written by :func:`save_checkpoint`."""
    with open_h5(path, schema=CHECKPOINT_SCHEMA, what="sciml checkpoint") as f:
        return json.loads(f.attrs["config"]), {k: f["arrays"][k][()] for k in f["arrays"]}
