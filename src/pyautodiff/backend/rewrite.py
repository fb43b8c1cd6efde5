"""The rewrite pipeline: PyTensor's "fast_run" rewrites as every mode of ours runs them.

Trace (for ``n_nodes``), compile (every backend) and export import it from here.
The IEEE-unsafe rewrites are replaced by the copies in ``safe_rewrites``;
``without_stack_traces`` keeps rewrites from multiplying node stack traces.

Example::

    import pytensor.tensor as pt
    from pytensor.graph.fg import FunctionGraph
    from pyautodiff.backend.rewrite import rewrite_graph

    x = pt.vector("x")
    fg = rewrite_graph(FunctionGraph([x], [pt.log(1 + pt.exp(x))]))
    # fg now computes softplus(x)
"""

from __future__ import annotations

import contextlib
import threading

from ..concurrency import quiet_warnings

__all__ = ["light_rewrite_graph", "light_rewritten", "rewrite_graph", "without_stack_traces"]

# ---------------------------------------------------------------------------
# Graph rewriting
# ---------------------------------------------------------------------------

# Tags excluded from PyTensor's "fast_run" rewrites, and why:
#  * "inplace": in-place rewrites make ops destroy their inputs; the generated
#    code never mutates a value it does not own (arguments, constants, views).
#  * "cxx_only": rewrites that only make sense for the C backend, e.g.
#    `local_careduce_fusion` (a reduction whose scalar op is a fused Composite
#    has no numpy form) and the C BLAS ops.
_EXCLUDED_TAGS = ("inplace", "cxx_only")


def _inline_ofg_node(node):
    try:  # pytensor >= 3.3
        from pytensor.compile.rewriting import inline_ofg_node
    except ImportError:  # pytensor 3.0
        from pytensor.tensor.rewriting.ofg import inline_ofg_node
    return inline_ofg_node(node)


def _inline_blockwise_ofg_node(node):
    """A Blockwise of an OpFromGraph (e.g. from a vectorized jacobian): the
    inlined core graph, vectorized over the batch dimensions."""
    from pytensor.graph.replace import vectorize_graph

    core_node, dummies = node.op._create_dummy_core_node(node.inputs, return_dummy_inputs=True)
    core_outs = _inline_ofg_node(core_node)
    replace = {d: b for d, b in zip(core_node.inputs, node.inputs) if d in dummies}
    outs = vectorize_graph(core_outs, replace=replace)
    # An output that depends on no batched input keeps the inputs' padding 1s
    # where the batch dimensions should be (vectorize_graph leaves it alone):
    # broadcast it back, or a result would silently lose its batch shape.
    return [out if out.type.broadcastable == old.type.broadcastable
            else _broadcast_to_batch(out, old.type.ndim, node) for out, old in zip(outs, node.outputs)]


def _broadcast_to_batch(out, ndim, node):
    """``out`` broadcast to the batch shape of the Blockwise ``node``, taken from
    its inputs (taking it from the node's own outputs would keep the node being
    replaced in the graph), and to ``ndim`` dimensions in all."""
    import pytensor.tensor as pt

    def batch_dims(x, core_ndim):  # static sizes where known, so that 1s broadcast
        n = x.type.ndim - core_ndim
        return [d if d is not None else x.shape[k] for k, d in enumerate(x.type.shape[:n])]

    batch = pt.broadcast_shape(*[batch_dims(x, len(sig))
                                 for x, sig in zip(node.inputs, node.op.inputs_sig)],
                               arrays_are_shapes=True)
    core = [out.shape[k] for k in range(out.type.ndim - (ndim - len(batch)), out.type.ndim)]
    return pt.broadcast_to(out, (*batch, *core))


