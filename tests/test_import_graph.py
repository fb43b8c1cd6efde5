"""No import cycles among the library's modules (imports anywhere in a module count,
also those inside functions: a lazy import only hides a cycle, it does not remove it).

A cycle that remains is listed in ``KNOWN_CYCLES`` with the reason; the test
fails when a new one appears and when a listed one is gone (so the list shrinks).
Also: no library module uses another module's private (``_name``) names.
"""
from __future__ import annotations

import ast
import pathlib
import sys

import pyautodiff

ROOT = pathlib.Path(pyautodiff.__file__).parent

KNOWN_CYCLES: dict = {}  # none left (issue #23: the VM boundary, registration at import)


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


def private_names_used_across_modules() -> list[tuple[str, str]]:
    """(module, owner.name) for every ``_name`` (not dunder) a library module imports from,
    or reads as an attribute of, another library module."""
    mods = _modules()
    found = []
    for module, path in mods.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text())
        aliases = {}  # local name -> library module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for target, alias in zip(_from_targets(module, is_package, node), node.names):
                    if f"{target}.{alias.name}" in mods:
                        aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
                    elif target in mods and _private(alias.name):
                        found.append((module, f"{target}.{alias.name}"))
            elif isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in mods})
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and _private(node.attr)):
                found.append((module, f"{aliases[node.value.id]}.{node.attr}"))
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _from_targets(module, is_package, node) -> list[str]:
    """The module each name of ``from X import a, b`` is looked up in (X, resolved)."""
    if node.level:
        base = module.split(".")[: len(module.split(".")) - (0 if is_package else 1)]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] * len(node.names)


def test_no_module_uses_another_modules_private_names():
    # a name another module needs is part of its owner's interface: make it public (issue #23)
    assert private_names_used_across_modules() == []


def test_the_private_name_check_sees_one(tmp_path, monkeypatch):
    pkg = tmp_path / "pyautodiff"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def _helper():\n    pass\n")
    (pkg / "b.py").write_text("from .a import _helper\nfrom . import a\na._helper()\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)  # _modules() reads it at call time
    assert private_names_used_across_modules() == [("pyautodiff.b", "pyautodiff.a._helper")] * 2
