"""Physics-informed neural networks through DeepXDE (PyTorch backend).

The backend variable ``DDE_BACKEND`` is set here, and only here, before
DeepXDE is first imported.  DeepXDE prints to stdout; the adapter sends
that to stderr so that ``sciml solve --json`` keeps stdout for the record.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..core import (InvalidOption, MissingDependency, Problem, Solution, Solver, SolverDiverged, check_range, opt)
from ..progress import bar

log = logging.getLogger(__name__)

__all__ = ["PINN", "import_deepxde"]


def import_deepxde() -> Any:
    """Import DeepXDE with the PyTorch backend (raises MissingDependency)."""
    current = os.environ.get("DDE_BACKEND")
    if "deepxde" in sys.modules:
        dde = sys.modules["deepxde"]
        if dde.backend.backend_name != "pytorch":
            raise MissingDependency(f"deepxde was already imported with backend {dde.backend.backend_name!r}; "
                                    "sciml's PINN needs the pytorch backend (set DDE_BACKEND=pytorch)")
        return dde
    if current not in (None, "pytorch"):
        raise MissingDependency(f"DDE_BACKEND={current!r}; sciml's PINN needs DDE_BACKEND=pytorch")
    os.environ["DDE_BACKEND"] = "pytorch"
    banner = io.StringIO()  # DeepXDE prints a 3-line backend banner on import: kept out of every message
    try:
        with contextlib.redirect_stdout(banner), contextlib.redirect_stderr(banner):
            import deepxde as dde
    except ImportError as exc:
        raise MissingDependency(f"deepxde is not importable ({exc}); run scripts/setup.sh") from None
    finally:
        if banner.getvalue().strip():
            logging.getLogger(__name__).debug("deepxde: %s", banner.getvalue().strip())
    return dde


def _geometry(dde: Any, d: int) -> Any:
    if d == 1:
        return dde.geometry.Interval(0.0, 1.0)
    if d == 2:
        return dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0])
    return dde.geometry.Cuboid([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])


def _set_lbfgs(dde: Any, maxiter: int) -> None:
    """L-BFGS for ``maxiter`` iterations in chunks of at most 1000.

    DeepXDE 1.15's ``set_LBFGS_options`` leaves the per-chunk limits of the
    PyTorch backend at 1000 iterations, so a smaller ``maxiter`` would still
    run 1000; the chunk sizes are set here to match.
    """
    dde.optimizers.set_LBFGS_options(maxiter=maxiter, ftol=0.0, gtol=1e-12)
    opts = dde.optimizers.LBFGS_options
    opts["iter_per_step"] = min(1000, maxiter)
    opts["fun_per_step"] = int(1.25 * opts["iter_per_step"])


@dataclass(frozen=True)
class PINN(Solver):
    """A PINN for ``poisson``: minimise the mean squared PDE residual -Δu - f at
    ``n_domain`` collocation points plus the mean squared boundary misfit
    u - g at ``n_boundary`` boundary points (DeepXDE's soft constraints),
    with ``adam_steps`` Adam steps at rate ``lr`` then up to
    ``lbfgs_steps`` L-BFGS iterations.  Fully connected network of
    ``depth`` hidden layers of ``width`` units, Glorot-normal initialisation.
    ``sampler`` is DeepXDE's train distribution (``Hammersley``, ``Sobol``,
    ``uniform``, ``pseudo``).  ``dtype`` float64 makes L-BFGS converge
    further at about twice the cost.  ``threads`` is torch's intra-op thread
    count during training (default 1: for networks this small a second thread
    gains little, and on a shared machine OpenMP barriers with a descheduled
    thread made L-BFGS about 6x slower in CPU time).

    For ``elliptic`` problems the residual is -div(A grad u) + c u - f, with
    Neumann/Robin residuals on their parts; ``hard_dirichlet`` builds a
    Dirichlet condition on the whole boundary into the network (u = g +
    phi N, phi the domain's approximate distance function) instead of a
    misfit term (sciml/solvers/pinn_elliptic.py).
    """

    name = "pinn"
    requires = ("pde-on-domain",)
    learned = True

    width: int = 32
    depth: int = 3
    activation: Literal["tanh", "sin", "sigmoid", "relu", "silu", "gelu"] = "tanh"
    n_domain: int = 1000
    n_boundary: int = 200
    adam_steps: int = opt(1000, lo=0)
    lr: float = opt(1e-3, lo=0, lo_open=True)
    lbfgs_steps: int = opt(2000, lo=0)
    sampler: Literal["Hammersley", "Sobol", "uniform", "pseudo", "LHS", "Halton"] = "Hammersley"
    dtype: Literal["float32", "float64"] = "float64"
    threads: int = opt(1, lo=1)
    hard_dirichlet: bool = False

    def __post_init__(self) -> None:
        for key in ("width", "depth", "n_domain", "n_boundary"):
            check_range(self, key, getattr(self, key), lo=1, error=InvalidOption)
        if self.adam_steps + self.lbfgs_steps == 0:
            raise InvalidOption("pinn: adam_steps + lbfgs_steps must be positive (nothing would be trained)")

    # -- DeepXDE model
    def build(self, problem: Problem, dde: Any) -> Any:
        """The DeepXDE Model (data + network) for ``problem``; not yet compiled."""
        import torch
        if hasattr(problem, "spatial"):  # a Parabolic problem: space-time collocation
            from .pinn_elliptic import build_parabolic
            return build_parabolic(self, problem, dde)
        if hasattr(problem, "conditions"):  # an Elliptic problem (poisson keeps its own model below)
            from .pinn_elliptic import build_elliptic
            return build_elliptic(self, problem, dde)
        d = problem.d

        def pde(x: Any, u: Any) -> Any:
            lap = sum(dde.grad.hessian(u, x, i=i, j=i) for i in range(d))
            return -lap - problem.source_expr(x.T, torch)[:, None]

        geom = _geometry(dde, d)
        bc = dde.icbc.DirichletBC(geom, lambda x: problem.exact(x)[:, None], lambda _x, on_b: on_b)
        data = dde.data.PDE(geom, pde, [bc], num_domain=self.n_domain, num_boundary=self.n_boundary,
                            train_distribution=self.sampler)
        net = dde.nn.FNN([d] + [self.width] * self.depth + [1], self.activation, "Glorot normal")
        return dde.Model(data, net)

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        dde = import_deepxde()
        import torch
        if device != "cpu" and not torch.cuda.is_available():
            raise InvalidOption(f"device={device!r} requested but CUDA is not available; use --device cpu")
        # DeepXDE's pytorch backend itself places tensors on the GPU when one is visible.
        # DeepXDE keeps its precision (torch's default dtype) and RNG as
        # process-wide settings: the adapter sets both for every solve and puts
        # torch's default dtype back afterwards (the solve template sets the threads).
        t0 = time.perf_counter()
        default_dtype = torch.get_default_dtype()
        try:
            with contextlib.redirect_stdout(sys.stderr if progress else io.StringIO()):
                dde.config.set_default_float(self.dtype)  # prints; stdout is redirected here
                dde.config.set_random_seed(int(seed))
                model = self.build(problem, dde)
                history, steps = self._train(dde, model, progress)
        finally:
            torch.set_default_dtype(default_dtype)
        wall = time.perf_counter() - t0
        net = model.net

        def evaluate(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=float)[:, : problem.d]
            if hasattr(problem, "spatial"):  # a parabolic problem: the answer is u(T, .)
                x = np.concatenate([x, np.full((len(x), 1), problem.T)], axis=1)
            with torch.no_grad():
                xt = torch.as_tensor(x, dtype=next(net.parameters()).dtype)
                return net(xt).cpu().numpy().reshape(-1).astype(float)

        n_params = int(sum(p.numel() for p in net.parameters()))
        state = {f"param_{i}": p.detach().cpu().numpy() for i, p in enumerate(net.parameters())}
        stats = {"wall_s": wall, "steps": steps, "parameters": n_params, "loss_history": history,
                 "final_loss": float(history[-1, 1]) if len(history) else math.nan}
        return Solution(fn=evaluate, stats=stats, state=state)

    def _train(self, dde: Any, model: Any, progress: bool) -> tuple[np.ndarray, int]:
        """Adam then L-BFGS; returns ((step, loss) rows, total steps)."""
        solver_name = self.name

        class Watch(dde.callbacks.Callback):
            """Records the loss at DeepXDE's display steps (every 100 Adam steps, every
            L-BFGS chunk), stops with SolverDiverged on a NaN/inf loss, drives the bar."""

            def __init__(self, pbar: Any, offset: int) -> None:
                super().__init__()
                self.pbar, self.offset, self.losses, self.last = pbar, offset, [], offset
                self.seen = None

            def on_epoch_end(self) -> None:
                step = int(self.model.train_state.step)  # cumulative over compiles
                self.pbar.update(step - self.last)
                self.last = step
                current = self.model.train_state.loss_train
                if current is self.seen:  # DeepXDE refreshes the loss only at display steps
                    return
                self.seen = current
                loss = float(np.sum(current))
                if not math.isfinite(loss) or loss > 1e12:
                    raise SolverDiverged(f"pinn: training loss became {loss!r} at step {step}; "
                                         "lower lr or use dtype=float64", step=step, loss=loss)
                self.losses.append((step, loss))

        total = self.adam_steps + self.lbfgs_steps
        losses: list[tuple[int, float]] = []
        with bar(total, "pinn", progress) as pbar:
            if self.adam_steps:
                watch = Watch(pbar, 0)
                model.compile("adam", lr=self.lr)
                model.train(iterations=self.adam_steps, display_every=min(100, self.adam_steps),
                            callbacks=[watch], verbose=0)
                losses += watch.losses
            if self.lbfgs_steps:
                _set_lbfgs(dde, self.lbfgs_steps)
                watch = Watch(pbar, self.adam_steps)
                model.compile("L-BFGS")
                model.train(display_every=max(1, self.lbfgs_steps), callbacks=[watch], verbose=0)
                losses += watch.losses
        steps = int(model.train_state.step)
        return np.asarray(losses, dtype=float).reshape(-1, 2), steps
