"""Source text of helper functions for scalar special functions, and their probes.

A helper is defined once in the generated module (``g.helper(name, source)``) and
called from elementwise expressions; ``expressions.add_probe`` gives the dtype probe
the same function.

Example::

    >>> SIGMOID_HELPER.splitlines()[3]
    'def sigmoid(x, neg=False, scale=1.0, scratch=False, minus=False):'
"""

# scale / (1 + exp(-x)) in three passes over an array (exp, add, divide, the last two in
# place): the form without overflow, where(x >= 0, 1, e) / (1 + e) with e = exp(-|x|),
# takes seven.  Where the exponent t = -x exceeds log(max) (709.78 in float64), exp(t)
# overflows and scale / (1 + inf) would be 0 (or NaN): numpy reports that overflow, and
# under errstate(over="raise") it raises once exp has run, so the common case pays no
# pass of its own for the check (a max over t cost 2-3 us of a 70 us logistic
# gradient at 10^4 rows).  ``_sigmoid_exp`` is np.exp decorated by the errstate (public,
# per call and per thread): 0.6 us a call, where a ``with`` block costs 1.1-1.4.  Then (rare) ``_sigmoid_tail``
# recomputes: where t exceeds -log(tiny) (708.4 in float64) as scale * h * h with
# h = exp(-t / 2), normal where exp(-t) is subnormal, so no bit of scale is lost, the
# rest as the fast path does; without overflow warnings.  NaN stays NaN.  Below the
# overflow, scale / (1 + exp(t)) is as exact as that form: one rounding of exp, one of
# the division (a subnormal result rounds once, on its own grid).  A scalar is checked
# against the limit directly (a comparison, no errstate).
# ``neg=True`` computes sigmoid(-x): the gradient of softplus(-y * z) is sigmoid(-y * z),
# and the negation folds into exp (two passes fewer than negating first).
# ``scale`` (the other factors of a product sigmoid(x) * a, which the chain rule makes of
# every softplus or log-sigmoid derivative) divides instead of 1: one pass and one
# temporary fewer than multiplying afterwards, and one rounding fewer.  The generator
# passes it only where it neither widens the dtype nor broadcasts to a larger shape than
# x's, so the division can write into exp's buffer.  ``scratch=True``: x is a temporary of
# the caller's expression that nothing else reads.  Up to 128 KiB (glibc's mmap threshold:
# heap blocks, reused warm) exp writes a new buffer, which costs no more than writing in
# place (measured), and x stays for the tail.  A larger x that is ours to overwrite (scratch,
# or -x) is checked first, one reduction (NaN passes: fmax skips it), and exp writes into it:
# a new block that size is mapped fresh, page faults and zeroing (at 10^6 rows the
# logistic gradient ran 1.00-1.05x hand with a new block, 0.83x in place).
# ``minus=True`` negates the result (a gradient's sign flip) in the same pass as the 1:
# -1 - e is -(1 + e) exactly, and the quotient only changes sign.
SIGMOID_HELPER = '''_sigmoid_exp = np.errstate(over="raise")(np.exp)  # np.exp raising FloatingPointError on overflow


def sigmoid(x, neg=False, scale=1.0, scratch=False, minus=False):
    """scale / (1 + exp(-x)) (of -x if neg; negated if minus), accurate in both tails, without
    overflow warnings."""
    t = x if neg else -x
    if type(t) is np.ndarray and t.ndim:
        if t.nbytes > 131072 and (t is not x or scratch):  # large, and ours to overwrite: checked first
            limit = 708.0 if t.dtype == np.float64 else -np.log(np.finfo(t.dtype).tiny)
            if not np.fmax.reduce(t, None, None, None, False, -np.inf) <= limit:
                return _sigmoid_tail(t, scale, minus)
            e = np.exp(t, out=t)
        else:
            try:
                e = _sigmoid_exp(t)
            except FloatingPointError:  # exp(t) overflowed somewhere: the tail's forms
                return _sigmoid_tail(t, scale, minus)
        if minus:
            np.subtract(-1.0, e, out=e)
        else:
            e += 1.0
        return np.divide(scale, e, out=e)
    dtype = np.result_type(t)
    if t <= (708.0 if dtype == np.float64 else -np.log(np.finfo(dtype).tiny)):  # a scalar: compared
        return scale / ((-1.0 - np.exp(t)) if minus else (1.0 + np.exp(t)))
    return _sigmoid_tail(np.asarray(t), scale, minus)[()]'''

# the tail of ``sigmoid`` (a helper of its own: its name is reserved like the helper's)
SIGMOID_TAIL_HELPER = '''def _sigmoid_tail(t, scale, minus):
    """sigmoid's value where exp(t) may overflow: scale * exp(-t) as (scale * h) * h, h = exp(-t / 2),
    where t exceeds -log(tiny), the fast path's form elsewhere."""
    limit = 708.0 if t.dtype == np.float64 else -np.log(np.finfo(t.dtype).tiny)
    big = t > limit
    with np.errstate(over="ignore", invalid="ignore"):  # (only where big: replaced below)
        r = np.asarray(scale / ((-1.0 - np.exp(t)) if minus else (1.0 + np.exp(t))))
    h = np.exp(-0.5 * t[big])
    v = np.broadcast_to(scale, t.shape)[big] * h * h
    r[big] = -v if minus else v
    return r'''
