"""Rules for the ops pyautodiff defines for numpy/scipy functions PyTensor lacks
(``lowering/host_ops.py``) and for PyTensor's 1-d convolution and unique: each is one numpy or
scipy call.

Example: ``ArgPartition{kth=(2,), axis=0}(x)`` becomes ``np.argpartition(x, (2,), axis=0)``, and
``ScipyValue{name="scipy.special.pdtrik"}(p, m)`` ``scipy.special.pdtrik(p, m)``.
"""
from __future__ import annotations

import numpy as np

from .expressions import Expr, apply_template, call_template, cast_expr, strong
from .registry import NoForm, op_rule, register_scalar_rule, scalar_rule
from .scalar_rules import scipy_rule

for _name, _nargs in (("Y0", 1), ("Y1", 1), ("Yn", 2), ("Yv", 2)):
    register_scalar_rule(f"pyautodiff.lowering.host_ops.{_name}", scipy_rule(_name.lower(), _nargs))


@scalar_rule("pyautodiff.lowering.host_ops.FMod")
def _rule_fmod(g, op, args, out_dtypes):
    return [apply_template(call_template("np.fmod", 2), args, out_dtypes[0])]


@op_rule("pyautodiff.lowering.host_ops.ArgPartition")
def _rule_argpartition(g, node):
    xe = strong(g.expr(node.inputs[0]), node.inputs[0].type.dtype)
    text = f"np.argpartition({xe.text}, {node.op.kth!r}, axis={node.op.axis})"
    return [cast_expr(Expr(text, names=xe.names, dtype=np.dtype(np.intp), fresh=True), node.outputs[0].type.dtype)]


@op_rule("pytensor.tensor.signal.conv.Convolve1d")
def _rule_convolve1d(g, node):
    a, v, full = (strong(g.expr(i), i.type.dtype) for i in node.inputs)
    text = f"np.convolve({a.text}, {v.text}, 'full' if {full.text} else 'valid')"
    return [cast_expr(Expr(text, names=a.names | v.names | full.names, dtype=None, fresh=True),
                  node.outputs[0].type.dtype)]


@op_rule("pytensor.tensor.extra_ops.Unique")
def _rule_unique(g, node):
    op = node.op
    if op.axis is not None:
        raise NoForm("np.unique along an axis")
    xe = strong(g.expr(node.inputs[0]), node.inputs[0].type.dtype)
    outs = [g.temp_name() for _ in node.outputs]
    lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
    flags = f"return_index={op.return_index}, return_inverse={op.return_inverse}, return_counts={op.return_counts}"
    g.emit(f"{lhs} = np.unique({xe.text}, {flags})", outs, xe.names)
    exprs = [Expr(outs[0], names={outs[0]}, dtype=xe.dtype)]
    for n, o in zip(outs[1:], node.outputs[1:]):  # indices, inverse (flat, as PyTensor's), counts
        exprs.append(cast_expr(Expr(f"np.ravel({n})", names={n}, dtype=np.dtype(np.intp), fresh=False), o.type.dtype))
    return exprs


@op_rule("pyautodiff.lowering.host_ops.ScipyValue")
def _rule_scipy_value(g, node):
    g.need(node.op.module, node.op.name)
    args = [strong(g.expr(i), i.type.dtype) for i in node.inputs]
    text = f"np.asarray({node.op.name}({', '.join(a.text for a in args)}), dtype=np.float64)"
    names = set().union(*(a.names for a in args))
    return [Expr(text, names=names, dtype=np.dtype(np.float64), fresh=True)]
