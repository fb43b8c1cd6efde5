"""Array creation mixed with traced values.

``np.zeros_like(x)`` of a traced ``x`` depends only on its shape, so the
result is an ordinary array (later writes of traced values promote it).
``np.array``/``np.asarray`` of lists holding traced scalars or arrays stack
them symbolically.  ``arange``/``linspace`` with traced endpoints compute
their elements from them; a length that depends on the inputs is guarded.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import Traced, contains_traced, unwrap
from .core import as_var, dtype_of, guard, lift, refuse, vars_for
from .registry import register


def _like(np_fn):
    def lower(a, *args, **kwargs):
        if type(a) is Traced:
            a.shape  # a data-dependent shape becomes a guard
        value = np_fn(unwrap(a), *[unwrap(v) for v in args], **{k: unwrap(v) for k, v in kwargs.items()})
        fill = args[0] if args else kwargs.get("fill_value")
        if contains_traced(fill):  # np.full_like(x, traced_fill)
            return lift(value, pt.alloc(as_var(fill, value.dtype.name), *value.shape))
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
    value = np.full(unwrap(shape), unwrap(fill_value), dtype=dtype)
    return lift(value, pt.alloc(as_var(fill_value, value.dtype.name), *value.shape))


def _converter(np_fn):
    """np.array / np.asarray / ...: numpy decides whether the result is a copy, a view or ``obj`` itself."""

    def lower(obj, *args, **kwargs):
        value = np_fn(unwrap(obj), *args, **kwargs)
        if type(obj) is Traced:
            if value is obj.value:  # no copy needed: numpy returns the array itself (aliasing kept)
                return obj
            if np.may_share_memory(value, obj.value):  # ndmin without a copy: a view
                from .shape import reshape

                return reshape(obj, value.shape)
            var = as_var(obj, value.dtype.name)
        else:  # lists holding traced values are stacked
            var = _stack_nested(obj, value.dtype.name)
        if var.ndim < value.ndim:  # ndmin prepends axes
            var = var.reshape(value.shape)
        return lift(value, var)

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


for _fn in (np.array, np.asarray, np.asanyarray, np.ascontiguousarray):
    register(_fn, group="creation")(_converter(_fn))


def _stack_nested(obj, dtype):
    if type(obj) in (list, tuple):
        return pt.stack([_stack_nested(o, dtype) for o in obj])
    return as_var(obj, dtype)


@register(np.arange, group="creation")
def arange(*args, dtype=None, **kwargs):
    bounds = dict(zip(("start", "stop", "step") if len(args) > 1 else ("stop",), args))
    bounds.update({k: kwargs.pop(k) for k in ("start", "stop", "step") if k in kwargs})
    if kwargs:
        raise refuse(f"numpy.arange: arguments {sorted(kwargs)} are not supported with traced values")
    if "stop" not in bounds:  # np.arange(start=5) counts up to 5
        bounds["stop"] = bounds.pop("start")
    start, stop, step = bounds.get("start", 0), bounds["stop"], bounds.get("step", 1)
    value = np.arange(unwrap(start), unwrap(stop), unwrap(step), dtype=dtype)
    vstart, vstop, vstep = vars_for([start, stop, step], dtype_of(value))
    if value.dtype.kind in "iu" and all(np.asarray(unwrap(v)).dtype.kind in "iub" for v in (start, stop, step)):
        return lift(value, pt.arange(vstart, vstop, vstep, dtype=value.dtype.name))  # length stays symbolic
    # numpy's length is ceil((stop - start) / step); the trace holds while it stays the same
    f64 = [pt.cast(v, "float64") for v in (vstart, vstop, vstep)]
    length = pt.maximum(pt.ceil((f64[1] - f64[0]) / f64[2]), 0)
    guard(pt.cast(length, "int64"), len(value), "arange length")
    return lift(value, f64[0] + pt.arange(len(value), dtype="float64") * f64[2])


@register(np.linspace, group="creation")
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, **kwargs):
    if kwargs:
        raise refuse(f"numpy.linspace: arguments {sorted(kwargs)} are not supported with traced values")
    num = int(num)
    value = np.linspace(unwrap(start), unwrap(stop), num, endpoint=endpoint, retstep=retstep, dtype=dtype, axis=axis)
    y_value, step_value = value if retstep else (value, None)
    dt = np.result_type(unwrap(start), unwrap(stop), float(num))
    vstart, vstop = (pt.cast(v, dt.name) for v in vars_for([start, stop], dt))
    vstart, vstop = pt.broadcast_arrays(vstart, vstop)
    div = (num - 1) if endpoint else num
    delta = vstop - vstart
    step = delta / div if div > 0 else delta * np.nan  # numpy: NaN step when it divides by zero
    grid = pt.arange(num, dtype=dt.name).reshape((-1,) + (1,) * vstart.ndim)
    y = grid * step + vstart if div > 0 else grid * delta + vstart
    if endpoint and num > 1:
        y = pt.set_subtensor(y[-1], vstop)
    if axis != 0:
        y = pt.moveaxis(y, 0, axis)
    if np.dtype(y_value.dtype).kind in "iu":
        y = pt.floor(y)
    result = lift(y_value, y)
    return (result, lift(step_value, step)) if retstep else result


@register(np.logspace, group="creation")
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    value = np.logspace(unwrap(start), unwrap(stop), num, endpoint=endpoint, base=unwrap(base), dtype=dtype,
                        axis=axis)
    y = linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    ybase = as_var(base, "float64")
    if np.ndim(unwrap(base)):
        ybase = pt.expand_dims(ybase, axis) if axis >= 0 else ybase
    return lift(value, pt.pow(ybase, as_var(y)))


@register(np.meshgrid, group="creation")
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    values = np.meshgrid(*[unwrap(x) for x in xi], copy=True, sparse=sparse, indexing=indexing)
    nd = len(xi)
    out = []
    for i, (x, v) in enumerate(zip(xi, values)):
        shape = [1] * nd
        axis = i
        if indexing == "xy" and nd > 1 and i < 2:
            axis = 1 - i  # 'xy' swaps the first two axes
        shape[axis] = -1
        var = as_var(x).reshape(tuple(shape))
        out.append(lift(v, var if sparse else pt.broadcast_to(var, v.shape)))
    return tuple(out) if isinstance(values, tuple) else out
