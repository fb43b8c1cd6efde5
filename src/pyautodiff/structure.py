"""Argument and result structures (pytrees): flattening into array leaves and back.

The walking is optree's (the C++ pytree library PyTorch uses), in the
``pyautodiff`` namespace: tuples, lists, dicts (leaves in sorted-key order,
rebuilt in insertion order), namedtuples, OrderedDicts, defaultdicts, deques,
dataclasses (registered on first sight: their ``init`` fields are the
children) and the types users register with ``register_pytree_node``.

A call's arguments flatten into *leaves* (the arrays and floats that become
graph inputs) and a hashable *treedef* (the structure, plus the values of
static leaves).  The treedef is the cache key: equal treedefs mean the same
shapes, dtypes and static values, so the same trace applies (subject to its
guards).  Plain arrays and floats never reach optree: they are handled inline.

Leaves: ndarrays of any numeric dtype, numpy scalars of float/complex type,
Python floats and complex numbers.  Differentiable leaves are the floating ones.  Static: ints,
bools, strings, None, and other objects (by identity).

Example::

    >>> leaves = []
    >>> key = flatten((np.ones(2), 3, {"b": 1.5}), leaves)
    >>> len(leaves)
    2
"""
from __future__ import annotations

import dataclasses

import numpy as np
import optree

from .static import Static

NAMESPACE = "pyautodiff"
_STATIC_TYPES = (int, bool, str, bytes, type(None))


def register_pytree_node(cls, flatten, unflatten):
    """Make ``cls`` a structure pyautodiff walks into: ``flatten(obj) -> (children, aux_data)``
    (``aux_data`` is part of the cache key, compared by equality), ``unflatten(aux_data, children) -> obj``.
    Gradients with respect to such an argument come back as a ``cls`` (JAX's signature).

    Example::

        ad.register_pytree_node(Layer, lambda l: ((l.W, l.b), l.name),
                                lambda name, ch: Layer(*ch, name=name))
    """
    optree.register_pytree_node(cls, flatten, unflatten, namespace=NAMESPACE)
    return cls


def _register_dataclass(cls) -> None:
    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    optree.register_pytree_node(
        cls, lambda obj: (tuple(getattr(obj, n) for n in names), names, names),
        lambda names, children: cls(**dict(zip(names, children))), namespace=NAMESPACE)


def _is_new_dataclass(leaf) -> bool:
    t = type(leaf)
    return hasattr(t, "__dataclass_fields__") and not isinstance(leaf, type)


def tree_flatten(x, with_paths: bool = False):
    """optree's flatten in our namespace; ``(leaves, spec)`` or ``(paths, leaves, spec)``.

    Dataclass instances met as leaves get their class registered, then the walk repeats."""
    while True:
        if with_paths:
            accessors, leaves, spec = optree.tree_flatten_with_accessor(x, namespace=NAMESPACE)
        else:
            leaves, spec = optree.tree_flatten(x, namespace=NAMESPACE)
        new = {type(l) for l in leaves if type(l) not in _PLAIN and _is_new_dataclass(l)}
        if not new:
            return (accessors, leaves, spec) if with_paths else (leaves, spec)
        for cls in new:
            _register_dataclass(cls)


_PLAIN = frozenset({np.ndarray, float, int, bool, str, type(None)})


def treespec(x):
    """The optree structure of ``x`` (for walking another tree along it)."""
    return tree_flatten(x)[1]


def _leaf_key(x, leaves, paths, path):
    """The key of one leaf; input leaves (arrays, floats) are appended to ``leaves``."""
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
    if t is complex:  # differentiable like a float (complex_kinds)
        leaves.append(x)
        if paths is not None:
            paths.append(path)
        return "c"
    if t in _STATIC_TYPES:
        return (t, x)
    if t is Static:  # static=(...): keyed by value, never a leaf
        return ("static", x.key)
    if isinstance(x, np.generic):
        if x.dtype.kind in "fc":
            leaves.append(x)
            if paths is not None:
                paths.append(path)
            return ("s", x.dtype.char)
        return (t, x.item())
    if _is_new_dataclass(x):  # walk into it: register its class, and the caller walks again
        raise _NewNode(t)
    return ("obj", t, id(x))  # static by identity


class _NewNode(Exception):
    """A dataclass met as a leaf (its class is not registered yet)."""


def flatten(x, leaves: list, paths: list | None = None, path: str = ""):
    """Append the leaves of ``x`` to ``leaves``; return its hashable treedef."""
    t = type(x)
    if t is np.ndarray or t is float or t is complex or t in _STATIC_TYPES or t is Static:
        return _leaf_key(x, leaves, paths, path)
    n_leaves, n_paths = len(leaves), len(paths) if paths is not None else 0
    while True:
        try:
            if paths is None:  # the hot case: one optree walk, one pass over the leaves
                sub, spec = optree.tree_flatten(x, namespace=NAMESPACE)
                keys = tuple([_leaf_key(leaf, leaves, None, "") for leaf in sub])
            else:
                accessors, sub, spec = optree.tree_flatten_with_accessor(x, namespace=NAMESPACE)
                keys = tuple([_leaf_key(leaf, leaves, paths, a.codify(path)) for a, leaf in zip(accessors, sub)])
            break
        except _NewNode as new:
            _register_dataclass(new.args[0])
            del leaves[n_leaves:]
            if paths is not None:
                del paths[n_paths:]
    if spec.num_leaves == 1 and spec.num_nodes == 1:  # a leaf (e.g. a numpy scalar, an object)
        return keys[0]
    return ("tree", spec, keys)


