"""Benchmark: our Numba CT operators vs the ASTRA Toolbox's CPU projectors and scikit-image.

Operations, each at every ``--sizes`` (default 256^2 / 180 angles and 512^2 / 720 angles) and
for both beams (parallel over 180 degrees, flat-detector fan over 360 degrees: source and
detector 4 half-widths from the centre, our default geometry), in the same geometry for
every library (ASTRA's mapped exactly as ``ct-data -p convention=astra`` reads it,
tests/test_operators/test_astra_convention.py):

* ``forward``: the projection of the disk of radius 1/2 (point-sampled at the pixel
  centres), centred for the parallel beam, centred at (0.2, 0.1) for the fan beam (a centred
  disk's fan data are the same in every view: methods that interpolate between views, such
  as rebinning, would be exact in angle); error ||A x - p|| / ||p|| against the exact chord
  lengths p = 2 sqrt(r^2 - d^2), d the distance of the ray from the disk's centre.
* ``backprojection``: the transpose applied to the exact sinogram; error against the exact
  discrete back-projection sum_a p(ray of angle a through x) h^2 / (ray spacing at x), with the
  ray spacing ds (parallel) or L du cos(gamma) / (R + Dd) (fan), over the disk of radius 0.9.
* ``fbp``: ram-lak FBP of the exact sinogram; error against the disk's pixel means (8 x 8
  samples) over the disk of radius 0.9.  ASTRA's CPU FBP takes parallel geometries only
  ("FBP currently only supports parallel projection geometries"): for the fan beam ASTRA's
  time is that of rebinning the fan data to a parallel sinogram (bilinear, scipy) followed by
  its parallel FBP; the time of its fan back-projection alone is given as well (a lower bound
  of any fan FBP built on ASTRA's CPU projectors).  Our fan FBP interpolates the views to twice
  as many before back-projecting (``operators.fanbeam.fan_fbp``, ``view_upsampling=2``: fewer
  streaks); ``ours_views1_*`` is the same without (half the work, less accurate).
* ``fbp_rebin`` (fan beam): our FBP by the peer's method, rebinning to parallel beam
  (``fan_fbp(..., method="rebin")``, operators/fan_rebin.py: both conjugate rays, parallel
  angle step half the source step), against the same ASTRA time.
* ``sirt``: ``--sirt-iterations`` (100) SIRT iterations x <- x + C A^T R (p - A x) from 0,
  without constraints (ASTRA's ``SIRT``: the same iteration), R and C computed in the timing;
  error as for FBP.

ASTRA's projectors: ``linear`` (Joseph's, the matrix we use) and ``line`` for the parallel
beam, ``line_fanflat`` for the fan; ``ratio`` is ASTRA's faster time over ours.  Our times:
the faster of 1 and all Numba threads (an operator call on arrays in ``--dtype``, float64
by default; ASTRA computes in float32); ASTRA's: an
algorithm run on data objects created beforehand, plus copying the input in and the output
out; scikit-image (parallel forward and FBP, 256^2 only unless ``--skimage-all``) single-threaded.
Timings are the minimum of ``--repeat`` runs after a warm-up (SIRT: one run); for each operation
our call and the peers' take turns within each run
(:func:`race`; ours at 1 and at all threads, the faster counts), so a slow spell of a shared
machine slows both sides of a ratio alike.

One JSON line per (beam, size, operation), then a summary line (with
``two_thread_speedup_start_end``, :func:`two_thread_speedup` before and after the run: the
ratios hold for two free cores only when it is near 2).  ASTRA is a benchmark-only
dependency: ``scripts/setup.sh --bench`` installs it.

    python scripts/bench/bench_radon.py [--sizes 256:180 512:720] [--beams parallel fan]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np


def best_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def race(fns: dict, repeat: int) -> dict:
    """Minimum time of each function over ``repeat`` rounds in which they take turns (after a
    warm-up call each): a slow spell of a shared machine falls on all of them alike."""
    for fn in fns.values():
        fn()
    times = {k: math.inf for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k] = min(times[k], time.perf_counter() - t0)
    return times


def at_threads(fn, nt: int):
    """``fn`` run on ``nt`` Numba threads (set at each call, so calls at other counts can
    take turns with it in :func:`race`)."""
    import numba

    def run():
        numba.set_num_threads(nt)
        fn()
    return run


def rel(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    if mask is not None:
        a, b = a[mask], b[mask]
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


class Astra:
    """ASTRA CPU operators on one (volume, projection) geometry and projector, in pixel units."""

    def __init__(self, astra, vol_geom, proj_geom, projector: str) -> None:
        self.a = astra
        self.pid = astra.create_projector(projector, proj_geom, vol_geom)
        self.vid = astra.data2d.create("-vol", vol_geom, 0.0)
        self.sid = astra.data2d.create("-sino", proj_geom, 0.0)
        self.algs: dict[str, int] = {}

    def _alg(self, name: str) -> int:
        if name not in self.algs:
            cfg = self.a.astra_dict(name)
            cfg["ProjectorId"] = self.pid
            cfg["ProjectionDataId"] = self.sid
            cfg["VolumeDataId" if name == "FP" else "ReconstructionDataId"] = self.vid
            self.algs[name] = self.a.algorithm.create(cfg)
        return self.algs[name]

    def forward(self, img: np.ndarray) -> np.ndarray:
        self.a.data2d.store(self.vid, img)
        self.a.algorithm.run(self._alg("FP"))
        return self.a.data2d.get(self.sid)

    def backproject(self, sino: np.ndarray) -> np.ndarray:
        self.a.data2d.store(self.sid, sino)
        self.a.algorithm.run(self._alg("BP"))
        return self.a.data2d.get(self.vid)

    def fbp(self, sino: np.ndarray) -> np.ndarray:
        self.a.data2d.store(self.sid, sino)
        self.a.algorithm.run(self._alg("FBP"))  # ram-lak is ASTRA's default filter
        return self.a.data2d.get(self.vid)

    def sirt(self, sino: np.ndarray, iterations: int) -> np.ndarray:
        self.a.data2d.store(self.sid, sino)
        self.a.data2d.store(self.vid, 0.0)
        alg = self._alg("SIRT")  # created per call would redo R and C: time it with the run
        self.a.algorithm.run(alg, iterations)
        return self.a.data2d.get(self.vid)

    def close(self) -> None:
        for alg in self.algs.values():
            self.a.algorithm.delete(alg)
        self.a.data2d.delete([self.vid, self.sid])
        self.a.projector.delete(self.pid)


def our_sirt(op, y: np.ndarray, iterations: int) -> np.ndarray:
    """The ``sirt`` solver's iteration (sciml.references.tomography.SIRT), unconstrained."""
    g, dt = op.geometry, y.dtype
    row = op.forward(np.ones(g.image_shape, dt))
    col = op.adjoint(np.ones(g.sino_shape, dt))
    rinv = np.where(row > 1e-12, 1.0 / np.maximum(row, 1e-12), 0.0).astype(dt)
    cinv = np.where(col > 1e-12, 1.0 / np.maximum(col, 1e-12), 0.0).astype(dt)
    x = np.zeros(g.image_shape, dt)
    for _ in range(iterations):
        x = x + cinv * op.adjoint(rinv * (y - op.forward(x)))
    return x


