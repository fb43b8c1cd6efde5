"""Rolled ``for`` loops over a list or tuple of same-shaped numbers: ``for w in weights:``,
``for a, b in pairs:`` (see ``vm/loop_sources.py`` for the other sources).

The items left to iterate are *stacked* into one array ``S`` (one graph node, however
many items), and a probe's item reads ``S[I]`` at the traced step index, so that the
body traces to the same graph at every step and ``S`` becomes a Scan sequence.  This is
exact: ``S[k]`` is item ``k``'s value, and its gradient flows back to each item through
the stack.  Only lists whose items (or the parts of tuple items, position by position)
have one kind stack: arrays of one float/complex dtype and shape, or scalars of one type
(Python floats, numpy floating scalars), traced or constant; anything else (ints, mixed
types, ragged shapes, views of other arrays) stays unrolled.

A probe iterates the items themselves, as CPython does: a traced item keeps its object
and only its symbol is ``S[I]`` while the probe runs (``settle`` restores it); a constant
item is wrapped in a Traced holding the very same Python value (a float stays a float,
so NEP 50's weak-scalar rules apply as in a plain iteration).  A body that writes into
an item, or into any item still to come, is an effect a rolled loop would not repeat:
``settle`` says so and the loop stays unrolled.

An outside list (a global, an attribute) iterates as ``outside.OutsideItems``: each item
is still read as a chain step (its box an input of the graph), all of them when the
loop is about to roll.

Example::

    src = of_sequence(ctx, iter([w1, w2, w3]))    # w1..w3 traced (4,) arrays
    src.at(I)                                     # w1, its symbol now S[I]
"""
from __future__ import annotations

import itertools

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Constant

try:
    from pytensor.graph.traversal import graph_inputs
except ImportError:  # pytensor < 3.3
    from pytensor.graph.basic import graph_inputs

from .. import outside
from ..traced import Traced

LIST_ITERATOR = type(iter([]))
TUPLE_ITERATOR = type(iter(()))
SEQUENCE_ITERATORS = frozenset({LIST_ITERATOR, TUPLE_ITERATOR, outside.OutsideItems})
_CONSTANT_SCALARS = (float, np.float16, np.float32, np.float64, np.longdouble, np.complex64, np.complex128)


def _stack(syms, shape):
    """The symbols stacked along a new first axis in a node or two, however many (a ``stack``
    of arrays would add one ``expand_dims`` per item)."""
    if len(shape) == 1:
        return pt.stack(syms)  # scalars: one MakeVector
    return pt.join(0, *syms).reshape(shape)


def _from_roots(ctx, var) -> bool:
    """``var`` is computed from the trace's inputs and constants alone (no placeholder of a
    probe running around this loop), so it is the same at every step of an enclosing loop."""
    return all(isinstance(v, Constant) or v in ctx.root_values for v in graph_inputs([var]))


def _kind(v):
    """What an item must share with the others to stack: (type, shape, dtype) of its value,
    or None.  Traced items and constants may mix (a list built by a loop holds constants,
    and traced values from the iterations a probe traced)."""
    if type(v) is Traced:
        if v._view is not None:
            return None
        v = v.value
    t = type(v)
    if t is np.ndarray:
        if v.dtype.kind not in "fc":
            return None
        return (t, v.shape, v.dtype)
    if t in _CONSTANT_SCALARS:
        return (t, (), np.dtype(np.float64) if t is float else v.dtype)
    return None


