"""Drop the gradient contributions that are zero by construction.

A piecewise-constant step (a comparison, ``isposinf``, ``floor``...) passes a
zero cotangent back, and PyTensor's ``grad`` still multiplies it through the
partial derivatives of the steps before it: ``d/dx x * isposinf(x / 0.0)``
contains ``0 / 0.0``, which is NaN although the derivative is 1.  PyTensor's
algebraic rewrites used to fold such terms away together with the user's own
``x * 0.0``; now that those rewrites respect IEEE arithmetic (numpy's
``inf * 0`` is NaN, and function values must be numpy's), the gradient's
structural zeros are removed here instead, right after differentiation, where
it is still known which nodes the gradient added: only those are simplified,
never a node of the user's own computation.
"""
from __future__ import annotations

import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.graph.basic import Constant
from pytensor.tensor import basic, elemwise, math, shape, subtensor
from pytensor.tensor.elemwise import CAReduce, Elemwise
from pytensor.tensor.math import Dot

try:  # pytensor >= 3.3
    from pytensor.graph.traversal import ancestors, io_toposort
except ImportError:  # pytensor 3.0
    from pytensor.graph.basic import ancestors, io_toposort

# Which zero inputs make an op's output zero: "any" of the listed positions,
# or "all" of them.  Elementwise ops by scalar op, the others by op class.
_ANY, _ALL = "any", "all"
_SCALAR_RULES = {
    ps.Mul: (_ANY, None),
    ps.TrueDiv: (_ANY, (0,)),
    ps.IntDiv: (_ANY, (0,)),
    ps.Neg: (_ANY, (0,)),
    ps.Cast: (_ANY, (0,)),
    ps.Identity: (_ANY, (0,)),
    ps.Second: (_ANY, (1,)),  # fill(shape_of, value)
    ps.Add: (_ALL, None),
    ps.Sub: (_ALL, None),
    ps.Switch: (_ALL, (1, 2)),
}
# (module, op class name): names missing from one PyTensor version are skipped
# (3.3 folded AdvancedSubtensor1 and AdvancedIncSubtensor1 into the general ops).
_OP_RULES_BY_NAME = {
    (basic, "Alloc"): (_ANY, (0,)),
    (elemwise, "DimShuffle"): (_ANY, (0,)),
    (shape, "Reshape"): (_ANY, (0,)),
    (subtensor, "Subtensor"): (_ANY, (0,)),
    (subtensor, "AdvancedSubtensor"): (_ANY, (0,)),
    (subtensor, "AdvancedSubtensor1"): (_ANY, (0,)),
    (math, "Dot"): (_ANY, (0, 1)),
    (subtensor, "IncSubtensor"): (_ALL, (0, 1)),
    (subtensor, "AdvancedIncSubtensor"): (_ALL, (0, 1)),
    (subtensor, "AdvancedIncSubtensor1"): (_ALL, (0, 1)),
}
_OP_RULES = {getattr(module, name): rule for (module, name), rule in _OP_RULES_BY_NAME.items()
             if hasattr(module, name)}


def _rule(node):
    op = node.op
    if isinstance(op, Elemwise):
        return _SCALAR_RULES.get(type(op.scalar_op))
    if isinstance(op, CAReduce) and isinstance(op.scalar_op, ps.Add):  # sum
        return (_ANY, (0,))
    core = getattr(op, "core_op", None)  # Blockwise, e.g. matmul
    if core is not None and isinstance(core, Dot):
        return (_ANY, (0, 1))
    return next((r for cls, r in _OP_RULES.items() if isinstance(op, cls)), None)


def _is_zero(var, zeros) -> bool:
    if var in zeros:
        return True
    return (isinstance(var, Constant) and isinstance(var.data, np.ndarray | np.number)
            and var.data.dtype.kind in "biufc" and not np.any(var.data))


def _output_is_zero(node, inputs, zeros) -> bool:
    rule = _rule(node)
    if rule is None or len(node.outputs) != 1:
        return False
    how, positions = rule
    flags = [_is_zero(inputs[i], zeros) for i in (positions or range(len(inputs)))]
    return any(flags) if how == _ANY else all(flags)


def prune(outputs, forward):
    """``outputs`` (derivative graphs built from the ``forward`` graph) with every
    node the differentiation added whose value is zero by construction (a product
    with a zero, a sum of zeros...) replaced by zeros of its type.  Nodes of the
    ``forward`` graph are kept as they are."""
    keep = set(ancestors(forward))
    new, zeros = {}, set()
    for node in io_toposort([], outputs):
        if keep.issuperset(node.outputs):
            continue
        inputs = [new.get(v, v) for v in node.inputs]
        if _output_is_zero(node, inputs, zeros):
            # fill(out, 0), the form of PyTensor's own zero gradients: only the
            # shape of out is read, and the canonicalizing rewrites recognize it
            out = node.outputs[0]
            new[out] = pt.zeros_like(out)
            zeros.add(new[out])
        elif inputs != node.inputs:
            new.update(zip(node.outputs, node.clone_with_new_inputs(inputs).outputs))
    return [new.get(o, o) for o in outputs]
