"""Compiling a graph: PyTensor's rewrites, then one of several backends.

Modes (``mode=`` of every transformation):

- ``"numpy"`` (default): PyTensor's rewrites, then the graph written back as
  plain numpy source (``numpy_codegen``) and exec'd.  Builds in milliseconds,
  runs at hand-written-numpy speed; the same code ``export_source`` shows.
- ``"c"``, ``"numba"``, ``"jax"``: ``pytensor.function`` with that linker
  (seconds to compile on a cold cache; C and Numba cache on disk).
- ``"py"``: PyTensor's Python linker (slow, for debugging).
- any ``pytensor.compile.mode.Mode`` instance.

``compile_graph`` returns a callable taking the input arrays positionally and
returning a sequence of output arrays.
"""
from __future__ import annotations

import contextlib
import os
import time

import numpy as np
import pytensor
from pytensor.compile.mode import Mode, get_mode
from pytensor.graph.fg import FunctionGraph

from .. import progress
from ..concurrency import BUILD_LOCK
from ..errors import AutodiffError
from ..lowering import host_ops
from . import allocator, pairwise_sum, pytensor_speedups
from .mode_fixes import install_numba, numpy_integer_division, refuse_unsupported
from .safe_rewrites import safe_mode

DEFAULT_MODE = "numpy"

pytensor_speedups.install()

# Every mode gets the same IEEE-safe rewrites as the numpy backend, so that no
# mode turns numpy's NaN into a number (``x / x``, ``x * 0``...).
_PYTENSOR_MODES = {
    "c": lambda: safe_mode(Mode(linker="cvm", optimizer="fast_run")),
    "numba": lambda: _with_backend("numba", lambda: safe_mode(get_mode("NUMBA")).including(pairwise_sum.TAG)),
    "jax": lambda: _with_backend("jax", lambda: safe_mode(get_mode("JAX"))),
    "py": lambda: safe_mode(Mode(linker="py", optimizer="fast_run")),
}


def _with_backend(name, make_mode):
    from .blas_layout import register_backend

    register_backend(name)  # our own ops' forms for that linker
    if name == "numba":
        from . import scan_numba

        pairwise_sum.install()  # float sums in numpy's order
        host_ops.register_numba_fmod()  # np.fmod, which PyTensor lacks
        install_numba()  # integer dot products that wrap as numpy's
        scan_numba.install()  # rolled loops: our jitted loop before PyTensor's Numba Scan
    return make_mode()


# Graphs of more nodes than this may get the light rewrites first (see
# ``compile_graph``'s ``light_above``); ``PYAUTODIFF_LIGHT_ABOVE`` sets it.
LIGHT_ABOVE_NODES = int(os.environ.get("PYAUTODIFF_LIGHT_ABOVE", "1000"))
# A graph holding a loop (``Scan``) gets the light rewrites first whatever its size: its
# full rewrite (the Scan rewrites, canonicalization of the Scan's gradient with its
# buffers and slices) costs 0.15-0.35 s of CPU on a 200-node graph, 2-3x the rest of a
# first call, while its calls' cost is the Scan's body, rewritten fully either way
# (``scan_numpy``).  ``PYAUTODIFF_LIGHT_LOOPS=0`` rewrites such graphs fully at once.
LIGHT_LOOPS = os.environ.get("PYAUTODIFF_LIGHT_LOOPS", "1").strip().lower() not in ("0", "false", "no", "off")


def compile_graph(inputs, outputs, mode=None, name="f", fresh_outputs=False, light_above=None):
    """Compile ``outputs`` as a function of ``inputs``; returns (callable, seconds).

    ``fresh_outputs``: never return an input array, a constant or a view of
    one (PyTensor's own functions guarantee it by inserting deep copies).
    ``light_above`` (numpy mode): a graph of more nodes than this, or holding a
    loop (``LIGHT_LOOPS``), not in the code cache, gets only
    ``light_rewrite_graph``'s rewrites; the callable then has ``light = True``
    (the caller builds the full version later).
    One build at a time per process (``concurrency.BUILD_LOCK``)."""
    from .deep import call_deep, in_worker

    # a deep graph is rewritten on a deep stack, by a worker for which the caller waits
    # holding the lock: the worker builds under it without taking it
    with contextlib.nullcontext() if in_worker() else BUILD_LOCK, pytensor_speedups.gc_paused():
        return call_deep(_compile_graph, inputs, outputs, mode, name, fresh_outputs, light_above)


def _compile_graph(inputs, outputs, mode, name, fresh_outputs, light_above):
    allocator.tune_once()  # before the first call of anything we compile
    mode = DEFAULT_MODE if mode is None else mode
    start = time.perf_counter()
    if mode == "numpy":
        fn = _numpy_function(inputs, outputs, name, fresh_outputs, light_above)
    else:
        if isinstance(mode, str):
            if mode.lower() not in _PYTENSOR_MODES:
                raise AutodiffError(f"unknown mode {mode!r}; choose one of 'numpy', "
                                    + ", ".join(repr(m) for m in _PYTENSOR_MODES))
            pmode = _PYTENSOR_MODES[mode.lower()]()
            refuse_unsupported(mode.lower(), inputs, outputs)
            if mode.lower() == "c":
                inputs, outputs = numpy_integer_division(inputs, outputs)
            numba = mode.lower() == "numba"
        else:
            pmode = mode
            linker = type(getattr(mode, "linker", None)).__name__.lower()
            for name in ("numba", "jax"):
                if name in linker:
                    refuse_unsupported(name, inputs, outputs)
                    _with_backend(name, lambda: None)
            numba = "numba" in linker
        from .rewrite import without_stack_traces

        loops = _numba_loops() if numba else contextlib.nullcontext()
        with without_stack_traces(), loops, numpy_arithmetic(), progress.phase("rewrite and compile"):
            f = pytensor.function(inputs, outputs, mode=pmode, on_unused_input="ignore")
        f.trust_input = True  # we pass exactly-typed arrays ourselves
        fn = _direct_call(f, inputs)
    return fn, time.perf_counter() - start


