"""Rolled `for` loops over lists and tuples of same-shaped arrays or floats (issue #17,
src/pyautodiff/vm/loop_lists.py): the items left are stacked once and the body reads the
stack at the traced step index.  Derivatives are checked against hand-written ones or
central differences, at small N and N = 10,000; the graph must not grow with N."""
import numpy as np

import pyautodiff as ad


def test_a_comprehension_appending_in_a_loop_is_not_rolled_away():
    # the probe's first LIST_APPEND must count as an effect (regression: it ran unflagged)
    def f(x, n):
        ws = [x * j for j in range(n)]
        return len(ws) + ws[-1].sum()

    x = np.array([0.3, -0.5, 0.8])
    tr = ad.trace(f, x, 40)
    assert np.isclose(tr.result, f(x, 40), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(x, 40), np.full(3, 39.0), rtol=1e-12)
