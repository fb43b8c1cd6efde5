"""What a rolled ``for`` loop iterates over: a ``range``, the rows of an array, a
list or tuple of same-shaped numbers (``vm/loop_lists.py``), and ``enumerate``/``zip``
(also ``strict=True``) of those.

Loop rolling (``vm/rolling.py``) traces the body with a *traced* step index
``I`` (an int64 scalar) instead of a concrete item.  A source says which values
``I`` takes (``values``, a ``range``) and how the loop's item is built from it,
so that the body graph reads its item through ``I``: ``X[I]`` for a row (a
Scan sequence, gathered once), ``c + I`` for ``enumerate``'s count.  It also
gives the item a plain iteration would have given at a position (the loop
variables after the rolled part) and moves the real iterator past the rolled
steps without producing their items one by one.

Example::

    src = of(iter(enumerate(zip(range(5), X))))   # positions 0..4
    src.item(I)       # (Traced(I), (Traced(I), Traced(X[I])))
"""
from __future__ import annotations

import itertools

import numpy as np
import pytensor.tensor as pt

from ..traced import Traced, TracedRows
from . import loop_lists

RANGE_ITERATOR = type(iter(range(0)))
SEQ_ITERATOR = type(iter(np.zeros(1)))  # CPython's iterator over a __getitem__ sequence
ROLLABLE = frozenset({RANGE_ITERATOR, SEQ_ITERATOR, TracedRows, enumerate, zip}) | loop_lists.SEQUENCE_ITERATORS


class _Range:
    """The rest of a range iterator: the item is the index itself."""

    def __init__(self, it, rest):
        self.it, self.rest = it, rest
        self.n = len(rest)

    def values(self):
        return self.rest

    def at(self, v):
        return v

    def concrete(self, pos):
        return self.rest[pos]

    def advance(self, m):
        _consume(self.it, m)


class _Rows:
    """The rest of the rows of a traced array (``TracedRows``) or of a numpy array."""

    def __init__(self, it, array, pos, stop):
        self.it, self.array, self.pos = it, array, pos
        self.n = max(stop - pos, 0)

    def values(self):
        return range(self.pos, self.pos + self.n)

    def at(self, v):
        if type(self.array) is Traced:
            return self.array[v]
        from ..lowering import indexing

        return indexing.getitem(self.array, v)  # a constant array read at a traced row

    def concrete(self, pos):
        return self.array[self.pos + pos]

    def advance(self, m):
        if type(self.it) is TracedRows:
            self.it.pos += m
        else:
            _consume(self.it, m)  # numpy row views: cheap


class _Enumerate:
    def __init__(self, inner, count):
        self.inner, self.count = inner, count
        self.n = inner.n

    def concrete(self, pos):
        return (self.count + pos, self.inner.concrete(pos))

    def advance(self, m):
        self.inner.advance(m)


class _Zip:
    def __init__(self, parts, strict):
        self.parts, self.strict = parts, strict
        self.n = min(p.n for p in parts)

    def concrete(self, pos):
        return tuple(p.concrete(pos) for p in self.parts)

    def advance(self, m):
        for p in self.parts:
            p.advance(m)


def _consume(it, m):
    next(itertools.islice(it, m, m), None)


