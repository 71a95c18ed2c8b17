"""Learned primal-dual on the DIVal "ellipses" benchmark (128 x 128, 30 angles,
2.5 % Gaussian noise): test PSNR / SSIM against training time.

    sciml data ct-ellipses --n 128 --angles 30 --count 5000 --val-fraction 0.04 \
        --test-fraction 0.04 --out data/ct_ellipses_128.h5
    python scripts/paper/ct_lpd.py --data data/ct_ellipses_128.h5 --steps 15000 --evals 10 \
        --threads 1 --checkpoint data/lpd_128_15k.h5

Trains ``learned-primal-dual`` on the file's train split (``--steps`` Adam steps,
cosine schedule over them, weights selected on ``--val-size`` validation
images) and, at ``--evals`` evenly spaced points of the training, scores the
current weights on the first ``--images`` test images (the same test images
as scripts/paper/ct_ellipses.py).  Each point is one JSON line on stdout:
step, training seconds (validation and scoring excluded), mean PSNR (data
range = max - min of each ground truth) with its standard error, SSIM (ours:
Gaussian window 1.5) and SSIM as DIVal computes it (scikit-image's
structural_similarity: 7x7 uniform window, the same data range; ``sciml.metrics.ssim``
with ``window="uniform"``, equal to it to rounding).  The last
line is the summary of the selected weights.  With an existing matching
checkpoint nothing is trained and only the final line is printed.
"""
from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np


def _problem(conf):
    from problems.tomography import CT
    g = conf["geometry"]
    return CT(n=g["n"], angles=g["angles"], angle_range=g["angle_range"], detectors=g["detectors"],
              phantom="ellipses", noise=conf["noise"], noise_level=conf["noise_level"])


def _scores(rec: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    from sciml.metrics import psnr, ssim
    p = np.array([psnr(a, b) for a, b in zip(rec, truth)])
    s = np.array([ssim(a, b) for a, b in zip(rec, truth)])
    s7 = np.array([ssim(a, b, window="uniform") for a, b in zip(rec, truth)])
    return {"psnr": float(p.mean()), "psnr_sem": float(p.std(ddof=1) / np.sqrt(len(p))) if len(p) > 1 else 0.0,
            "ssim": float(s.mean()), "ssim_dival": float(s7.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a `sciml data ct-ellipses` file")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--images", type=int, default=100, help="test images scored")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--evals", type=int, default=5, help="points of the curve (validations)")
    ap.add_argument("--n-iter", type=int, default=10)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--val-size", type=int, default=16, help="validation images used (first of the val split)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a loaded machine)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from sciml.datasets.ct import load
    from sciml.registry import make_solver
    xs, ys, conf = load(args.data, "test")
    xs = xs[: args.images].astype(np.float64)
    ys = ys[: args.images]
    problem = _problem(conf)
    solver = make_solver("learned-primal-dual", data=args.data, checkpoint=args.checkpoint, steps=args.steps,
                         validations=args.evals, n_iter=args.n_iter, width=args.width,
                         batch_size=args.batch_size, lr=args.lr, val_size=args.val_size, threads=args.threads)

    def monitor(step: int, train_s: float, model) -> None:
        t0 = time.perf_counter()
        row = {"step": step, "train_s": round(train_s, 1), **_scores(model.reconstruct(ys), xs)}
        row["eval_s"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(row), flush=True)

    t0 = time.perf_counter()
    model = solver.model(problem, seed=args.seed, monitor=monitor)
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    rec = model.reconstruct(ys)
    per_image = (time.perf_counter() - t1) / len(ys)
    stats = model.stats
    out = {"method": "learned-primal-dual", "images": len(xs), "geometry": conf["geometry"],
           "noise_level": conf["noise_level"], **_scores(rec, xs), "dival_psnr": 32.27, "dival_ssim": 0.940,
           "steps": stats.get("steps"), "best_step": stats.get("best_step"), "train_s": stats.get("train_s"),
           "wall_s": round(wall, 1), "reconstruct_s_per_image": per_image, "parameters": stats.get("parameters"),
           "threads": args.threads, "options": solver.options()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
