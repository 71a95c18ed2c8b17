"""The `radial` reference: Strang splitting on the squared radius.

For du/dt + Δu + f(u) = 0, u(T, x) = g(|x|^2) (allen-cahn, sine-gordon, and
any problem with the ``radial`` capability: Semilinear(radial=True), whose flow
of u' = f(u) is an RK4 integration of the user's f) the solution is radial, u(t, x) = v(T - t, |x|^2), and R_s = |xi + sqrt(2) W_s|^2
is a scaled squared Bessel process: given R_s = r, R_{s+h} / (2h) is
noncentral chi-square with d degrees of freedom and noncentrality r / (2h),
in any dimension d.  One step of length h (in reversed time tau = T - t):

* the heat step v <- E[v(R_{s+h}) | R_s = r] is applied *exactly* to the
  piecewise-linear interpolant of v on a grid r_j = (j drho)^2 (uniform in
  rho = |x|, so fine near the origin).  Its weights are integrals of the hat
  functions against the transition density, in closed form through the
  identity  y p_k(y; lam) = k p_{k+2}(y; lam) + lam p_{k+4}(y; lam)  of the
  noncentral chi-square density, so each weight is a combination of the
  CDFs (scipy.stats.ncx2) at the two cell edges;
* the reaction step is the exact flow of u' = f(u) (``problem.flow``).

Strang splitting (half reaction, heat, half reaction) is second order in h;
the piecewise-linear interpolation errs by O(drho^2) per step, and these
errors accumulate over the T/h steps, so the error is O(h^2 + drho^2 / h).
Refining both together (drho ∝ h, nodes and steps doubled) the error is
therefore first order, ``ORDER_JOINT``, with a smooth expansion C h + O(h^2);
one Richardson step (``extrapolate=True``, the default: 2 v(fine) - v(coarse))
removes the leading term.  The tests fit both orders on refinements.  The grid ends at rho_max = |xi| + sqrt(2T)(sqrt(d) + width);
mass that would leave it stays at the last node (u is nearly constant out
there and such paths hardly ever come back to the start).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import InvalidOption, Problem, Solution, Solver, opt

__all__ = ["Radial", "transition_matrix", "radial_solve"]

ORDER_JOINT = 1.0          # nodes and steps doubled together: O(h^2 + drho^2 / h) = O(h)
ORDER_EXTRAPOLATED = 2.0   # after one Richardson step
ORDER_INTERPOLATION = 2.0  # one heat step: piecewise-linear interpolation in r, drho -> 0


def _band(rho: np.ndarray, h: float, d: int, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the rho interval that holds all but ~exp(-z^2/2) of the next step's law.

    |X'| = |x + sqrt(2h) Z| is 1-Lipschitz in sqrt(2h) Z, so it concentrates
    within z sqrt(2h) of its mean, which lies in [rho, sqrt(rho^2 + 2hd)].
    """
    s = math.sqrt(2.0 * h)
    lo = np.maximum(rho - z * s, 0.0)
    hi = np.sqrt(rho * rho + 2.0 * h * d) + z * s
    return lo, hi


