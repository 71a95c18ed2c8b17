"""sciml: learned PDE and inverse-problem solvers checked against classical references.

Importing sciml is cheap: torch, dolfinx and deepxde load only when a solver
that needs them is used.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .core import (DataError, InvalidOption, InvalidProblem, MissingDependency, Problem,  # noqa: E402
                   SciMLError, Solution, Solver, SolverDiverged)
from .evaluate import Record, evaluate  # noqa: E402
from .registry import make_problem, make_solver  # noqa: E402

__all__ = ["Problem", "Solver", "Solution", "Record", "evaluate", "make_problem", "make_solver",
           "SciMLError", "InvalidProblem", "InvalidOption", "SolverDiverged", "MissingDependency",
           "DataError", "__version__"]
