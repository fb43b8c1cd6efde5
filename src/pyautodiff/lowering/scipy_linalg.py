"""scipy.linalg: factorizations and solves with scipy's options, through PyTensor's linalg ops.

scipy computes every value (with ``overwrite_*`` turned off: the arrays it
would overwrite are the trace's own values); the symbolic side uses
PyTensor's differentiable ops.  LAPACK routines read one triangle of their
input (``cholesky(a, lower=False)`` reads the upper one, ``solve_triangular``
reads the triangle it solves with, and not the diagonal when
``unit_diagonal=True``), so the symbolic side first keeps exactly the
elements scipy reads: gradients reach those and no others.  ``cho_factor``
and ``lu_factor`` return scipy's packed forms (``cho_factor``'s unused
triangle holds the input's elements where this scipy leaves them), and ``cho_solve`` /
``lu_solve`` read only the packed parts.

Example::

    c, low = scipy.linalg.cho_factor(K)          # K traced
    alpha = scipy.linalg.cho_solve((c, low), y)  # d alpha / d K flows through both
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.linalg as ptla
import scipy.linalg as sl

from ..traced import unwrap
from . import linalg as np_linalg
from .core import as_var, lift, refuse
from .registry import register

_GROUP = "scipy.linalg"
_TRANS = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}


def _float(a, value):
    dt = np.asarray(value[0] if isinstance(value, tuple) else value).dtype
    return as_var(a, dt.name if dt.kind == "f" else "float64")


def _triangle(a, lower: bool, unit_diagonal: bool = False):
    """The triangle of ``a`` that LAPACK reads, zeros elsewhere (ones on a unit diagonal)."""
    tri = pt.tril(a) if lower else pt.triu(a)
    if unit_diagonal:
        n = a.shape[-1]
        eye = pt.eye(n, dtype=a.dtype)
        tri = tri * (1 - eye) + eye
    return tri


def _square(name, a):
    shape = np.shape(unwrap(a))
    if len(shape) != 2 or shape[0] != shape[1]:
        raise refuse(f"scipy.linalg.{name}: only a square 2-d matrix is supported with traced values")
    return shape[0]


def _no_extras(name, **options):
    bad = [k for k, v in options.items() if v]
    if bad:
        raise refuse(f"scipy.linalg.{name}: {', '.join(bad)} not supported with traced values")


def _b_ndim(b):
    return 1 if np.ndim(unwrap(b)) == 1 else 2


def _trans(name, trans):
    if trans not in _TRANS:
        raise refuse(f"scipy.linalg.{name}: trans={trans!r} is not one of 0, 1, 2, 'N', 'T', 'C'")
    return _TRANS[trans]


@register(sl.cholesky, group=_GROUP, name="scipy.linalg.cholesky")
def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    value = sl.cholesky(unwrap(a), lower=lower, check_finite=check_finite)
    n = _square("cholesky", a)
    low = np_linalg.cholesky_lower(np_linalg.symmetric(_float(a, value), lower, n))
    return lift(value, low if lower else low.T)


@register(sl.cho_factor, group=_GROUP, name="scipy.linalg.cho_factor")
def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    c_value, low = sl.cho_factor(unwrap(a), lower=lower, check_finite=check_finite)
    n = _square("cho_factor", a)
    x = _float(a, c_value)
    factor = np_linalg.cholesky_lower(np_linalg.symmetric(x, lower, n))
    # scipy < 1.18 leaves the input's elements in the triangle the factor does not use
    # (1.18 zeroes it): follow what this scipy returned
    unused = (lambda m: np.triu(m, 1)) if lower else (lambda m: np.tril(m, -1))
    kept = unused(c_value)
    factor = factor if lower else factor.T
    if np.any(kept != 0) and np.array_equal(kept, unused(np.asarray(unwrap(a), dtype=c_value.dtype))):
        factor = factor + (pt.triu(x, 1) if lower else pt.tril(x, -1))
    return lift(c_value, factor), low


@register(sl.cho_solve, group=_GROUP, name="scipy.linalg.cho_solve")
def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    c, lower = c_and_lower
    value = sl.cho_solve((unwrap(c), lower), unwrap(b), check_finite=check_finite)
    _square("cho_solve", c)
    cv, bv = as_var(c, value.dtype.name), as_var(b, value.dtype.name)
    return lift(value, ptla.cho_solve((_triangle(cv, bool(lower)), bool(lower)), bv, b_ndim=_b_ndim(b)))


@register(sl.solve_triangular, group=_GROUP, name="scipy.linalg.solve_triangular")
def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    transposed = _trans("solve_triangular", trans)
    value = sl.solve_triangular(unwrap(a), unwrap(b), trans=trans, lower=lower, unit_diagonal=unit_diagonal,
                                check_finite=check_finite)
    _square("solve_triangular", a)
    av, bv = as_var(a, value.dtype.name), as_var(b, value.dtype.name)
    tri = _triangle(av, lower, unit_diagonal)
    if transposed:
        tri, lower = tri.T, not lower
    return lift(value, ptla.solve_triangular(tri, bv, lower=lower, b_ndim=_b_ndim(b)))


_ASSUME = {"gen": "gen", "general": "gen", "sym": "sym", "symmetric": "sym", "her": "sym", "hermitian": "sym",
           "pos": "pos", "positive definite": "pos"}


@register(sl.solve, group=_GROUP, name="scipy.linalg.solve")
def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
          transposed=False):
    kind = _ASSUME.get("gen" if assume_a is None else assume_a)
    if kind is None:
        raise refuse(f"scipy.linalg.solve: assume_a={assume_a!r} is not supported with traced values")
    value = sl.solve(unwrap(a), unwrap(b), lower=lower, check_finite=check_finite,
                     assume_a=assume_a, transposed=transposed)
    n = _square("solve", a)
    av, bv = as_var(a, value.dtype.name), as_var(b, value.dtype.name)
    if kind != "gen":  # scipy reads one triangle of a symmetric matrix
        av = np_linalg.symmetric(av, lower, n)
    if transposed:
        av = av.T
    return lift(value, ptla.solve(av, bv, b_ndim=_b_ndim(b)))


@register(sl.inv, group=_GROUP, name="scipy.linalg.inv")
def inv(a, overwrite_a=False, check_finite=True, **kwargs):
    _no_extras("inv", **{k: v for k, v in kwargs.items() if k != "assume_a" or v not in (None, "gen", "general")})
    value = sl.inv(unwrap(a), check_finite=check_finite)
    _square("inv", a)
    return lift(value, ptla.inv(_float(a, value)))


@register(sl.det, group=_GROUP, name="scipy.linalg.det")
def det(a, overwrite_a=False, check_finite=True):
    value = sl.det(unwrap(a), check_finite=check_finite)
    _square("det", a)
    return lift(value, ptla.det(_float(a, value)))


@register(sl.expm, group=_GROUP, name="scipy.linalg.expm")
def expm(A):
    value = sl.expm(unwrap(A))
    _square("expm", A)
    return lift(value, ptla.expm(_float(A, value)))


@register(sl.eigh, group=_GROUP, name="scipy.linalg.eigh")
def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False, type=1,
         check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    if b is not None or type != 1 or subset_by_index is not None or subset_by_value is not None:
        raise refuse("scipy.linalg.eigh: generalized problems and subsets are not supported with traced values")
    driver = driver or "evr"  # scipy's default for a standard problem, whose eigenvector signs we match
    value = sl.eigh(unwrap(a), lower=lower, eigvals_only=eigvals_only, check_finite=check_finite, driver=driver)
    n = _square("eigh", a)
    sym = np_linalg.symmetric(_float(a, value), lower, n)
    w, v = ptla.eigh(sym, driver=driver)
    if eigvals_only:
        return lift(value, w)
    return lift(value[0], w), lift(value[1], v)


@register(sl.lu_factor, group=_GROUP, name="scipy.linalg.lu_factor")
def lu_factor(a, overwrite_a=False, check_finite=True):
    lu_value, piv_value = sl.lu_factor(unwrap(a), check_finite=check_finite)
    _square("lu_factor", a)
    lu, piv = ptla.lu_factor(_float(a, lu_value))
    return lift(lu_value, lu), lift(piv_value, piv)


def _unpack_lu(lu, piv):
    """(P, L, U) with a = P @ L @ U from the packed factor and LAPACK's pivots."""
    n = lu.shape[-1]
    eye = pt.eye(n, dtype=lu.dtype)
    lower = pt.tril(lu, -1) + eye
    upper = pt.triu(lu)
    perm = ptla.pivot_to_permutation(piv, inverse=False)  # P = I[perm], as scipy.linalg.lu's
    return eye[perm], lower, upper


