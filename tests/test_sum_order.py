"""Float sums round in the order the code wrote them, as numpy's would.

PyTensor's sum canonizer flattened ``(t - s) - y`` with ``t = s + y`` into one list of
terms, moved the subtracted ones last and folded the constants: compensated summation lost
its compensation, the rounding idiom ``(x + c) - c`` returned ``x``, and a few unrolled
compensated steps grew the graph exponentially. Expected values are CPython's own.
"""
import numpy as np
import pytest

import pyautodiff as ad


def kahan(x):
    s = 0.0
    c = 0.0
    for v in x:
        y = v - c
        t = s + y
        c = (t - s) - y
        s = t
    return s


@pytest.mark.parametrize("n", [3, 8, 20])
def test_compensated_sum_keeps_its_compensation(n):
    x = np.array(([1.0] + [1e-16] * 4) * 4)[:n]
    want = kahan(x)
    naive = 0.0
    for v in x:
        naive = naive + v
    assert want != naive  # the compensation matters here
    for mode in ("numpy", None):
        assert ad.function(kahan, mode=mode)(x) == want


def test_unrolled_compensated_steps_stay_linear():
    # each step reads s and t twice: flattening copied every earlier term list into the next,
    # so the code of 8 steps was 22 times that of 4 (and 15 steps had not finished rewriting
    # after 10 minutes, at 4.7 GB)
    x = np.array(([1.0] + [1e-16] * 4) * 4)
    small, large = (len(ad.export_source(ad.function(kahan), x[:n])) for n in (4, 8))
    assert large <= 2.5 * small


def test_adding_and_subtracting_a_large_constant_rounds():
    # 1.5 * 2**52: the classic round-to-nearest-integer idiom
    def rnd(x):
        return (x + 6755399441055744.0) - 6755399441055744.0

    x = np.array([1.3, 2.5, -0.7, 3.5])
    np.testing.assert_array_equal(ad.function(rnd)(x), rnd(x))
    np.testing.assert_array_equal(rnd(x), [1.0, 2.0, -1.0, 4.0])


def test_difference_then_sum_in_written_order():
    def f(a, b, c):
        return a - b + c  # numpy: (a - b) + c = 1; reordered, (a + c) - b = 0

    a, b, c = np.array([1e16]), np.array([1e16]), np.array([1.0])
    np.testing.assert_array_equal(ad.function(f)(a, b, c), [1.0])
    assert ad.grad(lambda a, b, c: np.sum(f(a, b, c)), wrt=(0, 1, 2))(a, b, c) == (1.0, -1.0, 1.0)


def test_integer_sums_are_still_simplified():
    # integer arithmetic is exact (wrapping included), so its canonizer still runs
    f = ad.function(lambda x: x + 3 - 3 + x)
    x = np.array([1, 2, 3])
    np.testing.assert_array_equal(f(x), 2 * x)


def _spread(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 6, size=shape)


def _running_sums(w, X, b):
    s = 0.0  # a scalar running sum of per-row sums
    v = np.zeros_like(w)  # an array running sum, two terms a step
    for t in range(X.shape[0]):
        s = s + np.sum(X[t] * w)
        v = v + X[t] * w + b[t]
    return s, v


@pytest.mark.parametrize("mode", ["numpy", "numba", None])
def test_a_rolled_running_sum_adds_in_the_loops_order(mode):
    # a rolled loop's running sum `s = s + d(i)` is computed from all the d's at once; their
    # sum along the steps added pairwise (numpy's sum of a vector), 10 ulps off the loop's
    X, w, b = _spread((200, 30), 1), _spread(30, 2), _spread((200, 30), 3)
    f = ad.function(_running_sums, mode=mode)
    s, v = f(w, X, b)
    assert f.stats.loops_rolled == 1
    want_s, want_v = _running_sums(w, X, b)
    assert s == want_s
    np.testing.assert_array_equal(v, want_v)


def test_the_gradient_of_a_rolled_running_sum():
    X, w, b = _spread((200, 30), 4), _spread(30, 5), _spread((200, 30), 6)

    def f(w, X, b):
        s, v = _running_sums(w, X, b)
        return s + np.sum(v * v)

    got = ad.grad(f)(w, X, b)
    v = X.sum(axis=0) * w + b.sum(axis=0)
    hand = X.sum(axis=0) + 2 * v * X.sum(axis=0)  # by hand: d/dw of sum(X w) + |v|^2
    np.testing.assert_allclose(got, hand, rtol=1e-9)
