"""Rules for reductions and scans along axes: sums, argmax, cumulative ops, softmax.

Example: ``Sum{axis=(0,)}(x)`` becomes ``x.sum(axis=0)`` (with ``dtype=`` only
where numpy would accumulate in another dtype than PyTensor).
"""
from __future__ import annotations

import numpy as np

from . import dot_sum, short_axis
from .expressions import (
    P_ADD,
    P_ATOM,
    P_MUL,
    Expr,
    cast_expr,
    dtype_name,
    literal_expr,
    np_dtype,
    probe_dtype,
    strong,
)
from .registry import NoForm, op_rule


def _axis_text(axis) -> str:
    if axis is None:
        return ""
    axis = (axis,) if isinstance(axis, int) else tuple(axis)  # Softmax.axis: an int before PyTensor 3.0.1
    return f"axis={axis[0]}" if len(axis) == 1 else f"axis={axis}"


_REDUCE_METHODS = {"Add": "sum", "Mul": "prod", "Maximum": "max", "Minimum": "min",
                   "AND": "all", "OR": "any"}
_REDUCE_UFUNCS = {"XOR": "np.bitwise_xor", "Add": "np.add", "Mul": "np.multiply",
                  "Maximum": "np.maximum", "Minimum": "np.minimum", "AND": "np.bitwise_and",
                  "OR": "np.bitwise_or"}


@op_rule("pytensor.tensor.elemwise.CAReduce")
def _rule_careduce(g, node):
    op = node.op
    (x,) = node.inputs
    src = strong(g.expr(x), x.type.dtype)
    out_dt = np.dtype(node.outputs[0].type.dtype)
    scalar_name = type(op.scalar_op).__name__
    axis = op.axis
    if axis is not None and len(axis) == x.type.ndim:
        axis = None
    if axis is not None and len(axis) == 0:
        return [cast_expr(src.replace(fresh=False), out_dt)]
    acc = np.dtype(op.acc_dtype) if getattr(op, "acc_dtype", None) else out_dt
    if type(op).__name__ == "ProdWithoutZeros":
        src = g.atom(src)
        src = src.replace(text=f"np.where({src.text} == 0, 1, {src.text})", fresh=True)
    method = _REDUCE_METHODS.get(scalar_name)
    ufunc = _REDUCE_UFUNCS.get(scalar_name)
    if method is None and ufunc is None:
        raise NoForm(f"reduction with {op.scalar_op}")
    # numpy's result dtype without a dtype= argument (it does not depend on axis)
    probe_fmt = f"{{0}}.{method}()" if method else f"{ufunc}.reduce({{0}}, axis=None)"
    res_dt = probe_dtype(probe_fmt, [src])
    kwargs = [_axis_text(axis)] if axis is not None else []
    if scalar_name in ("Add", "Mul") and (res_dt is None or np_dtype(res_dt) != acc):
        kwargs.append(f"dtype={dtype_name(acc)}")  # accumulate like PyTensor
        res_dt = acc
    if res_dt is None:
        raise NoForm(f"reduction with {op.scalar_op} of {x.type.dtype}")
    if getattr(op, "initial", False) and hasattr(op, "initial_value"):
        kwargs.append(f"initial={literal_expr(op.initial_value(x.type.dtype), x.type.dtype).text}")
    fast = not g.readable  # speed-only helpers: not in export_source's code
    products = dot_sum.factors(g, x) if fast and scalar_name == "Add" and not kwargs and out_dt == np.float64 \
        else None
    if products is not None:  # (a * b).sum(): one pass, no product array
        helper = g.helper(dot_sum.HELPER_NAME, dot_sum.HELPER_SOURCE)
        return [Expr(f"{helper}({products[0].text}, {products[1].text})",
                     names=products[0].names | products[1].names, dtype=out_dt, fresh=True)]
    # numpy's per-row cost on a short last axis (only axis=: no dtype=, no initial=)
    plain = fast and axis is not None and len(kwargs) == 1 and np_dtype(res_dt) == np.dtype(x.type.dtype)
    ufunc_text = short_axis.ufunc_name(scalar_name)
    if plain and ufunc_text and short_axis.worth_it(x.type.shape, axis, x.type.dtype):
        helper = g.helper(short_axis.HELPER_NAME, short_axis.HELPER_SOURCE)
        text = f"{helper}({src.text}, {ufunc_text})"
    elif plain and scalar_name == "Add" and short_axis.leading_worth_it(x.type.shape, axis, x.type.dtype):
        helper = g.helper(short_axis.LEADING_HELPER_NAME, short_axis.LEADING_HELPER_SOURCE)
        text = f"{helper}({src.text})"
    elif method is not None:
        text = f"{src.wrap(P_ATOM)}.{method}({', '.join(kwargs)})"
    else:  # ufunc.reduce defaults to axis=0, so always spell the axis
        kwargs = kwargs if axis is not None else ["axis=None", *kwargs]
        text = f"{ufunc}.reduce({src.text}, {', '.join(kwargs)})"
    return [cast_expr(Expr(text, names=src.names, dtype=np_dtype(res_dt), fresh=True), out_dt)]


