"""Rules for indexing, sorting and searching: (Inc)Subtensor, sort, searchsorted...

Indexed updates write into a buffer the generated code owns (``g.writable``):
``buf[i] += y``, or ``np.add.at`` where repeated indices must accumulate.

Example: ``Subtensor{1:}(x)`` becomes ``x[1:]``.
"""
from __future__ import annotations

import numpy as np

from .expressions import P_ATOM, Expr, cast_expr, shape_tuple, strong
from .registry import NoForm, op_rule
from .shape_rules import const_int


def _index_tuple(g, node, idx_vars, idx_list, for_call=False):
    """Render the index of a (Inc)Subtensor: ``1:, i`` (or a tuple expression
    with ``slice(...)`` objects when ``for_call``)."""
    from pytensor.graph.basic import Constant

    items, names = [], set()

    def piece(var):
        if var is None:
            return None
        if isinstance(var, Constant) and getattr(var, "data", None) is None:
            return None
        e = g.expr(var)
        names.update(e.names)
        return e.text

    for entry in idx_list:
        if isinstance(entry, slice):
            start, stop, step = (piece(idx_vars[p]) if isinstance(p, int) else None
                                 for p in (entry.start, entry.stop, entry.step))
            if for_call:
                items.append(f"slice({start}, {stop}, {step})" if step is not None else
                             f"slice({start}, {stop})")
            else:
                s = f"{start or ''}:{stop or ''}"
                if step is not None:
                    s += f":{step}"
                items.append(s)
        else:
            items.append(piece(idx_vars[entry]))
    if for_call:
        return (items[0] if len(items) == 1 else shape_tuple(items)), names
    return (", ".join(items) if items else "()"), names


def _idx_list(op, n_idx):
    idx_list = getattr(op, "idx_list", None)
    if idx_list is None:  # AdvancedSubtensor1 / AdvancedIncSubtensor1
        idx_list = tuple(range(n_idx))
    return idx_list


@op_rule("pytensor.tensor.subtensor.Subtensor",
         "pytensor.tensor.subtensor.AdvancedSubtensor",
         "pytensor.tensor.subtensor.AdvancedSubtensor1")
def _rule_subtensor(g, node):
    x, *idx = node.inputs
    xe = strong(g.expr(x), x.type.dtype)
    index, names = _index_tuple(g, node, idx, _idx_list(node.op, len(idx)))
    advanced = any(getattr(v.type, "ndim", 0) > 0 for v in idx)
    return [Expr(f"{xe.wrap(P_ATOM)}[{index}]", names=xe.names | names,
                  dtype=np.dtype(x.type.dtype), fresh=advanced)]


def _unique_rows(idx_vars) -> bool:
    """True if the advanced indices provably select distinct positions: boolean
    masks, or 1-d indices one of which is an ``arange`` or a constant without
    repeats."""
    from pytensor.graph.basic import Constant
    from pytensor.tensor.basic import ARange

    arrays = [v for v in idx_vars if getattr(v.type, "ndim", 0) > 0]
    if arrays and all(v.type.dtype == "bool" for v in arrays):
        return True  # boolean masks select each position at most once
    if not arrays or any(v.type.ndim != 1 for v in arrays):
        return False
    for v in arrays:
        # Distinct values are distinct positions only without mixed signs: with
        # length 2, -1 and 1 name the same element.
        if isinstance(v, Constant) and len(np.unique(v.data)) == len(v.data) and \
                (np.all(v.data >= 0) or np.all(v.data < 0)):
            return True
        if v.owner is not None and isinstance(v.owner.op, ARange):
            start, step = (getattr(i, "data", None) for i in (v.owner.inputs[0], v.owner.inputs[2]))
            if start is not None and step is not None and np.all(np.asarray(start) >= 0) \
                    and np.all(np.asarray(step) > 0):
                return True
    return False


@op_rule("pytensor.tensor.subtensor.IncSubtensor",
         "pytensor.tensor.subtensor.AdvancedIncSubtensor",
         "pytensor.tensor.subtensor.AdvancedIncSubtensor1")
