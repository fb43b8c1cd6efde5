"""Tracing does not copy the caller's arrays (issue #18), and still refuses
writes into them, leaving them untouched."""
import tracemalloc

import numpy as np
import pytest

import pyautodiff as ad


def test_trace_makes_no_copy_of_a_large_input():
    X = np.random.default_rng(0).normal(size=(1000, 1000))  # 8 MB
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        ad.trace(lambda X: np.sum(X * 2.0), X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # numpy's own X * 2.0 allocates one 8 MB array; a copy of X would be another
    assert peak < 1.5 * X.nbytes


@pytest.mark.parametrize("write", [
    lambda x: x.__setitem__(0, 5.0),
    lambda x: x[1:].__setitem__(0, 5.0),  # through a view
    lambda x: x[::2].__iadd__(1.0),
    lambda x: x.sort(),
    lambda x: np.put(x, [0], [7.0]),
    lambda x: np.nan_to_num(x, copy=False),
])
def test_writes_into_an_argument_are_refused_and_leave_it_untouched(write):
    x = np.array([3.0, np.nan, 1.0, 2.0])
    before = x.copy()

    def f(x):
        write(x)
        return np.sum(x)

    with pytest.raises(ad.AutodiffError, match="in place"):
        ad.grad(f)(x)
    np.testing.assert_array_equal(x, before)
    assert x.flags.writeable  # the caller's array itself is not changed either


def test_an_argument_stays_usable_as_numpy_would_use_it():
    # copying an argument and writing into the copy is fine
    def f(x):
        y = x.copy()
        y[0] = 2.0 * x[1]
        return np.sum(y ** 2)

    x = np.array([1.0, 2.0, 3.0])
    # y = (2 x1, x1, x2): sum(y**2) = 5 x1**2 + x2**2
    expected = np.array([0.0, 10.0 * x[1], 2.0 * x[2]])
    np.testing.assert_allclose(ad.grad(f)(x), expected)
