"""Specializations and the cache that holds them.

A *specialization* is one compiled function for one argument structure and
one path through the code: its guards' outcomes.  The cache maps an argument
treedef to the specializations traced for it; a call tries them in order and
takes the first whose guards all hold.  The compiled function returns one
extra boolean output, "all guards hold", computed in the same graph.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .context import _MISSING

MISS = object()


@dataclass(slots=True)  # attribute reads on every call
class Specialization:
    fn: Callable  # compiled: input arrays -> output arrays (+ guard flag)
    fill: Callable  # output arrays -> the user's result structure
    has_guards: bool
    trace: Any  # the Trace it came from (for inspection and export)
    outputs: list  # the compiled output variables (for export)
    extra_inputs: list  # direction vectors etc. (for export)
    compile_seconds: float = 0.0
    externals: tuple = ()  # context.External: outside values re-read on every call
    wrt_values: tuple = ()  # the differentiated arguments as traced (their structure)
    tiering: Any = None  # backend.tiered.Tiered while the default mode may upgrade
    fast: Any = None  # fast_path(...) once built; False where none applies

    def run(self, inputs, direction=()):
        if self.externals:
            inputs = self.with_externals(inputs)
            if inputs is None:
                return MISS
        if direction:
            inputs = inputs + direction
        try:
            outs = self.fn(*inputs)
        except Exception:  # e.g. a shape assertion for inputs of another path
            return MISS
        if self.has_guards:
            if not outs[-1]:
                return MISS
            outs = outs[:-1]
        return self.fill(outs)


    def with_externals(self, inputs, as_traced=False):
        """``inputs`` plus the outside values the trace read, or None if one changed kind.

        ``as_traced``: use the values the trace itself read (the call that traced
        must not draw its random numbers twice)."""
        inputs = list(inputs)
        for e in self.externals:
            v = e.box.value if (as_traced and e.kind == "input") else e.current()
            if v is _MISSING:
                return None
            if e.kind == "input":
                v = np.float64(v) if type(v) is float else np.asarray(v)
                inputs.append(v if v.dtype.isnative else v.astype(v.dtype.newbyteorder("=")))
        return inputs


_FAST_PATH_MAX_ARGS = 16


def fast_path(args, spec):
    """A generated entry that serves ``spec`` for calls like ``args``, or False.

    Only for positional Python floats and numeric arrays and a specialization
    without outside values: it checks each argument's type (an array's shape
    and dtype object too) inline, converts the floats, runs and fills, and
    returns ``MISS`` for anything else (the general path then decides).  It
    saves building and looking up the key tuple and two Python calls, about
    1 us, which is a sixth of a 6 us kernel.

    Example::

        fast = fast_path((2.0, x), spec)
        out = fast((2.0, x))      # spec.run on the converted inputs; MISS for other kinds
    """
    if spec.externals or not 0 < len(args) <= _FAST_PATH_MAX_ARGS:
        return False
    env = {"ndarray": np.ndarray, "f64": np.float64, "spec": spec, "fill": spec.fill, "MISS": MISS}
    checks, converted = [f"len(args) == {len(args)}"], []
    for i, a in enumerate(args):
        if type(a) is float:
            checks.append(f"type(args[{i}]) is float")
            converted.append(f"f64(args[{i}])")
        elif type(a) is np.ndarray and a.dtype.kind in "biufc":
            # the native dtype: raw memory of the other byte order must take the
            # general path, which converts it
            env[f"shape{i}"] = a.shape
            env[f"dtype{i}"] = a.dtype if a.dtype.isnative else np.dtype(a.dtype.char)
            checks.append(f"type(args[{i}]) is ndarray and args[{i}].shape == shape{i} "
                          f"and args[{i}].dtype is dtype{i}")
            converted.append(f"args[{i}]")
        else:
            return False
    guard = ("    if not outs[-1]:\n        return MISS\n    outs = outs[:-1]\n"
             if spec.has_guards else "")
    source = ("def fast(args):\n"
              f"    if not ({' and '.join(checks)}):\n"
              "        return MISS\n"
              "    try:\n"
              f"        outs = spec.fn({', '.join(converted)})\n"
              "    except Exception:  # e.g. a shape assertion of another path\n"
              "        return MISS\n"
              f"{guard}"
              "    return fill(outs)\n")
    exec(source, env)
    return env["fast"]


@dataclass
class Stats:
    """Counters of a transformed function (``g.stats``)."""

    calls: int = 0
    traces: int = 0
    cache_hits: int = 0
    guard_failures: int = 0
    specializations: int = 0
    verifications: int = 0
    upgrades: int = 0  # specializations switched to the compiled tier
    loops_rolled: int = 0  # loops of the last trace that became one Scan (vm/rolling.py)
    last_trace_seconds: float = 0.0
    last_compile_seconds: float = 0.0

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" if not isinstance(v, float) else f"{k}={v:.4g}"
                           for k, v in self.__dict__.items())
        return f"Stats({fields})"


DEFAULT_SIZE = 8  # like TorchDynamo's cache_size_limit


def size_limit(cache_size=None) -> int:
    """``cache_size``, else ``PYAUTODIFF_CACHE_SIZE``, else 8; checked."""
    from .errors import AutodiffError

    source = "cache_size"
    if cache_size is None:
        env = os.environ.get("PYAUTODIFF_CACHE_SIZE", "").strip()
        source, cache_size = "PYAUTODIFF_CACHE_SIZE", env or DEFAULT_SIZE
        try:
            cache_size = int(cache_size)
        except ValueError:
            raise AutodiffError(f"PYAUTODIFF_CACHE_SIZE={env!r}: expected a positive integer") from None
    if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
        raise AutodiffError(f"{source}={cache_size!r}: expected a positive integer (specializations kept)")
    return cache_size


@dataclass
class Cache:
    """The specializations of one transformed function, at most ``limit`` of them.

    ``entries`` (treedef -> [Specialization]) is read without a lock on every
    call, so it is changed copy-on-write: a reader iterates a list nobody
    changes.  ``add`` runs under ``concurrency.BUILD_LOCK``; recency is
    refreshed on every hit of the general path (the fast path only ever
    serves the specialization the general path served last)."""

    entries: dict = field(default_factory=dict)  # treedef -> [Specialization]
    limit: int = DEFAULT_SIZE
    order: OrderedDict = field(default_factory=OrderedDict)  # id(spec) -> (key, spec, label), oldest first
    warned: bool = False

    def add(self, key, spec: Specialization, label=None):
        """Store ``spec`` (``label``: its positional arguments' key, for messages);
        returns the evicted ``(key, spec, label)`` if the cache was full, else None."""
        self.entries[key] = self.entries.get(key, []) + [spec]
        self.order[id(spec)] = (key, spec, label)
        if len(self.order) <= self.limit:
            return None
        _, evicted = self.order.popitem(last=False)
        old_key, old = evicted[0], evicted[1]
        rest = [s for s in self.entries[old_key] if s is not old]
        if rest:
            self.entries[old_key] = rest
        else:
            del self.entries[old_key]
        return evicted

    def touch(self, spec: Specialization) -> None:
        try:
            self.order.move_to_end(id(spec))
        except KeyError:  # evicted meanwhile by another thread
            pass

    def __len__(self):
        return len(self.order)


def churn_message(fname, new, old, names, limit) -> str:
    """The warning for an eviction: which argument keeps changing, and how.

    ``new``/``old``: ``(key, label)`` of the added and the evicted specialization."""
    what = _difference(new, old, names)
    return (f"pyautodiff: {fname} needed more than {limit} specializations; {what}, and each new one is traced "
            f"and compiled again. The least recently used one was dropped (cache_size={limit}; raise it with "
            "cache_size= or PYAUTODIFF_CACHE_SIZE, or pass a value that changes as a float or an array)")


def _difference(new, old, names) -> str:
    (new_key, pos_new), (old_key, pos_old) = new, old
    if new_key == old_key:
        return "a value-dependent branch (a guard) keeps taking the other way"
    if pos_new == pos_old:
        return "a keyword argument or the direction keeps changing"
    if len(pos_new) == len(pos_old):
        for i, (a, b) in enumerate(zip(pos_new, pos_old)):
            if a != b:
                name = names[i] if i < len(names) else str(i)
                return f"argument {name!r} keeps changing its {_how(b, a)}"
    return "the number of arguments keeps changing"


def _how(old, new) -> str:
    if _is_array(old) and _is_array(new):
        if old[1] != new[1]:
            return f"shape ({old[1]} then {new[1]})"
        return f"dtype ({np.dtype(old[2])} then {np.dtype(new[2])})"
    if _is_static(old) and _is_static(new):
        return f"static value ({old[1]!r} then {new[1]!r})"
    return "structure, shapes or static values"


def _is_array(part) -> bool:
    return isinstance(part, tuple) and len(part) == 3 and part[0] == "a"


def _is_static(part) -> bool:
    return isinstance(part, tuple) and len(part) == 2 and isinstance(part[0], type) and part[0] not in (tuple, list)
