"""Rewrites declined where they would compute a value in another dtype than numpy does.

PyTensor's algebraic rewrites assume one dtype per expression. Across a cast they
move work into the other dtype: ``int8 ** 2.0`` was specialised to ``sqr`` in int8,
then cast (``(-128) ** 2.0`` came out 0); ``-uint8 * x`` became ``-1.0 * a * x``
(numpy's ``-a`` wraps to 253); ``(int8 a * 2) * x`` was flattened into one float
product (numpy's ``a * 2`` wraps in int8). Integer arithmetic wraps and small floats
round, so each such move changes numbers. The predicates here say when a rewrite
would make such a move; ``safe_rewrites._GUARDED`` declines the rewrite there. Graphs
of one dtype are rewritten as before.

Example::

    _GUARDED["local_pow_specialize"] = _on_node(dtype_guards.pow_in_another_dtype)
"""
from __future__ import annotations

# How far down a chain of sums or products the walks here and in ``safe_rewrites`` look. A
# longer chain (an unrolled loop's running product) counts as changed, so the rewrite
# keeps numpy's form there: a walk to the end from each node of the chain would be quadratic.
CHAIN_LOOKAHEAD = 256


def is_integer(var) -> bool:
    return var.type.dtype.startswith(("int", "uint"))


def pow_in_another_dtype(node) -> bool:
    """``pow(a, c)`` of a base whose dtype is not the power's: the specialisations compute
    ``sqr(a)``, ``sqrt(a)``, ``1 / a``... in the base's dtype, then cast, where numpy converts
    the base first (``int8 ** 2.0`` wrapped: ``(-128) ** 2.0`` was 0; ``int8 ** 0.5`` was
    rounded to float32)."""
    return node.inputs[0].type.dtype != node.outputs[0].type.dtype


def negated(var):
    """``y`` for ``var = -y``, else None."""
    from pytensor.tensor.math import neg

    return var.owner.inputs[0] if var.owner is not None and var.owner.op == neg else None


def drops_a_unit_that_sets_the_dtype(node) -> bool:
    """``mul(1.0, a, b)`` or ``mul(-1.0, a)`` of operands of another dtype than the product's:
    ``local_mul_specialize`` drops the constant and computes ``a * b`` (``-a``) in their dtype,
    then casts (int8 wraps, float32 rounds), where numpy converts them first."""
    from pytensor.graph.basic import Constant
    from pytensor.tensor.basic import get_underlying_scalar_constant_value

    dtype = node.outputs[0].type.dtype
    units = [v for v in node.inputs if get_underlying_scalar_constant_value(
        v, only_process_constants=True, raise_not_constant=False) in (1, -1)]
    return bool(units) and any(v.type.dtype != dtype for v in node.inputs if not isinstance(v, Constant))


def negation_sites_of_neg_div(node):
    """``-(n / d)``: ``local_neg_div_neg`` drops the sign of ``n = -y`` or negates a constant
    ``n`` in its own dtype."""
    from pytensor.graph.basic import Constant
    from pytensor.tensor.math import true_div

    q = node.inputs[0]
    if q.owner is None or q.owner.op != true_div:
        return []
    n = q.owner.inputs[0]
    y = negated(n)
    return [y] if y is not None else [n] if isinstance(n, Constant) else []


# Rewrites that move a negation across a change of dtype: each site's negation is computed
# in the site's own dtype before the rewrite and in the node's output dtype after it, or the
# other way round. Integer negation wraps (``-int8(-128)`` is -128, ``-uint8(3)`` is 253), so
# they decline where a site is an integer of another dtype; float negation is exact.
NEGATION_SITES = {
    # mul(-a, x) -> mul(-1.0, a, x)
    "local_mul_specialize": lambda node: [y for y in map(negated, node.inputs) if y is not None],
    # -a + y -> y - a
    "local_add_neg_to_sub": lambda node: [y for y in map(negated, node.inputs) if y is not None],
    # x - (-a) -> x + a
    "local_sub_neg_to_add": lambda node: [y for y in map(negated, node.inputs[1:]) if y is not None],
    # sum(-a) -> -sum(a), the sum of int8 being int64
    "local_sum_of_neg_to_neg_of_sum": lambda node: [y for y in map(negated, node.inputs) if y is not None],
    # -(-a / b) -> a / b; -(c / b) -> (-c) / b
    "local_neg_div_neg": negation_sites_of_neg_div,
}


def moves_an_integer_negation(name):
    sites = NEGATION_SITES[name]

    def moves(node) -> bool:
        dtype = node.outputs[0].type.dtype
        return any(is_integer(v) and v.type.dtype != dtype for v in sites(node))
    return moves


def flattens_another_dtype(fgraph, node) -> bool:
    """``flatten_nested_add_mul`` on a sum or product nesting one of another dtype, at any
    depth (it flattens recursively): ``(int8 a * 2) * x`` became ``mul(a, 2, x)``, computed
    in float64 by Numba, where numpy's ``a * 2`` wraps in int8 (the canonizers decline the
    same: ``_nests_another_dtype``).  The walk stops after ``CHAIN_LOOKAHEAD`` nodes and
    then declines, as the order check does: a walk to the end of a long chain from each of
    its nodes would be quadratic, and an unflattened long sum is only a longer expression."""
    from pytensor.tensor.elemwise import Elemwise

    scalar_op = getattr(node.op, "scalar_op", None)
    if scalar_op is None:  # its walk also passes other nodes: the rewrite checks them itself
        return False
    dtype = node.outputs[0].type.dtype
    stack, seen = [node], set()
    while stack:
        if len(seen) > CHAIN_LOOKAHEAD:
            return True
        current = stack.pop()
        for v in current.inputs:
            owner = v.owner
            if (owner is None or owner in seen or not isinstance(owner.op, Elemwise)
                    or owner.op.scalar_op != scalar_op or len(fgraph.clients[v]) != 1):
                continue
            if v.type.dtype != dtype:
                return True
            seen.add(owner)
            stack.append(owner)
    return False
