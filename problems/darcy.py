"""Darcy flow: the solution operator a -> u of -div(a grad u) = 1, u = 0 on ∂(0,1)².

The FNO paper's benchmark (Li et al., "Fourier neural operator for
parametric partial differential equations", ICLR 2021, section 5.2): a = 12
where a Gaussian random field with covariance (-Δ + 9 I)^(-2) is positive,
3 elsewhere; fields on the S x S grid x_i = i/(S-1) (u[n, i, j] at
(x_i, y_j)).  Data come from a file written by ``sciml data darcy`` (``data``)
or, for small sizes, are generated on the fly with the same generator
(:mod:`sciml.datasets.darcy`).  Samples are identified by a global index:
training uses indices 0 .. n_train-1, testing n_train .. n_train+n_test-1,
so a file and an on-the-fly set with the same seed hold the same samples.

``eval_res`` (on the fly) or ``eval_data`` (files, comma-separated) add test
sets of the same test samples at other resolutions, for zero-shot
super-resolution of resolution-independent operators (FNO).

Metrics (:meth:`Darcy.errors`), each per test sample then over the test set:

* ``rel_l2``     mean of ||u_pred - u||_2 / ||u||_2 over the grid values;
* ``rel_l2_max`` the worst sample's relative L2 error;
* ``h1``         mean relative H1 error ||e||_H1 / ||u||_H1 of the P1
  interpolants on the grid's triangulation: the gradient part is exact for
  P1 (½ Σ_cells of the squared differences along the four cell edges, the
  same for either diagonal), the L2 part uses the lumped (trapezoidal) mass;
* ``rel_l2@res<R>`` the mean relative L2 error at each extra resolution;
* costs measured in the same run: ``train_s``, ``infer_s_per_sample``,
  ``fem_s_per_sample`` (the reference's FEM solve time per sample) and
  ``fem_over_infer`` (their ratio).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sciml.core import DataError, InvalidProblem, Problem, Solution, check_range, opt

__all__ = ["Darcy", "rel_l2_per_sample", "h1_per_sample"]

#: on-the-fly generation is for small sets: samples x res² at most this
ON_THE_FLY_LIMIT = 2_000_000


def rel_l2_per_sample(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """||pred_n - true_n||_2 / ||true_n||_2 for each sample n of (N, S, S) arrays."""
    p = np.asarray(pred, dtype=float).reshape(len(pred), -1)
    t = np.asarray(true, dtype=float).reshape(len(true), -1)
    return np.linalg.norm(p - t, axis=1) / np.linalg.norm(t, axis=1)


def _h1_sq(v: np.ndarray) -> np.ndarray:
    """||v||²_H1 per sample of the P1 interpolant on the uniform triangulated unit-square grid."""
    S = v.shape[-1]
    h = 1.0 / (S - 1)
    dx = np.diff(v, axis=1)  # differences along x: edges (i, j)-(i+1, j)
    dy = np.diff(v, axis=2)
    # each cell contributes ½ (bottom² + top² + left² + right²); interior edges are shared by 2 cells
    wx = np.ones(S)
    wx[[0, -1]] = 0.5
    semi = (np.einsum("nij,j->n", dx ** 2, wx) + np.einsum("nij,i->n", dy ** 2, wx))
    lump = np.einsum("nij,i,j->n", v ** 2, wx, wx) * h * h
    return semi + lump


def h1_per_sample(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Relative H1 error of each sample (see the module docstring)."""
    p = np.asarray(pred, dtype=float)
    t = np.asarray(true, dtype=float)
    return np.sqrt(_h1_sq(p - t) / _h1_sq(t))


def _resolution_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


