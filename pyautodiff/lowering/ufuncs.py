"""Elementwise functions: numpy ufuncs and the ``math`` module, as tables.

Each row pairs a numpy ufunc with its PyTensor builder.  The same builder
serves the ``math`` functions on traced scalars, so ``math.exp(x)`` traces
exactly like ``np.exp(x)`` (but keeps Python's float result type).
"""
from __future__ import annotations

import math

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import unwrap
from .core import elementwise, lift, vars_for, dtype_of
from .registry import register_fn

_LN2 = math.log(2.0)


def _copysign(a, b):
    neg = pt.lt(b, 0) | (pt.eq(b, 0) & pt.lt(pt.true_div(1.0, b), 0))  # -0.0 counts as negative
    return pt.switch(neg, -pt.abs(a), pt.abs(a))


def _fmax(a, b):
    return pt.switch(pt.isnan(a), b, pt.switch(pt.isnan(b), a, pt.maximum(a, b)))


def _fmin(a, b):
    return pt.switch(pt.isnan(a), b, pt.switch(pt.isnan(b), a, pt.minimum(a, b)))


def _sinc(x):
    px = np.pi * x
    safe = pt.switch(pt.eq(x, 0), 1.0, px)
    return pt.switch(pt.eq(x, 0), 1.0, pt.sin(safe) / safe)


def _as_bool(x):
    return pt.neq(x, 0) if x.dtype != "bool" else x


UNARY = {
    np.exp: pt.exp, np.exp2: pt.exp2, np.expm1: pt.expm1,
    np.log: pt.log, np.log2: pt.log2, np.log10: pt.log10, np.log1p: pt.log1p,
    np.sqrt: pt.sqrt, np.cbrt: lambda x: pt.sign(x) * pt.abs(x) ** (1.0 / 3.0),
    np.square: pt.sqr, np.reciprocal: pt.reciprocal,
    np.negative: pt.neg, np.positive: lambda x: x,
    np.absolute: pt.abs, np.fabs: pt.abs, np.sign: pt.sign,
    np.sin: pt.sin, np.cos: pt.cos, np.tan: pt.tan,
    np.arcsin: pt.arcsin, np.arccos: pt.arccos, np.arctan: pt.arctan,
    np.sinh: pt.sinh, np.cosh: pt.cosh, np.tanh: pt.tanh,
    np.arcsinh: pt.arcsinh, np.arccosh: pt.arccosh, np.arctanh: pt.arctanh,
    np.deg2rad: pt.deg2rad, np.rad2deg: pt.rad2deg,
    np.radians: pt.deg2rad, np.degrees: pt.rad2deg,
    np.floor: pt.floor, np.ceil: pt.ceil, np.trunc: pt.trunc,
    np.rint: lambda x: pt.round(x, mode="half_to_even"),
    np.isnan: pt.isnan, np.isinf: pt.isinf, np.isfinite: lambda x: ~(pt.isnan(x) | pt.isinf(x)),
    np.logical_not: lambda x: ~_as_bool(x),
    np.invert: pt.invert,
    np.signbit: lambda x: pt.lt(x, 0) | (pt.eq(x, 0) & pt.lt(pt.true_div(1.0, x), 0)),
    np.conjugate: lambda x: x,
}

BINARY = {
    np.add: pt.add, np.subtract: pt.sub, np.multiply: pt.mul,
    np.divide: pt.true_div, np.true_divide: pt.true_div,
    np.floor_divide: lambda a, b: pt.floor(pt.true_div(a, b)) if "float" in a.dtype + b.dtype else pt.int_div(a, b),
    np.mod: pt.mod, np.remainder: pt.mod, np.fmod: lambda a, b: a - pt.trunc(a / b) * b,
    np.power: pt.pow, np.float_power: pt.pow,
    np.maximum: pt.maximum, np.minimum: pt.minimum, np.fmax: _fmax, np.fmin: _fmin,
    np.hypot: lambda a, b: pt.sqrt(pt.sqr(a) + pt.sqr(b)),
    np.arctan2: pt.arctan2,
    np.logaddexp: pt.logaddexp,
    np.logaddexp2: lambda a, b: pt.logaddexp(a * _LN2, b * _LN2) / _LN2,
    np.copysign: _copysign,
    np.less: pt.lt, np.less_equal: pt.le, np.greater: pt.gt, np.greater_equal: pt.ge,
    np.equal: pt.eq, np.not_equal: pt.neq,
    np.logical_and: lambda a, b: _as_bool(a) & _as_bool(b),
    np.logical_or: lambda a, b: _as_bool(a) | _as_bool(b),
    np.logical_xor: lambda a, b: pt.xor(_as_bool(a), _as_bool(b)),
    np.bitwise_and: pt.bitwise_and, np.bitwise_or: pt.bitwise_or, np.bitwise_xor: pt.bitwise_xor,
}

