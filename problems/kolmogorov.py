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
from typing import Any, Callable, Literal

import numpy as np

from sciml import metrics
from sciml.core import InvalidOption, InvalidProblem, Problem, Solution, check_choice, check_range

__all__ = ["AffineSDE", "KolmogorovProblem", "Kolmogorov", "Heat", "BlackScholes",
           "black_scholes_call", "max_call_price"]

#: Seed of the uniform test points (fixed so that every run compares on the same points).
TEST_SEED = 20210731

#: Payoff codes shared with the Numba Monte Carlo kernels.
PAYOFF_CODES = {"paraboloid": 0, "gaussian": 1, "call": 2, "max-call": 3, "put-min": 4}


@dataclass(frozen=True, eq=False)
class AffineSDE:
    """dX = (shift + drift ⊙ X) dt + diag(s0 + s1 ⊙ X) L dW, with L lower
    triangular and L L^T the correlation matrix of the driving noise (unit diagonal).

    ``kind`` says which exact sampler applies:

    * ``"brownian"`` (drift = 0, s1 = 0): X_T = x + shift T + s0 ⊙ sqrt(T) L Z;
    * ``"gbm"`` (shift = 0, s0 = 0): X_T = x ⊙ exp((drift - s1²/2) T + s1 ⊙ sqrt(T) L Z),

    with Z ~ N(0, I_d).  Euler-Maruyama applies to the whole class.  The kind
    is checked against the coefficients: a sampler never drops a term.
    """

    kind: str
    drift: np.ndarray
    s0: np.ndarray
    s1: np.ndarray
    L: np.ndarray
    shift: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.shift is None:
            object.__setattr__(self, "shift", np.zeros_like(np.asarray(self.drift, dtype=float)))
        dropped = {"brownian": ("drift", "s1"), "gbm": ("shift", "s0")}.get(self.kind)
        if dropped is None:
            raise InvalidProblem(f"AffineSDE: kind={self.kind!r}; choose brownian or gbm")
        for key in dropped:
            if np.any(np.asarray(getattr(self, key)) != 0):
                raise InvalidProblem(f"AffineSDE: kind={self.kind!r} needs {key} = 0 (its exact sampler has no "
                                     f"such term), got {key}={np.asarray(getattr(self, key))!r}")

    def exact_factor(self, w: np.ndarray, T: float) -> np.ndarray:
        """Per-path factor g from correlated normals w = Z L^T (shape (M, d)):
        X_T = x + g (brownian) or x ⊙ g (gbm)."""
        if self.kind == "brownian":
            return self.shift * T + self.s0 * math.sqrt(T) * w
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

    # ---- the general interface (component-first, written once with xp)
    def initial_xp(self, x: Any, xp: Any = np) -> Any:
        """phi at points x of shape (d, ...), the component-first form."""
        return self.phi(x.T, xp)

    def user_functions(self) -> dict[str, Any] | None:
        """The plain xp functions (Numba-compilable) of a user problem, or None for a
        preset whose kernels are hand-written (payoff codes)."""
        return None

    def capabilities(self) -> frozenset[str]:
        caps = {self.name, "kolmogorov"}
        if self.has_exact_sampler():
            caps.add("sde-affine")
        return frozenset(caps)

    def has_exact_sampler(self) -> bool:
        """Whether ``sde()`` gives an exact sampler (the presets: always; checked
        without building the d x d matrices)."""
        return True

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


# ------------------------------------------------------- your own problem
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

    d: int = 1
    T: float = 1.0
    a: float = 0.0
    b: float = 1.0
    drift: Any = 0.0
    diffusion: Any = 1.0
    initial: Any = None
    x0: tuple[float, ...] | None = None
    exact: Any = None
    n_test: int = 1000

    def __post_init__(self) -> None:
        from sciml import userfn
        own = self.name
        if isinstance(self.d, bool) or not isinstance(self.d, (int, np.integer)):
            raise InvalidProblem(f"{own}: d={self.d!r} must be an integer in [1, 100000]")
        object.__setattr__(self, "d", int(self.d))
        for key in ("T", "a", "b"):
            v = getattr(self, key)
            if not userfn.is_number(v):
                raise InvalidProblem(f"{own}: {key}={v!r} must be a number")
            object.__setattr__(self, key, float(v))
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
