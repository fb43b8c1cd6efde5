"""The Scan of a rolled loop (see ``vm/rolling.py``): from the body graph that two
probes agreed on to the outer graph's variables.

Two shapes of the body are recognised so that no step costs O(N):

- ``arr[e(i)]``, a read of a loop-invariant array at an elementwise function
  of the index (``x[t]``, ``w[i % 16]``), becomes a Scan *sequence* gathered
  once outside the loop: its gradient is one scatter, not an N-sized
  accumulator updated at every step;
- ``out[i] = v``, a carried array written at the index and not read, becomes
  a per-step output stacked into ``out`` once.

Example::

    finals, flags = build(state_ph, state_outs, last_outs, flag, I, invariant, free,
                             olds_of, (0, n, 1), writes)
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Constant
from pytensor.graph.replace import clone_replace, vectorize_graph

try:
    from pytensor.graph.traversal import applys_between, graph_inputs
except ImportError:  # pytensor < 3.3
    from pytensor.graph.basic import applys_between, graph_inputs


def per_step_writes(state_ph, state_outs, body, I, rng, known):
    """States only written at places computed from the loop index and loop-invariant
    values, distinct at every step (``out[i] = v``, ``K[i, j] = v`` in an inner loop
    over ``j``), and not read: slot -> (v, position variables (one per index),
    concrete positions of all iterations (steps x indices)).

    Such a state becomes a per-step output stacked into the array once.  ``known``
    gives the concrete values of the loop-invariant inputs (an outer loop's index)."""
    from pytensor.tensor.basic import ScalarFromTensor
    from pytensor.tensor.subtensor import IncSubtensor

    writes = {}
    for i, (ph, out) in enumerate(zip(state_ph, state_outs)):
        node = out.owner
        if node is None or not isinstance(node.op, IncSubtensor) or not node.op.set_instead_of_inc:
            continue
        n_idx = len(node.op.idx_list)
        if node.inputs[0] is not ph or len(node.inputs) != 2 + n_idx:
            continue
        positions = []
        for index in node.inputs[2:]:
            positions.append(index.owner.inputs[0] if index.owner is not None and isinstance(
                index.owner.op, ScalarFromTensor) else index)
        if not any(_elementwise_of(p, I) for p in positions) or not all(
                _elementwise_of(p, I) or _invariant(p, I, known) for p in positions):
            continue
        value = node.inputs[1]
        others = [o for k, o in enumerate(body) if k != i]
        if ph in set(graph_inputs([value] + others + positions)):
            continue  # the array is read in the body: a true state
        values = _positions(positions, I, rng, ph.type.shape[:n_idx], known)
        if values is not None:
            writes[i] = (value, positions, values)
    return writes


def _elementwise_of(position, I) -> bool:
    """``position`` is computed from the loop index alone, elementwise."""
    from pytensor.tensor.elemwise import Elemwise

    if position is I:
        return True
    return [v for v in graph_inputs([position]) if not isinstance(v, Constant)] == [I] and all(
        isinstance(n.op, Elemwise) for n in applys_between([I], [position]))


def _invariant(position, I, known) -> bool:
    """``position`` is the same at every step: computed from constants and known values."""
    return position.ndim == 0 and all(
        isinstance(v, Constant) or (v is not I and v in known) for v in graph_inputs([position]))


def _positions(positions, I, rng, sizes, known):
    """The places written over the whole range (steps x indices), or None if two steps
    write one place."""
    from ..backend.compile import compile_graph

    if None in sizes:
        return None
    vec = pt.vector(dtype="int64")
    ins = [v for v in graph_inputs(positions) if v is not I and not isinstance(v, Constant)]
    outs = [pt.cast(vectorize_graph(p, replace={I: vec}), "int64") for p in positions]
    fn, _ = compile_graph([vec] + ins, outs, mode="numpy")
    at = np.asarray(rng, dtype=np.int64)
    values = np.stack([np.broadcast_to(np.asarray(v, dtype=np.int64), at.shape)
                       for v in fn(at, *[known[v] for v in ins])], axis=1)
    normal = np.where(values < 0, values + np.asarray(sizes, dtype=np.int64), values)
    if len(np.unique(normal, axis=0)) != len(normal):
        return None
    return values


def build(state_ph, state_outs, last_outs, flag, I, invariant, free, olds_of, seq, writes):
    """The Scan of the body over ``seq`` = (start, stop, step); returns the final value
    of each changing slot and the per-step guard flags (or None)."""
    start, stop, step = seq
    idx = pt.arange(start, stop, step, dtype="int64")
    carried = [i for i in range(len(state_ph)) if i not in writes]
    per_step = [i for i in range(len(state_ph)) if i in writes]
    ns = len(carried)
    inv_ph = [ph for ph, _ in invariant]
    body = [state_outs[c] for c in carried] + [writes[c][0] for c in per_step] + list(last_outs) \
        + ([flag] if flag is not None else [])
    reads = sequence_reads(body, I, dict(invariant), free, idx)
    rows = list(reads)

    def step_fn(i, *args):
        rep = {I: i}
        rep.update(zip(rows, args[:len(rows)]))
        args = args[len(rows):]
        rep.update(zip([state_ph[c] for c in carried], args[:ns]))
        rep.update(zip(inv_ph + list(free), args[ns:]))
        return clone_replace(body, replace=rep)

    outputs_info = [olds_of[c] for c in carried] + [None] * (len(per_step) + len(last_outs)) \
        + ([None] if flag is not None else [])
    res = pytensor.scan(step_fn, sequences=[idx] + [reads[r] for r in rows], outputs_info=outputs_info,
                        non_sequences=[old for _, old in invariant] + list(free),
                        strict=True, return_list=True, return_updates=False)
    finals = [None] * len(state_ph)
    for n, c in enumerate(carried):
        finals[c] = res[n][-1]
    outer_of = dict(invariant)
    for n, c in enumerate(per_step):
        places = tuple(_along(clone_replace(vectorize_graph(p, replace={I: idx}), replace=outer_of), idx)
                       for p in writes[c][1])
        finals[c] = pt.set_subtensor(olds_of[c][places], res[ns + n])
    k0 = ns + len(per_step)
    finals += [r[-1] for r in res[k0:k0 + len(last_outs)]]
    flags = res[-1] if flag is not None else None
    return finals, flags


def _along(position, idx):
    """A loop-invariant index repeated at every step (advanced indexing with the others)."""
    return position if position.ndim else pt.alloc(position, idx.shape[0])


def sequence_reads(body, I, outer_of, free, idx):
    """Reads ``arr[e(i)]`` of a loop-invariant array at an elementwise function of
    the index: the read's variable -> the rows gathered outside the loop."""
    from pytensor.tensor.basic import ScalarFromTensor
    from pytensor.tensor.elemwise import Elemwise
    from pytensor.tensor.subtensor import Subtensor

    outside = set(outer_of) | set(free)
    found = {}
    for node in applys_between(list(graph_inputs(body)), body):
        if not isinstance(node.op, Subtensor) or len(node.op.idx_list) != 1 or len(node.inputs) != 2:
            continue
        arr, index = node.inputs
        if arr not in outside or index.owner is None or not isinstance(index.owner.op, ScalarFromTensor):
            continue
        position = index.owner.inputs[0]
        if [v for v in graph_inputs([position]) if not isinstance(v, Constant)] != [I] or not all(
                isinstance(n.op, Elemwise) for n in applys_between([I], [position])):
            continue
        positions = vectorize_graph(position, replace={I: idx})
        found[node.outputs[0]] = outer_of.get(arr, arr)[positions]
    return found
