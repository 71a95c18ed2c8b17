"""`neural-closure`: an input-convex neural network (ICNN) entropy closure for M_N.

Following Schotthöfer, Xiao, Frank and Hauck (ICML 2022): the entropy
``h(u) = max_α {α·(1, u) - <exp(α·m)>}`` of normalised moments u = (u1..uN)
is convex, and its gradient is the Lagrange multiplier vector α_1..α_N.  An
ICNN (Amos, Xu, Kolter 2017) ``h_θ`` models h; ``α_θ = ∇h_θ(u)`` by automatic
differentiation, and α_0 follows from the normalisation <exp(α·m)> = 1
(Gauss-Legendre quadrature).  Convexity of h_θ holds by construction
(non-negative weights on the hidden path, convex non-decreasing softplus).

Training data: multipliers α_1..α_N uniform in [-alpha_max, alpha_max]^N with
a seed of the solver (the test set of the problem uses a different, fixed
seed), their moments by quadrature; Sobolev loss
``mean (h_θ - h)^2 + mean |∇h_θ - α|^2`` on mini-batches; Adam with cosine
decay, float64.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..core import InvalidOption, InvalidProblem, Problem, Solution, Solver, check_range
from ..progress import bar

log = logging.getLogger(__name__)

def torch_threads(n: int):
    """Context manager: torch intra-op threads set to ``n`` inside, restored after
    (on a shared machine, spinning OpenMP threads make small models ~40x slower)."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def ctx():
        old = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(old)

    return ctx()


__all__ = ["NeuralClosure", "ICNN", "closure_predictor", "torch_threads"]


def ICNN(dim: int, width: int, depth: int):
    """An input-convex network R^dim -> R (torch module)."""
    import torch
    from torch import nn

    class _ICNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.ModuleList([nn.Linear(dim, width) for _ in range(depth)])
            # raw weights near -4: softplus(-4) ~ 0.018, so a width-w layer starts with gain ~ 0.02 w
            self.hid = nn.ParameterList([nn.Parameter(torch.randn(width, width) * 0.5 - 4.0)
                                         for _ in range(depth - 1)])
            self.out_z = nn.Parameter(torch.randn(width) * 0.5 - 4.0)
            self.out_x = nn.Linear(dim, 1)

        def forward(self, x):
            sp = nn.functional.softplus
            z = sp(self.inp[0](x))
            for k in range(1, len(self.inp)):
                # non-negative weights on z keep every layer convex in x
                z = sp(z @ sp(self.hid[k - 1]).T + self.inp[k](x))
            return z @ sp(self.out_z) + self.out_x(x)[..., 0]

    return _ICNN()


