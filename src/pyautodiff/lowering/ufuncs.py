"""Elementwise functions: numpy ufuncs and the ``math`` module, as tables.

Each row pairs a numpy ufunc with its PyTensor builder.  The same builder
serves the ``math`` functions on traced scalars, so ``math.exp(x)`` traces
exactly like ``np.exp(x)`` (but keeps Python's float result type).
Functions with zero derivative (floor, sign, comparisons) simply build ops
whose gradient PyTensor defines as zero or that return integers/bools.
"""
from __future__ import annotations

import math

import numpy as np
import pytensor.scalar as pts
import pytensor.tensor as pt

from .. import context
from ..traced import Traced, unwrap
from . import ties
from .core import as_var, dtype_of, elementwise, lift, refuse, vars_for, write_out
from .registry import register, register_fn, register_method

_LN2 = math.log(2.0)


def _copysign(a, b):
    return pt.switch(_signbit(b), -pt.abs(a), pt.abs(a))


def _fmod(a, b):
    a, b = pt.as_tensor_variable(a), pt.as_tensor_variable(b)
    r = pt.mod(a, b)
    if r.dtype.startswith(("int", "uint")):
        # in integers, from the divisor-signed remainder moved to the dividend's sign: through
        # a / b in float64 a zero divisor gave INT_MIN and int64s past 2**53 lost their last bits
        return pt.switch(pt.neq(r, 0) & pt.neq(pt.lt(r, 0), pt.lt(a, 0)), r - b, r)
    # C's fmod: the remainder has the dividend's sign, also when it is zero (fmod(-6, 3) is -0.0;
    # a - trunc(a / b) * b alone gives +0.0 there)
    r = a - pt.trunc(a / b) * b
    return pt.switch(pt.eq(r, 0), _copysign(r, a), r)


def _signbit(x):
    return pt.lt(x, 0) | (pt.eq(x, 0) & pt.lt(pt.true_div(1.0, x), 0))  # -0.0 counts as negative


def _sinc(x):
    # Near 0 the derivative of sin(px)/px is the difference of two terms of size
    # 1/px (at x = 3e-36 it came out as 1e20; at px = 0.0126 it lost four digits):
    # below |px| = 0.1, its Taylor series (its first omitted term is under 3e-18, so
    # it equals numpy's value to the last bit or one ulp) and exact derivatives.
    px = np.pi * x
    small = pt.lt(pt.abs(px), 0.1)
    safe = pt.switch(small, 1.0, px)  # keeps the untaken branch's gradient finite
    p2 = px * px
    series = 1.0 - p2 / 6.0 * (1.0 - p2 / 20.0 * (1.0 - p2 / 42.0 * (1.0 - p2 / 72.0)))
    return pt.switch(small, series, pt.sin(safe) / safe)


def _cbrt(x):
    safe = pt.switch(pt.eq(x, 0), 1.0, x)
    return pt.switch(pt.eq(x, 0), x, pt.sign(safe) * pt.abs(safe) ** (1.0 / 3.0))


def _heaviside(x1, x2):
    step = pt.switch(pt.lt(x1, 0), 0.0, pt.switch(pt.gt(x1, 0), 1.0, x2))
    return pt.switch(pt.isnan(x1), x1, step)


def bitwise(op, a, b):
    # PyTensor's bit ops take one integer dtype or all bools: `1 & (x > 0)` (int64 with bool,
    # as in scipy.stats' argument checks) is computed in the common dtype, as numpy does
    dt = pts.upcast(a.dtype, b.dtype)
    return op(pt.cast(a, dt), pt.cast(b, dt))


def _floor_divide(a, b):
    return pt.floor(pt.true_div(a, b)) if "float" in a.dtype + b.dtype else pt.int_div(a, b)


def _as_bool(x):
    return pt.neq(x, 0) if x.dtype != "bool" else x


UNARY = {
    np.exp: pt.exp, np.exp2: pt.exp2, np.expm1: pt.expm1,
    np.log: pt.log, np.log2: pt.log2, np.log10: pt.log10, np.log1p: pt.log1p,
    np.sqrt: pt.sqrt, np.cbrt: _cbrt,
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
    np.signbit: _signbit,
    np.conjugate: pt.conj,
}

