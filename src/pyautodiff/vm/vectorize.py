"""``np.vectorize(pyfunc)(*args)`` with traced arguments: ``pyfunc`` emulated per element.

numpy's vectorize loops in C (``np.frompyfunc``) and calls ``pyfunc`` behind the
interpreter's back, which cannot follow traced values.  Here the loop runs in
Python: the arguments are broadcast, ``pyfunc`` is called through
``Interpreter.call`` once per element (so its arithmetic is traced like any
other code), and the results are stacked into arrays of the broadcast shape,
cast to ``otypes`` when given.  ``excluded`` arguments are passed as they are;
``signature=`` (generalized ufuncs) is refused.  One emulated call per element:
meant for small arrays (a numpy expression is much faster to trace).

Example::

    f = np.vectorize(lambda a, b: a * b if a > 0 else b)
    f(x, 2.0)   # inside a traced function: differentiable in x, a guard per comparison
"""
from __future__ import annotations

import numpy as np

from ..traced import unwrap


def call(interp, vec, args, kwargs):
    """Run ``vec(*args, **kwargs)`` with ``vec.pyfunc`` emulated once per element."""
    if vec.signature is not None:
        raise interp.ctx.unsupported(
            "numpy.vectorize with signature= is not supported with traced values; write the "
            "function with numpy operations on whole arrays")
    excluded = vec.excluded
    pos = [i for i in range(len(args)) if i not in excluded]
    keys = [k for k in kwargs if k not in excluded]
    looped = [args[i] for i in pos] + [kwargs[k] for k in keys]
    looped = [a if hasattr(a, "shape") else np.asarray(a) for a in looped]  # lists, Python numbers
    shape = np.broadcast_shapes(*[np.shape(unwrap(a)) for a in looped])
    results = []
    for index in np.ndindex(*shape):
        items = [_element(a, index) for a in looped]
        call_args, call_kwargs = list(args), dict(kwargs)
        for i, item in zip(pos, items):
            call_args[i] = item
        for k, item in zip(keys, items[len(pos):]):
            call_kwargs[k] = item
        results.append(interp.call(vec.pyfunc, tuple(call_args), call_kwargs))
    if not results:
        raise interp.ctx.unsupported("numpy.vectorize of empty arrays is not supported with traced values")
    if isinstance(results[0], tuple):  # several outputs: one array each
        return tuple(_stack(interp, vec, list(col), shape, n) for n, col in enumerate(zip(*results)))
    return _stack(interp, vec, results, shape, 0)


def _element(a, index):
    """The element of ``a`` that broadcasting pairs with ``index`` of the broadcast shape."""
    own = np.shape(unwrap(a))
    index = index[len(index) - len(own):] if own else ()
    return a[tuple(0 if n == 1 else i for n, i in zip(own, index))]


def _stack(interp, vec, values, shape, n):
    """numpy's output array: the results stacked (as ``otypes[n]`` when given), broadcast-shaped."""
    out = interp.call(np.array, (values,), {"dtype": vec.otypes[n]} if vec.otypes else {})
    return interp.call(np.reshape, (out, shape), {})
