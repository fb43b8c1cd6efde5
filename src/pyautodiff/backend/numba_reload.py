"""A Numba build loaded from Numba's disk cache by its key, without the graph.

A warm process (a tier note says Numba won for a graph before) used to trace
the function again, rewrite the graph for Numba and convert every node before
Numba found the whole function in its disk cache: about 0.2 s of interpreter
time (trace 0.05 s, PyTensor's Numba rewrites and conversion 0.15 s, rosen
Hessian) out of 0.6 s, all of it taken from the caller's first second.  Yet
what Numba loads is only the outermost function, keyed by PyTensor's cache key
of the rewritten graph: its machine code holds every node's code, so nothing
of the graph is needed to run it.

So the tier note of a graph whose Numba build was installed also keeps that
build's name and cache key (``build_of``), and a later process asks Numba's
cache for it directly (``load``): the same one-line source PyTensor compiles
(``def <name>(*args): return jitable_func(*args)``), registered under the same
key, has the same cache file and index entry.  If the entry is not there (the
cache was cleared, another Numba, another CPU, another signature), ``load``
returns None and the caller builds from the graph as before.  It never
compiles: the stand-in ``jitable_func`` is never typed, and the dispatcher
refuses any other signature afterwards.  A loaded build is compared with the
served numpy code on the caller's arguments before it is installed
(``tiered.Tiered``), so a note naming another graph's build costs a reload,
never a wrong value.

Example::

    name, key = build_of(fn)                   # after a Numba build won
    fn = load(name, key, args)                 # another process: None if not on disk
"""
from __future__ import annotations

import re

import numpy as np

_KEY = re.compile(r"[0-9A-Za-z_]{1,300}\Z")
_NO_MATCH = "No matching definition"  # what Numba's dispatcher raises once it may not compile


def build_of(fn) -> tuple[str, str] | None:
    """The (function name, Numba cache key) of a compiled Numba tier ``fn`` (as
    ``compile._direct_call`` returns it), or None if it has none (not cached by PyTensor:
    an op without a cache key)."""
    if getattr(fn, "numba_build", None) is not None:  # itself loaded so
        return fn.numba_build
    f = getattr(fn, "pytensor_function", None)
    jit_fn = getattr(getattr(f, "vm", None), "jit_fn", None)
    py_func = getattr(jit_fn, "py_func", None)
    if py_func is None:
        return None
    try:
        from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS
    except ImportError:
        return None
    key = CACHED_SRC_FUNCTIONS.get(py_func)
    name = py_func.__name__
    if key is None or not name.isidentifier() or not _KEY.match(key):
        return None
    return name, key


def _never(*args):  # the stand-in for the graph's function: a load never types it
    raise RuntimeError("pyautodiff: a reloaded Numba build was asked to compile")


def load(name: str, key: str, args, fallback):
    """The Numba build cached under ``key``, called on ``args``'s types, or None.

    Returns a caller taking the same arguments as the numpy code (0-d values passed as
    0-d arrays, as ``compile._direct_call`` does), with ``numba_build`` set to ``(name, key)``.
    It has one compiled signature and cannot compile another (it has no graph): a call
    whose arrays Numba types otherwise (a strided view, a read-only array, where the
    build saw C-contiguous writable ones) goes to ``fallback``, the numpy code."""
    if not name.isidentifier() or not _KEY.match(key):
        return None
    # (importing PyTensor's numba.cache registers its cache locator with Numba)
    import numba
    from pytensor.link.numba.cache import compile_numba_function_src

    scalar = tuple(np.ndim(a) == 0 for a in args)  # fixed per specialization, as the shapes are
    values = [np.asarray(a) if s else a for a, s in zip(args, scalar)]
    py_func = compile_numba_function_src(f"def {name}(*args): return jitable_func(*args)", name,
                                         {"jitable_func": _never}, cache_key=key)
    # (not PyTensor's numba_njit: its module registers every op's conversion, 0.07 s, and the
    # flags of a loaded build are those it was compiled with)
    disp = numba.njit(py_func, cache=True)
    # a ``*args`` function takes its arguments as one tuple (Numba's dispatcher folds them)
    sig = (disp.typeof_pyval(tuple(values)),)
    cres = disp._cache.load_overload(sig, disp.targetctx)  # Numba's own first step of compile()
    if cres is None or cres.objectmode:
        return None
    # what Dispatcher.compile does with a cache hit, without its fallback to compiling
    disp.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
    disp.add_overload(cres)
    disp.disable_compile()
    return _caller(disp, scalar, (name, key), fallback)


def _caller(target, scalar, build, fallback):
    params = ", ".join(f"a{i}" for i in range(len(scalar)))
    args = ", ".join(f"asarray(a{i})" if s else f"a{i}" for i, s in enumerate(scalar))
    namespace = {"target": target, "asarray": np.asarray, "fallback": fallback, "NO_MATCH": _NO_MATCH}
    # generated so the call costs one Python frame, whatever the arity
    exec(f"def call({params}):\n"
         f"    try:\n"
         f"        return target({args})\n"
         f"    except TypeError as exc:\n"  # Numba's dispatcher: no compiled signature fits
         f"        if not str(exc).startswith(NO_MATCH):\n"
         f"            raise\n"
         f"    return fallback({params})\n", namespace)
    call = namespace["call"]
    call.numba_build = build
    call.jit_fn = target
    return call


def agrees(ours, theirs) -> bool:
    """Whether a loaded build's outputs ``ours`` are the numpy code's ``theirs`` up to rounding:
    the same structure, shapes and dtypes, and values within a millionth of each output's
    scale (NaN where NaN).  A build of another graph fails this; the tiers' rounding does not."""
    if isinstance(ours, (tuple, list)) != isinstance(theirs, (tuple, list)):
        return False
    if not isinstance(ours, (tuple, list)):
        ours, theirs = (ours,), (theirs,)
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind not in "fc":
            if not np.array_equal(a, b):
                return False
            continue
        finite = np.isfinite(b)
        scale = float(np.max(np.abs(b[finite]), initial=0.0))
        if not np.array_equal(np.isfinite(a), finite) or not np.allclose(
                a, b, rtol=1e-6, atol=1e-6 * scale, equal_nan=True):
            return False
    return True
