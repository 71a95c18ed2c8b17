"""Operator learning on a user's own input/output pairs: the problem ``operator-data``.

A file (NPZ or HDF5, ``-p data=FILE``) holds

* ``a``: inputs, shape (N, S) (1D) or (N, S, S) (2D), real and finite;
* ``u``: outputs, the same shape as ``a`` (u[n] = G(a[n]));
* ``x`` (optional): the S grid coordinates of each axis, strictly
  increasing (default: x_i = i / (S - 1) on [0, 1]).

The networks see the grid through normalised coordinates i / (S - 1); ``x``
is used to evaluate the solution at points.  The first ``n_train`` samples
train, the next ``n_test`` test.  With ``n_train = n_test = 0`` the last
``test`` fraction (rounded, at least one sample) is the test set and the
rest trains; with only one of them given, the other takes the rest.

From Python, :meth:`OperatorData.from_arrays` builds the same problem from
arrays in memory.  The reference is ``exact``: the file's own test outputs.

Metrics (per test sample, then the mean over the test set):
``rel_l2`` ||u_pred - u||_2 / ||u||_2 over the grid values, ``rel_l2_max``
the worst sample's, and ``h1`` the relative H1 error of the piecewise-linear
(1D) or P1 (2D, see :mod:`problems.darcy`) interpolants on the grid x.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sciml.core import DataError, InvalidProblem, Problem, Solution, opt

from .darcy import rel_l2_per_sample

__all__ = ["OperatorData", "h1_per_sample_1d"]


def _h1_sq_1d(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """||v||²_H1 per row of the piecewise-linear interpolant on the grid x (trapezoidal L2 part)."""
    h = np.diff(x)
    semi = np.sum(np.diff(v, axis=-1) ** 2 / h, axis=-1)
    w = np.zeros_like(x)
    w[:-1] += h / 2
    w[1:] += h / 2
    return semi + np.sum(v ** 2 * w, axis=-1)


def h1_per_sample_1d(pred: np.ndarray, true: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Relative H1 error ||pred - true||_H1 / ||true||_H1 of each sample on the 1D grid ``x``.

    ``pred`` and ``true`` have shape (n_samples, len(x)); the H1 norm is the
    trapezoid L2 norm plus the exact H1 seminorm of the piecewise-linear interpolant.
    """
    return np.sqrt(_h1_sq_1d(pred - true, x) / _h1_sq_1d(true, x))


