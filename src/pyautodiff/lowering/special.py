"""scipy.special as users call it: its ufuncs and its Python-level functions.

scipy's ufuncs reach ``Traced.__array_ufunc__`` like numpy's, so they are
registered by the ufunc object with an elementwise PyTensor builder.  Where
scipy defines a special value (``xlogy(0, 0) == 0``, ``entr(0) == 0``) the
builder selects it with ``switch`` and feeds the untaken branch a safe
argument, so its gradient stays finite instead of turning 0 * inf into NaN.
``logsumexp``, ``softmax`` and ``log_softmax`` are Python functions in scipy;
they are registered directly so the stable PyTensor forms are used.
"""
from __future__ import annotations

import math

import numpy as np
import pytensor.tensor as pt
import scipy.special as sc
from pytensor.gradient import disconnected_grad, zero_grad
from pytensor.tensor import special as pts

from ..traced import unwrap
from . import host_ops
from .core import as_var, axes_of, elementwise, lift, refuse, vars_for
from .registry import register, register_fn

_SQRT2 = math.sqrt(2.0)
_INF = np.inf


def _safe(cond, x, fill=1.0):
    """``x`` where ``cond`` is False, a harmless ``fill`` where it is True."""
    return pt.switch(cond, fill, x)


def xlogy(x, y):
    """``x * log(y)``, 0 where ``x == 0`` (scipy.special.xlogy)."""
    zero = pt.eq(x, 0) & ~pt.isnan(y)
    return pt.switch(zero, 0.0, x * pt.log(_safe(zero, y)))


def xlog1py(x, y):
    """``x * log1p(y)``, 0 where ``x == 0`` (scipy.special.xlog1py)."""
    zero = pt.eq(x, 0) & ~pt.isnan(y)
    return pt.switch(zero, 0.0, x * pt.log1p(_safe(zero, y, 0.0)))


def _entr(x):
    pos = pt.gt(x, 0)
    safe = _safe(~pos, x)
    return pt.switch(pos, -safe * pt.log(safe), pt.switch(pt.eq(x, 0), 0.0, pt.switch(pt.isnan(x), x, -_INF)))


def _rel_entr(x, y):
    both = pt.gt(x, 0) & pt.gt(y, 0)
    sx, sy = _safe(~both, x), _safe(~both, y)
    other = pt.switch(pt.eq(x, 0) & pt.ge(y, 0), 0.0, _INF)
    return pt.switch(pt.isnan(x) | pt.isnan(y), x + y, pt.switch(both, sx * pt.log(sx / sy), other))


def _kl_div(x, y):
    both = pt.gt(x, 0) & pt.gt(y, 0)
    sx, sy = _safe(~both, x), _safe(~both, y)
    other = pt.switch(pt.eq(x, 0) & pt.ge(y, 0), y, _INF)
    return pt.switch(pt.isnan(x) | pt.isnan(y), x + y, pt.switch(both, sx * pt.log(sx / sy) - sx + sy, other))


def log_ndtr(x):
    # erfc underflows for very negative x: there log(erfcx(t) / 2) - t**2 is exact
    neg = pt.lt(x, 0)
    t = -_safe(~neg, x, -1.0) / _SQRT2
    left = pt.log(pt.erfcx(t) / 2.0) - t * t
    right = pt.log1p(-0.5 * pt.erfc(_safe(neg, x, 1.0) / _SQRT2))
    return pt.switch(neg, left, right)


def _huber(delta, r):
    small = pt.le(pt.abs(r), delta)
    return pt.switch(pt.lt(delta, 0), _INF, pt.switch(small, 0.5 * r * r, delta * (pt.abs(r) - 0.5 * delta)))


def _pseudo_huber(delta, r):
    safe = _safe(pt.le(delta, 0), delta)
    value = safe * safe * (pt.sqrt(1.0 + (r / safe) ** 2) - 1.0)
    return pt.switch(pt.lt(delta, 0), _INF, pt.switch(pt.eq(delta, 0), 0.0, value))


def gammaincc(k, x):
    """Q(k, x) with the derivatives of 1 - P(k, x).

    PyTensor's own derivative of gammaincc in ``k`` is wrong away from small
    arguments (k=30, x=25: -43014 for 0.04995); gammainc's is right, and
    ``Q + (-P - zero_grad(-P))`` keeps Q's value exactly.
    """
    minus_p = -pt.gammainc(k, x)
    return disconnected_grad(pt.gammaincc(k, x)) + (minus_p - zero_grad(minus_p))


