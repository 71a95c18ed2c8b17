"""The `monte-carlo` reference: u(T, x) = disc * E[phi(X_T^x)] at many points at once.

Feynman-Kac estimator with a standard error per point.  Sampling:

* ``scheme=auto`` (default): exact where the problem has an exact sampler, else Euler;
* ``scheme=exact``: X_T drawn exactly (Brownian motion: x + s0 sqrt(T) L Z;
  geometric Brownian motion: x ⊙ exp((mu - s²/2) T + s sqrt(T) L Z));
* ``scheme=euler``: Euler-Maruyama with ``steps`` steps for the whole
  affine-diagonal class dX = (mu ⊙ X) dt + diag(s0 + s1 ⊙ X) L dW (weak order 1).

``antithetic=true`` pairs each Z with -Z; a sample is then the pair mean, and
the standard error is computed from the pair means (so it stays honest).
Work is split into chunks of at most ``CHUNK`` samples, chunk c seeded from
``SeedSequence((seed, c))``: the same seed gives the same numbers whatever the
thread count.  ``rel_se > 0`` keeps adding chunks (doubling the sample count)
until the largest relative standard error over the points is below it.
The estimator's rate is declared as data: ``RATE = -0.5``.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from .. import progress as _progress
from ..core import InvalidOption, Problem, Solution, Solver, check_range, opt

log = logging.getLogger(__name__)

__all__ = ["MonteCarlo", "MonteCarloField", "CHUNK"]

#: Samples per chunk (a chunk is the unit of seeding and of parallel work).
CHUNK = 2048


@dataclass(frozen=True)
class MonteCarlo(Solver):
    """Monte Carlo reference for the Kolmogorov problems (``heat``, ``black-scholes``).

    Options: ``samples`` (number of samples per point; with ``antithetic``
    a sample is an antithetic pair), ``antithetic``, ``scheme`` (auto, exact or
    euler), ``steps`` (Euler steps), ``rel_se`` (target largest relative
    standard error; 0 = fixed ``samples``), ``max_samples`` (cap for ``rel_se``).
    """

    name = "monte-carlo"
    requires = ("kolmogorov",)
    learned = False
    cuda_engine = "numba"  # device="cuda": the kernels of _mc_cuda (Philox streams per path)
    RATE: ClassVar[float] = -0.5  # error ~ samples^RATE
    #: the same, in the study framework's convention (error ~ option^(-rate))
    rates: ClassVar[dict[str, dict[str, float]]] = {"samples": {"rel_l1": 0.5, "rel_l2": 0.5, "max": 0.5}}

    samples: int = opt(100_000, lo=2)
    antithetic: bool = False
    scheme: Literal["auto", "exact", "euler"] = "auto"
    steps: int = opt(50, lo=1)
    rel_se: float = opt(0.0, lo=0)
    max_samples: int = 50_000_000

    def __post_init__(self) -> None:
        if self.samples > self.max_samples:  # name the option the user set, not the default it exceeds
            raise InvalidOption(f"monte-carlo: samples={self.samples} exceeds max_samples={self.max_samples}; "
                                "lower samples or raise max_samples")
        check_range(self, "max_samples", self.max_samples, lo=self.samples, error=InvalidOption)

    # -------------------------------------------------------------- estimator
    def estimate(self, problem: Problem, x: np.ndarray, *, seed: int = 0,
                 progress: bool = False, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, int]:
        """(mean, standard error, samples) of u(T, x) at points x (N, d)."""
        from ..device import parse_device, resolve_device
        from . import _mc_kernels as K
        gpu = parse_device(resolve_device(device, self))[1]  # None on the CPU

        self.check_problem(problem)
        x = np.ascontiguousarray(problem.check_points(x))
        self.check_sizes(problem, x.shape[0])
        sde = problem.sde()
        if problem.user_functions() is not None:   # the user's own functions, compiled once
            kernel, args, steps = self._user_kernel(problem, sde, gpu)
        else:
            kernel = K.chunk_sums
            if self.scheme_for(problem) == "exact":
                kind = K.BROWNIAN if sde.kind == "brownian" else K.GBM
                scheme, steps = K.EXACT, 1
            else:
                kind, scheme, steps = K.GBM, K.EULER, int(self.steps)
            args = (kind, scheme, steps, float(problem.T), np.asarray(sde.drift, float), np.asarray(sde.s0, float),
                    np.asarray(sde.s1, float), np.ascontiguousarray(sde.L, dtype=float), bool(self.antithetic),
                    _code(problem), float(problem.strike))

        S1 = np.zeros(x.shape[0])
        S2 = np.zeros(x.shape[0])
        n_done, chunk0 = 0, 0
        target = int(self.samples)
        with _progress.bar(target, f"monte-carlo {problem.name}", progress, unit="sample") as bar:
            while True:
                counts = _chunk_counts(target - n_done)
                if gpu is not None:  # paths n_done, n_done + 1, ...: streams keyed by (seed, path)
                    from . import _mc_cuda
                    s1, s2 = (v[None] for v in _mc_cuda.path_sums(x, seed, n_done, int(counts.sum()), *args,
                                                                  index=gpu))
                else:
                    seeds = np.array([np.random.SeedSequence((int(seed), chunk0 + c)).generate_state(1)[0]
                                      for c in range(counts.size)], dtype=np.uint32)
                    work = int(counts.sum()) * x.size * steps
                    s1, s2 = _run(kernel, 1 if work < _SERIAL_WORK else counts.size, x, seeds, counts, *args)
                # sum in chunk order: deterministic whatever the thread count
                S1 += s1.sum(axis=0)
                S2 += s2.sum(axis=0)
                n_done += int(counts.sum())
                chunk0 += counts.size
                bar.update(int(counts.sum()))
                mean, se = _mean_se(S1, S2, n_done)
                if self.rel_se <= 0:
                    break
                worst = float(np.max(se / np.maximum(np.abs(mean), 1e-300)))
                log.info("monte-carlo: %d samples, largest relative standard error %.3e", n_done, worst)
                if worst <= self.rel_se:
                    break
                if n_done >= self.max_samples:
                    log.warning("monte-carlo: rel_se=%g not reached with max_samples=%d (got %.3e)",
                                self.rel_se, self.max_samples, worst)
                    break
                # standard error ~ n^{-1/2}: aim at the target with 10 % margin, at least double
                want = n_done * (worst / self.rel_se) ** 2 * 1.1
                target = int(min(self.max_samples, max(2 * n_done, math.ceil(want))))
                bar.total = target
        disc = problem.discount
        return disc * mean, disc * se, n_done

    def check_sizes(self, problem: Problem, n_points: int | None = None) -> None:
        """Refuse, before any work, arithmetic the kernel cannot represent
        (int32 step counters, an underflowing dt) and buffers that cannot fit."""
        from ..limits import check_memory, check_step
        import numba
        if n_points is None:  # what solve estimates: the test points and x0
            n_points = int(np.shape(problem.test_points())[0]) + 1
        steps = int(self.steps) if self.scheme_for(problem) == "euler" else 1
        if steps > 1:
            check_step(self.name, f"steps={self.steps} with T={problem.T!r}", float(problem.T), steps)
        threads = numba.get_num_threads()
        # per thread: z and w (steps x d), plus S1, S2 and the point buffers
        nbytes = threads * (2 * steps * problem.d + 4 * n_points) * 8 + n_points * problem.d * 16
        check_memory(self.name, f"steps={steps} with d={problem.d} on {threads} threads", nbytes,
                     hint="use fewer steps (the Euler bias is O(1/steps)) or scheme=exact")

    def scheme_for(self, problem: Problem) -> str:
        """The sampler used: ``auto`` is exact where the problem has an exact sampler
        (constant or affine-diagonal coefficients), Euler-Maruyama otherwise."""
        if self.scheme != "auto":
            return self.scheme
        return "exact" if problem.sde() is not None else "euler"

    def _user_kernel(self, problem: Problem, sde: Any, gpu: Any) -> tuple[Any, tuple[Any, ...], int]:
        """The compiled kernel, its arguments and step count for a user's problem."""
        from . import _mc_user
        if gpu is not None:
            raise InvalidOption(f"{self.name}: device=cuda runs the preset problems' kernels only; "
                                f"run problem {problem.name!r} with --device cpu")
        exact = self.scheme_for(problem) == "exact"
        if exact and sde is None:
            raise InvalidOption(f"{self.name}: scheme=exact needs a constant drift and diffusion; problem "
                                f"{problem.name!r} has a drift or diffusion function: use -o scheme=euler "
                                "(Euler-Maruyama with -o steps=N)")
        d = problem.d
        steps = 1 if exact else int(self.steps)
        if exact:
            shift, S = np.asarray(sde.shift, float), np.asarray(sde.s0, float)[:, None] * sde.L
        else:
            shift, S = np.zeros(d), np.zeros((d, d))
        kernel = _mc_user.kernel(problem, exact=exact)
        return kernel, (steps, float(problem.T), shift, np.ascontiguousarray(S), bool(self.antithetic)), steps

    def _solve(self, problem: Problem, *, seed: int, device: str, progress: bool) -> Solution:
        t0 = time.perf_counter()
        x = np.vstack([problem.test_points(), problem.value_point()[None, :]])
        mean, se, n = self.estimate(problem, x, seed=seed, progress=progress, device=device)
        wall = time.perf_counter() - t0
        field = MonteCarloField(self, problem, seed, x, mean, se)
        rel = se / np.maximum(np.abs(mean), 1e-300)
        stats = {"wall_s": wall, "samples": n, "antithetic": self.antithetic, "scheme": self.scheme_for(problem),
                 "stderr_max": float(se.max()), "rel_stderr_max": float(rel.max()),
                 "rel_stderr_mean": float(rel.mean()), "stderr_value": float(se[-1]),
                 "paths_x_dims_per_s": n * (2 if self.antithetic else 1) * x.shape[0] * problem.d / wall}
        return Solution(fn=field, value=float(mean[-1]), stats=stats,
                        state={"points": x, "estimate": mean, "stderr": se})


