"""The `multilevel-picard` reference: full-history recursive MLP approximations.

Hutzenthaler, Jentzen, Kruse, Nguyen, von Wurstemberger, Proc. R. Soc. A 476
(2020) 20190630; numerics as in Becker et al., Commun. Comput. Phys. 28 (2020).
For du/dt + L u + f(t, x, u) = 0, u(T) = g, with X the diffusion of L from (t, x)::

    U_0 = 0,
    U_n(t, x) = 1/M^n sum_{i=1}^{M^n} g(X^{(0,-i)}_T)
              + sum_{l=0}^{n-1} (T - t)/M^{n-l} sum_{i=1}^{M^{n-l}}
                  [ f(R, X_R, U_l^{(l,i)}(R, X_R)) - 1_{l>0} f(R, X_R, U_{l-1}^{(-l,i)}(R, X_R)) ],

R = R^{(l,i)} uniform on [t, T], X_R = X^{(l,i)}_R, and the superscripts mark
independent copies (every recursive call draws fresh randomness).  For
l = 0 the term is f(R, X_R, 0); when f depends on u only it is f(0) whatever
(R, X_R), and no sample is drawn.  M = n by default.  X is xi + sqrt(2) W
(allen-cahn, sine-gordon), exact geometric Brownian motion (default-risk), or
xi + sigma W for a user's problem (problems.semilinear.Semilinear), whose own
f(t, x, u, z, xp) and g(x, xp) are compiled by Numba into the same recursion
(``_recursion`` is written once and compiled around each problem's f, g and
move; the user kernels are cached per pair of functions, the built-in ones on
disk).  f must not depend on the gradient z.  With ``clip`` the
argument of f is clipped to an interval the solution is known to lie in
(problem.solution_bounds(), the comparison principle), which leaves the PDE
unchanged but keeps the cubic of Allen-Cahn from amplifying outliers.

The recursion is compiled with Numba.  The top-level sum is split into
independent tasks (one per term of the outer sums with l >= 1, one for the whole
sum of g and one for l = 0, for every repeat) run
in parallel with ``prange``; each task owns a xoshiro256** state seeded from
(seed, repeat, task) and draws its normals by the ziggurat method
(sciml/references/_rng_numba.py: about 4x cheaper than Numba's np.random,
whose normals dominated the cost in d = 100), so results do not depend on
the thread count.  The
cost is counted exactly: evaluations of f and of g, and scalar normals drawn.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import CAPABILITIES, InvalidOption, Problem, Solution, Solver, opt
from ._rng_numba import kernels as _rng_kernels

__all__ = ["MultilevelPicard", "mlp_numba", "mlp_python", "mlp_cost"]

_KERNELS: dict[str, Any] = {}
#: (f, g, f depends on (t, x)) -> kernels compiled around a user's functions
_USER_KERNELS: dict[tuple[Any, ...], dict[str, Any]] = {}


def mlp_cost(n: int, M: int) -> tuple[int, int]:
    """(f evaluations, g evaluations) of one U_n with M samples, exactly."""
    F, G = [0] * (n + 1), [0] * (n + 1)
    for k in range(1, n + 1):
        G[k] = M ** k
        F[k] = 0
        for l in range(k):
            m = M ** (k - l)
            F[k] += m * (1 + F[l] + (1 + F[l - 1] if l > 0 else 0))
            G[k] += m * (G[l] + (G[l - 1] if l > 0 else 0))
    return F[n], G[n]


def _recursion(f_eval: Any, g_eval: Any, move: Any, f_tx: bool, cache: bool) -> dict[str, Any]:
    """The MLP recursion, written once, compiled around the given functions::

        f_eval(prm, t, x, u, zz) -> float     (zz: a zero gradient, f-without-gradient)
        g_eval(prm, y) -> float
        move(prm, x, dt, y, st, bk, bi)       (y <- X_{t+dt} given X_t = x, exactly)

    ``f_tx``: f depends on (t, x), so the l = 0 terms f(R, X_R, U_0) need their
    samples of (R, X_R); otherwise they are all f(0), drawn from nothing."""
    import numba as nb
    rng = _rng_kernels()
    uniform, seed_state = rng["uniform"], rng["seed_state"]

    @nb.njit(cache=cache)
    def clipped(u, lo, hi):
        return min(max(u, lo), hi)

    @nb.njit(cache=cache)
    def f_zero_mean(m, t, x, T, prm, lo, hi, cnt, st, bk, bi, y, zz):
        # mean over m samples of f(R, X_R, U_0 = 0), R uniform on [t, T]
        if not f_tx:
            cnt[0] += m
            return f_eval(prm, t, x, clipped(0.0, lo, hi), zz)
        s = 0.0
        for i in range(m):
            r = t + (T - t) * uniform(st)
            move(prm, x, r - t, y, st, bk, bi)
            s += f_eval(prm, r, y, clipped(0.0, lo, hi), zz)
        cnt[0] += m
        cnt[2] += m * x.size
        return s / m

    @nb.njit(cache=cache)
    def U(n, M, t, x, T, prm, lo, hi, cnt, st, bk, bi, ws, zz):
        if n == 0:
            return 0.0
        d = x.size
        y = ws[n]            # level n's point; the calls below (levels < n) use other rows
        mn = M ** n
        s = 0.0
        for i in range(mn):
            move(prm, x, T - t, y, st, bk, bi)
            s += g_eval(prm, y)
        cnt[1] += mn
        cnt[2] += mn * d
        res = s / mn
        # l = 0: U_0 = 0
        res += (T - t) * f_zero_mean(mn, t, x, T, prm, lo, hi, cnt, st, bk, bi, y, zz)
        for l in range(1, n):
            m = M ** (n - l)
            acc = 0.0
            for i in range(m):
                r = t + (T - t) * uniform(st)
                move(prm, x, r - t, y, st, bk, bi)
                cnt[2] += d
                a = f_eval(prm, r, y, clipped(U(l, M, r, y, T, prm, lo, hi, cnt, st, bk, bi, ws, zz), lo, hi), zz)
                cnt[0] += 1
                if l > 0:
                    a -= f_eval(prm, r, y, clipped(U(l - 1, M, r, y, T, prm, lo, hi, cnt, st, bk, bi, ws, zz),
                                                   lo, hi), zz)
                    cnt[0] += 1
                acc += a
            res += (T - t) * acc / m
        return res

    @nb.njit(cache=cache, parallel=True)
    def run(n, M, x, T, prm, lo, hi, seed, repeats, task_l, task_w):
        # task k of repeat j: level task_l[k] (-1: a g sample), weight task_w[k]
        nt = task_l.size
        out = np.zeros(repeats * nt)
        cnt = np.zeros((repeats * nt, 3), dtype=np.int64)
        for jk in nb.prange(repeats * nt):
            j = jk // nt
            k = jk - j * nt
            st = np.empty(4, dtype=np.uint64)
            seed_state(st, seed, j, k)
            bk = np.empty(x.size, dtype=np.int64)
            bi = np.empty(x.size, dtype=np.int64)
            zz = np.zeros(x.size)
            c = cnt[jk]
            ws = np.empty((n + 1, x.size))
            y = ws[n]
            l = task_l[k]
            if l == -1:               # all M^n samples of g, one task
                mn = M ** n
                s = 0.0
                for i in range(mn):
                    move(prm, x, T, y, st, bk, bi)
                    s += g_eval(prm, y)
                c[1] += mn
                c[2] += mn * x.size
                out[jk] = task_w[k] * s
            elif l == 0:              # all M^n terms f(R, X_R, U_0), one task
                out[jk] = task_w[k] * M ** n * f_zero_mean(M ** n, 0.0, x, T, prm, lo, hi, c, st, bk, bi, y, zz)
            else:
                r = T * uniform(st)
                move(prm, x, r, y, st, bk, bi)
                c[2] += x.size
                a = f_eval(prm, r, y, clipped(U(l, M, r, y, T, prm, lo, hi, c, st, bk, bi, ws, zz), lo, hi), zz)
                c[0] += 1
                if l > 0:
                    a -= f_eval(prm, r, y, clipped(U(l - 1, M, r, y, T, prm, lo, hi, c, st, bk, bi, ws, zz),
                                                   lo, hi), zz)
                    c[0] += 1
                out[jk] = task_w[k] * a
        return out, cnt

    return {"U": U, "run": run}


def _kernels() -> dict[str, Any]:
    """The built-in problems' hand-written kernels (compiled once per process,
    cached on disk); prm[8] holds the problem's code (0 allen-cahn, 1 sine-gordon,
    2 default-risk)."""
    if _KERNELS:
        return _KERNELS
    import numba as nb

    @nb.njit(cache=True)
    def f_eval(prm, t, x, u, zz):
        code = prm[8]
        if code == 0:
            return u - u * u * u
        if code == 1:
            return math.sin(u)
        # default risk: prm = delta, R, v_h, v_l, gamma_h, gamma_l, ...
        if u < prm[2]:
            q = prm[4]
        elif u >= prm[3]:
            q = prm[5]
        else:
            q = (prm[4] - prm[5]) / (prm[2] - prm[3]) * (u - prm[2]) + prm[4]
        return -(1.0 - prm[0]) * q * u - prm[1] * u

    @nb.njit(cache=True)
    def g_eval(prm, y):
        if prm[8] == 2:
            m = y[0]
            for k in range(1, y.size):
                if y[k] < m:
                    m = y[k]
            return m
        r = 0.0
        for k in range(y.size):
            r += y[k] * y[k]
        return 1.0 / (2.0 + 0.4 * r)

    fill_normals = _rng_kernels()["fill_normals"]

    @nb.njit(cache=True, inline="always")
    def move(prm, x, dt, y, st, bk, bi):
        # y <- X_{t+dt} given X_t = x (exact for both diffusions)
        fill_normals(st, y, bk, bi)
        if prm[8] == 2:
            mu, sig = prm[6], prm[7]
            a = (mu - 0.5 * sig * sig) * dt
            s = sig * math.sqrt(dt)
            for k in range(x.size):
                y[k] = x[k] * math.exp(a + s * y[k])
        else:
            s = math.sqrt(2.0 * dt)
            for k in range(x.size):
                y[k] = x[k] + s * y[k]

    _KERNELS.update(_recursion(f_eval, g_eval, move, False, True))
    return _KERNELS


def _user_kernels(problem: Any) -> dict[str, Any]:
    """Kernels around a user problem's own f and g, compiled once per pair of
    functions (and kept for the process): X = xi + sigma W, prm[0] = sigma."""
    import numba as nb
    from .. import userfn
    fns = problem.user_functions()
    f_tx = bool(getattr(problem, "f_depends_on_tx", True))
    key = (fns["f"], fns["g"], f_tx)
    if key in _USER_KERNELS:
        return _USER_KERNELS[key]
    d, own = problem.d, problem.name
    x = problem.xi() + 0.1
    fj = userfn.njit_xp(own, "f", fns["f"], (0.5 * problem.T, x, 0.5, np.zeros(d)))
    gj = userfn.njit_xp(own, "g", fns["g"], (x,))
    for key_, val in (("f", fj(0.5 * problem.T, x, 0.5, np.zeros(d))), ("g", gj(x))):
        if np.ndim(val) != 0:
            raise InvalidOption(f"{own}: {key_} returns shape {np.shape(val)} on one point x of shape ({d},); "
                                "it must return a number there (reduce over axis 0)")
    fill_normals = _rng_kernels()["fill_normals"]

    @nb.njit
    def f_eval(prm, t, x, u, zz):
        return float(fj(t, x, u, zz))

    @nb.njit
    def g_eval(prm, y):
        return float(gj(y))

    @nb.njit(inline="always")
    def move(prm, x, dt, y, st, bk, bi):
        fill_normals(st, y, bk, bi)
        s = prm[0] * math.sqrt(dt)
        for k in range(x.size):
            y[k] = x[k] + s * y[k]

    kernels = _recursion(f_eval, g_eval, move, f_tx, False)
    _USER_KERNELS[key] = kernels
    return kernels


def _tasks(n: int, M: int, T: float) -> tuple[np.ndarray, np.ndarray]:
    """Top-level tasks of U_n(0, xi): (level, weight of each term); level -1 is
    the whole Monte Carlo sum of g and level 0 the whole sum of f(U_0) = f(0)
    (one task each); every term of levels l >= 1 is its own task."""
    lv, w = [-1, 0], [1.0 / M ** n, T / M ** n]
    for l in range(1, n):
        m = M ** (n - l)
        lv += [l] * m
        w += [T / m] * m
    return np.array(lv, dtype=np.int64), np.array(w)


def _codes(problem: Any) -> tuple[int, np.ndarray]:
    code, prm = problem.mlp_code()
    prm = np.zeros(8) if prm.size < 8 else prm
    return int(code), np.ascontiguousarray(prm, dtype=float)


def _prepare(problem: Any) -> tuple[dict[str, Any], np.ndarray]:
    """(kernels, parameter vector): the hand-written kernels of a built-in
    problem, or kernels compiled around the user's own f and g."""
    if problem.user_functions() is not None:
        return _user_kernels(problem), np.array([float(problem.sigma)])
    code, prm = _codes(problem)
    return _kernels(), np.concatenate([prm[:8], [float(code)]])


