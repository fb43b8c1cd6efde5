"""Transformations of transformations: the inner one is traced through.

When the emulator meets a call of a ``Transformed`` (``ad.grad(f)`` as the
function of ``ad.jacobian``, or called inside a traced function), it does not
run the inner transformation's compiled code: it traces the inner original
function *inside the outer trace*, on fresh symbolic inputs that stand for the
call's argument leaves, applies the inner kind's builder from ``transforms``
to that graph, and then substitutes the outer values (or constants) for the
fresh inputs.  The result is a graph of a graph, which PyTensor differentiates
like any other, so ``ad.jacobian(ad.grad(f))`` is the Hessian and
``lambda x: ad.grad(f)(x) @ v`` a Hessian-vector product.

Fresh inputs (rather than differentiating with respect to the outer
variables directly) keep the inner derivative a partial one: a value the inner
function captures from the outer trace (a closure) is a constant for the inner
derivative and still differentiable for the outer one, as in JAX.

The concrete values of the inner results (the emulator needs them for the
outer function's own control flow) come from compiling the inner graph once
at trace time.  Guards and outside reads of the inner function are recorded in
the outer trace, so a cached outer call re-checks them.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> H = ad.jacobian(ad.grad(lambda x: np.sum(x ** 3)))(np.array([1.0, 2.0]))
    >>> H.tolist()
    [[6.0, 0.0], [0.0, 12.0]]
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from . import complex_kinds, structure, transforms
from .errors import AutodiffError
from .traced import Traced, leaf_kind, unwrap
from .vm import calls

try:  # PyTensor >= 3.2 moved the traversal helpers
    from pytensor.graph.traversal import graph_inputs
except ImportError:  # pragma: no cover - PyTensor 3.0
    from pytensor.graph.basic import graph_inputs
from pytensor.graph.basic import Constant
from pytensor.graph.replace import clone_replace


def call_inside(interp, g, args, kwargs):
    """Trace the transformation ``g`` called on ``args`` inside the active trace.

    Returns ``g``'s result with ``Traced`` leaves wherever it depends on the outer
    trace's inputs (or on outside values read by the inner function)."""
    import importlib

    trace_mod = importlib.import_module("pyautodiff.trace")  # (ad.trace, the function, shadows it)

    ctx = interp.ctx
    kind = g.kind
    if getattr(g, "has_aux", False) or getattr(g, "static", ()):
        raise ctx.unsupported(f"ad.{kind}(..., has_aux=/static=) cannot be traced through by another "
                              "transformation yet; call it outside traced code")
    direction = None
    if g._has_direction:
        if not args:
            raise AutodiffError(f"ad.{kind}: call as g(*args, v) with the direction last")
        args, direction = args[:-1], args[-1]

    # One fresh symbolic input per argument leaf; the outer value replaces it afterwards.
    c_args, c_kwargs = unwrap(args), unwrap(kwargs)
    leaves, paths, _ = trace_mod.flatten_call(g.original, c_args, c_kwargs)
    outer: list = []
    for a in args:
        _outer_leaves(a, outer, ctx)
    for v in kwargs.values():
        _outer_leaves(v, outer, ctx)
    if len(outer) != len(leaves):  # pragma: no cover - the walks mirror each other
        raise AutodiffError(f"ad.{kind}: cannot trace through this call's argument structure")
    fresh = [trace_mod._input_var(leaf, trace_mod._identifier(p)) for leaf, p in zip(leaves, paths)]
    boxes = [Traced(leaf if isinstance(leaf, float) else np.array(leaf, copy=True), v)
             for leaf, v in zip(leaves, fresh)]
    for b, p, v in zip(boxes, paths, fresh):
        ctx.readonly[id(b)] = f"its argument '{p}'"
        ctx.root_values[v] = b.value
        ctx.keepalive.append(b)
    it = iter(boxes)
    t_args = tuple(structure.rebuild(a, it) for a in c_args)
    t_kwargs = {k: structure.rebuild(v, it) for k, v in c_kwargs.items()}

    n_guards, n_effects = len(ctx.guards), len(ctx.effects)
    result = trace_mod._resolve_result(ctx, interp.call(g.original, t_args, t_kwargs))
    holes: list = []
    template = structure.template_of(result, lambda x: type(x) is Traced, leaf_kind, holes)
    trace_mod._check_no_leak(template)
    tr = trace_mod.Trace(g.original, fresh, leaves, paths, [structure.is_differentiable(l) for l in leaves],
                         [h.sym for h in holes], template, unwrap(result))

    wrt_idx, wrt_tree = g._wrt_leaves(tr, c_args, c_kwargs)
    req = transforms.Request(kind, tr.outputs, tr.result, [fresh[i] for i in wrt_idx],
                             [paths[i] for i in wrt_idx], getattr(g.original, "__name__", "f"),
                             g.holomorphic)
    outputs, extra = complex_kinds.build(req)
    replace = {v: _outer_var(o) for v, o in zip(fresh, outer)}
    d_outer: list = []
    if direction is not None:
        _outer_leaves(direction, d_outer, ctx)
        d_concrete: list = []
        structure.flatten(unwrap(direction), d_concrete)
        if len(d_outer) != len(extra):
            raise AutodiffError(f"ad.{kind}: the direction has {len(d_outer)} array(s); expected {len(extra)}")
        for var, o, value in zip(extra, d_outer, d_concrete):
            if len(np.shape(value)) != var.ndim or any(s is not None and s != n for n, s in
                                                       zip(np.shape(value), var.type.shape)):
                raise AutodiffError(f"ad.{kind}: direction of shape {np.shape(value)} does not match "
                                    f"{var.name or 'its target'} of shape {var.type.shape}")
            replace[var] = _outer_var(o)
            ctx.root_values[var] = np.asarray(value, dtype=var.dtype)

    values = _evaluate(ctx, outputs)
    guards = ctx.guards[n_guards:]
    written: list = []  # traced values the inner function wrote to the outside (writes.py)
    for e in ctx.effects[n_effects:]:
        _traced_in(e.value, written)
    exprs = [gd.expr for gd in guards] + [t.sym for t in written]
    substituted = clone_replace(list(outputs) + exprs, replace=replace) if replace else list(outputs) + exprs
    rest = substituted[len(outputs):]
    for gd, expr in zip(guards, rest):
        gd.expr = expr
    for t, var in zip(written, rest[len(guards):]):  # now in terms of the outer values
        t._sym, t._view = var, None
    boxed = [Traced(_as_value(val, out), var) for val, out, var in zip(values, outputs, substituted)]
    return _shape_result(g, kind, tr, wrt_tree, boxed)


