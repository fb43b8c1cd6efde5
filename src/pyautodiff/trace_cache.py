"""A first call in a new process served from disk: the trace-level cache.

The code cache (``backend.code_cache``) stores the generated code of a
graph, but a new process must still trace and differentiate to learn which
graph it needs.  This module stores, beside that code, what a new process
needs to use it *without tracing*: which code entry, how to assemble the
result, and every fact about the outside world the trace depended on, in a
form a new process can check exactly.

The entry's key digests what a trace is a function of besides the world
outside: the user function's code (bytecode, constants, names, nested code
objects, line table) and its defaults by value, the transformation and its
options, the call's argument structure (shapes, dtypes), and the versions of
Python, numpy and pyautodiff (every source file's size and modification
time).  The entry holds the trace's outside reads (``context.External``) as
*dependencies*, each re-checked before use:

- a global of the function's module or a cell of its closure holding an int,
  string, bool, None, bytes, complex or numpy integer: equal by type and value;
- the same holding a numeric array or float (a graph input): type, shape, dtype;
- the same holding a library module, function or class: same module and name;
- the same holding a user function run by the trace (a helper): its code,
  defaults and module globals as when stored;
- a global name the code reads that was *not* defined (a builtin): still not
  defined;
- library versions (numpy, scipy, PyTensor) loaded when the trace ran.

A trace with any other outside read (an identity guard on an object, a chain
of attribute or item reads, ``os.getenv``, a random draw), a write to the
outside (replayed, or a global or closure variable stored at trace time), another transformation kind, options (``has_aux``, ``static``,
keyword arguments, a non-default mode), or code that was not fully rewritten
is not stored: it cannot be re-checked in a new process, so it is traced
there as usual.  A stored entry that fails a check, is corrupt, or whose code
entry is gone is simply not used (the call traces, and stores again).

Entries are code-cache entries (authenticated by the same per-user HMAC; the
JSON text stands where generated source would), so they share its directory,
size cap and security model.

Example::

    spec = lookup(g, call_key, args)        # a Specialization, or None: trace
    remember(g, call_key, args, tr, spec)   # after tracing: store if re-checkable
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import threading
import types
from time import perf_counter  # a global: the measuring wrapper's two calls (Served)

import numpy as np

from .backend import allocator, cache_dir, code_cache
from .backend import tiered as tiered_mod
from .library_code import LIBRARY_ROOTS, is_library

FORMAT = 1
KINDS = frozenset({"grad", "hessian", "hvp"})  # results assembled from the arguments alone
_VERSIONED = ("numpy", "scipy", "pytensor")


# -- the key -----------------------------------------------------------------------------------

def enabled() -> bool:
    """``PYAUTODIFF_TRACE_CACHE=0`` turns the trace cache off (the code cache stays on)."""
    return os.environ.get("PYAUTODIFF_TRACE_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")


def key_of(g, call_key) -> str | None:
    """The entry key of transformation ``g`` called with ``call_key``, or None (not cacheable)."""
    f = g.original
    if not enabled() or (type(f) is not types.FunctionType or g.kind not in KINDS or g.mode not in (None, "numpy")
            or g.has_aux or g.static or not _plain(call_key) or cache_dir.configured() is None):
        return None
    try:
        parts = [f"pyautodiff trace cache {FORMAT}", _environment(), f.__module__ or "", f.__qualname__,
                 _function_text(f), g.kind, repr(g.wrt), repr(g.mode), repr(g.loop_limit), repr(g.holomorphic),
                 repr(call_key)]
    except _NotExact:
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class _NotExact(Exception):
    """A value with no exact, stable text (the entry is not made)."""


def _plain(k) -> bool:
    if type(k) is tuple:
        return all(_plain(x) for x in k)
    return type(k) in (str, int, bool) or k is None


def _function_text(f) -> str:
    return "|".join([_code_text(f.__code__), _value_text(f.__defaults__), _value_text(f.__kwdefaults__)])


def _code_text(code) -> str:
    """Everything of a code object that decides what it does (nested code objects included)."""
    consts = ",".join(_code_text(c) if isinstance(c, types.CodeType) else _value_text(c) for c in code.co_consts)
    return (f"code({code.co_name};{code.co_argcount},{code.co_posonlyargcount},{code.co_kwonlyargcount},"
            f"{code.co_flags},{code.co_firstlineno};{code.co_code.hex()};{code.co_names};{code.co_varnames};"
            f"{code.co_freevars};{code.co_cellvars};{code.co_linetable.hex()};"
            f"{getattr(code, 'co_exceptiontable', b'').hex()};[{consts}])")


def _value_text(v) -> str:
    """An exact text of a constant or default value; raises _NotExact otherwise."""
    t = type(v)
    if v is None or v is Ellipsis or t in (bool, int, str, bytes):
        return f"{t.__name__}:{v!r}"
    if t is float:
        return f"float:{v.hex()}"
    if t is complex:
        return f"complex:{v.real.hex()},{v.imag.hex()}"
    if t in (tuple, list):
        return f"{t.__name__}(" + ",".join(_value_text(x) for x in v) + ")"
    if t is frozenset:
        return "frozenset(" + ",".join(sorted(_value_text(x) for x in v)) + ")"
    if t is dict:
        return "dict(" + ",".join(f"{_value_text(k)}:{_value_text(x)}" for k, x in v.items()) + ")"
    if t is np.ndarray and not v.dtype.hasobject:
        data = np.ascontiguousarray(v)
        return f"array({data.dtype.str},{data.shape},{hashlib.sha256(data.view(np.uint8)).hexdigest()})"
    if isinstance(v, np.generic) and not isinstance(v, np.object_):
        return f"{v.dtype.str}:{v.tobytes().hex()}"
    raise _NotExact(t.__qualname__)


@functools.lru_cache(maxsize=1)
def _environment() -> str:
    """Python, numpy, and pyautodiff's sources (by size and modification time: cheap)."""
    here = os.path.dirname(os.path.abspath(__file__))
    stamps = []
    for root, dirs, files in os.walk(here):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                st = os.stat(os.path.join(root, name))
                stamps.append(f"{os.path.relpath(os.path.join(root, name), here)}:{st.st_size}:{st.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(stamps).encode()).hexdigest()
    return f"python {sys.version}; numpy {np.__version__}; pyautodiff {digest}"


def _versions() -> dict:
    return {m: getattr(sys.modules[m], "__version__", "?") for m in _VERSIONED if m in sys.modules}


# -- storing ------------------------------------------------------------------------------------

def remember(g, key, tr, spec, warnings_shown=0) -> bool:
    """Store the entry for ``spec`` (traced as ``tr``) under ``key`` if every dependency
    can be re-checked in a new process; True if stored.  A trace that showed a warning
    is not stored: a process served from disk would not show it."""
    if key is None or tr.effects or spec.effects or tr.wrote_outside or warnings_shown:
        return False
    first = spec.tiering.first_tier if spec.tiering is not None else spec.fn
    code_key = getattr(first, "code_key", None)
    if code_key is None or getattr(first, "light", False):
        return False  # code not (fully rewritten and) stored on disk
    where = cache_dir.directory()
    if where is None or cache_dir.secret(where) is None:
        return False  # in memory only: this process's own cache already serves it
    deps = _dependencies(g.original, tr)
    if deps is None:
        return False
    from .backend.tiered import has_loop

    entry = {"format": FORMAT, "code": code_key, "has_guards": spec.has_guards, "deps": deps,
             "versions": _versions(), "loop": bool(has_loop(spec.outputs))}
    return code_cache.store(key, json.dumps(entry), {})


def _dependencies(f, tr) -> list | None:
    """The trace's outside reads as re-checkable descriptions, or None if one is not."""
    g = f.__globals__
    cells = {id(c): i for i, c in enumerate(f.__closure__ or ())}
    deps, by_function = [], {id(f): "root"}
    for key, e in zip(tr.external_keys, tr.externals):
        if e.fresh:
            return None
        where = _root(key, g, cells)
        if e.kind == "identities":
            owner = e.owner
            if owner is None or id(owner) not in by_function:
                return None  # a function reached another way than a global or a cell
            deps.append({"function": by_function[id(owner)], "what": e.what})
            continue
        if where is None:
            return None
        dep = {"at": where, "what": e.what}
        if e.kind == "input":
            t, shape, dtype = e.expected
            if t is not float and t is not np.ndarray and not (isinstance(t, type) and issubclass(t, np.generic)):
                return None
            dep["input"] = [t.__name__ if t in (float, np.ndarray) else np.dtype(t).str, list(shape),
                            None if dtype is None else np.dtype(dtype).str]
        elif e.kind == "equal":
            value = _encode(e.expected)
            if value is None:
                return None
            dep["equal"] = value
        elif e.kind == "identity":
            v = e.expected
            if type(v) is not types.FunctionType or is_library(v) or v.__globals__ is not g:
                return None  # an object, or a helper of another module: identity only
            try:
                dep["helper"] = hashlib.sha256(_function_text(v).encode()).hexdigest()
            except _NotExact:
                return None
            by_function[id(v)] = len(deps)
        else:
            return None
        deps.append(dep)
    for key, value in tr.library_reads.items():
        where = _root(key, g, cells)
        name = _library_name(value)
        if where is None or name is None:
            return None
        deps.append({"at": where, "library": name, "what": "a library object"})
    absent = sorted(n for n in _names(f.__code__, tr) if n not in g)
    deps.append({"absent": absent})  # names that resolved to builtins (or were never read)
    return deps


def _root(key, g, cells):
    """["global", name] or ["cell", i] for a read of ``f``'s globals or closure; else None."""
    if key[0] == "global" and key[1] == id(g):
        return ["global", key[2]]
    if key[0] == "cell" and key[1] in cells:
        return ["cell", cells[key[1]]]
    return None


def _names(code, tr) -> set:
    """Global names the user code of the trace may read: its own and nested code objects',
    and those of the helpers it ran."""
    codes = [code] + [e.owner.__code__ for e in tr.externals if e.kind == "identities" and e.owner is not None]
    names: set = set()
    while codes:
        c = codes.pop()
        names.update(c.co_names)
        codes += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    return names


_EQUAL = {bool: "bool", int: "int", str: "str", type(None): "none"}


def _encode(v):
    t = type(v)
    if t in _EQUAL:
        return [_EQUAL[t], v]
    if t is bytes:
        return ["bytes", v.hex()]
    if t is complex:
        return ["complex", [v.real.hex(), v.imag.hex()]]
    if isinstance(v, (np.integer, np.bool_)):
        return ["numpy", [v.dtype.str, v.item()]]
    return None


def _decode(spec):
    kind, v = spec
    if kind == "bytes":
        return bytes.fromhex(v)
    if kind == "complex":
        return complex(float.fromhex(v[0]), float.fromhex(v[1]))
    if kind == "numpy":
        return np.dtype(v[0]).type(v[1])
    return v


def _library_name(v):
    """["module", name] / ["object", module, qualname] of a library object, or None."""
    if isinstance(v, types.ModuleType):
        return ["module", v.__name__] if v.__name__.partition(".")[0] in LIBRARY_ROOTS else None
    module, qualname = getattr(v, "__module__", None), getattr(v, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and is_library(v):
        return ["object", module, qualname, type(v).__qualname__]
    return None


# -- using an entry -----------------------------------------------------------------------------

def lookup(g, key, args, kwargs, make_fill, name, on_due, early=None):
    """The Specialization stored under ``key`` if every dependency holds now, else None.

    ``make_fill(stub_trace)`` -> (fill, wrt_values) assembles results as the traced
    specialization would; ``on_due()`` is called once a served specialization has computed
    long enough for the compiled tier (which needs the graph: the caller traces again).
    ``early(spec, inputs)``, if given, is started in a background thread when the first call
    returns if a tier note says Numba won for this code before (``Served``)."""
    if key is None:
        return None
    hit = code_cache.load(key)
    if hit is None:
        return None
    try:
        entry = json.loads(hit[0])
        if entry.get("format") != FORMAT:
            return None
        for module, version in entry["versions"].items():
            if module not in sys.modules or getattr(sys.modules[module], "__version__", "?") != version:
                return None
        externals = _check(g.original, entry["deps"])
    except Exception:  # an entry of another shape: not ours to trust
        return None
    if externals is None:
        return None
    code = code_cache.load(entry["code"])
    if code is None:  # evicted: trace (and store both again)
        return None
    from . import structure
    from .backend.numpy_codegen import exec_source
    from .cache import Specialization
    from .trace import Trace, flatten_call

    try:
        fn = exec_source(*code, name=name)
        fn.code_key = entry["code"]
        allocator.tune_once()  # as compile_graph does: served code is compiled code too
        leaves, paths, _ = flatten_call(g.original, args, kwargs)
        stub = Trace(g.original, [], leaves, paths, [structure.is_differentiable(x) for x in leaves], [], None, None)
        fill, wrt_values = make_fill(stub)
    except Exception:  # e.g. wrt naming no float: the trace says so properly
        return None
    spec = Specialization(fn, fill, bool(entry["has_guards"]), None, None, [], externals=tuple(externals),
                          wrt_values=wrt_values)
    if g.mode is None and tiered_mod.enabled():
        spec.fn = Served(fn, spec, on_due, tiered_mod.LOOP_UPGRADE_AFTER_SECONDS if entry["loop"]
                         else tiered_mod.UPGRADE_AFTER_SECONDS,
                         early if early is not None and _numba_won(entry["code"]) else None)
    return spec


def _numba_won(code_key) -> bool:
    """Whether a tier note says Numba won for the graph of this code in an earlier process
    (one small file read)."""
    from .backend import tier_memory

    return tier_memory.enabled() and tier_memory.recall(tier_memory.code_note_key(code_key)) == \
        tiered_mod.SECOND_TIER


def _check(f, deps) -> list | None:
    """The Externals of the stored trace, fetched from this process, or None if one differs."""
    from .context import MISSING, External

    g, cells = f.__globals__, f.__closure__ or ()
    externals, helpers = [], {}
    for i, dep in enumerate(deps):
        if "absent" in dep:
            if any(n in g for n in dep["absent"]):
                return None
            continue
        if "function" in dep:
            fn = f if dep["function"] == "root" else helpers.get(dep["function"])
            if fn is None:
                return None
            e = External(lambda fn=fn: _function_state(fn), "identities", _function_state(fn), dep["what"])
            e.owner = fn
            externals.append(e)
            continue
        where, name = dep["at"]
        if where == "global":
            if name not in g:
                return None
            fetch = lambda g=g, n=name: g[n]  # noqa: E731
        elif where == "cell" and type(name) is int and name < len(cells):
            fetch = lambda c=cells[name]: c.cell_contents  # noqa: E731
        else:
            return None
        try:
            value = fetch()
        except ValueError:  # an empty cell
            return None
        if "library" in dep:
            if _library_name(value) != dep["library"]:
                return None
            continue
        if "helper" in dep:
            if (type(value) is not types.FunctionType or is_library(value) or value.__globals__ is not g
                    or hashlib.sha256(_function_text(value).encode()).hexdigest() != dep["helper"]):
                return None
            helpers[i] = value
            externals.append(External(fetch, "identity", value, dep["what"]))
            continue
        if "input" in dep:
            t, shape, dtype = dep["input"]
            t = {"float": float, "ndarray": np.ndarray}.get(t) or np.dtype(t).type
            e = External(fetch, "input", (t, tuple(shape), None if dtype is None else np.dtype(dtype)), dep["what"])
        elif "equal" in dep:
            e = External(fetch, "equal", _decode(dep["equal"]), dep["what"])
        else:
            return None
        if e.current() is MISSING:
            return None
        externals.append(e)
    return externals


def _function_state(func):
    """What an "identities" External of a function holds (as ``outside.read_function``)."""
    kw = func.__kwdefaults__
    return (func.__code__, func.__defaults__, kw, *(kw.values() if kw else ()))


_EARLY_LOCK = threading.Lock()


class Served:
    """The generated code of a specialization served from disk, measured as ``Tiered``
    measures the first tier: cheap calls stop being measured; once the calls have
    computed for the tier's threshold, ``on_due`` asks for a real trace (whose graph
    the compiled tier needs) and the code keeps serving until it is replaced.

    ``early`` (a tier note says Numba won for this code before): when the first call has
    returned, ``early(spec, inputs)`` runs in a background thread, traces for the graph
    and builds the Numba tier at once (its builds are on disk); ``on_due`` waits for it
    (``early_done``) and is asked only if it gave up."""

    def __init__(self, fn, spec, on_due, upgrade_after, early=None):
        self.first_tier, self.spec, self.on_due, self.upgrade_after = fn, spec, on_due, upgrade_after
        self.samples: list = []
        self.total = 0.0
        self.due = early is not None  # the early build decides first
        self.early = early
        self.thread = None

    def _start_early(self, args):
        with _EARLY_LOCK:  # one build, however many threads return from a call together
            if self.thread is not None:
                return
            self.thread = threading.Thread(target=self.early, args=(self.spec, args), daemon=True,
                                           name="pyautodiff-early-numba")
        self.thread.start()

    def early_done(self, upgraded: bool):
        """Called by ``early`` at its end: without an upgrade, the usual schedule resumes."""
        if not upgraded:
            self.due = False

    def __call__(self, *args):
        t0 = perf_counter()
        out = self.first_tier(*args)
        dt = perf_counter() - t0
        if self.early is not None and self.thread is None:  # after the first call: never on its time
            self._start_early(args)
        self.total += dt
        if len(self.samples) < tiered_mod.MEASURE_CALLS:
            self.samples.append(dt)
            if len(self.samples) == tiered_mod.MEASURE_CALLS and sorted(self.samples)[len(self.samples) // 2] \
                    < tiered_mod.MIN_SECONDS:
                self.spec.fn = self.first_tier  # as Tiered: cheap calls never upgrade
                return out
        if self.total >= self.upgrade_after and not self.due:
            self.due = True
            self.on_due(self.spec)
        return out


class WarningsSeen:
    """Counts the warnings shown while a trace is built (``with WarningsSeen() as seen``):
    such a trace is not stored, since a process served from disk would not show them.
    It wraps ``warnings.showwarning`` (which ``catch_warnings(record=True)`` and pytest
    route through too) and restores it after."""

    def __init__(self):
        self.count = 0

    def __enter__(self):
        import warnings

        self._shown = shown = warnings.showwarning

        def counting(*args, **kwargs):
            self.count += 1
            return shown(*args, **kwargs)

        warnings.showwarning = counting
        return self

    def __exit__(self, *exc):
        import warnings

        warnings.showwarning = self._shown
        return False
