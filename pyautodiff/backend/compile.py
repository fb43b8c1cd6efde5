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

import time

import numpy as np
import pytensor
from pytensor.compile.mode import Mode, get_mode
from pytensor.graph.fg import FunctionGraph

from ..errors import AutodiffError
from .safe_rewrites import safe_mode

DEFAULT_MODE = "numpy"

# Every mode gets the same IEEE-safe rewrites as the numpy backend, so that no
# mode turns numpy's NaN into a number (``x / x``, ``x * 0``...).
_PYTENSOR_MODES = {
    "c": lambda: safe_mode(Mode(linker="cvm", optimizer="fast_run")),
    "numba": lambda: safe_mode(get_mode("NUMBA")),
    "jax": lambda: safe_mode(get_mode("JAX")),
    "py": lambda: safe_mode(Mode(linker="py", optimizer="fast_run")),
}


def compile_graph(inputs, outputs, mode=None, name="f"):
    """Compile ``outputs`` as a function of ``inputs``; returns (callable, seconds)."""
    mode = DEFAULT_MODE if mode is None else mode
    start = time.perf_counter()
    if mode == "numpy":
        from .numpy_codegen import compile_fgraph, rewrite_graph

        fg = FunctionGraph(inputs, outputs, clone=True)
        fg = rewrite_graph(fg)
        fn = compile_fgraph(fg, name=name, fallback="perform")
    else:
        if isinstance(mode, str):
            if mode.lower() not in _PYTENSOR_MODES:
                raise AutodiffError(f"unknown mode {mode!r}; choose one of 'numpy', "
                                    + ", ".join(repr(m) for m in _PYTENSOR_MODES))
            pmode = _PYTENSOR_MODES[mode.lower()]()
        else:
            pmode = mode
        f = pytensor.function(inputs, outputs, mode=pmode, on_unused_input="ignore")
        f.trust_input = True  # we pass exactly-typed arrays ourselves
        fn = _scalars_as_arrays(f, inputs)
    return fn, time.perf_counter() - start


def _scalars_as_arrays(f, inputs):
    """Compiled functions take 0-d arrays where we pass numpy scalars."""
    scalar_positions = [i for i, v in enumerate(inputs) if v.ndim == 0]
    if not scalar_positions:
        return f

    def call(*args):
        args = list(args)
        for i in scalar_positions:
            args[i] = np.asarray(args[i])
        return f(*args)

    call.pytensor_function = f
    return call


def optimized_fgraph(inputs, outputs):
    """The rewritten FunctionGraph the numpy backend (and export) would run."""
    from .numpy_codegen import rewrite_graph

    return rewrite_graph(FunctionGraph(inputs, outputs, clone=True))
