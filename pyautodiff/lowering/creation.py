"""Array creation mixed with traced values.

``np.zeros_like(x)`` of a traced ``x`` depends only on its shape, so the
result is an ordinary array (later writes of traced values promote it).
``np.array``/``np.asarray`` of lists holding traced scalars or arrays stack
them symbolically.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import Traced, contains_traced, unwrap
from .core import as_var, lift
from .registry import register


def _like(np_fn):
    def lower(a, *args, **kwargs):
        if type(a) is Traced:
            a.shape  # a data-dependent shape becomes a guard
        value = np_fn(unwrap(a), *[unwrap(v) for v in args], **kwargs)
        if contains_traced(args):  # np.full_like(x, traced_fill)
            fill = args[0]
            var = pt.alloc(as_var(fill, value.dtype.name), *value.shape)
            return lift(value, var)
        ctx = context.current()
        if ctx is not None:
            ctx.note_created(value)
        return value

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


for _fn in (np.zeros_like, np.ones_like, np.empty_like, np.full_like):
    register(_fn, group="creation")(_like(_fn))


@register(np.full, group="creation")
def full(shape, fill_value, dtype=None, order="C", **kw):
    value = np.full(shape, unwrap(fill_value), dtype=dtype)
    return lift(value, pt.alloc(as_var(fill_value, value.dtype.name), *value.shape))


def array(obj, dtype=None, copy=True, **kwargs):
    """np.array / np.asarray of something holding traced values."""
    value = np.array(unwrap(obj), dtype=dtype)
    if type(obj) is Traced:
        var = as_var(obj, value.dtype.name)
        return obj if (not copy and value.dtype == obj.value.dtype) else lift(value, var)
    var = _stack_nested(obj, value.dtype.name)
    return lift(value, var)


def asarray(obj, dtype=None, order=None, **kwargs):
    if type(obj) is Traced and (dtype is None or np.dtype(dtype) == obj.value.dtype):
        return obj  # numpy returns the same object: aliasing preserved
    return array(obj, dtype=dtype, copy=False)


def _stack_nested(obj, dtype):
    if type(obj) in (list, tuple):
        return pt.stack([_stack_nested(o, dtype) for o in obj])
    return as_var(obj, dtype)


for _fn in (np.array,):
    register(_fn, group="creation")(array)
for _fn in (np.asarray, np.asanyarray, np.ascontiguousarray):
    register(_fn, group="creation")(asarray)
