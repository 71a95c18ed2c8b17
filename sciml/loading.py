"""Resolve a problem given by name: a registry name, ``FILE.py:NAME`` or ``module:NAME``.

``NAME`` in a user's file or module may be a :class:`~sciml.core.Problem`
instance, a Problem class (its fields are set with ``-p KEY=VALUE``), or a
function returning a Problem (its keyword arguments are set with ``-p``).
A file is imported as a module named after its stem, with its folder put
first on ``sys.path``, so the functions it defines pickle by reference into
a study's worker processes.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
import typing
from pathlib import Path
from typing import Any, Mapping

from . import registry
from .core import InvalidProblem, Problem, SciMLError

__all__ = ["is_user_spec", "load_object", "make_problem", "problem_keys", "problem_class"]


def is_user_spec(spec: str) -> bool:
    """True for ``FILE.py:NAME`` and ``module:NAME`` (not a registry name)."""
    return isinstance(spec, str) and ":" in spec and spec not in registry.PROBLEMS


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise InvalidProblem(f"problem file {str(path)!r} does not exist")
    folder, stem = str(path.parent.resolve()), path.stem
    if not stem.isidentifier():
        raise InvalidProblem(f"problem file {str(path)!r}: its name must be a Python identifier (e.g. my_problems.py)")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    loaded = sys.modules.get(stem)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != path.resolve():
        raise InvalidProblem(f"problem file {str(path)!r}: the module name {stem!r} is already taken by "
                             f"{getattr(loaded, '__file__', 'a built-in module')}; rename the file")
    return _import(stem, str(path))


def _import(module: str, label: str) -> Any:
    try:
        return importlib.import_module(module)
    except SciMLError as exc:   # a problem built at import time refused its data
        raise InvalidProblem(f"{label}: {exc}") from None
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise InvalidProblem(f"no module named {module!r} (give FILE.py:NAME or an importable module:NAME)") from None
        raise InvalidProblem(f"{label}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:    # the user's code: one line, no traceback
        raise InvalidProblem(f"{label}: importing it failed: {type(exc).__name__}: {exc}") from None


def load_object(spec: str, base: str | Path | None = None) -> Any:
    """The object named by ``FILE.py:NAME`` (path relative to ``base``, default the
    working directory) or ``module:NAME``."""
    where, _, attr = spec.rpartition(":")
    if not where or not attr:
        raise InvalidProblem(f"problem {spec!r}: expected a registered name, FILE.py:NAME or module:NAME")
    if where.endswith(".py"):
        path = Path(where)
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        module = _import_file(path)
    else:
        module = _import(where, where)
    if not hasattr(module, attr):
        found = [k for k, v in vars(module).items() if not k.startswith("_") and _is_problem_like(v)]
        raise InvalidProblem(f"{where} has no {attr!r}; problems there: {', '.join(found) or 'none'}")
    return getattr(module, attr)


def _is_problem_like(obj: Any) -> bool:
    return isinstance(obj, Problem) or (isinstance(obj, type) and issubclass(obj, Problem)) or (
        inspect.isfunction(obj) and inspect.signature(obj).return_annotation not in (inspect.Signature.empty,))


def _parse_kwargs(fn: Any, values: Mapping[str, Any], label: str) -> dict[str, Any]:
    """Keyword arguments of a problem factory: strings parsed by the annotation, or as
    a number where the default is one."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    out = {}
    for key, raw in values.items():
        if key not in sig.parameters:
            raise InvalidProblem(f"unknown problem (-p) key {key!r} for {label}; valid keys: "
                                 f"{', '.join(sig.parameters) or 'none'}")
        tp = hints.get(key)
        default = sig.parameters[key].default
        if tp is None and default is not inspect.Parameter.empty and default is not None:
            tp = type(default)
        if isinstance(raw, str) and tp not in (None, str, Any):
            try:
                raw = registry.parse_value(tp, raw)
            except ValueError as exc:
                raise InvalidProblem(f"{label}: {key}={raw!r} is malformed: {exc}") from None
        out[key] = raw
    return out


def make_problem(spec: str, values: Mapping[str, Any] | None = None, *, base: str | Path | None = None) -> Problem:
    """Build the problem ``spec`` (registry name or user spec) with fields ``values``."""
    values = dict(values or {})
    if not is_user_spec(spec):
        return registry.make_problem(spec, **values)
    obj = load_object(spec, base)
    if isinstance(obj, Problem):
        if not values:
            return obj
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
        merged = {**fields, **values}
        return registry.build(type(obj), merged, what="problem (-p)", error=InvalidProblem)
    if isinstance(obj, type) and issubclass(obj, Problem):
        return registry.build(obj, values, what="problem (-p)", error=InvalidProblem)
    if callable(obj):
        kwargs = _parse_kwargs(obj, values, spec)
        try:
            out = obj(**kwargs)
        except SciMLError:
            raise
        except Exception as exc:
            raise InvalidProblem(f"{spec}: calling it failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(out, Problem):
            raise InvalidProblem(f"{spec} returned {type(out).__name__}, not a sciml Problem")
        return out
    raise InvalidProblem(f"{spec} is a {type(obj).__name__}, not a sciml Problem, Problem class or "
                         "function returning one")


def problem_keys(spec: str, *, base: str | Path | None = None) -> list[tuple[str, str, Any]]:
    """(key, type, default) of what ``-p`` may set for ``spec``."""
    if not is_user_spec(spec):
        return registry.field_help(registry.problem_class(spec))
    obj = load_object(spec, base)
    if isinstance(obj, Problem):
        return [(k, t, getattr(obj, k)) for k, t, _ in registry.field_help(type(obj))]
    if isinstance(obj, type) and issubclass(obj, Problem):
        return registry.field_help(obj)
    sig = inspect.signature(obj)
    return [(k, str(p.annotation) if p.annotation is not p.empty else "any",
             None if p.default is p.empty else p.default) for k, p in sig.parameters.items()]


def problem_class(spec: str, *, base: str | Path | None = None) -> type:
    """The Problem class behind ``spec`` (for a factory function: Problem)."""
    if not is_user_spec(spec):
        return registry.problem_class(spec)
    obj = load_object(spec, base)
    if isinstance(obj, Problem):
        return type(obj)
    return obj if isinstance(obj, type) else Problem
