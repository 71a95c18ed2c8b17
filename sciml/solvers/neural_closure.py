"""`neural-closure`: an input-convex neural network (ICNN) entropy closure for M_N.

Following Schotthöfer, Xiao, Frank and Hauck (ICML 2022): the entropy
``h(u) = max_α {α·(1, u) - <exp(α·m)>}`` of normalised moments u = (u1..uN)
is convex, and its gradient is the Lagrange multiplier vector α_1..α_N.  An
ICNN (Amos, Xu, Kolter 2017) ``h_θ`` models h; ``α_θ = ∇h_θ(u)`` by automatic
differentiation, and α_0 follows from the normalisation <exp(α·m)> = 1
(Gauss-Legendre quadrature): the scale reduction u_0 = 1 is exact, so the
network only learns the map on the N-dimensional normalised set.  Convexity
of h_θ holds by construction (non-negative weights on the hidden path, convex
non-decreasing softplus) and survives the two structural wrappers:

* whitening: the ICNN sees x = W^T (u - ū) (ū, W from the training moments'
  mean and covariance).  An affine change of variables keeps convexity; the
  monomial moments are strongly correlated (u4 ~ u2^2 ...), and without it
  Adam fits the thin directions of the set very slowly.
* reflection symmetry μ -> -μ (u_k -> (-1)^k u_k leaves h unchanged):
  ``h_θ(u) = (g(u) + g(S u)) / 2`` with g the whitened ICNN, a sum of convex
  functions, exactly symmetric.

Training data: multipliers α_1..α_N uniform in [-alpha_max, alpha_max]^N with
a seed of the solver (the test set of the problem uses a different, fixed
seed), their moments by quadrature (exact pairs, no Newton).  Loss: the mean
relative moment reconstruction error |<m exp(α_θ·m)> - (1, u)| / |(1, u)|
(the quantity the closure is judged on; α_θ normalised) plus ``w_sobolev``
times the Sobolev terms mean (h_θ - h)^2 + mean |∇h_θ - α|^2, which guide the
early phase (α itself is ill-conditioned for N >= 3: Newton recovers it to
1e-2 only).  Mini-batch Adam with cosine decay, float64.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import InvalidOption, InvalidProblem, Problem, Solution, Solver, opt

log = logging.getLogger(__name__)

__all__ = ["NeuralClosure", "ICNN", "ClosureNet", "closure_predictor"]


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

        def gradient(self, x):
            """∇_x of forward(x) by a hand-written backward pass (no autograd graph:
            about half the time of autograd on large inference batches)."""
            sp, sig = nn.functional.softplus, torch.sigmoid
            with torch.no_grad():
                acts = [self.inp[0](x)]
                hid = [sp(W) for W in self.hid]
                for k in range(1, len(self.inp)):
                    acts.append(sp(acts[-1]) @ hid[k - 1].T + self.inp[k](x))
                d = sig(acts[-1]) * sp(self.out_z)
                g = d @ self.inp[-1].weight + self.out_x.weight[0]
                for k in range(len(self.inp) - 1, 0, -1):
                    d = (d @ hid[k - 1]) * sig(acts[k - 1])
                    g = g + d @ self.inp[k - 1].weight
            return g

    return _ICNN()


def ClosureNet(N: int, width: int, depth: int, shift=None, whitening=None, symmetric: bool = True):
    """h_θ(u) for normalised moments u (B, N): an ICNN of the whitened moments
    x = (u - shift) @ whitening, symmetrised under u_k -> (-1)^k u_k if ``symmetric``.
    Convex in u (affine input map, sum of convex functions)."""
    import torch
    from torch import nn

    class _ClosureNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.icnn = ICNN(N, width, depth)
            dt = torch.get_default_dtype()
            self.register_buffer("shift", torch.zeros(N, dtype=dt) if shift is None
                                 else torch.as_tensor(shift, dtype=dt))
            self.register_buffer("whitening", torch.eye(N, dtype=dt) if whitening is None
                                 else torch.as_tensor(whitening, dtype=dt))
            self.register_buffer("sign", torch.tensor([(-1.0) ** k for k in range(1, N + 1)], dtype=dt))
            self.symmetric = symmetric

        def forward(self, u):
            if not self.symmetric:
                return self.icnn((u - self.shift) @ self.whitening)
            # one pass over [u; S u] (cheaper than two calls), then the average
            both = torch.cat([u, u * self.sign], dim=0)
            out = self.icnn((both - self.shift) @ self.whitening)
            return 0.5 * (out[: len(u)] + out[len(u):])

        def gradient(self, u):
            """∇_u h_θ(u) without autograd (the chain rule through the affine maps by hand)."""
            if not self.symmetric:
                return self.icnn.gradient((u - self.shift) @ self.whitening) @ self.whitening.T
            # one pass over [u; S u] (half the calls of two passes), then the average
            both = torch.cat([u, u * self.sign], dim=0)
            g = self.icnn.gradient((both - self.shift) @ self.whitening) @ self.whitening.T
            return 0.5 * (g[: len(u)] + g[len(u):] * self.sign)

    return _ClosureNet()


def whitening_of(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, W) with (u - mean) @ W of identity covariance (eigen-decomposition)."""
    mean = u.mean(axis=0)
    ev, V = np.linalg.eigh(np.atleast_2d(np.cov(u.T)))
    return mean, V / np.sqrt(ev)