@register(sl.lu_solve, group=_GROUP, name="scipy.linalg.lu_solve")
def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    lu, piv = lu_and_piv
    transposed = _trans("lu_solve", trans)
    value = sl.lu_solve((unwrap(lu), unwrap(piv)), unwrap(b), trans=trans, check_finite=check_finite)
    _square("lu_solve", lu)
    p, lower, upper = _unpack_lu(as_var(lu, value.dtype.name), as_var(piv))
    bv = as_var(b, value.dtype.name)
    nd = _b_ndim(b)
    if not transposed:  # a x = b: L U x = P^T b
        y = ptla.solve_triangular(lower, pt.dot(p.T, bv), lower=True, unit_diagonal=True, b_ndim=nd)
        x = ptla.solve_triangular(upper, y, lower=False, b_ndim=nd)
    else:  # a^T x = b: U^T L^T P^T x = b
        y = ptla.solve_triangular(upper.T, bv, lower=True, b_ndim=nd)
        z = ptla.solve_triangular(lower.T, y, lower=False, unit_diagonal=True, b_ndim=nd)
        x = pt.dot(p, z)
    return lift(value, x)


@register(sl.lu, group=_GROUP, name="scipy.linalg.lu")
def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    value = sl.lu(unwrap(a), permute_l=permute_l, check_finite=check_finite, p_indices=p_indices)
    _square("lu", a)
    packed, piv = ptla.lu_factor(_float(a, value))
    p, lower, upper = _unpack_lu(packed, piv)
    if permute_l:
        return lift(value[0], pt.dot(p, lower)), lift(value[1], upper)
    if p_indices:
        perm = ptla.pivot_to_permutation(piv, inverse=False)
        return lift(value[0], perm), lift(value[1], lower), lift(value[2], upper)
    return lift(value[0], p), lift(value[1], lower), lift(value[2], upper)


