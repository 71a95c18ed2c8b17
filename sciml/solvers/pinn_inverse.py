"""Constant-coefficient recovery with a PINN (DeepXDE, the coefficient a trainable variable).

For -div(k grad u) = f with u = g on the boundary and point measurements
u_obs at x_obs, train the network and theta = log k together on the mean
squared PDE residual -k Δu - f, the boundary misfit and the data misfit
(DeepXDE's PointSetBC): Adam, then L-BFGS, both with theta among the
trained variables.  A piecewise-constant k is not offered: the strong-form
residual does not see the flux condition at the jumps.
"""
from __future__ import annotations

import contextlib
import io
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import InvalidOption, InvalidProblem, Solution, Solver, opt

__all__ = ["recover_constant_pinn", "PINNInverse"]


def recover_constant_pinn(problem: Any, x_obs: np.ndarray, u_obs: np.ndarray, *, initial: float = 1.0,
                          width: int = 32, depth: int = 3, n_domain: int = 500, n_boundary: int = 100,
                          adam_steps: int = 2000, lr: float = 1e-3, lbfgs_steps: int = 1000,
                          seed: int = 0, threads: int = 1) -> dict[str, Any]:
    """The recovered k, final loss and cost (``wall_s``, ``steps``)."""
    from .pinn import _set_lbfgs, import_deepxde
    from .pinn_elliptic import _torch_values, as_fn, geometry
    if problem.conditions_of("neumann") or problem.conditions_of("robin") or \
            [bc for bc in problem.conditions() if bc.part != "boundary"]:
        raise InvalidProblem("inverse: the PINN recovery takes a Dirichlet condition on the whole boundary")
    x_obs = np.atleast_2d(np.asarray(x_obs, dtype=float))
    u_obs = np.asarray(u_obs, dtype=float).reshape(-1, 1)
    if x_obs.shape != (len(u_obs), problem.d):
        raise InvalidOption(f"inverse: x_obs has shape {x_obs.shape}; expected ({len(u_obs)}, {problem.d})")
    dde = import_deepxde()
    import torch
    d = problem.d
    g = problem.conditions_of("dirichlet")[0].g
    f = as_fn(problem.source)
    t0 = time.perf_counter()
    from ..threads import limit_threads
    old_dtype = torch.get_default_dtype()
    try:
        with limit_threads(threads, torch=True), contextlib.redirect_stdout(io.StringIO()):
            dde.config.set_default_float("float64")
            dde.config.set_random_seed(int(seed))
            theta = dde.Variable(math.log(initial))

            def pde(x: Any, u: Any) -> Any:
                lap = sum(dde.grad.hessian(u, x, i=i, j=i) for i in range(d))
                return -torch.exp(theta) * lap - _torch_values(f, x, torch)

            geom = geometry(dde, problem.domain)
            bcs = [dde.icbc.DirichletBC(geom, lambda X: np.array(np.broadcast_to(
                       np.asarray(g(X.T, np), dtype=float), X.shape[:1])[:, None]), lambda _x, on_b: on_b),
                   dde.icbc.PointSetBC(x_obs, u_obs)]
            data = dde.data.PDE(geom, pde, bcs, num_domain=n_domain, num_boundary=n_boundary,
                                anchors=x_obs, train_distribution="Hammersley")
            net = dde.nn.FNN([d] + [width] * depth + [1], "tanh", "Glorot normal")
            model = dde.Model(data, net)
            if adam_steps:
                model.compile("adam", lr=lr, external_trainable_variables=[theta])
                model.train(iterations=adam_steps, display_every=max(1, adam_steps), verbose=0)
            if lbfgs_steps:
                _set_lbfgs(dde, lbfgs_steps)
                model.compile("L-BFGS", external_trainable_variables=[theta])
                model.train(display_every=max(1, lbfgs_steps), verbose=0)
    finally:
        torch.set_default_dtype(old_dtype)
    k = float(torch.exp(theta).detach())
    loss = float(np.sum(model.train_state.loss_train))
    return {"params": np.array([k]), "loss": loss, "steps": int(model.train_state.step),
            "wall_s": time.perf_counter() - t0}


@dataclass(frozen=True)
class PINNInverse(Solver):
    """``pinn-inverse``: the constant coefficient of an ``elliptic-inverse``
    problem with a PINN (:func:`recover_constant_pinn`: the network and
    log k trained together on the PDE residual, the boundary misfit and the
    data misfit; Adam then L-BFGS).  Piecewise-constant coefficients are
    refused (the strong-form residual does not see the flux condition at the
    jumps): use ``fem-inverse``."""

    name = "pinn-inverse"
    requires = ("elliptic-inverse",)
    learned = True

    width: int = opt(32, lo=1)
    depth: int = opt(3, lo=1)
    n_domain: int = opt(500, lo=1)
    n_boundary: int = opt(100, lo=1)
    adam_steps: int = opt(200, lo=0)
    lr: float = opt(1e-3, lo=0.0, lo_open=True)
    lbfgs_steps: int = opt(1000, lo=0)
    initial: float = opt(1.0, lo=0.0, lo_open=True)
    threads: int = opt(1, lo=1)

    def __post_init__(self) -> None:
        if self.adam_steps + self.lbfgs_steps == 0:
            raise InvalidOption("pinn-inverse: adam_steps + lbfgs_steps must be positive (nothing would be trained)")

    def _solve(self, problem: Any, *, seed: int, device: str, progress: bool) -> Solution:
        import torch
        if device != "cpu" and not torch.cuda.is_available():
            raise InvalidOption(f"device={device!r} requested but CUDA is not available; use --device cpu")
        if problem.parametrisation != "constant":
            raise InvalidOption(f"pinn-inverse: parametrisation={problem.parametrisation!r} is not supported "
                                "(only constant); use the solver fem-inverse")
        x_obs, u_obs = problem.observations()
        r = recover_constant_pinn(problem.forward_problem(), x_obs.T, u_obs, initial=self.initial,
                                  width=self.width, depth=self.depth, n_domain=self.n_domain,
                                  n_boundary=self.n_boundary, adam_steps=self.adam_steps, lr=self.lr,
                                  lbfgs_steps=self.lbfgs_steps, seed=seed, threads=self.threads)
        k = np.asarray(r["params"], dtype=float)
        stats = {"wall_s": r["wall_s"], "steps": r["steps"], "final_loss": r["loss"], "params": k.tolist()}
        return Solution(value=problem.value_of(k), stats=stats, state={"params": k})
