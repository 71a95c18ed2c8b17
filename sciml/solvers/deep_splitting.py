"""The `deep-splitting` solver (Beck, Becker, Cheridito, Jentzen, Neufeld,
"Deep splitting method for parabolic PDEs", SIAM J. Sci. Comput. 43 (2021) A3135).

For du/dt + L u + f(u, sigma^T grad u) = 0 on [0, T), u(T) = g, with X the
diffusion of L started at xi and the grid t_n = n T / N, the splitting
(the linear part exact in expectation, the nonlinearity by one explicit Euler
step) defines backwards from V_N = g::

    V_n(x) = E[ V_{n+1}(X_{t_{n+1}}) + h f(V_{n+1}, sigma^T grad V_{n+1})(X_{t_{n+1}}) | X_{t_n} = x ].

Each conditional expectation is an L2 regression: a network V_n (d -> width ->
width -> 1, tanh, inputs standardised by the known spread of X_{t_n}) is
trained with Adam on fresh samples of (X_{t_n}, X_{t_{n+1}}) drawn from xi, the
target computed with the frozen V_{n+1}.  V_n starts from V_{n+1}'s weights
(``warm_start``), so later regressions need fewer steps (``steps`` for the
first one, ``steps_next`` for the others).  At n = 0 the process sits at xi,
so u(0, xi) = V_0(xi) is a plain Monte Carlo mean of the target over
``mc_samples`` draws: the value comes with its standard error.  For hjb the
gradient of V_{n+1} comes from autograd (sigma^T grad = sqrt(2) grad for
X = xi + sqrt(2) W; sigma grad for a user's X = xi + sigma W).  f is evaluated
at (t_{n+1}, X_{t_{n+1}}): a user's f(t, x, u, ∇u) sees time and place.  The error has a splitting part O(T / N) and a
regression part (network and optimisation); neither is estimated here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..core import InvalidOption, Problem, Solution, Solver, opt

__all__ = ["DeepSplitting"]


@dataclass(frozen=True)
class DeepSplitting(Solver):
    """Deep splitting; options in the module docstring.  ``width = 0`` means d + 10."""

    name = "deep-splitting"
    requires = ("semilinear",)
    learned = True

    time_steps: int = opt(10, lo=1, hi=10_000)
    steps: int = opt(2000, lo=1, hi=10_000_000)
    steps_next: int = opt(600, lo=1, hi=10_000_000)
    batch: int = opt(256, lo=2, hi=10_000_000)
    lr: float = opt(3e-3, lo=0.0, lo_open=True, hi=10.0)
    width: int = opt(0, lo=0, hi=100_000)
    warm_start: bool = True
    mc_samples: int = opt(100_000, lo=2, hi=10**9)
    dtype: Literal["float32", "float64"] = "float64"
    threads: int = opt(1, lo=1, hi=4096)

    # ------------------------------------------------------------ sampling
    def _pair(self, torch: Any, p: Any, n: int, size: int, gen: Any, dev: Any, dt_: Any):
        """(X_{t_n}, X_{t_{n+1}}) from xi, exact for both diffusions."""
        h = p.T / self.time_steps
        d = p.d
        xi = torch.as_tensor(p.xi(), device=dev, dtype=dt_)
        z0 = torch.randn(size, d, generator=gen, device=dev, dtype=dt_)
        z1 = torch.randn(size, d, generator=gen, device=dev, dtype=dt_)
        t = n * h
        if "brownian" not in p.capabilities():   # default-risk: geometric Brownian motion
            a, s = p.mu - 0.5 * p.sigma ** 2, p.sigma
            x0 = xi * torch.exp(a * t + s * math.sqrt(t) * z0)
            return x0, x0 * torch.exp(a * h + s * math.sqrt(h) * z1)
        x0 = xi + p.sigma * math.sqrt(t) * z0
        return x0, x0 + p.sigma * math.sqrt(h) * z1

    def _features(self, p: Any, x: Any, n: int) -> Any:
        """Standardised network inputs at t_n (the spread of X_{t_n}; t_0 is never fed)."""
        import torch
        xi = torch.as_tensor(p.xi(), device=x.device, dtype=x.dtype)
        t = max(n, 1) * p.T / self.time_steps
        if "brownian" not in p.capabilities():
            return (x / xi).log() / (p.sigma * math.sqrt(t))
        return (x - xi) / (p.sigma * math.sqrt(t))

    # ------------------------------------------------------------ solve
    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        import torch
        from ..progress import bar
        from ..torch_utils import seeded, seeded_generator, torch_device, torch_dtype
        from ..training import train
        p: Any = problem
        if getattr(p, "uses_gradient", False) and "brownian" not in p.capabilities():  # pragma: no cover
            raise InvalidOption(f"{self.name}: gradient-dependent f needs the Brownian diffusion")
        dev, dt_ = torch_device(device), torch_dtype(self.dtype)
        N, d, h = self.time_steps, p.d, p.T / self.time_steps
        width = self.width or d + 10
        gen = seeded_generator(seed, dev)
        grad_f = bool(getattr(p, "uses_gradient", False))
        t0, c0 = time.perf_counter(), time.process_time()

        def make_net() -> Any:
            nn = torch.nn
            return nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(),
                                 nn.Linear(width, 1)).to(device=dev, dtype=dt_)

        def target(v_next: Any, n_next: int, x: Any) -> Any:
            """V_{n+1}(x) + h f(V_{n+1}, sigma^T grad V_{n+1})(x), detached."""
            with torch.enable_grad():
                xg = x.detach().requires_grad_(grad_f)
                # n + 1 = N: the terminal condition
                y = p.g_torch(xg).reshape(-1, 1) if v_next is None else v_next(self._features(p, xg, n_next))
                z = p.sigma * torch.autograd.grad(y.sum(), xg)[0] if grad_f else torch.zeros_like(x)
            return (y + h * p.f_bsde_torch(n_next * h, xg, y, z)).detach()

        v_next: Any = None
        history: list[dict[str, float]] = []
        losses: list[float] = []
        total = self.steps + max(N - 2, 0) * self.steps_next
        with bar(total, "deep-splitting", progress) as b:
            for n in range(N - 1, 0, -1):
                with seeded(seed * 7919 + n, str(dev)):
                    net = make_net()
                if self.warm_start and v_next is not None:
                    net.load_state_dict(v_next.state_dict())
                k_steps = self.steps if v_next is None else self.steps_next

                def loss_fn(k: int, n: int = n, net: Any = net, v_next: Any = v_next) -> Any:
                    x0, x1 = self._pair(torch, p, n, self.batch, gen, dev, dt_)
                    y = target(v_next, n + 1, x1)
                    return torch.mean((net(self._features(p, x0, n)) - y) ** 2)

                rec = train(net.parameters(), loss_fn, steps=k_steps, lr=self.lr, solver=self.name,
                            schedule=lambda opt, k_steps=k_steps: torch.optim.lr_scheduler.MultiStepLR(
                                opt, milestones=[max(1, k_steps // 2), max(1, 3 * k_steps // 4)], gamma=0.1),
                            progress=b, step_base=1, device=dev)
                losses += rec.loss_history
                history.append({"n": n, "t": n * h, "final_loss": rec.loss_history[-1]})
                for q in net.parameters():
                    q.requires_grad_(False)
                v_next = net
            # n = 0: X_{t_0} = xi, V_0(xi) is the mean of the target over X_{t_1}
            vals = []
            left = self.mc_samples
            while left > 0:
                m = min(left, 100_000)
                _, x1 = self._pair(torch, p, 0, m, gen, dev, dt_)
                vals.append(target(v_next, 1, x1).reshape(-1).cpu().numpy().astype(np.float64))
                left -= m
        v = np.concatenate(vals)
        value = float(v.mean())
        stderr = float(v.std(ddof=1) / math.sqrt(v.size))
        if not math.isfinite(value):
            from ..core import SolverDiverged
            raise SolverDiverged(f"{self.name}: the estimate became {value}")
        per_step = int(sum(q.numel() for q in make_net().parameters()))
        stats = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                 "time_steps": N, "mc_stderr": stderr, "history": history, "solver": self.name,
                 "loss_history": losses, "steps": len(losses),
                 "params_per_step": per_step, "parameters": per_step * max(N - 1, 0)}
        return Solution(value=value, stats=stats, state={"value": np.array([value]), "mc_stderr": np.array([stderr])})
