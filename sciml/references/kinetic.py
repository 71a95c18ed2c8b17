"""Classical kinetic solvers: ``spectral`` (homogeneous Boltzmann, Maxwell
molecules) and ``dvm`` (1D-1V BGK).

* :class:`Spectral`: Fourier-Galerkin method of Pareschi and Russo (SIAM J.
  Numer. Anal. 37 (2000) 1217) on the periodised box [-L, L)^dim with n modes
  per axis; ``fast=True`` uses the Mouhot-Pareschi (Math. Comp. 75 (2006) 1833)
  O(M n^d log n) evaluation (dim 2).  Classical RK4 in time (``order = 4``);
  each stage's Q is projected so that the discrete mass, momentum and energy
  (trapezoidal rule on the grid) are conserved to rounding.
* :class:`DVM`: discrete velocity method for BGK with Mieussens' discrete
  Maxwellian (J. Comput. Phys. 162 (2000) 429), which has exactly the discrete
  mass, momentum and energy of f; MUSCL (minmod) upwind finite volumes in x
  (second order), and the IMEX Runge-Kutta scheme ARS(2,2,2) (Ascher, Ruuth,
  Spiteri 1997): transport explicit, relaxation implicit, so that small kn
  does not restrict the time step (asymptotic preserving).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, ClassVar, Literal

import numpy as np

from ..core import InvalidOption, InvalidProblem, Problem, Solution, Solver, SolverDiverged, check_range, opt
from ..progress import bar

log = logging.getLogger(__name__)

__all__ = ["Spectral", "DVM", "rk4_homogeneous", "entropy"]


def entropy(f: np.ndarray, h: float, dim: int) -> float:
    """H(f) = ∫ f log f by the trapezoidal rule (f <= 0 contributes 0)."""
    fp = f[f > 0]
    return float(h ** dim * np.sum(fp * np.log(fp)))


def rk4_homogeneous(rhs: Callable[[np.ndarray], np.ndarray], f0: np.ndarray, t0: float, t1: float,
                    dt: float, *, h: float, progress: bool = False, name: str = "spectral"
                    ) -> tuple[np.ndarray, dict]:
    """Classical RK4 for df/dt = rhs(f) from t0 to t1 with a step <= dt.

    Returns the final f and stats: steps, the entropy history (t, H).
    """
    steps = max(1, math.ceil((t1 - t0) / dt - 1e-12))
    k = (t1 - t0) / steps
    f = f0.copy()
    dim = f.ndim
    times, ent = [t0], [entropy(f, h, dim)]
    with bar(steps, f"{name} RK4", progress) as pb:
        for s in range(steps):
            k1 = rhs(f)
            k2 = rhs(f + 0.5 * k * k1)
            k3 = rhs(f + 0.5 * k * k2)
            k4 = rhs(f + k * k3)
            f = f + (k / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            if not np.all(np.isfinite(f)):
                raise SolverDiverged(f"{name}: non-finite density at step {s + 1} "
                                     f"(t = {t0 + (s + 1) * k:.4g}); reduce dt", step=s + 1)
            times.append(t0 + (s + 1) * k)
            ent.append(entropy(f, h, dim))
            pb.update(1)
    return f, {"steps": steps, "dt": k, "entropy_t": times, "entropy": ent}


# ===================================================================== spectral
@dataclass(frozen=True)
class Spectral(Solver):
    """Fourier-Galerkin spectral method for Q(f, f), Maxwell molecules.

    Options: ``n`` modes per axis (even, >= 4), ``L`` box half-width (None:
    the problem's ``box_half_width()``), ``fast`` (Mouhot-Pareschi, dim 2),
    ``M`` angular directions of the fast method, ``dt`` RK4 step bound,
    ``conservative`` (project Q on zero discrete mass/momentum/energy).
    """

    name = "spectral"
    requires = ("boltzmann-homogeneous",)
    order: ClassVar[int] = 4  # RK4

    n: int = opt(32, lo=4, hi=256)
    L: float | None = None
    fast: bool = False
    M: int = opt(8, lo=1, hi=512)
    dt: float = opt(0.05, lo=0.0, hi=10.0, lo_open=True)
    conservative: bool = True

    def __post_init__(self) -> None:
        if self.n % 2:
            raise InvalidOption(f"{self.name}: n={self.n!r} must be even (modes -n/2..n/2-1)")
        if self.L is not None:
            check_range(self, "L", self.L, lo=0.0, lo_open=True, hi=100.0, error=InvalidOption)

    def check_sizes(self, problem: Problem, *, allow_large: bool = False) -> None:
        """RK4 steps (t1 - t0) / dt against the declared iteration limit, before any work
        (dt=1e-12 ran for hours)."""
        from ..limits import ALLOW_LARGE_HINT, COUNT_LIMIT
        steps = (problem.t1 - problem.t0) / self.dt
        if steps > COUNT_LIMIT and not allow_large:
            raise InvalidOption(f"{self.name}: dt={self.dt!r} from t0={problem.t0!r} to t1={problem.t1!r} is "
                                f"{steps:.3g} RK4 steps, above the declared limit of {COUNT_LIMIT:g} iterations; "
                                f"{ALLOW_LARGE_HINT}")

    def operator(self, problem: Problem):
        """The collision operator (operators.collision.MaxwellCollision) on this grid."""
        from operators.collision import MaxwellCollision
        if self.fast and problem.dim != 2:
            raise InvalidOption(f"{self.name}: fast=true is implemented for dim=2 only (the Maxwell "
                                "kernel separates in the Carleman form there); use fast=false in dim 3")
        L = self.L if self.L is not None else problem.box_half_width()
        return MaxwellCollision(problem.dim, self.n, L, "fast" if self.fast else "direct", M=self.M)

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        from operators.collision import conservative_projection, grid_moments, trig_eval, velocity_grid
        op = self.operator(problem)
        L, n, dim = op.L, self.n, problem.dim
        _, pts = velocity_grid(n, L, dim)
        h = 2.0 * L / n
        f0 = np.asarray(problem.initial(pts), dtype=float).reshape((n,) * dim)
        if f0.min() < -1e-12 * f0.max():
            raise InvalidProblem(f"{problem.name}: the initial density is negative (min {f0.min():.3g}); "
                                 "a density must be non-negative")
        project = conservative_projection(pts) if self.conservative else (lambda q: q)

        def rhs(f: np.ndarray) -> np.ndarray:
            return project(op(f))

        t_start = time.perf_counter()
        f1, st = rk4_homogeneous(rhs, f0, problem.t0, problem.t1, self.dt, h=h, progress=progress,
                                 name=self.name)
        stats = dict(st, wall_s=time.perf_counter() - t_start, solver=self.name, L=L, R=op.R,
                     n_collision_evals=4 * st["steps"],
                     moments_t0=grid_moments(f0, pts, h).tolist(), moments_t1=grid_moments(f1, pts, h).tolist())
        return Solution(fn=lambda x: trig_eval(f1, L, x), stats=stats,
                        state={"f": f1, "f0": f0, "L": np.array(L)})


# ========================================================================== dvm
def discrete_maxwellian(U: np.ndarray, v: np.ndarray, w: float, *, tol: float = 1e-14,
                        max_iter: int = 60) -> np.ndarray:
    """Mieussens' discrete Maxwellian: exp(a0 + a1 v + a2 v^2/2) with exactly the
    discrete moments U = (rho, rho u, E) (shape (3, nx)), by Newton's method
    started from the continuous Maxwellian.  Returns (nx, nv)."""
    m = np.stack([np.ones_like(v), v, 0.5 * v * v])  # (3, nv)
    rho, mom, E = U
    u = mom / rho
    T = 2.0 * (E / rho - 0.5 * u * u)
    if np.any(rho <= 0) or np.any(T <= 0):
        raise SolverDiverged("dvm: non-positive density or temperature; reduce cfl")
    a = np.stack([np.log(rho / np.sqrt(2 * math.pi * T)) - u * u / (2 * T), u / T, -1.0 / T])  # (3, nx)
    for _ in range(max_iter):
        M = np.exp(a.T @ m)  # (nx, nv)
        res = w * (M @ m.T).T - U  # (3, nx)
        J = w * np.einsum("in,jn,xn->xij", m, m, M)
        da = np.linalg.solve(J, -res.T[..., None])[..., 0].T
        a = a + da
        if np.all(np.abs(res) <= tol * np.abs(U).max(axis=0, keepdims=True)):
            break
    else:
        raise SolverDiverged("dvm: the discrete Maxwellian did not converge; the velocity grid "
                             "does not resolve the local temperature (raise nv or v_max)")
    return np.exp(a.T @ m)


def _minmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(a * b > 0, np.sign(a) * np.minimum(np.abs(a), np.abs(b)), 0.0)


@dataclass(frozen=True)
class DVM(Solver):
    """Discrete velocity method for 1D-1V BGK problems (``bgk-sod``, ``bgk``): the problem
    gives the interval ``domain``, the boundary kind ``walls`` (specular: ghost cells mirror
    the first two cells in v; periodic) and ``initial_f(x, v)`` on the grid.

    Options: ``nx`` cells, ``nv`` velocities (odd, symmetric on [-v_max, v_max]),
    ``cfl`` (dt = cfl dx / v_max), ``limiter`` (minmod: second order away from
    extrema; none: first-order upwind).
    """

    name = "dvm"
    requires = ("bgk-1d",)
    order: ClassVar[int] = 2

    nx: int = opt(400, lo=10, hi=100000)
    nv: int = opt(101, lo=9, hi=10001)
    cfl: float = opt(0.5, lo=0.0, hi=1.0, lo_open=True)
    limiter: Literal["minmod", "none"] = "minmod"

    def __post_init__(self) -> None:
        if self.nv % 2 == 0:
            raise InvalidOption(f"{self.name}: nv={self.nv!r} must be odd (a velocity grid symmetric about 0)")

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        t_start = time.perf_counter()
        nx, kn = self.nx, problem.kn
        a, b = problem.domain
        dx = (b - a) / nx
        x = a + dx * (np.arange(nx) + 0.5)
        v = np.linspace(-problem.v_max, problem.v_max, self.nv)
        w = v[1] - v[0]
        m = np.stack([np.ones_like(v), v, 0.5 * v * v])
        moments = lambda f: w * (f @ m.T).T  # (3, nx)  # noqa: E731

        f = self._initial(problem, x, v)
        periodic = problem.walls == "periodic"
        vp, vm = np.maximum(v, 0.0), np.minimum(v, 0.0)

        def transport(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if periodic:  # ghost cells: the last two cells on the left, the first two on the right
                g = np.concatenate([f[-2:], f, f[:2]], axis=0)
            else:  # specular walls: ghost cells mirror the first two cells in v
                g = np.concatenate([f[1::-1, ::-1], f, f[:-3:-1, ::-1]], axis=0)
            if self.limiter == "minmod":
                s = _minmod(g[1:-1] - g[:-2], g[2:] - g[1:-1])  # slopes of cells -1..nx
            else:
                s = np.zeros_like(g[1:-1])
            left_states = g[1:-2] + 0.5 * s[:-1]   # at interfaces -1/2..nx-1/2, from the left
            right_states = g[2:-1] - 0.5 * s[1:]   # from the right
            F = vp * left_states + vm * right_states  # (nx+1, nv)
            wall = w * ((F[0] - F[-1]) @ m.T)  # net inflow of (mass, momentum, energy) through walls
            return -(F[1:] - F[:-1]) / dx, wall

        def relax(ftilde: np.ndarray, a: float) -> np.ndarray:
            # solve f = ftilde + a (M[f] - f)/kn; the moments of f equal those of ftilde
            M = discrete_maxwellian(moments(ftilde), v, w)
            return (kn * ftilde + a * M) / (kn + a)

        dt_max = self.cfl * dx / problem.v_max
        steps = max(1, math.ceil(problem.t1 / dt_max - 1e-12))
        dt = problem.t1 / steps
        gam = 1.0 - 1.0 / math.sqrt(2.0)
        dlt = 1.0 - 1.0 / (2.0 * gam)
        U0 = moments(f).sum(axis=1) * dx
        impulse = np.zeros(3)
        with bar(steps, "dvm IMEX", progress) as pb:
            for n in range(steps):
                E1, W1 = transport(f)
                f2 = relax(f + dt * gam * E1, dt * gam)
                I2 = (f2 - (f + dt * gam * E1)) / (dt * gam)
                E2, W2 = transport(f2)
                f = relax(f + dt * (dlt * E1 + (1 - dlt) * E2) + dt * (1 - gam) * I2, dt * gam)
                impulse += dt * (dlt * W1 + (1 - dlt) * W2)
                if not np.all(np.isfinite(f)):
                    raise SolverDiverged(f"dvm: non-finite f at step {n + 1}; reduce cfl", step=n + 1)
                pb.update(1)
        U = moments(f)
        U1 = U.sum(axis=1) * dx
        rho, mom, E = U
        uu = mom / rho
        T = 2.0 * (E / rho - 0.5 * uu * uu)
        stats = {"wall_s": time.perf_counter() - t_start, "solver": self.name, "steps": steps, "dt": dt,
                 "moments_t0": U0.tolist(),
                 # momentum is changed by the wall pressure; subtract the exact discrete impulse
                 "moments_t1": (U1 - np.array([0.0, impulse[1], 0.0])).tolist(),
                 "wall_impulse": impulse.tolist(), "min_f": float(f.min()), "walls": problem.walls}
        period = (b - a) if periodic else None  # periodic: interpolate across the boundary too
        return Solution(fn=lambda q: np.interp(np.atleast_2d(q)[:, 0], x, rho, period=period), stats=stats,
                        state={"x": x, "rho": rho, "u": uu, "T": T, "v": v, "f": f})

    @staticmethod
    def _initial(problem: Problem, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The problem's initial distribution on this grid, checked again here (the problem
        checked it on its own grid): shape (nx, nv), finite, non-negative."""
        f = np.asarray(problem.initial_f(x, v), dtype=float)
        if f.shape != (len(x), len(v)):
            raise InvalidProblem(f"{problem.name}: initial_f returned shape {f.shape}; expected {(len(x), len(v))}")
        if not np.all(np.isfinite(f)):
            raise InvalidProblem(f"{problem.name}: the initial distribution is not finite on the dvm grid")
        if f.min() < -1e-12 * max(f.max(), 0.0) or f.max() <= 0.0:
            i, j = np.unravel_index(np.argmin(f), f.shape)
            raise InvalidProblem(f"{problem.name}: the initial distribution is negative or zero on the dvm grid "
                                 f"(min {f.min():.3g} at x = {x[i]:.4g}, v = {v[j]:.4g}); it must be a "
                                 "non-negative density of positive mass")
        return f
