"""The `deep-bsde` solver (Han, Jentzen, E, PNAS 115 (2018) 8505).

On the time grid t_n = n T / N the forward process X (X = xi + sigma W with
the problem's sigma, sqrt(2) for the built-in problems, or exact geometric
Brownian motion for default-risk) is simulated, and the
backward equation is stepped forward from trainable Y_0 ≈ u(0, xi) and
Z_0 ≈ sigma^T ∇u(0, xi)::

    Y_{n+1} = Y_n - f(t_n, X_n, Y_n, Z_n) dt + Z_n . dW_n,   Z_n = net_n(X_n)  (n >= 1),

(f of a user's problem receives ∇u = Z_n / sigma; ``problem.f_bsde_torch``)

minimising E|Y_N - g(X_N)|^2 with Adam.  ``network="per-step"`` is the
paper's one subnetwork per time step (d -> width -> width -> d, ReLU, batch
normalisation optional); all subnetworks are evaluated in one batched
matrix product because X does not depend on them.  ``network="shared"`` is
one network of (t, x).  ``threads`` is torch's intra-op thread count during
the solve (restored afterwards).  Batch normalisation always uses the statistics of
the batch at hand (training and validation alike).  As in the authors'
reference code, network outputs are divided by d and batch-norm scales
start in [0.1, 0.5], so Z starts small: an O(1) Z makes the explicit Euler
step of u - u^3 blow up in the first iterations.  The learning rate is
piecewise constant: ``lr``, multiplied by ``lr_decay`` at each fraction of
``steps`` listed in ``lr_milestones``.  Y_0 starts from a Monte Carlo
estimate of the linear answer E[g(X_T)] (256 samples, same seed) and is
parametrised as y_init (1 + theta), so that the learning rate is relative to
the size of the answer (Adam moves a parameter by about lr per step).

``linear=True`` adds a learned linear feedback to every subnetwork,
Z_n += sqrt(2) a_n (X_n - xi) with one scalar a_n per time step (a ReLU
network of width d + 10 cannot represent the near-linear map x -> Z well in
100 dimensions); the default ``linear=None`` means on for the controlled
forward process and off otherwise.

``forward="controlled"`` (problems that are the value of a stochastic control
problem: hjb) is the robust deep FBSDE method (Andersson, Andersson,
Oosterlee, arXiv:2201.06854).  For hjb, -lam |∇u|^2 = min_a [a . ∇u +
|a|^2 / (4 lam)], so u(0, xi) = inf_a E[g(X_T^a) + ∫ |a|^2 / (4 lam) dt] with
dX^a = a dt + sqrt(2) dW and optimal feedback a* = -sqrt(2) lam Z.  X is
simulated with the feedback built from the networks' own Z, and the networks
minimise E[Ŷ] + var_weight Var[Ŷ] over the pathwise quantity

    Ŷ = g(X_N) + sum_n running cost_n h - sum_n Z_n . dW_n,

whose mean is the cost of that control (the martingale sum is a control
variate: at the exact Z, Ŷ = u on every path).  The reported value is the
mean of Ŷ over ``eval_paths`` fresh paths after training, with its standard
error in ``stats["value_stderr"]``.  Unlike Y_0 of the uncontrolled method,
which moves to first order with an error in Z that the loss sees only to
second order (scripts/hjb_bsde_conditioning.py), the cost exceeds u by a
term of second order in the error of the control.  ``scheme="euler"`` holds
the feedback fixed over each step: that is an admissible control, so the
cost is >= u for any network, but with bias O(T/N) that is large in high
dimension (the Brownian increment moves X by sqrt(2 d h) within a step);
``scheme="heun"`` (default) uses a predictor at t_{n+1}, the averaged drift
and the trapezoidal running cost, whose bias with the exact control is
second order (scripts/hjb_control_bias.py).  Z(T, x) = sqrt(2) ∇g(x) is
taken exactly, by autograd of g.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..core import InvalidOption, Problem, Solution, Solver, check_range, opt

__all__ = ["DeepBSDE"]


def _make_modules(torch: Any, d: int, n_nets: int, width: int, batch_norm: bool, shared: bool,
                  z_scale: float):
    nn = torch.nn

    class StackedMLP(nn.Module):
        """n_nets independent MLPs d -> width -> width -> d applied by bmm."""

        def __init__(self) -> None:
            super().__init__()
            dims = [d, width, width, d]
            self.w = nn.ParameterList()
            self.b = nn.ParameterList()
            self.gamma = nn.ParameterList()
            self.beta = nn.ParameterList()
            for a, c in zip(dims[:-1], dims[1:]):
                bound = 1.0 / math.sqrt(a)
                self.w.append(nn.Parameter(torch.empty(n_nets, a, c).uniform_(-bound, bound)))
                self.b.append(nn.Parameter(torch.zeros(n_nets, 1, c)))
            for c in dims if batch_norm else []:
                # the reference implementation's initialisation: small random scales
                self.gamma.append(nn.Parameter(torch.empty(n_nets, 1, c).uniform_(0.1, 0.5)))
                self.beta.append(nn.Parameter(torch.empty(n_nets, 1, c).normal_(0.0, 0.1)))

        def _bn(self, h: Any, i: int, k: int | None = None) -> Any:
            """Batch norm over the batch axis; h is (n_nets, batch, c), or (batch, c) for net k."""
            if not batch_norm:
                return h
            mean = h.mean(dim=-2, keepdim=True)
            var = h.var(dim=-2, unbiased=False, keepdim=True)
            gamma, beta = (self.gamma[i], self.beta[i]) if k is None else (self.gamma[i][k], self.beta[i][k])
            return (h - mean) / torch.sqrt(var + 1e-6) * gamma + beta

        def forward(self, x: Any) -> Any:    # x: (n_nets, batch, d)
            h = self._bn(x, 0)
            for i in range(3):
                h = torch.baddbmm(self.b[i], h, self.w[i]) if not batch_norm else torch.bmm(h, self.w[i])
                h = self._bn(h, i + 1)
                if i < 2:
                    h = torch.relu(h)
            return h * z_scale

        def one(self, x: Any, k: int, t: Any) -> Any:    # subnetwork k on x: (batch, d)
            h = self._bn(x, 0, k)
            for i in range(3):
                h = h @ self.w[i][k] if batch_norm else torch.addmm(self.b[i][k], h, self.w[i][k])
                h = self._bn(h, i + 1, k)
                if i < 2:
                    h = torch.relu(h)
            return h * z_scale

    class SharedMLP(nn.Module):
        """One network (t, x) -> z for every time step."""

        def __init__(self) -> None:
            super().__init__()
            layers: list[Any] = []
            a = d + 1
            for c in (width, width):
                layers += [nn.Linear(a, c)] + ([nn.BatchNorm1d(c)] if batch_norm else []) + [nn.ReLU()]
                a = c
            layers.append(nn.Linear(a, d))
            self.net = nn.Sequential(*layers)

        def forward(self, x: Any, t: Any) -> Any:    # x: (n, batch, d), t: (n,)
            n, b, _ = x.shape
            tt = t[:, None, None].expand(n, b, 1)
            return self.net(torch.cat([tt, x], dim=2).reshape(n * b, d + 1)).reshape(n, b, d) * z_scale

        def one(self, x: Any, k: int, t: Any) -> Any:    # time t (0-d tensor) on x: (batch, d)
            return self.net(torch.cat([t.expand(x.shape[0], 1), x], dim=1)) * z_scale

    return (SharedMLP() if shared else StackedMLP())


@dataclass(frozen=True)
class DeepBSDE(Solver):
    """Deep BSDE method; options as in the module docstring.  ``width = 0``
    means d + 10 (the paper's choice)."""

    name = "deep-bsde"
    requires = ("semilinear",)
    learned = True

    time_steps: int = opt(20, lo=1, hi=10_000)
    steps: int = opt(3000, lo=1, hi=10_000_000)
    batch: int = opt(64, lo=2, hi=10_000_000)
    valid_batch: int = opt(256, lo=2, hi=10_000_000)
    lr: float = opt(1e-2, lo=0.0, lo_open=True, hi=10.0)
    lr_decay: float = opt(0.1, lo=0.0, lo_open=True, hi=1.0)
    lr_milestones: tuple[float, ...] = (0.5, 0.75)
    width: int = opt(0, lo=0, hi=100_000)
    network: Literal["per-step", "shared"] = "per-step"
    batch_norm: bool = True
    dtype: Literal["float32", "float64"] = "float64"
    log_every: int = opt(100, lo=1)
    threads: int = opt(1, lo=1, hi=4096)
    forward: Literal["uncontrolled", "controlled"] = "uncontrolled"
    scheme: Literal["heun", "euler"] = "heun"
    linear: bool | None = None
    var_weight: float = opt(1.0, lo=0.0, hi=1e6)
    eval_paths: int = opt(16384, lo=2, hi=100_000_000)

    def __post_init__(self) -> None:
        E = InvalidOption
        for m in self.lr_milestones:
            check_range(self, "lr_milestones", m, lo=0.0, hi=1.0, lo_open=True, hi_open=True, error=E)

    # ------------------------------------------------------------------ paths
    def _paths(self, torch: Any, problem: Any, n: int, gen: Any, dev: Any, dt_: Any):
        """(X (N+1, n, d), dW (N, n, d)) for the problem's forward process."""
        N, d = self.time_steps, problem.d
        h = problem.T / N
        dW = torch.randn(N, n, d, generator=gen, device=dev, dtype=dt_) * math.sqrt(h)
        xi = torch.as_tensor(problem.xi(), device=dev, dtype=dt_)
        if "brownian" not in problem.capabilities():   # default-risk
            s = problem.sigma
            incr = (problem.mu - 0.5 * s * s) * h + s * dW
            logx = torch.cat([torch.zeros(1, n, d, device=dev, dtype=dt_), torch.cumsum(incr, dim=0)])
            return xi * torch.exp(logx), dW
        X = torch.cat([torch.zeros(1, n, d, device=dev, dtype=dt_), problem.sigma * torch.cumsum(dW, 0)]) + xi
        return X, dW

    def _features(self, problem: Any, X: Any) -> Any:
        """Network inputs of order one."""
        import torch
        xi = torch.as_tensor(problem.xi(), device=X.device, dtype=X.dtype)
        if "brownian" not in problem.capabilities():   # geometric Brownian motion
            return torch.log(X / xi) / (problem.sigma * math.sqrt(problem.T))
        return (X - xi) / (problem.sigma * math.sqrt(problem.T))

    def _g(self, problem: Any, x: Any) -> Any:
        return problem.g_torch(x)

    # ------------------------------------------------------------------ solve
    def _world(self, dev: Any) -> tuple[Any, slice | None]:
        """The data-parallel group (torchrun) and this rank's share of a batch (None alone)."""
        from .. import distributed as D
        world = D.world(dev)
        if not world.active:
            return world, None
        if self.batch_norm:
            raise InvalidOption(f"{self.name}: batch_norm=true is not supported with several processes "
                                "(each rank would normalise by its own paths); use batch_norm=false")
        return world, D.local_slice(self.batch, world, solver=self.name)

    def _use_linear(self) -> bool:
        return self.forward == "controlled" if self.linear is None else bool(self.linear)

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        import torch
        from .. import distributed as D
        from ..torch_utils import seeded, seeded_generator, torch_device, torch_dtype
        p: Any = problem
        if self.forward == "controlled":
            if "control" not in p.capabilities():
                raise InvalidOption(f"{self.name}: forward=controlled needs a problem written as a stochastic "
                                    f"control problem (hjb, or Semilinear(hjb=lam)); {p.name!r} is not one")
            return self._solve_controlled(p, seed, device, progress)
        dev, dt_ = torch_device(device), torch_dtype(self.dtype)
        world, part = self._world(dev)
        dev = D.rank_device(dev, world)
        N, d, h = self.time_steps, p.d, p.T / self.time_steps
        width = self.width or d + 10
        gen = seeded_generator(seed, dev)
        t0, c0 = time.perf_counter(), time.process_time()

        with torch.no_grad():
            X, _ = self._paths(torch, p, 256, gen, dev, dt_)
            y_init = float(self._g(p, X[-1]).mean())
        z_scale = 1.0 / d
        with seeded(seed, device):
            net = _make_modules(torch, d, max(N - 1, 1), width, self.batch_norm,
                                self.network == "shared", z_scale).to(device=dev, dtype=dt_)
            theta = torch.nn.Parameter(torch.zeros(1, device=dev, dtype=dt_))
            z0 = torch.nn.Parameter(torch.empty(1, d, device=dev, dtype=dt_).uniform_(-0.1, 0.1))
        a_lin = torch.nn.Parameter(torch.zeros(max(N - 1, 1), 1, 1, device=dev, dtype=dt_))
        xi_t = torch.as_tensor(p.xi(), device=dev, dtype=dt_)
        # Y_0 = y_init (1 + theta): Adam's steps (about lr in parameter units)
        # are then relative to the size of the answer, whatever its scale
        scale = max(abs(y_init), 1e-6)
        params = [theta, z0] + list(net.parameters()) + ([a_lin] if self._use_linear() else [])
        times = torch.arange(1, N, device=dev, dtype=dt_) * h / p.T

        def loss_of(n: int, part: slice | None = None) -> Any:
            X, dW = self._paths(torch, p, n, gen, dev, dt_)
            if part is not None:  # torchrun: this rank's share of the paths
                X, dW, n = X[:, part], dW[:, part], part.stop - part.start
            y = (y_init + scale * theta).expand(n, 1)
            z = z0.expand(n, d)
            if N > 1:
                feats = self._features(p, X[1:N])
                Z = net(feats, times) if self.network == "shared" else net(feats)
                if self._use_linear():
                    Z = Z + math.sqrt(2.0) * a_lin * (X[1:N] - xi_t)
            for k in range(N):
                zk = z if k == 0 else Z[k - 1]
                y = y - p.f_bsde_torch(k * h, X[k], y, zk) * h + (zk * dW[k]).sum(dim=1, keepdim=True)
            return torch.mean((y - self._g(p, X[N])) ** 2)

        rec, hist_step, hist_loss, hist_y0 = self._train(
            params, lambda: loss_of(self.batch, part),
            lambda: (float(loss_of(self.valid_batch)), float(y_init + scale * theta.detach())), "y0", progress,
            world)
        value = float(y_init + scale * theta.detach())
        if not math.isfinite(value):  # pragma: no cover - check_loss catches it first
            from ..core import SolverDiverged
            raise SolverDiverged(f"{self.name}: Y0 became {value}", step=self.steps)
        stats = {**rec.stats(), "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                 "forward": self.forward,
                 "history_step": hist_step, "history_loss": hist_loss, "history_y0": hist_y0,
                 "final_loss": hist_loss[-1], "y0_init": y_init, "solver": self.name}
        state = {"y0": np.array([value]), "z0": z0.detach().cpu().numpy().ravel(),
                 "history_step": np.array(hist_step), "history_loss": np.array(hist_loss),
                 "history_y0": np.array(hist_y0)}
        return Solution(value=value, stats=stats, state=state)

    def _train(self, params: list[Any], loss_fn: Any, valid_fn: Any, label: str,
               progress: bool, world: Any) -> tuple[Any, list[int], list[float], list[float]]:
        """Adam with the piecewise-constant schedule (:func:`sciml.training.train`); every
        log_every steps (and at the end) valid_fn() -> (validation loss, current estimate
        of u(0, xi)) is recorded."""
        import torch
        from ..progress import bar
        from ..torch_utils import check_loss
        from ..training import train
        milestones = sorted({max(1, int(m * self.steps)) for m in self.lr_milestones})
        hist_step: list[int] = []
        hist_loss: list[float] = []
        hist_y0: list[float] = []

        def after_step(k: int, _loss: float) -> None:
            step = k + 1
            if step % self.log_every == 0 or step == self.steps:
                with torch.no_grad():
                    vl, y0 = valid_fn()
                check_loss(vl, step, solver=self.name)
                hist_step.append(step)
                hist_loss.append(vl)
                hist_y0.append(y0)
                b.set_postfix(loss=f"{vl:.3e}", **{label: f"{y0:.6f}"})

        with bar(self.steps, "deep-bsde", progress) as b:
            rec = train(params, lambda k: loss_fn(), steps=self.steps, lr=self.lr, solver=self.name,
                        schedule=lambda opt: torch.optim.lr_scheduler.MultiStepLR(
                            opt, milestones=milestones, gamma=self.lr_decay),
                        after_step=after_step, progress=b, step_base=1, device=params[0].device,
                        world=world, average_gradients=True)
        return rec, hist_step, hist_loss, hist_y0

    # ------------------------------------------------- controlled forward process
    def _solve_controlled(self, p: Any, seed: int, device: str, progress: bool) -> Solution:
        """Robust deep FBSDE for a control problem (module docstring, ``forward=controlled``)."""
        import torch
        from .. import distributed as D
        from ..torch_utils import seeded, seeded_generator, torch_device, torch_dtype
        dev, dt_ = torch_device(device), torch_dtype(self.dtype)
        world, part = self._world(dev)
        dev = D.rank_device(dev, world)
        N, d, T = self.time_steps, p.d, p.T
        h = T / N
        width = self.width or d + 10
        linear = self._use_linear()
        gen = seeded_generator(seed, dev)
        t0, c0 = time.perf_counter(), time.process_time()
        with seeded(seed, device):
            net = _make_modules(torch, d, max(N - 1, 1), width, self.batch_norm,
                                self.network == "shared", 1.0 / d).to(device=dev, dtype=dt_)
            z0 = torch.nn.Parameter(torch.zeros(1, d, device=dev, dtype=dt_))
        a_lin = torch.nn.Parameter(torch.zeros(N, device=dev, dtype=dt_))
        xi = torch.as_tensor(p.xi(), device=dev, dtype=dt_)
        tk = [torch.tensor(k * h / T, device=dev, dtype=dt_) for k in range(N + 1)]
        params = [z0] + list(net.parameters()) + ([a_lin] if linear else [])
        sq2 = math.sqrt(2.0)

        def z_at(k: int, x: Any) -> Any:
            if k == N:        # Z(T, x) = sqrt(2) grad g(x), exactly, by autograd
                train = torch.is_grad_enabled()
                with torch.enable_grad():
                    xr = x if x.requires_grad else x.detach().requires_grad_(True)
                    grad = torch.autograd.grad(self._g(p, xr).sum(), xr, create_graph=train)[0]
                return sq2 * (grad if train else grad.detach())
            z = z0.expand(x.shape[0], d) if k == 0 else net.one(self._features(p, x), k - 1, tk[k])
            return z + sq2 * a_lin[k] * (x - xi) if linear else z

        def sample(n: int, part: slice | None = None) -> Any:
            """Pathwise g(X_N) + running cost - sum Z dW: its mean is the control's cost
            (``part``: this rank's share of the n paths under torchrun)."""
            m = n if part is None else part.stop - part.start
            x = xi.expand(m, d)
            cost = torch.zeros(m, 1, device=dev, dtype=dt_)
            mart = torch.zeros(m, 1, device=dev, dtype=dt_)
            z = z_at(0, x)
            for k in range(N):
                dw = torch.randn(n, d, generator=gen, device=dev, dtype=dt_) * math.sqrt(h)
                dw = dw if part is None else dw[part]
                mart = mart + (z * dw).sum(dim=1, keepdim=True)
                b = p.optimal_drift_torch(z)
                if self.scheme == "euler":      # feedback frozen over the step: cost >= u exactly
                    cost = cost + p.running_cost_torch(z) * h
                    x = x + b * h + sq2 * dw
                    z = z_at(k + 1, x) if k + 1 < N else z
                else:                           # Heun predictor-corrector, trapezoidal running cost
                    zp = z_at(k + 1, x + b * h + sq2 * dw)
                    x = x + 0.5 * (b + p.optimal_drift_torch(zp)) * h + sq2 * dw
                    z1 = z_at(k + 1, x)
                    cost = cost + 0.5 * (p.running_cost_torch(z) + p.running_cost_torch(z1)) * h
                    z = z1
            return self._g(p, x) + cost - mart

        def train_loss() -> Any:
            y = sample(self.batch, part)
            return y.mean() + self.var_weight * y.var()

        def valid() -> tuple[float, float]:
            yv = sample(self.valid_batch)
            return float(yv.mean() + self.var_weight * yv.var()), float(yv.mean())

        rec, hist_step, hist_loss, hist_y0 = self._train(params, train_loss, valid, "cost", progress, world)
        train_s = time.perf_counter() - t0
        # the reported value: the control's cost on eval_paths fresh paths, with its standard error
        chunk = max(self.valid_batch, 4096)
        ys = []
        with torch.no_grad():
            left = self.eval_paths
            while left > 0:
                ys.append(sample(min(chunk, left)).squeeze(1))
                left -= min(chunk, left)
        y_all = torch.cat(ys).cpu().numpy()
        value = float(y_all.mean())
        if not math.isfinite(value):
            from ..core import SolverDiverged
            raise SolverDiverged(f"{self.name}: the control's cost became {value}", step=self.steps)
        stderr = float(y_all.std(ddof=1) / math.sqrt(len(y_all)))
        stats = {**rec.stats(), "wall_s": time.perf_counter() - t0, "train_s": train_s,
                 "cpu_s": time.process_time() - c0, "forward": self.forward, "scheme": self.scheme, "linear": linear,
                 "value_stderr": stderr, "eval_paths": len(y_all), "eval_var": float(y_all.var(ddof=1)),
                 "history_step": hist_step, "history_loss": hist_loss, "history_y0": hist_y0,
                 "final_loss": hist_loss[-1], "solver": self.name}
        state = {"y0": np.array([value]), "z0": z0.detach().cpu().numpy().ravel(),
                 "a_linear": a_lin.detach().cpu().numpy(),
                 "history_step": np.array(hist_step), "history_loss": np.array(hist_loss),
                 "history_y0": np.array(hist_y0)}
        return Solution(value=value, stats=stats, state=state)
