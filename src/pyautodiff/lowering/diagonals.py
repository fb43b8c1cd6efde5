"""Diagonals and triangles: diag, diagflat, diagonal, triu, tril.

Reading a diagonal is a gather (numpy's own choice of elements); building a
matrix from one writes the input into zeros at the positions numpy fills,
and a triangle keeps the elements numpy's own mask keeps.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..traced import unwrap
from .core import as_var, gather, lift
from .registry import register


def _from_vector(a, build):
    """A new array that is zero except where ``build`` places the elements of ``a``."""
    value = build(unwrap(a))
    numbers = np.arange(1, np.size(unwrap(a)) + 1).reshape(np.shape(unwrap(a)))
    placed = build(numbers).reshape(-1)  # 0 where numpy left zeros
    positions = np.flatnonzero(placed)
    source = as_var(a, value.dtype.name).reshape((-1,))[placed[positions] - 1]
    flat = pt.zeros((value.size,), dtype=value.dtype.name)
    return lift(value, pt.set_subtensor(flat[positions], source).reshape(value.shape))


@register(np.diag, group="diagonals")
def diag(v, k=0):
    if np.ndim(unwrap(v)) == 1:
        return _from_vector(v, lambda x: np.diag(x, k))
    return gather(lambda x: np.diag(x, k), v, readonly_view=True)


@register(np.diagflat, group="diagonals")
def diagflat(v, k=0):
    return _from_vector(v, lambda x: np.diagflat(x, k))


@register(np.diagonal, method="diagonal", group="diagonals")
def diagonal(a, offset=0, axis1=0, axis2=1):
    return gather(lambda x: np.diagonal(x, offset, axis1, axis2), a, readonly_view=True)


def _triangle(np_fn):
    def lower(m, k=0):
        value = np_fn(unwrap(m), k)
        keep = np_fn(np.ones(np.shape(unwrap(m)), dtype=bool), k)  # numpy's own mask
        var = as_var(m, value.dtype.name)
        if keep.shape != np.shape(unwrap(m)):  # 1-d input: numpy broadcasts it to a square
            var = pt.broadcast_to(var, keep.shape)
        return lift(value, pt.switch(keep, var, pt.zeros((), dtype=value.dtype.name)))

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


register(np.triu, group="diagonals")(_triangle(np.triu))
register(np.tril, group="diagonals")(_triangle(np.tril))
