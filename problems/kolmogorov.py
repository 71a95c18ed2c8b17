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

No torch or numba import here (``sciml list`` must stay fast).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sciml import metrics
from sciml.core import InvalidOption, InvalidProblem, Problem, Solution, check_choice, check_range

__all__ = ["AffineSDE", "KolmogorovProblem", "Heat", "BlackScholes",
           "black_scholes_call", "max_call_price"]

#: Seed of the uniform test points (fixed so that every run compares on the same points).
TEST_SEED = 20210731

#: Payoff codes shared with the Numba Monte Carlo kernels.
PAYOFF_CODES = {"paraboloid": 0, "gaussian": 1, "call": 2, "max-call": 3, "put-min": 4}


@dataclass(frozen=True, eq=False)
class AffineSDE:
    """dX = (drift ⊙ X) dt + diag(s0 + s1 ⊙ X) L dW, with L lower triangular and
    L L^T the correlation matrix of the driving noise (unit diagonal).

    ``kind`` says which exact sampler applies:

    * ``"brownian"`` (drift = 0, s1 = 0): X_T = x + s0 ⊙ sqrt(T) L Z;
    * ``"gbm"`` (s0 = 0): X_T = x ⊙ exp((drift - s1²/2) T + s1 ⊙ sqrt(T) L Z),

    with Z ~ N(0, I_d).  Euler-Maruyama applies to the whole class.
    """

    kind: str
    drift: np.ndarray
    s0: np.ndarray
    s1: np.ndarray
    L: np.ndarray

    def exact_factor(self, w: np.ndarray, T: float) -> np.ndarray:
        """Per-path factor g from correlated normals w = Z L^T (shape (M, d)):
        X_T = x + g (brownian) or x ⊙ g (gbm)."""
        if self.kind == "brownian":
            return self.s0 * math.sqrt(T) * w
        return np.exp((self.drift - 0.5 * self.s1 ** 2) * T + self.s1 * math.sqrt(T) * w)

    def apply_factor(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        return x + g if self.kind == "brownian" else x * g


def _positive_part(y: Any) -> Any:
    # (y + |y|)/2 works unchanged on NumPy arrays and torch tensors (exact in floating point)
    return 0.5 * (y + abs(y))


@dataclass(frozen=True)
class KolmogorovProblem(Problem):
    """Shared part of the Kolmogorov problems: the cube, x0, test points, errors.

    Errors (:meth:`errors`) on ``n_test`` points drawn uniformly from
    [a, b]^d with the fixed seed :data:`TEST_SEED`:

    * ``rel_l1``: the mean over test points of |v(x) - u(x)| / |u(x)|, the
      "relative L1 error" of Beck et al. 2021 (``sciml.metrics.mean_rel_l1``);
    * ``rel_l2``: ||v - u||_2 / ||u||_2 over the test points;
    * ``max``: max |v(x) - u(x)| (absolute).
    """

    kind = "field"

    def _check_common(self) -> None:
        check_range(self, "d", self.d, lo=1, hi=100_000)
        check_range(self, "T", self.T, lo=0, lo_open=True)
        check_range(self, "a", self.a, hi=self.b, hi_open=True)
        check_range(self, "b", self.b, lo=self.a, lo_open=True)
        check_range(self, "n_test", self.n_test, lo=1)
        if isinstance(self.x0, (int, float)):  # a number from Python means every coordinate
            object.__setattr__(self, "x0", (float(self.x0),))
        if self.x0 is not None:
            if len(self.x0) not in (1, self.d):
                raise InvalidProblem(f"{self.name}: x0 has {len(self.x0)} values; give 1 (all coordinates) "
                                     f"or d={self.d}")
            for v in self.x0:
                check_range(self, "x0", float(v), lo=self.a, hi=self.b)

    # ---- the PDE, as data
    def sde(self) -> AffineSDE:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def discount(self) -> float:
        """Factor in u(T, x) = discount * E[phi(X_T^x)]."""
        return 1.0

    @property
    def phi_kind(self) -> str:  # pragma: no cover - overridden
        """Which phi: paraboloid, gaussian, call, max-call or put-min (a key of PAYOFF_CODES)."""
        raise NotImplementedError

    @property
    def strike(self) -> float:
        return 0.0

    def phi(self, x: Any, xp: Any = np) -> Any:
        """The initial value phi at points x (N, d), for NumPy (xp=np) or torch (xp=torch)."""
        p = self.phi_kind
        if p == "paraboloid":
            return (x * x).sum(1)
        if p == "gaussian":
            return xp.exp(-(x * x).sum(1))
        if p == "call":
            return _positive_part(x[:, 0] - self.strike)
        if p == "max-call":
            return _positive_part(xp.amax(x, 1) - self.strike)
        if p == "put-min":
            return _positive_part(self.strike - xp.amin(x, 1))
        raise AssertionError(p)

    # ---- the Problem interface
    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.full(self.d, float(self.a)), np.full(self.d, float(self.b))

    def value_point(self) -> np.ndarray:
        if self.x0 is None:
            return np.full(self.d, 0.5 * (self.a + self.b))
        return np.broadcast_to(np.asarray(self.x0, dtype=float), (self.d,)).copy()

    def test_points(self) -> np.ndarray:
        rng = np.random.default_rng(TEST_SEED)
        return rng.uniform(self.a, self.b, size=(self.n_test, self.d))

    def check_points(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.shape[1] != self.d:
            raise InvalidOption(f"{self.name}: points have {x.shape[1]} coordinates, expected d={self.d}")
        return x

    def errors(self, solution: Solution, reference: Solution) -> dict[str, float]:
        x = self.test_points()
        v = np.asarray(solution(x), dtype=float).reshape(-1)
        u = np.asarray(reference(x), dtype=float).reshape(-1)
        return {"rel_l1": metrics.mean_rel_l1(v, u), "rel_l2": metrics.rel_l2(v, u),
                "max": metrics.max_error(v, u)}


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

    d: int = 10
    T: float = 1.0
    a: float = 0.0
    b: float = 1.0
    x0: tuple[float, ...] | None = None
    initial: Literal["paraboloid", "gaussian"] = "paraboloid"
    n_test: int = 1000

    def __post_init__(self) -> None:
        self._check_common()
        check_choice(self, "initial", self.initial, ("paraboloid", "gaussian"))

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
    d: int | None = None
    T: float | None = None
    a: float | None = None
    b: float | None = None
    x0: tuple[float, ...] | None = None
    K: float | None = None
    r: float = 0.05
    q: float = 0.1
    sigma: tuple[float, ...] | None = None
    rho: float | None = None
    n_test: int = 1000

    def __post_init__(self) -> None:
        check_choice(self, "payoff", self.payoff, tuple(_SETTINGS))
        defaults = _SETTINGS[self.payoff]
        for key, value in defaults.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        if self.sigma is None:  # put-min: the Beck et al. volatilities
            object.__setattr__(self, "sigma", tuple(0.1 + i / (2.0 * self.d) for i in range(1, self.d + 1)))
        if isinstance(self.sigma, (int, float)):
            object.__setattr__(self, "sigma", (float(self.sigma),))
        self._check_common()
        check_range(self, "a", self.a, lo=0, lo_open=True)
        check_range(self, "K", self.K, lo=0, lo_open=True)
        check_range(self, "r", self.r)
        check_range(self, "q", self.q)
        if self.payoff == "call" and self.d != 1:
            raise InvalidProblem(f"{self.name}: d={self.d} is out of range for payoff=call; allowed: [1, 1] "
                                 "(use payoff=max-call for several assets)")
        if len(self.sigma) not in (1, self.d):
            raise InvalidProblem(f"{self.name}: sigma has {len(self.sigma)} values; give 1 or d={self.d}")
        for s in self.sigma:
            check_range(self, "sigma", float(s), lo=0, lo_open=True)
        check_range(self, "rho", self.rho, lo=-1, hi=1)
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


# ---------------------------------------------------------- closed forms
def black_scholes_call(x: np.ndarray, K: float, r: float, q: float, sigma: float, T: float) -> np.ndarray:
    """European call with continuous dividend yield q (Black-Scholes-Merton):
    x e^{-qT} N(d1) - K e^{-rT} N(d2), d1,2 = (log(x/K) + (r - q ± sigma²/2) T) / (sigma sqrt T)."""
    from scipy.special import ndtr
    x = np.asarray(x, dtype=float)
    sd = sigma * math.sqrt(T)
    d1 = (np.log(x / K) + (r - q + 0.5 * sigma * sigma) * T) / sd
    d2 = d1 - sd
    return x * math.exp(-q * T) * ndtr(d1) - K * math.exp(-r * T) * ndtr(d2)


def max_call_price(x: np.ndarray, K: float, r: float, q: float, vols: np.ndarray, T: float,
                   panels: int = 48, order: int = 16) -> np.ndarray:
    """Price of a call on the maximum of d independent GBMs at spots x (N, d).

    e^{-rT} E[(max_i X_i - K)^+] = e^{-rT} ∫_K^∞ P(max_i X_i > y) dy
                                 = e^{-rT} ∫_{log K}^{s_max} (1 - Π_i F_i(e^s)) e^s ds,
    F_i(y) = N((log(y / x_i) - (r - q - sigma_i²/2) T) / (sigma_i sqrt T)).  The
    integrand is analytic; s_max = max_i(mean_i + 12 sd_i) cuts a tail below 1e-30.
    1 - Π F_i is formed as -expm1(Σ log F_i) so it keeps its relative accuracy in the tail.
    """
    from scipy.special import log_ndtr
    x = np.atleast_2d(np.asarray(x, dtype=float))
    vols = np.broadcast_to(np.asarray(vols, dtype=float), (x.shape[1],))
    sd = vols * math.sqrt(T)
    mean = np.log(x) + (r - q - 0.5 * vols ** 2) * T           # (N, d) mean of log X_T
    s_lo = math.log(K)
    s_hi = np.maximum(np.max(mean + 12.0 * sd, axis=1), s_lo)  # (N,)
    t, w = np.polynomial.legendre.leggauss(order)
    t = (t + 1.0) / 2.0
    w = w / 2.0
    edges = np.linspace(0.0, 1.0, panels + 1)
    tt = (edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * t[None, :]).reshape(-1)
    ww = np.repeat(np.diff(edges), order) * np.tile(w, panels)
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], 256):  # bound the (points, nodes, d) temporary
        sl = slice(start, start + 256)
        length = s_hi[sl] - s_lo
        s = s_lo + length[:, None] * tt[None, :]                            # (n, nodes)
        logF = log_ndtr((s[:, :, None] - mean[sl, None, :]) / sd).sum(axis=2)
        integrand = -np.expm1(logF) * np.exp(s)
        out[sl] = length * (integrand @ ww)
    return math.exp(-r * T) * out
