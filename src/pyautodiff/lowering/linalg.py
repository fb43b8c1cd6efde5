"""numpy.linalg: inverses, solves, factorizations and norms, stacked like numpy.

numpy's symmetric routines (cholesky, eigh, eigvalsh) read one triangle of
their input and ignore the other; the symbolic side first rebuilds the
symmetric matrix from that triangle, so gradients reach exactly the
elements numpy reads.  Results that numpy returns as named tuples keep
their type (``eigh(a).eigenvalues`` works).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.linalg as ptla

from ..traced import unwrap
from . import ties
from .core import as_var, axes_of, guard, lift, refuse, vars_for, write_out
from .registry import register

_QR_MODES = {"reduced": "economic", "complete": "full", "r": "r"}


def _float_var(a, value):
    dt = np.asarray(value[0] if isinstance(value, tuple) else value).dtype
    if np.iscomplexobj(unwrap(a)) and (dt.kind != "c" or isinstance(value, tuple) and len(value) == 2
                                       and not np.iscomplexobj(value[1]) and np.ndim(value[1]) == np.ndim(value[0])):
        # PyTensor's norms, SVD and slogdet take real matrices only
        raise refuse("this numpy.linalg function of a complex traced matrix is not supported (inv, det, solve, "
                     "qr and cholesky of complex matrices compute values; derivatives need real matrices)")
    return as_var(a, dt.name if dt.kind in "fc" else "float64")


def _tuple_result(value, vars_):
    lifted = [lift(v, var) for v, var in zip(value, vars_)]
    return type(value)(*lifted) if hasattr(value, "_fields") else tuple(lifted)


def symmetric(a, lower: bool, n: int):
    """The symmetric matrix numpy's routine sees: one triangle, mirrored (``n``: matrix size)."""
    keep = np.tril(np.ones((n, n), dtype=bool), -1)
    if not lower:
        keep = keep.T
    half = pt.switch(keep, a, 0.0)
    diag = pt.switch(np.eye(n, dtype=bool), a, 0.0)
    return half + pt.swapaxes(half, -1, -2) + diag


def _swap(x):
    return pt.swapaxes(x, -1, -2)


@register(np.linalg.inv, group="linalg")
def inv(a):
    value = np.linalg.inv(unwrap(a))
    return lift(value, ptla.inv(_float_var(a, value)))


@register(np.linalg.det, group="linalg")
def det(a):
    value = np.linalg.det(unwrap(a))
    return lift(value, ptla.det(_float_var(a, value)))


@register(np.linalg.slogdet, group="linalg")
def slogdet(a):
    value = np.linalg.slogdet(unwrap(a))
    sign, logdet = ptla.slogdet(_float_var(a, value))
    return _tuple_result(value, [sign, logdet])


@register(np.linalg.solve, group="linalg")
def solve(a, b):
    value = np.linalg.solve(unwrap(a), unwrap(b))
    va, vb = vars_for([a, b], value.dtype)
    # numpy 2: b is a vector only when it is 1-d, otherwise a stack of matrices
    return lift(value, ptla.solve(va, vb, b_ndim=1 if vb.ndim == 1 else 2))


@register(np.linalg.cholesky, group="linalg")
def cholesky(a, /, *, upper=False):
    value = np.linalg.cholesky(unwrap(a), upper=upper)
    low = cholesky_lower(symmetric(_float_var(a, value), not upper, np.shape(unwrap(a))[-1]))
    return lift(value, _swap(low) if upper else low)


def cholesky_lower(sym):
    """The lower Cholesky factor of symmetric ``sym``, raising (not NaN-filling) like numpy and scipy."""
    with warnings.catch_warnings():  # PyTensor 3.3 deprecates "raise"; it is numpy's behaviour
        warnings.simplefilter("ignore", FutureWarning)
        return ptla.cholesky(sym, lower=True, on_error="raise")


@register(np.linalg.eigh, group="linalg")
def eigh(a, UPLO="L"):
    value = np.linalg.eigh(unwrap(a), UPLO=UPLO)
    lower = UPLO.upper() == "L"
    w, v = _eigh(symmetric(_float_var(a, value), lower, np.shape(unwrap(a))[-1]), lower)
    return _tuple_result(value, [w, v])


def _eigh(a, lower=True):
    # LAPACK's divide-and-conquer driver on numpy's triangle: the same eigenvector signs
    return ptla.eigh(a, lower=lower, driver="evd")


