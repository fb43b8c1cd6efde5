"""The Numba form of a rolled loop's ``Scan``: our generated loop and body, jitted.

PyTensor's own Numba ``Scan`` runs its inner graph on 0-d and small arrays,
allocating every intermediate value at every step (0.3-0.7 us a step for a few
scalar states, where XLA's loop takes about 0.1 us).  In the Numba tier
(``compile.py``'s mode ``"numba"``) a Scan is instead compiled from text we
write: the body is the numpy code the numpy tier runs (``numpy_codegen``, the
inner graph rewritten as every graph is), and the loop is written for this one
Scan's layout like ``scan_numpy``'s, in the subset of Python Numba compiles.
A 0-d state is read from its buffer as a native float and the body's scalar
arithmetic never allocates; array expressions are fused by Numba.  Both are
jitted by Numba (no fast-math: the same IEEE results as the numpy code).

A Scan this form does not cover (a body Numba cannot type, e.g. a nested Scan
or a numpy method Numba lacks such as ``ndarray.squeeze``) keeps PyTensor's
form: the loop is compiled once here, at graph-compile time, for the node's
types (read-only arrays of any layout, so every call from PyTensor's code
converts to that one compile), and any failure falls back.  The compiled loop
goes to PyTensor's Numba disk cache under a key of its text and constants.  Only graphs compiled by pyautodiff use it
(``active()`` around ``pytensor.function``); PyTensor's dispatch for other
callers in the process is unchanged.

Example (the loop written for ``x = x + 0.01*np.sin(x)*w[i % 16]``, whose
per-step output is the loop's guard)::

    def scan_loop(n_steps, seq0_in, buf0_in, nit_size0):
        n = n_steps.item()
        seq0 = np.ascontiguousarray(seq0_in)
        buf0 = buf0_in.copy()  # never the caller's array
        size0 = buf0.shape[0]
        nit_n0 = nit_size0.item()
        nit0 = np.empty((nit_n0,), dtype=np.bool_)
        done = n
        for i in range(n):
            at0 = (i + 1) % size0
            out0, out1 = scan_body(seq0[i], buf0[i % size0])
            buf0[at0] = out0
            nit0[i % nit_n0] = out1
        return order(buf0, size0, -1, done, n), order(nit0, nit_n0, 0, done, n)
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import inspect

import numpy as np

from ..concurrency import quiet_warnings
from . import pairwise_sum
from .scan_numpy import buffer_step_text, step_call_text

__all__ = ["active", "install", "loop_source", "numba_scan"]

VERSION = 1  # part of the disk-cache key: bump when the generated text's meaning changes
_ACTIVE = contextvars.ContextVar("pyautodiff_scan_numba", default=False)
_installed = False


class Unsupported(Exception):
    """This Scan keeps PyTensor's Numba form."""


@contextlib.contextmanager
def active():
    """Within this block, PyTensor's Numba linker compiles Scans with ``numba_scan``.

    Example::

        with scan_numba.active():
            f = pytensor.function(inputs, outputs, mode=numba_mode)
    """
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def install() -> None:
    """Put ``numba_scan`` before PyTensor's Numba form of ``Scan`` (idempotent).

    Example::

        install(); mode = get_mode("NUMBA")
    """
    global _installed
    if _installed:
        return
    import pytensor.link.numba.dispatch  # noqa: F401  PyTensor's forms, Scan's included
    from pytensor.link.numba.dispatch import basic
    from pytensor.scan.op import Scan

    pytensors = basic.numba_funcify_and_cache_key.dispatch(Scan)
    _scalar_methods()

    @basic.register_funcify_and_cache_key(Scan)
    def funcify_scan(op, node=None, **kwargs):
        if _ACTIVE.get() and node is not None:
            try:
                return numba_scan(op, node)
            except Unsupported:
                pass
        return pytensors(op, node=node, **kwargs)

    _installed = True


def _scalar_methods():
    """``x.copy()`` of a 0-d value: the numpy code runs it on numpy scalars, which have the
    method; here the same value is a native number, whose copy is itself."""
    from numba import types
    from numba.extending import overload_method

    for kind in (types.Number, types.Boolean):
        @overload_method(kind, "copy")
        def _copy(x):
            return lambda x: x


def order(out, size, mintap, done, n_steps):
    """A finished circular buffer in PyTensor's order (oldest entry first), as
    ``scan_numpy.scan_order`` puts it, for one buffer."""
    pos = (done - mintap) % size if size else 0
    if size < done - mintap and pos < size:
        return np.concatenate((out[pos:], out[:pos]))
    if size > done - mintap:
        out[done - mintap:] = 0
        if done < n_steps:
            return out[:out.shape[0] - (n_steps - done)].copy()
    return out