def numpy_arithmetic():
    """PyTensor's compiled backends, told to round as numpy does, for the builds in this block.

    PyTensor's Numba forms default to LLVM's fast-math flags (``numba__fastmath``): fused
    multiply-adds, reassociation, no signed zeros, approximate functions. GCC fuses
    ``a * b + c`` on its own (``-ffp-contract=fast`` is its default for C++). Either way
    ``0.1 * 10.0 - 1.0`` came out 5.6e-17 where numpy gives 0, and ``-(x - x)`` lost its
    sign: a result that changed when the default mode moved a function to Numba.
    Scoped, not set for the process: a user's own PyTensor (PyMC's samplers) keeps its
    settings. PyTensor's Numba cache keys carry the flag, so no fast-math build is loaded
    for ours; its C cache keys carry the compiler flags.

    Example::

        with numpy_arithmetic():
            f = pytensor.function(inputs, outputs, mode="NUMBA")
    """
    flags = str(pytensor.config.gcc__cxxflags)
    if "-ffp-contract=off" not in flags:
        flags = f"{flags} -ffp-contract=off".strip()
    return pytensor.config.change_flags(numba__fastmath=False, gcc__cxxflags=flags)


def _numba_loops():
    """Scans compiled by ``scan_numba`` while PyTensor's Numba linker runs."""
    from . import scan_numba

    return scan_numba.active()


def _numpy_function(inputs, outputs, name, fresh_outputs, light_above=None):
    """Generated numpy code for the graph, from the on-disk cache when a process
    before this one already rewrote the same graph."""
    from . import code_cache
    from .cache_dir import configured
    from .numpy_codegen import exec_source, fgraph_to_source
    from .rewrite import light_rewritten, rewrite_graph

    key = None  # the cache off: no fingerprint (a walk over the graph, 7% of a large first call)
    if configured() is not None:
        key = code_cache.fingerprint(inputs, outputs, extra=f"numpy {name} fresh={fresh_outputs}")
    with progress.phase("load cached code"):
        hit = code_cache.load(key)
        if hit is not None:
            fn = exec_source(*hit, name=name)
            fn.code_key = key  # the entry a disk-cached trace may point to (trace_cache)
            return fn
    with progress.phase("rewrite"):
        n_nodes, loop = _census(inputs, outputs)
        progress.graph_size(n_nodes)
        light = light_above is not None and (n_nodes > light_above or LIGHT_LOOPS and loop)
        if light:  # copied with equal nodes merged, then the light rewrites
            fg = light_rewritten(inputs, outputs)
        else:
            fg = rewrite_graph(FunctionGraph(inputs, outputs, clone=True))
    with progress.phase("generate"):
        source, namespace = fgraph_to_source(fg, name=name, fallback="perform", fresh_outputs=fresh_outputs)
        stored = not light and code_cache.store(key, source, namespace)  # fully rewritten code only
        fn = exec_source(source, namespace, name=name)
        if stored:
            fn.code_key = key
    if light:
        fn.light = True
        fn.nodes = len(fg.apply_nodes)
    return fn


def _census(inputs, outputs):
    """(Apply nodes between ``inputs`` and ``outputs``, whether one of them is a ``Scan``)."""
    from pytensor.scan.op import Scan

    try:
        from pytensor.graph.traversal import toposort
    except ImportError:  # PyTensor before 3.1
        from pytensor.graph.basic import io_toposort

        def toposort(outs, blockers):
            return io_toposort(blockers, outs)

    n, loop = 0, False
    for node in toposort(outputs, blockers=inputs):
        n += 1
        loop = loop or isinstance(node.op, Scan)
    return n, loop


def _direct_call(f, inputs):
    """A lean caller of the compiled ``f`` taking our inputs positionally.

    Our cache key already fixes every input's dtype and shape, so the checks and
    storage handling of ``Function.__call__`` (about 1.5 µs) are skipped where
    the linker exposes its jitted function (Numba: ``vm.jit_fn``, whose graph
    already holds the deep copies that keep outputs fresh).  Compiled functions
    take 0-d arrays where we pass numpy scalars."""
    target = getattr(f.vm, "jit_fn", None)
    if target is None or getattr(f, "output_keys", None) is not None:
        # a Function keeps its inputs and outputs in storage cells between calls:
        # one thread at a time (a jitted function keeps nothing)
        from ..concurrency import serialized

        target = serialized(f)
    params = [f"a{i}" for i in range(len(inputs))]
    args = [f"asarray({p})" if v.ndim == 0 else p for p, v in zip(params, inputs)]
    namespace = {"target": target, "asarray": np.asarray}
    # generated so the call costs one Python frame, whatever the arity
    exec(f"def call({', '.join(params)}):\n    return target({', '.join(args)})", namespace)
    call = namespace["call"]
    call.pytensor_function = f
    return call


def optimized_fgraph(inputs, outputs):
    """The rewritten FunctionGraph the numpy backend (and export) would run."""
    from .rewrite import rewrite_graph

    return rewrite_graph(FunctionGraph(inputs, outputs, clone=True))
