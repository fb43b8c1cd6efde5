"""Rules for elementwise nodes and for ops that pass a value through.

An Elemwise renders its scalar op (see `scalar_rules`) on its inputs and
restores the broadcast shape when the expression does not reference every
input that sets a dimension (``fill(x, y)`` drops ``x``).  Views, copies,
guards and assertions pass their input on (``CheckAndRaise`` emits its test).

Example: ``Elemwise{exp}(x)`` becomes ``np.exp(x)``.
"""
from __future__ import annotations

import builtins

import numpy as np

from .expressions import P_ATOM, P_CMP, Expr, dtype_name, shape_tuple, strong
from .generator import static_shape
from .registry import op_rule


@op_rule("pytensor.tensor.elemwise.Elemwise")
def _rule_elemwise(g, node):
    op = node.op
    args = [g.elemwise_arg(v, i) for i, v in enumerate(node.inputs)]
    out_dtypes = [o.type.dtype for o in node.outputs]
    g.elemwise_shapes = [static_shape(v) for v in node.inputs]  # for the scalar rules (see CodeGen)
    g.elemwise_inputs = list(node.inputs)
    mark = g.checkpoint()
    outs = g.scalar(op.scalar_op, args, out_dtypes)
    plans = [_broadcast_plan(node, e) for e in outs]
    needed = {i for plan in plans if plan for i in plan if i is not None}
    if any(not (args[i].is_name or args[i].is_literal) for i in needed):
        # the shape sources are needed twice: name them, then render again
        g.restore(mark)
        args = [g.atom(a).replace(srcs=a.srcs) if i in needed else a
                for i, a in enumerate(args)]
        outs = g.scalar(op.scalar_op, args, out_dtypes)
    return [_broadcast(node, out, e, plan, args)
            for out, e, plan in zip(node.outputs, outs, plans)]


def _broadcast_plan(node, e: Expr):
    """An Elemwise output has the broadcast shape of *all* inputs, but its numpy
    expression only broadcasts the inputs it references (``fill(x, y)`` drops
    ``x``).  If some unreferenced input can set a dim, return for each output
    dim the input to take its length from (None: length 1); else None."""
    ndim = node.outputs[0].type.ndim
    if ndim == 0:
        return None
    shapes = [static_shape(v) for v in node.inputs]
    refs = sorted(e.srcs)
    plan, fix = [], not refs
    for d in range(ndim):
        covered = next((i for i in refs if shapes[i][d] != 1), None)
        forced = next((i for i in range(len(shapes)) if shapes[i][d] != 1), None)
        if covered is None and forced is not None:
            fix = True
        plan.append(covered if covered is not None else forced)
    return plan if fix else None


def _broadcast(node, out, e: Expr, plan, args) -> Expr:
    if plan is None:
        return e if out.type.ndim else e.replace(srcs=frozenset())
    dims = [f"{args[i].wrap(P_ATOM)}.shape[{d}]" if i is not None else "1"
            for d, i in enumerate(plan)]
    names = e.names.union(*[args[i].names for i in plan if i is not None])
    dt = out.type.dtype
    if not e.names:  # a constant, e.g. zeros_like(x): a new array
        kw = "" if np.dtype(dt) == np.float64 else f", dtype={dtype_name(dt)}"
        return Expr(f"np.full({shape_tuple(dims)}, {e.text}{kw})", names=names,
                     dtype=np.dtype(dt), fresh=True)
    val = strong(e, dt)
    return val.replace(text=f"np.broadcast_to({val.text}, {shape_tuple(dims)})", prec=P_ATOM,
                       names=names, fresh=False, srcs=frozenset())


@op_rule("pytensor.scalar.basic.ScalarOp")
def _rule_scalar_node(g, node):
    """A bare scalar op applied to ScalarType values (index arithmetic)."""
    args = [g.expr(v) for v in node.inputs]
    return g.scalar(node.op, args, [o.type.dtype for o in node.outputs])


@op_rule("pytensor.tensor.basic.ScalarFromTensor",
         "pytensor.tensor.basic.TensorFromScalar",
         "pytensor.tensor.shape.SpecifyShape",
         "pytensor.compile.ops.ViewOp",
         "pytensor.compile.ops.OutputGuard")
def _passthrough(g, node):
    var = node.inputs[0]
    e = g.expr(var)
    return [e.replace(fresh=e.fresh and g.uses[var] == 1)]


@op_rule("pytensor.compile.ops.DeepCopyOp")
def _rule_deep_copy(g, node):
    e = g.expr(node.inputs[0])
    if e.weak:
        return [e]
    return [e.replace(text=f"{e.wrap(P_ATOM)}.copy()", prec=P_ATOM, fresh=True)]


@op_rule("pyautodiff.backend.blas_layout.CContiguous")
def _rule_c_contiguous(g, node):
    e = g.expr(node.inputs[0])
    return [e.replace(text=f"np.ascontiguousarray({e.text})", prec=P_ATOM, fresh=False)]


@op_rule("pytensor.raise_op.CheckAndRaise")
def _rule_check_and_raise(g, node):
    op = node.op
    val, *conds = node.inputs
    cond_exprs = [g.expr(c) for c in conds]
    exc = op.exc_type
    exc_name = exc.__name__ if getattr(builtins, exc.__name__, None) is exc else \
        g.global_name(exc.__name__, exc)
    if len(cond_exprs) == 1:
        test = f"not {cond_exprs[0].text}"
    else:
        test = "not (" + " and ".join(c.wrap(P_CMP) for c in cond_exprs) + ")"
    names = frozenset().union(*[c.names for c in cond_exprs]) if cond_exprs else frozenset()
    if cond_exprs:
        g.emit(f"if {test}:\n    raise {exc_name}({op.msg!r})", (), names, effect=True)
    e = g.expr(val)
    return [e.replace(fresh=e.fresh and g.uses[val] == 1)]
