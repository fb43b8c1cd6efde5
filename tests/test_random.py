"""Random draws inside a traced function are drawn again on every call."""
import random

import numpy as np
import pytest

import pyautodiff as ad


def noisy(x, rng):
    noise = rng.normal(size=x.shape)          # a fresh draw on every call
    keep = rng.random(x.shape) > 0.3          # dropout-like mask
    return np.sum((x + 0.1 * noise) ** 2 * keep)


def test_generator_draws_follow_the_same_stream_as_cpython():
    x = np.array([0.5, -1.0, 2.0, 0.3])
    ours, theirs = np.random.default_rng(7), np.random.default_rng(7)
    f = ad.function(noisy)
    for _ in range(4):
        assert f(x, ours) == pytest.approx(noisy(x, theirs), rel=1e-13)
    assert f.stats.traces == 1


def test_gradient_uses_this_calls_draws():
    x = np.array([0.5, -1.0, 2.0, 0.3])
    g = ad.grad(noisy)
    ours, theirs = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(3):
        got = g(x, ours)
        noise = theirs.normal(size=x.shape)
        keep = theirs.random(x.shape) > 0.3
        np.testing.assert_allclose(got, 2 * (x + 0.1 * noise) * keep, rtol=1e-13)


def test_global_numpy_and_stdlib_random():
    def f(x):
        return np.sum(x * np.random.normal(size=2)) + random.random() * x[0]

    np.random.seed(0)
    random.seed(0)
    got = [ad.function(f)(np.ones(2)) for _ in range(2)]
    np.random.seed(0)
    random.seed(0)
    want = [f(np.ones(2)) for _ in range(2)]
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_draw_with_traced_parameters_is_refused_clearly():
    def f(mu, rng):
        return np.sum(rng.normal(mu, 1.0, size=3))

    with pytest.raises(ad.UnsupportedError, match="standard_normal"):
        ad.grad(f)(0.5, np.random.default_rng(0))
