"""Run every CUDA path at a small and at the full size; print one JSON line.

    python scripts/gpu_check.py [--device cuda:0] [--small-only] [--repeat 5]

Sections (each with its agreement against the CPU and its throughput):

* ``radon``: the Numba CUDA Joseph projector.  Small: n = 32, 18 angles,
  forward, adjoint and FBP back-projection against the CPU kernels (largest
  difference relative to the largest entry; float64).  Full: 256^2 images,
  180 angles, batch 32, data already on the GPU: forward and adjoint
  images/s in float32 and float64, and the forward at TorchRadon's published
  setting (256 angles x 256 detectors, float32, batch 32).
* ``monte_carlo``: the Numba CUDA Monte Carlo estimator.  Small: heat d = 10
  at 5 points, GPU vs CPU estimates (largest |difference| / combined standard
  error).  Full: heat d = 100 at its test points and x0 (exact sampling),
  2^20 paths; Black-Scholes max-call d = 100 at x0 with 50 Euler steps,
  2^18 paths; paths x points x dims per second, and the CPU's rate for the
  heat case on a smaller run.
* ``fno``: torch FNO at the Darcy size (85^2 grid, padding 11, modes 12,
  width 32, 4 layers, batch 20): training samples/s (Adam steps on fixed
  random data) on the GPU and on 2 CPU threads, and the forward of the same
  weights on both devices in float64.
* ``deep_kolmogorov``: the deep Kolmogorov solver on heat d = 100 (batch
  4096, float32): training samples/s on the GPU and on 2 CPU threads.

Also the GPU's name, torch's peak allocated memory and the most device memory
seen in use.  Without a CUDA device the script exits with status 2 and one
line.  Under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) only the small
Numba checks run (the simulator executes kernels in Python); the JSON then
says ``"simulator": true``.  About 2-3 minutes on a current GPU.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from typing import Any, Callable

import numpy as np

log = logging.getLogger("gpu_check")


def _fail(message: str) -> None:
    print(f"gpu_check: {message}", file=sys.stderr)
    sys.exit(2)


def _best(fn: Callable[[], Any], sync: Callable[[], None], repeat: int) -> float:
    fn()
    sync()
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))


class _Memory:
    """The most device memory seen in use (total - free), sampled between sections."""

    def __init__(self) -> None:
        self.max_used = 0

    def sample(self) -> None:
        from numba import cuda
        try:
            free, total = cuda.current_context().get_memory_info()
            self.max_used = max(self.max_used, int(total - free))
        except Exception:  # the simulator reports nothing useful
            pass


# --------------------------------------------------------------------- radon
def check_radon(index: int, small_only: bool, repeat: int, mem: _Memory, n: int = 256, angles: int = 180,
                batch: int = 32, small: tuple[int, int] = (32, 18)) -> dict[str, Any]:
    from numba import cuda

    from operators import _radon_cuda as KC
    from operators._radon_numba import BORDER
    from operators.radon import Geometry, Radon, fbp
    out: dict[str, Any] = {}
    g = Geometry(*small)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *g.image_shape))
    y = rng.standard_normal((2, *g.sino_shape))
    cpu, gpu = Radon(g), Radon(g, device=f"cuda:{index}")
    out["small_forward_rel_diff"] = _rel(cpu.forward(x), gpu.forward(x))
    out["small_adjoint_rel_diff"] = _rel(cpu.adjoint(y), gpu.adjoint(y))
    out["small_fbp_rel_diff"] = _rel(fbp(cpu, y[0]), fbp(gpu, y[0]))
    fx, ay = gpu.forward(x[0]), gpu.adjoint(y[0])
    out["small_adjoint_identity"] = float(abs(np.vdot(fx, y[0]) - np.vdot(x[0], ay))
                                          / (np.linalg.norm(fx) * np.linalg.norm(y[0])))
    if small_only:
        return out

    def throughput(geom: Geometry, dtype: Any) -> tuple[float, float]:
        c, s = np.cos(geom.theta).astype(dtype), np.sin(geom.theta).astype(dtype)
        det = geom.s.astype(dtype)
        img = np.zeros((batch, geom.n + 2 * BORDER, geom.n + 2 * BORDER), dtype=dtype)
        img[:, BORDER:-BORDER, BORDER:-BORDER] = rng.random((batch, geom.n, geom.n))
        with cuda.gpus[index]:
            d_img, d_c, d_s, d_det = (cuda.to_device(a) for a in (img, c, s, det))
            d_sino = cuda.device_array((batch, *geom.sino_shape), dtype=dtype)
            d_back = cuda.device_array((batch, geom.n, geom.n), dtype=dtype)
            t_f = _best(lambda: KC.forward(d_img, d_c, d_s, dtype(det[0]), dtype(geom.ds), dtype(geom.h), d_sino),
                        cuda.synchronize, repeat)
            t_a = _best(lambda: KC.adjoint(d_sino, d_c, d_s, d_det, dtype(geom.h), d_back), cuda.synchronize, repeat)
            mem.sample()
        return batch / t_f, batch / t_a

    g = Geometry(n, angles)
    for name, dt in (("fp32", np.float32), ("fp64", np.float64)):
        f, a = throughput(g, dt)
        out[f"forward_images_per_s_{name}"] = f
        out[f"adjoint_images_per_s_{name}"] = a
    out[f"forward_images_per_s_fp32_{n}x{n}"] = throughput(Geometry(n, n, detectors=n), np.float32)[0]
    out["torchradon_published_images_per_s"] = 6616.0  # fp32, GTX 1650, batch 32, 256 angles x 256 detectors
    # full size agreement, a batch of 2 in float64
    xs = rng.random((2, n, n))
    cpu, gpu = Radon(g), Radon(g, device=f"cuda:{index}")
    out["full_forward_rel_diff"] = _rel(cpu.forward(xs), gpu.forward(xs))
    ys = cpu.forward(xs)
    out["full_adjoint_rel_diff"] = _rel(cpu.adjoint(ys), gpu.adjoint(ys))
    return out


# --------------------------------------------------------------- monte carlo
def check_monte_carlo(index: int, small_only: bool, mem: _Memory, d: int = 100, log2_paths: int = 20,
                      steps: int = 50, points: int | None = None, small_paths: int = 4096) -> dict[str, Any]:
    from problems.kolmogorov import BlackScholes, Heat
    from sciml.references.monte_carlo import MonteCarlo
    dev = f"cuda:{index}"
    out: dict[str, Any] = {}
    p = Heat(d=10)
    x = np.random.default_rng(1).uniform(0, 1, (5, 10))
    mc = MonteCarlo(samples=small_paths)
    mg, sg, _ = mc.estimate(p, x, seed=5, device=dev)
    mc_, sc, _ = mc.estimate(p, x, seed=5)
    out["small_max_z"] = float(np.max(np.abs(mg - mc_) / np.hypot(sg, sc)))
    out["small_max_z_vs_exact"] = float(np.max(np.abs(mg - p.exact(x)) / sg))
    if small_only:
        return out

    p = Heat(d=d)
    xs = np.vstack([p.test_points(), p.value_point()[None, :]])[:points]

    def rate(mc: MonteCarlo, problem: Any, x: np.ndarray, device: str) -> tuple[float, np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        m, s, n = mc.estimate(problem, x, seed=1, device=device)
        return (2 if mc.antithetic else 1) * n * x.shape[0] * problem.d / (time.perf_counter() - t0), m, s

    out[f"heat_d{d}_points"] = int(xs.shape[0])
    out[f"heat_d{d}_paths_x_dims_per_s"], m, s = rate(MonteCarlo(samples=1 << log2_paths), p, xs, dev)
    mem.sample()
    out[f"heat_d{d}_max_z_vs_exact"] = float(np.max(np.abs(m - p.exact(xs)) / s))
    out[f"heat_d{d}_cpu_paths_x_dims_per_s"] = rate(MonteCarlo(samples=1 << max(log2_paths - 6, 1)), p, xs,
                                                    "cpu")[0]

    b = BlackScholes(d=d, payoff="max-call")
    x0 = b.value_point()[None, :]
    mc = MonteCarlo(samples=1 << max(log2_paths - 2, 1), scheme="euler", steps=steps, antithetic=True)
    t0 = time.perf_counter()
    m, s, n = mc.estimate(b, x0, seed=2, device=dev)
    wall = time.perf_counter() - t0
    mem.sample()
    out[f"maxcall_d{d}_euler{steps}_paths_x_dims_per_s"] = 2 * n * b.d / wall
    mc_cpu = MonteCarlo(samples=1 << max(log2_paths - 8, 1), scheme="euler", steps=steps, antithetic=True)
    mcpu, scpu, _ = mc_cpu.estimate(b, x0, seed=2)
    out[f"maxcall_d{d}_z_gpu_vs_cpu"] = float(abs(m[0] - mcpu[0]) / math.hypot(s[0], scpu[0]))
    return out


# ----------------------------------------------------------------------- fno
def check_fno(device: str, repeat: int, res: int = 85, batch: int = 20, steps: int = 20,
              cpu_threads: int = 2) -> dict[str, Any]:
    import torch

    from operators.fno import FNO2d
    out: dict[str, Any] = {}
    dev = torch.device(device)

    def step_time(device: Any, steps: int) -> float:
        torch.manual_seed(0)
        net = FNO2d(1, 12, 32, 4, 11).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        a = torch.rand(batch, res, res, 1, device=device)
        u = torch.rand(batch, res, res, device=device)

        def one() -> None:
            for _ in range(steps):
                loss = torch.mean((net(a) - u) ** 2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
        return _best(one, sync, repeat) / steps

    t_gpu = step_time(dev, steps)
    before = torch.get_num_threads()
    torch.set_num_threads(cpu_threads)
    try:
        t_cpu = step_time(torch.device("cpu"), 2)
    finally:
        torch.set_num_threads(before)
    out["train_samples_per_s_gpu"] = batch / t_gpu
    out[f"train_samples_per_s_cpu_{cpu_threads}threads"] = batch / t_cpu
    out["step_speedup_vs_2_cpu_threads"] = t_cpu / t_gpu
    torch.manual_seed(0)
    net = FNO2d(1, 12, 32, 4, 11).double()
    a = torch.rand(4, res, res, 1, dtype=torch.float64)
    with torch.no_grad():
        ref = net(a).numpy()
        got = net.to(dev)(a.to(dev)).cpu().numpy()
    out["forward_fp64_rel_diff"] = _rel(ref, got)
    return out


# ------------------------------------------------------------ deep kolmogorov
def check_deep_kolmogorov(device: str, d: int = 100, steps: int = 300, batch: int = 4096,
                          cpu_steps: int = 10) -> dict[str, Any]:
    from problems.kolmogorov import Heat
    from sciml.solvers.deep_kolmogorov import DeepKolmogorov
    p = Heat(d=d)
    gpu = DeepKolmogorov(steps=steps, batch=batch, threads=0).solve(p, seed=0, device=device)
    cpu = DeepKolmogorov(steps=cpu_steps, batch=batch, threads=2).solve(p, seed=0, device="cpu")
    x = p.test_points()[:200]
    ex = p.exact(x)
    return {"train_samples_per_s_gpu": gpu.stats["samples_per_s"],
            "train_samples_per_s_cpu_2threads": cpu.stats["samples_per_s"],
            "speedup_vs_2_cpu_threads": gpu.stats["samples_per_s"] / cpu.stats["samples_per_s"],
            f"rel_l2_vs_exact_after_{steps}_steps": float(np.linalg.norm(gpu(x) - ex) / np.linalg.norm(ex))}


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda:0", help="cuda or cuda:N")
    ap.add_argument("--small-only", action="store_true", help="agreement checks only (seconds)")
    ap.add_argument("--repeat", type=int, default=5, help="timed repetitions (the best is kept)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")

    from numba import config as numba_config

    from sciml.core import InvalidOption
    from sciml.device import cuda_device_count, parse_device
    try:
        kind, index = parse_device(args.device)
    except InvalidOption as exc:
        _fail(str(exc))
    if kind != "cuda":
        _fail(f"--device {args.device!r}: give cuda or cuda:N")
    index = index or 0
    simulator = bool(numba_config.ENABLE_CUDASIM)
    n_numba = cuda_device_count("numba")
    n_torch = 0 if simulator else cuda_device_count("torch")
    if n_numba == 0 and n_torch == 0:
        from importlib.metadata import version
        _fail(f"no CUDA device here (torch {version('torch')} sees 0, numba sees 0); run it on a machine "
              "with an NVIDIA GPU, a CUDA build of torch and numba-cuda")
    if index >= max(n_numba, n_torch):
        _fail(f"--device {args.device!r} is beyond this machine's {max(n_numba, n_torch)} CUDA device(s)")

    from sciml.device import device_name
    result: dict[str, Any] = {"gpu": device_name(f"cuda:{index}", "numba" if n_numba else "torch"),
                              "device": f"cuda:{index}", "simulator": simulator,
                              "small_only": bool(args.small_only or simulator)}
    small = result["small_only"]
    mem = _Memory()
    t_all = time.perf_counter()
    sections: list[tuple[str, Callable[[], dict[str, Any]], bool]] = [
        ("radon", lambda: check_radon(index, small, args.repeat, mem), n_numba > index),
        ("monte_carlo", lambda: check_monte_carlo(index, small, mem), n_numba > index),
        ("fno", lambda: check_fno(f"cuda:{index}", args.repeat), n_torch > index and not small),
        ("deep_kolmogorov", lambda: check_deep_kolmogorov(f"cuda:{index}"), n_torch > index and not small),
    ]
    for name, fn, runnable in sections:
        if not runnable:
            result[name] = {"skipped": "small-only run" if small and n_torch > index else
                            f"no {'numba' if name in ('radon', 'monte_carlo') else 'torch'} CUDA device"}
            continue
        t0 = time.perf_counter()
        log.info("%s ...", name)
        result[name] = fn()
        result[name]["seconds"] = time.perf_counter() - t0
        mem.sample()
    if n_torch > index:
        import torch
        result["torch_peak_allocated_bytes"] = int(torch.cuda.max_memory_allocated(index))
    result["device_memory_used_max_bytes"] = mem.max_used
    result["seconds"] = time.perf_counter() - t_all
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
