"""A narrow transposed right operand of a matrix product is made contiguous for BLAS."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import pyautodiff as ad
from pyautodiff.backend.blas_layout import CContiguous, c_contiguous
from pyautodiff.backend.compile import compile_graph, optimized_fgraph

from helpers import assert_close


def _has_copy(inputs, outputs):
    fg = optimized_fgraph(inputs, outputs)
    return any(isinstance(n.op, CContiguous) for n in fg.apply_nodes)


@pytest.mark.parametrize("m,k,n,expected", [
    (1000, 100, 10, True),     # the log-linear model's X @ W.T: about twice as fast
    (256, 256, 10, True),
    (100, 1000, 10, False),    # wide left operand: the transposed kernel is faster
    (500, 500, 8, False),      # long inner dimension: no gain
    (256, 784, 256, False),    # many columns
    (50, 50, 4, False),        # too small for the copy to pay
])
def test_which_products_get_a_contiguous_operand(m, k, n, expected):
    X = pt.matrix("X", shape=(m, k))
    W = pt.matrix("W", shape=(n, k))
    assert _has_copy([X, W], [X @ W.T]) is expected
    V = pt.matrix("V", shape=(k, n))
    assert not _has_copy([X, V], [X @ V])  # not transposed: nothing to do


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_products_and_gradients_are_unchanged(mode):
    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(1000, 100)), rng.normal(size=(10, 100))

    def scores(W, X):
        return np.sum(np.tanh(X @ W.T))

    assert_close(ad.function(lambda W, X: X @ W.T, mode=mode)(W, X), X @ W.T, rtol=1e-12, atol=1e-12)
    g = ad.grad(scores, mode=mode)(W, X)
    assert_close(g, (1 - np.tanh(X @ W.T) ** 2).T @ X, rtol=1e-11, atol=1e-11)


def test_the_op_copies_only_what_is_not_contiguous():
    x = pt.matrix("x")
    f = pytensor.function([x], c_contiguous(x.T), mode="FAST_COMPILE")
    a = np.arange(6.0).reshape(2, 3)
    out = f(a)
    assert out.flags.c_contiguous and np.array_equal(out, a.T)
    # the gradient passes through unchanged
    g = pytensor.function([x], pt.grad((c_contiguous(x) * 2.0).sum(), x), mode="FAST_COMPILE")(a)
    assert np.array_equal(g, np.full((2, 3), 2.0))
    fn, _ = compile_graph([x], [c_contiguous(x.T) * 1.0], mode="numpy")
    assert np.array_equal(fn(a)[0], a.T)
