"""Source text of helper functions for scalar special functions, and their probes.

A helper is defined once in the generated module (``g.helper(name, source)``) and
called from elementwise expressions; ``expressions.add_probe`` gives the dtype probe
the same function.

Example::

    >>> SIGMOID_HELPER.splitlines()[0]
    'def sigmoid(x, neg=False):'
"""

# 1 / (1 + exp(-x)) in four passes (neg, exp, add, divide, the last two in place): the
# form without overflow, where(x >= 0, 1, e) / (1 + e) with e = exp(-|x|), takes seven.
# exp(-x) overflows to inf below x = -709 (float64), where the result is 0 instead of
# a subnormal exp(x): such elements (rare: a check of the minimum finds them) are
# recomputed as exp(x), which is sigmoid(x) to the last bit there.  NaN stays NaN
# (fmin skips it in the check), and no warning is raised where the result is right.
# ``neg=True`` computes sigmoid(-x): the gradient of softplus(-y * z) is sigmoid(-y * z),
# and the negation folds into exp (two passes fewer than negating first).
SIGMOID_HELPER = '''def sigmoid(x, neg=False):
    """1 / (1 + exp(-x)) (of -x if neg), accurate in both tails, without overflow warnings."""
    with np.errstate(over="ignore"):
        e = np.exp(x if neg else -x)
    if type(e) is np.ndarray:
        e += 1.0
        r = np.divide(1.0, e, out=e)
    else:
        r = 1.0 / (1.0 + e)
    tiny = np.finfo(r.dtype).tiny
    if np.fmin.reduce(r, axis=None) < tiny:  # 1 + exp(-x) lost the subnormal tail
        with np.errstate(over="ignore"):
            r = np.where(r < tiny, np.exp(-x if neg else x), r)
    return r'''