def mlp_numba(problem: Any, level: int, M: int, seed: int, repeats: int = 1,
              clip: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(estimates per repeat, cost counts per repeat [f evals, g evals, normals])."""
    k, prm = _prepare(problem)
    lo, hi = (problem.solution_bounds() or (-math.inf, math.inf)) if clip else (-math.inf, math.inf)
    task_l, task_w = _tasks(level, M, problem.T)
    out, cnt = k["run"](level, M, np.ascontiguousarray(problem.xi(), dtype=float), float(problem.T), prm,
                        float(lo), float(hi), int(seed), int(repeats), task_l, task_w)
    nt = task_l.size
    est = np.array([math.fsum(out[j * nt:(j + 1) * nt]) for j in range(repeats)])
    cost = cnt.reshape(repeats, nt, 3).sum(axis=1)
    return est, cost


def mlp_python(problem: Any, level: int, M: int, seed: int, clip: bool = True) -> float:
    """The same recursion in plain NumPy/Python (the benchmark's baseline)."""
    rng = np.random.default_rng(seed)
    code, prm = _codes(problem)
    lo, hi = (problem.solution_bounds() or (-math.inf, math.inf)) if clip else (-math.inf, math.inf)
    T = float(problem.T)

    def f(u: float) -> float:
        return float(problem.f(np.array([min(max(u, lo), hi)]))[0])

    def move(x: np.ndarray, dt: float) -> np.ndarray:
        z = rng.standard_normal(x.size)
        if code == 2:
            return x * np.exp((prm[6] - 0.5 * prm[7] ** 2) * dt + prm[7] * math.sqrt(dt) * z)
        return x + math.sqrt(2.0 * dt) * z

    def g(y: np.ndarray) -> float:
        return float(np.min(y)) if code == 2 else 1.0 / (2.0 + 0.4 * float(y @ y))

    def U(n: int, t: float, x: np.ndarray) -> float:
        if n == 0:
            return 0.0
        res = sum(g(move(x, T - t)) for _ in range(M ** n)) / M ** n
        res += (T - t) * f(0.0)              # l = 0: U_0 = 0, no sample needed
        for l in range(1, n):
            m = M ** (n - l)
            acc = 0.0
            for _ in range(m):
                r = t + (T - t) * rng.random()
                y = move(x, r - t)
                acc += f(U(l, r, y)) - (f(U(l - 1, r, y)) if l > 0 else 0.0)
            res += (T - t) * acc / m
        return res

    return U(level, 0.0, problem.xi())


@dataclass(frozen=True)
class MultilevelPicard(Solver):
    """MLP estimate of u(0, xi); options ``level`` (n), ``M`` (0: M = n),
    ``repeats`` (independent runs; the value is their mean, the spread is in
    stats) and ``clip``."""

    name = "multilevel-picard"
    requires = ("semilinear", "f-without-gradient", "numba")

    level: int = opt(5, lo=1, hi=12)
    M: int = opt(0, lo=0, hi=10_000)
    repeats: int = opt(4, lo=1, hi=100_000)
    clip: bool = True

    def __post_init__(self) -> None:
        M = self.M or self.level
        f_evals, _ = mlp_cost(self.level, M)
        if f_evals * self.repeats > 5e11:
            raise InvalidOption(f"{self.name}: level={self.level}, M={M}, repeats={self.repeats} needs "
                                f"{f_evals * self.repeats:.2e} evaluations of f; lower level or repeats")

    @classmethod
    def missing(cls, problem: Problem) -> str | None:
        why = super().missing(problem)
        if why is None and getattr(problem, "user_functions", lambda: None)() is not None \
                and "brownian" not in problem.capabilities():
            return "it needs " + CAPABILITIES["brownian"]
        return why

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        M = self.M or self.level
        t0, c0 = time.perf_counter(), time.process_time()
        est, cost = mlp_numba(problem, self.level, M, seed, self.repeats, self.clip)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if not np.all(np.isfinite(est)):
            from ..core import SolverDiverged
            raise SolverDiverged(f"{self.name}: non-finite estimate at level {self.level}; use clip=true")
        value = float(np.mean(est))
        std = float(np.std(est, ddof=1)) if self.repeats > 1 else float("nan")
        stats = {"wall_s": wall, "cpu_s": cpu, "level": self.level, "M": M, "repeats": self.repeats,
                 "estimates": est.tolist(), "std": std,
                 "stderr": std / math.sqrt(self.repeats) if self.repeats > 1 else float("nan"),
                 "f_evals": int(cost[:, 0].sum()), "g_evals": int(cost[:, 1].sum()),
                 "normals": int(cost[:, 2].sum()), "solver": self.name}
        return Solution(value=value, stats=stats, state={"estimates": est, "cost": cost})