@register(sl.solve_sylvester, group=_GROUP, name="scipy.linalg.solve_sylvester")
def solve_sylvester(a, b, q):
    value = sl.solve_sylvester(unwrap(a), unwrap(b), unwrap(q))
    n, m = _square("solve_sylvester", a), _square("solve_sylvester", b)
    dt = value.dtype.name
    av, bv, qv = as_var(a, dt), as_var(b, dt), as_var(q, dt)
    # A X + X B = Q  <=>  (I_m (x) A + B^T (x) I_n) vec(X) = vec(Q), vec stacking columns
    system = ptla.kron(pt.eye(m, dtype=dt), av) + ptla.kron(bv.T, pt.eye(n, dtype=dt))
    x = ptla.solve(system, qv.T.reshape((n * m,)), b_ndim=1)
    return lift(value, x.reshape((m, n)).T)


@register(sl.solve_banded, group=_GROUP, name="scipy.linalg.solve_banded")
def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    lo, up = (int(v) for v in l_and_u)
    value = sl.solve_banded((lo, up), unwrap(ab), unwrap(b), check_finite=check_finite)
    n = np.shape(unwrap(ab))[-1]
    rows, cols = np.indices((n, n)).reshape(2, -1)
    inside = (cols - rows <= up) & (rows - cols <= lo)
    rows, cols = rows[inside], cols[inside]
    abv = as_var(ab, value.dtype.name)
    # the dense matrix: a[i, j] = ab[up + i - j, j] inside the band, zero outside
    dense = pt.set_subtensor(pt.zeros((n, n), dtype=value.dtype.name)[rows, cols], abv[up + rows - cols, cols])
    return lift(value, ptla.solve(dense, as_var(b, value.dtype.name), b_ndim=_b_ndim(b)))


@register(sl.block_diag, group=_GROUP, name="scipy.linalg.block_diag")
def block_diag(*arrs):
    value = sl.block_diag(*[unwrap(a) for a in arrs])
    out = pt.zeros(value.shape, dtype=value.dtype.name)
    r = c = 0
    for a in arrs:
        shape = np.shape(unwrap(a))
        shape = (1, 1) if len(shape) == 0 else ((1, shape[0]) if len(shape) == 1 else shape)
        var = as_var(a, value.dtype.name).reshape(shape)
        out = pt.set_subtensor(out[r:r + shape[0], c:c + shape[1]], var)
        r, c = r + shape[0], c + shape[1]
    return lift(value, out)
