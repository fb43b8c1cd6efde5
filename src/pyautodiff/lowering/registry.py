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

A method of a traced array (``x.cumsum``) is a ``BoundMethod``; ``lookup``
answers for it too, so the interpreter calls the lowering instead of
emulating it when the call passes traced arguments (``x.dot(w)``).  It also
answers for the methods of an ordinary array that take traced *data*
(``W.dot(x)``, ``buf.fill(x)``), which numpy's C code could not follow.  A
method of a library class registered by its function (``poisson_gen._ppf``) is
looked up through the bound method's ``__func__``, bound to its instance.
"""
from __future__ import annotations

import functools
import types
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Entry:
    name: str  # how users write it, e.g. "numpy.exp" or "ndarray.sum"
    fn: Callable
    group: str  # section of the coverage table


FUNCTIONS: dict[Any, Entry] = {}
METHODS: dict[str, Entry] = {}


def qualname(target) -> str:
    """The readable name of a registry key (a function, or ``(ufunc, "reduce")``)."""
    if isinstance(target, tuple):  # (ufunc, "reduce")
        return f"{qualname(target[0])}.{target[1]}"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if module in ("numpy", "builtins", "math") or module.startswith("numpy."):
        module = {"builtins": "", "math": "math"}.get(module, module)
    if module.startswith("numpy.") and not module.startswith(("numpy.linalg", "numpy.fft", "numpy.random")):
        module = "numpy"
    if type(target).__name__ == "ufunc":  # ufuncs carry no __module__: find where they are public
        return _ufunc_home(target)
    return f"{module}.{name}" if module else name


def _ufunc_home(ufunc) -> str:
    import sys

    for home in ("numpy", "scipy.special"):
        module = sys.modules.get(home)
        if module is not None and getattr(module, ufunc.__name__, None) is ufunc:
            return f"{home}.{ufunc.__name__}"
    # Public nowhere: a kernel numpy's own Python code calls (before numpy.fft had
    # lowerings, np.fft.fft reached its pocketfft ufunc "fft" this way).
    return f"numpy's internal ufunc {ufunc.__name__!r} (called from numpy's own code for a function without a lowering)"


def register(*targets, method: str | tuple[str, ...] | None = None, group: str = "misc",
             name: str | None = None):
    """Register the decorated lowering for each target callable (and methods).

    ``name`` overrides the listed name (for callables whose ``__module__`` is
    private, e.g. scipy's ``scipy.special._logsumexp``).
    """

    def deco(fn):
        for t in targets:
            FUNCTIONS[t] = Entry(name or qualname(t), fn, group)
        names = (method,) if isinstance(method, str) else (method or ())
        for m in names:
            METHODS[m] = Entry(f"ndarray.{m}", fn, group)
        return fn

    return deco


def register_fn(target, fn, group: str, name: str | None = None) -> None:
    """Register an already-built lowering (used by table-driven modules)."""
    FUNCTIONS[target] = Entry(name or qualname(target), fn, group)


def register_method(name: str, fn: Callable, group: str) -> None:
    """Register ``fn(self, ...)`` as the lowering of ``ndarray.<name>``."""
    METHODS[name] = Entry(f"ndarray.{name}", fn, group)


class BoundMethod:
    """``x.name`` for a traced ``x``: the method's lowering bound to ``x``."""

    __slots__ = ("entry", "obj")

    def __init__(self, entry: Entry, obj):
        self.entry, self.obj = entry, obj

    def __call__(self, *args, **kwargs):
        return self.entry.fn(self.obj, *args, **kwargs)

    def __repr__(self):
        return f"<traced {self.entry.name}>"


_BUILTIN_METHOD = type([].append)
# ordinary-array methods whose traced arguments are data (not shapes or axes, which
# numpy's own method reads through guarded conversions and may answer with a view)
_DATA_METHODS = frozenset({"dot", "fill", "put", "choose", "clip", "searchsorted", "compress", "take"})


def lookup(target) -> Entry | None:
    t = type(target)
    if t is BoundMethod:
        return Entry(target.entry.name, target, target.entry.group)
    if t is types.MethodType:  # a method of a library class registered by its function
        entry = FUNCTIONS.get(target.__func__)
        return None if entry is None else Entry(entry.name, functools.partial(entry.fn, target.__self__),
                                                entry.group)
    if t is _BUILTIN_METHOD and target.__name__ in _DATA_METHODS and type(target.__self__) is np.ndarray:
        entry = METHODS[target.__name__]
        return Entry(entry.name, BoundMethod(entry, target.__self__), entry.group)
    try:
        return FUNCTIONS.get(target)
    except TypeError:  # unhashable callables are never registered
        return None


OWN_GROUP = "autodiff"  # pyautodiff's own primitives (ad.stop_gradient): not numpy coverage


def table() -> list[Entry]:
    """All numpy/Python entries, sorted by group then name (for the coverage listing)."""
    seen = {}
    for e in list(FUNCTIONS.values()) + list(METHODS.values()):
        if e.group == OWN_GROUP:
            continue
        seen.setdefault(e.name, e)
    return sorted(seen.values(), key=lambda e: (e.group, e.name))
