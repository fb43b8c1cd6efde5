"""The numpy form of PyTensor's ``Scan``: a Python loop over the generated body.

A rolled loop (``vm/rolling.py``) and its derivatives are ``Scan`` nodes.
Without a numpy form, the generated code would call ``Scan.perform``, which
compiles the body with PyTensor's C backend (seconds on a cold cache) and runs
it through PyTensor's VM at every step.  Instead the body (the Scan's inner
graph, rewritten as every graph is) becomes a helper function of the
generated module, and a loop written for this one Scan steps it with the
bookkeeping of ``Scan.perform``: sequences, buffers of past states read at
their taps (mit-mot, mit-sot, sit-sot), per-step outputs (nit-sot), untraced
states and the ``until`` condition.

The loop is generated per Scan rather than interpreted from the Scan's layout
at every step: how many sequences, buffers and taps there are is known when
the code is written, so each step is one call of the body on plain local
variables and one store per output (no lists built, no per-step dispatch on
the layout), which is most of a step's cost for small bodies.  The same text
is what ``export_source`` shows and runs under numpy alone.

Example (generated, ``x = x + 0.01*np.sin(x)*w[i % 16]``)::

    def scan_body(a0, a1):
        return (a1 + 0.01 * np.sin(a1) * a0,)

    def scan_loop(n_steps, seq0, buf0):
        n_steps = int(n_steps)
        buf0 = np.array(buf0, copy=True)  # never the caller's array
        size0 = buf0.shape[0]
        for i in range(n_steps):
            at0 = (i + 1) % size0
            out0, = scan_body(seq0[i], buf0[(at0 - 1) % size0])
            buf0[at0] = out0
        return scan_order([buf0], [size0], [1], n_steps, n_steps, 0)
"""
from __future__ import annotations

import inspect

import numpy as np

__all__ = ["loop_source", "register", "scan_order"]


def scan_order(results, sizes, mintaps, done, n_steps, n_mm):
    """Put the circular buffers of a finished Scan in PyTensor's order (oldest entry first).

    ``results``: the mit-mot, mit-sot, sit-sot buffers then the per-step outputs;
    ``done`` steps ran of ``n_steps`` (fewer when an ``until`` condition stopped it).
    """
    results = list(results)
    for k in range(n_mm, len(results)):
        out, s, m = results[k], sizes[k], mintaps[k]
        pos = (done - m) % s if s else 0
        if s < done - m and pos < s:
            results[k] = np.concatenate([out[pos:], out[:pos]])
        elif s > done - m:
            out[done - m:] = 0
            if done < n_steps:
                results[k] = out[:-(n_steps - done)]
    return results


def loop_source(name, body, n_seqs, mit_mot_in, mit_mot_out, taps_in, nit_dtypes, nit_ndims,
                n_untraced, n_non_seqs, as_while):
    """The text of ``def name(n_steps, seqs..., bufs..., untraced..., nit sizes..., non_seqs...)``
    running ``body`` as ``Scan.perform`` does; returns the Scan's outputs.

    Buffers are read at ``(step - mintap + tap) % size`` (circular when PyTensor kept
    fewer rows than steps); mit-mot outputs are written at ``step - mintap + tap``.
    """
    n_mm, n_buf, n_nit = len(mit_mot_in), len(mit_mot_in) + len(taps_in), len(nit_dtypes)
    in_taps = [tuple(t) for t in (*mit_mot_in, *taps_in)]
    mintaps = [min(t) for t in in_taps] + [0] * n_nit
    seqs = [f"seq{k}" for k in range(n_seqs)]
    bufs = [f"buf{k}" for k in range(n_buf)]
    untraced = [f"state{k}" for k in range(n_untraced)]
    nit_sizes = [f"nit_size{k}" for k in range(n_nit)]
    nits = [f"nit{k}" for k in range(n_nit)]
    non_seqs = [f"arg{k}" for k in range(n_non_seqs)]
    params = ["n_steps", *seqs, *bufs, *untraced, *nit_sizes, *non_seqs]
    lines = [f"def {name}({', '.join(params)}):",
             "    n_steps = int(n_steps)"]
    for k, b in enumerate(bufs):
        lines.append(f"    {b} = np.array({b}, copy=True)  # never the caller's array")
        lines.append(f"    size{k} = {b}.shape[0]")
    for k, nit in enumerate(nits):
        lines.append(f"    {nit} = None  # allocated at the first step, when its shape is known")
    if as_while:
        lines.append("    done = n_steps")
    lines.append("    for i in range(n_steps):")
    step, args, outs, writes = buffer_step_text(seqs, in_taps, mintaps, bufs, mit_mot_out, n_mm, n_buf)
    args += untraced + non_seqs
    o = len(outs)
    for k, nit in enumerate(nits):
        outs.append(f"out{o}")
        writes += [f"if {nit} is None:",
                   f"    {nit} = np.empty(({nit_sizes[k]}, *np.shape(out{o})), dtype={nit_dtypes[k]!r})",
                   f"{nit}[i % {nit_sizes[k]}] = out{o}"]
        o += 1
    for k, u in enumerate(untraced):
        outs.append(f"out{o}")
        writes.append(f"{u} = np.array(out{o}, copy=True)")
        o += 1
    lines += step_call_text(step, args, outs, writes, body, as_while)
    for k, (nit, dt, nd) in enumerate(zip(nits, nit_dtypes, nit_ndims)):
        lines += [f"    if {nit} is None:  # no step ran",
                  f"        {nit} = np.empty({(0,) * (nd + 1)!r}, dtype={dt!r})"]
    sizes = [f"size{k}" for k in range(n_buf)] + nit_sizes
    done = "done" if as_while else "n_steps"
    results = f"[{', '.join(bufs + nits)}]"
    tail = f", {', '.join(untraced)}" if untraced else ""
    lines.append(f"    return (*scan_order({results}, [{', '.join(sizes)}], {mintaps!r}, {done}, n_steps, "
                 f"{n_mm}){tail},)")
    return "\n".join(lines)


