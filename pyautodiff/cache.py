"""Specializations and the cache that holds them.

A *specialization* is one compiled function for one argument structure and
one path through the code: its guards' outcomes.  The cache maps an argument
treedef to the specializations traced for it; a call tries them in order and
takes the first whose guards all hold.  The compiled function returns one
extra boolean output, "all guards hold", computed in the same graph.
"""
from __future__ import annotations

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
                inputs.append(v if type(v) is np.ndarray else (np.float64(v) if type(v) is float else np.asarray(v)))
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
            env[f"shape{i}"], env[f"dtype{i}"] = a.shape, a.dtype
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
    # the last first call's phases: trace, differentiate, rewrite, generate (see progress)
    last_phase_seconds: dict = field(default_factory=dict)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" if not isinstance(v, float) else f"{k}={v:.4g}"
                           for k, v in self.__dict__.items())
        return f"Stats({fields})"


@dataclass
class Cache:
    entries: dict = field(default_factory=dict)  # treedef -> [Specialization]

    def add(self, key, spec: Specialization) -> None:
        self.entries.setdefault(key, []).append(spec)

    def __len__(self):
        return sum(len(v) for v in self.entries.values())