BINARY = {
    np.add: pt.add, np.subtract: pt.sub, np.multiply: pt.mul,
    np.divide: pt.true_div, np.true_divide: pt.true_div,
    np.floor_divide: _floor_divide,
    np.mod: pt.mod, np.remainder: pt.mod, np.fmod: lambda a, b: _fmod(a, b),
    np.power: pt.pow, np.float_power: pt.pow,
    np.maximum: ties.maximum, np.minimum: ties.minimum, np.fmax: ties.fmax, np.fmin: ties.fmin,  # (ties.py)
    np.hypot: lambda a, b: pt.sqrt(pt.sqr(a) + pt.sqr(b)),
    np.arctan2: pt.arctan2,
    np.logaddexp: pt.logaddexp,
    np.logaddexp2: lambda a, b: pt.logaddexp(a * _LN2, b * _LN2) / _LN2,
    np.copysign: _copysign,
    np.heaviside: _heaviside,
    np.ldexp: lambda m, e: m * pt.pow(2.0, pt.cast(e, "float64")),
    np.less: pt.lt, np.less_equal: pt.le, np.greater: pt.gt, np.greater_equal: pt.ge,
    np.equal: pt.eq, np.not_equal: pt.neq,
    np.logical_and: lambda a, b: _as_bool(a) & _as_bool(b),
    np.logical_or: lambda a, b: _as_bool(a) | _as_bool(b),
    np.logical_xor: lambda a, b: pt.xor(_as_bool(a), _as_bool(b)),
    np.bitwise_and: lambda a, b: bitwise(pt.bitwise_and, a, b),
    np.bitwise_or: lambda a, b: bitwise(pt.bitwise_or, a, b),
    np.bitwise_xor: lambda a, b: bitwise(pt.bitwise_xor, a, b),
}

# numpy functions (not ufuncs) that are elementwise
FUNCTIONS = {
    np.sinc: _sinc,
    np.fix: pt.trunc,
    np.i0: pt.i0,
    np.isposinf: lambda x: pt.isinf(x) & pt.gt(x, 0),
    np.isneginf: lambda x: pt.isinf(x) & pt.lt(x, 0),
}

MATH = {
    math.exp: pt.exp, math.expm1: pt.expm1, math.log1p: pt.log1p, math.log2: pt.log2,
    math.log10: pt.log10, math.sqrt: pt.sqrt, math.sin: pt.sin, math.cos: pt.cos,
    math.tan: pt.tan, math.asin: pt.arcsin, math.acos: pt.arccos, math.atan: pt.arctan,
    math.sinh: pt.sinh, math.cosh: pt.cosh, math.tanh: pt.tanh, math.asinh: pt.arcsinh,
    math.acosh: pt.arccosh, math.atanh: pt.arctanh, math.fabs: pt.abs, math.erf: pt.erf,
    math.erfc: pt.erfc, math.lgamma: pt.gammaln, math.gamma: pt.gamma, math.atan2: pt.arctan2,
    math.hypot: None, math.pow: pt.pow, math.copysign: _copysign, math.degrees: pt.rad2deg,
    math.radians: pt.deg2rad, math.exp2: pt.exp2, math.cbrt: _cbrt,
    math.fmod: lambda a, b: _fmod(a, b),
}


def _math_lowering(fn, pt_fn):
    def lower(*args):
        value = fn(*[unwrap(a) for a in args])  # Python's own domain errors
        if pt_fn is None:  # math.hypot: any number of arguments
            var = pt.sqrt(sum(pt.sqr(v) for v in vars_for(list(args), np.dtype("float64"))))
        else:
            var = pt_fn(*vars_for(list(args), np.dtype("float64")))
        _domain_guard(var, value)
        return lift(value, var)

    lower.__name__ = f"lower_math_{fn.__name__}"
    return lower


def _domain_guard(var, value) -> None:
    """math raises where numpy returns nan/inf: a cached call outside the domain retraces
    (and math raises its own error), instead of returning nan."""
    if isinstance(value, float):
        context.require().add_guard(pt.isfinite(var), math.isfinite(value), "math domain")


def _math_log(x, base=None):
    value = math.log(unwrap(x)) if base is None else math.log(unwrap(x), unwrap(base))
    v = vars_for([x] + ([] if base is None else [base]), np.dtype("float64"))
    var = pt.log(v[0]) if base is None else pt.log(v[0]) / pt.log(v[1])
    _domain_guard(var, value)
    return lift(value, var)


def round_var(x, decimals):
    """numpy's rounding to ``decimals`` digits (half to even), mirrored on ``x``."""
    if "int" in x.dtype:
        return x if decimals >= 0 else pt.round(x / 10.0 ** -decimals, mode="half_to_even") * 10 ** -decimals
    if decimals == 0:
        return pt.round(x, mode="half_to_even")
    if decimals > 0:  # numpy scales by 10**d and divides back, or multiplies for negative d
        f = 10.0 ** decimals
        return pt.round(x * f, mode="half_to_even") / f
    f = 10.0 ** -decimals
    return pt.round(x / f, mode="half_to_even") * f


@register(np.round, np.around, method="round", group="elementwise")
def round_(a, decimals=0, out=None):
    value = np.round(unwrap(a), decimals)
    result = lift(value, round_var(as_var(a), int(decimals)))
    return result if out is None else write_out(out, result)


