"""``sciml data ct-ellipses``: random-ellipse phantoms and their sinograms in HDF5.

Image k of a set with ``seed`` S is the problem ``ct`` with
``phantom=ellipses`` and ``seed = 10**6 * (S + 1) + k`` (so dataset images
never coincide with the problem's own small seeds and every image can be
re-created with ``sciml solve ct -p seed=...``).  The first images are the
training split, then validation, then test.

File layout (``schema = "sciml-ct-dataset/1"``)::

    phantoms   (count, n, n) float32     ground truth (pixel means)
    sinograms  (count, angles, detectors) float32   noisy data
    seeds      (count,) int64            the problem seed of each image
    attrs: schema, config (JSON: geometry, noise, seed, count, splits), completed

Writing is chunked and resumable: work goes to ``<out>.partial``; after each
chunk ``completed`` is updated and flushed; a rerun with the same arguments
continues from there; the finished file is renamed to ``out`` (atomic), so
``out`` exists only when complete.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..core import DataError, InvalidOption, InvalidProblem
from ..io import finish_partial, h5_file, open_h5, schema
from ..progress import bar

log = logging.getLogger(__name__)

SCHEMA = schema("ct-dataset")
SEED_STRIDE = 10 ** 6

__all__ = ["generate", "load", "image_seed", "SCHEMA"]


def image_seed(seed: int, k: int) -> int:
    """Problem seed of image ``k`` of a dataset generated with ``seed``."""
    return SEED_STRIDE * (int(seed) + 1) + int(k)


def _splits(count: int, val_fraction: float, test_fraction: float) -> dict[str, list[int]]:
    n_val = int(round(count * val_fraction))
    n_test = int(round(count * test_fraction))
    n_train = count - n_val - n_test
    if n_train < 1:
        raise InvalidOption(f"ct-ellipses: count={count} leaves no training images "
                            f"(val_fraction={val_fraction}, test_fraction={test_fraction})")
    return {"train": [0, n_train], "val": [n_train, n_train + n_val], "test": [n_train + n_val, count]}


def generate(*, out: str | os.PathLike, progress: bool = False, n: int = 128, angles: int = 30,
             count: int = 1000, seed: int = 0, angle_range: float = 180.0, detectors: int = 0,
             noise: str = "gaussian", noise_level: float = 0.025, photons: float = 1e4,
             inverse_crime: bool = False, oversample: int = 2, val_fraction: float = 0.1,
             test_fraction: float = 0.1, chunk: int = 64) -> Path:
    """Write ``count`` ellipse phantoms and noisy sinograms to ``out`` (see module doc).
    ``detectors=0`` means the default ceil(sqrt(2) n)."""
    from problems.tomography import CT

    if not 1 <= count <= SEED_STRIDE:  # more would share image seeds with the next --seed
        raise InvalidOption(f"ct-ellipses: count={count} is out of range; allowed: [1, {SEED_STRIDE}]")
    if seed < 0:  # seed -1 would give images the seeds 0, 1, ... of the problem's own phantoms
        raise InvalidOption(f"ct-ellipses: seed={seed} is out of range; allowed: seed >= 0")
    if chunk < 1:
        raise InvalidOption(f"ct-ellipses: chunk={chunk} must be >= 1")
    for key, v in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= v < 1:
            raise InvalidOption(f"ct-ellipses: {key}={v} is out of range; allowed: [0, 1)")
    if detectors < 0:
        raise InvalidProblem(f"ct-ellipses: detectors={detectors} must be >= 1 (0 = automatic)")

    def problem(k: int) -> CT:
        return CT(n=n, angles=angles, angle_range=angle_range, detectors=detectors or None,
                  phantom="ellipses", noise=noise, noise_level=noise_level, photons=photons,
                  seed=image_seed(seed, k), inverse_crime=inverse_crime, oversample=oversample)

    p0 = problem(0)  # validates every problem field before any work
    geom = p0.geometry()
    config: dict[str, Any] = {
        "geometry": geom.config(), "noise": noise, "noise_level": float(noise_level),
        "photons": float(photons), "inverse_crime": bool(inverse_crime), "oversample": int(oversample),
        "seed": int(seed), "count": int(count), "seed_stride": SEED_STRIDE,
        "splits": _splits(count, val_fraction, test_fraction)}
    target = Path(out)
    if target.is_dir() or (target.exists() and not target.is_file()):
        raise InvalidOption(f"ct-ellipses: --out {target} is not a regular file; give a file name ending in .h5")
    if target.exists():  # checked before generating: a finished file is kept, never clobbered
        try:
            with open_h5(target, schema=SCHEMA, what="CT dataset") as f:
                done_config = json.loads(f.attrs["config"])
        except (DataError, KeyError, TypeError, ValueError):
            done_config = None
        if done_config == json.loads(json.dumps(config)):
            log.info("ct-ellipses: %s is already complete", target)
            return target
        raise DataError(f"ct-ellipses: {target} exists and is not this dataset; remove it or choose another --out")
    from ..limits import check_disk, check_memory
    nbytes = count * (n * n + int(np.prod(geom.sino_shape))) * 4
    check_disk("ct-ellipses", f"count={count} at n={n}", nbytes, target.parent)
    check_memory("ct-ellipses", f"chunk={chunk} at n={n}", min(chunk, count) * nbytes / count * 2 + count * 8)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    old = None
    if partial.exists():
        try:
            with h5_file(partial) as f:
                old = json.loads(f.attrs["config"])
                int(f.attrs["completed"])
        except (OSError, KeyError, TypeError, ValueError) as exc:  # garbage or empty: start again
            log.warning("ct-ellipses: %s is unreadable (%s); starting it again", partial, exc)
            partial.unlink()
    if old is not None:
        if old != json.loads(json.dumps(config)):
            raise DataError(f"{partial} was started with other arguments; delete it or rerun with "
                            f"the same arguments to resume (differences: "
                            f"{sorted(k for k in config if old.get(k) != json.loads(json.dumps(config))[k])})")
        mode = "a"
    else:
        mode = "w"
    with h5_file(partial, mode) as f:
        if mode == "w":
            f.attrs["schema"] = SCHEMA
            f.attrs["config"] = json.dumps(config)
            f.attrs["completed"] = 0
            f.create_dataset("phantoms", (count, n, n), dtype="f4", chunks=(min(chunk, count), n, n))
            f.create_dataset("sinograms", (count, *geom.sino_shape), dtype="f4",
                             chunks=(min(chunk, count), *geom.sino_shape))
            f.create_dataset("seeds", data=np.array([image_seed(seed, k) for k in range(count)], dtype=np.int64))
        done = int(f.attrs["completed"])
        if done:
            log.info("resuming %s at image %d of %d", partial, done, count)
        with bar(count, "ct-ellipses", progress) as pb:
            pb.update(done)
            for start in range(done, count, chunk):
                stop = min(start + chunk, count)
                imgs = np.empty((stop - start, n, n), dtype=np.float32)
                sinos = np.empty((stop - start, *geom.sino_shape), dtype=np.float32)
                for k in range(start, stop):
                    pk = problem(k)
                    imgs[k - start] = pk.image()
                    sinos[k - start] = pk.sinogram()
                f["phantoms"][start:stop] = imgs
                f["sinograms"][start:stop] = sinos
                f.attrs["completed"] = stop
                f.flush()
                pb.update(stop - start)
    return finish_partial(partial, target)


def load(path: str | os.PathLike, split: str | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(phantoms, sinograms, config) of a dataset file, all images or one split."""
    p = Path(path)
    with open_h5(p, schema=SCHEMA, what="CT dataset",
                 hint=f"; create it with `sciml data ct-ellipses --out {p}`") as f:
        config = _config(p, f)
        if split is not None and split not in config["splits"]:
            raise DataError(f"CT dataset {p}: no split {split!r}; splits: {', '.join(config['splits'])}")
        lo, hi = config["splits"][split] if split else (0, config["count"])
        return f["phantoms"][lo:hi], f["sinograms"][lo:hi], config


