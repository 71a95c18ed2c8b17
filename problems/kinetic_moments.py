"""Velocity moments shared by the kinetic problems: the Maxwellian and the
relative drift of the conserved moments (mass, momentum, energy).

Moments: mass ``∫ f``, momentum ``∫ v f``, energy ``∫ |v|^2 f`` (no 1/2).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["maxwellian", "moment_drifts"]


def maxwellian(v: np.ndarray, rho: float, u: np.ndarray, T: float) -> np.ndarray:
    """rho (2πT)^(-d/2) exp(-|v - u|^2 / (2T)) at points v (N, d)."""
    v = np.asarray(v, dtype=float)
    d = v.shape[-1]
    r2 = np.sum((v - np.asarray(u, dtype=float)) ** 2, axis=-1)
    return rho * (2.0 * math.pi * T) ** (-d / 2) * np.exp(-r2 / (2.0 * T))


def moment_drifts(m0: np.ndarray, m1: np.ndarray) -> dict[str, float]:
    """Relative drifts of (mass, momentum..., energy) vectors from t0 to t1."""
    m0 = np.asarray(m0, dtype=float)
    m1 = np.asarray(m1, dtype=float)
    scale = math.sqrt(abs(m0[0] * m0[-1]))
    return {"mass": float(abs(m1[0] - m0[0]) / abs(m0[0])),
            "momentum": float(np.linalg.norm(m1[1:-1] - m0[1:-1]) / scale),
            "energy": float(abs(m1[-1] - m0[-1]) / abs(m0[-1]))}