@register(np.linalg.eigvalsh, group="linalg")
def eigvalsh(a, UPLO="L"):
    value = np.linalg.eigvalsh(unwrap(a), UPLO=UPLO)
    sym = symmetric(_float_var(a, value), UPLO.upper() == "L", np.shape(unwrap(a))[-1])
    return lift(value, _eigh(sym)[0])


@register(np.linalg.svd, group="linalg")
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if hermitian:
        raise refuse("numpy.linalg.svd: hermitian=True is not supported with traced values")
    value = np.linalg.svd(unwrap(a), full_matrices=full_matrices, compute_uv=compute_uv)
    x = _float_var(a, value)
    if not compute_uv:
        return lift(value, ptla.svd(x, full_matrices=full_matrices, compute_uv=False))
    # a square matrix's full factors are its reduced ones, whose derivative PyTensor defines
    full = full_matrices and len(set(np.shape(unwrap(a))[-2:])) > 1
    u, s, vh = ptla.svd(x, full_matrices=full, compute_uv=True)
    return _tuple_result(value, [u, s, vh])


@register(np.linalg.svdvals, group="linalg")
def svdvals(x, /):
    value = np.linalg.svdvals(unwrap(x))
    return lift(value, ptla.svd(_float_var(x, value), full_matrices=False, compute_uv=False))


@register(np.linalg.qr, group="linalg")
def qr(a, mode="reduced"):
    if mode not in _QR_MODES:
        raise refuse(f"numpy.linalg.qr: mode={mode!r} is not supported with traced values")
    value = np.linalg.qr(unwrap(a), mode=mode)
    x = _float_var(a, value)
    if np.ndim(unwrap(a)) != 2:
        raise refuse("numpy.linalg.qr: stacks of matrices are not supported with traced values")
    if mode == "r":  # numpy's R is the reduced factorization's
        return lift(value, ptla.qr(x, mode="economic")[1])
    q, r = ptla.qr(x, mode=_QR_MODES[mode])
    return _tuple_result(value, [q, r])


@register(np.linalg.pinv, group="linalg")
def pinv(a, rcond=None, hermitian=False, **kwargs):
    if rcond is not None or kwargs:
        raise refuse("numpy.linalg.pinv: a custom rcond/rtol is not supported with traced values")
    value = np.linalg.pinv(unwrap(a), hermitian=hermitian)
    return lift(value, ptla.pinv(_float_var(a, value), hermitian=hermitian))


@register(np.linalg.lstsq, group="linalg")
def lstsq(a, b, rcond=None):
    x_val, res_val, rank, s_val = np.linalg.lstsq(unwrap(a), unwrap(b), rcond=rcond)
    m, n = np.shape(unwrap(a))
    if rank != min(m, n):
        raise refuse("numpy.linalg.lstsq of a rank-deficient matrix is not supported with traced values")
    va, vb = vars_for([a, b], x_val.dtype)
    s = ptla.svd(va, full_matrices=False, compute_uv=False)
    cutoff = (np.finfo(x_val.dtype).eps * max(m, n) if rcond is None else rcond) * pt.max(s)
    guard(pt.sum(pt.gt(s, cutoff)), rank, "lstsq rank")
    x = pt.dot(ptla.pinv(va), vb)
    if res_val.size:
        r = vb - pt.dot(va, x)
        res = pt.sum(pt.sqr(r), axis=0)
        res = res.reshape((1,)) if res.ndim == 0 else res
    else:
        res = pt.zeros(res_val.shape, dtype=res_val.dtype.name)
    return lift(x_val, x), lift(res_val, res), rank, lift(s_val, s)


