"""Negate after a matrix product, not before it: ``A @ (-v)`` as ``-(A @ v)`` when ``v`` is larger.

Gradients are full of sign flips: the derivative of ``log1p(exp(-y * (X @ w)))`` reaches
``X.T @ (-(sigmoid(.) * y))``, and the negation is one more pass over the ``10^4``
elements of ``v``, where after the product it is a pass over the 20 of ``w``.  The two
are equal to the last bit: each product ``a_ij * (-v_j)`` is ``-(a_ij * v_j)`` exactly
and round-to-nearest is symmetric in sign, so every partial sum only changes sign.

The rewrite runs after PyTensor's canonicalization (where ``-x`` is ``-1 * x``) and
before the BLAS rewrites and elementwise fusion: ``dot(a, mul(-1, *factors))`` becomes
``neg(dot(a, mul(*factors)))`` when the product (``mul``) is used only there and has
more elements than the dot's result (static shapes only; otherwise nothing changes), and
no factor is a sigmoid of its type: the generated code folds that sign into the sigmoid's
division, for nothing (``sigmoid(u, scale=y, minus=True)`` is ``-y / (1 + exp(-u))``).

Example::

    register(optdb, SAFE_TAG)      # once, with the other rewrites of our pipeline
"""
from __future__ import annotations

import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.graph.basic import Constant
from pytensor.graph.rewriting.basic import WalkingGraphRewriter, node_rewriter
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.math import Dot

NAME = "negation_after_product"
POSITION = 1.65  # after canonicalize and stabilize, before BlasOpt (1.7) and fusion (49)


def _size(var):
    shape = var.type.shape
    return None if None in shape else int(np.prod(shape, dtype=np.int64))


def _is_minus_one(var) -> bool:
    return isinstance(var, Constant) and var.data.size >= 1 and bool(np.all(var.data == -1))


def _is_sigmoid_of_type(var, type_) -> bool:
    owner = var.owner
    return (owner is not None and isinstance(owner.op, Elemwise) and isinstance(owner.op.scalar_op, ps.Sigmoid)
            and var.type == type_)


def _without_minus_one(fgraph, var):
    """``var`` = ``mul(-1, *factors)`` used only once: ``mul(*factors)`` of the same type, else None.
    None too where a factor is a sigmoid of the product's type: the generated code takes the
    sign into the sigmoid's division for nothing (``numpy_codegen.scalar_rules._scaled_sigmoid``)."""
    owner = var.owner
    if (owner is None or not isinstance(owner.op, Elemwise) or not isinstance(owner.op.scalar_op, ps.Mul)
            or len(fgraph.clients.get(var, ())) != 1):
        return None
    index = next((i for i, v in enumerate(owner.inputs) if _is_minus_one(v)), None)
    if index is None or any(_is_sigmoid_of_type(v, var.type) for v in owner.inputs):
        return None
    factors = owner.inputs[:index] + owner.inputs[index + 1:]
    rest = factors[0] if len(factors) == 1 else pt.mul(*factors)
    return rest if rest.type == var.type else None


def negation_after_product(fgraph, node):
    """Node rewriter: see the module docstring."""
    out = node.outputs[0]
    for i, operand in enumerate(node.inputs):
        if _size(out) is None or _size(operand) is None or _size(operand) <= _size(out):
            continue
        rest = _without_minus_one(fgraph, operand)
        if rest is None:
            continue
        inputs = list(node.inputs)
        inputs[i] = rest
        new = pt.neg(node.op.make_node(*inputs).outputs[0])
        return [new] if new.type == out.type else False
    return False


def register(optdb, tag):
    """Register the rewrite in ``optdb`` under ``tag`` only."""
    optdb.register(NAME, WalkingGraphRewriter(node_rewriter([Dot])(negation_after_product)), tag,
                   position=POSITION)