@dataclass(frozen=True)
class OperatorData(Problem):
    """Learn u = G(a) from the pairs in a user's file (see the module docstring)."""

    name = "operator-data"

    def capabilities(self) -> frozenset[str]:
        """A user's (a, u) pairs."""
        return frozenset({self.name, "operator-pairs"})
    default_reference = "exact"
    kind = "field"

    data: str = ""
    n_train: int = opt(0, lo=0)
    n_test: int = opt(0, lo=0)
    test: float = opt(0.2, lo=0, hi=1, lo_open=True, hi_open=True)
    _arrays: Any = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.data and self._arrays is None:
            raise InvalidProblem("operator-data: data='' names no file; pass -p data=FILE "
                                 "(an .npz or .h5 file with datasets 'a' and 'u')")
        self._load()  # validate shapes and values now, before any training

    @classmethod
    def from_arrays(cls, a: Any, u: Any, x: Any = None, **fields: Any) -> "OperatorData":
        """The problem from arrays in memory: a, u of shape (N, S) or (N, S, S), x of shape (S,)."""
        arrs = {"a": np.asarray(a, dtype=float), "u": np.asarray(u, dtype=float)}
        if x is not None:
            arrs["x"] = np.asarray(x, dtype=float)
        return cls(_arrays=arrs, **fields)

    # ------------------------------------------------------------------ data
    @property
    def _source(self) -> str:
        return self.data or "arrays"

    def _load(self) -> dict[str, np.ndarray]:
        if "arrays" not in self._cache:
            from .datafile import check_finite, read_arrays
            if self._arrays is not None:
                d = dict(self._arrays)
                for k in ("a", "u", "x"):
                    if k in d:
                        check_finite(self._source, k, d[k])
            else:
                d = read_arrays(self.data, ("a", "u"), ("x",))
            self._cache["arrays"] = self._validate(d)
        return self._cache["arrays"]

    def _validate(self, d: dict[str, Any]) -> dict[str, np.ndarray]:
        src = self._source
        a, u = d["a"], d["u"]
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[1] != a.shape[2]):
            raise DataError(f"{src}: dataset 'a' has shape {a.shape}; expected (N, S) or (N, S, S)")
        if u.shape != a.shape:
            raise DataError(f"{src}: dataset 'u' has shape {u.shape} but 'a' has shape {a.shape}; "
                            "expected the same shape")
        S = a.shape[-1]
        if S < 4:
            raise DataError(f"{src}: dataset 'a' has {S} grid points per axis; expected at least 4")
        if "x" in d:
            x = d["x"]
            if x.shape != (S,) or not np.all(np.diff(x) > 0):
                raise DataError(f"{src}: dataset 'x' has shape {x.shape}; expected {S} strictly increasing "
                                "grid coordinates")
        else:
            x = np.linspace(0.0, 1.0, S)
        N = len(a)
        n_train, n_test = self.n_train, self.n_test
        if n_train == 0 and n_test == 0:
            n_test = max(1, int(round(self.test * N)))
            n_train = N - n_test
        elif n_train == 0:
            n_train = N - n_test
        elif n_test == 0:
            n_test = N - n_train
        if n_train < 1 or n_test < 1 or n_train + n_test > N:
            raise DataError(f"{src}: holds {N} samples, but n_train={self.n_train}, n_test={self.n_test} "
                            f"(test={self.test}) ask for {n_train} + {n_test}; expected 1 <= n_train, "
                            f"1 <= n_test, n_train + n_test <= {N}")
        return {"a": a, "u": u, "x": x, "n_train": n_train, "n_test": n_test}

    @property
    def dim(self) -> int:
        return self._load()["a"].ndim - 1

    @property
    def res(self) -> int:
        return int(self._load()["a"].shape[-1])

    def grid(self, res: int | None = None) -> np.ndarray:
        return self._load()["x"]

    def train_set(self) -> tuple[np.ndarray, np.ndarray]:
        d = self._load()
        k = d["n_train"]
        return d["a"][:k], d["u"][:k]

    def test_set(self) -> tuple[np.ndarray, np.ndarray]:
        d = self._load()
        lo, hi = d["n_train"], d["n_train"] + d["n_test"]
        return d["a"][lo:hi], d["u"][lo:hi]

    def eval_sets(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        return {}

    # ----------------------------------------------------- points and values
    def test_points(self) -> np.ndarray:
        g = self.grid()
        if self.dim == 1:
            return g[:, None]
        X, Y = np.meshgrid(g, g, indexing="ij")
        return np.stack([X.ravel(), Y.ravel()], axis=1)

    def grid_function(self, fields: np.ndarray):
        """Interpolant of test-set fields (N, S[, S]) at points (M, d) -> (M, N)."""
        g = self.grid()
        if self.dim == 1:
            def fn(x: np.ndarray) -> np.ndarray:
                pts = np.asarray(x, dtype=float)[:, 0]
                return np.stack([np.interp(pts, g, f) for f in fields], axis=1)
            return fn
        from scipy.interpolate import RegularGridInterpolator
        interp = RegularGridInterpolator((g, g), np.moveaxis(fields, 0, -1))
        return lambda x: interp(np.asarray(x, dtype=float)[:, :2])

    @property
    def has_exact(self) -> bool:
        return True

    def exact(self, x: np.ndarray) -> np.ndarray:
        """The file's test outputs, interpolated at points x (M, d) -> (M, n_test)."""
        return self.grid_function(self.test_set()[1])(x)

    # --------------------------------------------------------------- metrics
    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        pred = solution.state.get("u_pred")
        true = self.test_set()[1]
        if pred is None:
            raise InvalidProblem("operator-data: the solution needs state['u_pred'] (test-set fields on the grid)")
        if pred.shape != true.shape:
            raise InvalidProblem(f"operator-data: prediction shape {pred.shape} != test shape {true.shape}")
        rel = rel_l2_per_sample(pred, true)
        if self.dim == 1:
            h1 = h1_per_sample_1d(pred, true, self.grid())
        else:
            from .darcy import h1_per_sample
            h1 = h1_per_sample(pred, true)  # uniform-grid P1 formula (h cancels in the ratio only there)
        out = {"rel_l2": float(rel.mean()), "rel_l2_max": float(rel.max()), "h1": float(h1.mean())}
        for key in ("train_s", "infer_s_per_sample"):
            if key in solution.stats:
                out[key] = float(solution.stats[key])
        return out
