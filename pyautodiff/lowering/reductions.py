"""Reductions (sum, mean, max, ...) as functions and as ndarray methods.

One generic lowering handles numpy's reduction signature: ``axis`` as int,
tuple, None or negative, ``keepdims``, ``dtype``, and ``out=`` written like
an assignment.  Rows of ``REDUCTIONS`` give the numpy function, the method
names and the PyTensor builder ``build(var, axis, keepdims)``.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import unwrap
from .core import as_var, lift, norm_axis, write_out
from .registry import register_fn


def _var(x, axis, keepdims, ddof=0):
    mean = pt.mean(x, axis=axis, keepdims=True)
    sq = pt.sqr(x - mean)
    n = _count(x, axis)
    return pt.sum(sq, axis=axis, keepdims=keepdims) / (n - ddof)


def _count(x, axis):
    shape = x.type.shape
    if axis is None:
        axes = range(x.ndim)
    else:
        axes = axis if isinstance(axis, tuple) else (axis,)
    n = 1
    for a in axes:
        n = n * (shape[a] if shape[a] is not None else x.shape[a])
    return n


REDUCTIONS = [
    # numpy function, method names, builder(var, axis, keepdims, **extra)
    (np.sum, ("sum",), lambda x, axis, keepdims: pt.sum(x, axis=axis, keepdims=keepdims)),
    (np.prod, ("prod",), lambda x, axis, keepdims: pt.prod(x, axis=axis, keepdims=keepdims)),
    (np.mean, ("mean",), lambda x, axis, keepdims: pt.mean(x, axis=axis, keepdims=keepdims)),
    (np.max, ("max",), lambda x, axis, keepdims: pt.max(x, axis=axis, keepdims=keepdims)),
    (np.min, ("min",), lambda x, axis, keepdims: pt.min(x, axis=axis, keepdims=keepdims)),
    (np.all, ("all",), lambda x, axis, keepdims: pt.all(x, axis=axis, keepdims=keepdims)),
    (np.any, ("any",), lambda x, axis, keepdims: pt.any(x, axis=axis, keepdims=keepdims)),
    (np.argmax, ("argmax",), lambda x, axis, keepdims: pt.argmax(x, axis=axis, keepdims=keepdims)),
    (np.argmin, ("argmin",), lambda x, axis, keepdims: pt.argmin(x, axis=axis, keepdims=keepdims)),
    (np.ptp, ("ptp",), lambda x, axis, keepdims: pt.max(x, axis=axis, keepdims=keepdims) - pt.min(x, axis=axis, keepdims=keepdims)),
    (np.nansum, (), lambda x, axis, keepdims: pt.sum(pt.switch(pt.isnan(x), 0, x), axis=axis, keepdims=keepdims)),
    (np.var, ("var",), None),
    (np.std, ("std",), None),
]
ALIASES = {np.amax: np.max, np.amin: np.min}


def _make(np_fn, build):
    name = np_fn.__name__

    def lower(a, axis=None, dtype=None, out=None, keepdims=False, ddof=0, **kwargs):
        for k in ("initial", "where"):
            if k in kwargs and kwargs[k] is not np._NoValue:
                raise context.require().unsupported(f"numpy.{name}: {k}= is not supported with traced values")
        call_kw = {"axis": axis, "keepdims": keepdims}
        if dtype is not None:
            call_kw["dtype"] = dtype
        if name in ("var", "std"):
            call_kw["ddof"] = ddof
        if name in ("argmax", "argmin") and not keepdims:
            call_kw.pop("keepdims")
        value = np_fn(unwrap(a), **call_kw)
        x = as_var(a, np.dtype(dtype).name if dtype is not None else None)
        ax = norm_axis(axis, x.ndim)
        if name == "var":
            var = _var(x, ax, keepdims, ddof)
        elif name == "std":
            var = pt.sqrt(_var(x, ax, keepdims, ddof))
        else:
            var = build(x, ax, keepdims)
        result = lift(value, var)
        return result if out is None else write_out(out, result)

    lower.__name__ = f"lower_{name}"
    return lower


def install() -> None:
    from .registry import METHODS, Entry

    for np_fn, methods, build in REDUCTIONS:
        fn = _make(np_fn, build)
        register_fn(np_fn, fn, "reductions")
        for m in methods:
            METHODS[m] = Entry(f"ndarray.{m}", fn, "reductions")
    for alias, target in ALIASES.items():
        register_fn(alias, _make(target, dict((f, b) for f, _, b in REDUCTIONS)[target]), "reductions",
                    name=f"numpy.{alias.__name__}")