@dataclass(frozen=True)
class NeuralClosure(Solver):
    """ICNN entropy closure of M_N (problem ``mn-closure``).

    Options: ``width``, ``depth`` of the ICNN, ``n_train`` samples,
    ``steps`` of mini-batch Adam (``batch`` samples each), ``lr`` initial
    learning rate (cosine decay to lr/1000), ``w_moments`` and ``w_sobolev``
    the loss weights (``w_moments=0, w_sobolev=1``: the plain Sobolev loss of
    Schotthöfer et al.), ``whiten`` and ``symmetric`` the structural wrappers
    (module docstring), ``polish`` Newton steps after the network.
    """

    name = "neural-closure"
    requires = ("moment-closure",)
    learned = True

    width: int = opt(32, lo=4, hi=1024)
    depth: int = opt(4, lo=1, hi=16)
    n_train: int = opt(20000, lo=10, hi=10 ** 7)
    steps: int = opt(64000, lo=1, hi=10 ** 7)
    batch: int = opt(64, lo=1, hi=10 ** 6)
    lr: float = opt(0.1, lo=0.0, hi=1.0, lo_open=True)
    w_moments: float = opt(1.0, lo=0.0)   # weight of the mean relative moment reconstruction error
    w_sobolev: float = opt(1e-3, lo=0.0)  # weight of mean (h_θ - h)^2 + mean |∇h_θ - α|^2
    whiten: bool = True
    # None: symmetrise for N >= 3 only (N = 2 is accurate without it, and the
    # symmetrised network costs two passes at inference)
    symmetric: bool | None = None
    polish: int = opt(0, lo=0, hi=50)  # Newton steps after the network (0: the pure neural closure)
    threads: int = opt(1, lo=1, hi=256)  # torch threads while training (restored after)

    def __post_init__(self) -> None:
        if self.w_moments == 0.0 and self.w_sobolev == 0.0:
            raise InvalidOption(f"{self.name}: w_moments and w_sobolev are both 0 (no loss); make one positive")

    def is_symmetric(self, N: int) -> bool:
        return self.symmetric if self.symmetric is not None else N >= 3

    def train(self, problem: Problem, seed: int, device: str, progress: bool):
        import torch

        from ..references.entropy_closure import closure_quadrature, monomials, sample_closure_moments
        from ..torch_utils import seeded, torch_device
        from ..training import train
        dev = torch_device(device)
        N = problem.N
        u, a = sample_closure_moments(N, self.n_train, problem.alpha_max, seed)
        h = problem.entropy(a, u)
        X = torch.tensor(u, dtype=torch.float64, device=dev)
        Ht = torch.tensor(h, dtype=torch.float64, device=dev)
        At = torch.tensor(a[:, 1:], dtype=torch.float64, device=dev)
        scale = torch.sqrt(1.0 + (X ** 2).sum(1))  # |(1, u)|, the metric's denominator
        mu, w = closure_quadrature()
        M = torch.tensor(monomials(mu, N)[1:], dtype=torch.float64, device=dev)
        logw = torch.log(torch.tensor(w, dtype=torch.float64, device=dev))
        shift, white = whitening_of(u) if self.whiten else (None, None)
        with seeded(seed, str(dev)):
            net = ClosureNet(N, self.width, self.depth, shift, white, self.is_symmetric(N)).double().to(dev)
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(seed))

        def loss_fn(step: int) -> Any:
            idx = torch.randint(0, len(X), (min(self.batch, len(X)),), generator=gen, device=dev)
            xb = X[idx].requires_grad_(True)
            hp = net(xb)
            grad, = torch.autograd.grad(hp.sum(), xb, create_graph=True)
            loss = torch.zeros((), dtype=torch.float64, device=dev)
            if self.w_moments:
                # reconstructed normalised moments: softmax(α·m + log w) @ m (α_0 exact)
                rec = torch.softmax(grad @ M + logw, dim=1) @ M.T
                # |.| with a tiny floor: differentiable at a perfect fit
                err = torch.sqrt(((rec - X[idx]) ** 2).sum(1) + 1e-24) / scale[idx]
                loss = loss + self.w_moments * err.mean()
            if self.w_sobolev:
                loss = loss + self.w_sobolev * (((hp - Ht[idx]) ** 2).mean()
                                                + ((grad - At[idx]) ** 2).sum(1).mean())
            return loss

        record = train(net.parameters(), loss_fn, steps=self.steps, lr=self.lr, solver=self.name,
                       schedule=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(
                           opt, self.steps, eta_min=self.lr * 1e-3),
                       progress=progress, desc="neural-closure", device=dev)
        return net, record.loss_history

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from ..torch_utils import count_parameters
        t0 = time.perf_counter()
        net, history = self.train(problem, seed, device, progress)
        predict = closure_predictor(net, problem.N, device, polish=self.polish)

        def fn(x: np.ndarray) -> np.ndarray:
            from ..references.entropy_closure import realisable
            x = np.atleast_2d(np.asarray(x, dtype=float))
            if not np.all(realisable(x, problem.N)):
                raise InvalidProblem(f"{self.name}: a moment vector is outside the realisable set")
            return predict(x)

        stats = {"solver": self.name, "train_s": time.perf_counter() - t0, "steps": len(history),
                 "loss_history": history, "final_loss": history[-1], "parameters": count_parameters(net)}
        return Solution(fn=fn, stats=stats, state={"loss": np.array(history)})


