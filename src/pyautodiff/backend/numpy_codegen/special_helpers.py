"""Source text of helper functions for scalar special functions, and their probes.

A helper is defined once in the generated module (``g.helper(name, source)``) and
called from elementwise expressions; ``expressions.add_probe`` gives the dtype probe
the same function.

Example::

    >>> SIGMOID_HELPER.splitlines()[0]
    'def sigmoid(x, neg=False, scale=1.0, scratch=False, minus=False):'
"""

# scale / (1 + exp(-x)) in four passes (neg, exp, add, divide, the last three in place) and
# a check of the largest exponent: the form without overflow, where(x >= 0, 1, e) / (1 + e)
# with e = exp(-|x|), takes seven.  Where the exponent t = -x exceeds -log(tiny) (708.4
# in float64) exp(t) overflows or 1 + exp(t) leaves the result subnormal with bits lost:
# there (rare: the check finds it) the result is recomputed as scale * exp(-t), which is
# sigmoid(x) to the last bit, without overflow warnings.  NaN stays NaN (fmax skips it).
# ``neg=True`` computes sigmoid(-x): the gradient of softplus(-y * z) is sigmoid(-y * z),
# and the negation folds into exp (two passes fewer than negating first).
# ``scale`` (the other factors of a product sigmoid(x) * a, which the chain rule makes of
# every softplus or log-sigmoid derivative) divides instead of 1: one pass and one
# temporary fewer than multiplying afterwards, and one rounding fewer.  The generator
# passes it only where it neither widens the dtype nor broadcasts to a larger shape than
# x's, so the division can write into exp's buffer.  ``scratch=True``: x is a temporary
# of the caller's expression that nothing else reads, so exp may write into it too.
# ``minus=True`` negates the result (a gradient's sign flip) in the same pass as the 1:
# -1 - e is -(1 + e) exactly, and the quotient only changes sign.
SIGMOID_HELPER = '''def sigmoid(x, neg=False, scale=1.0, scratch=False, minus=False):
    """scale / (1 + exp(-x)) (of -x if neg; negated if minus), accurate in both tails, without
    overflow warnings."""
    t = x if neg else -x
    array = type(t) is np.ndarray
    dtype = t.dtype if array else np.result_type(t)
    limit = 708.0 if dtype == np.float64 else -np.log(np.finfo(dtype).tiny)
    if np.fmax.reduce(t, axis=None, initial=-np.inf) <= limit:  # no overflow, no subnormal result
        if not array:
            return scale / ((-1.0 - np.exp(t)) if minus else (1.0 + np.exp(t)))
        e = np.exp(t, out=t) if t is not x or scratch else np.exp(t)
        if minus:
            np.subtract(-1.0, e, out=e)
        else:
            e += 1.0
        return np.divide(scale, e, out=e)
    with np.errstate(over="ignore"):
        r = np.where(t > limit, scale * np.exp(-t), scale / (1.0 + np.exp(t)))
        return -r if minus else r'''
