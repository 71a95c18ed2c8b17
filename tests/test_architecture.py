"""Architecture rules read from the source: no import cycles, docstrings on the public API,
module sizes.

The imports are read statically (``ast``), so the test needs none of the optional
dependencies and sees imports inside functions as well as at module level.
"""
from __future__ import annotations

import ast
import statistics
from dataclasses import dataclass
from pathlib import Path

import pytest

from project_modules import PACKAGES, ROOT, module_files  # noqa: E402


MODULES = module_files()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


@dataclass(frozen=True)
class Edge:
    """One import of a project module by another."""

    source: str
    target: str
    line: int
    module_level: bool   # False: inside a function (runs when the function is called)


def _type_checking_block(node: ast.AST) -> bool:
    """True for ``if TYPE_CHECKING:`` (imports that never run)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(source: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The project modules an import statement loads (empty for third-party ones).

    ``from pkg import name`` loads ``pkg.name`` when that is a module, else ``pkg``.
    The implicit import of a module's parent packages is not counted: every
    tool that draws import graphs leaves it out, and it is never a cycle one
    can fix by moving code.
    """
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in MODULES]
    if node.level:
        base = source.split(".") if _is_package(source) else source.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    found = []
    for alias in node.names:
        sub = f"{mod}.{alias.name}"
        if sub in MODULES:
            found.append(sub)
        elif mod in MODULES:
            found.append(mod)
    return found


def import_edges() -> list[Edge]:
    """Every import of a project module by a project module (TYPE_CHECKING blocks left out)."""
    edges: list[Edge] = []

    def walk(node: ast.AST, source: str, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                for c in child.orelse:
                    walk(c, source, module_level)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _resolve(source, child):
                    if target != source:
                        edges.append(Edge(source, target, child.lineno, module_level))
                continue
            inner = module_level and not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            walk(child, source, inner)

    for name, path in MODULES.items():
        walk(ast.parse(path.read_text(), filename=str(path)), name, True)
    return edges


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components (with more than one module) of the import graph,
    each as one cycle through all its modules where possible, else its member list."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in edges:
        graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:   # Tarjan; the graph is small enough for recursion
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return [_one_cycle(graph, comp) for comp in comps]


def _one_cycle(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component."""
    start, members = comp[0], set(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def _describe(cycle: list[str], edges: list[Edge]) -> str:
    where = {(e.source, e.target): e for e in edges}
    steps = []
    for a, b in zip(cycle, cycle[1:]):
        e = where.get((a, b))
        steps.append(f"{a} -> {b}" + (f" ({MODULES[a].relative_to(ROOT)}:{e.line})" if e else ""))
    return "; ".join(steps)


def test_no_module_level_import_cycle():
    """No cycle of any length among module-level imports."""
    edges = [e for e in import_edges() if e.module_level]
    cycles = _cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(c, edges) for c in cycles)


def test_the_cycle_finder_names_a_cycle_of_three():
    """A loop a -> b -> c -> a is found and listed in order (on made-up edges)."""
    a, b, c = "sciml.core", "sciml.metrics", "sciml.io"
    edges = [Edge(a, b, 1, True), Edge(b, c, 2, True), Edge(c, a, 3, True), Edge(a, "sciml.device", 4, True)]
    cycles = _cycles(edges)
    assert len(cycles) == 1 and cycles[0][0] == cycles[0][-1] and set(cycles[0]) == {a, b, c}
    assert "sciml.core -> sciml.metrics (sciml/core.py:1)" in _describe(cycles[0], edges)


#: pairs that still import each other, both sides inside functions, in modules being
#: reworked elsewhere; each entry says how it goes.  An entry whose pair is gone fails
#: the test, so that the list only shrinks.
KNOWN_MUTUAL: set[tuple[str, str]] = set()


def test_no_module_imports_one_that_imports_it_back():
    """No two modules import each other, counting imports inside functions too
    (a function-level import that closes a loop is a cycle deferred, not removed)."""
    edges = import_edges()
    pairs = {(e.source, e.target): e for e in edges}
    mutual = sorted({tuple(sorted((a, b))) for (a, b) in pairs if (b, a) in pairs})
    new = [p for p in mutual if p not in KNOWN_MUTUAL]
    assert not new, "modules that import each other:\n" + "\n".join(
        f"{a} ({MODULES[a].relative_to(ROOT)}:{pairs[a, b].line}) <-> "
        f"{b} ({MODULES[b].relative_to(ROOT)}:{pairs[b, a].line})" for a, b in new)
    gone = [p for p in KNOWN_MUTUAL if p not in mutual and all(m in MODULES for m in p)]
    assert not gone, f"no longer import each other; remove from KNOWN_MUTUAL: {gone}"


def test_the_import_walker_sees_relative_and_function_level_imports():
    """The walker itself: a relative module-level import and a function-level one are edges."""
    edges = import_edges()
    assert any(e.source == "sciml.metrics" or e.source == "sciml.evaluate" for e in edges)
    assert any(e.source == "sciml.evaluate" and e.target == "sciml.core" and e.module_level for e in edges)
    assert any(not e.module_level for e in edges)


# ------------------------------------------------------------------ HDF5 in one place
#: modules allowed to import h5py: sciml.io (the schema table, the atomic writer, the
#: readers).  The FEM modules read and write their files through it too.
H5PY_ALLOWED = {"sciml.io"}


def _imports_of(path: Path, top: str) -> list[int]:
    """Lines where ``path`` imports the distribution ``top`` (any depth, any form)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == top for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == top:
            lines.append(node.lineno)
    return lines


def test_h5py_is_imported_by_sciml_io_only():
    """HDF5 goes through sciml.io (its SCHEMAS table, atomic_h5, h5_file, open_h5)."""
    found = {name: _imports_of(path, "h5py") for name, path in MODULES.items()}
    assert found["sciml.io"], "the walker no longer sees sciml.io's h5py import"
    outside = {f"{MODULES[n].relative_to(ROOT)}:{lines}" for n, lines in found.items()
               if lines and n not in H5PY_ALLOWED}
    assert not outside, f"h5py imported outside sciml/io.py (use sciml.io.h5_file / atomic_h5): {sorted(outside)}"


def test_schema_tags_live_in_the_io_table():
    """Every schema tag in the packages' code (a string constant that is a tag; docstrings
    may name them) is one of sciml.io.SCHEMAS and is written in sciml/io.py only."""
    import re

    from sciml.io import SCHEMAS
    tags = {s.tag for s in SCHEMAS.values()}
    assert len(tags) == len(SCHEMAS)
    pattern = re.compile(r"sciml-[a-z-]+/\d+")
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and pattern.fullmatch(node.value)):
                continue
            tag = node.value
            assert tag in tags, f"{path.relative_to(ROOT)}: schema {tag!r} is not in sciml.io.SCHEMAS"
            assert name == "sciml.io", f"{path.relative_to(ROOT)}: schema {tag!r} written out; use sciml.io.schema()"


# ------------------------------------------------------------------ docstrings
def _public_definitions(name: str) -> list[tuple[str, int, bool]]:
    """(name, line, has docstring) of each public function and class a module defines.

    Public means listed in ``__all__`` when the module has one, else a top-level name
    without a leading underscore.  Names a module only re-exports are checked where
    they are defined; constants carry no docstring and are not checked.
    """
    tree = ast.parse(MODULES[name].read_text())
    exported: list[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                for t in node.targets):
            exported = [ast.literal_eval(e) for e in node.value.elts]   # a literal list, by convention
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        public = node.name in exported if exported is not None else not node.name.startswith("_")
        if public:
            out.append((node.name, node.lineno, ast.get_docstring(node) is not None))
    return out


def undocumented() -> list[tuple[str, int, str]]:
    """(path, line, name) of every public function and class without a docstring."""
    return [(str(MODULES[m].relative_to(ROOT)), line, n)
            for m in sorted(MODULES) for n, line, ok in _public_definitions(m) if not ok]


#: public names in modules being reworked elsewhere that still lack a docstring
#: (``path name``); an entry that has gained one fails the test, so the list only shrinks
KNOWN_UNDOCUMENTED: set[str] = set()


def test_every_public_function_and_class_has_a_docstring():
    found = undocumented()
    missing = [f"{path}:{line} {name}" for path, line, name in found
               if f"{path} {name}" not in KNOWN_UNDOCUMENTED]
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)
    keys = {f"{path} {name}" for path, _, name in found}
    gone = [k for k in KNOWN_UNDOCUMENTED if k not in keys and (ROOT / k.split(" ")[0]).exists()]
    assert not gone, f"documented now; remove from KNOWN_UNDOCUMENTED: {gone}"