def closure_predictor(net, N: int, device: str = "cpu", dtype: str = "float64", polish: int = 0,
                      chunk: int = 2048):
    """x (B, N) -> α (B, N + 1): α_1..N = ∇h_θ, α_0 from <exp(α·m)> = 1;
    then ``polish`` full Newton steps on the dual (a hybrid closure; 0 = pure network).
    Evaluated in blocks of ``chunk`` rows (the same numbers, faster on a CPU)."""
    import torch

    from ..references.entropy_closure import closure_quadrature, monomials
    mu, w = closure_quadrature()
    import copy
    tdt = torch.float64 if dtype == "float64" else torch.float32
    m = torch.tensor(monomials(mu, N)[1:], dtype=tdt, device=device)
    wt = torch.tensor(w, dtype=tdt, device=device)
    net = copy.deepcopy(net).to(tdt)  # a copy: the caller's network keeps its precision

    def multipliers(X):
        if hasattr(net, "gradient"):
            grad = net.gradient(X)
        else:
            X = X.clone().requires_grad_(True)
            grad, = torch.autograd.grad(net(X).sum(), X)
        with torch.no_grad():
            a0 = -torch.log(torch.exp(grad @ m) @ wt)
        return torch.cat([a0[:, None], grad.detach()], dim=1)

    def predict(x: np.ndarray) -> np.ndarray:
        X = torch.tensor(x, dtype=tdt, device=device)
        # blocks of `chunk` rows keep the (rows x width) intermediates in cache: on one CPU
        # core this halves the time of a 1e5 batch against a single pass (measured: 2048 rows,
        # i.e. 4096 for the symmetrised net's two copies, beats 1024 slightly and 4096 by 1.6x)
        alpha = torch.cat([multipliers(X[i:i + chunk]) for i in range(0, len(X), chunk)])
        alpha = alpha.cpu().numpy().astype(float)
        if polish:
            from ..references.entropy_closure import monomials as mono
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
