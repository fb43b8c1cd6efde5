"""Where a PyTensor backend departs from numpy on valid input: made numpy's, or refused.

- ``mode="c"``: PyTensor's C code for integer ``//`` and ``%`` raises
  ``ZeroDivisionError`` on a zero divisor, where numpy gives 0 (with a
  RuntimeWarning).  ``numpy_integer_division`` rewrites each such node to
  divide by 1 where the divisor is 0 and put numpy's 0 there (compiled code
  cannot warn, so the warning is not repeated); a divisor of -1 likewise gives numpy's
  ``-x`` and 0, where ``MIN // -1`` and ``MIN % -1`` trapped (SIGFPE).
- ``mode="numba"``: Numba has no float16; ``refuse_unsupported`` raises an
  ``AutodiffError`` naming the mode and the way out instead of Numba's
  ``NotImplementedError`` from deep inside its compiler.  Its scalar arithmetic follows
  Numba's rules, not numpy's: ``register_numba`` adds a rewrite, in the Numba mode only,
  that casts mixed operands to the output dtype (``int8 / int8`` was float32 precision),
  guards ``MIN // -1`` and ``MIN % -1`` (0 and a SIGFPE crash), gives unsigned ``sign``
  as ``x != 0`` and integer ``Dot`` an exact wrapping loop (``IntegerDot``).

Example::

    inputs, outputs = numpy_integer_division(inputs, outputs)   # before pytensor.function
"""
from __future__ import annotations

import functools

import numpy as np
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.tensor.type import TensorType

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
    """``(inputs, outputs)`` of a copy of the graph where integer ``//`` and ``%`` by 0 give 0,
    and by -1 give numpy's ``-x`` (wrapping) and 0 instead of trapping."""
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
    from pytensor.scalar.basic import IntDiv

    for node in todo:  # in order: a node's inputs are already the rewritten ones
        x, y = node.inputs
        zero = pt.eq(y, 0)
        out = pt.switch(zero, pt.zeros_like(x), x)  # numpy's 0 for a zero divisor
        divisor = zero
        if node.outputs[0].type.dtype.startswith("int"):
            # MIN // -1 and MIN % -1 trap in C (SIGFPE); numpy gives -x (wrapping) and 0
            minus_one = pt.eq(y, -1)
            divisor = zero | minus_one
            xo = x.astype(node.outputs[0].type.dtype)  # -x wraps in the output's dtype, as numpy's
            at_minus_one = -xo if isinstance(node.op.scalar_op, IntDiv) else pt.zeros_like(xo)
            out = pt.switch(minus_one, at_minus_one, out)
        safe = node.op(x, pt.switch(divisor, pt.ones_like(y), y))
        fixed = pt.switch(divisor, out, safe).astype(node.outputs[0].type.dtype)
        fg.replace(node.outputs[0], fixed, reason="numpy_integer_division", import_missing=True)
    return list(fg.inputs), list(fg.outputs)


# --- mode="numba": numpy's integer and mixed-dtype arithmetic ---------------------------------
#
# PyTensor gives each node numpy's output dtype, but its Numba forms compute with Numba's
# scalar rules: ``int8 / int8`` and ``float32 op int32`` in float32 (then widened to the
# float64 output), an integer ``Dot`` through float64 (overflow became INT32_MIN, int64
# products lost bits beyond 2**53), ``sign`` of a uint8 above 127 as -1, ``MIN // -1`` as
# 0 and ``MIN % -1`` as a hardware trap (SIGFPE: the process died).  In our Numba builds only
# (the rewrite carries ``pairwise_sum.TAG``) such nodes take forms Numba computes as numpy.

NUMBA_NAME = "numpy_numba_arithmetic"
# after canonicalize/specialize made their nodes, before add_mul_fusion (48) and the
# Elemwise fusion (49): the fused loops are built from these forms
NUMBA_POSITION = 47.5
NUMBA_VERSION = 1  # part of IntegerDot's Numba cache key: bump when its loop changes


def _kind(var):
    return np.dtype(var.type.dtype).kind


def _in_output_dtype(node):
    """numpy casts every operand to the loop's dtype (the output's) before computing;
    Numba computes ``int8 / int8`` and ``float32 * int32`` in float32."""
    out = node.outputs[0].type.dtype
    if _kind(node.outputs[0]) == "b" or all(v.type.dtype == out for v in node.inputs):
        return node.inputs
    return [v if v.type.dtype == out else v.astype(out) for v in node.inputs]


def _arithmetic(node):
    inputs = _in_output_dtype(node)
    return None if inputs is node.inputs else node.op(*inputs)  # None: the node stays as it is


