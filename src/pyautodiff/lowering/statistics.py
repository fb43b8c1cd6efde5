"""Order statistics and weighted means: median, percentile, quantile, average.

Order statistics sort the reduced axes symbolically (the order depends on
the data) and then read fixed positions: which positions, and with which
interpolation weight, depends only on the axis length and ``q``, so numpy's
rules are applied to those concrete numbers.  As in numpy, a NaN anywhere
in a reduced slice makes its result NaN.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..traced import contains_traced, unwrap
from .core import as_var, axes_of, lift, refuse, vars_for, write_out
from .registry import register


def _sorted_last(x, axes, shape):
    """``x`` (of concrete ``shape``) with the reduced axes merged into one last, sorted axis."""
    rest = [i for i in range(x.ndim) if i not in axes]
    moved = x.transpose(rest + list(axes)) if axes != tuple(range(x.ndim - len(axes), x.ndim)) else x
    return pt.sort(moved.reshape((*[shape[i] for i in rest], -1)), axis=-1)


def _nan_aware(s, out):
    return pt.switch(pt.isnan(s[..., -1]), np.nan, out)


def _positions(q, n, method):
    """numpy's (lower index, upper index, weight) for quantile ``q`` of ``n`` sorted values."""
    v = q * (n - 1)
    lo = int(np.floor(v))
    hi = min(lo + 1, n - 1)
    if method == "linear":
        return lo, hi, v - lo
    if method == "lower":
        return lo, lo, 0.0
    if method == "higher":
        return int(np.ceil(v)), int(np.ceil(v)), 0.0
    if method == "nearest":
        k = int(np.around(v))
        return k, k, 0.0
    if method == "midpoint":
        return lo, hi, 0.0 if v % 1 == 0 else 0.5
    raise refuse(f"numpy.quantile: method={method!r} is not supported with traced values")


def _lerp(a, b, t):
    # numpy's _lerp, choosing its formula by the (concrete) weight
    if t == 0:
        return a
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _quantile(name, a, q, axis, method, keepdims, out, scale, kwargs):
    if contains_traced(q):
        raise refuse(f"numpy.{name}: q must not depend on the inputs")
    if kwargs.pop("weights", None) is not None or kwargs.pop("interpolation", None) is not None or \
            kwargs.pop("overwrite_input", False):
        raise refuse(f"numpy.{name}: weights=/interpolation=/overwrite_input= are not supported with traced values")
    value = getattr(np, name)(unwrap(a), q, axis=axis, method=method, keepdims=keepdims)
    x = as_var(a)
    if not x.dtype.startswith("float"):
        x = pt.cast(x, "float64")
    axes = axes_of(axis, x.ndim)
    n = int(np.prod([np.shape(unwrap(a))[i] for i in axes]))
    s = _sorted_last(x, axes, np.shape(unwrap(a)))
    qs = np.asarray(q, dtype=np.float64) / scale
    picks = []
    for qi in qs.reshape(-1):
        lo, hi, t = _positions(float(qi), n, method)
        picks.append(_nan_aware(s, _lerp(s[..., lo], s[..., hi], t)))
    var = pt.stack(picks, axis=0).reshape(np.shape(value))
    result = lift(value, var)
    return result if out is None else write_out(out, result)


@register(np.quantile, group="statistics")
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, **kwargs):
    kwargs["overwrite_input"] = overwrite_input
    return _quantile("quantile", a, q, axis, method, keepdims, out, 1.0, kwargs)


@register(np.percentile, group="statistics")
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, **kwargs):
    kwargs["overwrite_input"] = overwrite_input
    return _quantile("percentile", a, q, axis, method, keepdims, out, 100.0, kwargs)


@register(np.median, group="statistics")
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    value = np.median(unwrap(a), axis=axis, keepdims=keepdims)
    x = as_var(a)
    axes = axes_of(axis, x.ndim)
    n = int(np.prod([np.shape(unwrap(a))[i] for i in axes]))
    if n == 0:
        raise refuse("numpy.median of an empty slice is not supported with traced values")
    s = _sorted_last(x, axes, np.shape(unwrap(a)))
    mid = n // 2
    med = s[..., mid] if n % 2 else (s[..., mid - 1] + s[..., mid]) / 2.0
    if x.dtype.startswith("float"):
        med = _nan_aware(s, med)
    result = lift(value, med.reshape(np.shape(value)))
    return result if out is None else write_out(out, result)


@register(np.average, group="statistics")
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    value = np.average(unwrap(a), axis=axis, weights=unwrap(weights), returned=returned, keepdims=keepdims)
    avg_value, scl_value = value if returned else (value, None)
    dt = np.asarray(avg_value).dtype
    x = as_var(a, dt.name)
    axes = axes_of(axis, x.ndim)
    if weights is None:
        avg = pt.mean(x, axis=axes, keepdims=keepdims)
        scl = pt.constant(np.asarray(scl_value)) if returned else None
    else:
        w = vars_for([weights], dt)[0]
        if w.ndim != x.ndim:  # 1-d (or axes-shaped) weights lie along the reduced axes
            shape = [1] * x.ndim
            for ax, k in zip(axes, np.shape(unwrap(weights))):
                shape[ax] = k
            w = w.reshape(tuple(shape))
        scl = pt.sum(pt.broadcast_to(w, np.shape(unwrap(a))), axis=axes, keepdims=keepdims)
        avg = pt.sum(x * w, axis=axes, keepdims=keepdims) / scl
    result = lift(avg_value, avg.reshape(np.shape(avg_value)))
    if not returned:
        return result
    return result, lift(scl_value, pt.broadcast_to(scl, np.shape(avg_value)) if scl.ndim else scl)
