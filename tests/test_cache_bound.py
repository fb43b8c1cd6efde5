"""Each transformed function keeps a bounded number of specializations in memory
(least recently used evicted) and warns, naming the argument that keeps changing."""
import warnings

import numpy as np
import pytest

import pyautodiff as ad


def f(x, n):
    return np.sum(x ** 2) * n


def test_a_changing_shape_is_bounded_and_named():
    g = ad.grad(f)
    with pytest.warns(ad.CacheSizeWarning, match=r"argument 'x'.*shape") as record:
        for size in range(1, 21):
            x = np.linspace(0.1, 1.0, size)
            np.testing.assert_allclose(g(x, 3), 6 * x, rtol=1e-15)
    assert len([w for w in record if issubclass(w.category, ad.CacheSizeWarning)]) == 1  # once
    assert g.stats.specializations == 8 == len(g._cache)
    assert g.stats.traces == 20


def test_a_changing_static_value_is_bounded_and_named():
    g = ad.grad(f, cache_size=4)
    x = np.linspace(0.1, 1.0, 3)
    with pytest.warns(ad.CacheSizeWarning, match=r"argument 'n'.*static value"):
        for n in range(10):
            np.testing.assert_allclose(g(x, n), 2 * n * x, rtol=1e-15)
    assert len(g._cache) == 4


def test_least_recently_used_is_evicted_first():
    g = ad.grad(f, cache_size=3)
    xs = {k: np.linspace(0.1, 1.0, k) for k in (1, 2, 3, 4)}
    for k in (1, 2, 3):
        g(xs[k], 2)
    g(xs[1], 2)  # 1 used again: 2 is now the least recently used
    with pytest.warns(ad.CacheSizeWarning):
        g(xs[4], 2)
    traces = g.stats.traces
    for k in (1, 3, 4):
        np.testing.assert_allclose(g(xs[k], 2), 4 * xs[k], rtol=1e-15)
    assert g.stats.traces == traces  # all still cached
    np.testing.assert_allclose(g(xs[2], 2), 4 * xs[2], rtol=1e-15)
    assert g.stats.traces == traces + 1  # 2 was evicted


def test_the_bound_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_CACHE_SIZE", "2")
    g = ad.function(lambda x: x * 2.0)
    with pytest.warns(ad.CacheSizeWarning, match="cache_size=2"):
        for k in range(1, 5):
            g(np.ones(k))
    assert len(g._cache) == 2
    with pytest.raises(ad.AutodiffError, match="cache_size"):
        ad.grad(f, cache_size=0)
    monkeypatch.setenv("PYAUTODIFF_CACHE_SIZE", "many")
    with pytest.raises(ad.AutodiffError, match="PYAUTODIFF_CACHE_SIZE"):
        ad.grad(f)


def branchy(x):
    if x > 0:
        return x * 2.0
    return x * 3.0


def test_branches_count_too_and_are_named_as_such():
    g = ad.grad(branchy, cache_size=1)
    with pytest.warns(ad.CacheSizeWarning, match="branch"):
        for x in (1.0, -1.0, 2.0, -2.0):
            assert g(x) == (2.0 if x > 0 else 3.0)


def test_within_the_bound_nothing_is_said():
    g = ad.grad(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for size in range(1, 9):
            g(np.ones(size), 1)
    assert len(g._cache) == 8
