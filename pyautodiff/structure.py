"""Argument and result structures: flattening into array leaves and back.

A call's arguments flatten into *leaves* (the arrays and floats that become
graph inputs) and a hashable *treedef* (the structure, plus the values of
static arguments).  The treedef is the cache key: equal treedefs mean the
same shapes, dtypes and static values, so the same trace applies (subject to
its guards).

Leaves: ndarrays of any numeric dtype, numpy scalars of float/complex type,
Python floats.  Differentiable leaves are the floating ones.  Static: ints,
bools, strings, None, and other objects (by identity).  Tuples, lists and
dicts are walked.

Example::

    >>> leaves = []
    >>> key = flatten((np.ones(2), 3, {"b": 1.5}), leaves)
    >>> len(leaves)
    2
"""
from __future__ import annotations

import numpy as np

from .static import Static

_STATIC_TYPES = (int, bool, str, bytes, type(None), complex)


def flatten(x, leaves: list, paths: list | None = None, path: str = ""):
    """Append the leaves of ``x`` to ``leaves``; return its hashable treedef."""
    t = type(x)
    if t is np.ndarray:
        if x.dtype.kind not in "biufc":
            return ("obj", t, id(x))
        leaves.append(x)
        if paths is not None:
            paths.append(path)
        return ("a", x.shape, x.dtype.char)
    if t is float:
        leaves.append(x)
        if paths is not None:
            paths.append(path)
        return "f"
    if t in _STATIC_TYPES:
        return (t, x)
    if t is tuple or t is list:
        sub = tuple(flatten(v, leaves, paths, f"{path}[{i}]") for i, v in enumerate(x))
        return (t, sub)
    if t is dict:
        return (dict, tuple(x.keys()),
                tuple(flatten(v, leaves, paths, f"{path}[{k!r}]") for k, v in x.items()))
    if t is Static:  # static=(...): keyed by value, never a leaf
        return ("static", x.key)
    if isinstance(x, np.generic):
        if x.dtype.kind in "fc":
            leaves.append(x)
            if paths is not None:
                paths.append(path)
            return ("s", x.dtype.char)
        return (t, x.item())
    return ("obj", t, id(x))  # static by identity


def rebuild(x, it):
    """``x`` with its leaves replaced, in order, by the values of iterator ``it``."""
    t = type(x)
    if t is np.ndarray:
        return next(it) if x.dtype.kind in "biufc" else x
    if t is float:
        return next(it)
    if t in _STATIC_TYPES:
        return x
    if t is tuple or t is list:
        return t(rebuild(v, it) for v in x)
    if t is dict:
        return {k: rebuild(v, it) for k, v in x.items()}
    if t is Static:
        return x.value
    if isinstance(x, np.generic) and x.dtype.kind in "fc":
        return next(it)
    return x


def is_differentiable(leaf) -> bool:
    return isinstance(leaf, float) or (isinstance(leaf, (np.ndarray, np.generic)) and leaf.dtype.kind == "f")


class Template:
    """A result structure with holes for computed values.

    ``kinds`` says how each hole's array is returned: ``"float"`` (a Python
    float, where the traced run produced one, as CPython would), ``"scalar"``
    (a numpy scalar of the recorded dtype) or ``"array"``.
    """

    __slots__ = ("tree", "kinds", "n")

    def __init__(self, tree, kinds):
        self.tree, self.kinds, self.n = tree, kinds, len(kinds)

    def fill(self, values):
        conv = [_convert(v, k) for v, k in zip(values, self.kinds)]
        return _fill(self.tree, iter(conv))


_HOLE = object()


def _convert(v, kind):
    if kind == "array":
        return v if type(v) is np.ndarray else np.asarray(v)
    if kind == "float":
        return float(v)
    return np.asarray(v)[()]


def _fill(tree, it):
    if tree is _HOLE:
        return next(it)
    t = type(tree)
    if t is _Const:
        return tree.get()
    if t is tuple and tree and tree[0] == "__seq__":
        _, kind, items = tree
        return kind(_fill(c, it) for c in items)
    if t is tuple and tree and tree[0] == "__named__":
        _, kind, items = tree
        return kind(*(_fill(c, it) for c in items))
    if t is tuple and tree and tree[0] == "__dict__":
        _, keys, items = tree
        return {k: _fill(c, it) for k, c in zip(keys, items)}
    return tree


class _Const:
    """A result value that does not depend on the inputs (copied when mutable)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def get(self):
        v = self.value
        return v.copy() if isinstance(v, np.ndarray) else v


def template_of(result, is_hole, kind_of, holes: list):
    """Build a Template from ``result``: values where ``is_hole`` are recorded in ``holes``."""
    kinds = []

    def walk(x):
        if is_hole(x):
            holes.append(x)
            kinds.append(kind_of(x))
            return _HOLE
        t = type(x)
        if t in (tuple, list):
            return ("__seq__", t, tuple(walk(v) for v in x))
        if isinstance(x, tuple) and hasattr(x, "_fields"):  # a named tuple (e.g. np.linalg.eigh's)
            return ("__named__", t, tuple(walk(v) for v in x))
        if t is dict:
            return ("__dict__", tuple(x.keys()), tuple(walk(v) for v in x.values()))
        return _Const(x)

    tree = walk(result)
    return Template(tree, kinds)