def is_input(x) -> bool:
    """True if the leaf ``x`` becomes a graph input (an array or a float, not a static value)."""
    t = type(x)
    if t is np.ndarray:
        return x.dtype.kind in "biufc"
    return t is float or t is complex or (isinstance(x, np.generic) and x.dtype.kind in "fc")


def rebuild(x, it):
    """``x`` with its leaves replaced, in order, by the values of iterator ``it``."""
    t = type(x)
    if t is np.ndarray:
        return next(it) if x.dtype.kind in "biufc" else x
    if t is float or t is complex:
        return next(it)
    if t in _STATIC_TYPES:
        return x
    if t is Static:
        return x.value
    sub, spec = tree_flatten(x)
    if spec.num_nodes == 1 and spec.num_leaves == 1:
        return next(it) if is_input(x) else x
    return spec.unflatten([next(it) if is_input(leaf) else (leaf.value if type(leaf) is Static else leaf)
                           for leaf in sub])


def rebuilder(x):
    """A function of an iterator that builds ``rebuild(x, it)``, with the walk of ``x``
    done once (results are put into the arguments' structure on every call)."""
    t = type(x)
    if t is Static:
        return lambda it, v=x.value: v
    if t is np.ndarray or t is float or t is complex or t in _STATIC_TYPES or isinstance(x, np.generic):
        return next if is_input(x) else (lambda it: x)
    sub, spec = tree_flatten(x)
    if spec.num_nodes == 1 and spec.num_leaves == 1:  # an opaque object
        return next if is_input(x) else (lambda it: x)
    slots = [_INPUT if is_input(l) else (l.value if type(l) is Static else l) for l in sub]
    unflatten = spec.unflatten

    def build(it):
        return unflatten([next(it) if s is _INPUT else s for s in slots])

    return build


_INPUT = object()


def leaves_of(x) -> list:
    """Every leaf of ``x`` (inputs and static values), in the order ``flatten`` walks them."""
    return tree_flatten(x)[0]


def map_leaves(fn, x):
    """``x`` with ``fn`` applied to every leaf."""
    sub, spec = tree_flatten(x)
    return spec.unflatten([fn(leaf) for leaf in sub])


def is_differentiable(leaf) -> bool:
    return isinstance(leaf, float) or (isinstance(leaf, (np.ndarray, np.generic)) and leaf.dtype.kind == "f")


class Template:
    """A result structure with holes for computed values.

    ``spec`` is the result's optree structure; ``slots`` has one entry per
    leaf: ``_HOLE`` (a computed value) or a ``Const``.  ``kinds`` says how
    each hole's array is returned: ``"float"`` (a Python float, where the
    traced run produced one, as CPython would), ``"scalar"`` (a numpy scalar
    of the recorded dtype) or ``"array"``.
    """

    __slots__ = ("spec", "slots", "kinds", "n", "_single")

    def __init__(self, spec, slots, kinds):
        self.spec, self.slots, self.kinds, self.n = spec, slots, kinds, len(kinds)
        # the common result, one computed array: no walk
        self._single = kinds[0] if (spec.num_nodes == 1 and len(kinds) == 1) else None

    def fill(self, values):
        if self._single is not None:
            return convert_leaf(values[0], self._single)
        it = iter([convert_leaf(v, k) for v, k in zip(values, self.kinds)])
        return self.spec.unflatten([next(it) if s is _HOLE else s.get() for s in self.slots])

    def hole_values(self, result) -> list:
        """The leaves of ``result`` (the concrete result this template was made from) at its holes."""
        leaves, _ = tree_flatten(result)
        return [leaf for leaf, slot in zip(leaves, self.slots) if slot is _HOLE]

    def with_kinds(self, kinds):
        """The same structure, its holes returned as ``kinds``."""
        return Template(self.spec, self.slots, kinds)

    def build(self, holes, const):
        """The structure with ``holes`` (an iterator) in the holes and ``const(value)`` for
        the constants (for export)."""
        return self.spec.unflatten([next(holes) if s is _HOLE else const(s.value) for s in self.slots])

    def split(self):
        """``[(spec, slots, kinds)]`` per child of a tuple result (for has_aux)."""
        parts, pos, hole = [], 0, 0
        for child in self.spec.children():
            slots = self.slots[pos:pos + child.num_leaves]
            n_holes = sum(1 for s in slots if s is _HOLE)
            parts.append(Template(child, slots, self.kinds[hole:hole + n_holes]))
            pos += child.num_leaves
            hole += n_holes
        return parts


_HOLE = object()


def convert_leaf(v, kind):
    """A computed leaf as the caller expects it: ``kind`` "array" (an ndarray), "float" or "scalar"."""
    if kind == "array":
        return v if type(v) is np.ndarray else np.asarray(v)
    if kind == "float":
        return float(v)
    return np.asarray(v)[()]


class Const:
    """A result value that does not depend on the inputs (copied when mutable)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def get(self):
        v = self.value
        return v.copy() if isinstance(v, np.ndarray) else v


def template_of(result, is_hole, kind_of, holes: list):
    """Build a Template from ``result``: values where ``is_hole`` are recorded in ``holes``."""
    sub, spec = tree_flatten(result)
    slots, kinds = [], []
    for leaf in sub:
        if is_hole(leaf):
            holes.append(leaf)
            kinds.append(kind_of(leaf))
            slots.append(_HOLE)
        else:
            slots.append(Const(leaf))
    return Template(spec, slots, kinds)
