"""Toy problem and solvers for the study tests (imported by name, "test_study_toys:Class",
also by subprocesses and pool workers: keep them importable and cheap).

``toy-series``: u(x) = sum_{k=1}^{K} k^(-p) sin(k pi x) on [0, 1], test points a
uniform grid of 1001 points.  ``toy-truncated`` keeps the first ``n`` terms, so
its error is the tail sum_{k>n} k^(-p) sin(k pi x), whose L2 norm is
(1/2 sum_{k>n} k^(-2p))^(1/2) ~ n^(-(p - 1/2)) / sqrt(2(2p - 1)): rate 1.5 in n
for p = 2 (the default).  ``noise`` multiplies the tail by (1 + noise z) with
z ~ N(0, 1) drawn from (seed, n): seeds then spread without changing the rate.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sciml.core import InvalidOption, Problem, Solution, Solver, SolverDiverged, check_range


@dataclass(frozen=True)
class Series(Problem):
    name = "toy-series"
    default_reference = "exact"
    kind = "field"

    p: float = 2.0
    terms: int = 200
    tags: tuple[int, ...] = ()  # ignored: exercises tuple-typed fields in study grids

    def __post_init__(self) -> None:
        check_range(self, "p", self.p, lo=1.0, lo_open=True)
        check_range(self, "terms", self.terms, lo=1)

    def partial(self, x: np.ndarray, n: int) -> np.ndarray:
        x = np.asarray(x, dtype=float).reshape(-1)
        k = np.arange(1, n + 1)
        return np.sin(np.pi * np.outer(x, k)) @ (k ** -self.p)

    def exact(self, x: np.ndarray) -> np.ndarray:
        return self.partial(x, self.terms)

    def test_points(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, 1001)[:, None]


@dataclass(frozen=True)
class Truncated(Solver):
    """First ``n`` terms of the series (see the module docstring)."""

    name = "toy-truncated"
    accepts = ("toy-series",)
    rates: ClassVar[dict[str, dict[str, float]]] = {"n": {"rel_l2": 1.5}}  # for p = 2

    n: int = 4
    noise: float = 0.0
    sleep: float = 0.0
    fail_at: int = 0  # raise SolverDiverged when n == fail_at (tests of failed cells)
    crash_at: int = 0  # kill the process when n == crash_at (a segfault, as far as the runner sees)

    def __post_init__(self) -> None:
        check_range(self, "n", self.n, lo=1, error=InvalidOption)
        check_range(self, "noise", self.noise, lo=0, hi=0.5, error=InvalidOption)

    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu", progress: bool = False) -> Solution:
        if self.n == self.fail_at:
            raise SolverDiverged(f"toy-truncated: told to fail at n={self.n}", step=self.n, loss=float("nan"))
        if self.n == self.crash_at:
            os._exit(70)
        if self.sleep:
            time.sleep(self.sleep)
        z = np.random.default_rng([seed, self.n]).standard_normal() if self.noise else 0.0
        factor = 1.0 + self.noise * z

        def fn(x: np.ndarray) -> np.ndarray:
            full = problem.exact(x)
            return full - factor * (full - problem.partial(x, self.n))

        return Solution(fn=fn, stats={"terms": self.n}, state={"factor": np.array([factor])})


@dataclass(frozen=True)
class Fine(Solver):
    """A non-exact reference (all ``terms`` summed); appends a line to ``log`` per solve
    so that tests can count how often it ran."""

    name = "toy-fine"
    accepts = ("toy-series",)

    log: str = ""

    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu", progress: bool = False) -> Solution:
        if self.log:
            with open(self.log, "a") as fh:
                fh.write(f"{os.getpid()} {problem.params()}\n")
        return Solution(fn=lambda x: problem.partial(x, problem.terms), stats={"terms": problem.terms})


def tail_l2(p: float, n: int, terms: int) -> float:
    """The truncation error's discrete relative L2 norm on the 1001-point grid,
    computed directly (independent of the study code)."""
    x = np.linspace(0.0, 1.0, 1001)
    k = np.arange(1, terms + 1)
    s = np.sin(np.pi * np.outer(x, k)) * k ** -p
    full, head = s.sum(axis=1), s[:, :n].sum(axis=1)
    return float(np.linalg.norm(full - head) / np.linalg.norm(full))
