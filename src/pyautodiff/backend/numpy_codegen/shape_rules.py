"""Rules for ops that make, reshape or rearrange arrays without arithmetic.

Shapes (``Shape``, ``MakeVector``), allocation (``Alloc``: ``np.zeros``,
``np.full``...), ``Reshape``, ``DimShuffle`` (squeeze, transpose, new
axes), ``Join``/``Split``, ``ARange`` and ``Eye``.

Example: ``DimShuffle{order=[1, 0]}(x)`` becomes ``x.T``.
"""
from __future__ import annotations

import numpy as np

from .expressions import P_ATOM, Expr, dtype_name, literal_expr, shape_tuple, strong
from .registry import NoForm, op_rule


def _shape_arg(g, var) -> Expr:
    """A shape vector as something numpy accepts as a shape (a tuple if known)."""
    from pytensor.graph.basic import Constant
    from pytensor.tensor.basic import MakeVector
    from pytensor.tensor.shape import Shape

    if isinstance(var, Constant):
        return Expr(shape_tuple([str(int(s)) for s in np.asarray(var.data).ravel()]))
    owner = var.owner
    if owner is not None and isinstance(owner.op, MakeVector):
        items = [g.expr(v) for v in owner.inputs]
        return Expr(shape_tuple([i.text for i in items]),
                     names=frozenset().union(*[i.names for i in items]) if items else ())
    if owner is not None and isinstance(owner.op, Shape) and owner.inputs[0] in g.env:
        x = g.expr(owner.inputs[0])
        return Expr(f"{x.wrap(P_ATOM)}.shape" if not x.weak else "()", names=x.names)
    return g.expr(var)


def _dims_arg(g, vars_) -> Expr:
    items = [g.expr(v) for v in vars_]
    return Expr(shape_tuple([i.text for i in items]),
                 names=frozenset().union(*[i.names for i in items]) if items else ())


@op_rule("pytensor.tensor.shape.Shape")
def _rule_shape(g, node):
    x = g.expr(node.inputs[0])
    if x.weak:
        return [Expr("np.zeros(0, dtype=np.int64)", dtype=np.dtype("int64"), fresh=True)]
    return [Expr(f"np.array({x.wrap(P_ATOM)}.shape)", names=x.names, dtype=np.dtype("int64"),
                  fresh=True)]


@op_rule("pytensor.tensor.shape.Shape_i")
def _rule_shape_i(g, node):
    x = g.expr(node.inputs[0])
    # a Python int: numpy treats it as a weak int64
    return [Expr(f"{x.wrap(P_ATOM)}.shape[{node.op.i}]", names=x.names, dtype=int)]


@op_rule("pytensor.tensor.basic.MakeVector")
def _rule_make_vector(g, node):
    items = [g.expr(v) for v in node.inputs]
    dt = node.outputs[0].type.dtype
    names = frozenset().union(*[i.names for i in items]) if items else frozenset()
    text = f"np.array([{', '.join(i.text for i in items)}], dtype={dtype_name(dt)})"
    return [Expr(text, names=names, dtype=np.dtype(dt), fresh=True)]


@op_rule("pytensor.tensor.shape.Reshape")
def _rule_reshape(g, node):
    x, shp = node.inputs
    xe, se = g.expr(x), _shape_arg(g, shp)
    if xe.weak:
        xe = strong(xe, x.type.dtype)
    text = f"{xe.wrap(P_ATOM)}.reshape({se.text})"
    return [Expr(text, names=xe.names | se.names, dtype=xe.dtype)]


