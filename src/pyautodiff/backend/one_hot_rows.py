"""One entry per row: the row sums of ``zeros[arange(n), j] += v`` are ``v``, and the update adds in place.

The gradient of ``logp[np.arange(n), y].mean()`` (every softmax cross-entropy, the
log-linear model's and the MLP's) is a one-hot matrix ``t = zeros((n, k)); t[arange(n), y]
+= v``, and the softmax's gradient then reads it twice: ``t.sum(axis=1)`` and ``t + c * p``.
That is a 10^4-element zeros, a row sum over it and an addition of it, about 15 us of the
log-linear gradient's 190 us, to place 1 000 numbers.

Two node rewrites, after PyTensor's canonicalization and specialization (which turn zeros
into ``Alloc`` and take a sign out of the sum) and before elementwise fusion:

* ``sum(inc(zeros(n, k), v, arange(n), j), axis=1)`` is ``v`` (broadcast to ``(n,)``): with
  ``arange(n)`` as the row index each row holds one increment and zeros elsewhere. The
  update keeps its other users (it is not rewritten where the sum is its only one, unless
  another update reads the same indices), so an index out of bounds still raises where it
  did.
* ``add(inc(zeros, v, arange(n), j), *rest)``, where the update has no other user, is
  ``inc(add(*rest), v, arange(n), j)``: the positions are distinct (one per row), so every
  element is ``rest + v`` or ``rest`` as before, and the generated code writes ``v`` into
  the sum's fresh buffer.

Values are equal to the last bit with one exception, the sign of a zero: the dense graph
adds ``+0.0`` where the rewritten one does not, so a ``-0.0`` (in ``v``, or in ``rest``)
may come out as ``-0.0`` instead of ``+0.0``. PyTensor's own ``local_IncSubtensor_serialize``
makes the second rewrite only where the update has a single user, which the row sum
prevents (PyTensor 3.3 gives the addition a copy of the update instead), and leaves
``add(rest, zeros)``.

Example::

    register(optdb, SAFE_TAG)      # once, with the other rewrites of our pipeline
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Constant
from pytensor.graph.rewriting.basic import in2out, node_rewriter
from pytensor.scalar import Add
from pytensor.tensor.basic import Alloc
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.math import Sum
from pytensor.tensor.subtensor import AdvancedIncSubtensor

NAME = "one_hot_rows"
POSITION = 2.5  # after specialize (2: where `sum(-1 * t)` becomes `-sum(t)`), before fusion (49)


def _is_zeros(var) -> bool:
    owner = var.owner
    if owner is None or not isinstance(owner.op, Alloc):
        return False
    value = owner.inputs[0]
    return isinstance(value, Constant) and value.data.size >= 1 and bool(np.all(value.data == 0))


def _one_hot_rows(var):
    """``var`` = ``inc(zeros(n, k), v, arange(n), j)`` (static ``n``): ``(node, n)``, else None."""
    owner = var.owner
    if owner is None or not isinstance(owner.op, AdvancedIncSubtensor) or owner.op.set_instead_of_inc:
        return None
    x, v, *indices = owner.inputs
    op = owner.op
    if (var.ndim != 2 or len(indices) != 2 or any(isinstance(e, slice) for e in op.idx_list)
            or not _is_zeros(x) or v.dtype != var.dtype):
        return None
    rows, cols = indices
    n = var.type.shape[0]
    if (n is None or not isinstance(rows, Constant) or rows.data.shape != (n,)
            or cols.ndim != 1 or cols.dtype[:3] not in ("int", "uin")):
        return None
    if v.ndim > 1 or not np.array_equal(rows.data, np.arange(n)):
        return None
    return owner, n  # (a length that does not broadcast still raises: the update stays)


def _indexed_elsewhere(fgraph, owner) -> bool:
    """Another advanced update of an array of the same shape at the same positions is in the
    graph (PyTensor 3.3 gives the addition a copy of the update of its own): it raises where an
    index is out of bounds."""
    rows, cols = owner.inputs[2:]
    shape = owner.outputs[0].type.shape
    for client, _ in fgraph.clients.get(cols, ()):
        other = getattr(client, "op", None)
        if (client is not owner and isinstance(other, AdvancedIncSubtensor) and other.idx_list == owner.op.idx_list
                and client.outputs[0].type.shape == shape and client.inputs[3] is cols
                and isinstance(client.inputs[2], Constant) and np.array_equal(client.inputs[2].data, rows.data)):
            return True
    return False


def row_sums_of_one_hot(fgraph, node):
    """``sum(inc(zeros(n, k), v, arange(n), j), axis=1)`` -> ``v`` broadcast to ``(n,)``."""
    if tuple(node.op.axis or ()) != (1,):
        return False
    (x,) = node.inputs
    found = _one_hot_rows(x)
    if found is None or (len(fgraph.clients.get(x, ())) < 2 and not _indexed_elsewhere(fgraph, found[0])):
        return False  # kept where nothing else indexes the same positions: its index checks stay
    owner, n = found
    v = owner.inputs[1]
    new = v if v.type.shape == (n,) else pt.broadcast_to(v, (n,))
    out = node.outputs[0]
    return [new] if new.type == out.type else False


def add_into_one_hot(fgraph, node):
    """``add(inc(zeros, v, arange(n), j), *rest)`` -> ``inc(add(*rest), v, arange(n), j)``."""
    if not isinstance(node.op.scalar_op, Add):
        return False
    out = node.outputs[0]
    for i, operand in enumerate(node.inputs):
        found = _one_hot_rows(operand)
        if found is None or operand.type != out.type or len(fgraph.clients.get(operand, ())) != 1:
            continue
        owner, _ = found
        rest = node.inputs[:i] + node.inputs[i + 1:]
        base = rest[0] if len(rest) == 1 else pt.add(*rest)
        if base.type != out.type:  # the rest alone broadcasts to less: keep the zeros
            continue
        new = owner.op.make_node(base, *owner.inputs[1:]).outputs[0]
        return [new] if new.type == out.type else False
    return False


def register(optdb, tag):
    """Register both rewrites in ``optdb`` under ``tag`` only, the row sums first: an update is
    only added into where the sums left it a single user."""
    optdb.register(f"{NAME}_sums", in2out(node_rewriter([Sum])(row_sums_of_one_hot), name=f"{NAME}_sums"),
                   tag, position=POSITION)
    optdb.register(f"{NAME}_add", in2out(node_rewriter([Elemwise])(add_into_one_hot), name=f"{NAME}_add"),
                   tag, position=POSITION + 0.001)
