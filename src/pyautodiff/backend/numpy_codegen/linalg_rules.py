"""Rules for linear-algebra ops (numpy.linalg and scipy.linalg calls).

Outputs are cast to PyTensor's dtypes after the call, since LAPACK's result
dtype is not tracked.  The rules read the op's parameters through `_core_op`
so they also serve Blockwise nodes whose numpy function broadcasts itself.

Example: ``MatrixInverse(a)`` becomes ``np.linalg.inv(a)``.
"""
from __future__ import annotations

import numpy as np

from .expressions import P_ATOM, Expr, cast_expr, dtype_name, strong
from .linalg_helpers import (
    CHOLESKY_HELPER,
    PIVOTS_HELPER,
    SOLVE_HELPER,
    SOLVE_TRI_HELPER,
)
from .registry import NoForm, op_rule


def _core_op(node):
    """The op whose parameters a linalg rule reads (also for Blockwise nodes)."""
    return getattr(node.op, "core_op", node.op)


def _linalg_call(g, node, call: str):
    """Emit ``call`` (with ``{0}``... for the inputs) and cast the outputs to
    PyTensor's dtypes."""
    args = [strong(g.expr(v), v.type.dtype) for v in node.inputs]
    names = frozenset().union(*[a.names for a in args]) if args else frozenset()
    text = call.format(*[a.text for a in args])
    outs = node.outputs
    if len(outs) == 1:
        e = Expr(text, names=names, dtype=None, fresh=True)
        return [_cast_unknown(e, outs[0].type.dtype)]
    tmp = [g.temp_name() for _ in outs]
    g.emit(f"{', '.join(tmp)} = {text}", tmp, names)
    return [_cast_unknown(Expr(n, names={n}), o.type.dtype) for n, o in zip(tmp, outs)]


def _cast_unknown(e: Expr, dtype) -> Expr:
    """Cast a value whose numpy dtype we did not track (``copy=False``: a no-op
    when it already has the right dtype)."""
    if e.dtype is not None:
        return cast_expr(e, dtype)
    return e.replace(text=f"{e.wrap(P_ATOM)}.astype({dtype_name(dtype)}, copy=False)",
                     prec=P_ATOM, dtype=np.dtype(dtype))


@op_rule("pytensor.tensor.nlinalg.MatrixInverse")
def _rule_inv(g, node):
    return _linalg_call(g, node, "np.linalg.inv({0})")


@op_rule("pytensor.tensor.nlinalg.Det")
def _rule_det(g, node):
    return _linalg_call(g, node, "np.linalg.det({0})")


@op_rule("pytensor.tensor.nlinalg.SLogDet")
def _rule_slogdet(g, node):
    return _linalg_call(g, node, "np.linalg.slogdet({0})")


@op_rule("pytensor.tensor.nlinalg.Eig")
def _rule_eig(g, node):
    return _linalg_call(g, node, "np.linalg.eig({0})")


@op_rule("pytensor.tensor.nlinalg.Eigh")
def _rule_eigh(g, node):
    op = _core_op(node)
    g.need("scipy.linalg")
    extra = f", lower={op.lower}"
    if len(node.inputs) == 1:
        driver = getattr(op, "driver", None)
        if driver:
            extra += f", driver={driver!r}"
        return _linalg_call(g, node, "scipy.linalg.eigh({0}" + extra + ")")
    return _linalg_call(g, node, "scipy.linalg.eigh({0}, {1}" + extra + ")")


@op_rule("pytensor.tensor.slinalg.Eigvalsh")
def _rule_eigvalsh(g, node):
    g.need("scipy.linalg")
    extra = f", lower={_core_op(node).lower}"
    if len(node.inputs) == 1:
        return _linalg_call(g, node, "scipy.linalg.eigvalsh({0}" + extra + ")")
    return _linalg_call(g, node, "scipy.linalg.eigvalsh({0}, {1}" + extra + ")")