@dataclass(frozen=True)
class NeuralClosure(Solver):
    """ICNN entropy closure of M_N (problem ``mn-closure``).

    Options: ``width``, ``depth`` of the ICNN, ``n_train`` samples,
    ``steps`` of mini-batch Adam (``batch`` samples each), ``lr`` initial
    learning rate (cosine decay to lr/1000).
    """

    name = "neural-closure"
    accepts = ("mn-closure",)
    learned = True

    width: int = 64
    depth: int = 3
    n_train: int = 20000
    steps: int = 8000
    batch: int = 256
    lr: float = 3e-2
    polish: int = 0  # Newton steps after the network (0: the pure neural closure)
    threads: int = 1  # torch threads while training (restored after)

    def __post_init__(self) -> None:
        check_range(self, "width", self.width, lo=4, hi=1024, error=InvalidOption)
        check_range(self, "depth", self.depth, lo=1, hi=16, error=InvalidOption)
        check_range(self, "n_train", self.n_train, lo=10, hi=10 ** 7, error=InvalidOption)
        check_range(self, "steps", self.steps, lo=1, hi=10 ** 7, error=InvalidOption)
        check_range(self, "batch", self.batch, lo=1, hi=10 ** 6, error=InvalidOption)
        check_range(self, "lr", self.lr, lo=0.0, hi=1.0, lo_open=True, error=InvalidOption)
        check_range(self, "threads", self.threads, lo=1, hi=256, error=InvalidOption)
        check_range(self, "polish", self.polish, lo=0, hi=50, error=InvalidOption)

    def train(self, problem: Problem, seed: int, device: str, progress: bool):
        import torch

        from problems.boltzmann import sample_closure_moments
        from ..torch_utils import check_loss, seeded, torch_device
        dev = torch_device(device)
        N = problem.N
        u, a = sample_closure_moments(N, self.n_train, problem.alpha_max, seed)
        h = problem.entropy(a, u)
        X = torch.tensor(u, dtype=torch.float64, device=dev)
        Ht = torch.tensor(h, dtype=torch.float64, device=dev)
        At = torch.tensor(a[:, 1:], dtype=torch.float64, device=dev)
        with seeded(seed, str(dev)):
            net = ICNN(N, self.width, self.depth).double().to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.steps, eta_min=self.lr * 1e-3)
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(seed))
        history = []
        with bar(self.steps, "neural-closure", progress) as pb:
            for ep in range(self.steps):
                idx = torch.randint(0, len(X), (min(self.batch, len(X)),), generator=gen, device=dev)
                xb = X[idx].requires_grad_(True)
                opt.zero_grad()
                hp = net(xb)
                grad, = torch.autograd.grad(hp.sum(), xb, create_graph=True)
                loss = ((hp - Ht[idx]) ** 2).mean() + ((grad - At[idx]) ** 2).sum(1).mean()
                loss.backward()
                opt.step()
                sched.step()
                history.append(float(loss.detach()))
                check_loss(history[-1], ep, solver=self.name)
                pb.update(1)
        return net, history

    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> Solution:
        self.check_problem(problem)
        t0 = time.perf_counter()
        with torch_threads(self.threads):
            net, history = self.train(problem, seed, device, progress)
        from ..torch_utils import count_parameters
        predict = closure_predictor(net, problem.N, device, polish=self.polish)

        def fn(x: np.ndarray) -> np.ndarray:
            from problems.boltzmann import realisable
            x = np.atleast_2d(np.asarray(x, dtype=float))
            if not np.all(realisable(x, problem.N)):
                raise InvalidProblem(f"{self.name}: a moment vector is outside the realisable set")
            return predict(x)

        stats = {"solver": self.name, "train_s": time.perf_counter() - t0, "loss_history": history,
                 "train_loss": history[-1], "n_params": count_parameters(net)}
        return Solution(fn=fn, stats=stats, state={"loss": np.array(history)})


def closure_predictor(net, N: int, device: str = "cpu", dtype: str = "float64", polish: int = 0):
    """x (B, N) -> α (B, N + 1): α_1..N = ∇h_θ, α_0 from <exp(α·m)> = 1;
    then ``polish`` full Newton steps on the dual (a hybrid closure; 0 = pure network)."""
    import torch

    from problems.boltzmann import closure_quadrature, monomials
    mu, w = closure_quadrature()
    tdt = torch.float64 if dtype == "float64" else torch.float32
    m = torch.tensor(monomials(mu, N)[1:], dtype=tdt, device=device)
    wt = torch.tensor(w, dtype=tdt, device=device)
    net = net.to(tdt)

    def predict(x: np.ndarray) -> np.ndarray:
        X = torch.tensor(x, dtype=tdt, device=device, requires_grad=True)
        hp = net(X)
        grad, = torch.autograd.grad(hp.sum(), X)
        with torch.no_grad():
            a0 = -torch.log(torch.exp(grad @ m) @ wt)
        alpha = torch.cat([a0[:, None], grad], dim=1).detach().cpu().numpy().astype(float)
        if polish:
            from problems.boltzmann import monomials as mono
            mfull = mono(mu, N)
            target = np.concatenate([np.ones((len(x), 1)), x], axis=1)
            fq = np.exp(alpha @ mfull) * w
            g = fq @ mfull.T - target
            for _ in range(polish):
                H = np.einsum("bq,iq,jq->bij", fq, mfull, mfull)
                trial = alpha - np.linalg.solve(H, g[..., None])[..., 0]
                with np.errstate(over="ignore", invalid="ignore"):
                    fq_t = np.exp(trial @ mfull) * w
                    g_t = fq_t @ mfull.T - target
                # safeguard: keep the step only where it lowers the moment residual
                better = np.linalg.norm(g_t, axis=1) < np.linalg.norm(g, axis=1)
                alpha = np.where(better[:, None], trial, alpha)
                fq = np.where(better[:, None], fq_t, fq)
                g = np.where(better[:, None], g_t, g)
        return alpha

    return predict
