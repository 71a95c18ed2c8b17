"""The error classes sciml raises on purpose, and the exit status each maps to.

They live in a module of their own, which imports nothing from the project, so
that any module (metrics, io, the problem catalogue) can raise them without
importing :mod:`sciml.core`.  ``sciml.core`` and ``sciml`` re-export them.

=====================  ===========  ==============================================
class                  exit status  meaning
=====================  ===========  ==============================================
``InvalidProblem``     2            a problem field is outside its allowed range
``InvalidOption``      2            a solver option is invalid, or the solver does
                                    not accept the problem
``DataError``          2            a data or checkpoint file is missing, corrupt
                                    or does not match
``MissingDependency``  2            an optional dependency is not importable
``SolverDiverged``     3            training or iteration produced NaN/inf
``SciMLError``         1            base class of all of the above
=====================  ===========  ==============================================
"""
from __future__ import annotations

from typing import ClassVar

__all__ = ["SciMLError", "InvalidProblem", "InvalidOption", "SolverDiverged",
           "MissingDependency", "DataError"]


class SciMLError(Exception):
    """Base class of every error sciml raises on purpose."""

    exit_code: ClassVar[int] = 1


class InvalidProblem(SciMLError, ValueError):
    """A problem field has a value outside its allowed range."""

    exit_code = 2


class InvalidOption(SciMLError, ValueError):
    """A solver option is invalid, or the solver does not accept the problem."""

    exit_code = 2


class DataError(SciMLError):
    """A data or checkpoint file is missing, corrupt or does not match."""

    exit_code = 2


class MissingDependency(SciMLError, ImportError):
    """An optional dependency (dolfinx, deepxde, ...) is not importable."""

    exit_code = 2


class SolverDiverged(SciMLError, RuntimeError):
    """Training or iteration produced NaN/inf or an exploding loss; ``step`` and ``loss`` say where."""

    exit_code = 3

    def __init__(self, message: str, *, step: int | None = None, loss: float | None = None):
        super().__init__(message)
        self.step = step
        self.loss = loss
