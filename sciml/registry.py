"""Name -> "module:Class" tables, imported lazily.

``sciml list``, ``--help`` and bad-input errors never import torch or
dolfinx: availability is judged with ``importlib.util.find_spec``, which
locates a module without executing it.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import typing
from dataclasses import dataclass
from typing import Any, Literal

from .core import (InvalidOption, InvalidProblem, MissingDependency, Problem, Solver, coerce_value, fields_of,
                   literal_choice)


@dataclass(frozen=True)
class Entry:
    """A registry entry: where the class lives, the modules it needs, a one-line summary."""

    target: str                 # "module:Class"
    needs: tuple[str, ...] = ()  # importable modules it requires
    summary: str = ""


PROBLEMS: dict[str, Entry] = {
    "poisson": Entry("problems.elliptic:Poisson", (), "-Δu = f on (0,1)^d, d = 1..3, manufactured solutions"),
    "heat": Entry("problems.kolmogorov:Heat", (), "heat equation u_t = Δu in high dimension, u(T, .) on a cube"),
    "black-scholes": Entry("problems.kolmogorov:BlackScholes", (), "Black-Scholes PDE: call, max-call, put-min"),
    "allen-cahn": Entry("problems.semilinear:AllenCahn", (), "semilinear Allen-Cahn, u(0, xi) in high dimension"),
    "sine-gordon": Entry("problems.semilinear:SineGordon", (), "semilinear sine-Gordon, u(0, xi)"),
    "hjb": Entry("problems.semilinear:HJB", (), "Hamilton-Jacobi-Bellman with |grad u|^2, u(0, xi)"),
    "default-risk": Entry("problems.semilinear:DefaultRisk", (), "nonlinear Black-Scholes with default risk"),
    "ct": Entry("problems.tomography:CT", (), "2D computed tomography, parallel or flat-detector fan beam"),
    "ct-data": Entry("problems.tomography:CTData", (), "CT from your own sinogram file (conventions sciml, skimage, astra)"),
    "boltzmann-bkw": Entry("problems.boltzmann:BoltzmannBKW", (), "homogeneous Boltzmann, Maxwell molecules, BKW"),
    "boltzmann-bimodal": Entry("problems.boltzmann:BoltzmannBimodal", (), "homogeneous Boltzmann from two Maxwellians"),
    "boltzmann": Entry("problems.boltzmann:Boltzmann", (), "homogeneous Boltzmann, Maxwell molecules, from your own f0(v, xp)"),
    "bgk-sod": Entry("problems.bgk:BGKSod", (), "1D-1V BGK Sod shock tube"),
    "bgk": Entry("problems.bgk_user:BGK", (), "1D-1V BGK from your own rho, u, T profiles or f0(x, v, xp)"),
    "mn-closure": Entry("problems.moment_closure:MomentClosure", (), "entropy closure of the 1D M_N moment system (N = 2..4)"),
    "darcy": Entry("problems.darcy:Darcy", (), "Darcy flow a -> u operator (FNO paper setting)"),
    "operator-data": Entry("problems.operator_data:OperatorData", (), "learn u = G(a) from your own (a, u) pairs in a file"),
    "elliptic-inverse": Entry("problems.elliptic_inverse:EllipticInverse", (), "recover k in -div(k grad u) = f from noisy point data"),
}

SOLVERS: dict[str, Entry] = {
    "exact": Entry("sciml.references.exact:Exact", (), "closed-form solution of the problem"),
    "fem": Entry("sciml.references.fem:FEM", ("dolfinx", "petsc4py", "ufl"), "Lagrange finite elements (DOLFINx)"),
    "pinn": Entry("sciml.solvers.pinn:PINN", ("torch", "deepxde"), "physics-informed neural network (DeepXDE)"),
    "monte-carlo": Entry("sciml.references.monte_carlo:MonteCarlo", ("numba",), "Numba Monte Carlo for Kolmogorov PDEs"),
    "deep-kolmogorov": Entry("sciml.solvers.deep_kolmogorov:DeepKolmogorov", ("torch",), "deep Kolmogorov method"),
    "radial": Entry("sciml.references.radial:Radial", (), "radial Strang splitting for semilinear PDEs"),
    "cole-hopf": Entry("sciml.references.cole_hopf:ColeHopf", (), "Cole-Hopf quadrature for HJB"),
    "multilevel-picard": Entry("sciml.references.multilevel_picard:MultilevelPicard", ("numba",), "multilevel Picard"),
    "deep-bsde": Entry("sciml.solvers.deep_bsde:DeepBSDE", ("torch",), "deep BSDE (Han, Jentzen, E)"),
    "fbp": Entry("sciml.references.tomography:FBP", ("numba",), "filtered back-projection"),
    "sirt": Entry("sciml.references.tomography:SIRT", ("numba",), "SIRT iterative reconstruction"),
    "tv": Entry("sciml.references.tomography:TV", ("numba",), "TV-regularised reconstruction (Chambolle-Pock)"),
    "fbp-unet": Entry("sciml.solvers.fbp_unet:FBPUNet", ("torch", "numba"), "U-Net post-processing of FBP"),
    "spectral": Entry("sciml.references.kinetic:Spectral", (), "Fourier spectral Boltzmann collision solver"),
    "dvm": Entry("sciml.references.kinetic:DVM", (), "discrete velocity method for BGK"),
    "neural-collision": Entry("sciml.solvers.neural_collision:NeuralCollision", ("torch",), "conservative neural collision operator"),
    "neural-closure": Entry("sciml.solvers.neural_closure:NeuralClosure", ("torch",), "entropy-based neural moment closure"),
    "learned-primal-dual": Entry("sciml.solvers.learned_primal_dual:LearnedPrimalDual", ("torch",), "learned primal-dual CT"),
    "deep-splitting": Entry("sciml.solvers.deep_splitting:DeepSplitting", ("torch",), "deep splitting method"),
    "fno": Entry("sciml.solvers.operator_learning:FNO", ("torch",), "Fourier neural operator"),
    "deeponet": Entry("sciml.solvers.operator_learning:DeepONet", ("torch",), "DeepONet"),
    "unet": Entry("sciml.solvers.operator_learning:UNet", ("torch",), "U-Net operator"),
    "darcy-fem": Entry("sciml.references.darcy_fem:DarcyReference", ("dolfinx",), "DOLFINx P1 solves of the Darcy test samples"),
    "fem-inverse": Entry("sciml.references.fem_inverse:FEMInverse", ("dolfinx", "scipy"), "coefficient recovery by FEM-constrained least squares"),
    "pinn-inverse": Entry("sciml.solvers.pinn_inverse:PINNInverse", ("torch", "deepxde"), "coefficient recovery with a PINN (k trainable)"),
}

DATASETS: dict[str, Entry] = {
    "ct-ellipses": Entry("sciml.datasets.ct:generate", ("numba",), "random-ellipse phantoms and sinograms"),
    "darcy": Entry("sciml.datasets.darcy:generate", ("dolfinx",), "Darcy a -> u pairs solved with DOLFINx"),
}

TABLES = {"problem": PROBLEMS, "solver": SOLVERS, "dataset": DATASETS}

#: how to get a missing dependency
INSTALL_HINTS = {
    "dolfinx": "apt-get install python3-dolfinx python3-h5py, and a venv made with "
               "/usr/bin/python3 -m venv --system-site-packages (scripts/setup.sh does both)",
    "petsc4py": "apt-get install python3-dolfinx (it brings petsc4py)",
    "ufl": "apt-get install python3-dolfinx (it brings ufl)",
}


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def availability(kind: str, name: str) -> tuple[bool, str]:
    """(available, reason) without importing the target or its dependencies."""
    entry = TABLES[kind][name]
    module = entry.target.split(":")[0]
    if not _module_exists(module):
        return False, f"module {module} is not part of this installation"
    missing = [m for m in entry.needs if not _module_exists(m)]
    if missing:
        return False, "missing dependency: " + ", ".join(missing)
    return True, ""


def load(kind: str, name: str) -> Any:
    """Import and return the object registered as ``name``."""
    table = TABLES[kind]
    if name not in table:
        err = InvalidProblem if kind == "problem" else InvalidOption
        raise err(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    ok, why = availability(kind, name)
    if not ok:
        missing = why.removeprefix("missing dependency: ").split(", ")
        hint = next((INSTALL_HINTS[m] for m in missing if m in INSTALL_HINTS), "run scripts/setup.sh")
        raise MissingDependency(f"{kind} {name!r} is unavailable ({why}); to install: {hint}")
    module, attr = table[name].target.split(":")
    return getattr(importlib.import_module(module), attr)


def problem_class(name: str) -> type[Problem]:
    """The Problem class registered as ``name`` (imported on first use)."""
    return load("problem", name)


def solver_class(name: str) -> type[Solver]:
    """The Solver class registered as ``name`` (imported on first use)."""
    return load("solver", name)


# ------------------------------------------------------ strings -> field values
def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_value(tp: Any, text: str) -> Any:
    """Parse ``text`` as a value of type ``tp`` (raises ValueError)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return text
    if origin is Literal:
        return literal_choice(args, text, parse_value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)):
        if text.strip().lower() in ("none", "null", "") and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return parse_value(a, text)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(" or ".join(errors))
    if origin is tuple:
        parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(args[0], p) for p in parts)
        if len(parts) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values")
        return tuple(parse_value(a, p) for a, p in zip(args, parts))
    if tp is bool:
        return _parse_bool(text)
    if tp is int:
        try:
            return int(text)
        except ValueError:
            try:
                f = float(text)  # accept 1e4
            except ValueError:
                raise ValueError("expected an integer") from None
            if not f.is_integer():
                raise ValueError("expected an integer") from None
            return int(f)
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    if tp is str:
        return text
    raise ValueError(f"cannot parse values of type {tp}")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def build(cls: type, values: dict[str, Any], *, what: str, error: type) -> Any:
    """Instantiate a Problem/Solver dataclass from ``values`` (strings parsed
    by the field's type; non-strings passed through)."""
    fields = fields_of(cls)
    kwargs = {}
    for key, raw in values.items():
        if key not in fields:
            raise error(f"unknown {what} key {key!r} for {cls.name!r}; valid keys: {', '.join(fields) or 'none'}")
        if isinstance(raw, str) and fields[key] is not str:
            try:
                kwargs[key] = parse_value(fields[key], raw)
            except ValueError as exc:
                raise error(f"{cls.name}: {key}={raw!r} is malformed: {exc} "
                            f"(type: {_describe(fields[key])})") from None
        else:
            try:  # the same type rule as the strings above and as Python: see core.coerce_value
                kwargs[key] = coerce_value(fields[key], raw)
            except ValueError as exc:
                raise error(f"{cls.name}: {key}={raw!r} is not allowed: {exc} "
                            f"(type: {_describe(fields[key])})") from None
    try:
        return cls(**kwargs)
    except TypeError as exc:  # e.g. a list where a number belongs
        raise error(f"{cls.name}: {exc}") from None