def _ofg_to_inline(op) -> bool:
    from pytensor.compile.builders import OpFromGraph

    from .numpy_codegen.registry import OP_RULES, lookup_rule
    from .numpy_codegen.wrapper_rules import rule_op_from_graph

    # Softmax and LogSoftmax have direct numpy rules: keep them whole
    return isinstance(op, OpFromGraph) and lookup_rule(OP_RULES, op) in (None, rule_op_from_graph)


def _inline_op_from_graphs(fgraph) -> bool:
    """Replace every OpFromGraph node (Softmax, LogSumExp, their gradients...),
    also inside a Blockwise, by its inner graph, so that the standard rewrites
    can see (and fuse) its body.  Returns whether anything was inlined."""
    from pytensor.tensor.blockwise import Blockwise

    from .numpy_codegen.registry import ensure_rules

    ensure_rules()
    changed = False
    while True:
        nodes = [n for n in fgraph.toposort() if _ofg_to_inline(n.op) or (
            isinstance(n.op, Blockwise) and _ofg_to_inline(n.op.core_op))]
        if not nodes:
            return changed
        for node in nodes:
            if node not in fgraph.apply_nodes:
                continue
            pairs = []
            inline = _inline_blockwise_ofg_node if isinstance(node.op, Blockwise) else \
                _inline_ofg_node
            for old, new in zip(node.outputs, inline(node)):
                if old.type != new.type:
                    new = old.type.filter_variable(new, allow_convert=True)
                pairs.append((old, new))
            fgraph.replace_all(pairs, reason="numpy_codegen_inline_ofg", import_missing=True)
            changed = True


_TRACES_LOCK = threading.Lock()
_traces_off = [0, None]  # nesting depth over all threads, the limit to restore


@contextlib.contextmanager
def without_stack_traces():
    """No creation stack traces on the nodes made inside (``traceback__limit=0``).

    Rewrites attach to each node they build the concatenated traces of the
    nodes it replaces (``copy_stack_trace``), so on deep graphs with shared
    subexpressions the lists multiply: the Hessian of a 10-element ``prod``
    (doubling steps, see ``lowering.reductions``) took 8 s and 4 GB.  Generated
    code never shows these traces.  Nested and concurrent uses share one
    saved value, restored when the last one leaves."""
    from pytensor import config

    from .pytensor_speedups import tag_traces_off

    with _TRACES_LOCK:
        if _traces_off[0] == 0:
            _traces_off[1] = config.traceback__limit
            config.traceback__limit = 0
            tag_traces_off(True)
        _traces_off[0] += 1
    try:
        yield
    finally:
        with _TRACES_LOCK:
            _traces_off[0] -= 1
            if _traces_off[0] == 0:
                config.traceback__limit = _traces_off[1]
                tag_traces_off(False)


def _has_product(fgraph) -> bool:
    """Whether the graph holds a matrix product (``Dot``, ``Blockwise`` of one, or
    a BLAS op), the only thing PyTensor's "BlasOpt" rewrites act on."""
    from pytensor.tensor.blockwise import Blockwise
    from pytensor.tensor.math import Dot

    for node in fgraph.apply_nodes:
        op = node.op.core_op if isinstance(node.op, Blockwise) else node.op
        if isinstance(op, Dot) or type(op).__module__.startswith("pytensor.tensor.blas"):
            return True
    return False


class _OnlyIf:
    """A graph rewriter that runs ``inner`` only on graphs for which ``applies``
    holds: "BlasOpt" costs time superlinear in graph size even where it has
    nothing to do (``GemmOptimizer`` tries every elementwise node)."""

    def __init__(self, inner, applies):
        self.inner, self.applies = inner, applies
        self.name = getattr(inner, "name", None)

    def __getattr__(self, attr):  # profiling, requirements...: the inner rewriter's
        return getattr(self.inner, attr)

    def apply(self, fgraph, *args, **kwargs):
        if self.applies(fgraph):
            return self.inner.apply(fgraph, *args, **kwargs)
        return None


# Graph-level rewriters of the "fast_run" sequence that run only where they apply.
_CONDITIONAL = {"BlasOpt": _has_product}


