"""User functions written once with an array namespace ``xp``.

A problem's mathematics (coefficients, drift, nonlinearity, terminal value...)
is given as plain functions whose last argument is the namespace: ``numpy``,
``torch``, or (inside the Numba kernels) ``numpy`` again, compiled.  Points are
component-first: ``x[i]`` is the i-th coordinate and ``x`` has shape (d, ...),
so one definition serves one path (d,) and a batch (d, n)::

    def g(x, xp):
        return 1.0 / (2.0 + 0.4 * xp.sum(x * x, axis=0))

This module checks such functions before any long work (signature, output
shape, finiteness on a small batch) and compiles them for Numba.  A number
stands for a constant function.
"""
from __future__ import annotations

import inspect
import numbers
import types
from typing import Any, Callable, Sequence

import numpy as np

from .core import InvalidOption, InvalidProblem

__all__ = ["is_number", "check_signature", "probe", "constant", "njit_xp", "describe"]


def is_number(value: Any) -> bool:
    """A real number (bool excluded; numpy scalars included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def describe(fn: Any) -> str:
    """A user function's name for messages (its qualified name, else its repr)."""
    return getattr(fn, "__qualname__", None) or repr(fn)


def check_signature(owner: str, key: str, fn: Any, args: Sequence[str]) -> None:
    """``fn`` must be callable as fn(*args, xp): len(args) + 1 positional parameters."""
    if not callable(fn):
        raise InvalidProblem(f"{owner}: {key}={fn!r} is not a function; expected a number or a function "
                             f"{key}({', '.join(args)}, xp)")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or C function: the probe will tell
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    n = len(args) + 1
    if not (len(required) <= n <= len(positional)):
        got = ", ".join(p.name for p in positional) or "nothing"
        raise InvalidProblem(f"{owner}: {key} takes ({got}); expected {key}({', '.join(args)}, xp) "
                             f"with {n} arguments, the last the array namespace")


def probe(owner: str, key: str, fn: Callable[..., Any], args: Sequence[Any], shape: tuple[int, ...]) -> np.ndarray:
    """Evaluate ``fn(*args, np)`` once and check its output's shape and finiteness.

    A scalar or an array broadcastable to ``shape`` that does not depend on
    the points is broadcast (a constant written as a function); anything else
    of the wrong shape is refused, naming the function and what is expected.
    """
    try:
        with np.errstate(all="ignore"):
            out = fn(*args, np)
    except Exception as exc:  # the user's code: any error is bad input, said in one line
        raise InvalidProblem(f"{owner}: {key} failed on a test batch of shape "
                             f"{tuple(np.shape(args[-1] if args else ()))}: {type(exc).__name__}: {exc}") from None
    try:
        arr = np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        raise InvalidProblem(f"{owner}: {key} returned {type(out).__name__}, expected an array of shape {shape}") from None
    if arr.shape != shape:
        if arr.ndim == 0 or arr.shape == shape[:1]:  # constant in x
            try:
                arr = np.broadcast_to(arr.reshape(arr.shape + (1,) * (len(shape) - arr.ndim)), shape)
            except ValueError:
                arr = None
        else:
            arr = None
        if arr is None:
            raise InvalidProblem(f"{owner}: {key} returned shape {np.shape(out)}; expected {shape} "
                                 "(points are component-first: x has shape (d, n))")
    if not np.all(np.isfinite(arr)):
        raise InvalidProblem(f"{owner}: {key} returned NaN or inf on a test batch; it must be finite")
    return arr


def constant(value: float) -> Callable[..., Any]:
    """A constant function (used where a number stands for a function)."""
    c = float(value)

    def const(*args: Any) -> float:
        return c
    const.__qualname__ = f"constant({c:g})"
    return const


_NUMBA_XP: list[Any] = []


def numba_xp() -> Any:
    """The namespace a user function sees inside the Numba kernels: NumPy, with the
    reductions along an axis of a 2-D array (sum, prod, mean, min, max, amin, amax)
    replaced by loops that vectorise.  Numba's own ``np.sum(a, axis=0)`` walks
    the array with a stride and costs several times the arithmetic around it;
    these give the same values (a sum in the same order) at the speed of a
    hand-written loop."""
    if _NUMBA_XP:
        return _NUMBA_XP[0]
    from ._numba_xp import make_namespace
    _NUMBA_XP.append(make_namespace())
    return _NUMBA_XP[0]


def njit_xp(owner: str, key: str, fn: Callable[..., Any], example: Sequence[Any]) -> Any:
    """Compile ``fn(*args, xp)`` with Numba, xp bound to NumPy; return the
    compiled callable of ``args`` alone.

    The namespace (:func:`numba_xp`: NumPy with fast axis reductions) is made
    the default value of the last parameter, so Numba sees it as a
    compile-time constant.  The function is called once on
    ``example`` so that a function Numba cannot compile is refused now, in
    one line, not in the middle of a kernel.
    """
    import numba
    if not isinstance(fn, types.FunctionType):
        raise InvalidOption(f"{owner}: {key}={describe(fn)} is not a plain Python function; "
                            "Numba compiles only those")
    n = fn.__code__.co_argcount
    defaults = tuple(fn.__defaults__ or ())
    # defaults for all trailing parameters after the args, the last being xp
    xp = numba_xp()
    new_defaults = defaults[:-1] + (xp,) if defaults else (xp,)
    if len(new_defaults) > n:
        new_defaults = new_defaults[-n:]
    clone = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, new_defaults, fn.__closure__)
    clone.__kwdefaults__ = fn.__kwdefaults__
    jitted = numba.njit(cache=False)(clone)
    try:
        jitted(*example)
    except Exception as exc:  # Numba's typing errors are long: keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidOption(f"{owner}: {key}={describe(fn)} cannot be compiled by Numba ({first}); "
                            "write it with xp functions over arrays, or use a solver that runs it in "
                            "NumPy/torch") from None
    return jitted
