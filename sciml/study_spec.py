"""Study files read: the TOML text (or a dict), where each key sits in it, grid
expansion, value coercion, class loading and the keys that name cells.

The study's errors are defined here too: :class:`StudyError` (exit 2, before
any cell runs) and :class:`CellFailed` (exit 3).  Validation into a plan is
:mod:`sciml.study_plan`; the file format is described in :mod:`sciml.study`.
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import itertools
import json
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from . import registry
from .core import InvalidProblem, Problem, SciMLError, Solver, fields_of

__all__ = ["StudyError", "CellFailed", "Source", "plain", "read_spec", "is_union", "is_tuple_type", "coerce",
           "grid", "load_class", "build", "key_json", "digest"]


class StudyError(SciMLError, ValueError):
    """The study file or the command line is wrong (exit 2); raised before any cell runs."""

    exit_code = 2


class CellFailed(SciMLError, RuntimeError):
    """A cell failed and ``fail_fast`` stopped the study (exit 3)."""

    exit_code = 3


@dataclass
class Source:
    """The study text, to point messages at a line."""

    label: str
    text: str | None

    def where(self, table: str | None = None, index: int = 0, key: str | None = None) -> str:
        """``label [[table]] #n key 'k' (line L)``: where a message points."""
        loc = self.label
        if table is not None:
            loc += f" [[{table}]] #{index + 1}"
        if key is not None:
            loc += f" key {key!r}"
        line = self._line(table, index, key)
        return f"{loc} (line {line})" if line else loc

    def _line(self, table: str | None, index: int, key: str | None) -> int | None:
        if self.text is None:
            return None
        lines = self.text.splitlines()
        start, stop = 0, len(lines)
        if table is not None:
            heads = [i for i, ln in enumerate(lines) if re.match(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]", ln)]
            if index >= len(heads):
                return None
            start = heads[index]
            later = [i for i, ln in enumerate(lines) if i > start and re.match(r"^\s*\[", ln)]
            stop = later[0] if later else len(lines)
            if key is None:
                return start + 1
        if key is None:
            return None
        pat = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=")
        for i in range(start, stop):
            if pat.search(lines[i].split("#", 1)[0]):
                return i + 1
        return None


def plain(obj: Any) -> Any:
    """A study given as a dict in Python: NumPy arrays are grid axes (lists),
    NumPy scalars their Python values, as TOML would give them."""
    import numpy as np
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    return copy.deepcopy(obj)


def read_spec(spec: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, Any], Source]:
    """The study as a dict (from a TOML file, or a dict given in Python) and its :class:`Source`;
    an unreadable file or malformed TOML is a :class:`StudyError` naming the line."""
    if isinstance(spec, Mapping):
        return plain(spec), Source("study", None)
    import tomllib
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyError(f"cannot read study file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise StudyError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at line {line}); "
                         "TOML files must be UTF-8") from None
    try:
        return tomllib.loads(text), Source(str(path), text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"line (\d+)", msg)
        shown = ""
        if m and 0 < int(m.group(1)) <= len(text.splitlines()):
            shown = f": {text.splitlines()[int(m.group(1)) - 1].strip()!r}"
        raise StudyError(f"{path}: malformed TOML: {msg}{shown}") from None


def is_union(tp: Any) -> bool:
    """True for ``Optional[X]``, ``Union[...]`` and ``X | Y``."""
    return typing.get_origin(tp) is typing.Union or type(tp).__name__ == "UnionType"


def is_tuple_type(tp: Any) -> bool:
    """True for ``tuple[...]`` (also inside a union): a TOML list is then one value, not a grid axis."""
    if typing.get_origin(tp) is tuple:
        return True
    return is_union(tp) and any(is_tuple_type(a) for a in typing.get_args(tp))


def coerce(tp: Any, v: Any) -> Any:
    """A study file's value as a value of the field's type, by the one rule of
    :func:`sciml.options.coerce_value` (TOML integers for float fields, 1e3 for
    int fields, lists for tuples): the same instance must hash to the same cell
    whatever the spelling.  A value that does not fit is passed on unchanged, so
    that the class's own validation names it."""
    from .options import coerce_value
    try:
        return coerce_value(tp, v)
    except ValueError:
        return v


def grid(cls: type, values: Any, what: str, where: Callable[[str | None], str]) -> list[dict[str, Any]]:
    """Expand a table of values (lists are grid axes) into a list of dicts."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise StudyError(f"{where(None)}: {what} must be a table (key = value), got {values!r}")
    fields = fields_of(cls)
    keys, axes = [], []
    for key, raw in values.items():
        if key not in fields:
            raise StudyError(f"{where(key)}: unknown {what} {key!r} for {cls.name!r}; "
                             f"valid keys: {', '.join(fields) or 'none'}")
        tp = fields[key]
        is_axis = isinstance(raw, list) and not (
            is_tuple_type(tp) and not any(isinstance(v, list) for v in raw) and raw)
        axis = raw if is_axis else [raw]
        if not axis:
            raise StudyError(f"{where(key)}: {key} = [] is an empty grid; give at least one value")
        keys.append(key)
        axes.append([coerce(tp, v) for v in axis])
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes)]


def load_class(kind: str, name: Any, where: str) -> type:
    """The Problem or Solver class (``kind``) called ``name``: a registry name or the
    user's ``module:Class``; a :class:`StudyError` at ``where`` otherwise."""
    if not isinstance(name, str) or not name:
        raise StudyError(f"{where}: name must be a non-empty string, got {name!r}")
    if ":" in name:  # the user's own class, "module:Class"
        module, _, attr = name.partition(":")
        if not all(part.isidentifier() for part in module.split(".")) or not attr.isidentifier():
            raise StudyError(f"{where}: name={name!r} is malformed; give a registered {kind} name or "
                             f"module:Class")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise StudyError(f"{where}: cannot import {kind} {name!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the user's module failed at import: one line
            raise StudyError(f"{where}: importing {kind} {name!r} failed: {type(exc).__name__}: {exc}") from None
        base = Problem if kind == "problem" else Solver
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise StudyError(f"{where}: {name!r} is not a sciml {base.__name__} class")
        return cls
    try:
        return registry.load(kind, name)
    except SciMLError as exc:
        raise StudyError(f"{where}: {exc}") from None


def build(cls: type, values: dict[str, Any], where: str, error: type) -> Any:
    """An instance of ``cls`` from ``values`` (parsed by the declared types); a bad value is a
    :class:`StudyError` at ``where`` wrapping the ``error`` (InvalidProblem or InvalidOption)."""
    try:
        return registry.build(cls, values, what="parameter" if error is InvalidProblem else "option",
                              error=error)
    except SciMLError as exc:
        raise StudyError(f"{where}: {exc}") from None


def key_json(obj: Any) -> str:
    """The canonical JSON of a cell or reference key (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def digest(obj: Any) -> str:
    """The 16-hex-digit id of a key: SHA-1 of :func:`key_json`."""
    return hashlib.sha1(key_json(obj).encode()).hexdigest()[:16]
