"""The exact solution of the Riemann problem for the 1D Euler equations
(Toro, *Riemann Solvers and Numerical Methods for Fluid Dynamics*, ch. 4).

The reference of the BGK Sod problem (:class:`problems.bgk.BGKSod`) in its
Euler limit kn -> 0, where one velocity dimension gives gamma = 3.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["euler_riemann_gamma3"]


def euler_riemann_gamma3(x: np.ndarray, t: float, left: tuple[float, float, float],
                         right: tuple[float, float, float], gamma: float = 3.0) -> np.ndarray:
    """Exact Riemann solution (rho, u, p) of the 1D Euler equations at x / t.

    Toro, *Riemann Solvers and Numerical Methods for Fluid Dynamics*, ch. 4:
    Newton iteration for the star pressure, then sampling of the fans.
    Returns an array (3, N).
    """
    rl, ul, pl = left
    rr, ur, pr = right
    g = gamma
    cl, cr = math.sqrt(g * pl / rl), math.sqrt(g * pr / rr)

    def fk(p: float, rk: float, pk: float, ck: float) -> tuple[float, float]:
        if p > pk:  # shock
            A, Bk = 2.0 / ((g + 1) * rk), (g - 1) / (g + 1) * pk
            s = math.sqrt(A / (p + Bk))
            return (p - pk) * s, s * (1.0 - 0.5 * (p - pk) / (p + Bk))
        e = (g - 1) / (2 * g)
        return (2 * ck / (g - 1)) * ((p / pk) ** e - 1.0), (p / pk) ** (-(g + 1) / (2 * g)) / (rk * ck)

    p = max(1e-10, 0.5 * (pl + pr))
    for _ in range(100):
        f1, d1 = fk(p, rl, pl, cl)
        f2, d2 = fk(p, rr, pr, cr)
        dp = (f1 + f2 + ur - ul) / (d1 + d2)
        p_new = max(1e-12, p - dp)
        if abs(p_new - p) <= 1e-15 * (p_new + p):
            p = p_new
            break
        p = p_new
    f1, _ = fk(p, rl, pl, cl)
    f2, _ = fk(p, rr, pr, cr)
    u = 0.5 * (ul + ur) + 0.5 * (f2 - f1)

    s = np.asarray(x, dtype=float) / t
    out = np.empty((3, s.size))
    gm, gp = (g - 1) / (g + 1), 2 / (g + 1)
    for i, si in enumerate(s.reshape(-1)):
        if si <= u:  # left of contact
            if p > pl:
                rs = rl * (p / pl + gm) / (gm * p / pl + 1)
                sl = ul - cl * math.sqrt((g + 1) / (2 * g) * p / pl + (g - 1) / (2 * g))
                out[:, i] = (rl, ul, pl) if si <= sl else (rs, u, p)
            else:
                rs = rl * (p / pl) ** (1 / g)
                cs = cl * (p / pl) ** ((g - 1) / (2 * g))
                if si <= ul - cl:
                    out[:, i] = (rl, ul, pl)
                elif si >= u - cs:
                    out[:, i] = (rs, u, p)
                else:
                    c = gp * (cl + (g - 1) / 2 * (ul - si))
                    out[:, i] = (rl * (c / cl) ** (2 / (g - 1)), gp * (cl + (g - 1) / 2 * ul + si),
                                 pl * (c / cl) ** (2 * g / (g - 1)))
        else:  # right of contact
            if p > pr:
                rs = rr * (p / pr + gm) / (gm * p / pr + 1)
                sr = ur + cr * math.sqrt((g + 1) / (2 * g) * p / pr + (g - 1) / (2 * g))
                out[:, i] = (rr, ur, pr) if si >= sr else (rs, u, p)
            else:
                rs = rr * (p / pr) ** (1 / g)
                cs = cr * (p / pr) ** ((g - 1) / (2 * g))
                if si >= ur + cr:
                    out[:, i] = (rr, ur, pr)
                elif si <= u + cs:
                    out[:, i] = (rs, u, p)
                else:
                    c = gp * (cr - (g - 1) / 2 * (ur - si))
                    out[:, i] = (rr * (c / cr) ** (2 / (g - 1)), gp * (-cr + (g - 1) / 2 * ur + si),
                                 pr * (c / cr) ** (2 * g / (g - 1)))
    return out
