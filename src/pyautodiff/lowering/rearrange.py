"""Functions that copy elements into a new arrangement: tile, repeat, roll, pad, ...

All of them are ``core.gather``: numpy runs the function on arrays of element
numbers and the symbolic result picks those elements, so shapes, broadcasting,
cycling and edge handling are numpy's own.  Arguments that decide the
arrangement (repeat counts, shifts, pad widths) must not depend on the
inputs, except a traced ``roll`` shift, which moves elements symbolically.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..traced import Traced, contains_traced, unwrap
from .core import as_var, gather, lift, refuse
from .registry import register

# np.pad modes that only copy elements of the input
_COPY_MODES = {"edge", "reflect", "symmetric", "wrap"}


def _static(name, *args):
    if any(contains_traced(a) for a in args):
        raise refuse(f"numpy.{name}: arguments that decide the output's layout must not depend on the inputs")


@register(np.tile, group="rearrange")
def tile(A, reps):
    _static("tile", reps)
    return gather(lambda a: np.tile(a, reps), A)


@register(np.repeat, method="repeat", group="rearrange")
def repeat(a, repeats, axis=None):
    _static("repeat", repeats)
    return gather(lambda x: np.repeat(x, repeats, axis=axis), a)


@register(np.roll, group="rearrange")
def roll(a, shift, axis=None):
    if contains_traced(shift):
        return _roll_traced(a, shift, axis)
    return gather(lambda x: np.roll(x, shift, axis=axis), a)


def _roll_traced(a, shift, axis):
    if type(shift) is not Traced or np.ndim(shift.value) or not (axis is None or isinstance(axis, (int, np.integer))):
        raise refuse("numpy.roll: a shift that depends on the inputs must be one integer, with one axis")
    value = np.roll(unwrap(a), unwrap(shift), axis=axis)
    var = as_var(a)
    flat = axis is None
    if flat:
        var = var.reshape((-1,))
    ax = 0 if flat else int(axis) % var.ndim
    n = np.shape(unwrap(a))[ax] if not flat else np.size(unwrap(a))
    source = pt.mod(pt.arange(n) - pt.cast(shift.sym, "int64"), n)  # numpy's roll: out[i] = a[i - shift]
    out = pt.take(var, source, axis=ax)
    return lift(value, out.reshape(np.shape(value)))


@register(np.pad, group="rearrange")
def pad(array, pad_width, mode="constant", **kwargs):
    _static("pad", pad_width)
    if callable(mode) or (mode != "constant" and mode not in _COPY_MODES):
        raise refuse(f"numpy.pad: mode={mode!r} is not supported with traced values "
                     f"(supported: 'constant', {', '.join(sorted(_COPY_MODES))})")
    if mode == "constant":
        cv = kwargs.pop("constant_values", 0)
        return gather(lambda x, c: np.pad(x, pad_width, mode="constant", constant_values=c, **kwargs), array, cv)
    return gather(lambda x: np.pad(x, pad_width, mode=mode, **kwargs), array)


@register(np.delete, group="rearrange")
def delete(arr, obj, axis=None):
    _static("delete", obj)
    return gather(lambda x: np.delete(x, obj, axis=axis), arr)


@register(np.insert, group="rearrange")
def insert(arr, obj, values, axis=None):
    _static("insert", obj)
    return gather(lambda x, v: np.insert(x, obj, v, axis=axis), arr, values)


@register(np.resize, group="rearrange")
def resize(a, new_shape):
    _static("resize", new_shape)
    return gather(lambda x: np.resize(x, new_shape), a)
