"""The lowering registry: flat tables from numpy callables to PyTensor builders.

A lowering is a Python function with the signature of the numpy callable it
stands for.  It receives the call's arguments (some ``Traced``, some
concrete), computes the concrete result with numpy itself and the symbolic
result with PyTensor, and returns them joined by ``core.lift``.

Tables:
- ``FUNCTIONS``: keyed by the callable object (``np.exp``, ``np.sum``,
  ``math.exp``, ``builtins.float`` ...), or by ``(ufunc, method)`` for ufunc
  methods such as ``np.add.reduce``.
- ``METHODS``: keyed by ndarray method name (``"sum"``, ``"reshape"``).

Example::

    @register(np.cumsum, method="cumsum")
    def cumsum(a, axis=None, dtype=None, out=None): ...
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Entry:
    name: str  # how users write it, e.g. "numpy.exp" or "ndarray.sum"
    fn: Callable
    group: str  # section of the coverage table


FUNCTIONS: dict[Any, Entry] = {}
METHODS: dict[str, Entry] = {}


def _qualname(target) -> str:
    if isinstance(target, tuple):  # (ufunc, "reduce")
        return f"{_qualname(target[0])}.{target[1]}"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if module in ("numpy", "builtins", "math") or module.startswith("numpy."):
        module = {"builtins": "", "math": "math"}.get(module, module)
    if module.startswith("numpy.") and not module.startswith(("numpy.linalg", "numpy.fft", "numpy.random")):
        module = "numpy"
    if type(target).__name__ == "ufunc":
        module = "numpy" if not module.startswith("scipy") else module
    return f"{module}.{name}" if module else name


def register(*targets, method: str | tuple[str, ...] | None = None, group: str = "misc"):
    """Register the decorated lowering for each target callable (and methods)."""

    def deco(fn):
        for t in targets:
            FUNCTIONS[t] = Entry(_qualname(t), fn, group)
        names = (method,) if isinstance(method, str) else (method or ())
        for m in names:
            METHODS[m] = Entry(f"ndarray.{m}", fn, group)
        return fn

    return deco


def register_fn(target, fn, group: str, name: str | None = None) -> None:
    """Register an already-built lowering (used by table-driven modules)."""
    FUNCTIONS[target] = Entry(name or _qualname(target), fn, group)


def lookup(target) -> Entry | None:
    try:
        return FUNCTIONS.get(target)
    except TypeError:  # unhashable callables are never registered
        return None


def table() -> list[Entry]:
    """All entries, sorted by group then name (for the coverage listing)."""
    seen = {}
    for e in list(FUNCTIONS.values()) + list(METHODS.values()):
        seen.setdefault(e.name, e)
    return sorted(seen.values(), key=lambda e: (e.group, e.name))