def _vector_norm(x, ord, axes, keepdims):
    ax = axes if len(axes) > 1 else axes[0]
    if ord is None or ord == 2:
        return pt.sqrt(pt.sum(pt.sqr(x), axis=ax, keepdims=keepdims))
    ab = pt.abs(x)
    if ord == np.inf:  # ties share the gradient (see ties.py)
        return ties.max_(ab, axes, keepdims)
    if ord == -np.inf:
        return ties.min_(ab, axes, keepdims)
    if ord == 0:
        return pt.sum(pt.neq(x, 0), axis=ax, keepdims=keepdims)
    if ord == 1:
        return pt.sum(ab, axis=ax, keepdims=keepdims)
    return pt.sum(ab ** ord, axis=ax, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm(x, ord, row, col):
    """The matrix norm over axes (row, col), which are removed; callers restore kept dims."""
    if ord in (None, "fro"):
        out = pt.sqrt(pt.sum(pt.sqr(x), axis=(row, col)))
    elif ord in (1, -1, np.inf, -np.inf):
        # max/min over columns (ord ±1) or rows (ord ±inf) of the summed absolute values
        summed_axis, other = (row, col) if ord in (1, -1) else (col, row)
        sums = pt.sum(pt.abs(x), axis=summed_axis)
        other -= other > summed_axis
        out = (ties.max_ if ord > 0 else ties.min_)(sums, (other,), False)
    elif ord in (2, -2, "nuc"):
        moved = pt.moveaxis(x, (row, col), (-2, -1))
        s = ptla.svd(moved, full_matrices=False, compute_uv=False)
        extreme = ties.max_ if ord == 2 else ties.min_
        out = pt.sum(s, axis=-1) if ord == "nuc" else extreme(s, (s.ndim - 1,), False)
    else:
        raise refuse(f"numpy.linalg.norm: ord={ord!r} is not supported for matrices")
    return out


@register(np.linalg.norm, group="linalg")
def norm(x, ord=None, axis=None, keepdims=False):
    value = np.linalg.norm(unwrap(x), ord=ord, axis=axis, keepdims=keepdims)  # numpy's checks of ord/axis
    v = _float_var(x, value)
    nd = v.ndim
    if axis is None and ord is None:
        out = pt.sqrt(pt.sum(pt.sqr(v)))
        return lift(value, out.reshape((1,) * nd) if keepdims else out)
    axes = axes_of(axis, nd)
    if len(axes) == 1:
        return lift(value, _vector_norm(v, ord, axes, keepdims))
    return lift(value, _matrix_norm(v, ord, axes[0], axes[1]).reshape(np.shape(value)))


@register(np.linalg.vector_norm, group="linalg")
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    value = np.linalg.vector_norm(unwrap(x), axis=axis, keepdims=keepdims, ord=ord)
    v = _float_var(x, value)
    if axis is None:  # over all elements, as one vector
        out = _vector_norm(v.reshape((-1,)), ord, (0,), False)
        return lift(value, out.reshape((1,) * v.ndim) if keepdims else out)
    return lift(value, _vector_norm(v, ord, axes_of(axis, v.ndim), keepdims))


@register(np.linalg.matrix_norm, group="linalg")
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    value = np.linalg.matrix_norm(unwrap(x), keepdims=keepdims, ord=ord)
    v = _float_var(x, value)
    return lift(value, _matrix_norm(v, ord, v.ndim - 2, v.ndim - 1).reshape(np.shape(value)))


@register(np.linalg.matrix_power, group="linalg")
def matrix_power(a, n):
    value = np.linalg.matrix_power(unwrap(a), n)
    x = as_var(a, value.dtype.name)
    n = int(n)
    if n == 0:
        eye = np.broadcast_to(np.eye(value.shape[-1], dtype=value.dtype), value.shape)
        return lift(value, pt.constant(eye))  # does not depend on a
    if n < 0:
        x, n = ptla.inv(x), -n
    result, base = None, x
    while n:  # binary powers, as numpy
        if n & 1:
            result = base if result is None else pt.matmul(result, base)
        n >>= 1
        if n:
            base = pt.matmul(base, base)
    return lift(value, result)


@register(np.linalg.multi_dot, group="linalg")
def multi_dot(arrays, *, out=None):
    arrays = list(arrays)
    value = np.linalg.multi_dot([unwrap(a) for a in arrays])
    vars_ = vars_for(arrays, value.dtype)
    first_vec, last_vec = vars_[0].ndim == 1, vars_[-1].ndim == 1
    vars_[0] = vars_[0][None, :] if first_vec else vars_[0]
    vars_[-1] = vars_[-1][:, None] if last_vec else vars_[-1]
    res = vars_[0]
    for v in vars_[1:]:
        res = pt.dot(res, v)
    if first_vec:
        res = res[0]
    if last_vec:
        res = res[..., 0]
    result = lift(value, res)
    return result if out is None else write_out(out, result)


@register(np.linalg.cond, group="linalg")
def cond(x, p=None):
    value = np.linalg.cond(unwrap(x), p)
    v = _float_var(x, value)
    if p in (None, 2, -2):
        s = ptla.svd(v, full_matrices=False, compute_uv=False)
        out = s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    else:
        out = _matrix_norm(v, p, v.ndim - 2, v.ndim - 1) * _matrix_norm(ptla.inv(v), p, v.ndim - 2, v.ndim - 1)
    return lift(value, out)

