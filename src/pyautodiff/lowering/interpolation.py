"""``np.interp``: piecewise-linear interpolation, differentiable in ``x``, ``xp`` and ``fp``.

numpy's C loop, as a graph: the segment ``j`` with ``xp[j] <= x < xp[j+1]`` is a
``searchsorted`` (clipped to the last segment), the value on it is numpy's
``slope * (x - xp[j]) + fp[j]``; below ``xp[0]`` it is ``left`` (default ``fp[0]``),
above ``xp[-1]`` it is ``right`` (default ``fp[-1]``) and at ``xp[-1]`` exactly
``fp[-1]``.  The derivative in ``x`` at a knot is the slope of the segment to its
right (numpy's value is continuous there; the choice is a convention).

Example::

    np.interp(t, t_grid, values)   # differentiable in t and in values
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..traced import unwrap
from .core import as_var, lift, refuse, vars_for
from .registry import register


@register(np.interp, group="interpolation")
def interp(x, xp, fp, left=None, right=None, period=None):
    if period is not None:
        raise refuse("numpy.interp: period= is not supported with traced values")
    value = np.interp(unwrap(x), unwrap(xp), unwrap(fp), unwrap(left), unwrap(right))
    if np.iscomplexobj(value):
        raise refuse("numpy.interp: complex fp is not supported with traced values")
    dtype = np.asarray(value).dtype
    vx, vxp, vfp = vars_for([x, xp, fp], dtype)
    n = np.shape(unwrap(xp))[0]
    lo = vfp[0] if left is None else as_var(left, dtype.name)
    hi = vfp[-1] if right is None else as_var(right, dtype.name)
    if n == 1:
        inside = pt.zeros_like(vx) + vfp[0]
    else:
        j = pt.clip(pt.searchsorted(vxp, vx, side="right") - 1, 0, n - 2)
        x0, f0 = vxp[j], vfp[j]
        inside = (vfp[j + 1] - f0) / (vxp[j + 1] - x0) * (vx - x0) + f0
    top = pt.switch(pt.eq(vx, vxp[-1]), vfp[-1], inside)
    return lift(value, pt.switch(pt.lt(vx, vxp[0]), lo, pt.switch(pt.gt(vx, vxp[-1]), hi, top)))
