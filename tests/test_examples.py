"""The issue's examples, against hand-written gradients."""
import numpy as np
import pytest
import scipy.optimize

import pyautodiff as ad

from helpers import assert_close, numeric_grad


def seed(x1, x2):
    return np.log(x1) + x1 * x2 - np.sin(x2)


def test_seed_gradient_matches_the_lecture_tables():
    g1, g2 = ad.grad(seed, wrt=(0, 1))(2.0, 5.0)
    # forward/reverse tables: dy/dx1 = 1/x1 + x2, dy/dx2 = x1 - cos(x2)
    assert g1 == pytest.approx(5.5, rel=1e-15)
    assert g2 == pytest.approx(1.7163378145367738, rel=1e-15)
    assert isinstance(g1, float) and isinstance(g2, float)


def test_seed_value_and_function():
    v, g = ad.value_and_grad(seed)(2.0, 5.0)
    assert v == pytest.approx(np.log(2) + 10 - np.sin(5), rel=1e-15)
    assert g == pytest.approx(5.5)
    assert ad.function(seed)(3.0, 1.5) == pytest.approx(seed(3.0, 1.5), rel=1e-15)


# The log-linear model and its hand-written gradient live in the demo (plain numpy).
from pyautodiff.demo import nll, nll_grad_by_hand  # noqa: E402


@pytest.fixture
def loglinear():
    rng = np.random.default_rng(0)
    N, D, K = 50, 7, 4
    return rng.normal(size=(K, D)), rng.normal(size=K), rng.normal(size=(N, D)), rng.integers(0, K, N)


def test_loglinear_gradient_equals_hand_written(loglinear):
    gW, gb = ad.grad(nll, wrt=("W", "b"))(*loglinear)
    hW, hb = nll_grad_by_hand(*loglinear)
    assert_close(gW, hW, rtol=1e-12, atol=1e-14)
    assert_close(gb, hb, rtol=1e-12, atol=1e-14)
    assert gW.shape == loglinear[0].shape and gb.shape == loglinear[1].shape


def test_loglinear_value_and_grad_and_function(loglinear):
    value, g = ad.value_and_grad(nll)(*loglinear)
    assert value == pytest.approx(nll(*loglinear), rel=1e-13)
    assert_close(g, nll_grad_by_hand(*loglinear)[0], rtol=1e-12, atol=1e-14)
    fast = ad.function(nll)
    assert fast(*loglinear) == pytest.approx(nll(*loglinear), rel=1e-13)


def test_cached_call_is_reused_and_correct_on_new_data(loglinear):
    g = ad.grad(nll, wrt=("W", "b"))
    g(*loglinear)
    rng = np.random.default_rng(1)
    W, b, X, y = loglinear
    W2, b2, y2 = rng.normal(size=W.shape), rng.normal(size=b.shape), rng.integers(0, W.shape[0], len(y))
    gW, gb = g(W2, b2, X, y2)
    hW, hb = nll_grad_by_hand(W2, b2, X, y2)
    assert_close(gW, hW, rtol=1e-12, atol=1e-14)
    assert_close(gb, hb, rtol=1e-12, atol=1e-14)
    assert g.stats.traces == 1 and g.stats.cache_hits == 1
    g(W[:2], b[:2], X, y % 2)  # a new shape is a new specialization
    assert g.stats.traces == 2


def mlp_loss(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(logp[np.arange(X.shape[0]), y])


def mlp_grad_by_hand(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = X.shape[0]
    dz = p.copy()
    dz[np.arange(n), y] -= 1
    dz /= n
    dW2 = h.T @ dz
    db2 = dz.sum(0)
    dh = dz @ W2.T * (1 - h ** 2)
    return X.T @ dh, dh.sum(0), dW2, db2


def test_mlp_softmax_cross_entropy():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(16, 5))
    y = rng.integers(0, 3, 16)
    params = (rng.normal(size=(5, 8)) * 0.5, rng.normal(size=8) * 0.1,
              rng.normal(size=(8, 3)) * 0.5, rng.normal(size=3) * 0.1)
    got = ad.grad(mlp_loss, wrt=(0, 1, 2, 3))(*params, X, y)
    want = mlp_grad_by_hand(*params, X, y)
    for a, b in zip(got, want):
        assert_close(a, b, rtol=1e-11, atol=1e-13)


def test_rosen_against_scipy_rosen_der():
    # scipy.optimize.rosen is pure Python: the emulator runs scipy's own code.
    x = np.linspace(-1.2, 1.7, 9)
    assert_close(ad.grad(scipy.optimize.rosen)(x), scipy.optimize.rosen_der(x), rtol=1e-13, atol=1e-12)
    assert ad.function(scipy.optimize.rosen)(x) == pytest.approx(scipy.optimize.rosen(x), rel=1e-14)


def test_structured_argument_gets_structured_gradient(loglinear):
    W, b, X, y = loglinear

    def loss(params, X, y):
        return nll(params["W"], params["b"], X, y)

    g = ad.grad(loss)({"W": W, "b": b}, X, y)
    hW, hb = nll_grad_by_hand(W, b, X, y)
    assert set(g) == {"W", "b"}
    assert_close(g["W"], hW, rtol=1e-12, atol=1e-14)
    assert_close(g["b"], hb, rtol=1e-12, atol=1e-14)


def test_float32_input_gets_float32_gradient():
    x = np.linspace(0.1, 1, 5).astype(np.float32)
    g = ad.grad(lambda x: np.sum(np.exp(x) * 2.0))(x)
    assert g.dtype == np.float32
    assert_close(g, 2 * np.exp(x), rtol=1e-6)


def test_finite_difference_agreement_on_a_mixed_function():
    def f(x):
        return np.sum(np.sqrt(x) * np.log1p(x)) / np.maximum(x, 0.5).sum() + np.tanh(x).mean()

    x = np.array([0.3, 0.9, 1.7, 2.5])
    assert_close(ad.grad(f)(x), numeric_grad(f, x), rtol=1e-6, atol=1e-8)


def test_a_gradient_never_aliases_the_callers_array():
    x = np.array([1.0, 2.0])
    g = ad.grad(lambda v: 0.5 * np.sum(v * v))
    for _ in range(2):  # traced call and cached call
        out = g(x)
        np.testing.assert_allclose(out, x)
        assert out is not x
        out[0] = 99.0
        assert x[0] == 1.0


@pytest.mark.parametrize("mode", [None, "numba"])
def test_derivatives_never_share_memory_with_arguments_or_each_other(mode):
    # d/dx sum(x * y.T) is y.T, a view of y; d/dx sum(x) and d/dy sum(y) are equal
    # arrays of ones: writing into one result must change nothing else.
    x, y = np.ones((2, 3)), np.arange(6.0).reshape(3, 2)
    g = ad.grad(lambda x, y: np.sum(x * y.T), mode=mode)
    h = ad.grad(lambda x, z: np.sum(x) + np.sum(z), wrt=(0, 1), mode=mode)
    for _ in range(2):  # traced call and cached call
        gx = g(x, y)
        np.testing.assert_array_equal(gx, np.arange(6.0).reshape(3, 2).T)
        assert not np.shares_memory(gx, y)
        a, b = h(x, x + 1.0)
        assert not np.shares_memory(a, b)
        a[0, 0] = 99.0
        assert b[0, 0] == 1.0
