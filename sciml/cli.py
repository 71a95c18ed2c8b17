"""The ``sciml`` command (its contract: docs/architecture.md and the README).

Exit status: 0 success; 2 bad input (one line on stderr, no traceback);
3 the solver failed; 1 anything unexpected.
"""
from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from . import registry
from .core import InvalidOption, InvalidProblem, SciMLError, SolverDiverged

log = logging.getLogger("sciml")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, as argparse does, but our wording
        raise _UsageError(f"{self.prog}: {message}")


def _kv(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        if "=" not in item:
            raise InvalidOption(f"{flag} {item!r} is malformed; expected KEY=VALUE")
        k, v = item.split("=", 1)
        if k.strip() in out:  # the last one silently winning hides a typo
            raise InvalidOption(f"{flag} {k.strip()} is given twice ({out[k.strip()]!r} and {v.strip()!r}); give it once")
        out[k.strip()] = v.strip()
    return out


#: seeds every generator of the project takes (NumPy's legacy and Numba's are 32-bit)
SEED_MAX = 2 ** 32 - 1


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed {text!r} is not an integer") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"--seed {value} is out of range; allowed: [0, {SEED_MAX}]")
    return value


class _Once(argparse.Action):
    """Store an option that may be given only once (a repeated one is an error, not the last wins)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if getattr(namespace, "_seen_" + self.dest, False):
            raise _UsageError(f"sciml: {option_string} is given twice; give it once")
        setattr(namespace, "_seen_" + self.dest, True)
        setattr(namespace, self.dest, values)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sciml", description="Learned vs classical PDE and inverse-problem solvers.")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level on stderr")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="list problems, solvers and datasets")
    ls.add_argument("what", nargs="?", choices=["problems", "solvers", "datasets"], default=None)
    ls.add_argument("--json", action="store_true")

    sv = sub.add_parser("solve", help="solve a problem and compare with a reference", add_help=False,
                        description="PROBLEM is a registered name, FILE.py:NAME or module:NAME (a Problem, a "
                                    "Problem class or a function returning one). With --help after PROBLEM and "
                                    "--solver: the problem's keys and the solver's options.")
    sv.add_argument("-h", "--help", action="store_true", help="this help, or the keys of PROBLEM and --solver")
    sv.add_argument("problem", nargs="?")
    sv.add_argument("--solver", default=None)
    sv.add_argument("-p", dest="params", action="append", metavar="KEY=VALUE", help="problem field")
    sv.add_argument("-o", dest="options", action="append", metavar="KEY=VALUE", help="solver option")
    sv.add_argument("--reference", default=None, help="reference solver (default: the problem's)")
    sv.add_argument("-r", dest="ref_options", action="append", metavar="KEY=VALUE",
                    help="reference solver option")
    sv.add_argument("--seed", type=_seed, default=0, action=_Once)
    sv.add_argument("--device", default="cpu", metavar="cpu|cuda|cuda:N",
                    help="where the solver runs (checked: exit 2 if it cannot run there)")
    sv.add_argument("--out", default=None, action=_Once, help="write the run to this HDF5 file (a new one)")
    sv.add_argument("--overwrite", action="store_true", help="let --out replace an existing file")
    sv.add_argument("--allow-large", action="store_true",
                    help="lift the declared size limits (steps, samples, unknowns); memory is still checked")
    sv.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sv.add_argument("--quiet", action="store_true", help="no progress bars or table")

    st = sub.add_parser("study", help="run an error study described in a TOML file")
    st.add_argument("spec", type=Path)
    st.add_argument("--out", required=True, action=_Once)
    st.add_argument("--executor", default="local", choices=["local", "dask"])
    st.add_argument("--workers", type=int, default=1)
    st.add_argument("--scheduler", default=None)
    st.add_argument("--resume", action="store_true")
    st.add_argument("--fail-fast", action="store_true")
    st.add_argument("--allow-large", action="store_true",
                    help="lift the declared size limits (steps, samples, unknowns); memory is still checked")
    st.add_argument("--quiet", action="store_true")

    rp = sub.add_parser("report", help="write DIR/report.md and figures for a study")
    rp.add_argument("dir", type=Path)

    dt = sub.add_parser("data", help="generate a dataset: sciml data NAME --out FILE [--KEY VALUE]...")
    dt.add_argument("dataset")
    dt.add_argument("--out", required=True, action=_Once)
    dt.add_argument("--quiet", action="store_true")
    return p


# ----------------------------------------------------------------- commands
def _cmd_list(args: argparse.Namespace) -> int:
    kinds = {"problems": "problem", "solvers": "solver", "datasets": "dataset"}
    chosen = [args.what] if args.what else list(kinds)
    rows = []
    for plural in chosen:
        kind = kinds[plural]
        for name, entry in sorted(registry.TABLES[kind].items()):
            ok, why = registry.availability(kind, name)
            if not ok and why.startswith("module"):
                continue  # not part of this installation: nothing to list
            rows.append({"kind": kind, "name": name, "available": ok, "reason": why, "summary": entry.summary})
    if args.json:
        print(json.dumps(rows))
        return 0
    for plural in chosen:
        kind = kinds[plural]
        these = [r for r in rows if r["kind"] == kind]
        if not these:
            continue
        print(f"{plural}:")
        for r in these:
            note = "" if r["available"] else f"  [unavailable: {r['reason']}]"
            print(f"  {r['name']:<20} {r['summary']}{note}")
    return 0


def _print_table(rec: Any) -> None:
    err = sys.stderr
    print(f"{rec.problem} {rec.params}", file=err)
    print(f"solver {rec.solver} {rec.options}  (seed {rec.seed}, {rec.device}, {rec.wall_s:.2f} s)", file=err)
    ref_t = f"{rec.reference_wall_s:.2f} s" if rec.reference_wall_s is not None else "-"
    print(f"reference {rec.reference} ({ref_t})", file=err)
    if rec.value is not None or rec.reference_value is not None:
        print(f"  value            {rec.value!r:>14}   reference {rec.reference_value!r}", file=err)
    for k, v in rec.errors.items():
        print(f"  {k:<16} {v:.4e}", file=err)


def _solve_help(args: argparse.Namespace) -> int:
    """``sciml solve [PROBLEM] [--solver NAME] --help``: keys, types, defaults."""
    from . import loading
    if args.problem is None and args.solver is None:
        _parser()._subparsers._group_actions[0].choices["solve"].print_help()  # type: ignore[union-attr]
        return 0
    if args.problem is not None:
        print(f"problem {args.problem} (-p KEY=VALUE):")
        ranges = registry.field_ranges(loading.problem_class(args.problem))
        for key, tp, default in loading.problem_keys(args.problem):
            print(f"  {key:<14} {tp:<32} default {_show(default):<14} {ranges.get(key, '')}".rstrip())
    if args.solver is not None:
        cls = registry.solver_class(args.solver)
        print(f"solver {args.solver} (-o KEY=VALUE):")
        ranges = registry.field_ranges(cls)
        for key, tp, default in registry.field_help(cls):
            print(f"  {key:<14} {tp:<32} default {_show(default):<14} {ranges.get(key, '')}".rstrip())
        if args.problem is not None:
            try:
                problem = loading.make_problem(args.problem, _kv(args.params, "-p"))
            except InvalidProblem as exc:   # e.g. a problem that needs the user's data
                print(f"whether solver {args.solver} can solve it is decided once the problem can be made "
                      f"from the -p values given: {exc}")
                return 0
            why = cls.missing(problem)
            print(f"solver {args.solver} {'can solve' if why is None else 'cannot solve'} this problem"
                  + ("" if why is None else f": {why}"))
    return 0


def _show(value: Any) -> str:
    if callable(value):
        return getattr(value, "__qualname__", repr(value))
    return repr(value)


def _cmd_solve(args: argparse.Namespace) -> int:
    from . import loading
    from .evaluate import evaluate
    if args.help:
        return _solve_help(args)
    if args.problem is None or args.solver is None:
        raise InvalidOption("sciml solve: PROBLEM and --solver NAME are required (sciml solve --help)")
    problem = loading.make_problem(args.problem, _kv(args.params, "-p"))
    solver = registry.make_solver(args.solver, **_kv(args.options, "-o"))
    solver.check_problem(problem)
    reference = args.reference or problem.default_reference
    ref_solver = registry.build(registry.solver_class(reference), _kv(args.ref_options, "-r"),
                                what="reference option (-r)", error=InvalidOption)
    ref_solver.check_problem(problem)
    out = None
    if args.out is not None:  # checked before any work: the solve may take hours
        from . import io
        out = io.check_output(args.out, overwrite=args.overwrite, suffix=".h5")
    progress = (not args.quiet) and sys.stderr.isatty()
    rec = evaluate(problem, solver, ref_solver, seed=args.seed, device=args.device, progress=progress,
                   allow_large=args.allow_large)
    if loading.is_user_spec(args.problem):
        rec.problem = args.problem   # the user's own problem, as they named it
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun every rank trained its share; rank 0 writes and prints
    if out is not None:
        io.save(out, rec)
    if args.json:
        print(json.dumps(rec.to_json()))
    elif not args.quiet:
        _print_table(rec)
        print(json.dumps(rec.errors))
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from . import study
    if not args.out.strip():
        raise InvalidOption("--out '' is empty; give the study's directory")
    args.out = Path(args.out)
    result = study.run(args.spec, out=args.out, executor=args.executor, workers=args.workers,
                       scheduler=args.scheduler, resume=args.resume, fail_fast=args.fail_fast,
                       progress=(not args.quiet) and sys.stderr.isatty(), allow_large=args.allow_large)
    print(result.report or args.out / "report.md")
    if result.failed:  # the study went on; the exit status still says not everything ran
        print(f"sciml: {len(result.failed)} of {len(result.cells)} cells failed; they are listed in the "
              "report and run again by the next invocation", file=sys.stderr)
        return 3
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from . import report
    path = report.write(args.dir)
    print(path)
    return 0


def _cmd_data(args: argparse.Namespace, extra: list[str]) -> int:
    fn = registry.load("dataset", args.dataset)
    sig = inspect.signature(fn)
    hints = getattr(fn, "__annotations__", {})
    kwargs: dict[str, Any] = {}
    it = iter(extra)
    for tok in it:
        if not tok.startswith("--"):
            raise InvalidOption(f"unexpected argument {tok!r}; use --KEY VALUE")
        key = tok[2:].replace("-", "_")
        if "=" in key:
            key, val = key.split("=", 1)
        else:
            val = next(it, None)
            if val is None:
                raise InvalidOption(f"--{key} needs a value")
        params = [n for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY and n not in ("out", "progress")]
        if key not in params:
            raise InvalidOption(f"unknown option --{key} for dataset {args.dataset!r}; valid: "
                                + ", ".join("--" + n.replace("_", "-") for n in params))
        tp = hints.get(key, str)
        if isinstance(tp, str):
            tp = {"int": int, "float": float, "str": str, "bool": bool}.get(tp, str)
        if key in kwargs:
            raise InvalidOption(f"--{key.replace('_', '-')} is given twice; give it once")
        try:
            kwargs[key] = registry.parse_value(tp, val)
        except ValueError as exc:
            raise InvalidOption(f"--{key} {val!r} is malformed: {exc}") from None
    from . import io
    # an existing complete file of the same arguments is the dataset's business (it resumes or
    # returns it); an empty name, a directory, a device or an unwritable folder are refused here
    args.out = io.check_output(args.out, overwrite=True, suffix=".h5")
    path = fn(out=args.out, progress=(not args.quiet) and sys.stderr.isatty(), **kwargs)
    print(path or args.out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sciml`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and args.command != "data":
            raise _UsageError(f"sciml: unrecognized arguments: {' '.join(extra)}")
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # NumPy's overflow/invalid-value warnings say nothing the result checks do not say
        # better (a non-finite result exits 3 naming the quantity); -v shows them
        import warnings
        warnings.filterwarnings("ignore", category=RuntimeWarning)
    try:
        if args.command == "list":
            return _cmd_list(args)
        if args.command == "solve":
            return _cmd_solve(args)
        if args.command == "study":
            return _cmd_study(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "data":
            return _cmd_data(args, extra)
    except SolverDiverged as exc:
        print(f"sciml: solver failed: {exc}", file=sys.stderr)
        return 3
    except SciMLError as exc:
        print(f"sciml: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except MemoryError as exc:  # a size no up-front check caught: still one line, not a traceback
        print(f"sciml: out of memory ({exc}); the sizes asked for do not fit this machine: lower them",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sciml: interrupted", file=sys.stderr)
        return 130
    return 1  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
