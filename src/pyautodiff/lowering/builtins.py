"""Python builtins, ``math`` conversions and numpy scalar types on traced values.

Builtins that compute (``abs``, ``pow``, ``sum``, ``min``, ``max``,
``round``) build the graph directly: ``min``/``max`` select with ``switch``
under Python's own rule (the first of equal items wins, a NaN is never
greater) instead of guarding every comparison.  Conversions into Python
ints and bools (``int``, ``len``, ``math.floor``, ``math.isnan``) hand the
concrete answer to Python control and record a guard, so a cached trace is
reused only while the answer stays the same.  ``float(x)`` stays traced and
``type(x)`` answers for the boxed value.
"""
from __future__ import annotations

import builtins
import functools
import math
import operator

import numpy as np
import pytensor.tensor as pt

from ..traced import Traced, unwrap
from .core import as_var, lift, vars_for
from .registry import register


def _scalar(var):
    return var.flatten()[0] if var.ndim else var


@register(builtins.float, group="python")
def to_float(x=0.0):
    value = float(unwrap(x))  # Python's and numpy's own errors for non-scalars
    return lift(value, pt.cast(_scalar(as_var(x)), "float64"))


@register(builtins.int, group="python")
def to_int(x=0, *base):
    if base or type(x) is not Traced:
        return int(unwrap(x), *base)
    return int(x)  # Traced.__int__ guards the value


@register(builtins.bool, group="python")
def to_bool(x=False):
    return bool(x)  # Traced.__bool__ guards the truth value


@register(builtins.len, group="python")
def length(obj):
    return len(obj)  # Traced.__len__ guards a length that depends on the inputs


@register(builtins.type, group="python")
def type_of(obj, *rest):
    if rest:
        return builtins.type(obj, *rest)
    return builtins.type(unwrap(obj))


@register(builtins.abs, group="python")
def abs_(x):
    return lift(abs(unwrap(x)), pt.abs(as_var(x)))


@register(builtins.pow, group="python")
def pow_(base, exp, mod=None):
    if mod is not None:
        return builtins.pow(int(base), int(exp), int(mod))  # integer-only: guarded conversions
    return base ** exp


def round_value(x, ndigits=None):
    """``round(x, ndigits)``: an int (a guarded conversion) or a rounded traced float."""
    from .ufuncs import round_var

    value = round(unwrap(x)) if ndigits is None else round(unwrap(x), ndigits)
    var = as_var(x)
    if ndigits is None:
        if isinstance(value, int):
            return int(Traced(np.asarray(value, dtype=np.float64), pt.round(var, mode="half_to_even")))
        return lift(value, pt.round(var, mode="half_to_even"))
    return lift(value, round_var(var, int(ndigits)))


register(builtins.round, group="python")(round_value)


@register(builtins.sum, group="python")
def sum_(iterable, /, start=0):
    if type(iterable) is Traced and isinstance(iterable.value, np.ndarray) and iterable.value.ndim:
        value = builtins.sum(iterable.value, start)  # adds the rows one by one, like Python
        var = pt.sum(as_var(iterable), axis=0)
        if type(start) is Traced or start != 0:
            var = as_var(start) + var
        return lift(value, var)
    return functools.reduce(operator.add, iterable, start)


def _extreme(builtin, better):
    name = builtin.__name__

    def lower(*args, key=None, **kwargs):
        items = list(args[0]) if len(args) == 1 else list(args)
        if key is not None or not items or not _selectable(items):
            # Python's own rule, with guarded comparisons
            return builtin(items, key=key, **kwargs) if len(args) == 1 else builtin(*items, key=key, **kwargs)
        best = items[0]
        for item in items[1:]:  # Python keeps the first item unless a later one is strictly better
            value = item if better(unwrap(item), unwrap(best)) else best
            va, vb = vars_for([item, best], np.asarray(unwrap(value)).dtype)
            best = lift(unwrap(value), pt.switch(better(va, vb), va, vb))
        return best

    lower.__name__ = f"lower_{name}"
    return lower


def _selectable(items) -> bool:
    """Scalars of one type and dtype: the winner's type does not depend on the data."""
    first = unwrap(items[0])
    kind = (type(first), getattr(first, "dtype", None))
    return all(np.ndim(unwrap(i)) == 0 and (type(unwrap(i)), getattr(unwrap(i), "dtype", None)) == kind
               for i in items) and any(type(i) is Traced for i in items)


register(builtins.max, group="python")(_extreme(builtins.max, lambda a, b: a > b))
register(builtins.min, group="python")(_extreme(builtins.min, lambda a, b: a < b))


@register(builtins.divmod, group="python")
def divmod_(a, b):
    return a // b, a % b


def _guarded(convert, fn, pt_fn):
    """``fn(x)`` as a Python int/bool: ``convert`` of the shadowed result records the guard."""
    def lower(x):
        value = fn(unwrap(x))
        return convert(Traced(np.asarray(value), pt_fn(as_var(x))))

    lower.__name__ = f"lower_math_{fn.__name__}"
    return lower


for _fn, _pt in ((math.floor, pt.floor), (math.ceil, pt.ceil), (math.trunc, pt.trunc)):
    register(_fn, group="math")(_guarded(int, _fn, _pt))
for _fn, _pt in ((math.isnan, pt.isnan), (math.isinf, pt.isinf),
                 (math.isfinite, lambda v: ~(pt.isnan(v) | pt.isinf(v)))):
    register(_fn, group="math")(_guarded(bool, _fn, _pt))


def _scalar_type(np_type):
    def lower(x=0):
        value = np_type(unwrap(x))
        if isinstance(value, np.ndarray):  # np.float64(array) returns an array
            return lift(value, pt.cast(as_var(x), value.dtype.name))
        return lift(value, pt.cast(_scalar(as_var(x)) if np.ndim(unwrap(x)) == 0 else as_var(x), value.dtype.name))

    lower.__name__ = f"lower_{np_type.__name__}"
    return lower


# (np.longdouble has no PyTensor dtype: converting a traced value to it is refused as a float conversion)
# numpy's integer scalar types truncate toward zero like the cast; the result stays traced
# (an integer with no derivative), and Python control reading it guards it like int()
# (unsigned types are left out: numpy's conversion of a negative float to them is undefined)
for _t in (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8):
    register(_t, group="python")(_scalar_type(_t))


def item(self, *args):
    value = unwrap(self).item(*args)
    var = as_var(self)
    var = var.flatten()[0] if not args else var[args if len(args) > 1 else args[0]]
    if isinstance(value, (int, bool)):
        convert = bool if isinstance(value, bool) else int  # into Python control: guarded
        return convert(Traced(np.asarray(value), var))
    return lift(value, pt.cast(var, "float64") if isinstance(value, float) else var)


def tolist(self):
    value = unwrap(self)
    if value.ndim == 0:
        return item(self)
    return [tolist(self[i]) for i in range(len(value))]

