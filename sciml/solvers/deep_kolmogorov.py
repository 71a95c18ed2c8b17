"""The deep Kolmogorov method (Beck, Becker, Grohs, Jaafari, Jentzen, J. Sci. Comput. 2021).

u(T, .) on [a, b]^d is the minimiser over functions v of
E[(v(xi) - disc * phi(X_T^xi))²] with xi ~ U([a, b]^d), because the
L²-projection of disc * phi(X_T^xi) onto functions of xi is the conditional
mean u(T, xi) (Feynman-Kac).  A fully connected network v is trained by Adam
on fresh samples (xi, X_T^xi) every step, X_T drawn exactly from the
problem's SDE (Brownian motion or geometric Brownian motion).

Implementation choices (stated because they change the numbers):

* inputs are mapped affinely from [a, b]^d to [-1, 1]^d, and the output is
  ``mean + std * net(.)`` with mean/std of the targets on a pilot batch, so
  the same learning rate works for [0, 1]^d and [90, 110]^d;
* ``antithetic=true`` regresses on the mean of phi over the pair (Z, -Z):
  the same conditional mean, a smaller conditional variance;
* learning rate: ``piecewise`` multiplies by ``lr_decay`` at 50 %, 75 % and
  90 % of the steps; ``exponential`` decays smoothly to the same final value.

Errors are reported by the problem against its reference on uniform test
points: ``rel_l1`` = mean over points of |v - u| / |u| (Beck et al.),
``rel_l2`` and ``max``.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..core import InvalidOption, Problem, Solution, Solver, opt

log = logging.getLogger(__name__)

__all__ = ["DeepKolmogorov"]

_MILESTONES = (0.5, 0.75, 0.9)


@dataclass(frozen=True)
class DeepKolmogorov(Solver):
    """Deep Kolmogorov regression.  Options:

    ``width``, ``depth`` (hidden layers), ``batch_norm``, ``activation``;
    ``lr``, ``schedule`` (piecewise or exponential), ``lr_decay`` (factor at
    each of the 3 piecewise milestones), ``steps``, ``batch``; ``antithetic``;
    ``dtype`` (float32 or float64); ``threads`` (torch intra-op threads on the
    CPU, default 1: on a shared 2-core machine one thread per process avoids spin-wait contention; 0 = leave torch's setting);
    ``time_steps`` (Euler-Maruyama steps for an SDE with no exact sampler: a user's drift or
    diffusion function).
    """

    name = "deep-kolmogorov"
    requires = ("kolmogorov",)
    learned = True

    width: int = opt(64, lo=1, hi=100_000)
    depth: int = opt(2, lo=1, hi=100)
    batch_norm: bool = False
    activation: Literal["tanh", "relu", "gelu", "softplus", "elu", "silu"] = "gelu"
    lr: float = opt(3e-3, lo=0, lo_open=True, hi=10)
    schedule: Literal["piecewise", "exponential"] = "piecewise"
    lr_decay: float = opt(0.2, lo=0, lo_open=True, hi=1)
    steps: int = opt(2000, lo=1)
    batch: int = opt(4096, lo=2)
    antithetic: bool = True
    dtype: Literal["float32", "float64"] = "float32"
    threads: int = opt(1, lo=0)
    time_steps: int = opt(50, lo=1, hi=100_000)


    # ---------------------------------------------------------------- network
    def _network(self, d: int):
        import torch.nn as nn
        act = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "softplus": nn.Softplus,
               "elu": nn.ELU, "silu": nn.SiLU}[self.activation]
        layers: list[Any] = []
        n_in = d
        for _ in range(self.depth):
            layers.append(nn.Linear(n_in, self.width))
            if self.batch_norm:
                layers.append(nn.BatchNorm1d(self.width))
            layers.append(act())
            n_in = self.width
        layers.append(nn.Linear(n_in, 1))
        return nn.Sequential(*layers)

    def lr_at(self, step: int) -> float:
        """Learning rate at ``step`` (0-based) of ``steps``."""
        frac = step / self.steps
        if self.schedule == "piecewise":
            return self.lr * self.lr_decay ** sum(frac >= m for m in _MILESTONES)
        return self.lr * self.lr_decay ** (len(_MILESTONES) * frac)

    # ----------------------------------------------------------------- solve
    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        import torch
        from ..torch_utils import seeded, seeded_generator, torch_device, torch_dtype
        from ..training import train

        dev, dt = torch_device(device), torch_dtype(self.dtype)
        from .. import distributed as D  # torchrun: each rank trains on its share of the global batch
        world = D.world(dev)
        dev = D.rank_device(dev, world)
        part = D.local_slice(self.batch, world, solver=self.name)
        if world.active and self.batch_norm:
            raise InvalidOption(f"{self.name}: batch_norm=true is not supported with several processes "
                                "(each rank would normalise by its own batch); use batch_norm=false")
        t0 = time.perf_counter()
        sampler = _Sampler(problem, dev, dt, seeded_generator(seed, dev), self.antithetic, self.time_steps)
        with seeded(seed, str(dev)):
            net = self._network(problem.d).to(device=dev, dtype=dt)
        with torch.no_grad():  # output scaling from a pilot batch (its own stream)
            _, y = _Sampler(problem, dev, dt, seeded_generator(seed + 7919, dev), self.antithetic,
                            self.time_steps).draw(max(self.batch, 4096))
            y_mean, y_std = float(y.mean()), float(y.std())
        y_std = y_std if y_std > 0 and math.isfinite(y_std) else 1.0
        model = _Scaled(D.wrap(net, world, dev), problem, y_mean, y_std, dev, dt)

        def loss_fn(step: int) -> Any:
            xi, y = sampler.draw(self.batch)
            xi, y = xi[part], y[part]
            return torch.mean((model(xi).squeeze(1) - y) ** 2)

        net.train()
        rec = train(net.parameters(), loss_fn, steps=self.steps, lr=self.lr, lr_at=self.lr_at,
                    solver=self.name, progress=progress, world=world, device=dev)
        train_s = rec.train_s
        net.eval()

        def fn(x: np.ndarray) -> np.ndarray:
            x = problem.check_points(x)
            out = np.empty(x.shape[0])
            with torch.no_grad():
                for s in range(0, x.shape[0], 65536):
                    xt = torch.as_tensor(x[s:s + 65536], dtype=dt, device=dev)
                    out[s:s + 65536] = model(xt).squeeze(1).double().cpu().numpy()
            return out

        state = {f"param.{k}": v.detach().cpu().double().numpy() for k, v in net.state_dict().items()
                 if v.is_floating_point()}
        state["output_scale"] = np.array([y_mean, y_std])
        samples = self.steps * self.batch
        stats = {**rec.stats(), "batch": self.batch, "wall_s": time.perf_counter() - t0,
                 "samples_per_s": samples / train_s}
        return Solution(fn=fn, stats=stats, state=state)


class _Scaled:
    """x -> y_mean + y_std * net((x - centre) / half_width)."""

    def __init__(self, net: Any, problem: Problem, y_mean: float, y_std: float, dev: Any, dt: Any) -> None:
        self.net = net
        self.centre = 0.5 * (problem.a + problem.b)
        self.half = 0.5 * (problem.b - problem.a)
        self.y_mean, self.y_std = y_mean, y_std

    def __call__(self, x: Any) -> Any:
        return self.y_mean + self.y_std * self.net((x - self.centre) / self.half)


class _Sampler:
    """Draws (xi, disc * phi(X_T^xi)) with xi ~ U([a, b]^d), X_T exact where the
    problem has an exact sampler, else by Euler-Maruyama with ``time_steps`` steps."""

    def __init__(self, problem: Problem, dev: Any, dt: Any, gen: Any, antithetic: bool,
                 time_steps: int = 50) -> None:
        import torch
        sde = problem.sde()
        self.torch, self.problem, self.dev, self.dt, self.gen = torch, problem, dev, dt, gen
        self.antithetic = antithetic
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=float), dtype=dt, device=dev)  # noqa: E731
        self.disc = problem.discount
        if sde is None:
            self.kind, self.steps = "euler", int(time_steps)
            mu, S = problem.drift_vector(), problem.sigma_matrix()
            self.mu = None if mu is None else t(mu)[:, None]
            self.S = None if S is None else t(S)
            return
        if sde.kind not in ("brownian", "gbm"):
            raise InvalidOption(f"deep-kolmogorov: no exact sampler for SDE kind {sde.kind!r}")
        self.kind = sde.kind
        self.has_shift = bool(np.any(sde.shift != 0))
        self.shift_b = t(sde.shift * problem.T)
        self.Lt = t(sde.L.T)
        self.identity_L = bool(np.array_equal(sde.L, np.eye(problem.d)))
        sq = math.sqrt(problem.T)
        self.scale = t(sde.s0 * sq) if sde.kind == "brownian" else t(sde.s1 * sq)
        self.shift = t((sde.drift - 0.5 * sde.s1 ** 2) * problem.T)

    def draw(self, n: int) -> tuple[Any, Any]:
        torch, p = self.torch, self.problem
        xi = p.a + (p.b - p.a) * torch.rand(n, p.d, generator=self.gen, device=self.dev, dtype=self.dt)
        if self.kind == "euler":
            z = torch.randn(self.steps, p.d, n, generator=self.gen, device=self.dev, dtype=self.dt)
            y = self._euler(xi, z)
            if self.antithetic:
                y = 0.5 * (y + self._euler(xi, -z))
            return xi, self.disc * y
        z = torch.randn(n, p.d, generator=self.gen, device=self.dev, dtype=self.dt)
        w = z if self.identity_L else z @ self.Lt
        y = self._phi(xi, w)
        if self.antithetic:
            y = 0.5 * (y + self._phi(xi, -w))
        return xi, self.disc * y

    def _phi(self, xi: Any, w: Any) -> Any:
        if self.kind == "brownian":
            x_t = xi + self.scale * w
            if self.has_shift:
                x_t = x_t + self.shift_b
        else:
            x_t = xi * self.torch.exp(self.shift + self.scale * w)
        return self.problem.phi(x_t, self.torch)

    def _euler(self, xi: Any, z: Any) -> Any:
        """initial(X_T) by Euler-Maruyama, component-first (d, n), with the user's
        drift and diffusion functions evaluated in torch."""
        torch, p = self.torch, self.problem
        h = p.T / self.steps
        sq = math.sqrt(h)
        X = xi.T
        for k in range(self.steps):
            t = k * h
            b = self.mu if self.mu is not None else p.drift(t, X, torch)
            if self.S is not None:
                noise = self.S @ z[k]
            else:
                s = p.diffusion(t, X, torch)
                noise = torch.einsum("ijn,jn->in", s, z[k]) if p.full_diffusion else s * z[k]
            X = X + b * h + sq * noise
        return p.initial(X, torch)
