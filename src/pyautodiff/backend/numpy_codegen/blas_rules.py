"""Rules for matrix products, including PyTensor's BLAS ops (Gemm, Gemv, Ger).

Example: ``Gemv(y, a, A, x, 0.0)`` becomes ``a * (A @ x)`` (BLAS semantics:
with ``beta == 0`` the old ``y`` is ignored).
"""
from __future__ import annotations

from .expressions import (
    P_ADD,
    P_MUL,
    Expr,
    apply_template,
    binop,
    call_template,
    strong,
    unop,
)
from .registry import op_rule


def matmul_expr(g, a_var, b_var, out_dt) -> Expr:
    a = strong(g.expr(a_var), a_var.type.dtype)
    b = strong(g.expr(b_var), b_var.type.dtype)
    e = apply_template(binop("@", P_MUL), [a, b], out_dt)
    return g.cse_lookup(e) or e  # e.g. a Gemm reusing a product computed by a Dot22


@op_rule("pytensor.tensor.math.Dot",
         "pytensor.tensor.blas.Dot22",
         "pytensor.tensor.blas.BatchedDot")
def _rule_dot(g, node):
    return [matmul_expr(g, *node.inputs, node.outputs[0].type.dtype)]


def _scaled(alpha: Expr, term: Expr, dtype) -> Expr:
    if alpha.is_literal and alpha.value == 1:
        return term
    if alpha.is_literal and alpha.value == -1:
        return apply_template(unop("-"), [term], dtype)
    return apply_template(binop("*", P_MUL), [alpha, term], dtype)


@op_rule("pytensor.tensor.blas.Dot22Scalar")
def _rule_dot22scalar(g, node):
    x, y, a = node.inputs
    dt = node.outputs[0].type.dtype
    return [_scaled(g.elemwise_arg(a, -1), matmul_expr(g, x, y, dt), dt)]


def _axpby(g, node, z_var, a_var, prod: Expr, b_var):
    """``b * z + a * prod`` with the usual simplifications; ``b == 0`` ignores z
    entirely (BLAS semantics: z may be uninitialized memory)."""
    dt = node.outputs[0].type.dtype
    a = g.elemwise_arg(a_var, -1)
    b = g.elemwise_arg(b_var, -1)
    term = _scaled(a, prod, dt)
    if b.is_literal and b.value == 0:
        return term
    z = _scaled(b, strong(g.expr(z_var), z_var.type.dtype), dt)
    return apply_template(binop("+", P_ADD), [z, term], dt)


@op_rule("pytensor.tensor.blas.Gemm")
def _rule_gemm(g, node):
    z, a, x, y, b = node.inputs
    return [_axpby(g, node, z, a, matmul_expr(g, x, y, node.outputs[0].type.dtype), b)]


@op_rule("pytensor.tensor.blas.Gemv")
def _rule_gemv(g, node):
    y, alpha, A, x, beta = node.inputs
    return [_axpby(g, node, y, alpha, matmul_expr(g, A, x, node.outputs[0].type.dtype), beta)]


@op_rule("pytensor.tensor.blas.Ger")
def _rule_ger(g, node):
    A, alpha, x, y = node.inputs
    dt = node.outputs[0].type.dtype
    xe, ye = (strong(g.expr(v), v.type.dtype) for v in (x, y))
    outer = apply_template(call_template("np.outer", 2), [xe, ye], dt)
    term = _scaled(g.elemwise_arg(alpha, -1), outer, dt)
    return [apply_template(binop("+", P_ADD), [strong(g.expr(A), A.type.dtype), term], dt)]
