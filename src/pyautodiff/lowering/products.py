"""Products: dot, matmul, inner, outer, vdot, tensordot, einsum, kron, cross, vecdot."""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..traced import unwrap
from .core import dtype_of, lift, refuse, vars_for, write_out
from .registry import register, register_fn


def _binary(np_fn, build, allowed=()):
    label = f"numpy.{np_fn.__name__}"

    def lower(a, b, *rest, out=None, **kw):
        bad = [k for k in kw if k not in allowed]
        if bad:
            raise refuse(f"{label}: arguments {sorted(bad)} are not supported with traced values")
        value = np_fn(unwrap(a), unwrap(b), *rest, **kw)
        va, vb = vars_for([a, b], dtype_of(value))
        result = lift(value, build(va, vb, *rest, **kw))
        return result if out is None else write_out(out, result)

    lower.__name__ = f"lower_{label.rpartition('.')[2]}"
    return lower


def _dot(a, b):
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if b.ndim <= 2:
        return pt.dot(a, b)
    # numpy's dot for N-d b: sum over the last axis of a and the second-to-last of b
    return pt.tensordot(a, b, axes=[[a.ndim - 1], [b.ndim - 2]])


def _inner(a, b):
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return pt.tensordot(a, b, axes=[[a.ndim - 1], [b.ndim - 1]])


def _kron(a, b):
    nd = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (nd - a.ndim) + tuple(a.shape)) if a.ndim < nd else a
    b = b.reshape((1,) * (nd - b.ndim) + tuple(b.shape)) if b.ndim < nd else b
    # interleave the axes: out[i0*B0 + j0, ...] = a[i0, ...] * b[j0, ...]
    ea = a.dimshuffle(*[x for i in range(nd) for x in (i, "x")])
    eb = b.dimshuffle(*[x for i in range(nd) for x in ("x", i)])
    prod = ea * eb
    return prod.reshape(tuple(a.shape[i] * b.shape[i] for i in range(nd)))


def _vecdot(a, b, axis=-1):
    return pt.sum(pt.conj(a) * b, axis=axis)


register(np.dot, method="dot", group="products")(_binary(np.dot, _dot))
register(np.matmul, group="products")(_binary(np.matmul, lambda a, b: pt.matmul(a, b)))
register(np.inner, group="products")(_binary(np.inner, _inner))
register(np.outer, group="products")(_binary(np.outer, lambda a, b: pt.outer(a.flatten(), b.flatten())))
register(np.vdot, group="products")(_binary(np.vdot, lambda a, b: pt.sum(pt.conj(a.flatten()) * b.flatten())))
register(np.tensordot, group="products")(_binary(np.tensordot, lambda a, b, axes=2: pt.tensordot(a, b, axes=axes),
                                                                   allowed=("axes",)))
register(np.kron, group="products")(_binary(np.kron, _kron))
register(np.matvec, group="products")(_binary(np.matvec, lambda m, v: pt.sum(m * v[..., None, :], axis=-1)))
register(np.vecmat, group="products")(_binary(np.vecmat, lambda v, m: pt.sum(pt.conj(v)[..., :, None] * m, axis=-2)))


@register(np.vecdot, group="products")
def vecdot(x1, x2, /, *, axis=-1, out=None, **kwargs):
    if kwargs:
        raise refuse(f"numpy.vecdot: arguments {sorted(kwargs)} are not supported with traced values")
    value = np.vecdot(unwrap(x1), unwrap(x2), axis=axis)
    va, vb = vars_for([x1, x2], dtype_of(value))
    va, vb = pt.broadcast_arrays(va, vb)
    result = lift(value, _vecdot(va, vb, axis))
    return result if out is None else write_out(out, result)


@register(np.cross, group="products")
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    value = np.cross(unwrap(a), unwrap(b), axisa, axisb, axisc, axis)  # numpy's checks and deprecations
    if axis is not None:
        axisa = axisb = axisc = axis
    va, vb = vars_for([a, b], dtype_of(value))
    va, vb = pt.moveaxis(va, axisa, -1), pt.moveaxis(vb, axisb, -1)
    na, nb = np.shape(unwrap(a))[axisa], np.shape(unwrap(b))[axisb]
    a0, a1 = va[..., 0], va[..., 1]
    b0, b1 = vb[..., 0], vb[..., 1]
    a2 = va[..., 2] if na == 3 else None
    b2 = vb[..., 2] if nb == 3 else None
    if na == 2 and nb == 2:
        return lift(value, a0 * b1 - a1 * b0)
    a2 = a2 if a2 is not None else pt.zeros_like(a0)
    b2 = b2 if b2 is not None else pt.zeros_like(b0)
    comps = [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0]
    comps = pt.broadcast_arrays(*comps)
    out = pt.stack(comps, axis=-1)
    return lift(value, pt.moveaxis(out, -1, axisc))


@register(np.einsum, group="products")
def einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    if not isinstance(subscripts, str):
        raise refuse("numpy.einsum: the sublist form (operand, [axes], ...) is not supported with traced values; "
                     "use a subscripts string")
    if kwargs:
        raise refuse(f"numpy.einsum: arguments {sorted(kwargs)} are not supported with traced values")
    value = np.einsum(subscripts, *[unwrap(o) for o in operands])
    var = pt.einsum(subscripts.replace(" ", ""), *vars_for(list(operands), dtype_of(value)))
    result = lift(value, var)
    return result if out is None else write_out(out, result)


def _ufunc_outer(ufunc):
    """``ufunc.outer(a, b)``: the ufunc of every element of ``a`` with every element of ``b``."""
    from .ufuncs import BINARY

    build = BINARY[ufunc]

    def lower(a, b, **kwargs):
        if kwargs:
            raise refuse(f"numpy.{ufunc.__name__}.outer: arguments {sorted(kwargs)} are not supported "
                         "with traced values")
        value = ufunc.outer(unwrap(a), unwrap(b))
        va, vb = vars_for([a, b], dtype_of(value))
        va = va.reshape(np.shape(unwrap(a)) + (1,) * vb.ndim) if vb.ndim else va
        return lift(value, build(va, vb))

    lower.__name__ = f"lower_{ufunc.__name__}_outer"
    return lower


for _uf in (np.add, np.subtract, np.multiply, np.divide, np.power, np.maximum, np.minimum):
    register_fn((_uf, "outer"), _ufunc_outer(_uf), "products")