# ------------------------------------------------------------------ module sizes
#: the size targets: median module under MEDIAN_TARGET lines, the largest under LARGEST_TARGET
MEDIAN_TARGET, LARGEST_TARGET = 200, 450


def module_sizes() -> dict[str, int]:
    """Lines of each module of the project's packages; the ``__init__`` files (a docstring
    and re-exports, one to a few lines) are left out, so they do not pull the median down."""
    return {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in MODULES.values()
            if p.name != "__init__.py"}


def test_module_sizes_are_measured():
    """The size targets are reported, not asserted, until they are met (``python
    tests/test_architecture.py`` prints them); here only the measurement itself is checked."""
    sizes = module_sizes()
    assert len(sizes) > 50 and all(n > 0 for n in sizes.values())
    assert "modules; median" in size_summary()


def size_summary() -> str:
    """One line: module count, median and largest size, and the modules over the largest target."""
    sizes = module_sizes()
    over = sorted(((n, p) for p, n in sizes.items() if n >= LARGEST_TARGET), reverse=True)
    return (f"{len(sizes)} modules; median {statistics.median(sizes.values()):g} lines "
            f"(target < {MEDIAN_TARGET}); largest {max(sizes.values())} (target < {LARGEST_TARGET}); "
            f"at or over {LARGEST_TARGET}: " + (", ".join(f"{p} {n}" for n, p in over) or "none"))


if __name__ == "__main__":   # python tests/test_architecture.py: the numbers behind the targets
    print(size_summary())
    print("import pairs still allowed:", sorted(KNOWN_MUTUAL))
    print("undocumented public names:", [f"{p}:{ln} {n}" for p, ln, n in undocumented()])
