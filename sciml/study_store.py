"""The files of a study folder: cells, references, summaries, index.

Layout and integrity rules in :mod:`sciml.study`: a cell is complete when its
JSON summary says so and the SHA-256 of its HDF5 file matches.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from . import io
from .study_plan import SCHEMA, Cell, Plan, RefJob
from .study_spec import StudyError, key_json

log = logging.getLogger(__name__)


# ===================================================================== files
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj: Any) -> None:
    """Write JSON to a temporary file and rename it over ``path``.

    Not fsynced, unlike io.atomic_path: a killed process cannot leave a partial
    file, and after a power loss a damaged summary fails to parse (or its HDF5
    checksum fails) and the cell is simply run again; fsync would cost ~10 ms
    per cell on a busy disk.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=1, default=_plain_json))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _plain_json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def read_summary(out: Path, folder: str, cid: str) -> dict[str, Any] | None:
    """The summary of a complete, intact cell (or reference); None otherwise
    (missing, failed, or its HDF5 file missing/truncated/altered)."""
    meta, h5 = out / folder / f"{cid}.json", out / folder / f"{cid}.h5"
    if not meta.exists():
        return None
    try:
        summary = json.loads(meta.read_text())
    except (OSError, ValueError):
        log.warning("%s is unreadable; the %s is run again", meta, folder[:-1])
        return None
    if not isinstance(summary, dict):  # `[]` or `null`: a damaged summary, not a cell
        log.warning("%s holds %s, not a summary; the %s is run again", meta, type(summary).__name__,
                    folder[:-1])
        return None
    if summary.get("status") != "done":
        return None
    if not h5.exists() or _sha256(h5) != summary.get("sha256"):
        log.warning("%s is missing, truncated or altered (SHA-256 mismatch); the %s is run again",
                    h5, folder[:-1])
        return None
    return summary


def save_reference(out: Path, job: RefJob, result: dict[str, Any]) -> None:
    """Store a reference job's tabulated result (HDF5) and its summary (JSON) under ``references/``."""
    path = out / "references" / f"{job.id}.h5"
    with io.atomic_h5(path, schema=io.schema("study-reference")) as f:
        f.attrs["key"] = key_json(job.key)
        f.attrs["value"] = json.dumps(result["value"])
        f.attrs["stats"] = json.dumps(result["stats"])
        for i, (p, v) in enumerate(zip(result["points"], result["values"])):
            f.create_dataset(f"points/{i}", data=p)
            f.create_dataset(f"values/{i}", data=v)
        for k, v in result["state"].items():
            f.create_dataset(f"state/{k}", data=v)
    write_json(out / "references" / f"{job.id}.json",
                {"id": job.id, "status": "done", "key": job.key, "sha256": _sha256(path),
                 "wall_s": result["stats"].get("wall_s")})


def load_reference(out: Path, job: RefJob) -> dict[str, Any] | None:
    """The stored table of a reference job (points, values, value, stats, state), or None when it is
    missing or damaged (then it is solved again)."""
    if read_summary(out, "references", job.id) is None:
        return None
    with io.h5_file(out / "references" / f"{job.id}.h5") as f:
        n = len(f["points"]) if "points" in f else 0
        return {"points": [f[f"points/{i}"][()] for i in range(n)],
                "values": [f[f"values/{i}"][()] for i in range(n)],
                "value": json.loads(f.attrs["value"]), "stats": json.loads(f.attrs["stats"]),
                "state": {k: f["state"][k][()] for k in f["state"]} if "state" in f else {}}


def save_cell(out: Path, cell: Cell, record: Any) -> dict[str, Any]:
    """Store a finished cell's Record (HDF5, with its SHA-256) and summary (JSON); returns the summary."""
    path = out / "cells" / f"{cell.id}.h5"
    io.save(path, record)
    summary = cell.summary()
    js = record.to_json()
    summary.update(status="done", file=f"cells/{cell.id}.h5", sha256=_sha256(path),
                   errors=js["errors"], value=js["value"], reference_value=js["reference_value"],
                   wall_s=js["wall_s"], reference_wall_s=js["reference_wall_s"],
                   plot="study_plot_u" in record.state,
                   finished=_dt.datetime.now(_dt.timezone.utc).isoformat())
    write_json(out / "cells" / f"{cell.id}.json", summary)
    return summary


def save_failure(out: Path, cell: Cell, failure: dict[str, Any]) -> dict[str, Any]:
    """Record a failed cell's error in its summary (JSON, no HDF5 file); returns the summary."""
    summary = cell.summary()
    summary.update({k: failure[k] for k in ("status", "error", "message", "traceback")})
    (out / "cells" / f"{cell.id}.h5").unlink(missing_ok=True)
    write_json(out / "cells" / f"{cell.id}.json", summary)
    return summary


def load_index(out: str | os.PathLike) -> dict[str, Any]:
    """``DIR/index.json`` (schema ``sciml-study/1``) with every cell's summary."""
    path = Path(out) / "index.json"
    if not path.exists():
        raise StudyError(f"{out} is not a study directory (no index.json); run `sciml study` first")
    try:
        index = json.loads(path.read_text())
    except ValueError as exc:
        raise StudyError(f"{path} is corrupt ({exc}); re-run the study to rebuild it") from None
    if not isinstance(index, dict) or index.get("schema") != SCHEMA:
        raise StudyError(f"{path} is not a sciml study index")
    return index


def write_index(out: Path, plan_: Plan, summaries: dict[str, dict[str, Any]]) -> None:
    """Write ``index.json``: the spec, the counts by status and every cell's summary (pending
    cells from the plan)."""
    cells = [summaries.get(c.id) or c.summary() for c in plan_.cells]
    write_json(out / "index.json", {"schema": SCHEMA, "spec": plan_.spec, "source": plan_.source,
                                     "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                                     "counts": _counts(cells), "cells": cells})


def _counts(cells: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = {"done": 0, "failed": 0, "pending": 0}
    for c in cells:
        out[c["status"]] = out.get(c["status"], 0) + 1
    return out


def prepare_dir(out: Path, plan_: Plan, resume: bool) -> None:
    """Create (or check) the study folder: writable, leftovers of killed writes removed, and
    with ``resume`` the stored spec equal to the plan's."""
    if out.exists() and not out.is_dir():
        raise StudyError(f"--out {out} exists and is not a directory")
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
        (out / "references").mkdir(exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StudyError(f"--out {out} is not writable: {exc.strerror or exc}") from None
    for folder in ("cells", "references"):  # leftovers of writes a kill interrupted (one study per DIR)
        for tmp in (out / folder).glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    stored = out / "study.json"
    if resume:
        if not stored.exists():
            raise StudyError(f"--resume: {out} holds no study to resume (no study.json); drop --resume to start")
        try:
            stored_spec = json.loads(stored.read_text())
        except (OSError, ValueError) as exc:
            raise StudyError(f"--resume: {stored} is unreadable ({exc}); run without --resume to continue "
                             "the study in place (complete cells are kept)") from None
        if stored_spec != plan_.spec:
            raise StudyError(f"--resume: the study file differs from the one {out} was run with; "
                             "run without --resume to extend the study in place, or use a new --out")
