"""Paper-size targets of the Kolmogorov family (issue 3); run with ``pytest -m slow``.

Each takes from one to a few minutes on 2 CPU cores; the measured numbers and
times are in docs/kolmogorov.md.
"""
from __future__ import annotations

import numpy as np
import pytest

from problems.kolmogorov import BlackScholes, Heat
from sciml.evaluate import evaluate

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")
from sciml.references.monte_carlo import MonteCarlo  # noqa: E402
from sciml.solvers.deep_kolmogorov import DeepKolmogorov  # noqa: E402


def test_heat_paraboloid_d10_target():
    rec = evaluate(Heat(d=10), DeepKolmogorov(steps=3000, batch=8192), "exact", seed=0)
    assert rec.errors["rel_l1"] <= 5e-3, rec.errors


def test_heat_paraboloid_d100_target():
    rec = evaluate(Heat(d=100), DeepKolmogorov(steps=2000, batch=4096), "exact", seed=0)
    assert rec.errors["rel_l1"] <= 1e-2, rec.errors


def test_max_call_d10_target():
    rec = evaluate(BlackScholes(payoff="max-call", d=10), DeepKolmogorov(steps=2000, batch=4096), "exact", seed=0)
    assert rec.errors["rel_l1"] <= 1e-2, rec.errors


def test_put_min_d50_target():
    p = BlackScholes(payoff="put-min", d=50)
    ref = MonteCarlo(samples=100_000, antithetic=True, rel_se=1e-3).solve(p, seed=1)
    x = p.test_points()
    assert np.max(ref.fn.stderr(x) / np.abs(ref(x))) <= 1e-3
    rec = evaluate(p, DeepKolmogorov(steps=2000, batch=4096), ref, seed=0)
    assert rec.errors["rel_l1"] <= 1e-2, rec.errors
