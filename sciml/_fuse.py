"""Fused Numba loops for a user's function of the points, where it can be traced.

A Monte Carlo kernel evaluates the initial value phi at x + g for all points x
of one path (g the path's shift).  Called as a function on a (d, N) array,
phi materialises x + g, x * x, ... as whole arrays: three or four passes over
d x N numbers where a hand-written kernel makes one.  Here phi is *traced*:
called once with symbolic stand-ins for ``x`` and ``xp``, it yields an
expression (elementwise operations, functions of numbers, ``x[i]``, and sums
or products over the coordinates), from which Python source for one fused
loop nest is written and compiled::

    for each reduction r:  t_r[n] = sum_i  E_r(x[i, n] + g[i])    (i outer, n inner)
    acc[n] += F(t_1[n], ..., x[j, n] + g[j])

Anything the tracer does not know (another attribute of ``xp``, a comparison,
a reduction along another axis, a branch on a value) stops tracing, and the
caller keeps the plain compiled function.  The fused loop is also checked
against NumPy's evaluation of phi on a random batch before it is used.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np

__all__ = ["fuse_shifted"]


class _Untraceable(Exception):
    pass


class _Node:
    """A traced value: ``vec`` when it has one value per coordinate (shape (d, ...))."""

    __slots__ = ("op", "args", "vec")
    __array_priority__ = 1000

    def __init__(self, op: str, args: tuple, vec: bool) -> None:
        self.op, self.args, self.vec = op, args, vec

    # arithmetic
    def _bin(self, other: Any, op: str, swap: bool = False) -> "_Node":
        o = _lift(other)
        a, b = (o, self) if swap else (self, o)
        return _Node("bin", (op, a, b), a.vec or b.vec)

    def __add__(self, o): return self._bin(o, "+")            # noqa: E704,ANN001,ANN204
    def __radd__(self, o): return self._bin(o, "+", True)     # noqa: E704,ANN001,ANN204
    def __sub__(self, o): return self._bin(o, "-")            # noqa: E704,ANN001,ANN204
    def __rsub__(self, o): return self._bin(o, "-", True)     # noqa: E704,ANN001,ANN204
    def __mul__(self, o): return self._bin(o, "*")            # noqa: E704,ANN001,ANN204
    def __rmul__(self, o): return self._bin(o, "*", True)     # noqa: E704,ANN001,ANN204
    def __truediv__(self, o): return self._bin(o, "/")        # noqa: E704,ANN001,ANN204
    def __rtruediv__(self, o): return self._bin(o, "/", True)  # noqa: E704,ANN001,ANN204
    def __pow__(self, o): return self._bin(o, "**")           # noqa: E704,ANN001,ANN204
    def __rpow__(self, o): return self._bin(o, "**", True)    # noqa: E704,ANN001,ANN204
    def __neg__(self): return _Node("un", ("-", self), self.vec)   # noqa: E704,ANN204
    def __pos__(self): return self                                  # noqa: E704,ANN204
    def __abs__(self): return _Node("un", ("abs", self), self.vec)  # noqa: E704,ANN204

    def __getitem__(self, i: Any) -> "_Node":
        if self.op != "x" or not isinstance(i, numbers.Integral) or isinstance(i, bool):
            raise _Untraceable("indexing other than x[i]")
        return _Node("idx", (int(i),), False)

    def __bool__(self) -> bool:  # a branch on a traced value
        raise _Untraceable("a branch on a value")

    def __getattr__(self, name: str) -> Any:
        raise _Untraceable(f"attribute {name}")


def _lift(v: Any) -> _Node:
    if isinstance(v, _Node):
        return v
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return _Node("const", (float(v),), False)
    raise _Untraceable(f"operand {type(v).__name__}")


_UNARY = {"exp": "math.exp", "log": "math.log", "sin": "math.sin", "cos": "math.cos", "tan": "math.tan",
          "tanh": "math.tanh", "sinh": "math.sinh", "cosh": "math.cosh", "sqrt": "math.sqrt",
          "arctan": "math.atan", "arcsin": "math.asin", "arccos": "math.acos", "log1p": "math.log1p",
          "expm1": "math.expm1", "abs": "abs", "absolute": "abs"}


class _Namespace:
    """The symbolic ``xp``: the functions the tracer knows."""

    pi = math.pi
    e = math.e

    def __getattr__(self, name: str) -> Any:
        if name in _UNARY:
            def unary(a: Any, _n: str = name) -> Any:
                a = _lift(a)
                return _Node("un", (_n, a), a.vec)
            return unary
        raise _Untraceable(f"xp.{name}")

    @staticmethod
    def _reduce(op: str, a: Any, axis: Any) -> _Node:
        a = _lift(a)
        if axis != 0 or not a.vec:
            raise _Untraceable(f"{op} other than over the coordinates (axis=0)")
        return _Node("red", (op, a), False)

    def sum(self, a: Any, axis: Any = None) -> _Node:
        return self._reduce("+", a, axis)

    def prod(self, a: Any, axis: Any = None) -> _Node:
        return self._reduce("*", a, axis)

    def maximum(self, a: Any, b: Any) -> _Node:
        a, b = _lift(a), _lift(b)
        return _Node("bin", ("max", a, b), a.vec or b.vec)

    def minimum(self, a: Any, b: Any) -> _Node:
        a, b = _lift(a), _lift(b)
        return _Node("bin", ("min", a, b), a.vec or b.vec)


def _trace(fn: Callable[..., Any]) -> _Node:
    try:
        out = fn(_Node("x", (), True), _Namespace())
    except _Untraceable:
        raise
    except Exception as exc:  # the function did something the stand-ins do not support
        raise _Untraceable(f"{type(exc).__name__}: {exc}") from None
    out = _lift(out)
    if out.vec:
        raise _Untraceable("the result has one value per coordinate")
    return out


class _Writer:
    """Python source of the fused loop nest for one traced expression."""

    def __init__(self) -> None:
        self.reductions: dict[int, int] = {}   # id(node) -> temp row
        self.order: list[_Node] = []

    def collect(self, node: _Node) -> None:
        if node.op == "red":
            if id(node) in self.reductions:
                return
            self.collect(node.args[1])
            self.reductions[id(node)] = len(self.order)
            self.order.append(node)
            return
        for a in node.args:
            if isinstance(a, _Node):
                self.collect(a)

    def expr(self, node: _Node, comp: str | None) -> str:
        """Scalar source of ``node`` at point n (and coordinate ``comp`` for vectors)."""
        op = node.op
        if op == "x":
            if comp is None:
                raise _Untraceable("a vector outside a reduction")
            return f"(xT[{comp}, n] + g[{comp}])"
        if op == "const":
            return repr(node.args[0])
        if op == "idx":
            j = node.args[0]
            return f"(xT[{j}, n] + g[{j}])"
        if op == "red":
            return f"t[{self.reductions[id(node)]}, n]"
        if op == "un":
            name, a = node.args
            inner = self.expr(a, comp if a.vec else None)
            return f"(-{inner})" if name == "-" else f"{_UNARY[name]}({inner})"
        name, a, b = node.args
        sa, sb = self.expr(a, comp if a.vec else None), self.expr(b, comp if b.vec else None)
        if name in ("max", "min"):
            return f"{name}({sa}, {sb})"
        return f"({sa} {name} {sb})"

    def source(self, root: _Node) -> str:
        self.collect(root)
        lines = ["def fused(xT, g, acc, t):", "    d, N = xT.shape"]
        for k, r in enumerate(self.order):
            op, a = r.args
            # the first coordinate starts the reduction (no pass to set it to 0 or 1)
            lines += ["    i = 0", "    for n in range(N):", f"        t[{k}, n] = {self.expr(a, 'i')}",
                      "    for i in range(1, d):", "        for n in range(N):",
                      f"            t[{k}, n] = t[{k}, n] {op} {self.expr(a, 'i')}"]
        lines += ["    for n in range(N):", f"        acc[n] += {self.expr(root, None)}"]
        return "\n".join(lines) + "\n"


def fuse_shifted(fn: Callable[..., Any], d: int, example_x: np.ndarray) -> tuple[Any, int] | None:
    """(compiled ``fused(xT, g, acc, t)`` adding fn(xT + g) to acc, rows of t it needs),
    or None when ``fn`` cannot be traced or the fused loop disagrees with NumPy."""
    import numba
    try:
        root = _trace(fn)
        writer = _Writer()
        src = writer.source(root)
    except (_Untraceable, RecursionError):
        return None
    scope: dict[str, Any] = {"math": math}
    exec(compile(src, f"<fused {getattr(fn, '__qualname__', 'fn')}>", "exec"), scope)  # noqa: S102 - our own source
    fused = numba.njit(cache=False)(scope["fused"])
    rows = max(1, len(writer.order))
    # check against NumPy on a random batch around the example points
    rng = np.random.default_rng(7)
    xT = np.ascontiguousarray(np.asarray(example_x, dtype=float).reshape(d, -1))
    g = 0.1 * rng.standard_normal(d)
    acc = np.zeros(xT.shape[1])
    try:
        fused(xT, g, acc, np.empty((rows, xT.shape[1])))
        with np.errstate(all="ignore"):
            want = np.asarray(fn(xT + g[:, None], np), dtype=float) * np.ones(xT.shape[1])
    except Exception:
        return None
    scale = np.maximum(np.abs(want), 1.0)
    if not np.all(np.abs(acc - want) <= 1e-12 * scale * max(d, 1)):
        return None
    return fused, rows
