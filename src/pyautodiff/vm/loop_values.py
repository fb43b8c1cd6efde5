"""Concrete values of a rolled loop's iterations after the probes (``vm/rolling.py``).

The trace needs them: the loop's locals after it, and where the rolled part ends (the
first step whose guards fail).  ``sequential``: the body graph compiled once (numpy
code, full rewrites: it runs once per step) and called step by step in Python,
checking the body's guards at each step.

Example::

    fn = compile_body(state_ph, I, invariant, free, body, writes)
    stop, states, last = sequential(fn, states, range(n), 2, inv_vals, free_vals, 1, 0, False, {}, [])
"""
from __future__ import annotations

import numpy as np


def compile_body(state_ph, I, invariant, free, body, writes):
    from ..backend.compile import compile_graph

    outs = [writes[i][0] if i in writes else o for i, o in enumerate(body)]
    inputs = list(state_ph) + [I] + [ph for ph, _ in invariant] + list(free)
    fn, _ = compile_graph(inputs, outs, mode="numpy", name="loop_body")
    return fn


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
