"""max/min whose gradient splits ties equally (reductions and elementwise).

PyTensor routes a max reduction's cotangent to *every* element equal to the
maximum, and maximum(a, b)'s wholly to ``a`` at a tie: d/da max([a, a]) came
out 2 (it is 1), and at a == b the gradient of maximum(a, b) was (1, 0).  A
central finite difference, and JAX, split it: each of k tied elements gets
1/k of the cotangent (0.5 each for maximum(a, b) with a == b).

The value is PyTensor's own op, untouched (NaN propagation, signed zeros,
speed).  It is wrapped in an inlined OpFromGraph whose pullback is that of a
*surrogate*: the inputs weighted by constants, e.g. sum(x * tied / count).
Inlining removes the wrapper before compilation, so the forward graph is what
it was; the gradient costs one more reduction (the count).  The weights are
piecewise constant, so second derivatives are zero almost everywhere, as
PyTensor's own are.  (They are held by ``disconnected_grad``: ``zero_grad``
would leave floatX zeros behind that widen float32 gradients to float64.)
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.compile.builders import OpFromGraph
from pytensor.gradient import disconnected_grad, grad
from pytensor.scalar import upcast
from pytensor.tensor.math import Min


def _with_surrogate_grad(value, surrogate, *xs):
    """``value(*xs)``, differentiated as ``surrogate(*xs, out)`` would be."""
    if not all(x.dtype.startswith("float") for x in xs):
        return value(*xs)  # no gradient to split (integers, booleans)
    inner = [x.type() for x in xs]

    def pullback(inputs, outputs, cotangents):
        return grad(None, list(inputs), known_grads={surrogate(*inputs, outputs[0]): cotangents[0]},
                    disconnected_inputs="ignore", return_disconnected="zero")

    return OpFromGraph(inner, [value(*inner)], inline=True, pullback=pullback)(*xs)


def _constants(dtype, *values):
    # typed like the operand: no float32 literals, no casts in the generated code
    return [pt.constant(np.asarray(v, dtype=dtype)) for v in values]


def _reduction(reduce):
    def build(x, axes, keepdims):
        def surrogate(v, out):
            tied = pt.eq(v, out if keepdims else pt.expand_dims(out, axes))
            count = pt.cast(pt.sum(tied, axis=axes, keepdims=True), v.dtype)
            # a NaN extreme ties with nothing (count 0): its gradient is 0, as before (and no 1 / 0)
            one, zero = _constants(v.dtype, 1.0, 0.0)
            share = disconnected_grad(pt.switch(tied, pt.reciprocal(pt.maximum(count, one)), zero))
            return pt.sum(v * share, axis=axes, keepdims=keepdims)

        return _with_surrogate_grad(lambda v: reduce(v, axis=axes, keepdims=keepdims), surrogate, x)

    return build


def _elementwise(pick, wins):
    def build(a, b):
        # one float dtype first: at a tie with an integer operand the float one still gets half
        dt = upcast(a.dtype, b.dtype)
        a, b = (v if v.dtype == dt else pt.cast(v, dt) for v in (a, b))

        def surrogate(a, b, out):
            one, half = _constants(dt, 1.0, 0.5)
            wa = pt.switch(pt.eq(a, b), half, pt.cast(wins(a, b), dt))
            # b gets the rest: with a NaN operand that is all of it, as in PyTensor's own rule
            # (fmax/fmin: unless b is the NaN, see _or_nan)
            return a * disconnected_grad(wa) + b * disconnected_grad(one - wa)

        return _with_surrogate_grad(pick, surrogate, a, b)

    return build


def _nan_ignoring(pick):
    """numpy's fmax/fmin: a NaN operand gives the other one."""
    return lambda a, b: pt.switch(pt.isnan(a), b, pt.switch(pt.isnan(b), a, pick(a, b)))


def _or_nan(wins):
    return lambda a, b: wins(a, b) | pt.isnan(b)  # a wins over a NaN b


def _min(x, axis, keepdims):
    """numpy's min as one ``Min`` reduction. PyTensor's ``pt.min`` is ``-max(-x)`` for floats and
    signed integers, and canonicalization pushes that negation into ``x``'s own sums, so ``x``
    is computed twice, associated two ways (``2 + t + t`` and ``-2 - (t + t)``): ``np.ptp``
    of two equal rows came out -2e-16, not 0, and a comparison with 0 went the other way
    (long fuzz, seed 72). Its gradient is the surrogate's, so ``Min`` needs no rule of its own."""
    if not (x.dtype.startswith("float") or x.dtype in pt.type.int_dtypes):
        return pt.min(x, axis=axis, keepdims=keepdims)
    axes = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in axis)
    out = Min(axes)(x)
    return pt.expand_dims(out, axes) if keepdims else out


# max_/min_(x, axes tuple, keepdims) and maximum/minimum/fmax/fmin(a, b) build PyTensor variables
max_ = _reduction(pt.max)
min_ = _reduction(_min)
maximum = _elementwise(pt.maximum, pt.gt)
minimum = _elementwise(pt.minimum, pt.lt)
fmax = _elementwise(_nan_ignoring(pt.maximum), _or_nan(pt.gt))
fmin = _elementwise(_nan_ignoring(pt.minimum), _or_nan(pt.lt))