@op_rule("pytensor.tensor.nlinalg.SVD")
def _rule_svd(g, node):
    op = _core_op(node)
    return _linalg_call(g, node, f"np.linalg.svd({{0}}, full_matrices={op.full_matrices}, "
                                 f"compute_uv={op.compute_uv})")


@op_rule("pytensor.tensor.nlinalg.QR", "pytensor.tensor.slinalg.QR")
def _rule_qr(g, node):
    op = _core_op(node)
    if op.mode == "raw":
        raise NoForm("QR mode='raw'")
    g.need("scipy.linalg")
    piv = ", pivoting=True" if op.pivoting else ""
    first = "[0]" if op.mode == "r" and not op.pivoting else ""  # scipy returns (R,) for mode="r"
    return _linalg_call(g, node, f"scipy.linalg.qr({{0}}, mode={op.mode!r}{piv}){first}")


@op_rule("pytensor.tensor.slinalg.Cholesky")
def _rule_cholesky(g, node):
    g.need("scipy.linalg")
    g.helper("cholesky", CHOLESKY_HELPER)
    return _linalg_call(g, node, f"cholesky({{0}}, lower={_core_op(node).lower})")


@op_rule("pytensor.tensor.slinalg.Solve")
def _rule_solve(g, node):
    op = _core_op(node)
    if op.assume_a not in ("gen", "sym", "her", "pos"):
        raise NoForm(f"Solve assume_a={op.assume_a}")
    g.need("scipy.linalg")
    g.helper("solve", SOLVE_HELPER)
    args = "{0}, {1}"
    if op.assume_a != "gen":
        args += f", assume_a={op.assume_a!r}"
    if op.lower:
        args += ", lower=True"
    return _linalg_call(g, node, f"solve({args})")


@op_rule("pytensor.tensor.slinalg.SolveTriangular")
def _rule_solve_triangular(g, node):
    op = _core_op(node)
    g.need("scipy.linalg")
    g.helper("solve_triangular", SOLVE_TRI_HELPER)
    args = "{0}, {1}" + f", lower={op.lower}"
    if op.unit_diagonal:
        args += ", unit_diagonal=True"
    return _linalg_call(g, node, f"solve_triangular({args})")


@op_rule("pytensor.tensor.slinalg.CholeskySolve")
def _rule_cholesky_solve(g, node):
    g.need("scipy.linalg")
    return _linalg_call(g, node, f"scipy.linalg.cho_solve(({{0}}, {_core_op(node).lower}), {{1}}, "
                                 f"check_finite=False)")


@op_rule("pytensor.tensor.nlinalg.MatrixPinv")
def _rule_pinv(g, node):
    herm = ", hermitian=True" if _core_op(node).hermitian else ""
    return _linalg_call(g, node, f"np.linalg.pinv({{0}}{herm})")


@op_rule("pytensor.tensor.slinalg.LUFactor")
def _rule_lu_factor(g, node):
    g.need("scipy.linalg")
    return _linalg_call(g, node, "scipy.linalg.lu_factor({0}, check_finite=False)")


@op_rule("pytensor.tensor.slinalg.PivotToPermutations")
def _rule_pivots_to_permutation(g, node):
    g.helper("pivots_to_permutation", PIVOTS_HELPER)
    inv = ", inverse=True" if _core_op(node).inverse else ""
    return _linalg_call(g, node, f"pivots_to_permutation({{0}}{inv})")


@op_rule("pytensor.tensor.slinalg.Expm")
def _rule_expm(g, node):
    g.need("scipy.linalg")
    return _linalg_call(g, node, "scipy.linalg.expm({0})")


@op_rule("pytensor.tensor.nlinalg.TensorInv")
def _rule_tensorinv(g, node):
    return _linalg_call(g, node, f"np.linalg.tensorinv({{0}}, ind={_core_op(node).ind})")


@op_rule("pytensor.tensor.nlinalg.TensorSolve")
def _rule_tensorsolve(g, node):
    axes = _core_op(node).axes
    return _linalg_call(g, node, "np.linalg.tensorsolve({0}, {1}" +
                        (f", axes={tuple(axes)!r})" if axes is not None else ")"))