@op_rule("pytensor.tensor.elemwise.DimShuffle")
def _rule_dimshuffle(g, node):
    """Drop broadcastable dims (``squeeze``), transpose (``.T``/``transpose``),
    then add new axes by indexing with ``None``."""
    op = node.op
    x = g.expr(node.inputs[0])
    in_ndim = node.inputs[0].type.ndim
    order = list(op.new_order)
    if x.weak:
        xe = strong(x, node.inputs[0].type.dtype)
        if not order:
            return [xe]
        shape = shape_tuple(["1"] * len(order))
        return [xe.replace(text=f"np.reshape({xe.text}, {shape})", fresh=False)]
    kept = [d for d in order if d != "x"]
    dropped = [d for d in range(in_ndim) if d not in kept]
    cur = x.wrap(P_ATOM)
    if dropped:
        axes = dropped[0] if len(dropped) == 1 else tuple(dropped)
        cur = f"{cur}.squeeze({axes})"
    remaining = [d for d in range(in_ndim) if d not in dropped]
    perm = [remaining.index(d) for d in kept]
    if perm != sorted(perm):
        cur = f"{cur}.T" if len(perm) == 2 else f"{cur}.transpose({', '.join(map(str, perm))})"
    if "x" in order:
        items = ["None" if d == "x" else ":" for d in order]
        while items[-1] == ":":
            items.pop()
        cur = f"{cur}[{', '.join(items)}]"
    return [x.replace(text=cur, prec=P_ATOM, fresh=False)]


@op_rule("pytensor.tensor.basic.Alloc")
def _rule_alloc(g, node):
    from pytensor.graph.basic import Constant

    val, *shape = node.inputs
    out_dt = np.dtype(node.outputs[0].type.dtype)
    dims = _dims_arg(g, shape)
    dt_kw = "" if out_dt == np.float64 else f", dtype={dtype_name(out_dt)}"
    data = np.asarray(val.data) if isinstance(val, Constant) else None
    # one value, to the bit: np.full(n, -0.0) keeps the sign of its zeros
    if (data is not None and data.size > 0 and np.all(data == data.flat[0])
            and (data.dtype.kind != "f" or np.all(np.signbit(data) == np.signbit(data.flat[0])))):
        v = data.flat[0]
        if v == 0 and out_dt.kind != "c" and not (data.dtype.kind == "f" and np.signbit(v)):
            return [Expr(f"np.zeros({dims.text}{dt_kw})", names=dims.names, dtype=out_dt,
                          fresh=True)]
        if v == 1 and out_dt.kind != "c":
            return [Expr(f"np.ones({dims.text}{dt_kw})", names=dims.names, dtype=out_dt,
                          fresh=True)]
        lit = literal_expr(v, out_dt)
        return [Expr(f"np.full({dims.text}, {lit.text}{dt_kw})", names=dims.names,
                      dtype=out_dt, fresh=True)]
    ve = g.expr(val)
    kw = "" if (not ve.weak and ve.dtype == out_dt) else f", dtype={dtype_name(out_dt)}"
    return [Expr(f"np.full({dims.text}, {ve.text}{kw})", names=dims.names | ve.names,
                  dtype=out_dt, fresh=True)]


@op_rule("pytensor.tensor.basic.AllocEmpty")
def _rule_alloc_empty(g, node):
    out_dt = np.dtype(node.outputs[0].type.dtype)
    dims = _dims_arg(g, node.inputs)
    dt_kw = "" if out_dt == np.float64 else f", dtype={dtype_name(out_dt)}"
    return [Expr(f"np.empty({dims.text}{dt_kw})", names=dims.names, dtype=out_dt, fresh=True)]


def const_int(var):
    data = getattr(var, "data", None)
    if data is None:
        return None
    return int(np.asarray(data))


@op_rule("pytensor.tensor.basic.Join")
def _rule_join(g, node):
    op = node.op
    names = frozenset()
    if hasattr(op, "axis"):  # pytensor >= 3.3: the axis is a property
        axis, tensors = op.axis, node.inputs
    else:
        axis_var, *tensors = node.inputs
        axis = const_int(axis_var)
        if axis is None:
            ae = g.expr(axis_var)
            axis, names = ae.text, ae.names
    out_dt = np.dtype(node.outputs[0].type.dtype)
    items = [strong(g.expr(t), t.type.dtype) for t in tensors]
    names = names.union(*[i.names for i in items])
    kw = "" if all(i.dtype == out_dt for i in items) else f", dtype={dtype_name(out_dt)}"
    text = f"np.concatenate([{', '.join(i.text for i in items)}], axis={axis}{kw})"
    return [Expr(text, names=names, dtype=out_dt, fresh=True)]


