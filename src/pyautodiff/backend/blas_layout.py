"""Hand BLAS a C-contiguous narrow right operand: ``X @ W.T`` with few columns.

``X @ W.T`` (a linear layer with weights stored ``(out, in)``, as in the
log-linear model) reaches BLAS as ``gemm`` with a transposed right operand.
When the product has few columns and the left operand is tall, OpenBLAS's
kernel for that layout is about twice as slow as for a contiguous copy of
``W.T``, and the copy is small.  Measured here (one thread, OpenBLAS 0.3,
``M x K @ K x N``, microseconds, ``X @ W.T`` against
``X @ np.ascontiguousarray(W.T)``): 1000x100x10 51 -> 26, 256x256x10 33 -> 17,
5000x50x3 114 -> 52, 2000x200x2 125 -> 35, 300x100x16 16 -> 9; no gain for
500x500x8 or 1000x1000x10, a loss for 100x1000x10 (22 -> 28) and for small
products, where the copy costs more than it saves.  Hence the bounds below.
Only an operand's memory layout changes: the product is the same up to the
order in which BLAS sums, which numpy's own ``@`` leaves to the layout and
the BLAS build as well.
"""
from __future__ import annotations

import numpy as np
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import WalkingGraphRewriter, node_rewriter
from pytensor.tensor.blas import Dot22, Dot22Scalar, Gemm
from pytensor.tensor.elemwise import DimShuffle
from pytensor.tensor.math import Dot

NAME = "contiguous_narrow_gemm_operand"
POSITION = 49.25  # after fusion and static sparsity, before the in-place rewrites

# the bounds of the shapes where the copy measured as a clear gain (see above)
_MAX_COLUMNS = 32
_MAX_INNER = 256
_MIN_LEFT_ELEMENTS = 20_000

# the product's right operand, by op: (index in node.inputs)
_RIGHT_OPERAND = {Dot: 1, Dot22: 1, Dot22Scalar: 1, Gemm: 3}


class CContiguous(Op):
    """``np.ascontiguousarray(x)``: the same values, C-contiguous (a view when already so)."""

    __props__ = ()
    view_map = {0: [0]}  # no copy when the input is contiguous already

    def make_node(self, x):
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.ascontiguousarray(inputs[0])

    def infer_shape(self, *args):  # ([fgraph,] node, shapes): PyTensor >= 3.3 drops fgraph
        shapes = args[-1]
        return shapes

    def grad(self, inputs, output_grads):
        return output_grads


c_contiguous = CContiguous()


def _is_transpose(var) -> bool:
    owner = var.owner
    return (owner is not None and isinstance(owner.op, DimShuffle)
            and tuple(owner.op.new_order) == (1, 0))


def _left_and_right(node):
    index = next((i for cls, i in _RIGHT_OPERAND.items() if type(node.op) is cls), None)
    if index is None:
        return None, None, None
    return node.inputs[index - 1], node.inputs[index], index


def rewrite_contiguous_right_operand(fgraph, node):
    """Node rewriter: see the module docstring."""
    left, right, index = _left_and_right(node)
    if right is None or left.type.ndim != 2 or right.type.ndim != 2 or not _is_transpose(right):
        return False
    (m, k), (k2, n) = left.type.shape, right.type.shape
    if None in (m, k, n) or k2 != k:
        return False
    if not (n <= _MAX_COLUMNS and k <= _MAX_INNER and m >= k and m * k >= _MIN_LEFT_ELEMENTS):
        return False
    inputs = list(node.inputs)
    inputs[index] = c_contiguous(right)
    return node.op.make_node(*inputs).outputs


def register(optdb, tag):
    """Register the rewrite in ``optdb`` under ``tag`` only."""
    rewriter = node_rewriter(list(_RIGHT_OPERAND))(rewrite_contiguous_right_operand)
    optdb.register(NAME, WalkingGraphRewriter(rewriter), tag, position=POSITION)


_registered_backends: set = set()


def register_backend(name: str) -> None:
    """Teach PyTensor's ``numba`` or ``jax`` linker the op; called before such a
    mode compiles (importing Numba costs a first call too much to do it earlier)."""
    if name in _registered_backends:
        return
    _registered_backends.add(name)
    if name == "numba":
        from pytensor.link.numba.dispatch.basic import (
            numba_njit,
            register_funcify_default_op_cache_key,
        )

        @register_funcify_default_op_cache_key(CContiguous)
        def _numba_c_contiguous(op, node, **kwargs):
            @numba_njit
            def c_contiguous_(x):
                return np.ascontiguousarray(x)
            return c_contiguous_
    elif name == "jax":
        from pytensor.link.jax.dispatch import jax_funcify

        @jax_funcify.register(CContiguous)
        def _jax_c_contiguous(op, **kwargs):
            return lambda x: x  # XLA chooses its own layouts
