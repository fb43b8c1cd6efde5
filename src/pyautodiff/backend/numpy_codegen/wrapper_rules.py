"""Rules for ops that wrap other ops: Blockwise and OpFromGraph.

A Blockwise whose core numpy function already broadcasts (``inv``, ``det``,
``svd``...) uses the core op's rule; batched matrix products become ``@``;
anything else becomes a helper function for the core op, generated like the
main function and vectorized with ``np.vectorize(..., signature=...)``.  An
OpFromGraph left in the graph is inlined.

Example: ``Blockwise{Cholesky}(a)`` becomes
``np.vectorize(cholesky_core, signature='(m,m)->(m,m)', otypes=[np.float64])(a)``.
"""
from __future__ import annotations

import re

import numpy as np

from .blas_rules import matmul_expr
from .expressions import Expr, dtype_name, strong
from .generator import CodeGen, sanitize
from .registry import OP_RULES, lookup_rule, op_rule

_NATIVE_BATCHED = ("MatrixInverse", "Det", "SLogDet", "Eig", "SVD", "MatrixPinv")


@op_rule("pytensor.tensor.blockwise.Blockwise")
def _rule_blockwise(g, node):
    op = node.op
    core = op.core_op
    name = type(core).__name__
    if name in _NATIVE_BATCHED:
        rule = lookup_rule(OP_RULES, core)
        return rule(g, node)
    if name in ("Dot", "Dot22") and all(len(s) == 2 for s in op.inputs_sig):
        return [matmul_expr(g, *node.inputs, node.outputs[0].type.dtype)]
    # Generic: a helper function for the core op, vectorized with its signature.
    core_node, batched, params = _core_node(op, node)
    helper = _core_helper(g, core_node, params)
    args = [strong(g.expr(v), v.type.dtype) for v in batched]
    names = frozenset().union(*[a.names for a in args]) if args else frozenset()
    otypes = ", ".join(dtype_name(o.type.dtype) for o in node.outputs)
    in_sig, out_sig = op.signature.split("->")
    sigs = re.findall(r"\([^)]*\)", in_sig)
    sig = ",".join(sg for sg, v in zip(sigs, node.inputs) if v in batched) + "->" + out_sig
    call = (f"np.vectorize({helper}, signature={sig!r}, otypes=[{otypes}])"
            f"({', '.join(a.text for a in args)})")
    if len(node.outputs) == 1:
        return [Expr(call, names=names, dtype=np.dtype(node.outputs[0].type.dtype), fresh=True)]
    tmp = [g.temp_name() for _ in node.outputs]
    g.emit(f"{', '.join(tmp)} = {call}", tmp, names)
    return [Expr(n, names={n}, dtype=np.dtype(o.type.dtype)) for n, o in zip(tmp, node.outputs)]


def _core_node(op, node):
    """The core op applied to dummy core-shaped inputs; constant inputs (e.g. an
    axis) stay constants, folded into the helper.  Also returns the inputs
    that remain arguments and their dummies (the helper's parameters: ``make_node``
    may wrap an input, as ``IncSubtensor`` turns a constant index into
    ``ScalarFromTensor(index)``, so the core node's own inputs are not they)."""
    import pytensor.tensor as pt
    from pytensor.graph.basic import Constant

    core_inputs, batched, params = [], [], []
    for inp, sig in zip(node.inputs, op.inputs_sig):
        core_ndim = len(sig)
        bdims = inp.type.ndim - core_ndim
        if isinstance(inp, Constant) and all(s == 1 for s in inp.type.shape[:bdims]):
            data = np.asarray(inp.data)
            core_inputs.append(pt.constant(data.reshape(data.shape[bdims:]), dtype=inp.type.dtype))
        else:
            core_inputs.append(pt.tensor(dtype=inp.type.dtype, shape=inp.type.shape[bdims:]))
            batched.append(inp)
            params.append(core_inputs[-1])
    return op.core_op.make_node(*core_inputs), batched, params


def _core_helper(g, core_node, params) -> str:
    """Generate ``def <op>_core(*params)`` computing one core node (for np.vectorize)."""
    from pytensor.graph.fg import FunctionGraph

    ins = list(params)
    fg = FunctionGraph(ins, core_node.outputs, clone=True)
    base = sanitize(type(core_node.op).__name__.lower()) + "_core"
    fname = base
    k = 1
    while fname in g.helpers or fname in g.namespace:
        fname = f"{base}_{k}"
        k += 1
    sub = CodeGen(g.fallback)
    # share module-level state; local names are kept unique module-wide too
    sub.namespace, sub.globals_taken, sub.taken = g.namespace, g.globals_taken, g.taken
    sub.imports, sub.helpers, sub.readable = g.imports, g.helpers, g.readable
    src = sub.function_source(fg, fname, [f"a{i}" for i in range(len(ins))],
                              tuple_return=len(core_node.outputs) > 1)
    g.helpers[fname] = src
    g.globals_taken.add(fname)
    return fname


@op_rule("pytensor.compile.builders.OpFromGraph")
def rule_op_from_graph(g, node):
    """An OpFromGraph left in the graph: inline its body."""
    from pytensor.graph.traversal import io_toposort

    op = node.op
    ins, outs = list(op.inner_inputs), list(op.inner_outputs)
    for inner, outer in zip(ins, node.inputs):
        g.env[inner] = g.expr(outer)
    nodes = io_toposort(ins, outs)
    g.count_uses(nodes, outs)
    g.translate_nodes(nodes)
    return [g.expr(o) for o in outs]