# numpy functions (not ufuncs) that are elementwise
FUNCTIONS = {
    np.round: lambda x, decimals=0: pt.round(x * 10.0**decimals, mode="half_to_even") / 10.0**decimals if decimals else pt.round(x, mode="half_to_even"),
    np.sinc: _sinc,
    np.fix: pt.trunc,
}

MATH = {
    math.exp: pt.exp, math.expm1: pt.expm1, math.log1p: pt.log1p, math.log2: pt.log2,
    math.log10: pt.log10, math.sqrt: pt.sqrt, math.sin: pt.sin, math.cos: pt.cos,
    math.tan: pt.tan, math.asin: pt.arcsin, math.acos: pt.arccos, math.atan: pt.arctan,
    math.sinh: pt.sinh, math.cosh: pt.cosh, math.tanh: pt.tanh, math.asinh: pt.arcsinh,
    math.acosh: pt.arccosh, math.atanh: pt.arctanh, math.fabs: pt.abs, math.erf: pt.erf,
    math.erfc: pt.erfc, math.lgamma: pt.gammaln, math.atan2: pt.arctan2, math.hypot: None,
    math.pow: pt.pow, math.copysign: _copysign, math.degrees: pt.rad2deg, math.radians: pt.deg2rad,
}


def _math_lowering(fn, pt_fn):
    def lower(*args):
        value = fn(*[unwrap(a) for a in args])  # Python's own domain errors
        if pt_fn is None:  # math.hypot: any number of arguments
            var = pt.sqrt(sum(pt.sqr(v) for v in vars_for(list(args), np.dtype("float64"))))
        else:
            var = pt_fn(*vars_for(list(args), np.dtype("float64")))
        return lift(value, var)

    lower.__name__ = f"lower_math_{fn.__name__}"
    return lower


def _math_log(x, base=None):
    value = math.log(unwrap(x)) if base is None else math.log(unwrap(x), unwrap(base))
    v = vars_for([x] + ([] if base is None else [base]), np.dtype("float64"))
    var = pt.log(v[0]) if base is None else pt.log(v[0]) / pt.log(v[1])
    return lift(value, var)


def _round_fn(a, decimals=0, out=None):
    from .core import write_out

    value = np.round(unwrap(a), decimals)
    result = lift(value, FUNCTIONS[np.round](vars_for([a], dtype_of(value))[0], decimals))
    return result if out is None else write_out(out, result)


def install() -> None:
    for uf, fn in {**UNARY, **BINARY}.items():
        register_fn(uf, elementwise(uf, fn), "elementwise")
    for f in (np.sinc, np.fix):
        register_fn(f, elementwise(f, FUNCTIONS[f]), "elementwise")
    register_fn(np.round, _round_fn, "elementwise")
    register_fn(np.around, _round_fn, "elementwise")
    for fn, pt_fn in MATH.items():
        register_fn(fn, _math_lowering(fn, pt_fn), "math")
    register_fn(math.log, _math_log, "math")
    # np.where(cond, a, b) is elementwise too
    register_fn(np.where, _where, "selection")
    register_fn(np.clip, _clip, "selection")


def _where(condition, *xy):
    if len(xy) != 2:
        raise context.require().unsupported("numpy.where(cond) without x, y: use np.nonzero (not traced yet)")
    x, y = xy
    value = np.where(unwrap(condition), unwrap(x), unwrap(y))
    vc, vx, vy = vars_for([condition, x, y], dtype_of(value))
    return lift(value, pt.switch(vc if vc.dtype == "bool" else pt.neq(vc, 0), vx, vy))


def _clip(a, a_min=None, a_max=None, out=None, **kwargs):
    from .core import write_out

    kwargs.pop("min", None), kwargs.pop("max", None)
    value = np.clip(unwrap(a), unwrap(a_min), unwrap(a_max))
    va = vars_for([a], dtype_of(value))[0]
    var = va
    if a_min is not None:
        var = pt.maximum(var, vars_for([a_min, a], dtype_of(value))[0])
    if a_max is not None:
        var = pt.minimum(var, vars_for([a_max, a], dtype_of(value))[0])
    result = lift(value, var)
    return result if out is None else write_out(out, result)
