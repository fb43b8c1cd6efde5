"""Reductions along a short last axis (numpy_codegen/short_axis.py): numpy's bits, faster.

The helper is compared with numpy's own reduction bit for bit (sum), by value (max/min:
numpy's SIMD loop may pick either zero when -0.0 and 0.0 tie); the generated code is
checked to use it only inside its bounds, and a gradient through it against a hand
derivative and finite differences.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.backend.numpy_codegen import short_axis
from tests.helpers import assert_close, numeric_grad, numpy_tier_source

_SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -2.5, 1e308, -1e308, 5e-324, 3e-310]


def _helper():
    ns = {"np": np}
    exec(short_axis.HELPER_SOURCE, ns)
    return ns[short_axis.HELPER_NAME]


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and \
        bool(((np.isnan(a) & np.isnan(b)) | ((a == b) & (np.signbit(a) == np.signbit(b)))).all())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("k", [2, 3, 7, 8, 9, 15, 16, 17, 24, 33])
def test_sum_has_numpys_bits(dtype, k):
    reduce_last = _helper()
    rng = np.random.default_rng(k)
    scaled = rng.normal(size=(600, k)) * rng.choice([1.0, 1e-3, 1e3], size=(600, k))
    special = rng.choice(_SPECIAL, size=(3000, k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow of 1e308 + 1e308, in both
        for x in (scaled.astype(dtype), special.astype(dtype), special.reshape(3, 1000, k).astype(dtype)):
            assert _same_bits(reduce_last(x, np.add), x.sum(axis=-1))


@pytest.mark.parametrize("ufunc, method", [(np.maximum, "max"), (np.minimum, "min")])
@pytest.mark.parametrize("k", [2, 5, 8, 10, 16])
def test_max_min_have_numpys_values(ufunc, method, k):
    reduce_last = _helper()
    x = np.random.default_rng(k).choice(_SPECIAL, size=(2000, k))
    got, want = reduce_last(x, ufunc), getattr(x, method)(axis=-1)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)  # NaN where numpy has NaN; -0.0 == 0.0
    if k <= 8:  # numpy's order for up to 8 columns: the sign of a zero too
        assert _same_bits(got, want)


def test_non_contiguous_input_is_numpys_reduction():
    reduce_last = _helper()
    x = np.random.default_rng(0).normal(size=(10, 700)).T  # (700, 10), a transposed view
    assert _same_bits(reduce_last(x, np.add), x.sum(axis=-1))
    np.testing.assert_array_equal(reduce_last(x, np.maximum), x.max(axis=-1))


def test_result_is_a_new_array():
    reduce_last = _helper()
    x = np.random.default_rng(0).normal(size=(600, 2))
    for u in (np.add, np.maximum):
        out = reduce_last(x, u)
        assert not np.shares_memory(out, x)


def test_overflow_still_warns():
    reduce_last = _helper()
    x = np.full((600, 3), 1e308)
    with pytest.warns(RuntimeWarning, match="overflow"):
        out = reduce_last(x, np.add)
    assert np.isinf(out).all()


@pytest.mark.parametrize("shape, axis, used", [
    ((1000, 10), (1,), True), ((3, 400, 4), (2,), True), ((10000, 3), (1,), True),
    ((100, 10), (1,), False),  # few rows: numpy's own reduction
    ((1000, 32), (1,), False),  # long rows
    ((1000, 10), (0,), False), ((1000, 1), (1,), False)])
def test_bounds(shape, axis, used):
    assert short_axis.worth_it(shape, axis, "float64") is used
    assert not short_axis.worth_it(shape, axis, "int64")


def _logsumexp_rows(W, X):
    s = X @ W
    m = s.max(axis=1, keepdims=True)
    return np.sum(np.log(np.exp(s - m).sum(axis=1)) + m[:, 0]) + np.sum(s.min(axis=1))


def _logsumexp_rows_grad(W, X):
    s = X @ W
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot_min = (s == s.min(axis=1, keepdims=True)).astype(float)
    return X.T @ (p + onehot_min)


def test_gradient_through_short_axis_reductions():
    rng = np.random.default_rng(3)
    W, X = rng.normal(size=(20, 6)), rng.normal(size=(800, 20))
    g = ad.value_and_grad(_logsumexp_rows, mode="numpy")
    src = numpy_tier_source(ad.grad(_logsumexp_rows, mode="numpy"), W, X)
    assert short_axis.HELPER_NAME in src
    value, grad = g(W, X)
    assert_close(value, _logsumexp_rows(W, X), rtol=1e-12)
    assert_close(grad, _logsumexp_rows_grad(W, X), rtol=1e-10)
    small = (W[:3, :3].copy(), X[:600, :3].copy())
    assert_close(ad.grad(_logsumexp_rows, mode="numpy")(*small),
                 numeric_grad(lambda w: _logsumexp_rows(w, small[1]), small[0]), rtol=1e-5, atol=1e-6)


def test_nan_and_inf_rows_as_numpy():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(700, 5))
    X[3, 2], X[10, 0], X[11, 4] = np.nan, np.inf, -np.inf

    def f(X):
        return X.sum(axis=1) * 2.0 + X.max(axis=1)

    got = ad.function(f, mode="numpy")(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = f(X)
    assert _same_bits(got, want)


def _leading_helper():
    ns = {"np": np}
    exec(short_axis.LEADING_HELPER_SOURCE, ns)
    return ns[short_axis.LEADING_HELPER_NAME]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n, k", [(256, 10), (1000, 2), (3000, 3), (700, 16), (300, 7)])
def test_sum_over_rows_has_numpys_bits(dtype, n, k):
    sum_rows = _leading_helper()
    rng = np.random.default_rng(n + k)
    scaled = (rng.normal(size=(n, k)) * rng.choice([1.0, 1e-3, 1e3], size=(n, k))).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 1e308 as float32; overflow in both sums
        special = rng.choice(_SPECIAL, size=(n, k)).astype(dtype)
        for x in (scaled, special, scaled.T.copy().T):  # the last: not C-contiguous
            assert _same_bits(sum_rows(x), x.sum(axis=0))


def test_sum_over_rows_warns_as_numpy():
    sum_rows = _leading_helper()
    x = np.full((600, 3), 1e308)
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert np.isinf(sum_rows(x)).all()
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        sum_rows(x)


@pytest.mark.parametrize("shape, axis, used", [
    ((1000, 10), (0,), True), ((256, 3), (0,), True), ((100, 10), (0,), False),
    ((1000, 32), (0,), False), ((1000, 10), (1,), False), ((4, 1000, 10), (0,), False)])
def test_leading_bounds(shape, axis, used):
    assert short_axis.leading_worth_it(shape, axis, "float64") is used
    assert not short_axis.leading_worth_it(shape, None, "float64")
    assert not short_axis.worth_it(shape, None, "float64")


def test_full_reductions_of_small_arrays():
    # a full max with initial= (PyTensor 3.3's logsumexp): no axis for the bounds to read
    import scipy.special

    a = np.array([[[0.0, 0.5], [-1.0, 2.0]]])
    assert_close(ad.function(scipy.special.logsumexp, mode="numpy")(a), scipy.special.logsumexp(a),
                 rtol=1e-13)
    assert_close(ad.grad(lambda a: scipy.special.logsumexp(a), mode="numpy")(a),
                 np.exp(a - scipy.special.logsumexp(a)), rtol=1e-12)


def test_bias_gradient_over_a_batch():
    rng = np.random.default_rng(8)
    W, b, X = rng.normal(size=(5, 12)) * 0.3, rng.normal(size=5), rng.normal(size=(900, 12))
    y = rng.integers(0, 5, 900)

    def nll(W, b, X, y):
        s = X @ W.T + b
        s = s - s.max(axis=1, keepdims=True)
        return -(s - np.log(np.exp(s).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].mean()

    g = ad.grad(nll, wrt=(0, 1), mode="numpy")
    src = numpy_tier_source(g, W, b, X, y)
    assert short_axis.LEADING_HELPER_NAME in src and short_axis.HELPER_NAME in src
    gW, gb = g(W, b, X, y)
    s = X @ W.T + b
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(900), y] -= 1.0
    assert_close(gW, p.T @ X / 900, rtol=1e-10)
    assert_close(gb, p.sum(axis=0) / 900, rtol=1e-10, atol=1e-15)


def test_export_source_writes_numpys_own_reductions():
    # export_source is read by people: the speed-only helpers stay in the numpy tier
    from pyautodiff.backend.numpy_codegen import dot_sum

    rng = np.random.default_rng(5)
    W, X = rng.normal(size=(20, 6)), rng.normal(size=(800, 20))
    g = ad.grad(_logsumexp_rows, mode="numpy")
    assert short_axis.HELPER_NAME in numpy_tier_source(g, W, X)
    src = ad.export_source(g, W, X)
    assert short_axis.HELPER_NAME not in src and ".max(axis=1)" in src
    ns: dict = {}
    exec(src, ns)
    assert_close(ns["grad__logsumexp_rows"](W, X), _logsumexp_rows_grad(W, X), rtol=1e-10)

    x = rng.normal(size=5000)
    g = ad.function(lambda x: np.sum(x * np.cos(x)), mode="numpy")
    assert dot_sum.HELPER_NAME in numpy_tier_source(g, x)
    src = ad.export_source(g, x)
    assert dot_sum.HELPER_NAME not in src and ".sum()" in src
