"""Paper-size targets of the kinetic family (``pytest -m slow``; minutes each)."""
from __future__ import annotations

import pytest

from problems.boltzmann import BGKSod, BoltzmannBKW
from sciml.evaluate import evaluate
from sciml.references.kinetic import DVM, Spectral

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fast", [False, True])
def test_bkw_dim2_n64_error_below_1e_6(fast):
    rec = evaluate(BoltzmannBKW(dim=2, t0=0.0, t1=1.0), Spectral(n=64, fast=fast, dt=0.05), "exact")
    assert rec.errors["rel_max"] <= 1e-6  # measured 2.8e-9 (direct), 2.8e-7 (fast)
    assert max(rec.errors[k] for k in ("mass", "momentum", "energy")) <= 1e-12


def test_bkw_dim3_n32_error_below_1e_4():
    rec = evaluate(BoltzmannBKW(dim=3, t0=5.5, t1=6.5), Spectral(n=32, dt=0.1), "exact")
    assert rec.errors["rel_max"] <= 1e-4  # measured 5.8e-6
    assert max(rec.errors[k] for k in ("mass", "momentum", "energy")) <= 1e-12


def test_bgk_sod_400_cells_within_2_percent_of_euler():
    rec = evaluate(BGKSod(kn=1e-4), DVM(nx=400, nv=101), "exact")
    assert rec.errors["rel_l1"] <= 0.02  # measured 0.77 %
    assert rec.errors["mass"] <= 1e-12


def test_neural_collision_bkw_within_1e_2():
    from sciml.solvers.neural_collision import NeuralCollision
    rec = evaluate(BoltzmannBKW(dim=2, t0=0.0, t1=1.0), NeuralCollision(), "exact")
    assert rec.errors["rel_max"] <= 1e-2  # measured 6.6e-3
    assert max(rec.errors[k] for k in ("mass", "momentum", "energy")) <= 1e-12
