"""numpy functions that write into an existing array: put, copyto, fill, ufunc.at, ...

Each writes the concrete array with numpy itself first (numpy's casting,
broadcasting, cycling and errors), then mirrors the write symbolically with
``indexing.write_positions``, which asks numpy which element of the values
landed at each position.  An ordinary array created in the function that
receives traced values is promoted, as for ``a[i] = v``.  ``np.add.at``
accumulates repeated indices, as numpy's unbuffered ``at`` does.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import Traced, contains_traced, unwrap
from .core import as_var, element_numbers, guard, refuse
from .indexing import checked_index, promote, store, write_positions
from .registry import register, register_fn, register_method


def _target(arr, *inputs):
    """The Traced to write into, or None when nothing traced is involved."""
    ctx = context.current()
    arr = ctx.resolve(arr) if ctx is not None else arr
    if type(arr) is Traced:
        arr.check_writable()
        return arr
    if type(arr) is np.ndarray and any(contains_traced(v) for v in inputs):
        return promote(arr)
    return None


def _write(name, arr, values, writer, *static):
    """``writer(array, values)`` on ``arr``, mirrored symbolically; ``static`` must not be traced."""
    if any(contains_traced(s) for s in static):
        raise refuse(f"{name}: positions that depend on the inputs are not supported")
    target = _target(arr, values)
    if target is None:
        return writer(arr, values)
    before = target.sym
    writer(target.value, unwrap(values))
    val = as_var(values, target.value.dtype.name)
    target.assign(write_positions(before, target.value.shape, writer, val, np.shape(unwrap(values))))
    return None


@register(np.put, group="inplace")
def put(a, ind, v, mode="raise"):
    return _write("numpy.put", a, v, lambda arr, src: np.put(arr, unwrap(ind), src, mode=mode), ind)


register_method("put", lambda self, indices, values, mode="raise": put(self, indices, values, mode), "inplace")


def _masked(np_fn, source_index):
    """np.place / np.putmask: write where a mask (possibly traced) is true.

    ``source_index(mask_var, size, n)`` gives, per flat position, the element
    of the (cycled) values it would take; the mask then selects.
    """

    def lower(arr, mask, values):
        target = _target(arr, mask, values)
        if target is None:
            return np_fn(arr, mask, values)
        before = target.sym
        np_fn(target.value, unwrap(mask), unwrap(values))  # numpy's checks, and the concrete write
        n = int(np.size(unwrap(values)))
        if n == 0:  # numpy wrote nothing (and raised if something was to be written)
            return None
        shape = target.value.shape
        m = as_var(mask)
        m = (m if m.dtype == "bool" else pt.neq(m, 0)).reshape((-1,))
        if type(mask) is Traced and not np.any(unwrap(mask)):
            # nothing written (scipy.stats places -inf * scale under a false mask): a guard instead
            # of a switch whose untaken branch would send 0 * inf = NaN into the gradient
            guard(pt.any(m), False, f"numpy.{np_fn.__name__} mask")
            return None
        pool = as_var(values, target.value.dtype.name).reshape((-1,))
        candidates = pool[source_index(m, target.value.size, n)].reshape(shape)
        target.assign(pt.switch(m.reshape(shape), candidates, before))
        return None

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


# np.place: the k-th true position takes vals.flat[k % n]; np.putmask: position i takes values.flat[i % n]
register(np.place, group="inplace")(_masked(np.place,
                                            lambda m, size, n: pt.mod(pt.cumsum(pt.cast(m, "int64")) - 1, n)))
register(np.putmask, group="inplace")(_masked(np.putmask, lambda m, size, n: np.arange(size) % n))


@register(np.fill_diagonal, group="inplace")
def fill_diagonal(a, val, wrap=False):
    return _write("numpy.fill_diagonal", a, val, lambda arr, src: np.fill_diagonal(arr, src, wrap))


@register(np.put_along_axis, group="inplace")
def put_along_axis(arr, indices, values, axis):
    if contains_traced(indices) and axis is not None:
        # a fancy index built from the traced indices: written like a[idx] = v
        shape = np.shape(unwrap(arr))
        ax = int(axis) % len(shape)
        idx = []
        for i, n in enumerate(shape):
            if i == ax:
                idx.append(indices)
            else:
                grid = [1] * len(shape)
                grid[i] = n
                idx.append(np.arange(n).reshape(grid))
        store(arr, tuple(idx), values)
        return None
    return _write("numpy.put_along_axis", arr, values,
                  lambda a, src: np.put_along_axis(a, unwrap(indices), src, axis), indices)


@register(np.copyto, group="inplace")
def copyto(dst, src, casting="same_kind", where=True):
    scratch = np.array(unwrap(dst), copy=True)
    np.copyto(scratch, unwrap(src), casting=casting, where=unwrap(where))  # numpy's casting errors
    if where is True:
        store(dst, Ellipsis, src)
        return None
    if contains_traced(where):
        from .selection import where as np_where

        store(dst, Ellipsis, np_where(where, src, dst))
        return None
    return _write("numpy.copyto", dst, src,
                  lambda a, s: np.copyto(a, s, casting="unsafe", where=unwrap(where)))


def fill(self, value):
    store(self, Ellipsis, value)


register_method("fill", fill, "inplace")


def _at(ufunc, sign):
    """``ufunc.at(a, indices, b)`` for add/subtract: every occurrence of an index counts."""
    name = f"numpy.{ufunc.__name__}.at"

    def lower(a, indices, b=None):
        if b is None:
            raise refuse(f"{name} needs the values argument b")
        target = _target(a, indices, b)
        if target is None:
            return ufunc.at(a, indices, b)
        before = target.sym
        ufunc.at(target.value, unwrap(indices), unwrap(b))
        val = as_var(b, target.value.dtype.name)
        if contains_traced(indices):
            new = pt.inc_subtensor(before[checked_index(indices, before)], sign * val)
        else:
            positions = element_numbers(target.value)[unwrap(indices)]
            values = pt.broadcast_to(sign * val, positions.shape).reshape((-1,))
            new = pt.inc_subtensor(before.reshape((-1,))[positions.reshape(-1)], values)
            new = new.reshape(target.value.shape)
        target.assign(new)

    lower.__name__ = f"lower_{ufunc.__name__}_at"
    return lower


register_fn((np.add, "at"), _at(np.add, 1), "inplace")
register_fn((np.subtract, "at"), _at(np.subtract, -1), "inplace")