def _pipeline():
    """PyTensor's "fast_run" sequence, safe, with the conditional steps wrapped."""
    from pytensor.compile.mode import OPT_FAST_RUN, optdb

    from .safe_rewrites import safe_query

    rewriter = optdb.query(safe_query(OPT_FAST_RUN.excluding(*_EXCLUDED_TAGS)))
    rewriter.data = [_OnlyIf(r, _CONDITIONAL[r.name]) if getattr(r, "name", None) in _CONDITIONAL else r
                     for r in rewriter.data]
    return rewriter


def light_rewrite_graph(fgraph):
    """The cheap first tier for large graphs: common subexpressions merged,
    constants folded, and the switch sinks that keep gradients of ``where``/``abs``/``maximum``
    finite (``safe_rewrites`` explains why they are kept), nothing else.

    Its cost is about 1/50 of ``rewrite_graph``'s on unrolled loops; its code
    computes what the traced numpy operations compute, without the more
    accurate forms (``log1p``, ``softplus``...) and without fusion.  The
    default mode serves it at once and swaps in the fully rewritten code when a
    background thread has built it (``tiered``).  The graph is rewritten in
    place and returned.

    Example::

        fg = light_rewrite_graph(FunctionGraph([x], [pt.log(1 + pt.exp(x))]))
        # still log(1 + exp(x)), as numpy computes it
    """
    from pytensor.graph.rewriting.basic import MergeOptimizer

    with quiet_warnings(), without_stack_traces():
        MergeOptimizer().rewrite(fgraph)
    return _light_walk(fgraph)


def light_rewritten(inputs, outputs):
    """``light_rewrite_graph`` of a copy of ``inputs -> outputs``, the copy made with its
    common subexpressions merged in one linear walk (``merged_copy``) rather than by
    ``MergeOptimizer``, whose time grows as the square of a graph that uses a constant
    in thousands of places.  Returns the new FunctionGraph.

    Example::

        fg = light_rewritten([x], [pt.log(1 + pt.exp(x))])
    """
    from .merged_copy import merged_copy

    with without_stack_traces():
        fg = merged_copy(inputs, outputs)
    return _light_walk(fg)


def _light_walk(fgraph):
    from pytensor.graph.rewriting.basic import in2out
    from pytensor.tensor.rewriting.basic import constant_folding
    from pytensor.tensor.rewriting.math import (
        local_div_switch_sink,
        local_mul_switch_sink,
    )

    with quiet_warnings(), without_stack_traces():
        # One walk from inputs to outputs: a node's inputs are folded before the
        # node itself is visited, and the sinks recognise only a constant zero, not
        # a broadcast one, so folding is tried first at each node.
        in2out(constant_folding, local_mul_switch_sink, local_div_switch_sink,
               name="pyautodiff_light").rewrite(fgraph)
    return fgraph


def rewrite_graph(fgraph):
    """Apply PyTensor's "fast_run" rewrites, minus in-place and C-only ones,
    with the IEEE-unsafe ones replaced (see ``safe_rewrites``).

    Keeps canonicalization, the numerically stable forms (log1p, softplus,
    log-sum-exp, softmax...), CSE/merging, constant folding and elementwise
    fusion.  OpFromGraph nodes left afterwards (Softmax, LogSumExp, gradients
    of such ops...) are inlined and the rewrites run again, so that their
    bodies get fused too; they are not inlined before the first pass because
    PyTensor's stabilizing rewrites match on them (e.g. log(softmax(x))).
    The graph is rewritten in place and returned.
    """
    rewriter = _pipeline()
    with quiet_warnings(), without_stack_traces():  # e.g. "could not link to a BLAS installation"
        rewriter.rewrite(fgraph)
        for _ in range(2):
            if not _inline_op_from_graphs(fgraph):
                break
            rewriter.rewrite(fgraph)
    return fgraph