def _outer_leaves(x, out, ctx):
    """The values at the leaf positions of ``structure.flatten`` (Traced kept as they are),
    in its order (optree's walk: a Traced is a leaf of it)."""
    items = [x] if type(x) is Traced else structure.tree_flatten(x)[0]
    for leaf in items:
        found: list = []
        structure.flatten(unwrap(leaf), found)
        if type(leaf) is Traced:
            if len(found) != 1:
                raise ctx.unsupported("a transformation called inside traced code received a traced "
                                      f"{type(leaf.value).__name__}; pass float arrays or floats")
            out.append(leaf)
        else:
            out.extend(found)


def _traced_in(x, out, depth=0):
    t = type(x)
    if t is Traced:
        if all(x is not y for y in out):
            out.append(x)
    elif depth < 8 and t in (list, tuple):
        for v in x:
            _traced_in(v, out, depth + 1)
    elif depth < 8 and t is dict:
        for v in x.values():
            _traced_in(v, out, depth + 1)


def _outer_var(o):
    if type(o) is Traced:
        return o.sym
    return pt.constant(np.asarray(o))


def _evaluate(ctx, outputs):
    """The concrete values of the inner graph's outputs, from its own compiled code."""
    from .backend.compile import compile_graph

    roots = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
    missing = [v for v in roots if v not in ctx.root_values]
    if missing:
        raise ctx.unsupported("cannot trace through this transformation: its graph depends on "
                              f"{missing[0].name or 'a value'} whose concrete value is unknown")
    fn, _ = compile_graph(roots, list(outputs), name="inner", fresh_outputs=True)
    args = [ctx.root_values[v] for v in roots]
    args = [np.float64(a) if type(a) is float else a for a in args]
    return list(fn(*args))


def _as_value(val, var):
    """A concrete output as the emulator's values are held (arrays, numpy scalars)."""
    arr = np.asarray(val, dtype=var.dtype)
    return arr if var.ndim else arr[()]


