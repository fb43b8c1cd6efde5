"""Concrete values of a rolled loop's iterations after the probes (``vm/rolling.py``).

The trace needs them: the loop's locals after it, and where the rolled part ends (the
first step whose guards fail).  Two ways:

- ``sequential``: the body graph compiled once (numpy code, full rewrites: it runs
  once per step) and called step by step in Python, checking the body's guards at
  each step;
- ``all_at_once``: a loop whose steps read no other step's result (``out[i] = v``
  writes at distinct places, the last step's values, guards: what ``loop_scan``
  vectorizes) is its body vectorized over the steps left, compiled with light rewrites
  (it runs once) and run once: 5 ms where the step-by-step run of 10 000 steps and the
  body's compile take 0.07 s.  It also computes steps after a failing guard, which the
  loop never runs: if any step raised or met a floating-point error (the loop's own
  error or warning, or a spurious one), it gives up and ``sequential`` decides, so
  what the user sees is the step-by-step run's.

Example::

    fn = compile_body(state_ph, I, invariant, free, body, writes)
    stop, states, last = sequential(fn, states, range(n), 2, inv_vals, free_vals, 1, 0, False, {}, [])
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from . import loop_scan


def compile_body(state_ph, I, invariant, free, body, writes):
    from ..backend.compile import compile_graph

    outs = _step_outputs(body, writes)
    inputs = list(state_ph) + [I] + [ph for ph, _ in invariant] + list(free)
    fn, _ = compile_graph(inputs, outs, mode="numpy", name="loop_body")
    return fn


def _step_outputs(body, writes):
    """The body's outputs, a per-step write's value in place of the array it writes."""
    return [writes[i][0] if i in writes else o for i, o in enumerate(body)]


def _as_arg(v):
    if isinstance(v, np.ndarray):
        return v
    return np.asarray(v)[()] if not isinstance(v, np.generic) else v


def sequential(fn, state_vals, rng, pos, inv_vals, free_vals, n_state, n_last, has_flag, writes, last_vals):
    """Run the compiled body from iteration ``pos`` while its guards hold; returns
    (first iteration not run, state values, last values)."""
    states = [_as_arg(v) for v in state_vals]
    for i in writes:  # arrays written in place, one element per step
        states[i] = np.array(states[i], copy=True)
    rest = [_as_arg(v) for v in inv_vals] + [_as_arg(v) for v in free_vals]
    last = list(last_vals)
    n = len(rng)
    while pos < n:
        k = np.int64(rng[pos])
        outs = fn(*states, k, *rest)
        if has_flag and not outs[-1]:
            break
        for i in range(n_state):
            if i in writes:
                states[i][tuple(writes[i][2][pos])] = outs[i]
            else:
                states[i] = outs[i]
        last = list(outs[n_state:n_state + n_last])
        pos += 1
    return pos, states, last


def all_at_once(state_ph, I, invariant, free, body, writes, state_vals, rng, pos, inv_vals, free_vals, n_last,
                has_flag, last_vals):
    """As ``sequential``, for a loop whose every state is a per-step write (``writes``
    covers ``state_ph``): the steps from ``pos`` computed at once; or None when the body
    does not vectorize, or a step raised or met a floating-point error."""
    from ..backend.compile import compile_graph

    n_state = len(state_ph)
    if set(writes) != set(range(n_state)):
        return None
    outs = _step_outputs(body, writes)
    outside = [ph for ph, _ in invariant] + list(free)
    steps = pt.vector("steps", dtype="int64")
    reads = loop_scan.sequence_reads(outs, I, {}, outside, steps)
    stacked = loop_scan.vectorized(outs, I, steps, reads, [])
    if stacked is None:
        return None
    fn, _ = compile_graph([steps] + outside, stacked, mode="numpy", name="loop_steps", light_above=0)
    rest = [_as_arg(v) for v in inv_vals] + [_as_arg(v) for v in free_vals]
    left = rng[pos:]
    res, clean = _run(fn, left, rest)
    if res is None:  # maybe a step past a failing guard raised: step by step
        return None
    k = len(left)  # steps whose guards hold
    if has_flag:
        held = np.asarray(res[-1], dtype=bool)
        k = int(np.argmin(held)) if not held.all() else k
    if not clean and k < len(left):  # maybe only steps past the failing guard: those that run again
        res, clean = _run(fn, left[:k], rest)
    if not clean:  # a step that runs raised or met a floating-point error: as the loop shows it
        return None
    states = []
    for i, v in enumerate(state_vals):
        target = np.array(_as_arg(v), copy=True)
        places = writes[i][2][pos:pos + k]
        value = _per_step(np.asarray(res[i])[:k], target.ndim - places.shape[1])
        if value is None:
            return None
        target[tuple(places.T)] = value
        states.append(target)
    last = [r[k - 1] for r in res[n_state:n_state + n_last]] if k else list(last_vals)
    return pos + k, states, last


def _per_step(values, ndim):
    """``values`` (steps x one step's value) shaped to broadcast against the ``ndim``-dim
    places each step writes, as an assignment of one step's value broadcasts (extra
    leading 1s dropped, missing dimensions added); None if it cannot."""
    shape = values.shape[1:]
    while len(shape) > ndim and shape[0] == 1:
        shape = shape[1:]
    if len(shape) > ndim:
        return None
    return values.reshape(values.shape[:1] + (1,) * (ndim - len(shape)) + shape)


def _run(fn, steps, rest):
    """``fn`` over the loop values ``steps`` (a range): (its outputs, whether no
    floating-point error occurred), or (None, False) if it raised."""
    events = []
    try:
        with np.errstate(all="call", call=lambda kind, flag: events.append(kind)):
            return fn(np.arange(steps.start, steps.stop, steps.step, dtype=np.int64), *rest), not events
    except Exception:
        return None, False