@dataclass(frozen=True)
class Darcy(Problem):
    """The Darcy operator-learning problem (see the module docstring)."""

    name = "darcy"

    def capabilities(self) -> frozenset[str]:
        """Operator pairs whose coefficients the Darcy FEM reference can also solve."""
        return frozenset({self.name, "operator-pairs", "darcy-coefficients"})
    default_reference = "darcy-fem"
    kind = "field"

    res: int = opt(85, lo=8, hi=1025)
    data: str = ""
    n_train: int = opt(1000, lo=1)
    n_test: int = opt(100, lo=1)
    seed: int = opt(0, lo=0)
    eval_res: tuple[int, ...] = ()
    eval_data: str = ""
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for r in self.eval_res:
            check_range(self, "eval_res", r, lo=8, hi=1025)
        if self.eval_res and self.eval_data:
            raise InvalidProblem("darcy: give eval_res (generated on the fly) or eval_data (files), not both")
        if self.data:
            info = self._info(self.data, self.res)
            self._check_indices(self.data, info, 0, self.n_train + self.n_test)
        else:
            total = (self.n_train + self.n_test) * self.res ** 2
            if total > ON_THE_FLY_LIMIT:
                raise InvalidProblem(
                    f"darcy: {self.n_train + self.n_test} samples at res={self.res} are too many to generate "
                    f"on the fly (samples x res² <= {ON_THE_FLY_LIMIT}); write a file with `sciml data darcy "
                    f"--res {self.res} --count {self.n_train + self.n_test} --seed {self.seed} --out FILE` "
                    f"and pass -p data=FILE")
        for r in self.eval_res:  # generated on the fly too: the same limit as res (eval_res=1025 escaped it)
            if self.n_test * r ** 2 > ON_THE_FLY_LIMIT:
                raise InvalidProblem(
                    f"darcy: eval_res={r} with n_test={self.n_test} is too many to generate on the fly "
                    f"(n_test x eval_res² = {self.n_test * r ** 2:.3g} > {ON_THE_FLY_LIMIT}); write a file with "
                    f"`sciml data darcy --res {r} --start {self.n_train} --count {self.n_test} --seed {self.seed} "
                    f"--out FILE` and pass -p eval_data=FILE")
        for path in _resolution_list(self.eval_data):
            info = self._info(path, None)
            self._check_indices(path, info, self.n_train, self.n_train + self.n_test)

    # ------------------------------------------------------------------ data
    @staticmethod
    def _info(path: str, res: int | None) -> dict[str, Any]:
        from sciml.datasets.darcy import load
        return load(path, res=res, arrays=False)["attrs"]

    def _check_indices(self, path: str, attrs: dict[str, Any], lo: int, hi: int) -> None:
        start, count = int(attrs["start"]), int(attrs["count"])
        if lo < start or hi > start + count:
            raise DataError(f"darcy data file {path} holds samples {start}..{start + count - 1}, "
                            f"but samples {lo}..{hi - 1} are needed (n_train={self.n_train}, "
                            f"n_test={self.n_test})")
        if int(attrs["seed"]) != self.seed:
            raise InvalidProblem(f"darcy: data file {path} was generated with seed {attrs['seed']}, "
                                 f"but seed={self.seed}; set -p seed={attrs['seed']}")

    def _samples(self, res: int, lo: int, hi: int, path: str = "") -> tuple[np.ndarray, np.ndarray]:
        key = (res, lo, hi, path)
        if key not in self._cache:
            from sciml.datasets import darcy as ds
            if path:
                d = ds.load(path)
                rows = np.searchsorted(d["index"], np.arange(lo, hi))
                if not np.array_equal(d["index"][rows], np.arange(lo, hi)):
                    raise DataError(f"darcy data file {path} lacks some of samples {lo}..{hi - 1}")
                self._cache[key] = (d["a"][rows].astype(float), d["u"][rows])
            else:
                a, u, _ = ds.solve_samples(res, list(range(lo, hi)), self.seed)
                self._cache[key] = (a, u)
        return self._cache[key]

    def train_set(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, u), each (n_train, res, res)."""
        return self._samples(self.res, 0, self.n_train, self.data)

    def test_set(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, u), each (n_test, res, res): u is the FEM solution of each test sample."""
        return self._samples(self.res, self.n_train, self.n_train + self.n_test, self.data)

    def eval_sets(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Resolution -> (a, u) of the test samples at the extra resolutions."""
        lo, hi = self.n_train, self.n_train + self.n_test
        out = {}
        for r in self.eval_res:
            out[int(r)] = self._samples(int(r), lo, hi)
        for path in _resolution_list(self.eval_data):
            r = int(self._info(path, None)["res"])
            out[r] = self._samples(r, lo, hi, path)
        return out

    @staticmethod
    def grid(res: int) -> np.ndarray:
        return np.linspace(0.0, 1.0, res)

    def test_points(self) -> np.ndarray:
        g = self.grid(self.res)
        X, Y = np.meshgrid(g, g, indexing="ij")
        return np.stack([X.ravel(), Y.ravel()], axis=1)

    # --------------------------------------------------------------- metrics
    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        pred, true = solution.state.get("u_pred"), reference.state.get("u")
        if pred is None or true is None:
            raise InvalidProblem("darcy: the solution needs state['u_pred'] and the reference state['u'] "
                                 "(test-set fields on the grid)")
        if pred.shape != true.shape:
            raise InvalidProblem(f"darcy: prediction shape {pred.shape} != reference shape {true.shape}")
        rel = rel_l2_per_sample(pred, true)
        out = {"rel_l2": float(rel.mean()), "rel_l2_max": float(rel.max()),
               "h1": float(h1_per_sample(pred, true).mean())}
        for key in sorted(solution.state):
            if key.startswith("u_pred@res"):
                r = key.split("@res")[1]
                ref = reference.state.get(f"u@res{r}")
                if ref is not None:
                    out[f"rel_l2@res{r}"] = float(rel_l2_per_sample(solution.state[key], ref).mean())
        st, rs = solution.stats, reference.stats
        if "train_s" in st:
            out["train_s"] = float(st["train_s"])
        if "infer_s_per_sample" in st:
            out["infer_s_per_sample"] = float(st["infer_s_per_sample"])
        if "fem_s_per_sample" in rs:
            out["fem_s_per_sample"] = float(rs["fem_s_per_sample"])
            if st.get("infer_s_per_sample"):
                out["fem_over_infer"] = float(rs["fem_s_per_sample"] / st["infer_s_per_sample"])
        return out

    @property
    def data_path(self) -> Path | None:
        return Path(self.data) if self.data else None
