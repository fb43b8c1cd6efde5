"""The one-hot matrix of a softmax cross-entropy's gradient (issue #18): its row sums are the
update's values and the softmax term adds into it in place; values against hand-written
gradients and the dense graph, and the cases the rewrite must leave alone."""
import numpy as np
import pytensor.tensor as pt
import pytest
from pytensor.graph.fg import FunctionGraph

import pyautodiff as ad
from pyautodiff.backend.numpy_codegen import compile_fgraph, rewrite_graph


def generated(inputs, outputs):
    return compile_fgraph(rewrite_graph(FunctionGraph(inputs, outputs, clone=True)))


def softmax_nll(W, X, y):
    s = X @ W
    s = s - s.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def softmax_nll_grad_by_hand(W, X, y):
    s = X @ W
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return X.T @ p / len(y)


def test_softmax_cross_entropy_gradient_builds_no_one_hot_matrix():
    rng = np.random.default_rng(0)
    W, X, y = rng.normal(size=(6, 4)), rng.normal(size=(50, 6)), rng.integers(0, 4, 50)
    g = ad.grad(softmax_nll)
    np.testing.assert_allclose(g(W, X, y), softmax_nll_grad_by_hand(W, X, y), rtol=1e-12, atol=1e-15)
    src = ad.export_source(g, W, X, y)
    assert "np.zeros((50, 4))" not in src  # the update goes into the softmax term's buffer
    assert "+= const" in src and src.count("sum(axis=1)") == 1  # one row sum: the softmax's
    # negative labels index from the end, as in numpy
    np.testing.assert_allclose(g(W, X, y - 4), softmax_nll_grad_by_hand(W, X, y), rtol=1e-12, atol=1e-15)


def test_weighted_rows_and_a_single_column_index():
    t = pt.matrix("t", shape=(5, 3))
    v, j = pt.vector("v", shape=(5,)), pt.lvector("j")
    one_hot = pt.inc_subtensor(pt.zeros((5, 3))[np.arange(5), j], v)
    fn = generated([t, v, j], [one_hot.sum(axis=1), one_hot + t])
    assert "np.zeros" not in fn.source
    rng = np.random.default_rng(1)
    tt, vv = rng.normal(size=(5, 3)), rng.normal(size=5)
    before = tt.copy()
    for jj in (np.array([0, 2, 1, 1, -1]), np.array([2])):  # per row, and one column for all
        dense = np.zeros((5, 3))
        dense[np.arange(5), jj] += vv
        rows, added = fn(tt, vv, jj)
        np.testing.assert_array_equal(rows, dense.sum(axis=1))
        np.testing.assert_array_equal(added, dense + tt)
    np.testing.assert_array_equal(tt, before)  # the update went into a copy of the argument
    special = np.array([np.nan, np.inf, -0.0, -np.inf, 1e308])  # (a -0.0 may keep its sign)
    dense = np.zeros((5, 3))
    dense[np.arange(5), [1, 1, 0, 2, 2]] += special
    rows, added = fn(tt, special, np.array([1, 1, 0, 2, 2]))
    np.testing.assert_array_equal(rows, dense.sum(axis=1))
    np.testing.assert_array_equal(added, dense + tt)


def test_single_precision_keeps_its_dtype():
    t, v, j = pt.fmatrix("t", shape=(40, 7)), pt.fvector("v", shape=(40,)), pt.lvector("j", shape=(40,))
    one_hot = pt.inc_subtensor(pt.zeros((40, 7), dtype="float32")[np.arange(40), j], v)
    fn = generated([t, v, j], [one_hot.sum(axis=1), one_hot * 3 + t])
    rng = np.random.default_rng(2)
    tt, vv, jj = rng.normal(size=(40, 7)).astype("float32"), rng.normal(size=40).astype("float32"), rng.integers(-7, 7, 40)
    dense = np.zeros((40, 7), dtype="float32")
    dense[np.arange(40), jj] += vv
    rows, out = fn(tt, vv, jj)
    assert rows.dtype == out.dtype == np.float32
    np.testing.assert_array_equal(rows, dense.sum(axis=1))
    np.testing.assert_array_equal(out, dense * np.float32(3) + tt)


def test_rows_other_than_each_once_keep_the_dense_sum():
    # a repeated row holds two increments, a permutation is not recognised: both stay dense
    t = pt.matrix("t", shape=(3, 3))
    v, j = pt.vector("v", shape=(3,)), pt.lvector("j", shape=(3,))
    for rows in (np.array([0, 0, 2]), np.array([2, 1, 0])):
        one_hot = pt.inc_subtensor(pt.zeros((3, 3))[rows, j], v)
        fn = generated([t, v, j], [one_hot.sum(axis=1), one_hot + t])
        vv, jj, tt = np.array([1.0, 2.0, 4.0]), np.array([0, 1, 2]), np.ones((3, 3))
        dense = np.zeros((3, 3))
        np.add.at(dense, (rows, jj), vv)
        got_rows, got_added = fn(tt, vv, jj)
        np.testing.assert_array_equal(got_rows, dense.sum(axis=1))
        np.testing.assert_array_equal(got_added, dense + tt)


def test_an_index_out_of_bounds_still_raises_where_the_row_sum_is_the_only_user():
    v, j = pt.vector("v", shape=(4,)), pt.lvector("j", shape=(4,))
    fn = generated([v, j], [pt.inc_subtensor(pt.zeros((4, 3))[np.arange(4), j], v).sum(axis=1)])
    np.testing.assert_array_equal(fn(np.arange(4.0), np.array([0, 1, 2, 0]))[0], np.arange(4.0))
    with pytest.raises(IndexError):
        fn(np.arange(4.0), np.array([0, 1, 3, 0]))
