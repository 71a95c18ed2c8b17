"""Versions of the packages a result depends on (recorded in every result)."""
from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

_PACKAGES = {"numpy": "numpy", "scipy": "scipy", "torch": "torch", "numba": "numba",
             "deepxde": "DeepXDE", "dolfinx": "fenics-dolfinx", "h5py": "h5py"}


def _version(module: str, dist: str) -> str | None:
    mod = sys.modules.get(module)
    if mod is not None and getattr(mod, "__version__", None):
        return str(mod.__version__)
    for name in (dist, module):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The sciml checkout's commit (with '+dirty' if modified), if known."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+dirty" if dirty else "")) or None


def versions() -> dict[str, str]:
    """python, sciml and dependency versions, plus the git commit when known."""
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    from . import __version__
    out = {"python": platform.python_version(), "sciml": __version__}
    for module, dist in _PACKAGES.items():
        v = _version(module, dist)
        if v:
            out[module] = v
    commit = git_commit()
    if commit:
        out["git_commit"] = commit
    return out
