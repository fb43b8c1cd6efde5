"""Every entry of the lowering registry, against numpy and finite differences.

``CASES`` is a table: the registry entry a case covers, the numpy code that
calls it, example arguments in its domain, and which arguments are
differentiated.  For each case the compiled value must equal what plain
numpy computes (same dtype), the entry must really be used while tracing,
and the gradient of a fixed random weighting of the outputs must match a
central finite difference — or be exactly zero for piecewise-constant and
integer/bool results.  ``test_every_entry_has_a_case`` keeps the table
complete, so the coverage count cannot silently drop.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.special as sc

import pyautodiff as ad
from pyautodiff.lowering import registry

import registry_cases_issue20
import registry_cases_scipy
from helpers import numeric_grad


@dataclass
class Case:
    entry: str  # registry name, as registry.table() lists it
    fn: object  # numpy code calling the entry
    args: tuple
    wrt: tuple = (0,)  # differentiated argument positions
    grad: str = "fd"  # "fd": finite differences; "zero": must be exactly zero
    tag: str = ""
    rtol: float = 1e-9  # value tolerance (compiled vs numpy)
    gtol: float = 1e-5  # gradient tolerance (float32 results differentiate coarsely)

    @property
    def id(self):
        return f"{self.entry}[{self.tag}]" if self.tag else self.entry


_rng = np.random.default_rng(0)


def normal(*shape):
    return _rng.normal(size=shape)


def uniform(lo, hi, *shape):
    return _rng.uniform(lo, hi, size=shape)


def pos(*shape):
    return uniform(0.5, 2.0, *shape)


def unit(*shape):
    return uniform(-0.9, 0.9, *shape)


def off_integers(*shape):
    """Values a safe distance from integers and half-integers (kinks of floor, round...)."""
    return np.floor(uniform(-4, 4, *shape)) + uniform(0.1, 0.4, *shape)


def spd(n):
    a = normal(n, n)
    return a @ a.T + n * np.eye(n)


def distinct(*shape):
    """Well-separated values in random order (no ties for sort, max, median...)."""
    n = int(np.prod(shape))
    return (_rng.permutation(n) * 0.37 + normal(n) * 0.05).reshape(shape)


CASES: list[Case] = []


def case(entry, fn, *args, wrt=(0,), grad="fd", tag="", rtol=1e-9, gtol=1e-5):
    CASES.append(Case(entry, fn, args, wrt, grad, tag, rtol, gtol))


# -- elementwise ufuncs ---------------------------------------------------------------

UNARY = {  # ufunc: domain of its argument
    np.exp: normal, np.exp2: normal, np.expm1: normal, np.log: pos, np.log2: pos, np.log10: pos,
    np.log1p: pos, np.sqrt: pos, np.cbrt: normal, np.square: normal, np.reciprocal: pos,
    np.negative: normal, np.positive: normal, np.absolute: normal, np.fabs: normal,
    np.sin: normal, np.cos: normal, np.tan: unit, np.arcsin: unit, np.arccos: unit, np.arctan: normal,
    np.sinh: normal, np.cosh: normal, np.tanh: normal, np.arcsinh: normal,
    np.arccosh: lambda *s: uniform(1.2, 3.0, *s), np.arctanh: unit,
    np.deg2rad: normal, np.rad2deg: normal, np.radians: normal, np.degrees: normal, np.conjugate: normal,
}
ZERO_GRAD_UNARY = {np.sign: normal, np.floor: off_integers, np.ceil: off_integers, np.trunc: off_integers,
                   np.rint: off_integers, np.isnan: normal, np.isinf: normal, np.isfinite: normal,
                   np.signbit: normal, np.logical_not: normal}

for uf, dom in UNARY.items():
    case(f"numpy.{uf.__name__}", uf, dom(3, 4))
for uf, dom in ZERO_GRAD_UNARY.items():
    case(f"numpy.{uf.__name__}", uf, dom(3, 4), grad="zero")
case("numpy.invert", lambda m: np.invert(m > 0), normal(5), wrt=())

BINARY = {  # ufunc: domains of (a, b); b is broadcast from a row
    np.add: (normal, normal), np.subtract: (normal, normal), np.multiply: (normal, normal),
    np.divide: (normal, pos), np.true_divide: (normal, pos), np.power: (pos, normal),
    np.float_power: (pos, normal), np.maximum: (distinct, distinct), np.minimum: (distinct, distinct),
    np.fmax: (distinct, distinct), np.fmin: (distinct, distinct), np.hypot: (normal, normal),
    np.arctan2: (normal, pos), np.logaddexp: (normal, normal), np.logaddexp2: (normal, normal),
    np.copysign: (normal, normal), np.mod: (pos, lambda *s: uniform(2.1, 2.9, *s)),
    np.remainder: (pos, lambda *s: uniform(2.1, 2.9, *s)), np.fmod: (normal, lambda *s: uniform(2.1, 2.9, *s)),
    np.heaviside: (normal, normal),
}
ZERO_GRAD_BINARY = {np.less: (normal, normal), np.less_equal: (normal, normal), np.greater: (normal, normal),
                    np.greater_equal: (normal, normal), np.equal: (distinct, distinct),
                    np.not_equal: (distinct, distinct), np.logical_and: (normal, normal),
                    np.logical_or: (normal, normal), np.logical_xor: (normal, normal),
                    np.floor_divide: (lambda *s: uniform(0.3, 5, *s), lambda *s: uniform(0.7, 0.9, *s))}

for uf, (da, db) in BINARY.items():
    case(f"numpy.{uf.__name__}", uf, da(3, 4), db(4), wrt=(0, 1))
for uf, (da, db) in ZERO_GRAD_BINARY.items():
    case(f"numpy.{uf.__name__}", uf, da(3, 4), db(4), wrt=(0, 1), grad="zero")
case("numpy.ldexp", lambda m: np.ldexp(m, np.array([1, -2, 3])), normal(2, 3))
for uf in (np.bitwise_and, np.bitwise_or, np.bitwise_xor):
    case(f"numpy.{uf.__name__}", lambda x, uf=uf: x * uf(x > 0, x < 0.5), normal(6))
case("numpy.divmod", lambda a, b: np.divmod(a, b), uniform(0.3, 5, 5), uniform(0.7, 0.9, 5), wrt=(0, 1))
case("numpy.modf", np.modf, off_integers(5), tag="frac has slope 1", grad="fd")
case("numpy.sinc", np.sinc, np.array([0.0, 0.3, -1.4, 2.2]))
case("numpy.fix", np.fix, off_integers(5), grad="zero")
case("numpy.i0", np.i0, normal(5))
case("numpy.isposinf", lambda x: x * np.isposinf(x / 0.0 * (x > 0)), pos(4))
case("numpy.isneginf", lambda x: x * np.isneginf(-x / 0.0), pos(4))
case("numpy.round", lambda x: np.round(x, 1) + np.round(x), off_integers(5) * 3.7, grad="zero")
case("numpy.around", lambda x: np.around(x, -1), off_integers(5) * 37, grad="zero")
case("ndarray.round", lambda x: x.round(2), off_integers(5) / 13.3, grad="zero")
case("numpy.isclose", lambda a, b: a * np.isclose(a, b), normal(5), normal(5))
case("numpy.allclose", lambda a, b: a * np.allclose(a, b + 1e-9), normal(5), normal(5), wrt=(0,))
case("numpy.nan_to_num", lambda x: np.nan_to_num(np.log(x)), np.array([-1.0, 0.5, 2.0]), tag="nan replaced")
case("numpy.nan_to_num", lambda x: np.nan_to_num(x / (x > 0), neginf=-3.0), np.array([-1.0, 0.5, 2.0]),
     tag="-inf replaced")
case("numpy.real", lambda x: np.real(x) * 2, normal(4))
case("numpy.imag", lambda x: x + np.imag(x), normal(4))
case("numpy.angle", lambda x: x * np.angle(x), normal(4), grad="fd")
case("numpy.real_if_close", lambda x: np.real_if_close(x) ** 2, normal(4))
case("ndarray.conj", lambda x: x.conj() * x, normal(4))
case("ndarray.conjugate", lambda x: x.conjugate() * 3, normal(4))

# -- the math module on Python floats ----------------------------------------------------

MATH = {
    math.exp: normal, math.expm1: normal, math.log1p: pos, math.log2: pos, math.log10: pos, math.sqrt: pos,
    math.sin: normal, math.cos: normal, math.tan: unit, math.asin: unit, math.acos: unit, math.atan: normal,
    math.sinh: normal, math.cosh: normal, math.tanh: normal, math.asinh: normal,
    math.acosh: lambda: uniform(1.2, 3.0), math.atanh: unit, math.fabs: normal, math.erf: normal,
    math.erfc: normal, math.lgamma: pos, math.gamma: pos, math.degrees: normal, math.radians: normal,
    math.exp2: normal, math.cbrt: normal, math.log: pos,
}
for fn, dom in MATH.items():
    case(f"math.{fn.__name__}", fn, float(dom()))
for fn in (math.atan2, math.hypot, math.copysign):
    case(f"math.{fn.__name__}", fn, float(normal()), float(pos()), wrt=(0, 1))
case("math.pow", math.pow, float(pos()), float(normal()), wrt=(0, 1))
case("math.fmod", math.fmod, 7.3, 2.1, wrt=(0, 1))
case("math.log", math.log, 5.0, 3.0, wrt=(0, 1), tag="base")
for fn in (math.floor, math.ceil, math.trunc):
    case(f"math.{fn.__name__}", lambda x, fn=fn: x * fn(x), 2.3)
for fn in (math.isnan, math.isinf, math.isfinite):
    case(f"math.{fn.__name__}", lambda x, fn=fn: x * fn(x), 2.3)

# -- scipy.special ----------------------------------------------------------------------------

SPECIAL = {
    "expit": normal, "logit": lambda *s: uniform(0.05, 0.95, *s), "log_expit": normal, "gammaln": pos,
    "gamma": pos, "digamma": pos, "erf": normal, "erfc": normal, "erfinv": unit, "erfcinv": pos,
    "erfcx": normal, "ndtr": normal, "log_ndtr": lambda *s: uniform(-8, 3, *s),
    "ndtri": lambda *s: uniform(0.05, 0.95, *s), "i0": normal, "i1": normal, "entr": pos,
}
for name, dom in SPECIAL.items():
    case(f"scipy.special.{name}", getattr(sc, name), dom(3, 4))
for name in ("i0e", "i1e", "k0", "k1", "k0e", "k1e", "j0", "j1", "rgamma"):
    case(f"scipy.special.{name}", getattr(sc, name), pos(2, 3))
case("scipy.special.gammasgn", sc.gammasgn, np.array([0.5, -0.5, -1.5, 2.5]), grad="zero")
for name in ("xlogy", "xlog1py", "rel_entr", "kl_div", "beta", "betaln", "gammainc", "gammaincc", "owens_t"):
    case(f"scipy.special.{name}", getattr(sc, name), pos(3, 4), pos(4), wrt=(0, 1))
for name in ("jv", "iv", "ive", "kv", "kve"):  # derivatives in the argument (the order is usually fixed)
    case(f"scipy.special.{name}", lambda x, name=name: getattr(sc, name)(1.5, x), pos(2, 3))
case("scipy.special.betainc", sc.betainc, pos(3), pos(3), uniform(0.1, 0.9, 3), wrt=(0, 1, 2))
case("scipy.special.xlogy", lambda y: sc.xlogy(np.array([0.0, 1.0, 2.0]), y), np.array([0.0, 2.0, 3.0]),
     tag="x == 0 keeps 0 and a finite gradient")
case("scipy.special.huber", sc.huber, 1.0, normal(6) * 2, wrt=(0, 1))
case("scipy.special.pseudo_huber", sc.pseudo_huber, 1.3, normal(6), wrt=(0, 1))
case("scipy.special.polygamma", lambda x: sc.polygamma(1, x), pos(5))
case("scipy.special.multigammaln", lambda a: sc.multigammaln(a, 3), 2.7)
case("scipy.special.softplus", sc.softplus, normal(5))
case("scipy.special.logsumexp", lambda a: sc.logsumexp(a, axis=1), normal(3, 4))
case("scipy.special.logsumexp", lambda a: sc.logsumexp(a), normal(3, 4) * 50, tag="large values")
case("scipy.special.logsumexp", lambda a, b: sc.logsumexp(a, axis=0, b=b, keepdims=True), normal(3, 4), pos(3, 1),
     wrt=(0, 1), tag="b")
case("scipy.special.logsumexp", lambda a, b: sc.logsumexp(a, b=b, return_sign=True), normal(4),
     np.array([1.0, -2.0, 0.5, 0.3]), wrt=(0, 1), tag="return_sign")
case("scipy.special.softmax", lambda x: sc.softmax(x, axis=-1), normal(3, 4))
case("scipy.special.softmax", lambda x: sc.softmax(x), normal(3, 4), tag="all axes")
case("scipy.special.log_softmax", lambda x: sc.log_softmax(x, axis=0), normal(3, 4))

# -- reductions --------------------------------------------------------------------------

for fn in (np.sum, np.prod, np.mean, np.var, np.std):
    case(f"numpy.{fn.__name__}", lambda x, fn=fn: fn(x, axis=(0, 2), keepdims=True), pos(2, 3, 4))
for fn in (np.sum, np.prod, np.mean, np.var, np.std):
    case(f"ndarray.{fn.__name__}", lambda x, fn=fn: getattr(x, fn.__name__)(-1), pos(2, 3, 4))
case("numpy.sum", lambda x: np.sum(x, initial=2.0, axis=0), normal(3, 4), tag="initial")
case("numpy.prod", lambda x: np.prod(x), np.array([2.0, 0.0, 3.0]), tag="a zero")
case("numpy.var", lambda x: np.var(x, ddof=1, axis=0), normal(5, 2), tag="ddof")
case("ndarray.std", lambda x: x.std(axis=None, ddof=1), normal(5, 2), tag="ddof")
case("ndarray.var", lambda x: x.var(axis=0, ddof=1), normal(5, 2), tag="ddof")
for fn in (np.max, np.min, np.amax, np.amin, np.ptp):
    case(f"numpy.{fn.__name__}", lambda x, fn=fn: fn(x, axis=1), distinct(3, 4))
case("ndarray.max", lambda x: x.max(axis=0, keepdims=True), distinct(3, 4))
case("ndarray.min", lambda x: x.min(), distinct(3, 4))
for name in ("all", "any"):
    case(f"numpy.{name}", lambda x, name=name: x * getattr(np, name)(x > -1, axis=0), normal(3, 4))
    case(f"ndarray.{name}", lambda x, name=name: x * getattr(x > -1, name)(), normal(3, 4))
for name in ("argmax", "argmin"):
    case(f"numpy.{name}", lambda x, name=name: getattr(np, name)(x, axis=-1), distinct(3, 4), grad="zero")
    case(f"ndarray.{name}", lambda x, name=name: getattr(x, name)(), distinct(3, 4), grad="zero")
case("numpy.count_nonzero", lambda x: x * np.count_nonzero(x > 0, axis=0), normal(3, 4))
case("numpy.trace", lambda x: np.trace(x, offset=1), normal(3, 4))
case("ndarray.trace", lambda x: x.trace(axis1=1, axis2=2), normal(2, 3, 3))
_with_nan = np.array([[1.5, np.nan, 0.7], [0.3, 2.0, np.nan]])
for fn in (np.nansum, np.nanprod, np.nanmean, np.nanvar, np.nanstd, np.nanmax, np.nanmin):
    case(f"numpy.{fn.__name__}", lambda x, fn=fn: fn(x, axis=1), _with_nan)
for uf, dom in ((np.add, normal), (np.multiply, pos), (np.maximum, distinct), (np.minimum, distinct)):
    case(f"numpy.{uf.__name__}.reduce", lambda x, uf=uf: uf.reduce(x), dom(3, 4))
for uf in (np.logical_and, np.logical_or):
    case(f"numpy.{uf.__name__}.reduce", lambda x, uf=uf: x * uf.reduce(x > 0, axis=1, keepdims=True), normal(3, 4))

# -- running reductions, order statistics -----------------------------------------------------

case("numpy.cumsum", lambda x: np.cumsum(x, axis=1), normal(3, 4))
case("ndarray.cumsum", lambda x: x.cumsum(), normal(3, 4))
case("numpy.cumprod", lambda x: np.cumprod(x, axis=0), pos(3, 4))
case("numpy.cumprod", lambda x: np.cumprod(x), np.array([1.5, 0.0, 2.0, -1.0]), tag="a zero")
case("ndarray.cumprod", lambda x: x.cumprod(axis=-1), pos(2, 3))
case("numpy.cumulative_sum", lambda x: np.cumulative_sum(x, axis=0, include_initial=True), normal(3, 2))
case("numpy.cumulative_prod", lambda x: np.cumulative_prod(x, axis=1), pos(3, 2))
case("numpy.add.accumulate", lambda x: np.add.accumulate(x), normal(3, 4))
case("numpy.multiply.accumulate", lambda x: np.multiply.accumulate(x, axis=1), pos(3, 4))
case("numpy.diff", lambda x: np.diff(x, n=2, axis=0), normal(4, 3))
case("numpy.diff", lambda x: np.diff(x, prepend=0.0, append=x[-1:] * 2), normal(5), tag="prepend/append")
case("numpy.median", lambda x: np.median(x, axis=0), distinct(4, 3))
case("numpy.median", lambda x: np.median(x, axis=(0, 2), keepdims=True), distinct(3, 2, 3), tag="odd, tuple axis")
case("numpy.percentile", lambda x: np.percentile(x, [10, 50, 95], axis=1), distinct(3, 6))
case("numpy.quantile", lambda x: np.quantile(x, 0.3, method="midpoint"), distinct(7))
case("numpy.average", lambda x, w: np.average(x, axis=1, weights=w), normal(3, 4), pos(4), wrt=(0, 1))
case("numpy.average", lambda x, w: np.average(x, weights=w, returned=True), normal(3, 4), pos(3, 4), wrt=(0, 1),
     tag="returned")

# -- shapes and views ------------------------------------------------------------------------------

case("numpy.reshape", lambda x: np.reshape(x, (4, -1)), normal(2, 6))
case("ndarray.reshape", lambda x: x.reshape(3, 2, 2), normal(2, 6))
case("numpy.transpose", lambda x: np.transpose(x, (1, 2, 0)), normal(2, 3, 4))
case("ndarray.transpose", lambda x: x.transpose() * np.arange(2), normal(2, 3))
case("numpy.ravel", lambda x: np.ravel(x.T), normal(2, 3))
case("ndarray.ravel", lambda x: x.ravel(), normal(2, 3))
case("ndarray.flatten", lambda x: x.flatten(), normal(2, 3))
case("numpy.squeeze", lambda x: np.squeeze(x, axis=1), normal(3, 1, 2))
case("ndarray.squeeze", lambda x: x.squeeze(), normal(1, 3, 1))
case("numpy.expand_dims", lambda x: np.expand_dims(x, (0, -1)), normal(3))
case("numpy.swapaxes", lambda x: np.swapaxes(x, 0, -1), normal(2, 3, 4))
case("ndarray.swapaxes", lambda x: x.swapaxes(1, 0), normal(2, 3))
case("numpy.moveaxis", lambda x: np.moveaxis(x, [0, 1], [-1, 0]), normal(2, 3, 4))
case("numpy.matrix_transpose", np.matrix_transpose, normal(2, 3, 4))
case("numpy.copy", np.copy, normal(3))
case("ndarray.copy", lambda x: x.copy(), normal(3))
case("ndarray.astype", lambda x: x.astype(np.float32), normal(3), rtol=1e-6, gtol=5e-2)
case("ndarray.astype", lambda x: (x * 4).astype(int), normal(3), grad="zero", tag="int")
for fn in (np.atleast_1d, np.atleast_2d, np.atleast_3d):
    case(f"numpy.{fn.__name__}", fn, 1.5, tag="scalar")
case("numpy.atleast_3d", np.atleast_3d, normal(2, 3), tag="matrix")
case("numpy.broadcast_to", lambda x: np.broadcast_to(x, (2, 3, 4)), normal(3, 1))
case("numpy.broadcast_arrays", lambda a, b: np.broadcast_arrays(a, b), normal(3, 1), normal(4), wrt=(0, 1))
case("numpy.flip", lambda x: np.flip(x, axis=(0, 2)), normal(2, 3, 2))
case("numpy.fliplr", np.fliplr, normal(2, 3))
case("numpy.flipud", np.flipud, normal(2, 3))
case("numpy.rot90", lambda x: np.rot90(x, 1), normal(2, 3))
case("numpy.rot90", lambda x: np.rot90(x, -1, axes=(1, 2)), normal(2, 3, 2), tag="k=-1")
case("numpy.rot90", lambda x: np.rot90(x, 2), normal(2, 3), tag="k=2")

# -- joining and splitting -------------------------------------------------------------------------

case("numpy.concatenate", lambda a, b: np.concatenate([a, b], axis=-1), normal(2, 3), normal(2, 2), wrt=(0, 1))
case("numpy.concatenate", lambda a, b: np.concatenate((a, b), axis=None), normal(2, 3), normal(4), wrt=(0, 1),
     tag="axis=None")
case("numpy.stack", lambda a, b: np.stack([a, b], axis=1), normal(2, 3), normal(2, 3), wrt=(0, 1))
case("numpy.hstack", lambda a, b: np.hstack([a, b]), normal(3), normal(2), wrt=(0, 1))
case("numpy.vstack", lambda a, b: np.vstack([a, b]), normal(3), normal(2, 3), wrt=(0, 1))
case("numpy.dstack", lambda a, b: np.dstack([a, b]), normal(3), normal(3), wrt=(0, 1))
case("numpy.column_stack", lambda a, b: np.column_stack([a, b]), normal(3), normal(3, 2), wrt=(0, 1))
case("numpy.append", lambda a, b: np.append(a, b), normal(2, 2), normal(3), wrt=(0, 1))
case("numpy.append", lambda a, b: np.append(a, b, axis=0), normal(2, 2), normal(1, 2), wrt=(0, 1), tag="axis")
case("numpy.split", lambda x: np.split(x, [1, 3], axis=1)[1], normal(2, 5))
case("numpy.array_split", lambda x: np.array_split(x, 3), normal(7))
case("numpy.hsplit", lambda x: np.hsplit(x, 2), normal(2, 4))
case("numpy.vsplit", lambda x: np.vsplit(x, 2)[0], normal(4, 2))
case("numpy.dsplit", lambda x: np.dsplit(x, [1]), normal(2, 2, 3))
case("numpy.unstack", lambda x: np.unstack(x, axis=1), normal(2, 3))
case("numpy.block", lambda a, b: np.block([[a, b], [b.T, 2.0]]), normal(2, 2), normal(2, 1), wrt=(0, 1))
case("numpy.ediff1d", lambda x: np.ediff1d(x, to_begin=[0.5, x[0, 0]]), normal(2, 3))

# -- rearranging copies -------------------------------------------------------------------------

case("numpy.tile", lambda x: np.tile(x, (2, 1, 2)), normal(2, 3))
case("numpy.repeat", lambda x: np.repeat(x, [1, 0, 3], axis=0), normal(3, 2))
case("ndarray.repeat", lambda x: x.repeat(2), normal(2, 2))
case("numpy.roll", lambda x: np.roll(x, (1, -2), axis=(0, 1)), normal(3, 4))
case("numpy.roll", lambda x: np.roll(x, np.argmax(x)), distinct(5), tag="traced shift")
case("numpy.pad", lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=((0.5, 1.0), (2.0, 3.0))), normal(2, 3))
case("numpy.pad", lambda x, c: np.pad(x, 2, constant_values=c), normal(3), 1.5, wrt=(0, 1), tag="traced constant")
case("numpy.pad", lambda x: np.pad(x, (2, 3), mode="reflect"), normal(4), tag="reflect")
case("numpy.pad", lambda x: np.pad(x, 1, mode="edge"), normal(2, 2), tag="edge")
case("numpy.delete", lambda x: np.delete(x, [0, 2], axis=1), normal(2, 4))
case("numpy.insert", lambda x, v: np.insert(x, 1, v, axis=0), normal(2, 3), normal(3), wrt=(0, 1))
case("numpy.resize", lambda x: np.resize(x, (3, 3)), normal(4))

# -- diagonals and triangles -------------------------------------------------------------------------

case("numpy.diag", lambda v: np.diag(v, 1), normal(3))
case("numpy.diag", lambda m: np.diag(m, -1), normal(3, 3), tag="read")
case("numpy.diagflat", np.diagflat, normal(2, 2))
case("numpy.diagonal", lambda x: np.diagonal(x, 1, 0, 2), normal(3, 2, 4))
case("ndarray.diagonal", lambda x: x.diagonal(), normal(3, 3))
case("numpy.triu", lambda x: np.triu(x, 1), normal(3, 4))
case("numpy.tril", lambda x: np.tril(x, -1), normal(2, 3, 3))

# -- products --------------------------------------------------------------------------------------

case("numpy.dot", np.dot, normal(2, 3), normal(4, 3, 2), wrt=(0, 1))
case("numpy.dot", np.dot, normal(3), 2.5, wrt=(0, 1), tag="scalar")
case("ndarray.dot", lambda a, b: a.dot(b), normal(2, 3), normal(3), wrt=(0, 1))
case("ndarray.dot", lambda x: np.arange(6.0).reshape(2, 3).dot(x), normal(3), tag="ordinary array, traced argument")
case("numpy.matmul", np.matmul, normal(2, 2, 3), normal(3, 4), wrt=(0, 1))
case("numpy.inner", np.inner, normal(2, 3), normal(4, 3), wrt=(0, 1))
case("numpy.outer", np.outer, normal(3), normal(2, 2), wrt=(0, 1))
case("numpy.vdot", np.vdot, normal(2, 3), normal(6), wrt=(0, 1))
case("numpy.tensordot", lambda a, b: np.tensordot(a, b, axes=([0, 2], [1, 0])), normal(2, 3, 4), normal(4, 2),
     wrt=(0, 1))
case("numpy.kron", np.kron, normal(2, 3), normal(3, 2), wrt=(0, 1))
case("numpy.kron", np.kron, normal(2), normal(2, 3), wrt=(0, 1), tag="different ranks")
case("numpy.cross", np.cross, normal(2, 3), normal(3), wrt=(0, 1))
case("numpy.cross", lambda a, b: np.cross(a, b, axisa=0, axisb=0), normal(3, 2), normal(3, 2), wrt=(0, 1),
     tag="axes")
case("numpy.vecdot", np.vecdot, normal(2, 3), normal(3), wrt=(0, 1))
case("numpy.matvec", np.matvec, normal(2, 3, 4), normal(4), wrt=(0, 1))
case("numpy.vecmat", np.vecmat, normal(3), normal(2, 3, 4), wrt=(0, 1))
for sub, shapes in (("ij,jk->ik", [(2, 3), (3, 4)]), ("ii", [(3, 3)]), ("ii->i", [(3, 3)]),
                    ("...j,j->...", [(2, 3, 4), (4,)]), ("bij,bjk", [(2, 2, 3), (2, 3, 2)]), ("i,i", [(3,), (3,)]),
                    ("ij->ji", [(2, 3)])):
    case("numpy.einsum", lambda *ops, sub=sub: np.einsum(sub, *ops), *[normal(*s) for s in shapes],
         wrt=tuple(range(len(shapes))), tag=sub)
for uf, (da, db) in {np.add: (normal, normal), np.subtract: (normal, normal), np.multiply: (normal, normal),
                     np.divide: (normal, pos), np.power: (pos, normal), np.maximum: (distinct, distinct),
                     np.minimum: (distinct, distinct)}.items():
    case(f"numpy.{uf.__name__}.outer", lambda a, b, uf=uf: uf.outer(a, b), da(3), db(2, 2), wrt=(0, 1))

# -- linear algebra --------------------------------------------------------------------------------

case("numpy.linalg.inv", lambda a: np.linalg.inv(a), spd(3) + normal(3, 3))
case("numpy.linalg.inv", lambda a: np.linalg.inv(a), np.stack([spd(2), spd(2)]), tag="stacked")
case("numpy.linalg.det", lambda a: np.linalg.det(a), normal(3, 3) + 2 * np.eye(3))
case("numpy.linalg.slogdet", lambda a: np.linalg.slogdet(a).logabsdet, normal(3, 3) + 2 * np.eye(3))
case("numpy.linalg.solve", lambda a, b: np.linalg.solve(a, b), spd(3), normal(3), wrt=(0, 1))
case("numpy.linalg.solve", lambda a, b: np.linalg.solve(a, b), spd(3), normal(3, 2), wrt=(0, 1), tag="matrix b")
case("numpy.linalg.cholesky", lambda a: np.linalg.cholesky(a), np.tril(spd(3)) + np.triu(normal(3, 3), 1),
     tag="upper triangle ignored")
case("numpy.linalg.cholesky", lambda a: np.linalg.cholesky(a, upper=True), spd(3), tag="upper")
case("numpy.linalg.eigh", lambda a: tuple(np.linalg.eigh(a)), spd(3) + np.triu(normal(3, 3), 1))
case("numpy.linalg.eigvalsh", lambda a: np.linalg.eigvalsh(a, UPLO="U"), spd(3) + np.tril(normal(3, 3), -1))
case("numpy.linalg.svd", lambda a: tuple(np.linalg.svd(a, full_matrices=False)), normal(4, 3))
case("numpy.linalg.svd", lambda a: np.linalg.svd(a, compute_uv=False), normal(2, 3), tag="values")
# distinct real eigenvalues (numpy 2.5 returns them as complex; np.real keeps the case real either way)
_NONSYMMETRIC = np.array([[3.0, 1.0, 0.2], [0.1, 2.0, 0.5], [0.05, 0.1, 1.0]])
_ROTATION = np.array([[0.1, -1.0, 0.2], [1.0, 0.0, 0.3], [0.1, 0.2, 2.0]])  # a complex pair
case("numpy.linalg.eig", lambda a: np.real(np.linalg.eig(a).eigenvalues), _NONSYMMETRIC)
case("numpy.linalg.eig", lambda a: np.abs(np.linalg.eig(a)[0]), _ROTATION, tag="complex")
case("numpy.linalg.eigvals", lambda a: np.real(np.linalg.eigvals(a)), _NONSYMMETRIC)
case("numpy.linalg.eigvals", lambda a: np.angle(np.linalg.eigvals(a)), _ROTATION, tag="complex")
case("numpy.linalg.svdvals", lambda a: np.linalg.svdvals(a), normal(3, 3))
case("numpy.linalg.qr", lambda a: tuple(np.linalg.qr(a)), normal(4, 3))
case("numpy.linalg.qr", lambda a: np.linalg.qr(a, mode="r"), normal(3, 3), tag="r")
case("numpy.linalg.pinv", lambda a: np.linalg.pinv(a), normal(4, 3))
case("numpy.linalg.lstsq", lambda a, b: np.linalg.lstsq(a, b)[:2], normal(5, 3), normal(5), wrt=(0, 1))
case("numpy.linalg.lstsq", lambda a, b: np.linalg.lstsq(a, b)[3], normal(3, 4), normal(3, 2), wrt=(0, 1),
     tag="underdetermined")
for ord_ in (None, 1, 3, np.inf):
    case("numpy.linalg.norm", lambda x, o=ord_: np.linalg.norm(x, ord=o, axis=1), distinct(3, 4), tag=str(ord_))
for ord_ in ("fro", "nuc", 1, -np.inf, 2):
    case("numpy.linalg.norm", lambda x, o=ord_: np.linalg.norm(x, ord=o), distinct(3, 3), tag=f"matrix {ord_}")
case("numpy.linalg.norm", lambda x: np.linalg.norm(x, keepdims=True), normal(2, 3), tag="all")
case("numpy.linalg.vector_norm", lambda x: np.linalg.vector_norm(x, ord=1, axis=(0, 1)), normal(2, 3, 2))
case("numpy.linalg.matrix_norm", lambda x, inf=np.inf: np.linalg.matrix_norm(x, ord=inf), distinct(2, 3, 3))
case("numpy.linalg.matrix_power", lambda a: np.linalg.matrix_power(a, 3), normal(3, 3))
case("numpy.linalg.matrix_power", lambda a: np.linalg.matrix_power(a, -2), spd(3), tag="negative")
case("numpy.linalg.multi_dot", lambda a, b, c: np.linalg.multi_dot([a, b, c]), normal(3), normal(3, 4),
     normal(4, 2), wrt=(0, 1, 2))
case("numpy.linalg.cond", lambda a: np.linalg.cond(a), normal(3, 3))
case("numpy.linalg.cond", lambda a: np.linalg.cond(a, "fro"), spd(3), tag="fro")

# -- numpy.fft: complex results, differentiated through their real and imaginary parts -------------

case("numpy.fft.fft", lambda x: np.abs(np.fft.fft(x, axis=0)), normal(4, 3))
case("numpy.fft.fft", lambda x, y: np.fft.fft(x + 1j * y, n=6).imag, normal(5), normal(5), wrt=(0, 1),
     tag="complex")
case("numpy.fft.ifft", lambda x, y: np.real(np.fft.ifft(x + 1j * y, n=3, norm="ortho")), normal(2, 4), normal(2, 4),
     wrt=(0, 1))
case("numpy.fft.rfft", lambda x: np.fft.rfft(x, n=7, norm="forward").imag, normal(6))
case("numpy.fft.irfft", lambda x, y: np.fft.irfft(x + 1j * y, n=6), normal(4), normal(4), wrt=(0, 1))
case("numpy.fft.irfft", lambda x, y: np.fft.irfft(x + 1j * y), normal(4), normal(4), wrt=(0, 1), tag="default n")

# -- selection, sorting, indexing -------------------------------------------------------------------

case("numpy.where", lambda x, y: np.where(x > 0, x, y * 2), normal(3, 4), normal(4), wrt=(0, 1))
case("numpy.where", lambda x: x[np.where(x > 0)], normal(6), tag="one argument")
case("numpy.clip", lambda x: np.clip(x, -0.5, 0.5), normal(8))
case("numpy.clip", lambda x, lo: np.clip(x, lo, None), normal(8), normal(8), wrt=(0, 1), tag="traced bound")
case("ndarray.clip", lambda x: x.clip(max=0.3), normal(8))
case("numpy.select", lambda x: np.select([x < -0.5, x > 0.5], [x ** 2, -x], default=x * 3), normal(10))
case("numpy.nonzero", lambda x: x[np.nonzero(x > 0)], normal(3, 4))
case("ndarray.nonzero", lambda x: x[(x > 0).nonzero()], normal(3, 4))
case("numpy.flatnonzero", lambda x: x.ravel()[np.flatnonzero(x > 0)], normal(2, 3))
case("numpy.argwhere", lambda x: x * len(np.argwhere(x > 0)), normal(2, 3))
case("numpy.compress", lambda x: np.compress([True, False, True], x, axis=1), normal(2, 3))
case("ndarray.compress", lambda x: x.compress(x > 0), normal(6))
case("numpy.choose", lambda x, y: np.choose([0, 1, 1, 0], [x, y]), normal(4), normal(4), wrt=(0, 1))
case("numpy.choose", lambda x, y: np.choose((x > 0).astype(int), [x, y * 2], mode="clip"), normal(4), normal(4),
     wrt=(0, 1), tag="traced picks")
case("ndarray.choose", lambda x, y: np.array([1, 0, 1]).choose([x, y]), normal(3), normal(3), wrt=(0, 1))
case("numpy.extract", lambda x: np.extract(x > 0, x * 2), normal(2, 3))
case("numpy.sort", lambda x: np.sort(x, axis=0), distinct(3, 4))
case("numpy.sort", lambda x: np.sort(x, axis=None), distinct(3, 2), tag="flat")
case("ndarray.sort", lambda x: _sorted_copy(x), distinct(5))
case("numpy.argsort", lambda x: x[np.argsort(x)], distinct(6))
case("ndarray.argsort", lambda x: x.argsort(axis=0), distinct(3, 2), grad="zero")
case("numpy.take_along_axis", lambda x: np.take_along_axis(x, np.argsort(x, axis=1)[:, :2], axis=1), distinct(3, 4))
case("numpy.searchsorted", lambda a, v: np.searchsorted(a, v), np.sort(distinct(5)), distinct(3), wrt=(0, 1),
     grad="zero")
case("ndarray.searchsorted", lambda a, v: a.searchsorted(v, side="right"), np.sort(distinct(5)), distinct(3),
     wrt=(0, 1), grad="zero")
case("numpy.take", lambda x: np.take(x, [[0, 2], [2, 2]], axis=-1), normal(2, 3))
case("ndarray.take", lambda x: x.take([3, 0, 3]), normal(2, 3))


def _sorted_copy(x):
    y = x.copy()
    y.sort()
    return y


# -- in-place writes ---------------------------------------------------------------------------------

def _put(x, v):
    a = x.copy()
    np.put(a, [0, 5, -1, 0], v)
    return a


def _put_method(x, v):
    a = np.zeros(6)
    a.put([1, 3], v)
    return a * x


def _place(x, v):
    a = x.copy()
    np.place(a, a > 0, v)  # a mask that depends on the inputs
    return a


def _place_static(x, v):
    a = np.zeros(6)
    np.place(a, [True, False, True, True, False, True], v)
    return a * x


def _putmask(x, v):
    a = x.copy()
    np.putmask(a, a < 0, v)
    return a


def _fill_diagonal(x, v):
    a = x.copy()
    np.fill_diagonal(a, v)
    return a


def _put_along_axis(x, v):
    a = x.copy()
    np.put_along_axis(a, np.array([[0], [2]]), v, axis=1)
    return a


def _put_along_axis_traced(x, v):
    a = x.copy()
    np.put_along_axis(a, np.argmax(x, axis=1, keepdims=True), v, axis=1)
    return a


def _copyto(x, v):
    a = np.zeros((2, 3))
    np.copyto(a, v)
    return a * x


def _copyto_where(x, v):
    a = x.copy()
    np.copyto(a, v, where=x > 0)
    return a


def _fill(x, v):
    a = np.empty(3)
    a.fill(v)
    return a * x


def _add_at(x, v):
    a = x.copy()
    np.add.at(a, [0, 2, 0, 0], v)
    return a


def _subtract_at(x, v):
    a = np.zeros((2, 2))
    np.subtract.at(a, ([0, 1, 1], [1, 0, 0]), v)
    return a * x


case("numpy.put", _put, normal(2, 3), normal(3), wrt=(0, 1))
case("ndarray.put", _put_method, normal(6), normal(2), wrt=(0, 1))
case("numpy.place", _place, normal(6), normal(2), wrt=(0, 1))
case("numpy.place", _place_static, normal(6), normal(3), wrt=(0, 1), tag="static mask, cycled values")
case("numpy.putmask", _putmask, normal(6), normal(4), wrt=(0, 1))
case("numpy.fill_diagonal", _fill_diagonal, normal(3, 3), normal(2), wrt=(0, 1))
case("numpy.put_along_axis", _put_along_axis, normal(2, 3), normal(2, 1), wrt=(0, 1))
case("numpy.put_along_axis", _put_along_axis_traced, distinct(2, 3), normal(2, 1), wrt=(0, 1), tag="traced indices")
case("numpy.copyto", _copyto, normal(2, 3), normal(3), wrt=(0, 1))
case("numpy.copyto", _copyto_where, normal(2, 3), normal(3), wrt=(0, 1), tag="where")
case("ndarray.fill", _fill, normal(3), 0.7, wrt=(0, 1))
case("numpy.add.at", _add_at, normal(3), normal(4), wrt=(0, 1))
case("numpy.subtract.at", _subtract_at, normal(2, 2), normal(3), wrt=(0, 1))

# -- creation -----------------------------------------------------------------------------------------

case("numpy.array", lambda x: np.array([[x[0], 1.0], [x[1] * 2, x[0]]]), normal(2))
case("numpy.array", lambda x: np.array(x, ndmin=3), normal(2), tag="ndmin")
case("numpy.asarray", lambda x: np.asarray([x, x * 2]), normal(3))
case("numpy.asanyarray", lambda x: np.asanyarray(x, dtype=np.float32), normal(3), rtol=1e-6, gtol=5e-2)
case("numpy.ascontiguousarray", lambda x: np.ascontiguousarray(x.T), normal(2, 3))
case("numpy.full", lambda x: np.full((2, 3), x), 1.5)
case("numpy.full_like", lambda x: np.full_like(x, x[1]), normal(3))
for fn in (np.zeros_like, np.ones_like, np.empty_like):
    case(f"numpy.{fn.__name__}", lambda x, fn=fn: _filled_like(fn, x), normal(3))
case("numpy.arange", lambda s: np.arange(s, 4.0, 0.5), 1.3)
case("numpy.arange", lambda x: x[np.arange(np.argmax(x))], distinct(6), tag="traced int stop")
case("numpy.linspace", lambda a, b: np.linspace(a, b, 5), 0.5, 2.0, wrt=(0, 1))
case("numpy.linspace", lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=1, retstep=True), normal(2),
     normal(2), wrt=(0, 1), tag="arrays, axis, retstep")
case("numpy.logspace", lambda a: np.logspace(a, 2.0, 4, base=2.0), 0.5)
case("numpy.meshgrid", lambda a, b: np.meshgrid(a, b), normal(3), normal(2), wrt=(0, 1))
case("numpy.meshgrid", lambda a, b: np.meshgrid(a, b, indexing="ij", sparse=True), normal(3), normal(2),
     wrt=(0, 1), tag="ij sparse")


def _filled_like(fn, x):
    a = fn(x)
    a[...] = 0.0 if fn is np.empty_like else a
    a[1] = x[0]
    return a * x


# -- metadata: answers from shapes and dtypes ----------------------------------------------------------

case("numpy.shape", lambda x: x * np.shape(x)[1], normal(2, 3))
case("numpy.ndim", lambda x: x * np.ndim(x), normal(2, 3))
case("numpy.size", lambda x: x * np.size(x, 0), normal(2, 3))
case("numpy.result_type", lambda x: x.astype(np.result_type(x, np.float32)), normal(3))
case("numpy.can_cast", lambda x: x * np.can_cast(x, np.float32), normal(3))
case("numpy.min_scalar_type", lambda x: x * (np.min_scalar_type(x).kind == "f"), normal(3))
case("numpy.iscomplexobj", lambda x: x * (1 + np.iscomplexobj(x)), normal(3))
case("numpy.isrealobj", lambda x: x * (1 + np.isrealobj(x)), normal(3))
case("numpy.isscalar", lambda x: x * (2 + np.isscalar(x)), normal(3))

# -- Python builtins and numpy scalar types --------------------------------------------------------------

case("float", lambda x: float(x[1]) * 2.0, normal(3))
case("int", lambda x: x * int(x[0] * 10), pos(3) + 1)
case("bool", lambda x: x * bool(x[0] > 0), normal(3))
case("len", lambda x: x * len(x), normal(3))
case("type", lambda x: x * (type(x[0]) is np.float64), normal(3))
case("abs", lambda x: abs(x) * 2, normal(4))
case("pow", lambda x: pow(x, 3), normal(4))
case("pow", lambda x: pow(x, 2.5) + pow(2.0, x), pos(4), tag="float exponent")
case("round", lambda x: round(x[0], 1) + x * round(x[1]), off_integers(3) * 3.7, grad="fd")
case("sum", lambda x: sum(x), normal(3, 2))
case("sum", lambda x: sum([x[0], x[1] * 2], 1.0), normal(3), tag="list, start")
case("max", lambda x: max(x[0], x[1], x[2]), distinct(3))
case("max", lambda x: max(x), distinct(4), tag="iterable")
case("min", lambda x: min(x[0], x[1]), distinct(2))
case("min", lambda x: min(x) + min(x[0] * 1.0, 0.5), distinct(4), tag="iterable, mixed types")
case("divmod", lambda x: divmod(x, 0.7), uniform(0.3, 5, 4))
case("ndarray.item", lambda x: x.item(1) * 2, normal(3))
case("ndarray.tolist", lambda x: sum(x.tolist()), normal(3))
case("numpy.float64", lambda x: np.float64(x[0]) * 2, normal(3))
case("numpy.float32", lambda x: np.float32(x[0]) * 2, normal(3), rtol=1e-6, gtol=5e-2)
case("numpy.float16", lambda x: np.float16(x[0]) * 2, normal(3), rtol=1e-3, wrt=())


# scipy.special's distribution ufuncs and scipy.linalg: a table of their own
registry_cases_scipy.add(case, normal=normal, pos=pos, uniform=uniform, spd=spd)
# interp, partition, integer scalar types, convolution, Bessel Y: issue 20's second round
registry_cases_issue20.add(case, normal=normal, pos=pos, distinct=distinct)


# -- the checks ------------------------------------------------------------------------------------------

def _leaves(x):
    if isinstance(x, (tuple, list)):
        return [leaf for v in x for leaf in _leaves(v)]
    return [x]


def _weights(out):
    rng = np.random.default_rng(1)
    return [rng.uniform(0.5, 1.5, size=np.shape(v)) for v in _leaves(out)]


def _loss(fn, weights):
    def loss(*args):
        total = 0.0
        for leaf, w in zip(_leaves(fn(*args)), weights):
            total = total + np.sum(leaf * w)
        return total

    return loss


@contextmanager
def _counting(name):
    """Count calls of the registry entry ``name`` (functions and methods)."""
    hits = []
    saved = []
    for table in (registry.FUNCTIONS, registry.METHODS):
        for key, entry in list(table.items()):
            if entry.name == name:
                saved.append((table, key, entry))
                table[key] = registry.Entry(entry.name, _counted(entry.fn, hits), entry.group)
    try:
        yield hits
    finally:
        for table, key, entry in saved:
            table[key] = entry


def _counted(fn, hits):
    def wrapper(*args, **kwargs):
        hits.append(1)
        return fn(*args, **kwargs)

    return wrapper


def _assert_same(got, want, rtol):
    got_leaves, want_leaves = list(_leaves(got)), list(_leaves(want))
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        assert np.shape(g) == np.shape(w)
        assert np.asarray(g).dtype == np.asarray(w).dtype, (np.asarray(g).dtype, np.asarray(w).dtype)
        np.testing.assert_allclose(np.asarray(g, dtype=float), np.asarray(w, dtype=float), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_entry(c):
    with _counting(c.entry) as hits:
        got = ad.function(c.fn)(*c.args)
    assert hits, f"{c.entry} was not used by its case"
    _assert_same(got, c.fn(*c.args), c.rtol)
    _check_gradients(c)


def _check_gradients(c):
    if not c.wrt:
        return
    loss = _loss(c.fn, _weights(c.fn(*c.args)))
    for i in c.wrt:
        g = ad.grad(loss, wrt=i)(*c.args)
        if c.grad == "zero":
            assert np.all(np.asarray(g) == 0), g
            continue

        def along(xi, i=i):
            return loss(*c.args[:i], xi, *c.args[i + 1:])

        want = numeric_grad(along, c.args[i])
        np.testing.assert_allclose(np.asarray(g, dtype=float), want, rtol=c.gtol, atol=c.gtol / 10)


# numpy functions written in Python need no entry: the emulator runs numpy's own code,
# whose numpy calls reach the registry.
EMULATED = [
    Case("numpy.cov", lambda x: np.cov(x), (normal(2, 5),)),
    Case("numpy.corrcoef", lambda x, y: np.corrcoef(x, y), (normal(5), normal(5)), (0, 1)),
    Case("numpy.gradient", lambda x: np.gradient(x, 0.5, edge_order=2), (normal(6),)),
    Case("numpy.trapezoid", lambda y: np.trapezoid(y, dx=0.3), (normal(5),)),
    Case("numpy.polyval", lambda p, x: np.polyval(p, x), (normal(3), normal(4)), (0, 1)),
    Case("numpy.linalg.outer", lambda a, b: np.linalg.outer(a, b), (normal(3), normal(2)), (0, 1)),
    Case("numpy.linalg.trace", lambda a: np.linalg.trace(a), (normal(2, 3, 3),)),
    Case("numpy.linalg.vecdot", lambda a, b: np.linalg.vecdot(a, b), (normal(2, 3), normal(3)), (0, 1)),
]


@pytest.mark.parametrize("c", EMULATED, ids=[c.id for c in EMULATED])
def test_emulated_numpy_function(c):
    _assert_same(ad.function(c.fn)(*c.args), c.fn(*c.args), c.rtol)
    _check_gradients(c)


def test_every_entry_has_a_case():
    listed = {e.name for e in registry.table()}
    covered = {c.entry for c in CASES}
    assert not listed - covered, f"registry entries without a case: {sorted(listed - covered)}"
    assert not covered - listed, f"cases for names that are not registry entries: {sorted(covered - listed)}"
    assert len(listed) >= 250


def test_unregistered_numpy_function_is_refused_by_name():
    with pytest.raises(ad.UnsupportedError, match="numpy.lexsort has no lowering"):
        ad.grad(lambda x: np.sum(x[np.lexsort((x,))]))(normal(5))


def test_refused_arguments_name_the_function():
    with pytest.raises(ad.UnsupportedError, match="numpy.sum: where="):
        ad.grad(lambda x: np.sum(x, where=x > 0))(normal(4))
    with pytest.raises(ad.UnsupportedError, match="numpy.pad: mode='mean'"):
        ad.grad(lambda x: np.sum(np.pad(x, 1, mode="mean")))(normal(4))
    with pytest.raises(ad.UnsupportedError, match="numpy.linalg.lstsq"):
        ad.grad(lambda a: np.sum(np.linalg.lstsq(a, np.ones(3))[0]))(np.ones((3, 2)))
    with pytest.raises(ad.UnsupportedError, match="numpy.repeat"):
        ad.grad(lambda x: np.sum(np.repeat(x, np.argmax(x))))(normal(4))
