"""Darcy flow data: pairs (a, u) with -div(a grad u) = 1 on (0,1)², u = 0 on the boundary.

The coefficient is a = 12 where a Gaussian random field with covariance
(-Δ + 9 I)^(-2) is positive and 3 elsewhere (Li et al. 2021; the field is
sampled by the truncated cosine series of :mod:`sciml.datasets.grf`).  Each u
is the DOLFINx P1 solution on the S x S grid's triangulated mesh
(:class:`sciml.references.fem.DarcyFEM`): the unknowns are the grid values,
and a is represented piecewise constant per triangle, equal to the mean of
a at the triangle's three vertices.

File schema (``schema = "sciml-darcy/1"``)::

    a      (count, S, S) float32   coefficient at the grid points, a[n, i, j] at (x_i, y_j)
    u      (count, S, S) float64   FEM solution at the grid points
    index  (count,)      int64     global sample index (sample i uses seed stream [seed, i])
    grid   (S,)          float64   x_i = i / (S - 1)
    attrs: res, start, count, seed, alpha, tau, a_plus, a_minus, f, terms,
           representation, element, n_done, complete, solve_s, versions

Writing goes to ``<out>.partial`` in chunks; after each chunk ``n_done`` is
updated and the file flushed, so a killed run resumes from there (the next
call with the same arguments) without duplicating samples.  Only a finished
file is renamed to ``<out>`` and has ``complete = True``: a file that reads
as complete is complete.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..core import DataError, InvalidOption
from ..io import finish_partial, h5_file, open_h5, schema
from .grf import darcy_coefficient, grf_coefficients, grf_on_grid

log = logging.getLogger(__name__)

SCHEMA = schema("darcy")
__all__ = ["generate", "load", "sample_coefficients", "solve_samples", "SCHEMA"]

#: the generator's physical and statistical parameters (stored in every file)
DEFAULTS = {"alpha": 2.0, "tau": 3.0, "a_plus": 12.0, "a_minus": 3.0, "f": 1.0, "terms": 64}
REPRESENTATION = "a piecewise constant per triangle = mean of the grid values at its 3 vertices"


def sample_coefficients(res: int, indices: Any, seed: int, *, terms: int = 64,
                        alpha: float = 2.0, tau: float = 3.0) -> np.ndarray:
    """The coefficients a (len(indices), res, res) of the given global sample indices."""
    return np.stack([darcy_coefficient(grf_on_grid(grf_coefficients(seed, i, terms, alpha, tau), res))
                     for i in indices]).reshape(-1, res, res)


def solve_samples(res: int, indices: list[int], seed: int, terms: int = 64, alpha: float = 2.0,
                  tau: float = 3.0, f: float = 1.0) -> tuple[np.ndarray, np.ndarray, float]:
    """(a, u, FEM seconds) for the given sample indices, solved in this process."""
    from ..references.fem import DarcyFEM
    fem = DarcyFEM(res, f=f, linear_solver="lu")
    a = sample_coefficients(res, indices, seed, terms=terms, alpha=alpha, tau=tau)
    u = np.empty(a.shape, dtype=float)
    t0 = time.perf_counter()
    for n in range(a.shape[0]):
        u[n] = fem.solve(a[n])
    return a, u, time.perf_counter() - t0


def _solve_task(args: tuple) -> tuple[np.ndarray, np.ndarray, float]:
    return solve_samples(*args)


def _chunks(first: int, stop: int, size: int) -> Iterator[list[int]]:
    for lo in range(first, stop, size):
        yield list(range(lo, min(lo + size, stop)))


def _versions() -> str:
    try:
        from ..versions import versions
        return json.dumps(versions())
    except Exception:  # pragma: no cover - versions are informative only
        return "{}"


def _open_partial(partial: Path, attrs: dict[str, Any], res: int, count: int) -> Any:
    """Open (resume) or create the partial file; a corrupt or foreign partial is restarted."""
    if partial.exists():
        try:
            f = h5_file(partial, "r+")
        except OSError as exc:
            log.warning("darcy: %s is unreadable (%s); starting it again", partial, exc)
            partial.unlink()
        else:
            same = all(f.attrs.get(k) == v for k, v in attrs.items())
            if same and f.attrs.get("schema") == SCHEMA:
                log.info("darcy: resuming %s at sample %d of %d", partial, int(f.attrs["n_done"]), count)
                return f
            f.close()
            log.warning("darcy: %s was written with other arguments; starting it again", partial)
            partial.unlink()
    f = h5_file(partial, "w")
    f.attrs["schema"] = SCHEMA
    for k, v in attrs.items():
        f.attrs[k] = v
    f.attrs["representation"] = REPRESENTATION
    f.attrs["element"] = "Lagrange P1 (DOLFINx), LU (MUMPS)"
    f.attrs["versions"] = _versions()
    f.attrs["n_done"] = 0
    f.attrs["complete"] = False
    f.attrs["solve_s"] = 0.0
    chunk = (min(count, 16), res, res)
    f.create_dataset("a", shape=(count, res, res), dtype="float32", chunks=chunk)
    f.create_dataset("u", shape=(count, res, res), dtype="float64", chunks=chunk)
    f.create_dataset("index", shape=(count,), dtype="int64")
    f.create_dataset("grid", data=np.linspace(0.0, 1.0, res))
    f.flush()
    return f


def generate(*, out: str | os.PathLike, progress: bool = False, res: int = 85, count: int = 1100,
             seed: int = 0, start: int = 0, workers: int = 0, chunk: int = 50, terms: int = 64) -> Path:
    """Write ``count`` Darcy samples (global indices start .. start+count-1) at resolution ``res``.

    ``workers`` processes solve chunks of ``chunk`` samples in parallel
    (0: one per CPU core; 1: in this process).  Re-running with the same
    arguments after a kill resumes the partial file; on a finished file it
    does nothing.  Returns the path of the complete file.
    """
    if not 8 <= res <= 1025:  # the darcy problem's own range: other data could not be used
        raise InvalidOption(f"darcy data: res={res} is out of range; allowed: [8, 1025]")
    if count < 1:
        raise InvalidOption(f"darcy data: count={count} is out of range; allowed: count >= 1")
    if start < 0:
        raise InvalidOption(f"darcy data: start={start} is out of range; allowed: start >= 0")
    if workers < 0:
        raise InvalidOption(f"darcy data: workers={workers} is out of range; allowed: 0 (all cores) or >= 1")
    if chunk < 1:
        raise InvalidOption(f"darcy data: chunk={chunk} is out of range; allowed: chunk >= 1")
    if terms < 1:
        raise InvalidOption(f"darcy data: terms={terms} is out of range; allowed: terms >= 1")
    out = Path(out)
    if out.is_dir():
        raise InvalidOption(f"darcy data: --out {out} is a directory; give a file name ending in .h5")
    params = dict(DEFAULTS, terms=terms)
    attrs = {"res": res, "start": start, "count": count, "seed": seed, **params}
    if out.exists():
        info = load(out, res=res, arrays=False)
        if all(info["attrs"].get(k) == v for k, v in attrs.items()):
            log.info("darcy: %s is already complete", out)
            return out
        raise DataError(f"darcy data: {out} exists with other arguments; remove it or choose another --out")
    from ..limits import check_disk, cpu_cores
    check_disk("darcy data", f"count={count} at res={res}", count * res * res * 8 * 2, out.parent)
    if workers > cpu_cores():
        log.warning("darcy data: workers=%d capped at the %d CPU cores", workers, cpu_cores())
        workers = cpu_cores()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    f = _open_partial(partial, attrs, res, count)
    try:
        done = int(f.attrs["n_done"])
        tasks = [(res, idx, seed, terms, params["alpha"], params["tau"], params["f"])
                 for idx in _chunks(start + done, start + count, chunk)]
        nproc = (os.cpu_count() or 1) if workers == 0 else workers
        nproc = max(1, min(nproc, len(tasks)))
        from ..progress import bar
        with bar(count, f"darcy S={res}", progress, unit="solve") as pb:
            pb.update(done)
            t0 = time.perf_counter()
            if nproc == 1:
                results = map(_solve_task, tasks)
                _write_all(f, results, start, pb, t0, done)
            else:
                # spawn: a fresh interpreter per worker (PETSc/MPI state must not be forked)
                with mp.get_context("spawn").Pool(nproc) as pool:
                    _write_all(f, pool.imap(_solve_task, tasks), start, pb, t0, done)
        f.attrs["complete"] = True
        f.flush()
    finally:
        f.close()
    return finish_partial(partial, out)


def _write_all(f: Any, results: Any, start: int, pb: Any, t0: float, done0: int) -> None:
    done = int(f.attrs["n_done"])
    for a, u, secs in results:
        n = a.shape[0]
        f["a"][done:done + n] = a.astype(np.float32)
        f["u"][done:done + n] = u
        f["index"][done:done + n] = np.arange(start + done, start + done + n)
        f.flush()  # data first, then the counter that declares it written
        f.attrs["n_done"] = done + n
        f.attrs["solve_s"] = float(f.attrs["solve_s"]) + secs
        f.flush()
        done += n
        pb.update(n)
        pb.set_postfix(solves_per_s=f"{(done - done0) / max(time.perf_counter() - t0, 1e-9):.1f}")


def load(path: str | os.PathLike, *, res: int | None = None, arrays: bool = True) -> dict[str, Any]:
    """Read a complete Darcy file: {"a", "u", "index", "attrs"} (arrays only if asked).

    Raises :class:`DataError` naming the file if it is missing, not a Darcy
    file, incomplete or at another resolution than ``res``.
    """
    p = Path(path)
    hint = f" (a partial file {p}.partial exists: re-run the same `sciml data darcy` command)" \
        if p.with_name(p.name + ".partial").exists() else \
        " (create it with `sciml data darcy --res S --count N --seed K --out FILE`)"
    try:
        with open_h5(p, schema=SCHEMA, what="darcy data file", hint=hint) as f:
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
            if not attrs.get("complete") or attrs.get("n_done") != attrs.get("count"):
                raise DataError(f"darcy data file {p} is incomplete ({attrs.get('n_done')} of "
                                f"{attrs.get('count')} samples); re-run the command that wrote it")
            if res is not None and attrs["res"] != res:
                raise DataError(f"darcy data file {p} has resolution {attrs['res']}, but res={res} was asked")
            out: dict[str, Any] = {"attrs": attrs}
            if arrays:
                for k in ("a", "u", "index"):
                    out[k] = f[k][()]
                for k in ("a", "u"):
                    if out[k].shape != (attrs["count"], attrs["res"], attrs["res"]):
                        raise DataError(f"darcy data file {p}: array {k} has shape {out[k].shape}; expected "
                                        f"{(attrs['count'], attrs['res'], attrs['res'])}")
                    bad = ~np.isfinite(out[k])
                    if bad.any():  # a NaN u scored every solver against NaN (exit 0 before)
                        first = int(np.argwhere(bad)[0][0])
                        raise DataError(f"darcy data file {p}: dataset {k} holds {int(bad.sum())} non-finite "
                                        f"values (first in sample {int(out['index'][first])}); re-run the command "
                                        "that wrote it")
    except KeyError as exc:
        raise DataError(f"darcy data file {p} is corrupt: missing {exc}") from None
    return out