class MonteCarloField:
    """Callable u(T, x) backed by Monte Carlo estimates.

    Points already estimated by ``solve`` (test points and x0) are looked up;
    other points are estimated afresh with the same seed and options.
    ``stderr(x)`` gives the standard error per point.
    """

    def __init__(self, solver: MonteCarlo, problem: Problem, seed: int, x: np.ndarray,
                 mean: np.ndarray, se: np.ndarray) -> None:
        self._solver, self._problem, self._seed = solver, problem, seed
        self._x, self._mean, self._se = x, mean, se

    def _lookup(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        n = self._x.shape[0] - 1
        if x.shape == (n, self._x.shape[1]) and np.array_equal(x, self._x[:n]):
            return self._mean[:n], self._se[:n]
        if x.shape == (1, self._x.shape[1]) and np.array_equal(x[0], self._x[n]):
            return self._mean[n:], self._se[n:]
        mean, se, _ = self._solver.estimate(self._problem, x, seed=self._seed)
        return mean, se

    def __call__(self, x: Any) -> np.ndarray:
        return self._lookup(x)[0]

    def stderr(self, x: Any) -> np.ndarray:
        """Standard error of the estimate at each point of x."""
        return self._lookup(x)[1]


def _code(problem: Problem) -> int:
    from problems.kolmogorov import PAYOFF_CODES
    return PAYOFF_CODES[problem.phi_kind]


#: Below this many (sample x coordinate x step) updates a call runs on one thread.
_SERIAL_WORK = 2 ** 25


def _run(kernel: Any, n_chunks: int, *args: Any) -> Any:
    """Call a parallel kernel with no more Numba threads than ``n_chunks``
    (:func:`sciml.threads.numba_threads`)."""
    from ..threads import numba_threads
    with numba_threads(n_chunks):
        return kernel(*args)


def _chunk_counts(n: int) -> np.ndarray:
    full, rest = divmod(int(n), CHUNK)
    return np.array([CHUNK] * full + ([rest] if rest else []), dtype=np.int64)


def _mean_se(S1: np.ndarray, S2: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    mean = S1 / n
    var = np.maximum(S2 - n * mean * mean, 0.0) / (n - 1)
    return mean, np.sqrt(var / n)