def _two_outputs(np_fn, build):
    def lower(x1, *rest, out=None, **kwargs):
        if out is not None and any(o is not None for o in (out if isinstance(out, tuple) else (out,))):
            raise refuse(f"numpy.{np_fn.__name__}: out= is not supported with traced values")
        values = np_fn(*[unwrap(a) for a in (x1, *rest)], **kwargs)
        vars_ = build(*vars_for([x1, *rest], dtype_of(values[0])))
        return tuple(lift(v, var) for v, var in zip(values, vars_))

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


def _divmod(a, b):
    q = _floor_divide(a, b)
    return q, pt.mod(a, b)


def _modf(x):
    whole = pt.trunc(x)
    frac = pt.switch(pt.isinf(x), _copysign(pt.zeros_like(x), x), x - whole)
    return frac, whole


@register(np.isclose, group="elementwise")
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    value = np.isclose(unwrap(a), unwrap(b), rtol=rtol, atol=atol, equal_nan=equal_nan)
    return lift(value, _isclose(*vars_for([a, b], np.dtype("float64")), rtol, atol, equal_nan))


def _isclose(x, y, rtol, atol, equal_nan):
    # numpy's formula: asymmetric in b, infinities equal only to themselves
    close = (pt.le(pt.abs(x - y), atol + rtol * pt.abs(y)) & ~(pt.isnan(y) | pt.isinf(y))) | pt.eq(x, y)
    return close | (pt.isnan(x) & pt.isnan(y)) if equal_nan else close


@register(np.allclose, group="elementwise")
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    value = np.allclose(unwrap(a), unwrap(b), rtol=rtol, atol=atol, equal_nan=equal_nan)
    return lift(value, pt.all(_isclose(*vars_for([a, b], np.dtype("float64")), rtol, atol, equal_nan)))


@register(np.nan_to_num, group="elementwise")
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    value = np.nan_to_num(unwrap(x), copy=True, nan=nan, posinf=posinf, neginf=neginf)
    var = as_var(x)
    if value.dtype.kind == "f":
        info = np.finfo(value.dtype)
        big = info.max if posinf is None else posinf
        small = info.min if neginf is None else neginf
        var = pt.switch(pt.isnan(var), nan, pt.switch(pt.isinf(var), pt.switch(pt.gt(var, 0), big, small), var))
    result = lift(value, var)
    if not copy and type(x) is Traced:  # numpy writes into x itself
        x.check_writable()
        x.value[...] = value
        x.assign(result.sym)
        return x
    return result


@register(np.real, group="elementwise")
def real(val):
    value = np.real(unwrap(val))
    if np.iscomplexobj(unwrap(val)):
        return lift(value, pt.real(as_var(val)))
    # for real input numpy returns the array itself or a view of it
    return val if value is unwrap(val) else lift(value, as_var(val), view=(val, lambda b: b, lambda b, v: v))


@register(np.imag, group="elementwise")
def imag(val):
    value = np.imag(unwrap(val))
    if np.iscomplexobj(unwrap(val)):
        return lift(value, pt.imag(as_var(val)))
    return lift(value, pt.zeros_like(as_var(val)))


@register(np.angle, group="elementwise")
def angle(z, deg=False):
    value = np.angle(unwrap(z), deg=deg)
    if np.iscomplexobj(unwrap(z)):
        return lift(value, pt.angle(as_var(z)) * (180.0 / np.pi) if deg else pt.angle(as_var(z)))
    x = as_var(z)
    # arctan2(0, x), written out: PyTensor merges the constants 0.0 and -0.0 of a graph
    half_turn = 180.0 if deg else np.pi
    return lift(value, pt.switch(pt.isnan(x), x, pt.switch(_signbit(x), half_turn, 0.0)))


@register(np.real_if_close, group="elementwise")
def real_if_close(a, tol=100):
    if np.iscomplexobj(unwrap(a)):
        raise refuse("numpy.real_if_close of complex traced values is not supported")
    return a  # real input comes back unchanged


def install() -> None:
    conjugate = elementwise(np.conjugate, pt.conj)  # x.conj() is np.conjugate(x)
    register_method("conj", conjugate, "elementwise")
    register_method("conjugate", conjugate, "elementwise")
    for uf, fn in {**UNARY, **BINARY, **FUNCTIONS}.items():
        register_fn(uf, elementwise(uf, fn), "elementwise")
    register_fn(np.divmod, _two_outputs(np.divmod, _divmod), "elementwise")
    register_fn(np.modf, _two_outputs(np.modf, _modf), "elementwise")
    for fn, pt_fn in MATH.items():
        register_fn(fn, _math_lowering(fn, pt_fn), "math")
    register_fn(math.log, _math_log, "math")
