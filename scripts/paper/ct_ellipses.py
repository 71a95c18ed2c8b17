"""The DIVal "ellipses" benchmark (Baguer, Leuschner, Schmidt 2020): 128 x 128,
30 angles, 2.5 % Gaussian noise; FBP, TV and FBP+U-Net on the held-out test split.

    sciml data ct-ellipses --n 128 --angles 30 --count 5000 --val-fraction 0.04 \
        --test-fraction 0.04 --out data/ct_ellipses_128.h5
    python scripts/paper/ct_ellipses.py train --data data/ct_ellipses_128.h5 --checkpoint data/fbp_unet_128.h5
    python scripts/paper/ct_ellipses.py eval  --data data/ct_ellipses_128.h5 --checkpoint data/fbp_unet_128.h5

``train`` fits (or reloads) the fbp-unet checkpoint; ``eval`` scores fbp, tv
and fbp-unet on the first ``--images`` test images of the file (the file's
float32 sinograms; image k is the problem ``ct`` with ``phantom=ellipses`` and
the seed stored in the file).  PSNR uses data range = max - min of each
ground-truth image; SSIM is reported with the Gaussian window of Wang et al.
(``ssim``) and with scikit-image's 7 x 7 uniform window (``ssim_7x7``, what
DIVal reports).  The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np

UNET = dict(width=16, depth=4, crop=64, batch_size=16, epochs=1, lr=2e-3, filter="hann")


def _solver(args):
    from sciml.registry import make_solver
    opts = dict(UNET)
    for k in ("width", "depth", "crop", "batch_size", "epochs", "lr"):
        if getattr(args, k) is not None:
            opts[k] = getattr(args, k)
    return make_solver("fbp-unet", data=args.data, checkpoint=args.checkpoint, **opts)


def _problem(conf):
    from problems.tomography import CT
    g = conf["geometry"]
    return CT(n=g["n"], angles=g["angles"], angle_range=g["angle_range"], detectors=g["detectors"],
              phantom="ellipses", noise=conf["noise"], noise_level=conf["noise_level"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["train", "eval"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--methods", default="fbp,tv,fbp-unet")
    ap.add_argument("--tv-weight", type=float, default=None)
    ap.add_argument("--tv-iterations", type=int, default=None)
    for k in ("width", "depth", "crop", "batch_size", "epochs"):
        ap.add_argument("--" + k.replace("_", "-"), dest=k, type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (1 is fastest on a loaded shared machine)")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from sciml.datasets.ct import load
    xs, ys, conf = load(args.data, "test")
    problem = _problem(conf)
    solver = _solver(args)
    if args.stage == "train":
        model = solver.model(problem, seed=0, progress=False)
        stats = {k: v for k, v in model.stats.items() if k != "loss_history" and not isinstance(v, np.ndarray)}
        print(json.dumps(stats))
        return

    from operators.radon import Radon, fbp
    from sciml.metrics import psnr, ssim
    from sciml.references.tomography import FBP, TV, chambolle_pock_tv
    xs = xs[: args.images].astype(np.float64)
    ys = ys[: args.images].astype(np.float64)
    R = Radon(problem.geometry())
    out = {"images": len(xs), "geometry": conf["geometry"], "noise_level": conf["noise_level"]}
    for method in args.methods.split(","):
        t0 = time.perf_counter()
        if method == "fbp":
            f = FBP()
            rec = fbp(R, ys, f.filter, f.frequency_scaling)
            opts = f.options()
        elif method == "tv":
            t = TV()
            w = t.weight if args.tv_weight is None else args.tv_weight
            it = t.iterations if args.tv_iterations is None else args.tv_iterations
            rec, _ = chambolle_pock_tv(R, ys, w, it, True)
            opts = {"weight": w, "iterations": it}
        else:
            model = solver.model(problem)
            rec = model.reconstruct(ys)
            opts = {**solver.options(), "train_wall_s": model.stats.get("train_wall_s"),
                    "steps": model.stats.get("steps"), "parameters": model.stats.get("parameters")}
        wall = time.perf_counter() - t0
        p = np.array([psnr(a, b) for a, b in zip(rec, xs)])
        s = np.array([ssim(a, b) for a, b in zip(rec, xs)])
        s7 = np.array([ssim(a, b, window="uniform") for a, b in zip(rec, xs)])
        out[method] = {"psnr": float(p.mean()), "psnr_sem": float(p.std(ddof=1) / np.sqrt(len(p))),
                       "ssim": float(s.mean()), "ssim_7x7": float(s7.mean()), "wall_s": wall, "options": opts}
        print(f"{method:9s} PSNR {p.mean():.2f} +- {out[method]['psnr_sem']:.2f} dB  SSIM {s.mean():.3f} "
              f"(7x7 uniform, as DIVal: {s7.mean():.3f})  ({wall:.1f} s for {len(xs)} images)", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
