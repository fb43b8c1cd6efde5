"""Shape manipulation: reshape, transpose, flips, broadcasting, copies, dtype casts.

Operations numpy may answer with a view (reshape, transpose, ravel, squeeze,
expand_dims, swapaxes, moveaxis, flip, rot90) pass ``view=`` to ``lift``
with their exact inverse — flips are negative-step slices, so they are
``indexing.getitem`` views — so a later in-place write through the view or
into its base stays right.  ``broadcast_to`` is a read-only view: numpy
itself refuses writes through it.
"""
from __future__ import annotations

import builtins

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import Traced, unwrap
from .core import as_var, lift, refuse
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
    if order not in ("C", "F"):
        raise context.require().unsupported(f"reshape with order={order!r} is not supported for traced values")
    shp = _shape_arg(shape[0], shape[1:]) if shape else ()
    value = np.reshape(unwrap(a), shp, order=order)
    out_shape = value.shape
    in_shape = np.shape(unwrap(a))
    if order == "F":
        return lift(value, _reshape_f(as_var(a), out_shape),
                    view=_view(a, lambda b: _reshape_f(b, out_shape), lambda b, v: _reshape_f(v, in_shape)))
    return lift(value, as_var(a).reshape(out_shape),
                view=_view(a, lambda b: b.reshape(out_shape), lambda b, v: v.reshape(in_shape)))


def _reshape_f(var, shape):
    """Column-major reshape: the row-major reshape of the reversed axes, reversed back."""
    return var.T.reshape(tuple(shape)[::-1]).T


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
    if order not in ("C", "A", "K", "F"):
        raise context.require().unsupported(f"ravel with order={order!r} is not supported for traced values")
    return reshape(a, -1, order="F" if order == "F" else "C")


def flatten(self, order="C"):
    if order not in ("C", "F", "A", "K"):
        raise context.require().unsupported(f"flatten with order={order!r} is not supported for traced values")
    value = unwrap(self).flatten(order)
    var = as_var(self)
    return lift(value, _reshape_f(var, value.shape) if order == "F" else var.flatten())


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
    value = unwrap(self).astype(dtype, casting=casting, copy=copy)
    if value is unwrap(self):  # copy=False and nothing to convert: numpy returns the array itself
        return self
    return lift(value, pt.cast(as_var(self), value.dtype.name))


def _atleast(np_fn):
    def lower(*arys):
        res = [reshape(a, np_fn(unwrap(a)).shape) if type(a) is Traced else np_fn(a) for a in arys]
        return res[0] if len(res) == 1 else tuple(res)

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


atleast_1d = register(np.atleast_1d, group="shape")(_atleast(np.atleast_1d))
atleast_2d = register(np.atleast_2d, group="shape")(_atleast(np.atleast_2d))
atleast_3d = register(np.atleast_3d, group="shape")(_atleast(np.atleast_3d))


@register(np.matrix_transpose, group="shape")
def matrix_transpose(x, /):
    np.matrix_transpose(unwrap(x))  # numpy's error for fewer than 2 dims
    return swapaxes(x, -1, -2)


@register(np.broadcast_to, group="shape")
def broadcast_to(array, shape, subok=False):
    value = np.broadcast_to(unwrap(array), shape)
    out_shape = value.shape
    # numpy's result is a read-only view: writes through it fail in numpy itself
    return lift(value, pt.broadcast_to(as_var(array), out_shape),
                view=_view(array, lambda b: pt.broadcast_to(b, out_shape), None))


@register(np.broadcast_arrays, group="shape")
def broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*[np.shape(unwrap(a)) for a in args])
    return tuple(broadcast_to(a, shape) if type(a) is Traced else np.broadcast_to(a, shape) for a in args)


def _flip_index(ndim, axes):
    return tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim))


@register(np.flip, group="shape")
def flip(m, axis=None):
    value = np.flip(unwrap(m), axis)  # numpy's checks of axis
    nd = np.ndim(unwrap(m))
    axes = range(nd) if axis is None else [int(a) % nd for a in np.atleast_1d(axis)]
    return _getitem(m, _flip_index(nd, set(axes))) if nd else value


@register(np.fliplr, group="shape")
def fliplr(m):
    np.fliplr(unwrap(m))  # numpy's error for 1-d input
    return flip(m, 1)


@register(np.flipud, group="shape")
def flipud(m):
    np.flipud(unwrap(m))
    return flip(m, 0)


@register(np.rot90, group="shape")
def rot90(m, k=1, axes=(0, 1)):
    np.rot90(unwrap(m), k, axes)  # numpy's checks of axes
    nd = np.ndim(unwrap(m))
    a0, a1 = int(axes[0]) % nd, int(axes[1]) % nd
    k %= 4
    if k == 0:
        return _getitem(m, (slice(None),))
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(nd))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    return transpose(flip(m, a1), perm) if k == 1 else flip(transpose(m, perm), a1)


def _getitem(a, idx):
    from .indexing import getitem

    return getitem(a, idx)


def T(self):
    return transpose(self)


def view(self, dtype=None, type=None):
    """``x.view()`` or ``x.view(dtype)`` of the same dtype (scikit-learn attaches metadata that
    way): a view of the same values.  The metadata is not kept: it caches values computed
    from the data, which a cached trace would replay for other data."""
    same = dtype is None or (not isinstance(dtype, builtins.type) or not issubclass(dtype, np.ndarray)) and \
        np.dtype(dtype) == unwrap(self).dtype
    if type is not None or not same:
        raise refuse("ndarray.view: another dtype or type reinterprets the array; not supported with traced values")
    return _getitem(self, Ellipsis)


# ndarray methods whose signature differs from the numpy function's
METHODS = {
    "reshape": _reshape_method,
    "transpose": _transpose_method,
    "ravel": ravel,
    "flatten": flatten,
    "astype": astype,
    "view": view,
}
PROPERTIES = {"T": T, "mT": lambda self: swapaxes(self, -1, -2)}
