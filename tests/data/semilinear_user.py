"""User problems of the semilinear family, written as a user would (tests/test_problems/test_semilinear_user.py)."""
from problems.semilinear import Semilinear

# -- an explicit solution with f depending on t, x and u, and sigma = 1 (not the default sqrt(2)):
# psi(t, x) = 1/2 + 1/2 cos(s) exp(ALPHA (t - T)), s = sum(x) / sqrt(d), solves
# du/dt + sigma^2/2 Δu + f = 0 with f = 1/2 cos(s) e^{ALPHA (t - T)} (sigma^2/2 - ALPHA) + F(u) - F(psi)
D, T_END, SIGMA, ALPHA = 10, 1.0, 1.0, -0.25


def psi(t, x, xp):
    s = xp.sum(x, axis=0) / D ** 0.5
    return 0.5 + 0.5 * xp.cos(s) * xp.exp(ALPHA * (t - T_END))


def g_explicit(x, xp):
    return 0.5 + 0.5 * xp.cos(xp.sum(x, axis=0) / D ** 0.5)


def f_explicit(t, x, u, z, xp):
    s = xp.sum(x, axis=0) / D ** 0.5
    e = xp.exp(ALPHA * (t - T_END))
    p = 0.5 + 0.5 * xp.cos(s) * e
    return 0.5 * xp.cos(s) * e * (0.5 * SIGMA ** 2 - ALPHA) + u / (1.0 + u * u) - p / (1.0 + p * p)


explicit = Semilinear(d=D, T=T_END, f=f_explicit, g=g_explicit, x0=0.1, diffusion=SIGMA, exact=psi)


# -- the d = 20 radial problem of the issue: f(u) = u / (1 + u^2), g = exp(-|x|^2 / d)
def g_radial20(x, xp):
    return xp.exp(-xp.sum(x * x, axis=0) / 20.0)


def f_radial20(t, x, u, z, xp):
    return u / (1.0 + u * u)


radial20 = Semilinear(d=20, T=1.0, f=f_radial20, g=g_radial20, radial=True)


# -- an HJB-type problem with its own (non-radial) g in d = 2: f = -|∇u|^2
def g_hjb2(x, xp):
    return xp.log(0.5 * (1.0 + x[0] * x[0] + 0.5 * x[1] * x[1])) + 0.3 * xp.sin(x[0])


def f_hjb(t, x, u, z, xp):
    return -xp.sum(z * z, axis=0)


hjb2 = Semilinear(d=2, T=1.0, f=f_hjb, g=g_hjb2, x0=(0.2, -0.1), hjb=1.0)