def make_problem(name: str, **values: Any) -> Problem:
    """The registered problem ``name`` with its fields set from ``values`` (strings are parsed)."""
    return build(problem_class(name), values, what="problem (-p)", error=InvalidProblem)


def make_solver(name: str, **values: Any) -> Solver:
    """The registered solver ``name`` with its options set from ``values`` (strings are parsed)."""
    return build(solver_class(name), values, what="option (-o)", error=InvalidOption)


def field_help(cls: type) -> list[tuple[str, str, Any]]:
    """(key, type description, default) for each field of ``cls``."""
    out = []
    for f in dataclasses.fields(cls):
        if f.init and not f.name.startswith("_"):
            default = f.default if f.default is not dataclasses.MISSING else None
            out.append((f.name, _describe(fields_of(cls)[f.name]), default))
    return out


def field_ranges(cls: type) -> dict[str, str]:
    """key -> allowed values: the fields' declarations (:func:`sciml.options.opt`
    ranges, ``Literal`` choices), then the ``check_range``/``check_choice`` calls
    that ``__post_init__`` (and its bases') still make for bounds that depend on
    other fields, the code that enforces them.

    Bounds that are expressions (``lo=self.samples``) are shown as written."""
    import ast
    import inspect
    import textwrap
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        fn = klass.__dict__.get("__post_init__")
        helper = klass.__dict__.get("_check_common")
        for f in (fn, helper):
            if f is None:
                continue
            try:
                tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
            except (OSError, TypeError, SyntaxError):
                continue
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in ("check_range", "check_choice") and len(node.args) >= 3
                        and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                    continue
                key = node.args[1].value.split(" ")[0]
                kw = {k.arg: ast.unparse(k.value).replace("self.", "") for k in node.keywords}
                if node.func.id == "check_choice":
                    if len(node.args) >= 4:
                        out[key] = "one of " + ast.unparse(node.args[3])
                    continue
                lo, hi = kw.get("lo"), kw.get("hi")
                left = "(" if kw.get("lo_open") == "True" or lo is None else "["
                right = ")" if kw.get("hi_open") == "True" or hi is None else "]"
                out[key] = f"{left}{lo or '-inf'}, {hi or 'inf'}{right}"
    from .options import declared_ranges
    out.update(declared_ranges(cls))
    return out
