"""Source text of the small helper functions the generated code may define.

They wrap ``scipy.linalg`` calls so that a singular or non-positive-definite
input gives NaNs, as PyTensor's ops do, instead of an exception; the
generator adds each one to the module at most once (``g.helper(name, src)``).

Example::

    >>> SOLVE_HELPER.splitlines()[0]
    'def solve(a, b, assume_a="gen", lower=False):'
"""



SOLVE_HELPER = '''def solve(a, b, assume_a="gen", lower=False):
    """scipy.linalg.solve, NaN-filled (like PyTensor) if `a` is singular."""
    try:
        return scipy.linalg.solve(a, b, assume_a=assume_a, lower=lower, check_finite=False)
    except np.linalg.LinAlgError:
        return np.full(np.shape(b), np.nan)'''

SOLVE_TRI_HELPER = '''def solve_triangular(a, b, lower=False, unit_diagonal=False):
    """scipy.linalg.solve_triangular, NaN-filled (like PyTensor) if `a` is singular."""
    try:
        return scipy.linalg.solve_triangular(
            a, b, lower=lower, unit_diagonal=unit_diagonal, check_finite=False
        )
    except np.linalg.LinAlgError:
        return np.full(np.shape(b), np.nan)'''

CHOLESKY_HELPER = '''def cholesky(a, lower=True):
    """Cholesky factor, NaN-filled (like PyTensor) if `a` is not positive definite."""
    try:
        return scipy.linalg.cholesky(a, lower=lower, check_finite=False)
    except np.linalg.LinAlgError:
        return np.full_like(a, np.nan)'''


PIVOTS_HELPER = '''def pivots_to_permutation(pivots, inverse=False):
    """The row permutation done by LAPACK's sequence of row swaps `pivots`."""
    p_inv = np.arange(len(pivots))
    for i, j in enumerate(pivots):
        p_inv[i], p_inv[j] = p_inv[j], p_inv[i]
    return p_inv if inverse else np.argsort(p_inv)'''
