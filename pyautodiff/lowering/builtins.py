"""Python builtins and numpy scalar types applied to traced values.

Most builtins need nothing: ``sum``, ``min``, ``max``, ``abs``, ``pow``,
``round``, ``len``, ``sorted`` and ``isinstance`` work through ``Traced``'s
operators and guards.  The ones below would otherwise lose the shadow
(``float(x)`` must stay traced) or reveal the box (``type(x)``).
"""
from __future__ import annotations

import builtins

import numpy as np
import pytensor.tensor as pt

from ..traced import Traced, unwrap
from .core import as_var, lift
from .registry import register


def _scalar(var):
    return var.flatten()[0] if var.ndim else var


@register(builtins.float, group="python")
def to_float(x=0.0):
    value = float(unwrap(x))  # Python's and numpy's own errors for non-scalars
    return lift(value, pt.cast(_scalar(as_var(x)), "float64"))


@register(builtins.type, group="python")
def type_of(obj, *rest):
    if rest:
        return builtins.type(obj, *rest)
    return builtins.type(unwrap(obj))


def _scalar_type(np_type):
    def lower(x=0):
        value = np_type(unwrap(x))
        if isinstance(value, np.ndarray):  # np.float64(array) returns an array
            return lift(value, pt.cast(as_var(x), value.dtype.name))
        return lift(value, pt.cast(_scalar(as_var(x)) if np.ndim(unwrap(x)) == 0 else as_var(x), value.dtype.name))

    lower.__name__ = f"lower_{np_type.__name__}"
    return lower


for _t in (np.float64, np.float32, np.float16, np.longdouble):
    register(_t, group="python")(_scalar_type(_t))


@register(builtins.divmod, group="python")
def divmod_(a, b):
    return a // b, a % b


def item(self, *args):
    value = unwrap(self).item(*args)
    var = as_var(self)
    var = var.flatten()[0] if not args else var[args if len(args) > 1 else args[0]]
    if isinstance(value, (int, bool)):
        return int(Traced(np.asarray(value), var)) if not isinstance(value, bool) else bool(Traced(np.asarray(value), var))
    return lift(value, pt.cast(var, "float64") if isinstance(value, float) else var)


def tolist(self):
    value = unwrap(self)
    if value.ndim == 0:
        return item(self)
    return [tolist(self[i]) for i in range(len(value))]
