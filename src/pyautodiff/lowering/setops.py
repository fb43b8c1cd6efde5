"""``np.unique`` of a traced array: the distinct values, and where they come from.

How many distinct values there are depends on the data: the count is guarded
(a cached call with another count traces again).  The values are gathered from
the input at numpy's ``return_index`` positions (first occurrences), so a
gradient reaches the first occurrence of each value; indices, inverse and counts
are integers (PyTensor's ``Unique`` op, which calls numpy and merges NaNs; with
``equal_nan=False``, array-API code's choice, the absence of NaNs is guarded).  scikit-learn's
label checks (``type_of_target``, ``LabelBinarizer``) call it on labels that
pyautodiff reads from outside the function as graph inputs.

Example::

    classes, y_index = np.unique(labels, return_inverse=True)
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.extra_ops import Unique

from ..traced import unwrap
from .core import as_var, guard, lift, refuse
from .registry import register


@register(np.unique, group="sorting")
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *, equal_nan=True,
           **kwargs):
    if axis is not None:
        raise refuse("numpy.unique: axis= is not supported with traced values")
    if not kwargs.get("sorted", True):
        raise refuse("numpy.unique: sorted=False is not supported with traced values")
    value = np.unique(unwrap(ar), return_index=True, return_inverse=return_inverse,
                      return_counts=return_counts, equal_nan=equal_nan, **kwargs)
    flat = as_var(ar).flatten()
    if not equal_nan and flat.dtype.startswith(("float", "complex")):
        # PyTensor's Unique merges NaNs (numpy's default); without NaNs the two agree
        if np.isnan(unwrap(ar)).any():
            raise refuse("numpy.unique: equal_nan=False of values with NaNs is not supported with traced values")
        guard(pt.any(pt.isnan(flat)), False, "NaN among the values of numpy.unique")
    outs = Unique(return_index=True, return_inverse=return_inverse, return_counts=return_counts)(flat)
    index = outs[1]
    guard(index.shape[0], len(value[0]), "number of distinct values")
    results = [lift(value[0], flat[index])]
    if return_index:
        results.append(lift(value[1], index))
    at = 2
    if return_inverse:  # PyTensor's is flat; numpy 2's has the input's shape
        results.append(lift(value[at], outs[at].reshape(np.shape(value[at]))))
        at += 1
    if return_counts:
        results.append(lift(value[at], outs[at]))
    return results[0] if len(results) == 1 else tuple(results)
