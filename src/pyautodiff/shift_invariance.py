"""Drop the gradient through a max-shift that the cost cannot see (``s - s.max()`` in log-softmax).

The stable log-softmax and log-sum-exp subtract each row's maximum first::

    s = s - s.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))

``logp`` does not depend on the subtracted value at all: shifting a row of ``s``
by any ``c`` shifts ``log(sum(exp(s)))`` by the same ``c``, and the two cancel.
The gradient through the maximum is therefore exactly zero, but ``grad`` does
not know it: it computes ``-sum(cotangent of s)`` per row (zero up to rounding),
routes it to the maximum's position and adds it in -- three extra passes over the
scores, which hand-written gradients skip.

Here, before differentiating, every ``x - m`` whose ``m`` is a maximum or minimum
constant along some axes (a ``keepdims`` reduction, a broadcast row) is checked: the shift
``x - m -> x - m + c``, ``c`` constant along those axes, is propagated through the
graph to the cost by exact rules (``exp`` turns a shift into a positive factor,
``log`` a factor back into a shift, a sum along the constant axes keeps a factor,
``a - b`` of equal shifts cancels, ``a / b`` of equal factors cancels...).  If
the cost comes out unchanged, ``m`` is wrapped in ``disconnected_grad`` in that
one place: its other uses keep their gradients.  Any op without a rule, any
user ``stop_gradient`` or custom derivative on the way, and the check fails and
the graph is left alone.  Since the cost is invariant for every ``c``, so are
all its derivatives: second derivatives through the detached ``m`` are zero too.

Example::

    cost = detach_invariant_shifts(cost)   # before pytensor.gradient.grad(cost, wrt)
"""
from __future__ import annotations

from dataclasses import dataclass

import pytensor.scalar as ps
from pytensor.compile.builders import OpFromGraph
from pytensor.gradient import disconnected_grad
from pytensor.graph.basic import Constant
from pytensor.graph.replace import clone_replace
from pytensor.tensor.elemwise import CAReduce, DimShuffle, Elemwise

try:  # pytensor >= 3.3
    from pytensor.graph.traversal import io_toposort
except ImportError:  # pytensor 3.0
    from pytensor.graph.basic import io_toposort

# nodes visited per candidate: a shift that has not cancelled by then is given up
# (the idiom cancels within a handful of nodes; unrolled graphs have thousands)
MAX_NODES = 200

SHIFT, FACTOR, GONE = "shift", "factor", "gone"


@dataclass(frozen=True)
class Effect:
    """What ``x - m -> x - m + c`` does to a value: adds ``k * c`` (shift), multiplies it by
    ``exp(k * c)`` (factor), or nothing (gone); ``varying[i]``: ``c`` may vary along axis ``i``."""

    kind: str
    k: float = 0.0
    varying: tuple = ()


_UNCHANGED = Effect(GONE)


def _scalar_constant(var):
    if isinstance(var, Constant) and var.data.size == 1 and var.dtype.startswith("float"):
        return float(var.data.reshape(()))
    return None


def _combine(effects, kind, signs):
    """A sum (shift) or product (factor) of values, ``signs`` the sign of each term."""
    moved = [(e, s) for e, s in zip(effects, signs) if e is not None and e.kind != GONE]
    if not moved:
        return _UNCHANGED
    if any(e.kind != kind for e, _ in moved) or len({e.varying for e, _ in moved}) != 1:
        return None
    k = sum(s * e.k for e, s in moved)
    return _UNCHANGED if k == 0 else Effect(kind, k, moved[0][0].varying)


def _scaled(node, effects):
    """``a * const`` of a shift (``a / const`` too), or a product/quotient of factors."""
    moved = [e for e in effects if e is not None and e.kind != GONE]
    if len(moved) == 1 and moved[0].kind == SHIFT and len(effects) == 2:
        i = 0 if effects[0] is not None and effects[0].kind != GONE else 1
        const = _scalar_constant(node.inputs[1 - i])
        if const is None or const == 0 or (isinstance(node.op.scalar_op, ps.TrueDiv) and i == 1):
            return None
        scale = 1.0 / const if isinstance(node.op.scalar_op, ps.TrueDiv) else const
        return Effect(SHIFT, moved[0].k * scale, moved[0].varying)
    signs = (1, -1) if isinstance(node.op.scalar_op, ps.TrueDiv) else (1,) * len(effects)
    return _combine(effects, FACTOR, signs)


def _unary(kind_in, kind_out, sign=1):
    def rule(node, effects):
        e = effects[0]
        return Effect(kind_out, sign * e.k, e.varying) if e.kind == kind_in else None
    return rule


# Elementwise ops by scalar op: how the effects of the inputs give the output's.
_ELEMWISE_RULES = {
    ps.Add: lambda node, effects: _combine(effects, SHIFT, (1,) * len(effects)),
    ps.Sub: lambda node, effects: (_combine(effects, SHIFT, (1, -1))
                                   if all(e is None or e.kind != FACTOR for e in effects)
                                   else None),
    ps.Neg: lambda node, effects: Effect(effects[0].kind, -effects[0].k if effects[0].kind == SHIFT
                                         else effects[0].k, effects[0].varying),
    ps.Exp: _unary(SHIFT, FACTOR),
    ps.Log: _unary(FACTOR, SHIFT),
    ps.Mul: _scaled,
    ps.TrueDiv: _scaled,
}