# public scipy.special name -> PyTensor builder
UFUNCS = {
    "expit": pt.sigmoid,
    "logit": lambda p: pt.log(p) - pt.log1p(-p),
    "log_expit": lambda x: -pt.softplus(-x),
    "gammaln": pt.gammaln,
    "gamma": pt.gamma,
    "digamma": pt.digamma,
    "erf": pt.erf,
    "erfc": pt.erfc,
    "erfinv": pt.erfinv,
    "erfcinv": pt.erfcinv,
    "erfcx": pt.erfcx,
    "ndtr": lambda x: 0.5 * pt.erfc(-x / _SQRT2),
    "log_ndtr": log_ndtr,
    "ndtri": lambda p: -_SQRT2 * pt.erfcinv(2.0 * p),
    "i0": pt.i0,
    "i1": pt.i1,
    "i0e": lambda x: pt.ive(0.0, x),
    "i1e": lambda x: pt.ive(1.0, x),
    "k0": lambda x: pt.kv(0.0, x),
    "k1": lambda x: pt.kv(1.0, x),
    "k0e": lambda x: pt.kve(0.0, x),
    "k1e": lambda x: pt.kve(1.0, x),
    "j0": pt.j0,
    "y0": host_ops.BESSEL_Y["y0"],  # PyTensor has no Y: scipy computes it (host_ops.py)
    "y1": host_ops.BESSEL_Y["y1"],
    "yn": host_ops.BESSEL_Y["yn"],
    "yv": host_ops.BESSEL_Y["yv"],
    "j1": pt.j1,
    "jv": pt.jv,
    "iv": pt.iv,
    "ive": pt.ive,
    "kv": pt.kv,
    "kve": pt.kve,
    "gammainc": pt.gammainc,
    "gammaincc": lambda k, x: gammaincc(k, x),
    "betainc": pt.betainc,
    "rgamma": lambda x: 1.0 / pt.gamma(x),
    "gammasgn": lambda x: pt.sign(pt.gamma(x)),
    "owens_t": pt.owens_t,
    "xlogy": xlogy,
    "xlog1py": xlog1py,
    "entr": _entr,
    "rel_entr": _rel_entr,
    "kl_div": _kl_div,
    "huber": _huber,
    "pseudo_huber": _pseudo_huber,
    "beta": pts.beta,
    "betaln": pts.betaln,
}


@register(sc.polygamma, group="scipy.special", name="scipy.special.polygamma")
def polygamma(n, x):
    value = sc.polygamma(unwrap(n), unwrap(x))
    nv, xv = vars_for([n, x], np.dtype("float64"))
    return lift(value, pt.polygamma(pt.cast(nv, "int64"), xv))


@register(sc.multigammaln, group="scipy.special", name="scipy.special.multigammaln")
def multigammaln(a, d):
    value = sc.multigammaln(unwrap(a), d)
    av = as_var(a)
    var = d * (d - 1) / 4.0 * math.log(math.pi) + sum(pt.gammaln(av + (1.0 - j) / 2.0) for j in range(1, d + 1))
    return lift(value, var)


@register(sc.softplus, group="scipy.special", name="scipy.special.softplus")
def softplus(x, **kwargs):
    if kwargs:
        raise refuse(f"scipy.special.softplus: arguments {sorted(kwargs)} are not supported with traced values")
    value = sc.softplus(unwrap(x))
    return lift(value, pt.softplus(as_var(x)))


@register(sc.logsumexp, group="scipy.special", name="scipy.special.logsumexp")
def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    value = sc.logsumexp(unwrap(a), axis=axis, b=unwrap(b), keepdims=keepdims, return_sign=return_sign)
    out_value, sign_value = value if return_sign else (value, None)
    x = as_var(a)
    if not x.dtype.startswith("float"):
        x = pt.cast(x, "float64")
    if b is not None:
        x, bv = pt.broadcast_arrays(x, as_var(b, x.dtype))
    axes = axes_of(axis, x.ndim)
    # Shift by the finite maximum, as scipy does.  The result does not depend
    # on the shift, so it is held constant for differentiation (to any order).
    m = pt.max(x, axis=axes, keepdims=True)
    m = zero_grad(pt.switch(pt.isfinite(m), m, 0.0))
    e = pt.exp(x - m)
    s = pt.sum(e if b is None else bv * e, axis=axes, keepdims=True)
    if return_sign:
        sign = pt.sign(s)
        out = pt.log(pt.abs(s)) + m
    else:
        out = pt.log(s) + m
    shape = np.shape(out_value)
    result = lift(out_value, out.reshape(shape))
    if return_sign:
        return result, lift(sign_value, sign.reshape(np.shape(sign_value)))
    return result


@register(sc.softmax, group="scipy.special", name="scipy.special.softmax")
def softmax(x, axis=None):
    value = sc.softmax(unwrap(x), axis=axis)
    return lift(value, _over_axes(pts.softmax, as_var(x, value.dtype.name), axis))


@register(sc.log_softmax, group="scipy.special", name="scipy.special.log_softmax")
def log_softmax(x, axis=None):
    value = sc.log_softmax(unwrap(x), axis=axis)
    return lift(value, _over_axes(pts.log_softmax, as_var(x, value.dtype.name), axis))


def _over_axes(fn, x, axis):
    """Apply a single-axis ``fn`` over several axes by moving them last and merging them."""
    axes = axes_of(axis, x.ndim)
    if len(axes) == 1:
        return fn(x, axis=axes[0])
    if x.ndim == 0:
        return fn(x.reshape((1,)), axis=0).reshape(())
    rest = [i for i in range(x.ndim) if i not in axes]
    moved = x.transpose(rest + list(axes))
    shape = moved.shape
    flat = moved.reshape((*[shape[i] for i in range(len(rest))], -1))
    out = fn(flat, axis=-1).reshape(shape)
    inverse = np.argsort(rest + list(axes))
    return out.transpose(tuple(int(i) for i in inverse))


def install() -> None:
    for public, fn in UFUNCS.items():  # public names: scipy's ufunc __name__ may be an alias (psi)
        uf = getattr(sc, public)
        name = f"scipy.special.{public}"
        register_fn(uf, elementwise(uf, fn, name=name), "scipy.special", name=name)
