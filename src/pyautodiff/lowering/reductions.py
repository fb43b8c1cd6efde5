"""Reductions (sum, mean, max, ...) as functions and as ndarray methods.

One generic lowering handles numpy's reduction signature: ``axis`` as int,
tuple, None or negative, ``keepdims``, ``dtype``, ``initial``, and ``out=``
written like an assignment.  Rows of ``REDUCTIONS`` give the numpy function,
the method names and the PyTensor builder ``build(var, axes, keepdims)``
(``axes`` always a tuple).  The NaN-ignoring variants replace NaNs by the
reduction's neutral element, as numpy does.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.math import Prod

from ..traced import unwrap
from . import ties
from .core import as_var, axes_of, lift, refuse, write_out
from .registry import register, register_fn, register_method


def running_products(y):
    """Running products along the last axis (static length), by doubling
    (Hillis-Steele: log2(n) shifted products): only multiplications, so exact
    where elements are zero and differentiable to any order with PyTensor's
    own rules."""
    n, shift = y.type.shape[-1], 1
    while shift < n:
        y = pt.concatenate([y[..., :shift], y[..., shift:] * y[..., :-shift]], axis=-1)
        shift *= 2
    return y


def _product_of_others(x, axes):
    """For every element, the product of the other elements of its slice
    (the elements reduced together over ``axes``), without dividing."""
    keep = [i for i in range(x.ndim) if i not in axes]
    moved = x.dimshuffle(keep + list(axes))
    n = int(np.prod([x.type.shape[a] for a in axes]))
    flat = moved.reshape(tuple(moved.shape[:len(keep)]) + (n,), ndim=len(keep) + 1)
    flat = pt.specify_shape(flat, tuple(moved.type.shape[:len(keep)]) + (n,))
    one = pt.ones_like(flat[..., :1])
    before = pt.concatenate([one, running_products(flat)[..., :-1]], axis=-1)
    after = pt.concatenate([one, running_products(flat[..., ::-1])[..., :-1]], axis=-1)[..., ::-1]
    others = (before * after).reshape(moved.shape, ndim=x.ndim)
    back = [0] * x.ndim
    for pos, i in enumerate(keep + list(axes)):
        back[i] = pos
    return others.dimshuffle(back)


class ZeroSafeProd(Prod):
    """PyTensor's Prod with a gradient that is right where a slice holds zeros.

    PyTensor's own gradient divides by the input and patches zeros with
    ``ProdWithoutZeros``, which returns 0 for a slice of zeros only (so
    ``grad(prod)([0.])`` is ``[0.]``, not ``[1.]``) and has no gradient of its
    own.  Here the derivative is the product of the other elements of each
    slice, from exclusive running products taken from both ends: no division,
    exact with any number of zeros, and its own derivative (the Hessian) is
    again built from multiplications.  The forward value is Prod's."""

    def pullback(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        axes = tuple(range(x.ndim)) if self.axis is None else tuple(self.axis)
        inexact = ("float", "complex")
        if (not outputs[0].dtype.startswith(inexact) or not x.dtype.startswith(inexact)
                or any(x.type.shape[a] is None for a in axes)):
            return super().pullback(inputs, outputs, output_grads)
        if not axes:
            return [gz]
        gz = pt.expand_dims(gz, axes)
        return [(gz * _product_of_others(x, axes)).astype(x.dtype)]


def prod(x, axis=None, keepdims=False):
    """``pt.prod`` with a gradient that is right at zeros (see ZeroSafeProd)."""
    axes = tuple(range(x.ndim)) if axis is None else tuple(axis)
    out = ZeroSafeProd(axes)(x)
    return pt.expand_dims(out, axes) if keepdims else out


def _count(x, axes):
    n = 1
    for a in axes:
        n = n * (x.type.shape[a] if x.type.shape[a] is not None else x.shape[a])
    return n


def _sqrt_of_variance(v):
    """sqrt(v) whose derivative is 0 where v == 0 (constant data, a single value), not 0 * inf = NaN.

    A zero variance is a minimum of v, so its gradient is 0 there; the sqrt branch gets a
    harmless argument (the value is still sqrt(0) = 0, and NaN stays NaN).
    """
    zero = pt.eq(v, 0)
    return pt.switch(zero, v, pt.sqrt(pt.switch(zero, pt.ones_like(v), v)))


def _var(x, axes, keepdims, ddof=0):
    mean = pt.mean(x, axis=axes, keepdims=True)
    return pt.sum(pt.sqr(x - mean), axis=axes, keepdims=keepdims) / (_count(x, axes) - ddof)


def _nan_count(x, axes, keepdims):
    return pt.sum(~pt.isnan(x), axis=axes, keepdims=keepdims)


def _nanvar(x, axes, keepdims, ddof=0):
    ok = ~pt.isnan(x)
    clean = pt.switch(ok, x, 0.0)
    # counts in the input's float type, as var's: float32 data gives float32 steps
    # (an int64 count made the whole computation float64, and np.nanvar(a) > np.var(a)
    # true where numpy has them equal)
    count_dtype = x.dtype if x.dtype in ("float32", "float64") else "float64"  # float16 counts overflow
    n = pt.cast(pt.sum(ok, axis=axes, keepdims=True), count_dtype)
    mean = pt.sum(clean, axis=axes, keepdims=True) / n
    sq = pt.switch(ok, pt.sqr(clean - mean), 0.0)
    dof = pt.cast(pt.sum(ok, axis=axes, keepdims=keepdims) - ddof, count_dtype)
    return pt.sum(sq, axis=axes, keepdims=keepdims) / dof


def _nanextreme(reduce, fill):
    # all-NaN slices stay NaN (numpy warns and returns NaN)
    def build(x, axes, keepdims):
        nan = pt.isnan(x)
        out = reduce(pt.switch(nan, fill, x), axes, keepdims)
        return pt.switch(pt.all(nan, axis=axes, keepdims=keepdims), np.nan, out)

    return build


def _ptp(x, axes, keepdims):
    return ties.max_(x, axes, keepdims) - ties.min_(x, axes, keepdims)


def _arg(reduce):
    def build(x, axes, keepdims):
        if len(axes) == x.ndim and x.ndim > 1:  # numpy's argmax over all axes indexes the flat array
            out = reduce(x.flatten(), axis=0)
            return out.reshape((1,) * x.ndim) if keepdims else out
        return reduce(x, axis=axes[0] if axes else None, keepdims=keepdims)

    return build


REDUCTIONS = [
    # numpy function, method names, builder(var, axes, keepdims[, ddof])
    (np.sum, ("sum",), lambda x, axes, keepdims: pt.sum(x, axis=axes, keepdims=keepdims)),
    (np.prod, ("prod",), lambda x, axes, keepdims: prod(x, axis=axes, keepdims=keepdims)),
    (np.mean, ("mean",), lambda x, axes, keepdims: pt.mean(x, axis=axes, keepdims=keepdims)),
    (np.max, ("max",), ties.max_),  # ties share the gradient (see ties.py)
    (np.min, ("min",), ties.min_),
    (np.amax, (), ties.max_),
    (np.amin, (), ties.min_),
    (np.all, ("all",), lambda x, axes, keepdims: pt.all(x, axis=axes, keepdims=keepdims)),
    (np.any, ("any",), lambda x, axes, keepdims: pt.any(x, axis=axes, keepdims=keepdims)),
    (np.argmax, ("argmax",), _arg(pt.argmax)),
    (np.argmin, ("argmin",), _arg(pt.argmin)),
    (np.ptp, (), _ptp),
    (np.var, ("var",), _var),
    (np.std, ("std",), lambda x, axes, keepdims, ddof=0: _sqrt_of_variance(_var(x, axes, keepdims, ddof))),
    (np.count_nonzero, (), lambda x, axes, keepdims: pt.sum(pt.neq(x, 0), axis=axes, keepdims=keepdims)),
    (np.nansum, (), lambda x, axes, keepdims: pt.sum(pt.switch(pt.isnan(x), 0, x), axis=axes, keepdims=keepdims)),
    (np.nanprod, (), lambda x, axes, keepdims: prod(pt.switch(pt.isnan(x), 1, x), axis=axes, keepdims=keepdims)),
    (np.nanmean, (), lambda x, axes, keepdims: pt.sum(pt.switch(pt.isnan(x), 0, x), axis=axes, keepdims=keepdims)
     / _nan_count(x, axes, keepdims)),
    (np.nanmax, (), _nanextreme(ties.max_, -np.inf)),
    (np.nanmin, (), _nanextreme(ties.min_, np.inf)),
    (np.nanvar, (), _nanvar),
    (np.nanstd, (), lambda x, axes, keepdims, ddof=0: _sqrt_of_variance(_nanvar(x, axes, keepdims, ddof))),
]

_WITH_DDOF = {np.var, np.std, np.nanvar, np.nanstd}
# reductions accepting initial=, and how the initial value joins the result
_INITIAL = {np.sum: pt.add, np.nansum: pt.add, np.prod: pt.mul, np.nanprod: pt.mul,
            np.max: ties.maximum, np.amax: ties.maximum, np.min: ties.minimum, np.amin: ties.minimum}


def _make(np_fn, build):
    name = f"numpy.{np_fn.__name__}"
    sig = inspect.signature(np_fn)  # binds positional arguments as numpy would

    def lower(*args, **kwargs):
        given = sig.bind(*args, **kwargs).arguments
        a, out = given.pop("a"), given.pop("out", None)
        where = given.get("where", True)
        if where is not True:
            raise refuse(f"{name}: where= is not supported with traced values")
        for k in ("mean",) + (() if np_fn in _INITIAL else ("initial",)):
            if k in given:
                raise refuse(f"{name}: {k}= is not supported with traced values")
        value = np_fn(unwrap(a), **{k: unwrap(v) for k, v in given.items()})
        dtype = given.get("dtype")
        keepdims = bool(given.get("keepdims", False))
        x = as_var(a, np.dtype(dtype).name if dtype is not None else None)
        axes = axes_of(given.get("axis"), x.ndim)
        if np_fn in _WITH_DDOF:
            var = build(x, axes, keepdims, given.get("correction", given.get("ddof", 0)))
        else:
            var = build(x, axes, keepdims)
        if "initial" in given:
            var = _INITIAL[np_fn](var, as_var(given["initial"], x.dtype))
        result = lift(value, var)
        return result if out is None else write_out(out, result)

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


@register(np.trace, method="trace", group="reductions")
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    value = np.trace(unwrap(a), offset, axis1, axis2, dtype=dtype)
    x = as_var(a, np.dtype(dtype).name if dtype is not None else None)
    diag = pt.diagonal(x, offset=offset, axis1=axis1 % x.ndim, axis2=axis2 % x.ndim)
    result = lift(value, pt.sum(diag, axis=-1))
    return result if out is None else write_out(out, result)


# ufunc.reduce: numpy's default axis is 0, not None
UFUNC_REDUCE = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min,
                np.logical_and: np.all, np.logical_or: np.any}


def _ufunc_reduce(ufunc, np_fn):
    reduce = _make(np_fn, dict((f, b) for f, _, b in REDUCTIONS)[np_fn])

    def lower(array, axis=0, dtype=None, out=None, keepdims=False, **kwargs):
        value = ufunc.reduce(unwrap(array), axis=axis, dtype=dtype, keepdims=keepdims,
                             **{k: unwrap(v) for k, v in kwargs.items()})
        kw = {"dtype": dtype} if dtype is not None and np_fn not in (np.max, np.min) else {}
        mirrored = reduce(array, axis=axis, keepdims=keepdims, **kw, **kwargs)
        result = lift(value, mirrored.sym)  # the ufunc's own result (and dtype) is the reference
        return result if out is None else write_out(out, result)

    lower.__name__ = f"lower_{ufunc.__name__}_reduce"
    return lower


def install() -> None:
    for np_fn, methods, build in REDUCTIONS:
        fn = _make(np_fn, build)
        register_fn(np_fn, fn, "reductions")
        for m in methods:
            register_method(m, fn, "reductions")
    for ufunc, np_fn in UFUNC_REDUCE.items():
        register_fn((ufunc, "reduce"), _ufunc_reduce(ufunc, np_fn), "reductions")
