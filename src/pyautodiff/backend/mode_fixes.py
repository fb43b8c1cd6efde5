"""Where a PyTensor backend departs from numpy on valid input: made numpy's, or refused.

- ``mode="c"``: PyTensor's C code for integer ``//`` and ``%`` raises
  ``ZeroDivisionError`` on a zero divisor, where numpy gives 0 (with a
  RuntimeWarning).  ``numpy_integer_division`` rewrites each such node to
  divide by 1 where the divisor is 0 and put numpy's 0 there (compiled code
  cannot warn, so the warning is not repeated).
- ``mode="numba"``: Numba has no float16; ``refuse_unsupported`` raises an
  ``AutodiffError`` naming the mode and the way out instead of Numba's
  ``NotImplementedError`` from deep inside its compiler.

Example::

    inputs, outputs = numpy_integer_division(inputs, outputs)   # before pytensor.function
"""
from __future__ import annotations

from ..errors import AutodiffError

# mode -> dtypes its compiler cannot handle
_UNSUPPORTED_DTYPES = {"numba": ("float16",)}


def refuse_unsupported(mode: str, inputs, outputs) -> None:
    """Raise an AutodiffError if ``mode`` cannot compile a variable's dtype."""
    bad = _UNSUPPORTED_DTYPES.get(mode, ())
    for v in list(inputs) + list(outputs):
        if getattr(v.type, "dtype", None) in bad:
            raise AutodiffError(f"mode={mode!r} cannot compile {v.type.dtype} values (here {v.name or 'a value'} "
                                f"of type {v.type}); use mode='numpy' or mode='c', or convert to float32")


def _zero_division_ops():
    from pytensor.scalar.basic import IntDiv, Mod

    return (IntDiv, Mod)


def numpy_integer_division(inputs, outputs):
    """``(inputs, outputs)`` of a copy of the graph where integer ``//`` and ``%`` by 0 give 0."""
    import pytensor.tensor as pt
    from pytensor.graph.fg import FunctionGraph
    from pytensor.tensor.elemwise import Elemwise

    ops = _zero_division_ops()

    def integer_division(node):
        return (isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, ops)
                and node.outputs[0].type.dtype.startswith(("int", "uint")))

    fg = FunctionGraph(inputs, outputs, clone=True)
    todo = [n for n in fg.toposort() if integer_division(n)]
    if not todo:
        return inputs, outputs
    for node in todo:  # in order: a node's inputs are already the rewritten ones
        x, y = node.inputs
        zero = pt.eq(y, 0)
        safe = node.op(x, pt.switch(zero, pt.ones_like(y), y))
        fixed = pt.switch(zero, pt.zeros_like(safe), safe).astype(node.outputs[0].type.dtype)
        fg.replace(node.outputs[0], fixed, reason="numpy_integer_division", import_missing=True)
    return list(fg.inputs), list(fg.outputs)