class Stacked:
    """The items left in a list/tuple iterator, stacked: positions ``0..n-1`` of ``values``."""

    def __init__(self, ctx, it, items, width):
        self.ctx, self.it, self.items = ctx, it, items
        self.width = width  # None for plain items, else the tuple length
        self.n = len(items)
        self.stacks = None  # per part: the stacked variable (built at the first probe)
        # per item, per part: (symbol, version) before any probe placed or changed anything
        self.seen = [[(v._sym, v.version) if type(v) is Traced else None for v in self._parts(item)]
                     for item in items]
        self.swapped = []  # (object, its own symbol or None, read, version) of the running probe

    def values(self):
        return range(self.n)

    def _parts(self, item):
        return (item,) if self.width is None else item

    def _columns(self):
        if self.width is None:
            return [self.items]
        return [[item[c] for item in self.items] for c in range(self.width)]

    def _stack(self):
        ctx = self.ctx
        self.stacks = []
        emulator = getattr(ctx, "emulator", None)
        probing = emulator.probing if emulator is not None else False
        for c, col in enumerate(self._columns()):
            value = np.stack([np.asarray(v.value if type(v) is Traced else v) for v in col])
            if not any(type(v) is Traced for v in col):
                whole = pt.constant(value)  # constants: read through a root too (a sequence)
            else:
                whole = _stack([seen[c][0] if type(v) is Traced else pt.constant(np.asarray(v, dtype=value.dtype))
                                for v, seen in zip(col, self.seen)], value.shape)
            if probing and not _from_roots(ctx, whole):  # may vary with an enclosing probe: no root
                self.stacks.append(whole)
                continue
            # a root of its own, so that the Scan reads it as a sequence; the trace's end
            # puts the stack in its place (``rolling.finish``)
            root = pt.tensor(dtype=value.dtype.name, shape=value.shape, name="items")
            ctx.substitutions[root] = whole
            ctx.keepalive.append(Traced(value, root))
            self.stacks.append(root)

    def at(self, index):
        """Item ``index.value`` for a probe, its symbol (or each part's) read at ``index``."""
        if self.stacks is None:
            self._stack()
        k = index.value
        item = self.items[k]
        parts = self._parts(item)
        fresh = not any(type(v) is Traced and (v._sym, v.version) != self.seen[k][c] for c, v in enumerate(parts))
        if not fresh or len({id(v) for v in parts}) != len(parts):
            return item  # changed since it was stacked, or one object twice: plainly
        out = []
        for c, v in enumerate(parts):
            read = self.stacks[c][index.sym]
            if type(v) is Traced:
                self.swapped.append((v, v._sym, read, v.version))
                v._sym = read
                out.append(v)
            else:  # a constant: a Traced holding the very same value (written into: seen by settle)
                w = Traced(v, read)
                self.swapped.append((w, None, read, w.version))
                out.append(w)
        if self.width is None:
            return out[0]
        return item if all(a is b for a, b in zip(out, parts)) else tuple(out)

    def settle(self) -> bool:
        """After a probe: give the items their own symbols back; False if the body wrote
        into an item (the probe's or one still to come)."""
        ok = True
        for v, sym, read, version in reversed(self.swapped):
            if v._sym is not read or v.version != version:
                ok = False
            elif sym is not None:
                v._sym = sym
        self.swapped = []
        if ok:  # no item still to come was written (or is carried by the probe: placed)
            ok = all(type(v) is not Traced or (v._sym, v.version) == seen[c]
                     for item, seen in zip(self.items, self.seen) for c, v in enumerate(self._parts(item)))
        return ok

    def concrete(self, pos):
        return self.items[pos]

    def advance(self, m):
        if type(self.it) is outside.OutsideItems:
            self.it.pos += m
        else:
            next(itertools.islice(self.it, m, m), None)


def of_sequence(ctx, it):
    """The stacked source of a list/tuple iterator ``it``, or None if its items do not stack."""
    if type(it) is outside.OutsideItems:
        if it.n - it.pos < 4:
            return None  # too few to roll (rolling.py): no early reads
        items = [it.item(i) for i in range(it.pos, it.n)]  # each a chain step, as the loop would read it
    else:
        red = it.__reduce__()
        if len(red) != 3 or type(red[1][0]) not in (list, tuple):
            return None
        items = [ctx.resolve(v) for v in red[1][0][red[2]:]]
    if not items:
        return None
    first = items[0]
    if type(first) is tuple:
        if not first:
            return None
        kinds = [_kind(v) for v in first]
        if None in kinds or any(type(item) is not tuple or len(item) != len(first)
                                or any(_kind(v) != kc for v, kc in zip(item, kinds)) for item in items):
            return None
        return Stacked(ctx, it, items, len(first))
    kind = _kind(first)
    if kind is None or any(_kind(v) != kind for v in items):
        return None
    return Stacked(ctx, it, items, None)