def transition_matrix(rho: np.ndarray, h: float, d: int, *, z: float = 9.0):
    """Sparse matrix P with (P v)_i = E[I v(R_{s+h}) | R_s = rho_i^2], I the
    piecewise-linear interpolant in r on the nodes r_j = rho_j^2."""
    from scipy import sparse, special
    n = rho.size
    drho = rho[1] - rho[0]
    r = rho * rho
    y_nodes = r / (2.0 * h)                       # nodes in units of the chi-square variable
    lam = y_nodes                                 # noncentrality of each source node
    lo, hi = _band(rho, h, d, z)
    start = np.clip(np.floor(lo / drho).astype(np.int64) - 1, 0, n - 1)
    stop = np.clip(np.ceil(hi / drho).astype(np.int64) + 1, 0, n - 1)
    width = int(np.max(stop - start)) + 1
    k = np.arange(width)
    edges = np.minimum(start[:, None] + k[None, :], n - 1)          # (n, width) node indices
    y = y_nodes[edges]
    lam2 = np.broadcast_to(lam[:, None], y.shape)
    # CDFs of chi2'(d), chi2'(d+2), chi2'(d+4) at the edges; F1 = ∫_0^y t p(t) dt
    f0 = special.chndtr(y, d, lam2)
    f1 = d * special.chndtr(y, d + 2, lam2) + lam2 * special.chndtr(y, d + 4, lam2)
    ya, yb = y[:, :-1], y[:, 1:]
    i0 = np.diff(f0, axis=1)
    i1 = np.diff(f1, axis=1)
    dy = yb - ya
    ok = dy > 0                                   # clipped edges give empty cells
    dy_safe = np.where(ok, dy, 1.0)
    w_left = np.where(ok, (yb * i0 - i1) / dy_safe, 0.0)     # hat of the cell's left node
    w_right = np.where(ok, (i1 - ya * i0) / dy_safe, 0.0)    # hat of the cell's right node
    rows = np.repeat(np.arange(n), width - 1).reshape(n, width - 1)
    data = [w_left.ravel(), w_right.ravel()]
    cols = [edges[:, :-1].ravel(), edges[:, 1:].ravel()]
    rr = [rows.ravel(), rows.ravel()]
    # mass beyond the last node: constant extrapolation (only rows whose band reaches it)
    tail = np.where(stop == n - 1, 1.0 - f0[np.arange(n), stop - start], 0.0)
    data.append(tail)
    cols.append(np.full(n, n - 1))
    rr.append(np.arange(n))
    P = sparse.coo_matrix((np.concatenate(data), (np.concatenate(rr), np.concatenate(cols))),
                          shape=(n, n)).tocsr()
    # the band drops < 1e-17 of mass; renormalise so constants are kept exactly
    P = sparse.diags(1.0 / np.asarray(P.sum(axis=1)).ravel()) @ P
    return P


def radial_solve(problem: Any, nodes: int, steps: int, width: float = 10.0,
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """(rho grid, v(T, rho^2) = u(0, x) on it, nnz of the transition matrix)."""
    from ..progress import bar
    d, T = problem.d, problem.T
    xi = np.asarray(problem.xi(), dtype=float)
    rho0 = math.sqrt(float(xi @ xi))
    rho_max = rho0 + math.sqrt(2.0 * T) * (math.sqrt(d) + width)
    rho = np.linspace(0.0, rho_max, nodes)
    h = T / steps
    P = transition_matrix(rho, h, d)
    v = problem.g_radial(rho * rho)
    v = problem.flow(v, 0.5 * h)
    with bar(steps, "radial", progress) as b:
        for n in range(steps):
            v = P @ v
            v = problem.flow(v, h if n < steps - 1 else 0.5 * h)
            b.update(1)
    if not np.all(np.isfinite(v)):  # pragma: no cover - exact flows stay finite
        raise InvalidOption("radial: the solution became non-finite; refine steps")
    return rho, v, int(P.nnz)


@dataclass(frozen=True)
class Radial(Solver):
    """Radial Strang splitting (see module docstring).  Options: ``nodes`` on
    the rho grid, time ``steps``, ``width`` (grid end, in standard deviations
    of |W_T| beyond its mean) and ``extrapolate`` (also solve with 2 nodes - 1
    and 2 steps and return the Richardson combination)."""

    name = "radial"
    requires = ("semilinear", "radial")

    nodes: int = opt(1500, lo=10, hi=10_000_000)
    steps: int = opt(75, lo=1, hi=10_000_000)
    width: float = opt(10.0, lo=3.0, hi=100.0)
    extrapolate: bool = True

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        t0 = time.perf_counter()
        rho, v, nnz = radial_solve(problem, self.nodes, self.steps, self.width, progress)
        coarse = None
        if self.extrapolate:
            rho_f, v_f, nnz_f = radial_solve(problem, 2 * self.nodes - 1, 2 * self.steps, self.width, progress)
            xi = np.asarray(problem.value_point(), dtype=float)
            coarse = float(np.interp(float(xi @ xi), rho * rho, v))
            v = 2.0 * v_f - np.interp(rho_f * rho_f, rho * rho, v)
            rho, nnz = rho_f, nnz + nnz_f
        r = rho * rho

        def fn(x: np.ndarray) -> np.ndarray:
            rx = np.sum(np.atleast_2d(x) ** 2, axis=1)
            return np.interp(rx, r, v)

        value = float(fn(problem.value_point()[None, :])[0])
        stats = {"wall_s": time.perf_counter() - t0, "nodes": self.nodes, "steps": self.steps,
                 "nnz": nnz, "rho_max": float(rho[-1]), "solver": self.name}
        if coarse is not None:
            stats["coarse_value"] = coarse   # |value - coarse| bounds the error of the coarse solve
        return Solution(fn=fn, value=value, stats=stats, state={"rho": rho, "v": v})
