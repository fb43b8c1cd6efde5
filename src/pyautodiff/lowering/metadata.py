"""numpy functions that only read dtypes and shapes, never values.

They answer from the concrete values; a data-dependent shape is read through
``Traced.shape``, which records a guard.
"""
from __future__ import annotations

import numpy as np

from ..traced import Traced, unwrap
from .registry import register


def _plain(np_fn):
    def lower(*args, **kwargs):
        return np_fn(*[unwrap(a) for a in args], **{k: unwrap(v) for k, v in kwargs.items()})

    lower.__name__ = f"lower_{np_fn.__name__}"
    return lower


for _fn in (np.result_type, np.can_cast, np.min_scalar_type, np.iscomplexobj, np.isrealobj, np.isscalar):
    register(_fn, group="metadata")(_plain(_fn))


@register(np.shape, group="metadata")
def shape(a):
    if type(a) is Traced and isinstance(a.value, np.ndarray):
        return a.shape  # guards a data-dependent shape
    return np.shape(unwrap(a))


@register(np.ndim, group="metadata")
def ndim(a):
    return np.ndim(unwrap(a))


@register(np.size, group="metadata")
def size(a, axis=None):
    if type(a) is Traced and isinstance(a.value, np.ndarray):
        a.shape  # guard a data-dependent shape
    return np.size(unwrap(a), axis)