def _signed_division(node, at_minus_one):
    """``x op y`` with ``y == -1`` given by ``at_minus_one(x)``: Numba's ``MIN // -1`` is 0
    and its ``MIN % -1`` traps (SIGFPE); numpy wraps (``MIN``) and gives 0."""
    import pytensor.tensor as pt

    inputs = _in_output_dtype(node)
    if _kind(node.outputs[0]) != "i":
        return None if inputs is node.inputs else node.op(*inputs)
    x, y = inputs
    minus_one = pt.eq(y, -1)
    safe = node.op(x, pt.switch(minus_one, pt.ones_like(y), y))
    return pt.switch(minus_one, at_minus_one(x), safe)


def _floor_division(node):
    import pytensor.tensor as pt

    return _signed_division(node, pt.neg)  # two's complement: -MIN wraps to MIN, as numpy's


def _remainder(node):
    import pytensor.tensor as pt

    return _signed_division(node, pt.zeros_like)


def _sign(node):
    """Numba's ``sign`` of an unsigned integer reads it as signed (uint8 200 gave 255)."""
    import pytensor.tensor as pt

    (x,) = node.inputs
    if _kind(x) != "u":
        return None
    return pt.neq(x, 0).astype(x.type.dtype)


def _numba_forms():
    """scalar op class -> the numpy-faithful form of an Elemwise node (None: keep it)."""
    from pytensor.scalar import basic as ps

    forms = {cls: _arithmetic for cls in (ps.Add, ps.Sub, ps.Mul, ps.TrueDiv, ps.Pow,
                                          ps.Maximum, ps.Minimum, ps.ArcTan2)}
    forms.update({ps.IntDiv: _floor_division, ps.Mod: _remainder, ps.Sign: _sign})
    return forms


class IntegerDot(Op):
    """``np.dot`` of two integer matrices: products and sums wrap in ``dtype``, as numpy's."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = str(dtype)

    def make_node(self, x, y):
        return Apply(self, [x, y], [TensorType(self.dtype, shape=(x.type.shape[0], y.type.shape[1]))()])

    def perform(self, node, inputs, outputs):
        x, y = (np.asarray(v, dtype=self.dtype) for v in inputs)
        outputs[0][0] = np.asarray(np.dot(x, y), dtype=self.dtype)

    def infer_shape(self, *args):  # ([fgraph,] node, shapes): PyTensor >= 3.3 drops fgraph
        shapes = args[-1]
        return [(shapes[0][0], shapes[1][1])]


def _integer_dot(node):
    """Numba's ``np.dot`` has no integer form; PyTensor's goes through floats."""
    (out,) = node.outputs
    if _kind(out) not in "iu":
        return None
    return IntegerDot(out.type.dtype)(*node.inputs)


def rewrite_numba_arithmetic(fgraph, node):
    """Node rewriter: ``node`` in a form Numba computes as numpy does, or False."""
    from pytensor.tensor.elemwise import Elemwise
    from pytensor.tensor.math import Dot

    if isinstance(node.op, Dot):
        form = _integer_dot
    elif isinstance(node.op, Elemwise):
        forms = _numba_forms()
        form = next((forms[c] for c in type(node.op.scalar_op).__mro__ if c in forms), None)
    else:
        return False
    new = form(node) if form is not None else None
    if new is None:
        return False
    old = node.outputs[0]
    if new.type != old.type:  # a switch may know less of the static shape than the node did
        new = old.type.filter_variable(new, allow_convert=True)
    return [new]


def register_numba(optdb, tag):
    """Register the rewrite in ``optdb`` under ``tag`` (the Numba mode's) only."""
    from pytensor.graph.rewriting.basic import WalkingGraphRewriter, node_rewriter
    from pytensor.tensor.elemwise import Elemwise
    from pytensor.tensor.math import Dot

    rewriter = node_rewriter([Elemwise, Dot])(rewrite_numba_arithmetic)
    # the new nodes are numpy's forms already; a guarded // would match again
    optdb.register(NUMBA_NAME, WalkingGraphRewriter(rewriter, ignore_newtrees=True), tag,
                   position=NUMBA_POSITION)


@functools.cache  # once per process: a second registration would only repeat it
def install_numba() -> None:
    """Teach PyTensor's Numba linker ``IntegerDot`` (idempotent; imports Numba)."""
    import hashlib

    from pytensor.link.numba.dispatch import basic

    @basic.register_funcify_and_cache_key(IntegerDot)
    def funcify_integer_dot(op, node=None, **kwargs):
        dtype = np.dtype(op.dtype)
        cast = dtype.type

        @basic.numba_njit
        def integer_dot(x, y):
            n, k, m = x.shape[0], x.shape[1], y.shape[1]
            out = np.zeros((n, m), dtype=dtype)
            for i in range(n):
                for p in range(k):
                    a = cast(x[i, p])
                    for j in range(m):  # the row of y in order: contiguous, vectorizable
                        out[i, j] += a * cast(y[p, j])
            return out

        key = hashlib.sha256(f"pyautodiff integer dot v{NUMBA_VERSION} {dtype}".encode()).hexdigest()
        return integer_dot, key
