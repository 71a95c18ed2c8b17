"""Options declared once: a Problem's or Solver's dataclass fields carry their
allowed values, and one validator enforces them.

A field states its range with :func:`opt` (``steps: int = opt(2000, lo=1,
hi=10_000_000)``) and its choices with its type (``dtype: Literal["float32",
"float64"]``).  :func:`validate_declared` checks every declared field of an
instance (type, range, choice) and stores the normalised value; Problem and
Solver run it before their own ``__post_init__``, so a subclass only writes
the checks that relate several fields.  The same declaration feeds the
command line's parser and ``--help`` (:func:`declared_ranges`).

:func:`coerce_value` is the one rule turning a Python, TOML or command-line
value into the declared type; :func:`check_range` and :func:`check_choice`
remain for checks whose bounds depend on other fields.
"""
from __future__ import annotations

import dataclasses
import math
import os
import typing
from typing import Any, Callable

import numpy as np

from .errors import InvalidProblem, SciMLError

__all__ = ["opt", "validate_declared", "declared_ranges", "coerce_value", "literal_choice",
           "check_range", "check_choice", "fields_of"]

# ------------------------------------------------------------- coercion
def coerce_value(tp: Any, value: Any) -> Any:
    """``value`` as a value of the declared type ``tp``, or ValueError.

    The one rule for Python, TOML and the command line: bool is not a
    number, an int field takes an integer or an integral float (1e4) and
    stores an int, a float field takes any real number and stores a float,
    numpy scalars count as their Python values, a list for a tuple field
    becomes a tuple of coerced elements.  Other types pass unchanged.
    """
    if isinstance(value, np.generic):
        value = value.item()
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        inner = [a for a in args if a is not type(None)]
        if value is None and len(inner) < len(args):
            return None
        return coerce_value(inner[0], value) if len(inner) == 1 else value
    if origin is typing.Literal:
        return literal_choice(args, value, coerce_value)
    if origin is tuple and isinstance(value, (list, tuple)):
        # a TOML or JSON list for a tuple field; a length the type does not
        # allow is left to the class's own check (which names what it expects)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce_value(args[0], v) for v in value)
        if args and len(args) == len(value):
            return tuple(coerce_value(a, v) for a, v in zip(args, value))
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected an integer" + (", not a boolean" if isinstance(value, bool) else ""))
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise ValueError("expected an integer")
            return int(value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number" + (", not a boolean" if isinstance(value, bool) else ""))
        return float(value)
    if tp is str and not isinstance(value, str):
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise ValueError("expected a string")
    return value


def literal_choice(choices: tuple[Any, ...], value: Any, convert: Callable[[type, Any], Any]) -> Any:
    """The choice of a ``Literal[...]`` that ``value`` stands for: the first ``a`` with
    ``convert(type(a), value) == a``, else ValueError listing the choices.

    ``convert`` is :func:`coerce_value` for Python and TOML values and
    ``registry.parse_value`` for text, so both read a choice the same way.
    """
    for a in choices:
        try:
            if convert(type(a), value) == a:
                return a
        except ValueError:
            pass
    raise ValueError("expected one of " + ", ".join(map(str, choices)))


def _check_type(obj: Any, owner: str, key: str, value: Any, error: type[SciMLError]) -> Any:
    """Apply :func:`coerce_value` to a dataclass field being validated (and
    store the normalised value in the frozen instance); other values must at
    least not be booleans or non-numbers where a range is checked."""
    tp = None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type) and key in fields_of(obj) \
            and getattr(obj, key) is value:
        tp = fields_of(obj)[key]
    try:
        new = coerce_value(tp, value) if tp is not None else value
    except ValueError as exc:
        raise error(f"{owner}: {key}={value!r} is not allowed; {exc}") from None
    if tp is not None and new is not value:
        object.__setattr__(obj, key, new)
    return new


def check_range(cls_or_name: Any, key: str, value: Any, *, lo: float | None = None,
                hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                error: type[SciMLError] = InvalidProblem) -> None:
    """Raise ``error`` naming ``key``, ``value`` and the allowed interval."""
    owner = cls_or_name if isinstance(cls_or_name, str) else getattr(cls_or_name, "name", type(cls_or_name).__name__)
    value = _check_type(cls_or_name, owner, key, value, error)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{owner}: {key}={value!r} is not allowed; expected a number")
    bad = isinstance(value, float) and not math.isfinite(value)
    if lo is not None:
        bad = bad or (value <= lo if lo_open else value < lo)
    if hi is not None:
        bad = bad or (value >= hi if hi_open else value > hi)
    if bad:
        left = "-inf" if lo is None else f"{lo:g}"
        right = "inf" if hi is None else f"{hi:g}"
        interval = ("(" if lo_open or lo is None else "[") + f"{left}, {right}" + (")" if hi_open or hi is None else "]")
        raise error(f"{owner}: {key}={value!r} is out of range; allowed: {interval}")


