"""Worst-case measurement perturbations for FBP and FBP+U-Net (adversarial robustness).

For each test image (problem ``ct``, ellipses, the dataset's geometry and noise)
and each perturbation size eps (a multiple of the norm of the measurement
noise actually present, ||e|| = ||y - A_fine x_fine||), projected gradient
ascent through the torch Radon operator finds delta with ||delta|| <= eps that
maximises ||M(y + delta) - x||^2 (x the phantom, M the reconstruction), as in
Antun et al. (PNAS 2020) and Genzel, Macdonald, Maerz (IEEE TPAMI 2022).
Reported per method and eps: mean relative error ||M(y + delta) - x|| / ||x||,
mean PSNR, and the amplification ||M(y + delta) - M(y)|| / ||delta||.  For FBP
(linear) the amplification must approach its operator norm, computed by power
iteration as a check of the attack.

    python scripts/paper/ct_robustness.py --checkpoint data/fbp_unet_128.h5 --data data/ct_ellipses_128.h5

Writes ``<out>/ct_robustness.json`` and ``<out>/ct_robustness.png``; the last
stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="trained fbp-unet checkpoint")
    ap.add_argument("--data", required=True, help="the dataset it was trained on (for geometry/noise)")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--eps", default="0,0.5,1,2,4", help="perturbation norms as multiples of ||noise||")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("results/ct_robustness"))
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)

    from operators.radon import Geometry, TorchRadon, power_norm
    from problems.tomography import CT
    from sciml.datasets.ct import load
    from sciml.metrics import psnr
    from sciml.registry import make_solver

    _, _, conf = load(args.data, "test")
    g = Geometry(**conf["geometry"])
    lo = conf["splits"]["test"][0]
    solver_cfg = json.loads(json.dumps(__import__("sciml.io", fromlist=["x"]).load_checkpoint(args.checkpoint)[0]))
    opts = {k: solver_cfg[k] for k in ("width", "depth", "norm", "filter", "frequency_scaling", "epochs",
                                       "batch_size", "lr", "crop", "train_size", "val_size", "data_seed")}
    solver = make_solver("fbp-unet", checkpoint=args.checkpoint, data=args.data, **opts)
    problems = [CT(n=g.n, angles=g.angles, angle_range=g.angle_range, detectors=g.n_det, phantom="ellipses",
                   noise=conf["noise"], noise_level=conf["noise_level"], photons=conf["photons"],
                   inverse_crime=conf["inverse_crime"], oversample=conf["oversample"],
                   seed=conf["seed_stride"] * (conf["seed"] + 1) + lo + k) for k in range(args.images)]
    model = solver.model(problems[0])
    net = model.net.float().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    T = TorchRadon(g, dtype="float32")
    filt, fs = model.config["filter"], model.config["frequency_scaling"]

    methods = {
        "fbp": lambda y: T.fbp(y, filt, fs),
        "fbp-unet": lambda y: (lambda f: f + net(f[:, None])[:, 0])(T.fbp(y, filt, fs)),
    }
    # operator norm of the (linear) FBP map: the attack on fbp should reach it
    fbp_norm = power_norm(lambda v: _fbp_normal(T, filt, fs, v), g.sino_shape, iterations=30)
    eps_list = [float(e) for e in args.eps.split(",")]
    ys = torch.as_tensor(np.stack([p.sinogram() for p in problems]), dtype=torch.float32)
    xs = torch.as_tensor(np.stack([p.image() for p in problems]), dtype=torch.float32)
    noise = np.array([np.linalg.norm(p.sinogram() - p.clean_sinogram()) for p in problems])
    rng = np.random.default_rng(0)
    table: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    for name, M in methods.items():
        with torch.no_grad():
            base = M(ys)
        for e in eps_list:
            radius = torch.as_tensor(e * noise, dtype=torch.float32)[:, None, None]
            delta = torch.as_tensor(rng.standard_normal(ys.shape), dtype=torch.float32)
            delta = delta / delta.flatten(1).norm(dim=1)[:, None, None] * radius
            for _ in range(args.steps if e > 0 else 0):
                delta.requires_grad_(True)
                loss = ((M(ys + delta) - xs) ** 2).sum()
                (grad,) = torch.autograd.grad(loss, delta)
                with torch.no_grad():
                    gn = grad.flatten(1).norm(dim=1).clamp_min(1e-30)[:, None, None]
                    delta = delta + 0.5 * radius * grad / gn
                    dn = delta.flatten(1).norm(dim=1)[:, None, None].clamp_min(1e-30)
                    delta = delta * torch.clamp(radius / dn, max=1.0)  # project onto the ball
            with torch.no_grad():
                d = delta.detach() if e > 0 else torch.zeros_like(ys)
                rec = M(ys + d)
            r = rec.numpy().astype(float)
            x = xs.numpy().astype(float)
            rel = np.linalg.norm((r - x).reshape(len(r), -1), axis=1) / np.linalg.norm(x.reshape(len(x), -1), axis=1)
            amp = (np.linalg.norm((rec - base).flatten(1).numpy(), axis=1) / (e * noise)) if e > 0 else np.zeros(len(r))
            table[name].append({"eps": e, "rel_l2": float(rel.mean()),
                                "psnr": float(np.mean([psnr(a, b) for a, b in zip(r, x)])),
                                "amplification": float(amp.mean())})
            print(f"{name:9s} eps = {e:4.1f} ||noise||: rel_l2 {rel.mean():.4f}  "
                  f"psnr {table[name][-1]['psnr']:.2f} dB  amplification {amp.mean():.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"fbp_operator_norm": fbp_norm, "noise_norm": float(noise.mean()), "images": args.images,
              "steps": args.steps, "table": table}
    (args.out / "ct_robustness.json").write_text(json.dumps(result, indent=1))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
        for name, rows in table.items():
            ax[0].plot([r["eps"] for r in rows], [r["rel_l2"] for r in rows], "o-", label=name)
            ax[1].plot([r["eps"] for r in rows[1:]], [r["amplification"] for r in rows[1:]], "o-", label=name)
        ax[1].axhline(fbp_norm, color="gray", ls="--", label="||FBP||")
        ax[0].set_xlabel("eps / ||noise||"), ax[0].set_ylabel("worst-case relative L2 error")
        ax[1].set_xlabel("eps / ||noise||"), ax[1].set_ylabel("||M(y+d) - M(y)|| / ||d||")
        ax[0].legend(), ax[1].legend()
        fig.tight_layout()
        fig.savefig(args.out / "ct_robustness.png", dpi=120)
    except ImportError:  # pragma: no cover
        pass
    print(json.dumps(result))


def _fbp_normal(T, filt, fs, v):
    import torch
    y = torch.as_tensor(v, dtype=torch.float32).requires_grad_(True)
    out = T.fbp(y, filt, fs)
    (g,) = torch.autograd.grad((out ** 2).sum() / 2, y)
    return g.numpy().astype(np.float64)


if __name__ == "__main__":
    main()
