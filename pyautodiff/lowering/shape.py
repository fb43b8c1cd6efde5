"""Shape manipulation: reshape, transpose, ravel, stacking, copies, dtype casts.

Operations numpy may answer with a view (reshape, transpose, ravel, squeeze,
expand_dims, swapaxes, moveaxis) pass ``view=`` to ``lift`` with their exact
inverse, so a later in-place write through the view or into its base stays
right.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import Traced, unwrap
from .core import as_var, lift, norm_axis
from .registry import register


def _shape_arg(shape, rest):
    if rest:  # a.reshape(2, 3)
        return (shape, *rest)
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(shape)


def _view(a, fwd, inv):
    return (a, fwd, inv) if type(a) is Traced else None


@register(np.reshape, group="shape")
def reshape(a, *shape, order="C", newshape=None, **kw):
    if newshape is not None:
        shape = (newshape,)
    if "shape" in kw:  # numpy 2.1+: np.reshape(a, shape=...)
        shape = (kw.pop("shape"),)
    if order != "C":
        raise context.require().unsupported("reshape with order other than 'C' is not supported for traced values")
    shp = _shape_arg(shape[0], shape[1:]) if shape else ()
    value = unwrap(a).reshape(shp)
    out_shape = value.shape
    in_shape = np.shape(unwrap(a))
    return lift(value, as_var(a).reshape(out_shape),
                view=_view(a, lambda b: b.reshape(out_shape), lambda b, v: v.reshape(in_shape)))


def _reshape_method(self, *shape, order="C"):
    return reshape(self, *shape, order=order)


@register(np.transpose, group="shape")
def transpose(a, axes=None):
    value = np.transpose(unwrap(a), axes)
    nd = np.ndim(unwrap(a))
    perm = tuple(range(nd))[::-1] if axes is None else tuple(int(x) % nd for x in axes)
    inv_perm = tuple(np.argsort(perm))
    return lift(value, as_var(a).transpose(perm),
                view=_view(a, lambda b: b.transpose(perm), lambda b, v: v.transpose(inv_perm)))


def _transpose_method(self, *axes):
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    return transpose(self, axes if axes else None)


@register(np.ravel, group="shape")
def ravel(a, order="C"):
    if order not in ("C", "A", "K"):
        raise context.require().unsupported("ravel with order='F' is not supported for traced values")
    return reshape(a, -1)


def flatten(self, order="C"):
    if order != "C":
        raise context.require().unsupported("flatten with order other than 'C' is not supported for traced values")
    value = unwrap(self).flatten()
    return lift(value, as_var(self).flatten())


@register(np.squeeze, method="squeeze", group="shape")
def squeeze(a, axis=None):
    value = np.squeeze(unwrap(a), axis=axis)
    return reshape(a, value.shape) if type(a) is Traced else value


@register(np.expand_dims, group="shape")
def expand_dims(a, axis):
    value = np.expand_dims(unwrap(a), axis)
    return reshape(a, value.shape)


@register(np.swapaxes, method="swapaxes", group="shape")
def swapaxes(a, axis1, axis2):
    nd = np.ndim(unwrap(a))
    perm = list(range(nd))
    i, j = int(axis1) % nd, int(axis2) % nd
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


@register(np.moveaxis, group="shape")
def moveaxis(a, source, destination):
    nd = np.ndim(unwrap(a))
    src = [int(s) % nd for s in np.atleast_1d(source)]
    dst = [int(d) % nd for d in np.atleast_1d(destination)]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


@register(np.copy, method="copy", group="shape")
def copy(a, order="K", subok=False):
    value = np.array(unwrap(a), copy=True)
    return lift(value, as_var(a))


def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
    value = unwrap(self).astype(dtype, casting=casting)
    return lift(value, pt.cast(as_var(self), value.dtype.name))


@register(np.concatenate, group="shape")
def concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    value = np.concatenate([unwrap(a) for a in arrays], axis=axis, dtype=dtype)
    if axis is None:
        vars_ = [as_var(a, value.dtype.name).flatten() for a in arrays]
        axis = 0
    else:
        vars_ = [as_var(a, value.dtype.name) for a in arrays]
    return lift(value, pt.concatenate(vars_, axis=norm_axis(axis, value.ndim)))


@register(np.stack, group="shape")
def stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    value = np.stack([unwrap(a) for a in arrays], axis=axis, dtype=dtype)
    vars_ = [as_var(a, value.dtype.name) for a in arrays]
    return lift(value, pt.stack(vars_, axis=norm_axis(axis, value.ndim)))


@register(np.hstack, group="shape")
def hstack(tup, dtype=None, casting="same_kind"):
    arrs = [atleast_1d(a) for a in tup]
    return concatenate(arrs, axis=0 if np.ndim(unwrap(arrs[0])) == 1 else 1, dtype=dtype)


@register(np.vstack, group="shape")
def vstack(tup, dtype=None, casting="same_kind"):
    return concatenate([atleast_2d(a) for a in tup], axis=0, dtype=dtype)


@register(np.atleast_1d, group="shape")
def atleast_1d(*arys):
    res = [reshape(a, np.atleast_1d(unwrap(a)).shape) if type(a) is Traced else np.atleast_1d(a) for a in arys]
    return res[0] if len(res) == 1 else tuple(res)


@register(np.atleast_2d, group="shape")
def atleast_2d(*arys):
    res = [reshape(a, np.atleast_2d(unwrap(a)).shape) if type(a) is Traced else np.atleast_2d(a) for a in arys]
    return res[0] if len(res) == 1 else tuple(res)


def T(self):
    return transpose(self)


# ndarray methods whose signature differs from the numpy function's
METHODS = {
    "reshape": _reshape_method,
    "transpose": _transpose_method,
    "ravel": ravel,
    "flatten": flatten,
    "astype": astype,
}
PROPERTIES = {"T": T, "mT": lambda self: swapaxes(self, -1, -2)}
