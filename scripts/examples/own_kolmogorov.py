#!/usr/bin/env python
"""Your own Kolmogorov PDE, written once, solved by Monte Carlo and by the deep
Kolmogorov method, and checked against its closed form.

Ornstein-Uhlenbeck: dX = -X/2 dt + 0.8 dW in d = 5, u(T, x) = E[exp(-|X_T|^2)]:
each coordinate of X_T is N(x_i e^{-T/2}, v), v = 0.64 (1 - e^{-T}), so
u(T, x) = (1 + 2v)^{-d/2} exp(-e^{-T} |x|^2 / (1 + 2v)).

    python scripts/examples/own_kolmogorov.py          (about 30 s on 2 cores)
"""
import math

import numpy as np

from problems.kolmogorov import Kolmogorov
from sciml import evaluate
from sciml.references.monte_carlo import MonteCarlo
from sciml.solvers.deep_kolmogorov import DeepKolmogorov


def drift(t, x, xp):            # x has shape (d, ...): component-first
    return -0.5 * x


def phi(x, xp):                 # the same function runs in NumPy, torch and Numba
    return xp.exp(-xp.sum(x * x, axis=0))


def closed_form(x, xp):         # u(T, x), T = 1
    v = 0.64 * (1.0 - math.exp(-1.0))
    return (1.0 + 2.0 * v) ** -2.5 * xp.exp(-math.exp(-1.0) * xp.sum(x * x, axis=0) / (1.0 + 2.0 * v))


ou = Kolmogorov(d=5, T=1.0, a=-1.0, b=1.0, drift=drift, diffusion=0.8, initial=phi, exact=closed_form,
                n_test=200)

if __name__ == "__main__":
    for solver in (MonteCarlo(samples=20_000, steps=50), DeepKolmogorov(steps=600, batch=1024, time_steps=50)):
        rec = evaluate(ou, solver, reference="exact", seed=0)
        print(f"{solver.name:16s} rel_l1 {rec.errors['rel_l1']:.2e}  rel_l2 {rec.errors['rel_l2']:.2e}  "
              f"u(T, 0) {rec.value:.5f} (exact {rec.reference_value:.5f})  {rec.wall_s:.1f} s")
    assert abs(rec.reference_value - float(closed_form(np.zeros((5, 1)), np)[0])) < 1e-15