@op_rule("pytensor.tensor.math.Argmax")
def _rule_argmax(g, node):
    (x,) = node.inputs
    xe = strong(g.expr(x), x.type.dtype)
    axis = node.op.axis
    ndim = x.type.ndim
    if axis is None or len(axis) == ndim:
        text = f"np.argmax({xe.text})"
    elif len(axis) == 1:
        text = f"np.argmax({xe.text}, axis={axis[0]})"
    else:
        keep = [d for d in range(ndim) if d not in axis]
        xt = g.atom(xe.replace(text=f"{xe.wrap(P_ATOM)}.transpose({', '.join(map(str, keep + list(axis)))})"))
        shape = ", ".join(f"{xt.text}.shape[{i}]" for i in range(len(keep)))
        text = f"np.argmax({xt.text}.reshape({shape}, -1), axis=-1)"
        xe = xt
    return [cast_expr(Expr(text, names=xe.names, dtype=np.dtype("int64"), fresh=True), "int64")]


@op_rule("pytensor.tensor.extra_ops.CumOp")
def _rule_cumop(g, node):
    (x,) = node.inputs
    xe = strong(g.expr(x), x.type.dtype)
    fn = "np.cumsum" if node.op.mode == "add" else "np.cumprod"
    axis = node.op.axis
    text = f"{fn}({xe.text})" if axis is None else f"{fn}({xe.text}, axis={axis})"
    return [cast_expr(Expr(text, names=xe.names, dtype=probe_dtype(f"{fn}({{0}})", [xe]), fresh=True),
                  node.outputs[0].type.dtype)]


def _keepdims_kw(axis) -> str:
    return "keepdims=True" if axis is None else f"{_axis_text(axis)}, keepdims=True"


@op_rule("pytensor.tensor.special.Softmax")
def _rule_softmax(g, node):
    # same formula as PyTensor's Softmax inner graph
    (x,) = node.inputs
    xe = g.atom(strong(g.expr(x), x.type.dtype))
    kw = _keepdims_kw(node.op.axis)
    e = g.bind(Expr(f"np.exp({xe.text} - {xe.text}.max({kw}))", names=xe.names,
                     dtype=xe.dtype, fresh=True))
    return [Expr(f"{e.text} / {e.text}.sum({kw})", P_MUL, e.names, e.dtype, fresh=True)]


@op_rule("pytensor.tensor.special.LogSoftmax")
def _rule_log_softmax(g, node):
    (x,) = node.inputs
    xe = g.atom(strong(g.expr(x), x.type.dtype))
    kw = _keepdims_kw(node.op.axis)
    s = g.bind(Expr(f"{xe.text} - {xe.text}.max({kw})", P_ADD, xe.names, xe.dtype, fresh=True))
    return [Expr(f"{s.text} - np.log(np.exp({s.text}).sum({kw}))", P_ADD, s.names, s.dtype,
                  fresh=True)]


@op_rule("pyautodiff.backend.pairwise_sum.PairwiseSum")
def _rule_pairwise_sum(g, node):
    # only in graphs rewritten for Numba: a loop's body there (``scan_numba``) is this code,
    # jitted, where ``x.sum()`` would be Numba's own sum (one element after another)
    from ..pairwise_sum import CODE_HELPERS_NAME, CODE_HELPERS_SOURCE

    (x,) = node.inputs
    src = g.atom(strong(g.expr(x), x.type.dtype))
    helper = g.helper(CODE_HELPERS_NAME, CODE_HELPERS_SOURCE)
    g.globals_taken.update(("_pairwise_rows", "_pw_run", "_pw_block"))  # defined in the same text
    dtype = np.dtype(x.type.dtype)
    kept = [d for d in range(x.type.ndim) if d not in node.op.axis]
    if not kept:
        return [Expr(f"{helper}({src.text})", names=src.names, dtype=dtype, fresh=True)]
    outer = " * ".join(f"{src.text}.shape[{d}]" for d in kept)
    inner = " * ".join(f"{src.text}.shape[{d}]" for d in node.op.axis)
    shape = "".join(f"{src.text}.shape[{d}], " for d in kept)
    text = f"_pairwise_rows({src.text}, {outer}, {inner}).reshape(({shape}))"
    return [Expr(text, names=src.names, dtype=dtype, fresh=True)]
