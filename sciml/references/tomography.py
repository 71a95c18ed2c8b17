"""Classical CT reconstructions: filtered back-projection, SIRT, TV (Chambolle-Pock).

All three use the Numba Joseph projector of ``operators.radon`` on the
problem's reconstruction geometry and return the image as a Solution
(``state['image']``, field = piecewise constant on the pixels; see
problems.tomography).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..core import Problem, Solution, Solver, SolverDiverged, opt
from ..progress import bar

__all__ = ["FBP", "SIRT", "TV", "grad", "div", "chambolle_pock_tv"]


def _mask(problem: Problem) -> np.ndarray | None:
    """The pixels the data determine (``ct-data``: the disk every projection covers), or None."""
    fn = getattr(problem, "support_mask", None)
    return fn() if fn is not None else None


def _setup(problem: Problem, device: str = "cpu", solver: Solver | None = None):
    from operators.radon import projector

    from ..device import resolve_device
    g = problem.geometry()
    y = np.asarray(problem.sinogram(), dtype=np.float64)
    g.check_sino(y)
    return projector(g, device=resolve_device(device, solver)), y


@dataclass(frozen=True)
class FBP(Solver):
    """Filtered back-projection: ramp filter times a window, then the adjoint.

    ``frequency_scaling`` in (0, 1] cuts the filter off at that fraction of
    the Nyquist frequency (and stretches the window to it).  ``fan_method``
    (fan beam only): ``direct`` (Kak-Slaney's fan FBP with interpolated views,
    the more accurate) or ``rebin`` (rebinning to parallel beam, about twice as
    fast; midpoint grids of source angles only).
    """

    name = "fbp"
    requires = ("ct",)
    cuda_engine = "numba"  # device="cuda": the projector's Numba CUDA kernels

    filter: Literal["ram-lak", "shepp-logan", "cosine", "hamming", "hann"] = "hann"
    frequency_scaling: float = opt(1.0, lo=0, hi=1, lo_open=True)
    fan_method: Literal["direct", "rebin"] = "direct"

    def reconstruct(self, radon, sino: np.ndarray) -> np.ndarray:
        from operators.radon import Radon, fbp
        if not isinstance(radon, Radon):   # fan beam
            return radon.fbp(sino, self.filter, self.frequency_scaling, method=self.fan_method)
        return fbp(radon, sino, self.filter, self.frequency_scaling)

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from problems.tomography import image_solution
        t0 = time.perf_counter()
        radon, y = _setup(problem, device, self)
        img = self.reconstruct(radon, y)
        mask = _mask(problem)
        if mask is not None:  # outside the covered disk the data say nothing: zero, as skimage's iradon
            img = img * mask
        return image_solution(img, {"wall_s": time.perf_counter() - t0})


@dataclass(frozen=True)
class SIRT(Solver):
    """Simultaneous iterative reconstruction technique:
    x <- x + C A^T R (y - A x), R = 1 / (A 1), C = 1 / (A^T 1) (Gregor and
    Benson 2008), from x = 0, optionally projected onto x >= 0."""

    name = "sirt"
    requires = ("ct",)
    cuda_engine = "numba"

    iterations: int = opt(200, lo=1, hi=10**6)
    nonnegative: bool = True

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from problems.tomography import image_solution
        t0 = time.perf_counter()
        radon, y = _setup(problem, device, self)
        g = radon.geometry
        row = radon.forward(np.ones(g.image_shape))
        col = radon.adjoint(np.ones(g.sino_shape))
        rinv = np.where(row > 1e-12, 1.0 / np.maximum(row, 1e-12), 0.0)
        cinv = np.where(col > 1e-12, 1.0 / np.maximum(col, 1e-12), 0.0)
        mask = _mask(problem)
        if mask is not None:
            cinv = cinv * mask  # pixels outside the covered disk stay 0
        x = np.zeros(g.image_shape)
        with bar(self.iterations, "sirt", progress) as pb:
            for _ in range(self.iterations):
                x = x + cinv * radon.adjoint(rinv * (y - radon.forward(x)))
                if self.nonnegative:
                    np.maximum(x, 0.0, out=x)
                pb.update(1)
        res = float(np.linalg.norm(radon.forward(x) - y) / np.linalg.norm(y))
        return image_solution(x, {"wall_s": time.perf_counter() - t0, "steps": self.iterations,
                                  "relative_residual": res})


def grad(x: np.ndarray) -> np.ndarray:
    """Forward differences over the last two axes -> (2, ..., n, n), zero last difference."""
    gx = np.zeros((2, *x.shape))
    gx[0, ..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    gx[1, ..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    return gx


def div(p: np.ndarray) -> np.ndarray:
    """The negative adjoint of :func:`grad`: <grad x, p> = -<x, div p>."""
    px, py = p
    d = np.zeros(px.shape)
    d[..., :, :-1] += px[..., :, :-1]
    d[..., :, 1:] -= px[..., :, :-1]
    d[..., :-1, :] += py[..., :-1, :]
    d[..., 1:, :] -= py[..., :-1, :]
    return d


def chambolle_pock_tv(radon, y: np.ndarray, weight: float, iterations: int, nonnegative: bool = True,
                      progress: bool = False, mask: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """TV-regularised least squares for one sinogram (A, D) or a batch (B, A, D);
    see :class:`TV` for the functional and step sizes.  ``mask`` (n, n) bool: x = 0
    outside it (a constraint: the projection onto it is part of the prox of x)."""
    from operators.radon import power_norm
    g = radon.geometry
    na = radon.norm(iterations=50, seed=0)
    fwd = lambda v: radon.forward(v) / na  # noqa: E731
    adj = lambda w: radon.adjoint(w) / na  # noqa: E731
    yk = np.asarray(y, dtype=np.float64) / na
    lead = yk.shape[:-2]
    knorm = power_norm(lambda v: adj(fwd(v)) - div(grad(v)), g.image_shape, iterations=50, seed=1)
    tau = sigma = 0.99 / (1.01 * knorm)  # 1 % margin: power iteration converges from below
    x = np.zeros((*lead, *g.image_shape))
    xbar = x.copy()
    p = np.zeros_like(yk)
    q = np.zeros((2, *x.shape))
    with bar(iterations, "tv", progress) as pb:
        for it in range(iterations):
            p = (p + sigma * (fwd(xbar) - yk)) / (1.0 + sigma)
            q = q + sigma * grad(xbar)
            if weight > 0:
                q = q / np.maximum(1.0, np.sqrt(q[0] ** 2 + q[1] ** 2) / weight)
            else:
                q = np.zeros_like(q)
            x_old = x
            x = x - tau * (adj(p) - div(q))
            if nonnegative:
                np.maximum(x, 0.0, out=x)
            if mask is not None:
                x *= mask
            xbar = 2.0 * x - x_old
            if not np.isfinite(x).all():
                raise SolverDiverged(f"tv: non-finite iterate at step {it}", step=it)
            pb.update(1)
    obj = 0.5 * np.sum((fwd(x) - yk) ** 2, axis=(-2, -1)) + weight * np.sum(
        np.sqrt(np.sum(grad(x) ** 2, axis=0)), axis=(-2, -1))
    return x, {"steps": iterations, "objective": obj.tolist() if lead else float(obj),
               "operator_norm": na, "k_norm": knorm}


@dataclass(frozen=True)
class TV(Solver):
    """Total-variation regularised least squares by Chambolle-Pock (2011):

        min_{x >= 0}  1/2 ||A x - y||^2 / ||A||^2 + weight * sum_pixels |grad x|

    (isotropic TV, forward differences, unit spacing; the data term is scaled
    by ||A||^2 so that ``weight`` is independent of the geometry's scaling).
    K = [A / ||A||; grad], step sizes tau = sigma = 0.99 / ||K|| with ||K||
    from power iteration; the ergodic gap is not monitored, ``iterations``
    fixes the work.
    """

    name = "tv"
    requires = ("ct",)
    cuda_engine = "numba"

    weight: float = opt(1e-3, lo=0)
    iterations: int = opt(400, lo=1, hi=10**6)
    nonnegative: bool = True

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from problems.tomography import image_solution
        t0 = time.perf_counter()
        radon, y = _setup(problem, device, self)
        x, stats = chambolle_pock_tv(radon, y, self.weight, self.iterations, self.nonnegative, progress,
                                     mask=_mask(problem))
        stats["wall_s"] = time.perf_counter() - t0
        return image_solution(x, stats)


