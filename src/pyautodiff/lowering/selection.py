"""Selecting elements by condition: where, clip, select, nonzero, compress, extract.

Conditions may depend on the inputs; the selection is then symbolic (a
``switch``, or ``nonzero`` whose length is only known at run time).
Gradients flow only to the selected values, never to a condition.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..traced import contains_traced, unwrap
from . import ties
from .core import as_var, dtype_of, gather, lift, refuse, vars_for, write_out
from .indexing import bounded, getitem
from .registry import register, register_method


def _bool(v):
    return v if v.dtype == "bool" else pt.neq(v, 0)


@register(np.where, group="selection")
def where(condition, *xy):
    if not xy:
        return nonzero(condition)
    if len(xy) != 2:
        np.where(unwrap(condition), *[unwrap(v) for v in xy])  # numpy's error
    x, y = xy
    value = np.where(unwrap(condition), unwrap(x), unwrap(y))
    vc, vx, vy = vars_for([condition, x, y], dtype_of(value))
    return lift(value, pt.switch(_bool(as_var(condition)), vx, vy))


@register(np.clip, method="clip", group="selection")
def clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue, max=np._NoValue, **kwargs):
    lo = a_min if a_min is not np._NoValue else (min if min is not np._NoValue else None)
    hi = a_max if a_max is not np._NoValue else (max if max is not np._NoValue else None)
    if kwargs:
        raise refuse(f"numpy.clip: arguments {sorted(kwargs)} are not supported with traced values")
    value = np.clip(unwrap(a), unwrap(lo), unwrap(hi))
    dt = dtype_of(value)
    var = vars_for([a, lo, hi] if lo is not None and hi is not None else [a], dt)[0]
    # numpy's clip is minimum(maximum(a, lo), hi): NaN bounds propagate like these ufuncs, and
    # at a bound the gradient is split with it, as for np.maximum (a central difference sees 1/2)
    if lo is not None:
        var = ties.maximum(var, vars_for([lo, a], dt)[0])
    if hi is not None:
        var = ties.minimum(var, vars_for([hi, a], dt)[0])
    result = lift(value, var)
    return result if out is None else write_out(out, result)


@register(np.select, group="selection")
def select(condlist, choicelist, default=0):
    value = np.select([unwrap(c) for c in condlist], [unwrap(c) for c in choicelist], unwrap(default))
    dt = dtype_of(value)
    choices = vars_for(list(choicelist) + [default], dt)
    var = choices[-1]
    for cond, choice in reversed(list(zip(condlist, choices))):  # the first true condition wins
        var = pt.switch(_bool(as_var(cond)), choice, var)
    return lift(value, pt.broadcast_to(var, value.shape) if var.ndim < value.ndim else var)


@register(np.nonzero, method="nonzero", group="selection")
def nonzero(a):
    value = np.nonzero(unwrap(a))
    var = as_var(a)
    if var.ndim == 0:
        raise refuse("numpy.nonzero of a 0-d traced value is not supported")
    return tuple(lift(v, s) for v, s in zip(value, pt.nonzero(var)))


@register(np.flatnonzero, group="selection")
def flatnonzero(a):
    value = np.flatnonzero(unwrap(a))
    return lift(value, pt.flatnonzero(as_var(a)))


@register(np.argwhere, group="selection")
def argwhere(a):
    value = np.argwhere(unwrap(a))
    var = as_var(a)
    if var.ndim == 0:
        raise refuse("numpy.argwhere of a 0-d traced value is not supported")
    return lift(value, pt.stack(pt.nonzero(var), axis=1))


@register(np.compress, group="selection")
def compress(condition, a, axis=None, out=None):
    np.compress(unwrap(condition), unwrap(a), axis=axis)  # numpy's checks
    x = a
    if axis is None:
        from .shape import ravel

        x, axis = ravel(a), 0
    n = np.shape(unwrap(x))[axis]
    cond = condition
    if len(unwrap(condition)) < n:  # numpy treats missing entries as False
        if contains_traced(condition):
            raise refuse("numpy.compress: a traced condition shorter than the axis is not supported")
        cond = np.concatenate([np.asarray(condition, dtype=bool), np.zeros(n - len(condition), dtype=bool)])
    elif not contains_traced(condition):
        cond = np.asarray(condition, dtype=bool)
    else:
        cond = _as_bool_traced(condition)
    result = getitem(x, (slice(None),) * (int(axis) % np.ndim(unwrap(x))) + (cond,))
    return result if out is None else write_out(out, result)


def _compress_method(self, condition, axis=None, out=None):
    return compress(condition, self, axis, out)  # the array is self, the condition comes first


register_method("compress", _compress_method, "selection")


def _as_bool_traced(cond):
    var = _bool(as_var(cond))
    return lift(np.asarray(unwrap(cond)) != 0, var)


@register(np.extract, group="selection")
def extract(condition, arr):
    value = np.extract(unwrap(condition), unwrap(arr))
    positions = pt.flatnonzero(as_var(condition).flatten())  # (a 0-d condition too: numpy ravels it)
    return lift(value, pt.take(as_var(arr).flatten(), positions))


@register(np.choose, method="choose", group="selection")
def choose(a, choices, out=None, mode="raise"):
    choices = list(choices)
    if contains_traced(a):
        value = np.choose(unwrap(a), [unwrap(c) for c in choices], mode=mode)
        shape, k = value.shape, len(choices)
        stacked = pt.stack([pt.broadcast_to(v, shape) for v in vars_for(choices, dtype_of(value))])
        idx = pt.broadcast_to(as_var(a), shape)
        # mode="raise": numpy's ValueError for a choice outside 0 .. k - 1 (on a retrace)
        idx = pt.mod(idx, k) if mode == "wrap" else pt.clip(idx, 0, k - 1) if mode == "clip" else \
            bounded(idx, 0, k - 1, "choice in range")
        # a gather along the stacked choices (PyTensor's Choose has no gradient)
        result = lift(value, pt.take_along_axis(stacked, idx[None], axis=0)[0])
    else:  # fixed picks: numpy chooses among the element numbers of the choices
        result = gather(lambda *cs: np.choose(unwrap(a), cs, mode=mode), *choices)
    return result if out is None else write_out(out, result)
