"""Products: dot, matmul, inner, outer, vdot, tensordot, einsum."""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..traced import unwrap
from .core import lift, vars_for, dtype_of
from .registry import register


def _binary(np_fn, build):
    def lower(a, b, *rest, **kw):
        value = np_fn(unwrap(a), unwrap(b), *rest, **kw)
        va, vb = vars_for([a, b], dtype_of(value))
        return lift(value, build(va, vb, *rest, **kw))

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


def _dot(a, b):
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if b.ndim <= 2:
        return pt.dot(a, b)
    # numpy's dot for N-d b: sum over the last axis of a and the second-to-last of b
    return pt.tensordot(a, b, axes=[[a.ndim - 1], [b.ndim - 2]])


def _tensordot(a, b, axes=2):
    return pt.tensordot(a, b, axes=axes)


def _einsum_build(subscripts, *operands):
    return pt.einsum(subscripts, *operands)


register(np.dot, method="dot", group="products")(_binary(np.dot, lambda a, b: _dot(a, b)))
register(np.matmul, group="products")(_binary(np.matmul, lambda a, b: pt.matmul(a, b)))
register(np.inner, group="products")(_binary(np.inner, lambda a, b: a * b if a.ndim == 0 or b.ndim == 0 else pt.tensordot(a, b, axes=[[a.ndim - 1], [b.ndim - 1]])))
register(np.outer, group="products")(_binary(np.outer, lambda a, b: pt.outer(a.flatten(), b.flatten())))
register(np.vdot, group="products")(_binary(np.vdot, lambda a, b: pt.sum(a.flatten() * b.flatten())))
register(np.tensordot, group="products")(_binary(np.tensordot, _tensordot))


@register(np.einsum, group="products")
def einsum(subscripts, *operands, **kwargs):
    kwargs.pop("optimize", None)
    value = np.einsum(subscripts, *[unwrap(o) for o in operands], **kwargs)
    return lift(value, _einsum_build(subscripts, *vars_for(list(operands), dtype_of(value))))
