"""Joining and splitting arrays: concatenate, the *stack family, append, split.

Joins build new arrays (``pt.concatenate``/``pt.stack``) in numpy's result
dtype.  Splits are basic slices of the input, so like numpy's they are views
of it, with the same write-through behaviour (see ``indexing.getitem``).
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..traced import Traced, unwrap
from .core import as_var, gather, lift, norm_axis, refuse, write_out
from .indexing import getitem
from .registry import register
from .shape import atleast_1d, atleast_2d, atleast_3d, ravel, reshape


@register(np.concatenate, group="joining")
def concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    value = np.concatenate([unwrap(a) for a in arrays], axis=axis, dtype=dtype, casting=casting)
    if axis is None:
        vars_ = [as_var(a, value.dtype.name).flatten() for a in arrays]
        axis = 0
    else:
        vars_ = [as_var(a, value.dtype.name) for a in arrays]
    result = lift(value, pt.concatenate(vars_, axis=norm_axis(axis, value.ndim)))
    return result if out is None else write_out(out, result)


@register(np.stack, group="joining")
def stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    value = np.stack([unwrap(a) for a in arrays], axis=axis, dtype=dtype, casting=casting)
    vars_ = [as_var(a, value.dtype.name) for a in arrays]
    result = lift(value, pt.stack(vars_, axis=norm_axis(axis, value.ndim)))
    return result if out is None else write_out(out, result)


@register(np.hstack, group="joining")
def hstack(tup, dtype=None, casting="same_kind"):
    arrs = [atleast_1d(a) for a in tup]
    return concatenate(arrs, axis=0 if np.ndim(unwrap(arrs[0])) == 1 else 1, dtype=dtype, casting=casting)


@register(np.vstack, group="joining")
def vstack(tup, dtype=None, casting="same_kind"):
    return concatenate([atleast_2d(a) for a in tup], axis=0, dtype=dtype, casting=casting)


@register(np.dstack, group="joining")
def dstack(tup):
    return concatenate([atleast_3d(a) for a in tup], axis=2)


@register(np.column_stack, group="joining")
def column_stack(tup):
    cols = [reshape(a, (-1, 1)) if np.ndim(unwrap(a)) < 2 else a for a in tup]
    return concatenate(cols, axis=1)


@register(np.append, group="joining")
def append(arr, values, axis=None):
    if axis is None:
        return concatenate([ravel(arr) if type(arr) is Traced else np.ravel(arr),
                            ravel(values) if type(values) is Traced else np.ravel(unwrap(values))], axis=0)
    return concatenate([arr, values], axis=axis)


def _split(np_fn, default_axis):
    def lower(ary, indices_or_sections, axis=None):
        if type(indices_or_sections) is Traced or (type(indices_or_sections) in (list, tuple)
                                                   and any(type(i) is Traced for i in indices_or_sections)):
            raise refuse(f"numpy.{np_fn.__name__}: split points that depend on the inputs are not supported")
        args = (unwrap(ary), indices_or_sections) + (() if axis is None else (axis,))
        parts = np_fn(*args)  # numpy's own errors (unequal division, too few dims)
        nd = np.ndim(unwrap(ary))
        ax = default_axis(nd) if axis is None else int(axis) % nd
        out, start = [], 0
        for p in parts:
            stop = start + p.shape[ax]
            out.append(getitem(ary, (slice(None),) * ax + (slice(start, stop),)))
            start = stop
        return out

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


register(np.split, group="joining")(_split(np.split, lambda nd: 0))
register(np.array_split, group="joining")(_split(np.array_split, lambda nd: 0))
register(np.hsplit, group="joining")(_split(np.hsplit, lambda nd: 1 if nd > 1 else 0))
register(np.vsplit, group="joining")(_split(np.vsplit, lambda nd: 0))
register(np.dsplit, group="joining")(_split(np.dsplit, lambda nd: 2))


@register(np.unstack, group="joining")
def unstack(x, /, *, axis=0):
    np.unstack(unwrap(x), axis=axis)  # numpy's checks
    nd = np.ndim(unwrap(x))
    ax = int(axis) % nd
    return tuple(getitem(x, (slice(None),) * ax + (i,)) for i in range(np.shape(unwrap(x))[ax]))


@register(np.block, group="joining")
def block(arrays):
    # np.block only places elements: numpy itself lays out the element numbers of every block
    leaves = []

    def collect(x):
        if type(x) is list:
            return [collect(v) for v in x]
        leaves.append(x)
        return len(leaves) - 1

    layout = collect(arrays)

    def rebuild(node, values):
        return [rebuild(v, values) for v in node] if type(node) is list else values[node]

    return gather(lambda *values: np.block(rebuild(layout, values)), *leaves)


@register(np.ediff1d, group="joining")
def ediff1d(ary, to_end=None, to_begin=None):
    value = np.ediff1d(unwrap(ary), unwrap(to_end), unwrap(to_begin))  # numpy's casting checks
    flat = as_var(ary, value.dtype.name).reshape((-1,))
    parts = [flat[1:] - flat[:-1]]
    if to_begin is not None:
        parts.insert(0, as_var(to_begin, value.dtype.name).reshape((-1,)))
    if to_end is not None:
        parts.append(as_var(to_end, value.dtype.name).reshape((-1,)))
    return lift(value, pt.concatenate(parts) if len(parts) > 1 else parts[0])
