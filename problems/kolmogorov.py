"""Linear Kolmogorov PDEs in high dimension: heat and Black-Scholes.

Convention (Beck, Becker, Grohs, Jaafari, Jentzen, "Solving the Kolmogorov
PDE by means of deep learning", J. Sci. Comput. 88, 2021)::

    du/dt = 1/2 Tr(sigma sigma^T Hess u) + <mu, grad u>,   u(0, .) = disc * phi,

and the answer is the function x -> u(T, x) on the cube [a, b]^d, which by
Feynman-Kac is u(T, x) = disc * E[phi(X_T^x)] for the SDE
dX = mu(X) dt + sigma(X) dW, X_0 = x.  (For Black-Scholes, u(T, x) is the
price today of an option with time to maturity T on spot prices x.)

Every SDE here is of the affine-diagonal form described by :class:`AffineSDE`;
``sde()`` returns it, so the Monte Carlo reference and the deep Kolmogorov
solver read the dynamics from the problem instead of re-deriving them.

This module holds :class:`Kolmogorov`, your own problem from functions written
with ``xp``; the base class and :class:`AffineSDE` are in
:mod:`problems.kolmogorov_base`, the heat and Black-Scholes problems in
:mod:`problems.kolmogorov_presets`, the option prices in
:mod:`sciml.references.option_prices` (all importable from here).

No torch or numba import here (``sciml list`` must stay fast).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sciml.core import InvalidOption, InvalidProblem, opt
from sciml.references.option_prices import black_scholes_call, max_call_price

from .kolmogorov_base import PAYOFF_CODES, TEST_SEED, AffineSDE, KolmogorovProblem
from .kolmogorov_presets import BlackScholes, Heat

__all__ = ["AffineSDE", "KolmogorovProblem", "Kolmogorov", "Heat", "BlackScholes",
           "black_scholes_call", "max_call_price", "PAYOFF_CODES", "TEST_SEED"]


@dataclass(frozen=True)
class Kolmogorov(KolmogorovProblem):
    """Your own linear Kolmogorov PDE, from functions written once with ``xp``::

        du/dt = 1/2 Tr(σσᵀ(x) Hess u) + <drift(x), ∇u>,   u(0, .) = initial,

    answer x -> u(T, x) on [a, b]^d, u(T, x) = E[initial(X_T^x)] with
    dX = drift(t, X) dt + σ(t, X) dW, X_0 = x (Feynman-Kac).

    * ``initial(x, xp)``: x of shape (d, ...) (component-first), returns (...);
    * ``drift``: a number or d numbers (a constant vector), or a function
      ``drift(t, x, xp)`` returning shape (d, ...);
    * ``diffusion``: a number (σ = s I), d numbers (diagonal), a constant d x d
      matrix, or a function ``diffusion(t, x, xp)`` returning the diagonal
      (d, ...) or the full matrix (d, d, ...);
    * ``exact(x, xp)``: optional u(T, x) (then ``--reference exact``).

    Constant drift and diffusion give an exact sampler (X_T Gaussian); functions
    are integrated by Euler-Maruyama (``steps`` of the solver).  Every function is
    evaluated once on a small batch when the problem is made.
    """

    name = "kolmogorov"
    default_reference = "monte-carlo"

    d: int = opt(1, lo=1, hi=100_000)
    T: float = opt(1.0, lo=0, lo_open=True)
    a: float = 0.0
    b: float = 1.0
    drift: Any = 0.0
    diffusion: Any = 1.0
    initial: Any = None
    x0: tuple[float, ...] | None = None
    exact: Any = None
    n_test: int = opt(1000, lo=1)

    def __post_init__(self) -> None:
        from sciml import userfn
        own = self.name   # d, T, a, b were coerced to int and floats by their declarations
        self._check_common()
        if self.initial is None:
            raise InvalidProblem(f"{own}: initial is required: the initial value initial(x, xp), x of shape (d, ...)")
        userfn.check_signature(own, "initial", self.initial, ("x",))
        for key in ("drift", "diffusion"):
            v = getattr(self, key)
            if callable(v):
                userfn.check_signature(own, key, v, ("t", "x"))
            else:
                object.__setattr__(self, key, self._constant(key, v))
        if self.exact is not None:
            userfn.check_signature(own, "exact", self.exact, ("x",))
        self._probe()

    def _constant(self, key: str, value: Any) -> Any:
        """A number, d numbers or (diffusion only) a d x d matrix, as a float or nested tuples."""
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise InvalidProblem(f"{self.name}: {key}={value!r}; expected a number, d numbers"
                                 + (", a d x d matrix" if key == "diffusion" else "") + " or a function") from None
        d = self.d
        shapes = [(), (1,), (d,)] + ([(d, d)] if key == "diffusion" else [])
        if arr.shape not in shapes:
            allowed = "a number, d numbers" + (" or a d x d matrix" if key == "diffusion" else "")
            raise InvalidProblem(f"{self.name}: {key} has shape {arr.shape}; expected {allowed} (d={d})")
        if not np.all(np.isfinite(arr)):
            raise InvalidProblem(f"{self.name}: {key} must be finite")
        if arr.ndim == 0 or arr.shape == (1,):
            return float(arr.reshape(-1)[0])
        return tuple(map(tuple, arr)) if arr.ndim == 2 else tuple(arr.tolist())

    def _probe(self) -> None:
        from sciml import userfn
        own, d, n = self.name, self.d, 5
        rng = np.random.default_rng(12345)
        x = rng.uniform(self.a, self.b, size=(d, n))
        t = 0.5 * self.T
        userfn.probe(own, "initial", self.initial, (x,), (n,))
        if callable(self.drift):
            userfn.probe(own, "drift", self.drift, (t, x), (d, n))
        if callable(self.diffusion):
            try:
                out = np.asarray(self.diffusion(t, x, np), dtype=float)
            except Exception as exc:
                raise InvalidProblem(f"{own}: diffusion failed on a test batch of shape {(d, n)}: "
                                     f"{type(exc).__name__}: {exc}") from None
            full = out.shape == (d, d, n)
            userfn.probe(own, "diffusion", self.diffusion, (t, x), (d, d, n) if full else (d, n))
            object.__setattr__(self, "_full_diffusion", full)
        if self.exact is not None:
            userfn.probe(own, "exact", self.exact, (x,), (n,))

    # ---- data
    @property
    def full_diffusion(self) -> bool:
        """True when the diffusion function returns the full (d, d, ...) matrix."""
        return bool(getattr(self, "_full_diffusion", False))

    def initial_xp(self, x: Any, xp: Any = np) -> Any:
        return self.initial(x, xp)

    def phi(self, x: Any, xp: Any = np) -> Any:
        return self.initial(x.T, xp)

    def user_functions(self) -> dict[str, Any]:
        return {"initial": self.initial, "drift": self.drift, "diffusion": self.diffusion}

    def sigma_matrix(self) -> np.ndarray | None:
        """The constant diffusion as a d x d matrix (None for a function)."""
        if callable(self.diffusion):
            return None
        s = np.asarray(self.diffusion, dtype=float)
        return s * np.eye(self.d) if s.ndim == 0 else (np.diag(s) if s.ndim == 1 else s)

    def drift_vector(self) -> np.ndarray | None:
        """The constant drift as d numbers (None for a function)."""
        if callable(self.drift):
            return None
        return np.broadcast_to(np.asarray(self.drift, dtype=float), (self.d,)).copy()

    def sde(self) -> AffineSDE | None:  # type: ignore[override]
        """The exact Gaussian sampler when drift and diffusion are constant, else None."""
        mu, S = self.drift_vector(), self.sigma_matrix()
        if mu is None or S is None:
            return None
        C = S @ S.T                       # the PDE sees σσᵀ only: any factor of it samples X_T
        s0 = np.sqrt(np.diag(C))
        if np.any(s0 == 0):
            return None
        try:
            L = np.linalg.cholesky(C / np.outer(s0, s0))
        except np.linalg.LinAlgError:     # a degenerate diffusion: Euler with σ itself
            return None
        return AffineSDE("brownian", np.zeros(self.d), s0, np.zeros(self.d), L, shift=mu)

    def has_exact_sampler(self) -> bool:
        return self.sde() is not None

    @property
    def phi_kind(self) -> str:
        return "user"

    @property
    def has_exact(self) -> bool:
        return self.exact is not None

    def exact_at(self, x: np.ndarray) -> np.ndarray:
        x = self.check_points(x)
        if self.exact is None:
            raise InvalidOption(f"problem {self.name!r} has no exact solution; use --reference monte-carlo")
        return np.asarray(self.exact(x.T, np), dtype=float) * np.ones(x.shape[0])