def fan_exact(g, r: float, c: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Exact chords (A, D) of the disk (centre c, radius r) along the fan's rays, and the exact
    discrete back-projection (n, n) of them (see the module docstring)."""
    theta, s = g.rays()
    p = 2.0 * np.sqrt(np.clip(r * r - (s - c[0] * np.cos(theta) - c[1] * np.sin(theta)) ** 2, 0.0, None))
    x, y = g.pixel_centres()
    R, RD = g.source_distance, g.source_distance + g.detector_distance
    bp = np.zeros(g.image_shape)
    for b in g.beta:
        es, eu = (math.cos(b), math.sin(b)), (-math.sin(b), math.cos(b))
        L = R - (x * es[0] + y * es[1])
        xu = x * eu[0] + y * eu[1]
        # distance of c from the line through S = R e_s and x (direction x - S = -L e_s + xu e_u)
        cs, cu = c[0] * es[0] + c[1] * es[1] - R, c[0] * eu[0] + c[1] * eu[1]
        dist = np.abs(cs * xu + cu * L) / np.hypot(L, xu)
        cos_g = L / np.hypot(L, xu)               # = RD / sqrt(RD^2 + uc^2), uc = RD xu / L
        spacing = L * g.du * cos_g / RD
        bp += 2.0 * np.sqrt(np.clip(r * r - dist * dist, 0.0, None)) * g.h ** 2 / spacing
    return p, bp


def rebin_fan_to_parallel(sino: np.ndarray, g, pg) -> np.ndarray:
    """The parallel sinogram (pg's angles and bins) of a full-scan fan sinogram, bilinear in
    (beta, u): the line (theta, s) is the fan ray with gamma = -asin(s / R), beta = theta - 3 pi / 2
    + gamma, u = (R + Dd) tan(gamma) (our fan convention, operators/fanbeam.py)."""
    from scipy.ndimage import map_coordinates
    th, s = pg.theta[:, None], pg.s[None, :]
    R, RD = g.source_distance, g.source_distance + g.detector_distance
    gam = -np.arcsin(np.clip(s / R, -1.0, 1.0))
    beta = np.mod(th - 1.5 * math.pi + gam, 2 * math.pi)
    u = RD * np.tan(gam)
    step = 2 * math.pi / g.angles
    ia = beta / step - 0.5                      # midpoint grid of the full circle
    ia, ku = np.broadcast_arrays(ia, (u - g.u[0]) / g.du)
    ext = np.concatenate([sino[-1:], sino, sino[:1]])  # periodic in beta
    return map_coordinates(ext, [ia + 1.0, ku], order=1, mode="constant", cval=0.0)


#: centre of the fan beam's disk (radius 1/2)
FAN_DISK_CENTRE = (0.2, 0.1)


def bench_size(args, astra, beam: str, n: int, na: int) -> list[dict]:
    import numba

    from operators.fanbeam import FanGeometry, FanRadon, fan_fbp
    from operators.radon import Geometry, Radon, fbp
    from problems import tomography_phantoms as ph

    r = ph.DISK_RADIUS
    h = 2.0 / n
    dtype = np.dtype(args.dtype).type
    threads = sorted({1, numba.get_num_threads()})

    def fastest(fn):
        best = (math.inf, threads[-1])
        for nt in threads:
            numba.set_num_threads(nt)
            best = min(best, (best_time(fn, args.repeat), nt))
        numba.set_num_threads(threads[-1])
        return best

    def versus(ours, peer_fns: dict):
        """(our time, our thread count, {peer: time}): our call at each thread count and the
        peers' timed in turns (:func:`race`); ours is the faster thread count."""
        times = race({**{("ours", nt): at_threads(ours, nt) for nt in threads}, **peer_fns}, args.repeat)
        numba.set_num_threads(threads[-1])
        t, nt = min((times.pop(("ours", nt)), nt) for nt in threads)
        return t, nt, times

    # parallel: the centred disk; fan: off centre, else every view of the fan sees the same data
    # and methods that interpolate between views (rebinning) would be exact in angle
    c = (0.0, 0.0) if beam == "parallel" else FAN_DISK_CENTRE
    disk = np.array([[1.0, r, r, c[0], c[1], 0.0]])
    img = ph.rasterize(disk, n).astype(dtype)
    avg = ph.rasterize(disk, n, 8)
    vg = astra.create_vol_geom(n, n)
    if beam == "parallel":
        g = Geometry(n, na, angle_range=180.0)
        op = Radon(g)
        p = np.ascontiguousarray(np.broadcast_to(2.0 * np.sqrt(np.clip(r * r - g.s ** 2, 0.0, None)), g.sino_shape))
        x, y = g.pixel_centres()
        bp_exact = np.zeros(g.image_shape)
        for t in g.theta:
            bp_exact += 2.0 * np.sqrt(np.clip(r * r - (x * math.cos(t) + y * math.sin(t)) ** 2, 0.0, None))
        bp_exact *= h * h / g.ds
        pgeom = astra.create_proj_geom("parallel", g.ds / h, g.n_det, g.theta)
        projectors = ("linear", "line")
        recon = lambda y: fbp(op, y, "ram-lak")  # noqa: E731
    else:
        g = FanGeometry(n, na)
        op = FanRadon(g)
        p, bp_exact = fan_exact(g, r, c)
        x, y = g.pixel_centres()
        pgeom = astra.create_proj_geom("fanflat", g.du / h, g.n_det, g.beta + math.pi / 2,
                                       g.source_distance / h, g.detector_distance / h)
        projectors = ("line_fanflat",)
        recon = lambda y: fan_fbp(op, y, "ram-lak")  # noqa: E731
    mask = x ** 2 + y ** 2 < 0.9 ** 2
    p = p.astype(dtype)
    p_px = np.ascontiguousarray(p / h, dtype=np.float32)  # ASTRA's units: pixels
    a_img = np.ascontiguousarray(img[::-1], dtype=np.float32)  # ASTRA's row 0 is on top
    ops = {name: Astra(astra, vg, pgeom, name) for name in projectors}
    head = {"beam": beam, "n": n, "angles": na, "detectors": g.n_det, "dtype": args.dtype,
            "disk_centre": list(c)}
    lines = []

    def line(op_name: str, ours_s: float, ours_err: float, nt: int, peers: dict[str, tuple[float, float]],
             **extra) -> None:
        best = min(peers, key=lambda k: peers[k][0])
        d = {**head, "op": op_name, "ours_s": ours_s, "ours_error": ours_err, "numba_threads": nt}
        for k, (t, e) in peers.items():
            d[f"astra_{k}_s"], d[f"astra_{k}_error"] = t, e
        d.update(ratio=peers[best][0] / ours_s, ratio_vs=f"astra_{best}",
                 accuracy_equal_or_better=bool(ours_err <= 1.02 * peers[best][1]), **extra)
        lines.append(d)
        print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in d.items()}), flush=True)

    # forward
    t, nt, pt = versus(lambda: op.forward(img), {k: (lambda a=a: a.forward(a_img)) for k, a in ops.items()})
    err = rel(op.forward(img), p)
    peers = {k: (pt[k], rel(a.forward(a_img) * h, p)) for k, a in ops.items()}
    extra = {}
    if beam == "parallel" and (n == 256 or args.skimage_all):
        extra = skimage_forward(args, n, na, g, r)
    line("forward", t, err, nt, peers, **extra)

    # back-projection
    t, nt, pt = versus(lambda: op.adjoint(p), {k: (lambda a=a: a.backproject(p_px)) for k, a in ops.items()})
    err = rel(op.adjoint(p), bp_exact, mask)
    peers = {k: (pt[k], rel(a.backproject(p_px)[::-1] * h * h, bp_exact, mask)) for k, a in ops.items()}
    line("backprojection", t, err, nt, peers)

    # FBP
    err = rel(recon(p), avg, mask)
    extra = {}
    if beam == "parallel":
        t, nt, pt = versus(lambda: recon(p), {k: (lambda a=a: a.fbp(p_px)) for k, a in ops.items()})
        peers = {k: (pt[k], rel(a.fbp(p_px)[::-1], avg, mask)) for k, a in ops.items()}
        if n == 256 or args.skimage_all:
            extra = skimage_fbp(args, n, na, g, r)
    else:
        pg = Geometry(n, na, angle_range=180.0)
        par = Astra(astra, vg, astra.create_proj_geom("parallel", pg.ds / h, pg.n_det, pg.theta), "linear")
        p32 = p_px.astype(np.float64)

        def astra_fan_fbp():
            return par.fbp(np.ascontiguousarray(rebin_fan_to_parallel(p32, g, pg), dtype=np.float32))
        t, nt, pt = versus(lambda: recon(p), {"rebin_linear": astra_fan_fbp,
                                              "bp": lambda: ops["line_fanflat"].backproject(p_px)})
        peers = {"rebin_linear": (pt["rebin_linear"], rel(astra_fan_fbp()[::-1], avg, mask))}
        extra = {"astra_line_fanflat_bp_s": pt["bp"], "ratio_vs_astra_bp_alone": pt["bp"] / t}
        # our FBP without the view interpolation (fan_fbp's view_upsampling=1): half the work
        t1, nt1 = fastest(lambda: fan_fbp(op, p, "ram-lak", view_upsampling=1))
        extra.update(ours_views1_s=t1, ours_views1_error=rel(fan_fbp(op, p, "ram-lak", view_upsampling=1), avg, mask),
                     ours_views1_numba_threads=nt1, ratio_views1=peers["rebin_linear"][0] / t1)
        extra["views1_accuracy_equal_or_better"] = bool(extra["ours_views1_error"] <= 1.02 * peers["rebin_linear"][1])
    line("fbp", t, err, nt, peers, **extra)
    if beam == "fan":   # the same method as the peer's: rebinning to parallel beam, then parallel FBP
        rebin = lambda y: fan_fbp(op, y, "ram-lak", method="rebin")  # noqa: E731
        t, nt, pt = versus(lambda: rebin(p), {"rebin_linear": astra_fan_fbp})
        par.close()
        peers = {"rebin_linear": (pt["rebin_linear"], peers["rebin_linear"][1])}
        line("fbp_rebin", t, rel(rebin(p), avg, mask), nt, peers)

    # SIRT
    if args.sirt_iterations:
        it = args.sirt_iterations
        t0 = time.perf_counter()
        xs = our_sirt(op, p, it)
        t = time.perf_counter() - t0
        err = rel(xs, avg, mask)
        peers = {}
        for k, a in ops.items():
            if k == "line" and not args.sirt_all:
                continue
            t0 = time.perf_counter()
            xa = a.sirt(p_px, it)
            peers[k] = (time.perf_counter() - t0, rel(xa[::-1], avg, mask))
        line("sirt", t, err, numba.get_num_threads(), peers, iterations=it)
    for a in ops.values():
        a.close()
    return lines