def loop_source(name, body, n_seqs, mit_mot_in, mit_mot_out, taps_in, nit_dtypes, nit_ndims,
                untraced_ndims, n_non_seqs, scalar_non_seqs, as_while):
    """The text of ``def name(n_steps, seqs..., bufs..., untraced..., nit sizes..., non_seqs...)``
    running ``body`` as ``Scan.perform`` does, for Numba: 0-d arguments come as 0-d arrays;
    ``scalar_non_seqs`` (indices of 0-d non-sequences) and 0-d untraced states are carried
    as native scalars, an untraced array state in one array written in place.
    Returns the Scan's outputs (mit-mot, mit-sot, sit-sot buffers, per-step outputs,
    untraced states).
    """
    n_mm, n_buf, n_nit = len(mit_mot_in), len(mit_mot_in) + len(taps_in), len(nit_dtypes)
    in_taps = [tuple(t) for t in (*mit_mot_in, *taps_in)]
    mintaps = [min(t) for t in in_taps]
    seqs = [f"seq{k}" for k in range(n_seqs)]
    bufs = [f"buf{k}" for k in range(n_buf)]
    nit_sizes = [f"nit_size{k}" for k in range(n_nit)]
    non_seqs = [f"arg{k}" for k in range(n_non_seqs)]
    untraced = [f"state{k}" for k in range(len(untraced_ndims))]
    params = ["n_steps", *[f"{s}_in" for s in seqs], *[f"{b}_in" for b in bufs], *[f"{u}_in" for u in untraced],
              *nit_sizes, *[f"{a}_in" for a in non_seqs]]
    lines = [f"def {name}({', '.join(params)}):",
             "    n = n_steps.item()"]
    # contiguous once, so that the body's reads and products (``W @ h``) take the fast paths
    lines += [f"    {s} = np.ascontiguousarray({s}_in)" for s in seqs]
    lines += [f"    {a} = np.ascontiguousarray({a}_in)" for k, a in enumerate(non_seqs) if k not in scalar_non_seqs]
    for k, b in enumerate(bufs):
        lines += [f"    {b} = {b}_in.copy()  # never the caller's array",
                  f"    size{k} = {b}.shape[0]"]
    for k, (dt, nd) in enumerate(zip(nit_dtypes, nit_ndims)):
        lines += [f"    nit_n{k} = nit_size{k}.item()",
                  f"    nit{k} = np.empty((nit_n{k},{' 0,' * nd}), dtype=np.{_NUMPY_NAMES.get(dt, dt)})"]
    for u, nd in zip(untraced, untraced_ndims):
        lines.append(f"    {u} = {u}_in.copy()" if nd else f"    {u} = {u}_in.item()")
    args_of = {k: f"arg{k}" for k in range(n_non_seqs)}
    for k in scalar_non_seqs:
        lines.append(f"    sarg{k} = arg{k}_in.item()  # a native scalar: no 0-d array per operation")
        args_of[k] = f"sarg{k}"
    lines += ["    done = n", "    for i in range(n):"]
    step, args, outs, writes = buffer_step_text(seqs, in_taps, mintaps, bufs, mit_mot_out, n_mm, n_buf)
    args += untraced + [args_of[k] for k in range(n_non_seqs)]
    o = len(outs)
    for k, nd in enumerate(nit_ndims):
        outs.append(f"out{o}")
        if nd:  # its shape is known at the first step
            writes += ["if i == 0:",
                       f"    nit{k} = np.empty((nit_n{k},) + np.shape(out{o}), dtype=nit{k}.dtype)"]
        writes.append(f"nit{k}[i % nit_n{k}] = out{o}")
        o += 1
    for u, nd in zip(untraced, untraced_ndims):
        outs.append(f"out{o}")
        # in place: the body never writes its arguments, and may return one of them
        writes.append(f"{u}[:] = out{o}" if nd else f"{u} = out{o}")
        o += 1
    lines += step_call_text(step, args, outs, writes, body, as_while)
    results = [f"order({b}, size{k}, {mintaps[k]}, done, n)" if k >= n_mm else b for k, b in enumerate(bufs)]
    results += [f"order(nit{k}, nit_n{k}, 0, done, n)" for k in range(n_nit)]
    results += [u if nd else f"np.array({u})" for u, nd in zip(untraced, untraced_ndims)]
    lines.append(f"    return {', '.join(results)}")  # one output bare, as PyTensor's linker expects
    return "\n".join(lines)


_NUMPY_NAMES = {"bool": "bool_"}  # np.bool is numpy >= 2 only