def _rule_inc_subtensor(g, node):
    op = node.op
    x, y, *idx = node.inputs
    out = node.outputs[0]
    idx_list = _idx_list(op, len(idx))
    advanced = any(getattr(v.type, "ndim", 0) > 0 for v in idx)
    ye = g.expr(y)
    buf = g.writable(x, g.expr(x), out)
    index, names = _index_tuple(g, node, idx, idx_list)
    uses = buf.names | ye.names | names
    if op.set_instead_of_inc:
        g.emit(f"{buf.text}[{index}] = {ye.text}", {buf.text}, uses)
    elif not advanced or getattr(op, "ignore_duplicates", False) or _unique_rows(idx):
        g.emit(f"{buf.text}[{index}] += {ye.text}", {buf.text}, uses)
    else:
        # repeated indices accumulate, exactly like PyTensor
        cidx, _ = _index_tuple(g, node, idx, idx_list, for_call=True)
        g.emit(f"np.add.at({buf.text}, {cidx}, {ye.text})", {buf.text}, uses)
    return [buf.replace(fresh=True)]


@op_rule("pytensor.tensor.extra_ops.Repeat")
def _rule_repeat(g, node):
    x, reps = node.inputs
    xe, re_ = strong(g.expr(x), x.type.dtype), g.expr(reps)
    text = f"np.repeat({xe.text}, {re_.text}, axis={node.op.axis})"
    return [Expr(text, names=xe.names | re_.names, dtype=xe.dtype, fresh=True)]


def _sort_axis(g, node):
    if hasattr(node.op, "axis"):
        return node.op.axis, node.inputs[0]
    x, axis_var = node.inputs
    if getattr(axis_var, "data", 0) is None:
        return None, x
    ax = const_int(axis_var)
    if ax is None:
        raise NoForm("symbolic sort axis")
    return ax, x


@op_rule("pytensor.tensor.sort.SortOp")
def _rule_sort(g, node, fn="np.sort"):
    axis, x = _sort_axis(g, node)
    xe = strong(g.expr(x), x.type.dtype)
    kind = node.op.kind
    args = [xe.text, f"axis={axis}"]
    if kind != "quicksort":
        args.append(f"kind={kind!r}")
    return [cast_expr(Expr(f"{fn}({', '.join(args)})", names=xe.names,
                        dtype=xe.dtype if fn == "np.sort" else np.dtype(np.intp), fresh=True),
                  node.outputs[0].type.dtype)]


@op_rule("pytensor.tensor.sort.ArgSortOp")
def _rule_argsort(g, node):
    return _rule_sort(g, node, "np.argsort")


@op_rule("pytensor.tensor.basic.ExtractDiag")
def _rule_extract_diag(g, node):
    op = node.op
    xe = strong(g.expr(node.inputs[0]), node.inputs[0].type.dtype)
    args = [xe.text]
    if (op.offset, op.axis1, op.axis2) != (0, 0, 1):
        args += [str(op.offset), str(op.axis1), str(op.axis2)]
    # np.diagonal returns a read-only view
    return [Expr(f"np.diagonal({', '.join(args)})", names=xe.names, dtype=xe.dtype)]


@op_rule("pytensor.tensor.basic.Nonzero")
def _rule_nonzero(g, node):
    xe = strong(g.expr(node.inputs[0]), node.inputs[0].type.dtype)
    outs = [g.temp_name() for _ in node.outputs]
    lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
    g.emit(f"{lhs} = np.nonzero({xe.text})", outs, xe.names)
    return [Expr(n, names={n}, dtype=np.dtype(np.intp)) for n in outs]


@op_rule("pytensor.tensor.extra_ops.SearchsortedOp")
def _rule_searchsorted(g, node):
    args = [strong(g.expr(v), v.type.dtype) for v in node.inputs]
    text = f"np.searchsorted({args[0].text}, {args[1].text}, side={node.op.side!r}"
    if len(args) == 3:
        text += f", sorter={args[2].text}"
    names = frozenset().union(*[a.names for a in args])
    return [cast_expr(Expr(text + ")", names=names, dtype=np.dtype(np.intp), fresh=True),
                  node.outputs[0].type.dtype)]
