"""Running reductions and differences: cumsum, cumprod, ufunc.accumulate, diff.

PyTensor's cumprod differentiates by dividing by the input, which gives NaN
where an element is zero.  So a trace that saw no zero uses it under a guard
(retraced if a zero appears), and a trace that saw one uses ZeroSafeCumprod,
whose gradient multiplies and never divides.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import pullback as vector_jacobian_product
from pytensor.tensor.extra_ops import CumOp

from ..traced import unwrap
from .core import as_var, guard, lift, write_out
from .reductions import running_products
from .registry import register, register_fn


def _cumprod(x, axis, concrete):
    if not x.dtype.startswith("float"):
        return pt.cumprod(x, axis=axis)
    if np.all(concrete != 0):
        guard(pt.all(pt.neq(x, 0)), True, "no zero in cumprod input")
        return pt.cumprod(x, axis=axis)
    return ZeroSafeCumprod(axis)(pt.specify_shape(x, concrete.shape))


class ZeroSafeCumprod(CumOp):
    """PyTensor's cumprod (numpy's value, multiplied in numpy's order) with a
    gradient that is exact where elements are zero: the pullback of the same
    running products computed by doubling (``reductions.running_products``),
    which multiplies and never divides.  O(n log n) work per slice."""

    def __init__(self, axis, mode="mul"):
        super().__init__(axis, mode="mul")

    def pullback(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        if x.type.shape[self.axis] is None:  # no static length: the doubling needs one
            return super().pullback(inputs, outputs, output_grads)
        running = pt.moveaxis(running_products(pt.moveaxis(x, self.axis, -1)), -1, self.axis)
        return [vector_jacobian_product(running, x, gz)]


def _cumsum(x, axis, concrete):
    return pt.cumsum(x, axis=axis)


def _cumulative(np_fn, build):
    def lower(a, axis=None, dtype=None, out=None):
        value = np_fn(unwrap(a), axis=axis, dtype=dtype)
        x = as_var(a, value.dtype.name)  # bools and small ints accumulate in numpy's result dtype
        concrete = np.asarray(unwrap(a), dtype=value.dtype)
        if axis is None:
            x, concrete, axis = x.flatten(), concrete.reshape(-1), 0
        result = lift(value, build(x, int(axis) % max(x.ndim, 1), concrete))
        return result if out is None else write_out(out, result)

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


register(np.cumsum, method="cumsum", group="cumulative")(_cumulative(np.cumsum, _cumsum))
register(np.cumprod, method="cumprod", group="cumulative")(_cumulative(np.cumprod, _cumprod))


def _accumulate(ufunc, build):
    def lower(array, axis=0, dtype=None, out=None):
        value = ufunc.accumulate(unwrap(array), axis=axis, dtype=dtype)
        x = as_var(array, value.dtype.name)
        concrete = np.asarray(unwrap(array), dtype=value.dtype)
        result = lift(value, build(x, int(axis) % x.ndim, concrete))
        return result if out is None else write_out(out, result)

    lower.__name__ = f"lower_{ufunc.__name__}_accumulate"
    return lower


register_fn((np.add, "accumulate"), _accumulate(np.add, _cumsum), "cumulative")
register_fn((np.multiply, "accumulate"), _accumulate(np.multiply, _cumprod), "cumulative")


def _cumulative_with_initial(np_fn, build, neutral):
    def lower(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        value = np_fn(unwrap(x), axis=axis, dtype=dtype, include_initial=include_initial)
        var = as_var(x, value.dtype.name)
        concrete = np.asarray(unwrap(x), dtype=value.dtype)
        if var.ndim == 0:
            var, concrete = var.reshape((1,)), concrete.reshape(1)
        ax = 0 if axis is None else int(axis) % var.ndim
        acc = build(var, ax, concrete)
        if include_initial:
            shape = list(value.shape)
            shape[ax] = 1
            acc = pt.concatenate([pt.fill(pt.zeros(shape, dtype=acc.dtype), neutral), acc], axis=ax)
        result = lift(value, acc)
        return result if out is None else write_out(out, result)

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


register(np.cumulative_sum, group="cumulative")(_cumulative_with_initial(np.cumulative_sum, _cumsum, 0))
register(np.cumulative_prod, group="cumulative")(_cumulative_with_initial(np.cumulative_prod, _cumprod, 1))


@register(np.diff, group="cumulative")
def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    kw = {k: unwrap(v) for k, v in (("prepend", prepend), ("append", append)) if v is not np._NoValue}
    value = np.diff(unwrap(a), n=n, axis=axis, **kw)
    x = as_var(a)
    ax = int(axis) % x.ndim
    parts = []
    for key, v in (("prepend", prepend), ("append", append)):
        if v is np._NoValue:
            parts.append(None)
            continue
        shape = list(np.shape(unwrap(a)))
        shape[ax] = 1 if np.ndim(unwrap(v)) == 0 else np.shape(unwrap(v))[ax]
        parts.append(pt.broadcast_to(as_var(v), shape) if np.ndim(unwrap(v)) == 0 else as_var(v))
    pieces = [p for p in (parts[0], x, parts[1]) if p is not None]
    if len(pieces) > 1:
        dt = np.result_type(*[unwrap(v) for v in (prepend, a, append) if v is not np._NoValue]).name
        x = pt.concatenate([pt.cast(p, dt) for p in pieces], axis=ax)
    # numpy takes differences of booleans with not_equal
    step = pt.neq if x.dtype == "bool" else pt.sub
    for _ in range(n):
        hi = [slice(None)] * x.ndim
        lo = [slice(None)] * x.ndim
        hi[ax], lo[ax] = slice(1, None), slice(None, -1)
        x = step(x[tuple(hi)], x[tuple(lo)])
    return lift(value, x)
