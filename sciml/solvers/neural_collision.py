"""`neural-collision`: a learned, structure-preserving surrogate of Q(f, f).

Model (a bilinear Fourier neural operator, dim 2, Maxwell molecules):

    Q_θ(f) = Π_H( P( Σ_{r=1}^{R} (a_r ⊛ f) (b_r ⊛ f) ) )

* ``a_r ⊛ f``: a learned Fourier multiplier (real weights on the retained
  modes) applied to f; the products are formed on a 3n/2 padded grid and
  projected back on the n modes, so Q_θ is quadratic in f and translation
  equivariant, as the true operator is.  R = ``rank`` pairs of filters; the
  fast spectral method is one member of this family (R = M + 1), so the
  class contains accurate operators; the weights are *learned* from data.
* ``P``: the orthogonal projection onto {q : Σ_j (1, v_j, |v_j|²) q_j = 0}:
  the discrete mass, momentum and energy are conserved exactly (rounding).
* ``Π_H``: entropy fix.  With ``g = P log f`` the discrete entropy production
  is ``Σ_j Q_j log f_j = <Q, g>`` for any conservative Q; if it is positive,
  the component of Q along g is removed (``Q - (<Q,g>/<g,g>) g``), which keeps
  conservation (g is in the range of P) and makes the production ``<= 0``.
  So the H-theorem holds for the semi-discrete surrogate by construction; the
  fully discrete (RK4) entropy is measured along every trajectory.

Training data: spectral (fast, same grid) values of Q on snapshots of
trajectories from random initial conditions (normalised mixtures of 1-3
anisotropic Gaussians and of Gaussian-times-quadratic "ring" densities,
random centres, temperatures, weights); the BKW solution itself is not in
the training set.  The loss is the mean relative squared L2 error of Q;
L-BFGS in float64.  The time stepper is the `spectral` solver's RK4.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..core import InvalidOption, Problem, Solution, Solver, check_range, opt
from ..progress import bar

log = logging.getLogger(__name__)

__all__ = ["NeuralCollision", "random_densities", "BilinearCollision", "entropy_fix"]


def random_densities(rng: np.random.Generator, pts: np.ndarray, count: int) -> np.ndarray:
    """``count`` random non-negative densities of unit mass on the grid points (count, N)."""
    out = np.empty((count, len(pts)))
    for i in range(count):
        f = np.zeros(len(pts))
        for _ in range(rng.integers(1, 4)):
            c = rng.uniform(-1.2, 1.2, 2)
            ang = rng.uniform(0, math.pi)
            rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
            T = rng.uniform(0.3, 0.9, 2)
            y = (pts - c) @ rot
            r2 = y[:, 0] ** 2 / T[0] + y[:, 1] ** 2 / T[1]
            shape = 1.0 if rng.random() < 0.5 else rng.uniform(0.0, 1.0) + rng.uniform(0.2, 1.0) * r2
            f += rng.uniform(0.2, 1.0) * shape * np.exp(-0.5 * r2)
        out[i] = f
    return out


class BilinearCollision:
    """NumPy inference of the trained model (the same FFT library as `spectral`)."""

    def __init__(self, A: np.ndarray, B: np.ndarray, n: int, project):
        self.A, self.B, self.n = A, B, n
        self.project = project
        self.P = 3 * n // 2

    def raw(self, f: np.ndarray) -> np.ndarray:
        from scipy import fft as sfft
        n, h, P = self.n, self.n // 2, self.P
        c = sfft.rfft2(f, workers=1)[:, :h] / (n * n)
        c[h, :] = 0.0  # Nyquist row
        pad = np.zeros((2, self.A.shape[0], P, P // 2 + 1), dtype=complex)
        pad[0, :, :h, :h] = c[None, :h] * self.A[:, :h]
        pad[0, :, P - h:, :h] = c[None, h:] * self.A[:, h:]
        pad[1, :, :h, :h] = c[None, :h] * self.B[:, :h]
        pad[1, :, P - h:, :h] = c[None, h:] * self.B[:, h:]
        ab = sfft.irfft2(pad, s=(P, P), workers=1) * (P * P)
        prod = np.einsum("rij,rij->ij", ab[0], ab[1])
        half = sfft.rfft2(prod, workers=1) / (P * P)
        out = np.zeros((n, n // 2 + 1), dtype=complex)
        out[:h, :h] = half[:h, :h]
        out[h + 1:, :h] = half[P - h + 1:, :h]
        return sfft.irfft2(out, s=(n, n), workers=1) * (n * n)

    def __call__(self, f: np.ndarray) -> np.ndarray:
        return entropy_fix(self.project(self.raw(f)), f, self.project)


def entropy_fix(q: np.ndarray, f: np.ndarray, project) -> np.ndarray:
    """Remove the entropy-producing component of a conservative q (module doc):
    afterwards Σ q log f <= 0 and q keeps zero mass, momentum and energy."""
    g = project(np.log(np.maximum(f, 1e-300)))
    prod = float(np.sum(q * g))
    if prod > 0.0:
        q = q - (prod / float(np.sum(g * g))) * g
    return q


def _min_time(fn, f: np.ndarray, repeats: int = 20) -> float:
    fn(f)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(f)
        best = min(best, time.perf_counter() - t0)
    return best


def _eval_times(model, f: np.ndarray, L: float, n: int) -> dict[str, float]:
    """Seconds per collision evaluation (min of repeats) of the surrogate and of
    `spectral` (fast, M = 8, and direct) on the same grid, with the same projection."""
    from operators.collision import MaxwellCollision
    fast = MaxwellCollision(2, n, L, "fast", M=8)
    direct = MaxwellCollision(2, n, L, "direct")
    t_model = _min_time(model, f)
    t_fast = _min_time(lambda g: model.project(fast(g)), f)
    t_direct = _min_time(lambda g: model.project(direct(g)), f, repeats=5)
    return {"q_eval_s": t_model, "spectral_fast_q_s": t_fast, "spectral_direct_q_s": t_direct,
            "speedup_vs_fast": t_fast / t_model, "speedup_vs_direct": t_direct / t_model}


@dataclass(frozen=True)
class NeuralCollision(Solver):
    """Learned conservative, entropy-dissipating collision operator (dim 2).

    Options: ``n`` grid points per axis, ``L`` box (None: the problem's),
    ``rank`` filter pairs, ``n_traj`` training trajectories, ``iters``
    L-BFGS iterations, ``dt`` RK4 step, ``t_train`` horizon of the training
    trajectories.
    """

    name = "neural-collision"
    requires = ("boltzmann-homogeneous",)
    learned = True
    order: ClassVar[int] = 4

    n: int = opt(32, lo=8, hi=128)
    L: float | None = None
    rank: int = opt(9, lo=1, hi=64)
    n_traj: int = opt(16, lo=1, hi=10000)
    iters: int = opt(1000, lo=1, hi=100000)
    dt: float = opt(0.05, lo=0.0, hi=1.0, lo_open=True)
    t_train: float = opt(2.0, lo=0.0, hi=100.0, lo_open=True)
    threads: int = opt(1, lo=1, hi=256)  # torch threads while training (restored after)

    def __post_init__(self) -> None:
        if self.n % 2:
            raise InvalidOption(f"{self.name}: n={self.n!r} must be even")
        if self.L is not None:
            check_range(self, "L", self.L, lo=0.0, lo_open=True, error=InvalidOption)

    # ------------------------------------------------------------------ data
    def training_data(self, L: float, seed: int, progress: bool) -> tuple[np.ndarray, np.ndarray]:
        """Snapshots f and targets P Q_spectral(f) along fast-spectral trajectories."""
        from operators.collision import MaxwellCollision, conservative_projection, velocity_grid
        from ..references.kinetic import rk4_homogeneous
        n = self.n
        _, pts = velocity_grid(n, L, 2)
        h = 2 * L / n
        op = MaxwellCollision(2, n, L, "fast", M=16)
        project = conservative_projection(pts)
        rng = np.random.default_rng(seed)
        f0s = random_densities(rng, pts, self.n_traj)
        F, Q = [], []
        times = (0.0, 0.1, 0.3, 0.6, 1.0, self.t_train)
        with bar(self.n_traj, "neural-collision data", progress) as pb:
            for f0 in f0s:
                f = (f0 / (f0.sum() * h * h)).reshape(n, n)
                F.append(f)
                for a, b in zip(times[:-1], times[1:]):
                    f, _ = rk4_homogeneous(lambda g: project(op(g)), f, a, b, 0.1, h=h)
                    F.append(f)
                pb.update(1)
        F = np.array(F)
        Q = np.array([project(op(f)) for f in F])
        return F, Q

    # --------------------------------------------------------------- training
    def train(self, F: np.ndarray, Q: np.ndarray, pts: np.ndarray, seed: int, progress: bool):
        import torch

        from ..torch_utils import seeded
        from ..training import train
        n, h, P, R = self.n, self.n // 2, 3 * self.n // 2, self.rank
        dtype = torch.float64
        C = np.vstack([np.ones(len(pts)), pts.T, np.sum(pts ** 2, axis=1)])
        Pc = torch.tensor(np.eye(len(pts)) - C.T @ np.linalg.solve(C @ C.T, C), dtype=dtype)
        Ft = torch.tensor(F, dtype=dtype)
        Qt = torch.tensor(Q.reshape(len(Q), -1), dtype=dtype)
        qnorm = (Qt ** 2).sum(1)
        with seeded(seed):
            k = torch.fft.fftfreq(n, 1.0 / n, dtype=dtype)
            env = torch.exp(-(k[:, None] ** 2 + k[None, :h] ** 2) / (2 * (n / 6) ** 2))
            A = torch.nn.Parameter(torch.randn(R, n, h, dtype=dtype) * env)
            B = torch.nn.Parameter(torch.randn(R, n, h, dtype=dtype) * env)

        def model(f: torch.Tensor) -> torch.Tensor:
            c = torch.fft.rfft2(f)[..., :h] / (n * n)
            c = torch.cat([c[..., :h, :], torch.zeros_like(c[..., h:h + 1, :]), c[..., h + 1:, :]], dim=-2)
            pad = torch.zeros(f.shape[0], 2, R, P, P // 2 + 1, dtype=torch.complex128)
            pad[:, 0, :, :h, :h] = c[:, None, :h] * A[:, :h]
            pad[:, 0, :, P - h:, :h] = c[:, None, h:] * A[:, h:]
            pad[:, 1, :, :h, :h] = c[:, None, :h] * B[:, :h]
            pad[:, 1, :, P - h:, :h] = c[:, None, h:] * B[:, h:]
            ab = torch.fft.irfft2(pad, s=(P, P)) * (P * P)
            prod = (ab[:, 0] * ab[:, 1]).sum(1)
            half = torch.fft.rfft2(prod) / (P * P)
            out = torch.zeros(f.shape[0], n, n // 2 + 1, dtype=torch.complex128)
            out[:, :h, :h] = half[:, :h, :h]
            out[:, h + 1:, :h] = half[:, P - h + 1:, :h]
            q = torch.fft.irfft2(out, s=(n, n)) * (n * n)
            return q.reshape(f.shape[0], -1) @ Pc

        rec = train([A, B], lambda step: (((model(Ft) - Qt) ** 2).sum(1) / qnorm).mean(), steps=1, lr=1.0,
                    optimizer="lbfgs", optimizer_options=dict(
                        max_iter=self.iters, history_size=50, tolerance_grad=1e-14, tolerance_change=1e-16,
                        line_search_fn="strong_wolfe"),
                    solver=self.name, progress=progress, desc="neural-collision L-BFGS", step_base=1)
        history = rec.loss_history
        return A.detach().numpy(), B.detach().numpy(), history

    # ------------------------------------------------------------------ solve
    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from operators.collision import conservative_projection, grid_moments, trig_eval, velocity_grid
        from ..references.kinetic import rk4_homogeneous
        if problem.dim != 2:
            raise InvalidOption(f"{self.name}: implemented for dim=2 (got dim={problem.dim})")
        if device != "cpu":
            raise InvalidOption(f"{self.name}: runs on the CPU (float64 FFTs); use --device cpu")
        L = self.L if self.L is not None else problem.box_half_width()
        n = self.n
        _, pts = velocity_grid(n, L, 2)
        h = 2 * L / n
        t_start = time.perf_counter()
        F, Q = self.training_data(L, seed, progress)
        t_data = time.perf_counter() - t_start
        A, B, history = self.train(F, Q, pts, seed, progress)
        t_train = time.perf_counter() - t_start - t_data
        project = conservative_projection(pts)
        model = BilinearCollision(A, B, n, project)

        f0 = np.asarray(problem.initial(pts), dtype=float).reshape(n, n)
        t0 = time.perf_counter()
        f1, st = rk4_homogeneous(model, f0, problem.t0, problem.t1, self.dt, h=h, progress=progress,
                                 name=self.name)
        t_solve = time.perf_counter() - t0
        speed = _eval_times(model, f0, L, n)
        stats = dict(st, **speed, solver=self.name, L=L, rank=self.rank, parameters=int(A.size + B.size),
                     train_samples=len(F), final_loss=history[-1] if history else None,
                     loss_history=history, data_s=t_data, train_s=t_train, solve_s=t_solve,
                     moments_t0=grid_moments(f0, pts, h).tolist(), moments_t1=grid_moments(f1, pts, h).tolist())
        return Solution(fn=lambda x: trig_eval(f1, L, x), stats=stats,
                        state={"f": f1, "f0": f0, "A": A, "B": B, "L": np.array(L)})