def _inner_graph(op):
    from pytensor.graph.fg import FunctionGraph

    from .rewrite import rewrite_graph

    frozen = op.fgraph
    if hasattr(frozen, "unfreeze"):  # pytensor >= 3.3 keeps inner graphs frozen
        inner = frozen.unfreeze()
    else:
        inner = FunctionGraph(list(op.inner_inputs), list(op.inner_outputs), clone=True)
    return pairwise_sum.rewrite_fgraph(rewrite_graph(inner))  # sums in numpy's order, as the numpy tier's


def numba_scan(op, node):
    """The jitted loop of one Scan ``node`` and its disk-cache key; raises ``Unsupported``
    when PyTensor's form must run it instead (checked by compiling it for the node's types).

    Example::

        fn, key = numba_scan(node.op, node)     # fn(*node.inputs' values) -> node.outputs' values
    """
    import numba

    from .numpy_codegen import NoNumpyForm, fgraph_to_source

    info = op.info
    n_bufs = info.n_mit_mot + info.n_mit_sot + info.n_sit_sot
    n_non_seqs = len(node.inputs) - 1 - info.n_seqs - n_bufs - info.n_untraced_sit_sot - info.n_nit_sot
    non_seq_vars = node.inputs[len(node.inputs) - n_non_seqs:]
    nit_outs = node.outputs[n_bufs:n_bufs + info.n_nit_sot]
    inner = _inner_graph(op)
    try:
        body_src, namespace = fgraph_to_source(inner, name="scan_body", fallback="error",
                                               input_names=[f"a{i}" for i in range(len(inner.inputs))])
    except NoNumpyForm as exc:
        raise Unsupported(str(exc)) from None
    captured = {k: v for k, v in namespace.items() if k not in ("np", "__builtins__", "__generated_name__")}
    if not all(isinstance(v, (np.ndarray, np.generic)) for v in captured.values()):
        raise Unsupported("the body needs a module or an object Numba cannot take")
    loop_src = loop_source(
        "scan_loop", "scan_body", info.n_seqs, info.mit_mot_in_slices, info.mit_mot_out_slices,
        (*info.mit_sot_in_slices, *info.sit_sot_in_slices), [str(o.type.dtype) for o in nit_outs],
        [o.type.ndim - 1 for o in nit_outs],
        [v.type.ndim for v in node.outputs[n_bufs + info.n_nit_sot:]], n_non_seqs,
        [k for k, v in enumerate(non_seq_vars) if v.type.ndim == 0], bool(info.as_while))
    jit = dict(error_model="numpy")  # x / 0 is inf as in numpy, not ZeroDivisionError
    # constants are frozen into the code; __name__: a cached loop's environment is rebuilt from it
    env = {**captured, "np": np, "order": numba.njit(**jit)(order), "__name__": __name__}
    exec(compile(body_src, "<pyautodiff scan body>", "exec"), env)
    for fname in _defined_functions(body_src):  # the body and its helpers
        env[fname] = numba.njit(**jit)(env[fname])
    key = _cache_key(body_src, loop_src, captured)
    # through PyTensor's Numba cache (its directory, our key): a later process loads the
    # compiled loop instead of compiling it again
    from pytensor.link.numba.cache import compile_numba_function_src

    loop = numba.njit(cache=True, **jit)(compile_numba_function_src(loop_src, "scan_loop", env, cache_key=key))
    # any layout, read-only: the loop copies what it writes, so every array PyTensor's
    # code passes (views, constants) converts to this one signature
    signature = tuple(numba.types.Array(numba.from_dtype(np.dtype(v.type.dtype)), v.type.ndim, "A", readonly=True)
                      for v in node.inputs)
    try:  # typed now, so that a body Numba cannot compile falls back here
        with quiet_warnings():  # a loop using constants is not cached (NumbaWarning): compiled each time
            loop.compile(signature)
    except Exception as exc:  # numba's typing and lowering errors have no common base
        raise Unsupported(f"{type(exc).__name__}: {exc}") from None
    loop.disable_compile()  # one compile: calls of other layouts convert to it
    loop.source = f"{body_src}\n\n{loop_src}"
    return loop, key


_ORDER_SOURCE = inspect.getsource(order)


def _cache_key(body_src, loop_src, constants) -> str:
    h = hashlib.sha256(f"pyautodiff scan v{VERSION}\n{_ORDER_SOURCE}\n{body_src}\n{loop_src}".encode())
    for name in sorted(constants):  # the constants' values are compiled into the code
        value = np.asarray(constants[name])
        h.update(f"{name} {value.dtype.str} {value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def _defined_functions(source: str) -> set[str]:
    return {ln[4:ln.index("(")] for ln in source.splitlines() if ln.startswith("def ")}