def _reduce(node, effect):
    """A sum keeps a factor constant along its axes; a max or min keeps a shift or a factor."""
    op = node.op
    axes = range(len(effect.varying)) if op.axis is None else op.axis
    if any(effect.varying[a] for a in axes):
        return None
    if isinstance(op.scalar_op, ps.Add) and effect.kind != FACTOR:
        return None
    if not isinstance(op.scalar_op, (ps.Add, ps.ScalarMaximum, ps.ScalarMinimum)):
        return None
    return Effect(effect.kind, effect.k, tuple(v for i, v in enumerate(effect.varying) if i not in axes))


def _dimshuffle(node, effect):
    """Only axes added or dropped (keepdims, ``[:, None]``): no transpose, nothing varying dropped."""
    order = node.op.new_order
    kept = [i for i in order if i != "x"]
    if kept != sorted(kept) or any(effect.varying[i] for i in node.op.drop):
        return None
    return Effect(effect.kind, effect.k, tuple(False if i == "x" else effect.varying[i] for i in order))


def _is_extreme(op):
    """The tie-splitting max/min of ``lowering.ties``: its values are the reduction's, and its
    shares of the cotangent sum to 1, as a shifted maximum's derivative must."""
    if not isinstance(op, OpFromGraph) or len(op.inner_inputs) != 1 or len(op.inner_outputs) != 1:
        return None
    var, ops = op.inner_outputs[0], []
    while var.owner is not None:
        ops.append(var.owner)
        var = var.owner.inputs[0]
    if var is not op.inner_inputs[0] or not ops:
        return None
    ok = all(isinstance(n.op, DimShuffle) or (isinstance(n.op, CAReduce) and isinstance(
        n.op.scalar_op, (ps.ScalarMaximum, ps.ScalarMinimum))) for n in ops)
    return ops[::-1] if ok and any(isinstance(n.op, CAReduce) for n in ops) else None


def _effect_of(node, effects):
    op = node.op
    if isinstance(op, Elemwise):
        rule = _ELEMWISE_RULES.get(type(op.scalar_op))
        return None if rule is None else rule(node, effects)
    if len(effects) != 1:
        return None
    if isinstance(op, CAReduce):
        return _reduce(node, effects[0])
    if isinstance(op, DimShuffle):
        return _dimshuffle(node, effects[0])
    inner = _is_extreme(op)
    if inner is None:
        return None
    effect = effects[0]
    for n in inner:  # the wrapped reduction, step by step
        effect = _reduce(n, effect) if isinstance(n.op, CAReduce) else _dimshuffle(n, effect)
        if effect is None:
            return None
    return effect


def _cancels(sub, position, clients, cost) -> bool:
    """Whether ``cost`` is unchanged when ``sub``'s output is shifted along the axes where
    its subtrahend is constant."""
    m = sub.inputs[1]
    varying = tuple(not b for b in m.type.broadcastable)
    effects = {sub.outputs[0]: Effect(SHIFT, 1.0, varying)}
    pending = {position[n]: n for n in clients.get(sub.outputs[0], ())}
    while pending:  # the descendants of ``sub``, in topological order
        if len(effects) > MAX_NODES:
            return False
        node = pending.pop(min(pending))
        ins = [effects.get(v) for v in node.inputs]
        if all(e is None or e.kind == GONE for e in ins):
            out = _UNCHANGED  # what no longer moves stays put, whatever the op
        elif len(node.outputs) != 1:
            return False
        else:
            out = _effect_of(node, ins)
            if out is None:
                return False
        effects[node.outputs[0]] = out
        if out.kind != GONE:
            pending.update((position[n], n) for n in clients.get(node.outputs[0], ()))
    final = effects.get(cost)
    return final is None or final.kind == GONE


def _is_extreme_of(var) -> bool:
    """``var`` is a max or min reduction (``keepdims`` or ``[:, None]`` around it allowed)."""
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        var = var.owner.inputs[0]
    op = var.owner.op if var.owner is not None else None
    return (isinstance(op, CAReduce) and isinstance(op.scalar_op, (ps.ScalarMaximum, ps.ScalarMinimum))
            or _is_extreme(op) is not None)


def _is_candidate(node) -> bool:
    # only the stabilising idiom (a maximum subtracted): checking every broadcast
    # subtraction of a large unrolled graph would cost its first call
    if not (isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, ps.Sub)):
        return False
    x, m = node.inputs
    return (m.dtype.startswith("float") and x.ndim == m.ndim and _is_extreme_of(m)
            and any(bm and not bx for bm, bx in zip(m.type.broadcastable, x.type.broadcastable)))


def detach_invariant_shifts(cost):
    """``cost`` with ``m`` of each ``x - m`` it cannot see held out of the gradient.

    Example::

        import pytensor.tensor as pt
        s = pt.matrix("s")
        d = s - s.max(axis=1, keepdims=True)
        cost = (d - pt.log(pt.exp(d).sum(axis=1, keepdims=True)))[:, 0].sum()
        cost = detach_invariant_shifts(cost)   # the gradient skips s.max(...)
    """
    order = io_toposort([], [cost])
    position = {node: i for i, node in enumerate(order)}
    clients: dict = {}
    for node in order:
        for v in node.inputs:
            clients.setdefault(v, []).append(node)
    found = [node for node in order if _is_candidate(node) and _cancels(node, position, clients, cost)]
    if not found:
        return cost
    replace = {node.outputs[0]: node.op(node.inputs[0], disconnected_grad(node.inputs[1])) for node in found}
    return clone_replace(cost, replace)