def skimage_forward(args, n, na, g, r) -> dict:
    from skimage.transform import radon
    theta_deg = np.degrees(g.theta)
    c = np.arange(n) - n // 2
    X, Y = np.meshgrid(c, c)
    rp = r * n / 2.0
    sk_img = (X ** 2 + Y ** 2 <= rp * rp).astype(float)
    sk_exact = np.broadcast_to(2.0 * np.sqrt(np.clip(rp * rp - c ** 2, 0.0, None))[:, None], (n, na))
    err = rel(radon(sk_img, theta=theta_deg, circle=True), sk_exact)
    return {"skimage_s": best_time(lambda: radon(sk_img, theta=theta_deg, circle=True), args.repeat),
            "skimage_error": err}


def skimage_fbp(args, n, na, g, r) -> dict:
    from skimage.transform import iradon
    theta_deg = np.degrees(g.theta)
    c = np.arange(n) - n // 2
    X, Y = np.meshgrid(c, c)
    rp = r * n / 2.0
    sk_exact = np.ascontiguousarray(np.broadcast_to(2.0 * np.sqrt(np.clip(rp * rp - c ** 2, 0.0, None))[:, None],
                                                    (n, na)))
    sub = (np.arange(8) + 0.5) / 8 - 0.5
    sk_avg = np.mean([(X + a) ** 2 + (Y + b) ** 2 <= rp * rp for a in sub for b in sub], axis=0)
    sk_mask = X ** 2 + Y ** 2 < (0.9 * n / 2) ** 2

    def run():
        return iradon(sk_exact, theta=theta_deg, filter_name="ramp", circle=True, interpolation="linear")
    return {"skimage_s": best_time(run, args.repeat), "skimage_error": rel(run(), sk_avg, sk_mask)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["256:180", "512:720"], help="n:angles")
    ap.add_argument("--beams", nargs="+", default=["parallel", "fan"], choices=["parallel", "fan"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sirt-iterations", type=int, default=100, help="0 skips SIRT")
    ap.add_argument("--sirt-all", action="store_true", help="SIRT with ASTRA's line projector too")
    ap.add_argument("--skimage-all", action="store_true", help="scikit-image at every size (default 256 only)")
    ap.add_argument("--batch", type=int, default=32, help="torch batched forward (0 skips)")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                    help="our operators' dtype (ASTRA computes in float32)")
    args = ap.parse_args(argv)
    try:
        import astra
    except ImportError:
        print("bench_radon: the ASTRA Toolbox is not installed; run scripts/setup.sh --bench", file=sys.stderr)
        return 2
    try:
        sizes = [tuple(int(v) for v in s.split(":")) for s in args.sizes]
        if any(len(s) != 2 or min(s) < 8 for s in sizes):
            raise ValueError
    except ValueError:
        print(f"bench_radon: --sizes {' '.join(args.sizes)}: expected n:angles pairs such as 256:180",
              file=sys.stderr)
        return 2
    lines = []
    speedup = [two_thread_speedup(args.repeat)]
    for n, na in sizes:
        for beam in args.beams:
            lines += bench_size(args, astra, beam, n, na)
    speedup.append(two_thread_speedup(args.repeat))
    summary = {"bench": "radon", "peer": f"ASTRA {astra.__version__} CPU", "load_average_1min": _load(),
               "two_thread_speedup_start_end": speedup}
    for d in lines:
        summary[f"{d['beam']}_{d['n']}_{d['op']}_ratio"] = round(d["ratio"], 2)
    fwd = [d["ratio"] for d in lines if d["op"] == "forward"]
    # FBP per (beam, size): the faster of our methods among those at equal or better accuracy
    best_fbp: dict = {}
    for d in lines:
        if d["op"] in ("fbp", "fbp_rebin") and d["accuracy_equal_or_better"]:
            key = (d["beam"], d["n"])
            best_fbp[key] = max(best_fbp.get(key, 0.0), d["ratio"])
    fb = list(best_fbp.values())
    summary["forward_ratio_min"] = round(min(fwd), 2) if fwd else None
    summary["fbp_ratio_min"] = round(min(fb), 2) if fb else None
    summary["accuracy_equal_or_better_all"] = all(d["accuracy_equal_or_better"] for d in lines)
    if args.batch and "parallel" in args.beams:
        summary["torch_images_per_s"] = torch_throughput(args, sizes[0][0], sizes[0][1])
    print(json.dumps(summary))
    return 0


def torch_throughput(args, n: int, na: int) -> float:
    import torch

    from operators.radon import Geometry, TorchRadon
    from problems import tomography_phantoms as ph
    T = TorchRadon(Geometry(n, na), dtype="float32")
    batch = torch.as_tensor(np.repeat(ph.rasterize(ph.disk(), n)[None], args.batch, 0), dtype=torch.float32)
    with torch.no_grad():
        t = best_time(lambda: T.forward(batch), max(1, args.repeat // 2))
    return round(args.batch / t, 2)


def two_thread_speedup(repeat: int) -> float | None:
    """Time of our 256^2 / 180-angle forward on 1 thread over its time on 2 (in turns): about
    2 when both cores are free, nearer 1 when another process or the host holds one of them,
    which our 2-thread timings then feel and ASTRA's 1-thread ones do not."""
    import numba

    from operators.radon import Geometry, Radon
    if numba.get_num_threads() < 2:
        return None
    op = Radon(Geometry(256, 180))
    img = np.random.default_rng(0).random((256, 256))
    times = race({nt: at_threads(lambda: op.forward(img), nt) for nt in (1, 2)}, max(repeat, 10))
    numba.set_num_threads(2)
    return round(times[1] / times[2], 2)


def _load() -> float | None:
    try:
        import os
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
