"""The sum of a product as one dot product (numpy_codegen/dot_sum.py).

Values and gradients against hand derivatives; numpy's own value, warnings and errors
wherever the dot product is zero or not finite; the helper only where its conditions hold.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.backend.numpy_codegen import dot_sum
from tests.helpers import assert_close, numeric_grad, numpy_tier_source


def _helper():
    ns = {"np": np}
    exec(dot_sum.HELPER_SOURCE, ns)
    return ns[dot_sum.HELPER_NAME]


def _logp(mu, sigma, data):
    z = (data - mu) / sigma
    return np.sum(-0.5 * z ** 2 - np.log(sigma))


def test_normal_log_density_gradient():
    data = np.random.default_rng(0).normal(1.5, 2.0, size=20_000)
    g = ad.grad(_logp, wrt=(0, 1), mode="numpy")
    assert dot_sum.HELPER_NAME in numpy_tier_source(g, 0.3, 1.7, data)
    dmu, dsigma = g(0.3, 1.7, data)
    z = (data - 0.3) / 1.7
    assert_close(dmu, np.sum(z) / 1.7, rtol=1e-11)
    assert_close(dsigma, np.sum(z ** 2 - 1.0) / 1.7, rtol=1e-11)
    assert_close(dsigma, numeric_grad(lambda s: _logp(0.3, s, data), 1.7), rtol=1e-6)


def test_sum_of_squares_and_products():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=5000), rng.normal(size=5000)

    def f(x, y):
        return np.sum(x ** 2) + np.sum(np.sin(x) * y)

    value, (gx, gy) = ad.value_and_grad(f, wrt=(0, 1), mode="numpy")(x, y)
    assert dot_sum.HELPER_NAME in numpy_tier_source(ad.function(f, mode="numpy"), x, y)
    assert_close(value, f(x, y), rtol=1e-12)
    assert_close(gx, 2 * x + np.cos(x) * y, rtol=1e-12)
    assert_close(gy, np.sin(x), rtol=1e-12)


@pytest.mark.parametrize("n, used", [(5000, True), (100, False)])
def test_only_above_the_size_bound(n, used):
    x = np.random.default_rng(2).normal(size=n)
    src = numpy_tier_source(ad.function(lambda x: np.sum(x * np.cos(x)), mode="numpy"), x)
    assert (dot_sum.HELPER_NAME in src) is used


def test_not_for_a_broadcast_factor_or_float32():
    x = np.random.default_rng(3).normal(size=(100, 60))
    w = np.random.default_rng(4).normal(size=60)
    src = numpy_tier_source(ad.function(lambda x, w: np.sum(x * w), mode="numpy"), x, w)
    assert dot_sum.HELPER_NAME not in src  # w broadcast along rows: the product stays
    x32 = x.astype(np.float32)
    src = numpy_tier_source(ad.function(lambda x: np.sum(x * np.exp(x)), mode="numpy"), x32)
    assert dot_sum.HELPER_NAME not in src


def _same(a, b):
    a, b = np.float64(a), np.float64(b)
    return (np.isnan(a) and np.isnan(b)) or (a == b and np.signbit(a) == np.signbit(b))


@pytest.mark.parametrize("a, b", [
    ([1e200, 1e200], [1e200, 1.0]),  # a product overflows: inf, with numpy's warning
    ([np.inf, 1.0], [0.0, 2.0]),  # inf * 0: NaN
    ([np.nan, 1.0], [1.0, 1.0]),
    ([-0.0, -0.0], [1.0, 1.0]),  # numpy's signed zero
    ([1e200, -1e200], [1e200, 1e200]),  # inf - inf
])
def test_helper_is_numpy_where_the_dot_is_not_finite_or_zero(a, b):
    helper = _helper()
    a, b = np.array(a * 3000), np.array(b * 3000)
    with warnings.catch_warnings(record=True) as want_w:
        warnings.simplefilter("always")
        want = (a * b).sum()
    with warnings.catch_warnings(record=True) as got_w:
        warnings.simplefilter("always")
        got = helper(a, b)
    assert _same(got, want)
    assert [str(w.message) for w in got_w] == [str(w.message) for w in want_w]


def test_helper_errstate_and_strides():
    helper = _helper()
    a = np.full(5000, 1e200)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        helper(a, a)
    tiny = np.full(5000, 1e-200)
    with np.errstate(under="raise"), pytest.raises(FloatingPointError):
        helper(tiny, tiny)  # BLAS would report nothing: numpy's product does
    x = np.random.default_rng(5).normal(size=(100, 100))
    assert _same(helper(x.T, x), (x.T * x).sum())  # strided: numpy's own
    y = np.random.default_rng(6).normal(size=10_000)
    assert_close(helper(y, y), (y * y).sum(), rtol=1e-13)


def test_nan_input_as_numpy():
    data = np.random.default_rng(7).normal(size=8000)
    data[17] = np.nan
    dmu, dsigma = ad.grad(_logp, wrt=(0, 1), mode="numpy")(0.3, 1.7, data)
    assert np.isnan(dmu) and np.isnan(dsigma)
