"""The Scan of a rolled loop (see ``vm/rolling.py``): from the body graph that two
probes agreed on to the outer graph's variables.

Two shapes of the body are recognised so that no step costs O(N):

- ``arr[e(i)]``, a read of a loop-invariant array at an elementwise function
  of the index (``x[t]``, ``w[i % 16]``), becomes a Scan *sequence* gathered
  once outside the loop: its gradient is one scatter, not an N-sized
  accumulator updated at every step;
- ``out[i] = v``, a carried array written at the index and not read, becomes
  a per-step output stacked into ``out`` once;
- a loop of such writes alone (no step reads another's result) needs no Scan: the
  body is vectorized over all steps (``vectorized``), and so is its gradient.

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
    # run once: light rewrites (the full ones cost 10 ms of a small first call)
    fn, _ = compile_graph([vec] + ins, outs, mode="numpy", name="loop_places", light_above=0)
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
    if not carried:  # no step reads another's result: all steps at once, no loop at all
        mapped = vectorized(body, I, idx, reads, invariant)
        if mapped is not None:
            return _finish(mapped, [], per_step, writes, olds_of, I, idx, len(state_ph), len(last_outs),
                           flag is not None, invariant)
    sums = increments([state_ph[c] for c in carried], body[:ns], body[ns:])
    if sums is not None:  # every state a running sum `s = s + d(i)`: the d's at once, then a sum
        flat = [t for terms in sums for t in terms]
        mapped = vectorized(flat + body[ns:], I, idx, reads, invariant)
        if mapped is not None:
            finals, k = [], 0
            for c, terms in zip(carried, sums):
                finals.append(pt.shape_padleft(running_sum(olds_of[c], mapped[k:k + len(terms)])))
                k += len(terms)
            return _finish(finals + mapped[k:], carried, per_step, writes, olds_of, I, idx, len(state_ph),
                           len(last_outs), flag is not None, invariant)
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
    return _finish(res, carried, per_step, writes, olds_of, I, idx, len(state_ph), len(last_outs),
                   flag is not None, invariant)


def _finish(res, carried, per_step, writes, olds_of, I, idx, n_states, n_last, has_flag, invariant):
    """From the stacked per-step values ``res`` (carried states, per-step writes, last
    values, flags) to the final value of each slot and the flags."""
    ns = len(carried)
    finals = [None] * n_states
    for n, c in enumerate(carried):
        finals[c] = res[n][-1]
    outer_of = dict(invariant)
    for n, c in enumerate(per_step):
        places = tuple(_along(clone_replace(vectorize_graph(p, replace={I: idx}), replace=outer_of), idx)
                       for p in writes[c][1])
        finals[c] = pt.set_subtensor(olds_of[c][places], _per_step(res[ns + n], olds_of[c].ndim - len(places)))
    k0 = ns + len(per_step)
    finals += [r[-1] for r in res[k0:k0 + n_last]]
    flags = res[-1] if has_flag else None
    return finals, flags


def increments(phs, outs, others):
    """For states that are running sums, ``s = s + d`` (``s = s + a + b`` adds several
    terms, e.g. from an unrolled inner loop) with no term and none of ``others`` reading
    any state: per state, its terms in the order the loop adds them; else None.

    Example: ``s = s + np.sin(x[i])`` gives ``[[np.sin(x[i])]]``; ``h = np.tanh(h)``
    gives None."""
    from pytensor.scalar.basic import Add
    from pytensor.tensor.elemwise import Elemwise

    ds = []
    for ph, out in zip(phs, outs):
        terms, v = [], out
        while v is not ph:
            node = v.owner
            if (node is None or not isinstance(node.op, Elemwise) or not isinstance(node.op.scalar_op, Add)
                    or len(node.inputs) != 2 or v.type != ph.type):
                return None
            a, b = node.inputs
            in_a, in_b = ph in set(graph_inputs([a])), ph in set(graph_inputs([b]))
            if in_a == in_b:
                return None
            term, v = (b, a) if in_a else (a, b)
            if term.type != ph.type:  # broadcast over the state: not a plain running sum
                return None
            terms.append(term)
        if not terms:
            return None
        ds.append(terms[::-1])  # found from the last addition back: the loop adds the first first
    if set(graph_inputs([t for terms in ds for t in terms] + list(others))) & set(phs):
        return None
    return ds


def running_sum(start, stacked):
    """``start`` plus every step's terms (``stacked``: one array per term, steps along the
    first axis), added one after another as the loop adds them, so that the result is the
    loop's own value: ``np.cumsum`` adds in sequence, where ``sum(axis=0)`` of a vector
    adds pairwise (up to 10 units in the last place away from the loop's).

    Example: ``s = s + a[i] + b[i]`` over N steps gives the last element of the cumulative
    sum of ``[s0, a0, b0, a1, b1, ...]``."""
    steps = stacked[0] if len(stacked) == 1 else pt.stack(stacked, axis=1).reshape(
        (-1, *[stacked[0].shape[d] for d in range(1, stacked[0].ndim)]), ndim=stacked[0].ndim)
    return pt.cumsum(pt.concatenate([pt.shape_padleft(start), steps], axis=0), axis=0)[-1]


def vectorized(body, I, idx, reads, invariant):
    """The body's outputs for all steps at once, each stacked along a new first axis
    (a loop whose steps are independent: ``out[i] = f(x[i])``), or None when the body
    does not vectorize into plain array ops (PyTensor would wrap an op it cannot batch
    in a ``Blockwise``, which the numpy tier may run element by element; a batched
    ``Dot`` is a ``Blockwise`` too, but one matmul).

    Example: ``out[i] = np.tanh(a * x[i] + b)`` gives ``[np.tanh(a * x[idx] + b)]``."""
    from pytensor.tensor.blockwise import Blockwise
    from pytensor.tensor.math import Dot

    rep = {I: idx}
    rep.update(reads)  # before the invariants: keyed on the body's own read variables
    rep.update(invariant)
    try:
        outs = vectorize_graph(body, replace=rep)
    except Exception:  # an op without a batched form: keep the loop (a Scan, always right)
        return None
    if any(isinstance(node.op, Blockwise) and not isinstance(node.op.core_op, Dot)  # a matmul batches
           for node in applys_between(list(graph_inputs(outs)), outs)):
        return None
    n = idx.shape[0]
    stacked = []
    for out, core in zip(outs, body):
        if out.type.ndim == core.type.ndim:  # the same at every step (no read of the index)
            out = pt.broadcast_to(pt.shape_padleft(out), (n, *[out.shape[k] for k in range(out.type.ndim)]))
        stacked.append(out)
    return stacked


def _per_step(values, ndim):
    """The stacked values of the steps (steps x one step's value) aligned with the
    ``ndim``-dim place each step writes, as one step's assignment broadcasts: a scalar
    written into a row (``K[i] = s``) fills the row.  Stacked as they are, (steps,)
    against (steps, m) would broadcast along the row instead: each row would get all
    the steps' values (a silent transpose when m equals the step count)."""
    core = values.type.ndim - 1
    while core > ndim and values.type.shape[1] == 1:  # K[i] = v[None, :]: leading 1s dropped
        values = values.dimshuffle([0] + list(range(2, values.type.ndim)))
        core -= 1
    if core >= ndim:
        return values
    return values.dimshuffle([0] + ["x"] * (ndim - core) + list(range(1, values.type.ndim)))


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
        if arr not in outside:
            continue
        if index.owner is not None and isinstance(index.owner.op, ScalarFromTensor):
            position = index.owner.inputs[0]
        elif getattr(index.type, "ndim", None) == 0:  # a 0-d tensor index (a clipped one, say)
            position = index
        else:
            continue
        if [v for v in graph_inputs([position]) if not isinstance(v, Constant)] != [I] or not all(
                isinstance(n.op, Elemwise) for n in applys_between([I], [position])):
            continue
        positions = vectorize_graph(position, replace={I: idx})
        found[node.outputs[0]] = outer_of.get(arr, arr)[positions]
    return found
