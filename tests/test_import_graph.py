"""No import cycles among the library's modules (imports anywhere in a module count,
also those inside functions: a lazy import only hides a cycle, it does not remove it).

A cycle that remains is listed in ``KNOWN_CYCLES`` with the reason; the test
fails when a new one appears and when a listed one is gone (so the list shrinks).
"""
from __future__ import annotations

import ast
import pathlib

import pyautodiff

ROOT = pathlib.Path(pyautodiff.__file__).parent

KNOWN_CYCLES = {
    frozenset({"pyautodiff.context", "pyautodiff.lowering", "pyautodiff.lowering.builtins",
               "pyautodiff.lowering.convolution", "pyautodiff.lowering.interpolation", "pyautodiff.vm.vectorize",
               "pyautodiff.lowering.setops",
               "pyautodiff.lowering.core", "pyautodiff.lowering.creation", "pyautodiff.lowering.cumulative",
               "pyautodiff.lowering.diagonals", "pyautodiff.lowering.indexing", "pyautodiff.lowering.inplace",
               "pyautodiff.lowering.joining", "pyautodiff.lowering.linalg", "pyautodiff.lowering.metadata",
               "pyautodiff.lowering.operators", "pyautodiff.lowering.products",
               "pyautodiff.lowering.python_errors", "pyautodiff.lowering.rearrange",
               "pyautodiff.lowering.reductions", "pyautodiff.lowering.scipy_linalg",
               "pyautodiff.lowering.scipy_stats", "pyautodiff.lowering.selection", "pyautodiff.lowering.shape",
               "pyautodiff.lowering.sorting", "pyautodiff.lowering.special",
               "pyautodiff.lowering.special_distributions", "pyautodiff.lowering.statistics",
               "pyautodiff.lowering.ufuncs", "pyautodiff.outside", "pyautodiff.trace", "pyautodiff.traced",
               "pyautodiff.vm.calls", "pyautodiff.vm.higher_order", "pyautodiff.vm.interpreter",
               "pyautodiff.vm.matching", "pyautodiff.vm.rolling", "pyautodiff.writes"}):
        "the trace context, traced values, lowering, the outside-state guards and the interpreter "
        "call each other at run time (lowering.core.dispatch_function calls back into "
        "ctx.interpreter, the interpreter lowers through the registry and records outside reads "
        "and writes, vm.rolling rolls loops for the interpreter and the trace); breaking it is the "
        "VM boundary of issue #23 (frames and the current exception owned by the interpreter, "
        "lowering calling back through a small interface), not done yet",
    frozenset({"pyautodiff.api", "pyautodiff.compose", "pyautodiff.vmap"}):
        "compose traces through api.Transformed and vmap.Vmapped, which are built on api",
}


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _targets(module: str, is_package: bool, node, mods) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in mods]
    if node.level:
        base = module.split(".")[: len(module.split(".")) - (0 if is_package else 1)]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = []
    for alias in node.names:  # `from . import x` names a submodule or a name in the package
        sub = f"{target}.{alias.name}"
        found.append(sub if sub in mods else target)
    return [t for t in found if t in mods]


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module].update(t for t in _targets(module, is_package, node, mods) if t != module)
    return graph


def cycles(graph) -> set[frozenset]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    found = set()

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.add(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_but_the_known_ones():
    found = cycles(import_graph())
    new = [sorted(c) for c in found - set(KNOWN_CYCLES)]
    gone = [sorted(c) for c in set(KNOWN_CYCLES) - found]
    assert not new, f"new import cycles: {new}"
    assert not gone, f"cycles no longer present (remove them from KNOWN_CYCLES): {gone}"


def test_the_check_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == {frozenset({"a", "b", "c"})}


def test_the_graph_sees_lazy_imports():
    # export imports the api inside export_source
    assert "pyautodiff.api" in import_graph()["pyautodiff.export"]
