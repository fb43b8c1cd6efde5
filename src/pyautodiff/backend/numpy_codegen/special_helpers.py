"""Source text of helper functions for scalar special functions, and their probes.

A helper is defined once in the generated module (``g.helper(name, source)``) and
called from elementwise expressions; ``expressions.add_probe`` gives the dtype probe
the same function.

Example::

    >>> SIGMOID_HELPER.splitlines()[0]
    'def sigmoid(x, neg=False):'
"""

# 1 / (1 + exp(-x)) in four passes (neg, exp, add, divide, the last three in place) and a
# check of the largest exponent: the form without overflow, where(x >= 0, 1, e) / (1 + e)
# with e = exp(-|x|), takes seven.  Where the exponent t = -x exceeds -log(tiny) (708.4
# in float64) exp(t) overflows or 1 + exp(t) leaves the result subnormal with bits lost:
# there (rare: the check finds it) the result is recomputed as exp(-t), which is
# sigmoid(x) to the last bit, without overflow warnings.  NaN stays NaN (fmax skips it).
# ``neg=True`` computes sigmoid(-x): the gradient of softplus(-y * z) is sigmoid(-y * z),
# and the negation folds into exp (two passes fewer than negating first).
SIGMOID_HELPER = '''def sigmoid(x, neg=False):
    """1 / (1 + exp(-x)) (of -x if neg), accurate in both tails, without overflow warnings."""
    t = x if neg else -x
    dtype = np.result_type(t)
    limit = 708.0 if dtype == np.float64 else -np.log(np.finfo(dtype).tiny)
    if np.fmax.reduce(t, axis=None) <= limit:  # no overflow, no subnormal result
        e = np.exp(t, out=t) if t is not x and type(t) is np.ndarray else np.exp(t)
        if type(e) is not np.ndarray:
            return 1.0 / (1.0 + e)
        e += 1.0
        return np.divide(1.0, e, out=e)
    with np.errstate(over="ignore"):
        r = 1.0 / (1.0 + np.exp(t))
        return np.where(t > limit, np.exp(-t), r)'''