def check_choice(cls_or_name: Any, key: str, value: Any, choices: typing.Iterable[Any],
                 *, error: type[SciMLError] = InvalidProblem) -> None:
    """Raise ``error`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    owner = cls_or_name if isinstance(cls_or_name, str) else getattr(cls_or_name, "name", type(cls_or_name).__name__)
    value = _check_type(cls_or_name, owner, key, value, error)
    # True == 1 in Python: a boolean only matches a boolean choice
    if value not in choices or (isinstance(value, bool) and not any(isinstance(c, bool) for c in choices)):
        raise error(f"{owner}: {key}={value!r} is not allowed; choose one of {', '.join(map(str, choices))}")


def fields_of(obj_or_cls: Any) -> dict[str, Any]:
    """Public dataclass fields (name -> resolved type) of a Problem or Solver."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)
            if f.init and not f.name.startswith("_")}




# ------------------------------------------------------------ declarations
def opt(default: Any = dataclasses.MISSING, *, lo: float | None = None, hi: float | None = None,
        lo_open: bool = False, hi_open: bool = False, choices: typing.Iterable[Any] | None = None) -> Any:
    """A dataclass field with its allowed values declared: a finite number in
    the interval ``[lo, hi]`` (ends open with ``lo_open``/``hi_open``; ``None``
    for unbounded), or, for a field whose type is not a ``Literal``, one of
    ``choices``.  :func:`validate_declared` enforces them."""
    meta: dict[str, Any] = {}
    if choices is not None:
        meta["choices"] = tuple(choices)
    else:  # with no bounds: any finite number
        meta["range"] = (lo, hi, lo_open, hi_open)
    return dataclasses.field(default=default, metadata=meta)


_HINTS: dict[type, dict[str, Any]] = {}


def _declared(cls: type) -> list[tuple[str, Any, Any]]:
    """(name, type, metadata) of the public init fields of a dataclass ``cls`` (cached)."""
    got = _HINTS.get(cls)
    if got is None:
        hints = typing.get_type_hints(cls)
        got = [(f.name, hints.get(f.name, Any), f.metadata or _inherited(cls, f.name))
               for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")]
        _HINTS[cls] = got  # type: ignore[assignment]
    return got  # type: ignore[return-value]


def _inherited(cls: type, key: str) -> Any:
    """The declaration of ``key`` in the nearest base class: a subclass that only
    changes a field's default (``d: int = 10``) keeps the base's allowed values."""
    for base in cls.__mro__[1:]:
        f = base.__dict__.get("__dataclass_fields__", {}).get(key)
        if f is not None and f.metadata:
            return f.metadata
    return {}


def _literal_args(tp: Any) -> tuple[Any, ...] | None:
    """The choices of ``Literal[...]`` or ``Optional[Literal[...]]``, else None."""
    if typing.get_origin(tp) is typing.Literal:
        return typing.get_args(tp)
    if typing.get_origin(tp) is typing.Union or type(tp).__name__ == "UnionType":
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return _literal_args(inner[0])
    return None


def validate_declared(obj: Any, error: type[SciMLError]) -> None:
    """Check every declared field of the dataclass instance ``obj``: its value is
    coerced to the field's type (:func:`coerce_value`), then checked against
    the field's :func:`opt` range or choices; ``Literal`` fields against their
    choices.  Raises ``error`` with one line naming the key, the value and what
    is allowed."""
    owner = getattr(obj, "name", type(obj).__name__)
    for key, tp, meta in _declared(type(obj)):
        value = getattr(obj, key)
        if "range" in meta:
            if value is None and type(None) in typing.get_args(tp):
                continue
            lo, hi, lo_open, hi_open = meta["range"]
            check_range(obj, key, value, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, error=error)
        elif "choices" in meta:
            check_choice(obj, key, value, meta["choices"], error=error)
        else:
            _check_type(obj, owner, key, value, error)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def declared_ranges(cls: type) -> dict[str, str]:
    """key -> allowed values (``[1, 10000000]``, ``one of float32, float64``) as
    declared by the fields of the dataclass ``cls``."""
    out: dict[str, str] = {}
    if not dataclasses.is_dataclass(cls):
        return out
    for key, tp, meta in _declared(cls):
        if "range" in meta:
            lo, hi, lo_open, hi_open = meta["range"]
            left = "(" if lo_open or lo is None else "["
            right = ")" if hi_open or hi is None else "]"
            out[key] = f"{left}{'-inf' if lo is None else _fmt(lo)}, {'inf' if hi is None else _fmt(hi)}{right}"
        elif "choices" in meta:
            out[key] = "one of " + ", ".join(map(str, meta["choices"]))
        elif _literal_args(tp) is not None:
            out[key] = "one of " + ", ".join(map(str, _literal_args(tp)))
    return out
