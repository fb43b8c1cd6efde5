"""Python operators on traced values, as one table installed on ``Traced``.

The concrete side applies the real Python operator to the concrete operands,
so semantics are exactly those of the user's code (Python floats stay Python
floats, numpy arrays broadcast); the symbolic side applies the PyTensor twin.
In-place operators on arrays write into the array (aliases see the change,
as in numpy); on immutable scalars they rebind, as in Python.
"""
from __future__ import annotations

import operator

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import Traced, contains_traced, unwrap
from . import python_errors
from .core import dtype_of, lift, vars_for
from .ufuncs import bitwise, float_floor_divide


def _matmul(a, b):
    return pt.matmul(a, b)


def _floordiv(a, b):
    return float_floor_divide(a, b) if "float" in a.dtype or "float" in b.dtype else pt.int_div(a, b)


def _mod(a, b):
    return pt.mod(a, b)


def _pow(a, b):
    return pt.pow(a, b)


# name -> (Python operator, in-place operator, PyTensor builder)
BINARY = {
    "add": (operator.add, operator.iadd, pt.add),
    "sub": (operator.sub, operator.isub, pt.sub),
    "mul": (operator.mul, operator.imul, pt.mul),
    "truediv": (operator.truediv, operator.itruediv, pt.true_div),
    "floordiv": (operator.floordiv, operator.ifloordiv, _floordiv),
    "mod": (operator.mod, operator.imod, _mod),
    "pow": (operator.pow, operator.ipow, _pow),
    "matmul": (operator.matmul, operator.imatmul, _matmul),
    "and": (operator.and_, operator.iand, lambda a, b: bitwise(pt.bitwise_and, a, b)),
    "or": (operator.or_, operator.ior, lambda a, b: bitwise(pt.bitwise_or, a, b)),
    "xor": (operator.xor, operator.ixor, lambda a, b: bitwise(pt.bitwise_xor, a, b)),
    "lshift": (operator.lshift, operator.ilshift, None),
    "rshift": (operator.rshift, operator.irshift, None),
}

COMPARE = {
    "lt": (operator.lt, pt.lt),
    "le": (operator.le, pt.le),
    "gt": (operator.gt, pt.gt),
    "ge": (operator.ge, pt.ge),
    "eq": (operator.eq, pt.eq),
    "ne": (operator.ne, pt.neq),
}

UNARY = {
    "neg": (operator.neg, pt.neg),
    "pos": (operator.pos, lambda x: x),
    "abs": (abs, pt.abs),
    "invert": (operator.invert, pt.invert),
}


def apply_binary(pyop, pt_fn, name, a, b):
    if type(a) is str or type(b) is str:  # "%.3f" % loss: formatting reads the concrete value
        return pyop(unwrap(a), unwrap(b))
    value = pyop(unwrap(a), unwrap(b))
    if value is NotImplemented:
        return NotImplemented
    if not isinstance(value, (np.ndarray, np.generic, bool, int, float, complex)):
        return value  # e.g. list * int never reaches here with a Traced, but be safe
    if pt_fn is None:
        raise context.require().unsupported(f"operator {name} on traced values is not supported")
    va, vb = vars_for([a, b], dtype_of(value))
    out = pt_fn(va, vb)
    python_errors.guard(name, a, b, va, vb, out, value)  # ZeroDivisionError etc. on cached calls
    return lift(value, out)


def _make_binary(name, pyop, pt_fn):
    def fwd(self, other):
        return apply_binary(pyop, pt_fn, name, self, other)

    def rev(self, other):
        return apply_binary(pyop, pt_fn, name, other, self)

    return fwd, rev


def _make_inplace(name, pyop, ipyop, pt_fn):
    def inplace(self, other):
        if not isinstance(self.value, np.ndarray):  # immutable scalars rebind
            return apply_binary(pyop, pt_fn, name, self, other)
        self.check_writable()
        ipyop(self.value, unwrap(other))  # numpy's in-place semantics and casting errors
        va, vb = vars_for([self, other], self.value.dtype)
        new = pt_fn(va, vb)
        if new.dtype != self.value.dtype.name:
            new = pt.cast(new, self.value.dtype.name)
        if new.ndim != self.value.ndim or new.type.shape != self.sym.type.shape:
            new = pt.broadcast_to(new, self.value.shape)
        self.assign(new)
        return self

    return inplace


def _numeric(v) -> bool:
    if contains_traced(v):
        return True
    try:
        return np.asarray(v).dtype.kind in "biufc"
    except (ValueError, TypeError):  # e.g. a ragged list
        return False


def _make_compare(pyop, pt_fn):
    def cmp(self, other):
        value = pyop(unwrap(self), unwrap(other))
        if value is NotImplemented or not isinstance(value, (np.ndarray, np.generic, bool)) \
                or not _numeric(other):
            return value  # with None, strings, ...: numpy's answer, the same for all values of self
        va, vb = vars_for([self, other], None)
        return lift(value, pt_fn(va, vb))

    return cmp


def _make_unary(pyop, pt_fn):
    def un(self):
        return lift(pyop(self.value), pt_fn(self.sym))

    return un


def install() -> None:
    for name, (pyop, ipyop, pt_fn) in BINARY.items():
        fwd, rev = _make_binary(name, pyop, pt_fn)
        setattr(Traced, f"__{name}__", fwd)
        setattr(Traced, f"__r{name}__", rev)
        setattr(Traced, f"__i{name}__", _make_inplace(name, pyop, ipyop, pt_fn))
    for name, (pyop, pt_fn) in COMPARE.items():
        setattr(Traced, f"__{name}__", _make_compare(pyop, pt_fn))
    for name, (pyop, pt_fn) in UNARY.items():
        setattr(Traced, f"__{name}__", _make_unary(pyop, pt_fn))
    Traced.__round__ = _round


def _round(self, ndigits=None):
    from .builtins import round_value

    return round_value(self, ndigits)
