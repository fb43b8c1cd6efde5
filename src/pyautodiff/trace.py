"""Tracing: run the user's function in the emulator on concrete inputs.

``trace(f, *args, **kwargs)`` returns a ``Trace``: the PyTensor input
variables (one per array/float leaf of the arguments), the output variables
(one per traced leaf of the result), the guards the run depended on, and the
concrete result CPython would have produced.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> t = ad.trace(lambda x: np.sin(x).sum() if x[0] > 0 else 0.0, np.ones(3))
    >>> [g.kind for g in t.guards]
    ['bool']
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt

from . import (
    context,
    lowering,  # noqa: F401  (fills the registry, connects Traced)
    structure,
    writes,
)
from .errors import AutodiffError, UnsupportedError
from .traced import Traced, contains_traced, leaf_kind, unwrap
from .vm import rolling
from .vm.interpreter import Interpreter


@dataclass
class Trace:
    """What one run of the emulator produced (see module docstring)."""

    func: Any
    inputs: list  # PyTensor variables, one per argument leaf
    leaves: list  # the concrete argument leaves, same order
    paths: list  # readable names of the leaves ("W", "params['b']", ...)
    differentiable: list  # per leaf: may we differentiate w.r.t. it?
    outputs: list  # PyTensor variables of the traced result leaves
    template: structure.Template  # the result structure around them
    result: Any  # the concrete result, as CPython computed it
    guards: list = field(default_factory=list)
    seconds: float = 0.0
    externals: list = field(default_factory=list)  # context.External, read from outside the arguments
    loops_rolled: int = 0  # loops traced as one Scan (vm/rolling.py)
    effects: list = field(default_factory=list)  # writes.Effect: writes to the outside, replayed per call
    effect_outputs: list = field(default_factory=list)  # the traced values they write (extra outputs)
    external_keys: list = field(default_factory=list)  # the key of each external (how it was read)
    library_reads: dict = field(default_factory=dict)  # key -> library object read from outside (unguarded)
    wrote_outside: bool = False  # stored a global or an outside cell (done at trace time only)

    @property
    def all_inputs(self) -> list:
        """Graph inputs: the argument leaves, then the outside arrays and floats read."""
        return self.inputs + [e.box._sym for e in self.externals if e.kind == "input"]

    def dprint(self, optimized: bool = False, file=None):
        """Print the traced graph (PyTensor's debugprint)."""
        outs = self.outputs
        if optimized:
            from pytensor.graph.fg import FunctionGraph

            from .backend.rewrite import rewrite_graph

            fg = FunctionGraph(self.all_inputs, outs, clone=True)
            rewrite_graph(fg)
            outs = fg.outputs
        return pytensor.dprint(outs, file=file) if outs else None

    def n_nodes(self, optimized: bool = True) -> int:
        """Number of apply nodes of the graph, before or after PyTensor's rewrites."""
        from pytensor.graph.fg import FunctionGraph

        fg = FunctionGraph(self.all_inputs, self.outputs, clone=True)
        if optimized:
            from .backend.rewrite import rewrite_graph

            fg = rewrite_graph(fg)
        return len(fg.apply_nodes)


def _traced_value(leaf):
    """The concrete value of an argument during the trace: a read-only view of
    the caller's array (no copy; a write into it is refused, see
    ``Traced.check_writable``, and numpy refuses one we missed)."""
    if isinstance(leaf, float) or type(leaf) is complex:  # a Python complex stays weak, as numpy sees it
        return leaf
    if type(leaf) is np.ndarray:
        view = leaf.view()
        view.flags.writeable = False
        return view
    return np.array(leaf, copy=True)  # numpy scalars, lists...: small


def _input_var(leaf, name):
    if isinstance(leaf, float):
        return pt.tensor(dtype="float64", shape=(), name=name)
    arr = np.asarray(leaf)
    if arr.dtype.name not in _GRAPH_DTYPES:  # e.g. float128: PyTensor has no such type
        raise AutodiffError(f"argument {name!r} has dtype {arr.dtype}, which pyautodiff cannot trace; "
                            "use float64 or float32")
    return pt.tensor(dtype=arr.dtype.name, shape=arr.shape, name=name)


_GRAPH_DTYPES = frozenset({"float64", "float32", "float16", "int8", "int16", "int32", "int64", "uint8",
                           "uint16", "uint32", "uint64", "bool", "complex64", "complex128"})


def param_names(func, n_args):
    """Readable names of the first ``n_args`` positional parameters of ``func`` (``arg0``... where
    the signature does not say; ``args0``... for ``*args``).

    Example::

        param_names(lambda w, b: 0, 2)   # ["w", "b"]
    """
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return [f"arg{i}" for i in range(n_args)]
    names = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            names += [f"{p.name}{i}" for i in range(n_args - len(names))]
            break
    return (names + [f"arg{i}" for i in range(len(names), n_args)])[:n_args]


def flatten_call(func, args, kwargs):
    """Leaves, readable paths and the treedef (cache key) of a call's arguments."""
    leaves, paths = [], []
    names = param_names(func, len(args))
    key_args = tuple(structure.flatten(a, leaves, paths, n) for n, a in zip(names, args))
    key_kw = tuple((k, structure.flatten(v, leaves, paths, k)) for k, v in kwargs.items())
    return leaves, paths, (key_args, key_kw)


def trace(func, *args, _loop_limit: int = 100_000, **kwargs) -> Trace:
    """Run ``func(*args, **kwargs)`` in the emulator and return its ``Trace``.

    Example::

        t = ad.trace(f, 2.0, 5.0)
        t.dprint()
    """
    start = time.perf_counter()
    plain_loops = set()  # loops whose Python counters broke a probe: traced again without carrying them
    while True:
        try:
            return _trace_once(func, args, kwargs, _loop_limit, plain_loops, start)
        except rolling.CarryFailed as failed:
            if failed.loop in plain_loops:
                raise failed.__cause__ from None
            plain_loops.add(failed.loop)


def _trace_once(func, args, kwargs, _loop_limit, plain_loops, start) -> Trace:
    leaves, paths, _ = flatten_call(func, args, kwargs)
    inputs = [_input_var(leaf, _identifier(p)) for leaf, p in zip(leaves, paths)]
    boxes = [Traced(_traced_value(leaf), v) for leaf, v in zip(leaves, inputs)]
    it = iter(boxes)
    t_args = tuple(structure.rebuild(a, it) for a in args)
    t_kwargs = {k: structure.rebuild(v, it) for k, v in kwargs.items()}

    ctx = context.TraceContext(loop_limit=_loop_limit)
    ctx.plain_loops = plain_loops
    interp = Interpreter(ctx)
    ctx.emulator = interp
    ctx.readonly = {id(b): f"its argument '{p}'" for b, p in zip(boxes, paths)}
    ctx.root_values = {v: b.value for v, b in zip(inputs, boxes)}
    prev = context.activate(ctx)
    try:
        result = interp.call(func, t_args, t_kwargs)
        result = _resolve_result(ctx, result)
        holes: list = []
        template = structure.template_of(result, lambda x: type(x) is Traced, leaf_kind, holes)
        _check_no_leak(template)
        outputs = rolling.finish(ctx, [h.sym for h in holes])
        if ctx.substitutions and ctx.guards:
            for g, e in zip(ctx.guards, rolling.finish(ctx, [g.expr for g in ctx.guards])):
                g.expr = e
        effect_outputs = rolling.finish(ctx, writes.finish(ctx)) if ctx.effects else []
    except AutodiffError:
        raise
    except Exception as exc:  # the user's own error, as CPython raises it
        ctx.name_raise_site(exc)
        raise
    finally:
        context.activate(prev)
    concrete = unwrap(result)
    return Trace(func, inputs, leaves, paths, [structure.is_differentiable(l) for l in leaves],
                 outputs, template, concrete, ctx.guards, time.perf_counter() - start,
                 list(ctx.externals.values()), ctx.loops_rolled, ctx.effects, effect_outputs,
                 list(ctx.externals), ctx.library_reads, ctx.wrote_outside)


def _identifier(path: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in path).strip("_")
    while "__" in out:
        out = out.replace("__", "_")
    return out or "x"


def _resolve_result(ctx, x):
    t = type(x)
    if t is Traced or t is np.ndarray or t is float:
        return ctx.resolve(x)
    return structure.map_leaves(ctx.resolve, x)


def _check_no_leak(template):
    for slot in template.slots:
        if isinstance(slot, structure.Const) and holds_traced(slot.value):
            raise UnsupportedError(
                "the function returned a traced value inside an object pyautodiff cannot "
                f"look into ({type(slot.value).__name__}); return arrays, floats, or "
                "tuples/lists/dicts/dataclasses of them (or register its type with "
                "ad.register_pytree_node)")


def holds_traced(v) -> bool:
    """True if ``v`` holds a Traced (in a container, or as an attribute of an object)."""
    if contains_traced(v):
        return True
    d = getattr(v, "__dict__", None)
    return bool(d) and any(type(x) is Traced for x in d.values())


__all__ = ["Trace", "trace", "AutodiffError"]
