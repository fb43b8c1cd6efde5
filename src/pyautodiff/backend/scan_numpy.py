"""The numpy form of PyTensor's ``Scan``: a Python loop over the generated body.

A rolled loop (``vm/rolling.py``) and its derivatives are ``Scan`` nodes.
Without a numpy form, the generated code would call ``Scan.perform``, which
compiles the body with PyTensor's C backend (seconds on a cold cache) and runs
it through PyTensor's VM at every step.  Instead the body (the Scan's inner
graph, rewritten as every graph is) becomes a helper function of the
generated module, and ``scan_loop`` below — copied into the module's source,
so ``export_source`` shows and runs the loop under numpy alone — steps it with
the bookkeeping of ``Scan.perform``: sequences, buffers of past states read
at their taps (mit-mot, mit-sot, sit-sot), per-step outputs (nit-sot),
untraced states and the ``until`` condition.

Example (generated)::

    def scan_body(i, x, w):
        return (x + 0.01 * np.sin(x) * w[i % 16],)

    def f(x0, w):
        xs, = scan_loop(scan_body, 1000, [np.arange(1000)], [x0[None]], (), (), ((-1,),),
                        [], (), (), [], [w], False)
        return (xs[-1].sum(),)
"""
from __future__ import annotations

import inspect

import numpy as np

__all__ = ["register", "scan_loop"]


def scan_loop(body, n_steps, seqs, bufs, mit_mot_in, mit_mot_out, taps_in, nit_sizes, nit_dtypes,
              nit_ndims, untraced, non_seqs, as_while):
    """Run ``body`` ``n_steps`` times as PyTensor's Scan does; returns the Scan's outputs.

    ``bufs``: the mit-mot, mit-sot and sit-sot buffers (initial states first),
    read at ``mit_mot_in``/``taps_in`` relative to the current step; mit-mot
    outputs are written at ``mit_mot_out``; ``nit_sizes`` rows are kept of
    each per-step output; ``untraced`` states pass from one step to the next.
    """
    n_steps = int(n_steps)
    n_mm, n_buf = len(mit_mot_in), len(bufs)
    bufs = [np.array(b, copy=True) for b in bufs]  # never the caller's arrays
    store = [b.shape[0] for b in bufs] + [int(s) for s in nit_sizes]
    mintaps = [min(t) for t in mit_mot_in] + [min(t) for t in taps_in] + [0] * len(nit_sizes)
    pos = [(-m) % s if s else 0 for m, s in zip(mintaps, store)]
    in_taps = list(mit_mot_in) + list(taps_in)
    nits = [None] * len(nit_sizes)
    untraced = list(untraced)
    i = 0
    while i < n_steps:
        args = [s[i] for s in seqs]
        for k, taps in enumerate(in_taps):
            args += [bufs[k][(pos[k] + t) % store[k]] for t in taps]
        outs = body(*args, *untraced, *non_seqs)
        o = 0
        for k, out_taps in enumerate(mit_mot_out):
            for t in out_taps:
                bufs[k][pos[k] + t] = outs[o]
                o += 1
        for k in range(n_mm, n_buf):
            bufs[k][pos[k]] = outs[o]
            o += 1
        for k in range(len(nits)):
            j = n_buf + k
            if nits[k] is None:
                nits[k] = np.empty((store[j], *np.shape(outs[o])), dtype=nit_dtypes[k])
            nits[k][pos[j]] = outs[o]
            o += 1
        untraced = [np.array(u, copy=True) for u in outs[o:o + len(untraced)]]
        o += len(untraced)
        pos = [(p + 1) % s if s else 0 for p, s in zip(pos, store)]
        i += 1
        if as_while and outs[o]:  # the `until` condition holds: stop after this step
            break
    nits = [a if a is not None else np.empty((0,) * (nd + 1), dtype=dt)
            for a, dt, nd in zip(nits, nit_dtypes, nit_ndims)]
    results = bufs + nits
    for k in range(n_mm, len(results)):  # circular buffers: oldest entry first, as Scan.perform
        out, s = results[k], store[k]
        if s < i - mintaps[k] and pos[k] < s:
            results[k] = np.concatenate([out[pos[k]:], out[:pos[k]]])
        elif s > i - mintaps[k]:
            out[i - mintaps[k]:] = 0
            if i < n_steps:
                results[k] = out[:-(n_steps - i)]
    return (*results, *untraced)


_LOOP_SOURCE = inspect.getsource(scan_loop)


def _rule_scan(g, node):
    """Translate a Scan node: its body as a helper, the loop as a call of ``scan_loop``."""
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
    sub = CodeGen(g.fallback)
    sub.namespace, sub.globals_taken, sub.taken = g.namespace, g.globals_taken, g.taken
    sub.imports, sub.helpers = g.imports, g.helpers
    g.helpers[body] = sub.function_source(inner, body, [f"a{i}" for i in range(len(inner.inputs))],
                                          tuple_return=True)
    g.globals_taken.add(body)
    loop = g.helper("scan_loop", _LOOP_SOURCE)

    args = [g.expr(v) for v in node.inputs]
    text = [a.text for a in args]
    n_tap = info.n_mit_mot + info.n_mit_sot + info.n_sit_sot
    at = 1
    seqs = text[at:at + info.n_seqs]
    at += info.n_seqs
    bufs = text[at:at + n_tap]
    at += n_tap
    untraced = text[at:at + info.n_untraced_sit_sot]
    at += info.n_untraced_sit_sot
    nit_sizes = text[at:at + info.n_nit_sot]
    at += info.n_nit_sot
    non_seqs = text[at:]
    nit_outs = node.outputs[n_tap:n_tap + info.n_nit_sot]
    nit_dtypes = tuple(str(o.type.dtype) for o in nit_outs)
    nit_ndims = tuple(o.type.ndim - 1 for o in nit_outs)
    taps_in = tuple(tuple(t) for t in (*info.mit_sot_in_slices, *info.sit_sot_in_slices))

    def lst(items):
        return "[" + ", ".join(items) + "]"

    call = (f"{loop}({body}, {text[0]}, {lst(seqs)}, {lst(bufs)}, "
            f"{tuple(tuple(t) for t in info.mit_mot_in_slices)!r}, "
            f"{tuple(tuple(t) for t in info.mit_mot_out_slices)!r}, {taps_in!r}, {lst(nit_sizes)}, "
            f"{nit_dtypes!r}, {nit_ndims!r}, {lst(untraced)}, {lst(non_seqs)}, {bool(info.as_while)})")
    names = frozenset().union(*[a.names for a in args]) if args else frozenset()
    outs = [g.name_for(v) for v in node.outputs]
    lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
    g.emit(f"{lhs} = {call}", outs, names)
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
