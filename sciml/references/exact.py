"""The `exact` reference: a problem's closed-form solution as a Solution."""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..core import InvalidOption, Problem, Solution, Solver


@dataclass(frozen=True)
class Exact(Solver):
    """Wraps ``problem.exact`` (field problems) or ``problem.exact_value``."""

    name = "exact"
    accepts = ("*",)

    def solve(self, problem: Problem, *, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> Solution:
        t0 = time.perf_counter()
        if problem.kind == "value":
            value = float(problem.exact_value())
            return Solution(value=value, stats={"wall_s": time.perf_counter() - t0})
        if not problem.has_exact:
            raise InvalidOption(f"problem {problem.name!r} has no exact solution; "
                                f"use --reference {problem.default_reference}")
        return Solution(fn=problem.exact, stats={"wall_s": time.perf_counter() - t0})