def _shape_result(g, kind, tr, wrt_tree, outs):
    """``g``'s result structure around the Traced outputs (as ``Transformed._filler``)."""
    tuple_wrt = isinstance(g.wrt, tuple)

    def fill(values):
        return tr.template.build(iter(values), lambda v: v)

    def shaped(flat):
        parts, pos = [], 0
        for value, ids in wrt_tree:
            parts.append(structure.rebuild(value, iter(flat[pos:pos + len(ids)])))
            pos += len(ids)
        return tuple(parts) if tuple_wrt else parts[0]

    def blocks(n_rows, n_cols, single):
        if single:
            return outs[0]
        return tuple(tuple(outs[i * n_cols + j] for j in range(n_cols)) for i in range(n_rows))

    n_out, n_in = len(tr.outputs), len(wrt_tree or ())
    shapes = {
        "function": lambda: fill(outs),
        "grad": lambda: shaped(outs),
        "hvp": lambda: shaped(outs),
        "value_and_grad": lambda: (fill(outs[:1]), shaped(outs[1:])),
        "hessian": lambda: blocks(len(outs) // max(n_in, 1), n_in, len(outs) == 1 and not tuple_wrt),
        "jacobian": lambda: blocks(n_out, n_in, n_out == 1 and n_in == 1 and not tuple_wrt),
        "jvp": lambda: (fill(outs[:n_out]), fill(outs[n_out:])),
        "vjp": lambda: (fill(outs[:n_out]), shaped(outs[n_out:])),
    }
    if kind not in shapes:
        raise AutodiffError(f"ad.{kind} cannot be traced through by another transformation")
    return shapes[kind]()


def register(callable_type, handler) -> None:
    """Make the emulator trace through calls of ``callable_type`` with ``handler(interp, fn,
    args, kwargs)``: api.py registers ``Transformed`` (``call_inside``), vmap.py ``Vmapped``
    (``call_vmapped``), each when it is imported (this module imports neither)."""
    calls.TRACED_THROUGH[callable_type] = handler


def call_vmapped(interp, v, args, kwargs):
    """``ad.vmap(g)`` called inside a trace: ``g`` traced through for each example, stacked.

    The outer graph then holds one copy of the inner graph per example (an unrolled map),
    so ``ad.grad(lambda w: np.sum(ad.vmap(loss_i)(w, X)))`` differentiates through it."""
    if kwargs:
        raise interp.ctx.unsupported("ad.vmap inside a traced function takes positional arguments only")
    axes = v._axes_of(args)
    moved, sizes = [], set()
    for a, ax in zip(args, axes):
        if ax is None:
            moved.append(None)
            continue
        leaves: list = []
        _outer_leaves(a, leaves, interp.ctx)
        if not leaves or any(np.ndim(unwrap(leaf)) == 0 for leaf in leaves):
            raise AutodiffError("ad.vmap: a mapped argument needs arrays of rank at least 1")
        leaves = [np.moveaxis(leaf, ax, 0) for leaf in leaves]
        sizes |= {np.shape(unwrap(leaf))[0] for leaf in leaves}
        moved.append(leaves)
    if len(sizes) != 1:
        raise AutodiffError(f"ad.vmap: the mapped axes have sizes {sorted(sizes)}; need one common size")
    (batch,) = sizes
    results = []
    for i in range(batch):
        ex = [a if m is None else _with_leaves(a, iter([leaf[i] for leaf in m])) for a, m in zip(args, moved)]
        results.append(call_inside(interp, v._inner, tuple(ex), {}))
    columns = []
    for r in results:
        leaves = []
        _outer_leaves(r, leaves, interp.ctx)
        columns.append(leaves)
    stacked = [np.stack([c[j] for c in columns]) for j in range(len(columns[0]))]
    out = _with_leaves(results[0], iter(stacked))
    spec = v.out_axes
    if spec == 0:
        return out
    if isinstance(spec, tuple) or spec is None:
        raise interp.ctx.unsupported("ad.vmap inside a traced function supports an int out_axes only")
    leaves = []
    _outer_leaves(out, leaves, interp.ctx)
    return _with_leaves(out, iter([np.moveaxis(leaf, 0, spec) for leaf in leaves]))


def _with_leaves(x, it):
    """``x`` with the values at its leaf positions (Traced ones too) replaced from ``it``."""
    import optree

    if type(x) is Traced:
        return next(it)
    items, spec = structure.tree_flatten(x)
    new = []
    for leaf in items:
        found: list = []
        structure.flatten(unwrap(leaf), found)
        new.append(next(it) if type(leaf) is Traced or len(found) == 1 else leaf)
    return optree.tree_unflatten(spec, new)