@op_rule("pytensor.tensor.basic.Split")
def _rule_split(g, node):
    op = node.op
    if hasattr(op, "axis"):
        x, splits = node.inputs
        axis = op.axis
    else:
        x, axis_var, splits = node.inputs
        axis = const_int(axis_var)
        if axis is None:
            raise NoForm("symbolic split axis")
    xe = strong(g.expr(x), x.type.dtype)
    data = getattr(splits, "data", None)
    if data is not None:
        cuts = np.cumsum(np.asarray(data))[:-1].tolist()
        cut_text, names = repr(cuts), frozenset()
    else:
        se = g.atom(g.expr(splits))
        cut_text, names = f"np.cumsum({se.text}[:-1])", se.names
    outs = [g.temp_name() for _ in node.outputs]
    lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
    g.emit(f"{lhs} = np.split({xe.text}, {cut_text}, axis={axis})", outs, xe.names | names)
    return [Expr(n, names={n}, dtype=np.dtype(x.type.dtype)) for n in outs]


@op_rule("pytensor.tensor.basic.ARange")
def _rule_arange(g, node):
    start, stop, step = (g.expr(v) for v in node.inputs)
    out_dt = np.dtype(node.outputs[0].type.dtype)
    args = []
    if not (start.is_literal and start.value == 0 and step.is_literal and step.value == 1):
        args.append(start.text)
    args.append(stop.text)
    if not (step.is_literal and step.value == 1):
        args.append(step.text)
    all_int = all(e.dtype is int or (not e.weak and e.dtype == np.int64)
                  for e in (start, stop, step))
    if not (out_dt == np.int64 and all_int):
        args.append(f"dtype={dtype_name(out_dt)}")
    names = start.names | stop.names | step.names
    return [Expr(f"np.arange({', '.join(args)})", names=names, dtype=out_dt, fresh=True)]


@op_rule("pytensor.tensor.basic.Eye")
def _rule_eye(g, node):
    n, m, k = (g.expr(v) for v in node.inputs)
    out_dt = np.dtype(node.outputs[0].type.dtype)
    args = [n.text]
    if m.text != n.text or not (k.is_literal and k.value == 0):
        args.append(m.text)
    if not (k.is_literal and k.value == 0):
        args.append(f"k={k.text}")
    if out_dt != np.float64:
        args.append(f"dtype={dtype_name(out_dt)}")
    return [Expr(f"np.eye({', '.join(args)})", names=n.names | m.names | k.names,
                  dtype=out_dt, fresh=True)]


@op_rule("pytensor.tensor.reshape.JoinDims")
def _rule_join_dims(g, node):
    op = node.op
    xe = g.atom(strong(g.expr(node.inputs[0]), node.inputs[0].type.dtype))
    s, n = op.start_axis, op.n_axes
    text = (f"{xe.text}.reshape({xe.text}.shape[:{s}] + (-1,) + "
            f"{xe.text}.shape[{s + n}:])")
    return [xe.replace(text=text, fresh=False)]


@op_rule("pytensor.tensor.reshape.SplitDims")
def _rule_split_dims(g, node):
    x, shape = node.inputs
    xe = g.atom(strong(g.expr(x), x.type.dtype))
    se = _shape_arg(g, shape)
    a = node.op.axis
    stext = se.text if se.text.startswith("(") else f"tuple({se.text})"
    text = f"{xe.text}.reshape({xe.text}.shape[:{a}] + {stext} + {xe.text}.shape[{a + 1}:])"
    return [xe.replace(text=text, names=xe.names | se.names, fresh=False)]
