"""The base of the semilinear family: :class:`SemilinearProblem` (fields d, T, x0;
the answer u(0, xi)) and the radial expectation behind the linear values.  The
conventions (backward form, full Laplacian, xi = x0 * (1, ..., 1)) are stated in
:mod:`problems.semilinear`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sciml.core import InvalidOption, InvalidProblem, Problem, opt

__all__ = ["SemilinearProblem", "expect_radial", "PNAS", "BECKER"]

PNAS = "Han, Jentzen, E, PNAS 115 (2018) 8505-8510"
BECKER = ("Becker, Braunwarth, Hutzenthaler, Jentzen, von Wurstemberger, "
          "Commun. Comput. Phys. 28 (2020) 2109-2138 (MLP; 5 digits shown)")


def expect_radial(d: int, T: float, r0: float, phi: Any, *, tol: float = 1e-12) -> float:
    """E[phi(|X_T|^2)] for X_T = x + sqrt(2) W_T with |x|^2 = r0, by quadrature
    over the (noncentral) chi-square law of |X_T|^2 / (2T).  ``phi`` acts on arrays."""
    from sciml.references.cole_hopf import radial_expectation
    return radial_expectation(d, T, r0, phi, tol=tol)


@dataclass(frozen=True)
class SemilinearProblem(Problem):
    """Base of the family: fields ``d``, ``T``, ``x0``; u(0, xi) is the answer."""

    kind = "value"
    default_reference = "radial"
    #: (d, T, extra) -> (value, source, uncertainty)
    PUBLISHED: ClassVar[dict[tuple[Any, ...], tuple[float, str, str]]] = {}
    #: "brownian": X = xi + sqrt(2) W;  "gbm": geometric Brownian motion (default-risk)
    diffusion: ClassVar[str] = "brownian"
    #: True when f depends on u only and g on |x|^2 only (radial reference applies)
    radial: ClassVar[bool] = False
    #: True when f depends on ∇u
    uses_gradient: ClassVar[bool] = False
    #: True for the presets with a hand-written Numba kernel (``mlp_code``)
    builtin_kernel: ClassVar[bool] = False

    d: int = opt(100, lo=1, hi=100_000)
    T: float = opt(1.0, lo=0.0, lo_open=True, hi=100.0)
    x0: float = opt(0.0, lo=-1e6, hi=1e6)

    #: the methods that carry the mathematics: a subclass of a preset that redefines
    #: one of them would silently keep the preset's kernels and closed forms elsewhere
    _DATA_METHODS: ClassVar[tuple[str, ...]] = (
        "g", "g_radial", "g_radial_torch", "g_torch", "g_xp", "f", "f_torch", "f_xp", "flow",
        "mlp_code", "exact_value", "linear_value", "solution_bounds", "optimal_drift_torch",
        "running_cost_torch")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        presets = [b for b in cls.__mro__[1:] if b.__dict__.get("_preset", False)]
        changed = [m for m in cls._DATA_METHODS if m in cls.__dict__]
        if presets and changed:
            raise InvalidProblem(f"{cls.__name__} redefines {', '.join(changed)} of the preset "
                                 f"{presets[0].__name__}; write your own problem as "
                                 "problems.semilinear.Semilinear(f=..., g=...) instead")

    # -- data
    def xi(self) -> np.ndarray:
        """The starting point xi = x0 * (1, ..., 1)."""
        return np.full(self.d, float(self.x0))

    def value_point(self) -> np.ndarray:
        return self.xi()

    def g(self, x: np.ndarray) -> np.ndarray:
        """Terminal condition on points (N, d)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return self.g_radial(np.sum(x * x, axis=1))

    def g_radial(self, r: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def f(self, u: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:  # pragma: no cover
        """The nonlinearity f(u, ∇u) (NumPy)."""
        raise NotImplementedError

    def f_torch(self, y: Any, z: Any) -> Any:
        """f in BSDE variables: y = u, z = sigma^T ∇u (torch tensors)."""
        return self.f(y)

    def f_bsde_torch(self, t: float, x: Any, y: Any, z: Any) -> Any:
        """f in BSDE variables on a torch batch: time t, points x (n, d), y = u (n, 1),
        z = sigma^T ∇u (n, d) -> (n, 1).  The built-in problems' f depends on (y, z) only."""
        return self.f_torch(y, z)

    def g_torch(self, x: Any) -> Any:
        """g on a torch batch (n, d) -> (n, 1)."""
        return self.g_radial_torch((x * x).sum(dim=1, keepdim=True))

    def g_radial_torch(self, r: Any) -> Any:
        return self.g_radial(r)   # the rational g's are written with operators only

    def mlp_code(self) -> tuple[int, np.ndarray]:
        """(nonlinearity id, float parameters) for the Numba MLP kernels."""
        raise InvalidOption(f"problem {self.name!r} has no multilevel-Picard kernel")

    def solution_bounds(self) -> tuple[float, float] | None:
        """An interval known (comparison principle) to contain u; None if unknown."""
        return None

    def linear_value(self) -> float:
        """u(0, xi) with the nonlinearity dropped (f = 0): E[g(X_T)]."""
        return expect_radial(self.d, self.T, float(self.d * self.x0 ** 2), self.g_radial)

    def flow(self, u: np.ndarray, tau: float) -> np.ndarray:  # pragma: no cover - overridden
        """Exact flow of the ODE u' = f(u) over time tau (radial problems)."""
        raise NotImplementedError

    def published(self) -> tuple[float, str, str] | None:
        """The published value for these parameters, if any."""
        return None

    # -- the general interface (component-first, written once with xp)
    #: constant diffusion sigma of X = xi + sigma W (brownian problems): the PDE's
    #: second-order term is sigma^2/2 Δu; sqrt(2) gives the Laplacian
    @property
    def sigma(self) -> float:
        return math.sqrt(2.0)

    def g_xp(self, x: Any, xp: Any = np) -> Any:
        """g at points x of shape (d, ...) (component-first)."""
        return self.g_radial(xp.sum(x * x, axis=0))

    def f_xp(self, t: Any, x: Any, u: Any, z: Any, xp: Any = np) -> Any:
        """f(t, x, u, ∇u) with x, z = ∇u of shape (d, ...) and u of shape (...)."""
        return self.f(u)

    def user_functions(self) -> dict[str, Any] | None:
        """The plain xp functions {"f", "g"} (Numba-compilable), or None for a
        built-in problem whose kernels are hand-written (``mlp_code``)."""
        return None

    def capabilities(self) -> frozenset[str]:
        caps = {self.name, "semilinear"}
        if self.diffusion == "brownian":
            caps.add("brownian")
        if not self.uses_gradient:
            caps.add("f-without-gradient")
        if self.radial and self.diffusion == "brownian" and not self.uses_gradient:
            caps.add("radial")
        if self._builtin_kernel() or self.user_functions() is not None:
            caps.add("numba")
        return frozenset(caps)

    def _builtin_kernel(self) -> bool:
        # hand-written Numba kernels exist for the presets that set builtin_kernel
        # (whose subclasses cannot redefine f or g: see __init_subclass__)
        return self.builtin_kernel
