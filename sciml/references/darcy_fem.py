"""The Darcy problem's reference: DOLFINx P1 solves of every test sample.

Re-solves each test coefficient with :class:`sciml.references.fem.DarcyFEM`
(the generator of the data, so the fields agree with the stored ones to
rounding; the largest difference is reported as ``max_diff_vs_data``) and
times the solves: ``fem_s_per_sample`` is the solve time per sample after
the one-off mesh/form setup, the cost a learned operator is compared with.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..core import InvalidOption, Problem, Solution, Solver


def grid_fn(fields: np.ndarray):
    """Bilinear interpolation of (N, S, S) grid fields at points (M, 2) -> (M, N)."""
    from scipy.interpolate import RegularGridInterpolator
    g = np.linspace(0.0, 1.0, fields.shape[-1])
    interp = RegularGridInterpolator((g, g), np.moveaxis(fields, 0, -1))
    return lambda x: interp(np.asarray(x, dtype=float)[:, :2])


@dataclass(frozen=True)
class DarcyReference(Solver):
    """FEM (P1, LU) solution of each Darcy test sample, timed per solve."""

    name = "darcy-fem"
    requires = ("darcy-coefficients",)

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        if device != "cpu":
            raise InvalidOption("darcy-fem runs on the CPU only; use --device cpu")
        from ..progress import bar
        from .fem import DarcyFEM
        sets = {problem.res: problem.test_set(), **problem.eval_sets()}
        state: dict[str, np.ndarray] = {}
        stats: dict[str, float] = {}
        for res, (a, u_data) in sets.items():
            fem = DarcyFEM(res, f=1.0, linear_solver="lu")
            u = np.empty_like(a, dtype=float)
            t0 = time.perf_counter()
            with bar(len(a), f"fem S={res}", progress, unit="solve") as pb:
                for n in range(len(a)):
                    u[n] = fem.solve(a[n])
                    pb.update(1)
            per = (time.perf_counter() - t0) / len(a)
            diff = float(np.max(np.abs(u - u_data)))
            if res == problem.res:
                state["u"] = u
                stats.update(fem_s_per_sample=per, max_diff_vs_data=diff, ndofs=int(fem.ndofs))
            else:
                state[f"u@res{res}"] = u
                stats[f"fem_s_per_sample@res{res}"] = per
        return Solution(fn=grid_fn(state["u"]), stats=stats, state=state)