def row_text(offset, k):
    """The text of row ``i + offset`` of circular buffer ``k``."""
    return f"(i + {offset}) % size{k}" if offset else f"i % size{k}"


def step_call_text(step, args, outs, writes, body, as_while):
    """The loop body's lines: ``step`` (the rows read), the call of ``body`` unpacked into
    ``outs``, the ``writes``, and for a while-Scan the stop on its ``until`` output."""
    if as_while:
        outs = outs + ["until"]
        writes = writes + ["if until:  # the `until` condition holds: stop after this step",
                           "    done = i + 1",
                           "    break"]
    lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
    return [f"        {s}" for s in [*step, f"{lhs} = {body}({', '.join(args)})", *writes]]


def buffer_step_text(seqs, in_taps, mintaps, bufs, mit_mot_out, n_mm, n_buf):
    """The lines of one step that read the sequences and buffers at their taps and store
    the buffers' new rows, shared by the numpy loop and the Numba one (``scan_numba``):
    ``(step lines, body argument texts, output names, store lines)``; the outputs are
    numbered from 0 in Scan's order (mit-mot taps, then mit-sot and sit-sot)."""
    step = []
    args = [f"{s}[i]" for s in seqs]
    for k, taps in enumerate(in_taps):
        step.append(f"at{k} = {row_text(-mintaps[k], k)}")  # this step's row of buffer k
        args += [f"{bufs[k]}[at{k}]" if t == 0 else f"{bufs[k]}[{row_text(t - mintaps[k], k)}]"
                 for t in taps]
    outs, writes = [], []
    for k, out_taps in enumerate(mit_mot_out):
        for t in out_taps:
            o = len(outs)
            outs.append(f"out{o}")
            writes.append(f"{bufs[k]}[at{k} + {t}] = out{o}" if t else f"{bufs[k]}[at{k}] = out{o}")
    for k in range(n_mm, n_buf):
        o = len(outs)
        outs.append(f"out{o}")
        writes.append(f"{bufs[k]}[at{k}] = out{o}")
    return step, args, outs, writes


_ORDER_SOURCE = inspect.getsource(scan_order)


def _rule_scan(g, node):
    """Translate a Scan node: its body and its loop as helpers, the Scan as a call of the loop."""
    from pytensor.graph.fg import FunctionGraph

    from .numpy_codegen.expressions import Expr
    from .numpy_codegen.generator import CodeGen, out_dtype_of
    from .rewrite import rewrite_graph

    op, info = node.op, node.op.info
    frozen = op.fgraph
    if hasattr(frozen, "unfreeze"):  # pytensor >= 3.3 keeps inner graphs frozen
        inner = frozen.unfreeze()
    else:
        inner = FunctionGraph(list(op.inner_inputs), list(op.inner_outputs), clone=True)
    inner = rewrite_graph(inner)
    body = _helper_name(g, "scan_body")
    g.globals_taken.add(body)  # taken before the body is generated: a Scan nested in it names its own
    sub = CodeGen(g.fallback)
    sub.namespace, sub.globals_taken, sub.taken = g.namespace, g.globals_taken, g.taken
    sub.imports, sub.helpers, sub.readable = g.imports, g.helpers, g.readable
    g.helpers[body] = sub.function_source(inner, body, [f"a{i}" for i in range(len(inner.inputs))],
                                          tuple_return=True)
    g.helper("scan_order", _ORDER_SOURCE)

    nit_outs = node.outputs[info.n_mit_mot + info.n_mit_sot + info.n_sit_sot:][:info.n_nit_sot]
    loop = _helper_name(g, "scan_loop")
    g.helpers[loop] = loop_source(
        loop, body, info.n_seqs, info.mit_mot_in_slices, info.mit_mot_out_slices,
        (*info.mit_sot_in_slices, *info.sit_sot_in_slices), tuple(str(o.type.dtype) for o in nit_outs),
        tuple(o.type.ndim - 1 for o in nit_outs), info.n_untraced_sit_sot,
        len(node.inputs) - 1 - info.n_seqs - info.n_mit_mot - info.n_mit_sot - info.n_sit_sot
        - info.n_untraced_sit_sot - info.n_nit_sot, bool(info.as_while))
    g.globals_taken.add(loop)

    # the Scan's inputs are in the loop's parameter order already: n_steps, sequences,
    # buffers, untraced states, per-step output sizes, non-sequences
    args = [g.expr(v) for v in node.inputs]
    names = frozenset().union(*[a.names for a in args]) if args else frozenset()
    outs = [g.name_for(v) for v in node.outputs]
    lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
    g.emit(f"{lhs} = {loop}({', '.join(a.text for a in args)})", outs, names)
    return [Expr(n, names={n}, dtype=out_dtype_of(v)) for n, v in zip(outs, node.outputs)]


def _helper_name(g, base):
    name, k = base, 1
    while name in g.helpers or name in g.namespace or name in g.globals_taken:
        name = f"{base}_{k}"
        k += 1
    return name


def register() -> None:
    """Add the Scan rule to the numpy code generator's table (idempotent)."""
    from .numpy_codegen import register_op_rule

    register_op_rule("pytensor.scan.op.Scan", _rule_scan)
