"""The Kolmogorov problems of the catalogue: the heat equation and the
Black-Scholes PDE (call, max-call, put-min), with their closed forms where
they exist (conventions in :mod:`problems.kolmogorov`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sciml.core import InvalidOption, InvalidProblem, check_range, opt
from sciml.references.option_prices import black_scholes_call, max_call_price

from .kolmogorov_base import AffineSDE, KolmogorovProblem

__all__ = ["Heat", "BlackScholes"]


# --------------------------------------------------------------------- heat
@dataclass(frozen=True)
class Heat(KolmogorovProblem):
    """Heat equation du/dt = Δu on R^d (mu = 0, sigma = sqrt(2) I, so X_T = x + sqrt(2) W_T).

    ``initial``:

    * ``paraboloid``: phi(x) = |x|², exact u(T, x) = |x|² + 2 T d;
    * ``gaussian``: phi(x) = exp(-|x|²).  Per coordinate
      E exp(-(x + s Z)²) = (1 + 2 s²)^(-1/2) exp(-x² / (1 + 2 s²)) with s² = 2T,
      so u(T, x) = (1 + 4T)^(-d/2) exp(-|x|² / (1 + 4T)).

    The Beck et al. 2021 heat benchmark is ``initial=paraboloid`` on [0, 1]^d, T = 1.
    """

    name = "heat"
    default_reference = "exact"

    d: int = opt(10, lo=1, hi=100_000)
    T: float = opt(1.0, lo=0, lo_open=True)
    a: float = 0.0
    b: float = 1.0
    x0: tuple[float, ...] | None = None
    initial: Literal["paraboloid", "gaussian"] = "paraboloid"
    n_test: int = opt(1000, lo=1)

    def __post_init__(self) -> None:
        self._check_common()

    @property
    def phi_kind(self) -> str:
        return self.initial

    def sde(self) -> AffineSDE:
        d = self.d
        return AffineSDE("brownian", np.zeros(d), np.full(d, math.sqrt(2.0)), np.zeros(d), np.eye(d))

    def exact(self, x: np.ndarray) -> np.ndarray:
        x = self.check_points(x)
        r2 = np.sum(x * x, axis=1)
        if self.initial == "paraboloid":
            return r2 + 2.0 * self.T * self.d
        c = 1.0 + 4.0 * self.T
        return np.exp(-0.5 * self.d * math.log(c) - r2 / c)


# ------------------------------------------------------------ Black-Scholes
_SETTINGS: dict[str, dict[str, Any]] = {
    # d, T, a, b, K, sigma, rho defaults per payoff (None fields take these)
    "call": dict(d=1, T=1.0, a=90.0, b=110.0, K=100.0, sigma=(0.2,), rho=0.0),
    "max-call": dict(d=10, T=3.0, a=90.0, b=110.0, K=100.0, sigma=(0.2,), rho=0.0),
    "put-min": dict(d=50, T=1.0, a=4.5, b=5.5, K=5.5, sigma=None, rho=0.5),
}


@dataclass(frozen=True)
class BlackScholes(KolmogorovProblem):
    """Black-Scholes PDE for d geometric Brownian motions under the pricing measure::

        dX_i = (r - q) X_i dt + sigma_i X_i dW_i,   corr(dW_i, dW_j) = rho (i != j),

    u(T, x) = e^{-rT} E[phi(X_T^x)] (the price with time to maturity T).

    ``payoff``:

    * ``call``: phi = max(x_1 - K, 0), d = 1; exact: the Black-Scholes formula
      with dividend yield, x e^{-qT} N(d1) - K e^{-rT} N(d2);
    * ``max-call``: phi = max(max_i x_i - K, 0) on independent assets (rho = 0);
      exact: e^{-rT} ∫_K^∞ (1 - Π_i F_i(y)) dy with F_i the lognormal CDF of
      X_T^i, by composite Gauss-Legendre quadrature in s = log y
      (defaults: d = 10, [90, 110]^d, r = 0.05, q = 0.1, sigma = 0.2,
      K = 100, T = 3);
    * ``put-min``: phi = max(K - min_i x_i, 0) on correlated assets; Monte
      Carlo reference only.  Defaults are the Beck et al. 2021 §4.4 setting:
      d = 50, K = 5.5, [4.5, 5.5]^d, T = 1, drift r - q = -0.05 (r = 0.05,
      q = 0.1, so the discount is e^{-0.05 T}), volatilities 0.1 + i/(2d)
      for i = 1..d, correlation 1/2 between all pairs.

    The default reference is ``exact`` for call and independent max-call,
    ``monte-carlo`` otherwise.  Fields left as None take the payoff's defaults above; ``sigma`` is one
    number (all assets) or d numbers.  ``rho`` must make the equicorrelation
    matrix positive definite: -1/(d-1) < rho < 1.
    """

    name = "black-scholes"
    default_reference = "exact"

    payoff: Literal["call", "max-call", "put-min"] = "max-call"
    # None: the payoff's default (_SETTINGS), filled in by __post_init__
    d: int | None = opt(None, lo=1, hi=100_000)
    T: float | None = opt(None, lo=0, lo_open=True)
    a: float | None = opt(None, lo=0, lo_open=True)
    b: float | None = None
    x0: tuple[float, ...] | None = None
    K: float | None = opt(None, lo=0, lo_open=True)
    r: float = opt(0.05)
    q: float = opt(0.1)
    sigma: tuple[float, ...] | None = None
    rho: float | None = opt(None, lo=-1, hi=1)
    n_test: int = opt(1000, lo=1)

    def __post_init__(self) -> None:
        defaults = _SETTINGS[self.payoff]
        for key, value in defaults.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        if self.sigma is None:  # put-min: the Beck et al. volatilities
            object.__setattr__(self, "sigma", tuple(0.1 + i / (2.0 * self.d) for i in range(1, self.d + 1)))
        if isinstance(self.sigma, (int, float)):
            object.__setattr__(self, "sigma", (float(self.sigma),))
        self._check_common()
        if self.payoff == "call" and self.d != 1:
            raise InvalidProblem(f"{self.name}: d={self.d} is out of range for payoff=call; allowed: [1, 1] "
                                 "(use payoff=max-call for several assets)")
        if len(self.sigma) not in (1, self.d):
            raise InvalidProblem(f"{self.name}: sigma has {len(self.sigma)} values; give 1 or d={self.d}")
        for s in self.sigma:
            check_range(self, "sigma", float(s), lo=0, lo_open=True)
        self._cholesky()  # raises InvalidProblem if not positive definite
        if not self.has_exact:
            # the natural reference depends on the payoff; the class attribute stays "exact"
            object.__setattr__(self, "default_reference", "monte-carlo")

    # ---- data
    @property
    def phi_kind(self) -> str:
        return self.payoff

    @property
    def strike(self) -> float:
        return float(self.K)

    @property
    def discount(self) -> float:
        return math.exp(-self.r * self.T)

    @property
    def vols(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.sigma, dtype=float), (self.d,)).copy()

    def _cholesky(self) -> np.ndarray:
        d, rho = self.d, float(self.rho)
        corr = np.full((d, d), rho) + (1.0 - rho) * np.eye(d)
        lo = -1.0 / (d - 1) if d > 1 else -1.0
        try:
            if d > 1 and not (lo < rho < 1.0):
                raise np.linalg.LinAlgError
            return np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            raise InvalidProblem(f"{self.name}: rho={rho!r} makes the {d}x{d} correlation matrix not positive "
                                 f"definite; allowed: ({lo:g}, 1)") from None

    def sde(self) -> AffineSDE:
        d = self.d
        return AffineSDE("gbm", np.full(d, self.r - self.q), np.zeros(d), self.vols, self._cholesky())

    # ---- exact solutions
    def exact(self, x: np.ndarray) -> np.ndarray:
        x = self.check_points(x)
        if self.payoff == "call":
            return black_scholes_call(x[:, 0], self.K, self.r, self.q, float(self.vols[0]), self.T)
        if self.payoff == "max-call":
            if self.rho != 0.0:
                raise InvalidOption(f"{self.name}: the max-call quadrature needs independent assets (rho=0), "
                                    f"got rho={self.rho}; use --reference monte-carlo")
            return max_call_price(x, self.K, self.r, self.q, self.vols, self.T)
        raise InvalidOption(f"{self.name}: payoff=put-min has no closed form; use --reference monte-carlo")

    @property
    def has_exact(self) -> bool:
        return self.payoff == "call" or (self.payoff == "max-call" and self.rho == 0.0)
