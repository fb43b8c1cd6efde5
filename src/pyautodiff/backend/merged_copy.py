"""A copy of a graph with its common subexpressions merged, in one linear walk.

The light first tier (``rewrite.light_rewritten``) used to copy the graph
(``FunctionGraph(..., clone=True)``) and then run PyTensor's ``MergeOptimizer`` on
the copy.  That merges one node at a time through ``FunctionGraph.replace``: each
merge re-examines every client of the merged node's inputs and removes the old node
from its inputs' client lists (``list.remove``).  A generated program uses the same
constant (``0.5``, ``0.9``) in thousands of places, so its client list, and each merge
of a node built on it, grows with the graph: 29 s of a 47 000-node first call (62% of
it) went there, growing as the square of the graph.

Here every node is copied once, in topological order, with inputs already replaced by
their representatives; a node whose op and inputs equal those of a node already copied
is not copied at all, its outputs map to that node's.  Constants equal in type and
value (``merge_signature``, what ``MergeOptimizer`` compares) share one.  The result is
the graph ``MergeOptimizer`` reaches (every pair of equal nodes on equal inputs merged),
in time linear in the graph.

Example::

    import pytensor.tensor as pt

    x = pt.vector("x")
    fg = merged_copy([x], [pt.sin(x) * 0.5 + pt.sin(x) * 0.5])
    # fg holds one sin, one multiplication and the addition
"""
from __future__ import annotations

__all__ = ["constant_key", "merged_copy"]

_FINITE_KINDS = frozenset("biufc")  # bool, ints, floats, complex: equality is ==


def constant_key(c):
    """A key equal for two constants exactly when their ``merge_signature``s are equal.

    The signature of a tensor constant compares the arrays through masked copies (NaN
    and inf aside) and sums them: about 30 us per constant, and a generated program
    has thousands.  For a finite numeric array in native byte order, equal signatures
    mean equal types and ``d0 == d1`` everywhere with the same signs of zero (signatures
    as ``signed_zeros`` makes them: ``0.0`` and ``-0.0`` stay apart), which is equal
    bytes: that is the key.  Any other constant keys on its signature (a different kind
    of key)."""
    import numpy as np

    d = getattr(c, "data", None)
    if type(d) is np.ndarray and d.dtype.kind in _FINITE_KINDS and d.dtype.isnative and \
            getattr(c.type, "dtype", None) == str(d.dtype):
        if d.dtype.kind in "fc" and not np.isfinite(d).all():
            return c.merge_signature()
        return ("finite", c.type, d.shape, d.tobytes())
    return c.merge_signature()


def merged_copy(inputs, outputs):
    """A ``FunctionGraph`` of copies of ``inputs -> outputs`` with equal nodes merged.

    As ``FunctionGraph(inputs, outputs, clone=True)``, inputs and other free variables are
    copied and constants are shared with the original graph, which is left unchanged."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.fg import FunctionGraph

    from .signed_zeros import keep_signed_zeros_apart

    keep_signed_zeros_apart()  # the signatures constant_key stands for
    try:
        from pytensor.graph.traversal import toposort
    except ImportError:  # PyTensor before 3.1
        from pytensor.graph.basic import io_toposort

        def toposort(outs, blockers):
            return io_toposort(blockers, outs)

    memo: dict = {}
    for v in inputs:
        if isinstance(v, Constant):
            memo.setdefault(v, v)
        else:
            copy = v.clone()
            copy.owner, copy.index = None, None
            memo.setdefault(v, copy)
    constants: dict = {}  # merge signature -> the constant that stands for all equal ones
    nodes: dict = {}  # (op, representative inputs) -> the copied node
    for node in toposort(outputs, blockers=inputs):
        for v in node.inputs:
            if v not in memo:
                if isinstance(v, Constant):
                    memo[v] = constants.setdefault(constant_key(v), v)
                else:  # a free variable: FunctionGraph refuses it below, as it would the original
                    memo[v] = v.clone()
        new_inputs = tuple(memo[v] for v in node.inputs)
        key = (node.op, new_inputs)
        twin = nodes.get(key)
        if twin is None or len(twin.outputs) != len(node.outputs) or any(
                a.type != b.type for a, b in zip(twin.outputs, node.outputs)):
            twin = node.clone_with_new_inputs(list(new_inputs))
            nodes[key] = twin
        memo.update(zip(node.outputs, twin.outputs))
    new_outputs = [memo[o] if o in memo else o.clone() for o in outputs]
    return FunctionGraph([memo[v] for v in inputs], new_outputs, clone=False)