def _config(p: Path, f: Any) -> dict[str, Any]:
    """The file's ``config`` attribute, checked against its arrays (DataError naming the file)."""
    bad = f"CT dataset {p}: "
    redo = f"; create it again with `sciml data ct-ellipses --out {p}`"
    if "config" not in f.attrs:
        raise DataError(bad + "no 'config' attribute" + redo)
    try:
        config = json.loads(f.attrs["config"])
    except (TypeError, ValueError) as exc:
        raise DataError(bad + f"its 'config' is not JSON ({exc})" + redo) from None
    if not isinstance(config, dict):
        raise DataError(bad + f"its 'config' is {type(config).__name__}, not a table" + redo)
    for key in ("phantoms", "sinograms"):
        if key not in f or not hasattr(f[key], "shape") or len(f[key].shape) < 3:
            raise DataError(bad + f"no {key} array (images x rows x columns)" + redo)
    count, geom, splits = config.get("count"), config.get("geometry"), config.get("splits")
    n_img = min(f["phantoms"].shape[0], f["sinograms"].shape[0])
    if not (isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= n_img):
        raise DataError(bad + f"config count={count!r}; allowed: an integer in [1, {n_img}] (the images held)" + redo)
    if not isinstance(geom, dict) or not {"n", "angles"} <= set(geom):
        raise DataError(bad + f"config geometry={geom!r}; expected a table with n, angles, ..." + redo)
    ok = isinstance(splits, dict) and all(
        isinstance(v, list) and len(v) == 2 and all(isinstance(i, int) and not isinstance(i, bool) for i in v)
        and 0 <= v[0] <= v[1] <= count for v in splits.values())
    if not ok:
        raise DataError(bad + f"config splits={splits!r}; expected name = [start, stop] within [0, {count}]" + redo)
    return config
