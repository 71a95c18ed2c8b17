# my_problems.py
from problems.semilinear import Semilinear
from problems.kolmogorov import Kolmogorov

def g(x, xp):                  # terminal value; x has shape (d, ...)
    return 1.0 / (2.0 + 0.4 * xp.sum(x * x, axis=0))

def f(t, x, u, z, xp):         # nonlinearity f(t, x, u, grad u); u: shape (...), x and z: (d, ...)
    return u - u ** 3

allen_cahn = Semilinear(d=100, T=0.3, f=f, g=g)   # du/dt + Δu + f = 0, X = xi + sqrt(2) W, xi = 0 by default

def drift(t, x, xp):
    return -0.5 * x

def phi(x, xp):
    return xp.cos(xp.sum(x, axis=0))

ou = Kolmogorov(d=5, T=1.0, a=-1.0, b=1.0, drift=drift, diffusion=0.8, initial=phi)   # du/dt = 1/2 Tr(σσᵀ Hess u) + <drift, grad u>


# --- used by the tests beside the example: the same OU process with a
# Gaussian initial value (closed form for the test) and a constant-coefficient one
def gauss(x, xp):
    return xp.exp(-xp.sum(x * x, axis=0))

ou_gauss = Kolmogorov(d=5, T=1.0, a=-1.0, b=1.0, drift=drift, diffusion=0.8, initial=gauss)


def square(x, xp):
    return xp.sum(x * x, axis=0)

shifted = Kolmogorov(d=3, T=0.5, drift=[0.1, 0.2, 0.3], diffusion=[[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 2.0]],
                     initial=square, n_test=10)
