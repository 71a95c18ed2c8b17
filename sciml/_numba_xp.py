"""NumPy as a Numba kernel's ``xp``, with fast reductions along an axis (see
:func:`sciml.userfn.numba_xp`).  Imported only when a user function is compiled."""
from __future__ import annotations

import types
from typing import Any, Callable

import numpy as np
from numba.core import types as nbt
from numba.extending import overload


def _reducer(name: str, np_fn: Callable[..., Any], start: float, combine: Callable[[float, float], float],
             mean: bool = False) -> Callable[..., Any]:
    """A stand-in for ``np_fn(a, axis=None)`` with loop implementations for 2-D arrays."""
    def stub(a, axis=None):  # noqa: ANN001, ANN202 - the stand-in Numba resolves
        return np_fn(a, axis=axis)
    stub.__name__ = stub.__qualname__ = f"xp_{name}"
    comb = combine

    @overload(stub, jit_options={"fastmath": False})
    def _impl(a, axis=None):  # noqa: ANN001, ANN202 - Numba compares this signature with the stub's
        if not isinstance(a, nbt.Array):
            return None
        if axis is None or isinstance(axis, (nbt.NoneType, nbt.Omitted)) or a.ndim != 2:
            return lambda a, axis=None: np_fn(a) if axis is None else np_fn(a, axis=axis)

        def impl(a, axis=None):   # noqa: ANN001, ANN202 - Numba implementation
            n0, n1 = a.shape
            if axis == 0 or axis == -2:
                out = np.empty(n1)
                for j in range(n1):
                    out[j] = a[0, j]
                for i in range(1, n0):
                    for j in range(n1):
                        out[j] = comb(out[j], a[i, j])
                if mean:
                    out /= n0
                return out
            out = np.empty(n0)
            for i in range(n0):
                s = a[i, 0]
                for j in range(1, n1):
                    s = comb(s, a[i, j])
                out[i] = s / n1 if mean else s
            return out
        return impl
    return stub


def make_namespace() -> types.ModuleType:
    """A NumPy-like ``xp`` namespace whose functions Numba compiles inline (reductions as loops)."""
    import numba
    add = numba.njit(inline="always")(lambda x, y: x + y)
    mul = numba.njit(inline="always")(lambda x, y: x * y)
    mx = numba.njit(inline="always")(lambda x, y: x if x >= y else y)
    mn = numba.njit(inline="always")(lambda x, y: x if x <= y else y)
    ns = types.ModuleType("sciml_numba_xp")
    ns.__dict__.update({k: v for k, v in np.__dict__.items() if not k.startswith("__")})
    ns.sum = _reducer("sum", np.sum, 0.0, add)
    ns.prod = _reducer("prod", np.prod, 1.0, mul)
    ns.mean = _reducer("mean", np.mean, 0.0, add, mean=True)
    ns.max = ns.amax = _reducer("max", np.max, 0.0, mx)
    ns.min = ns.amin = _reducer("min", np.min, 0.0, mn)
    return ns