def of(it, ctx=None):
    """The source of the iterator ``it`` (the object FOR_ITER steps), or None if the
    loop cannot roll over it (``ctx``: the trace's, to stack the items of a list)."""
    kind = type(it)
    if kind is RANGE_ITERATOR:
        _, (rng,), state = it.__reduce__()
        return _Range(it, rng if state is None else rng[state:])  # 3.12+: the rest; 3.11: a position
    if kind is TracedRows:
        return _Rows(it, it.traced, it.pos, it.stop)
    if kind is SEQ_ITERATOR:
        red = it.__reduce__()
        if len(red) != 3 or type(red[1][0]) is not np.ndarray or red[1][0].ndim == 0:
            return None
        arr = red[1][0]
        return _Rows(it, arr, red[2], len(arr))
    if kind in loop_lists.SEQUENCE_ITERATORS:
        return None if ctx is None else loop_lists.of_sequence(ctx, it)
    if kind is enumerate:
        red = it.__reduce__()
        inner = of(red[1][0], ctx)
        return None if inner is None or type(red[1][1]) is not int else _Enumerate(inner, red[1][1])
    if kind is zip:
        red = it.__reduce__()
        strict = len(red) > 2 and bool(red[2])
        parts = [of(p, ctx) for p in red[1]]
        if not parts or any(p is None for p in parts):
            return None
        if strict and len({p.n for p in parts}) != 1:
            return None  # zip(..., strict=True) of unequal lengths: CPython raises at the end
        return _Zip(parts, strict)
    return None


def _leaves(src):
    if type(src) is _Zip:
        for p in src.parts:
            yield from _leaves(p)
    elif type(src) is _Enumerate:
        yield from _leaves(src.inner)
    else:
        yield src


class Plan:
    """A source bound to the traced step index: ``values`` it takes, ``item(I)``."""

    def __init__(self, src):
        self.src = src
        self.n = src.n
        self.bare = type(src) in (_Range, _Rows, loop_lists.Stacked)  # I is the source's own index
        self.values = src.values() if self.bare else range(src.n)

    def item(self, index):
        """The loop's item with ``index`` (a Traced int64: a value of ``values``)."""
        if self.bare:
            return self.src.at(index)
        return _build(self.src, index)

    def concrete(self, k):
        """The item a plain iteration gives where the index is ``k``."""
        return self.src.concrete(self.values.index(k))

    def settle(self) -> bool:
        """After a probe: False if its body wrote into an item of a stacked list."""
        return all([s.settle() for s in _leaves(self.src) if type(s) is loop_lists.Stacked])

    def advance(self, frame, m):
        """Move the iterator on the frame's stack ``m`` items on (they were rolled)."""
        self.src.advance(m)
        if type(self.src) is _Enumerate or (type(self.src) is _Zip and _has_enumerate(self.src)):
            frame.stack[-1] = _rebuild(frame.stack[-1], m)
        return frame.stack[-1]


def _offset(leaf, index):
    """The leaf's own index at relative position ``index``."""
    vals = leaf.values()
    if vals.start == 0 and vals.step == 1:
        return index
    var = index.sym if vals.step == 1 else index.sym * np.int64(vals.step)
    return Traced(vals.start + vals.step * index.value, var + np.int64(vals.start))


def _build(src, index):
    if type(src) is _Enumerate:
        c = src.count
        count = index if c == 0 else Traced(c + index.value, index.sym + np.int64(c))
        return (count, _build(src.inner, index))
    if type(src) is _Zip:
        return tuple(_build(p, index) for p in src.parts)
    return src.at(_offset(src, index))


def _has_enumerate(src):
    if type(src) is _Enumerate:
        return True
    return type(src) is _Zip and any(_has_enumerate(p) for p in src.parts)


def _rebuild(it, m):
    """``it`` (an enumerate, or a zip holding one) with its counts moved ``m`` on; the
    leaves underneath were already advanced in place."""
    if type(it) is enumerate:
        _, (inner, count) = it.__reduce__()
        return enumerate(_rebuild(inner, m), count + m)
    if type(it) is zip:
        red = it.__reduce__()
        return zip(*[_rebuild(p, m) for p in red[1]], strict=len(red) > 2 and bool(red[2]))
    return it


def index_var(name="i"):
    return pt.scalar(dtype="int64", name=name)


def arrays_of(it):
    """The traced arrays whose rows the iterator ``it`` gives (for their values)."""
    kind = type(it)
    if kind is TracedRows:
        return [it.traced]
    if kind in (enumerate, zip):
        return [t for part in it.__reduce__()[1] for t in arrays_of(part)]
    return []
