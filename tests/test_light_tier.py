"""Large graphs: light rewrites served at once, the full ones swapped in from a
background thread (issue #18).  ``LIGHT_ABOVE_NODES = 0`` makes every graph
"large"; expected values are worked out by hand or computed by numpy."""
import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.backend import compile as compile_mod


@pytest.fixture
def light(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", "0")
    monkeypatch.setattr(compile_mod, "LIGHT_ABOVE_NODES", 0)


def _loop(x, c):
    for i in range(len(c)):
        x = x + c[i] * (np.sin(x) if i % 2 else np.cos(x))
    return np.sum(np.log(1 + np.exp(x)))


def _loop_grad_by_hand(x, c):
    dx = np.ones_like(x)
    for i in range(len(c)):
        d = -np.sin(x) if i % 2 == 0 else np.cos(x)
        x, dx = x + c[i] * (np.sin(x) if i % 2 else np.cos(x)), dx * (1 + c[i] * d)
    return dx / (1 + np.exp(-x))


def test_light_first_tier_then_full_rewrite_give_the_derivative(light):
    x, c = np.linspace(-1.0, 1.0, 5), np.array([0.3, -0.2, 0.1, 0.25])
    g = ad.grad(_loop)
    first = g(x, c)
    tiering = g._last_spec.tiering
    np.testing.assert_allclose(first, _loop_grad_by_hand(x, c), rtol=1e-12)
    assert tiering.wait_rewrite(timeout=600).startswith("full rewrite")
    assert not getattr(tiering.first_tier, "light", False)
    for _ in range(8):  # through the measuring wrapper, then the installed function
        np.testing.assert_allclose(g(x, c), _loop_grad_by_hand(x, c), rtol=1e-12)
    assert not getattr(g._last_spec.fn, "light", False) or g._last_spec.fn is tiering


def test_light_tier_keeps_gradients_of_where_finite(light):
    # d/dx where(x > 0, log(x), 0) at 0: the switch sinks keep inf * 0 out
    g = ad.grad(lambda x: np.sum(np.where(x > 0, np.log(x), 0.0) + x ** 2))
    x = np.array([0.0, 2.0, -1.0])
    with np.errstate(all="ignore"):  # numpy's log(0) and log(-1) in the branch not taken
        np.testing.assert_allclose(g(x), np.array([0.0, 0.5 + 4.0, -2.0]))


def test_light_tier_gives_numpys_values_and_nans(light):
    def f(x):
        return x / x + x * 0.0 - (x - x)

    x = np.array([0.0, np.inf, np.nan, 2.0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(ad.function(f)(x), f(x))


def test_small_graphs_and_explicit_modes_are_never_light(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", "0")
    g = ad.grad(lambda x: np.sum(np.sin(x)))
    g(np.ones(2))
    assert g._last_spec.tiering.rewrite_thread is None  # a few nodes: full rewrites at once
    monkeypatch.setattr(compile_mod, "LIGHT_ABOVE_NODES", 0)
    h = ad.grad(lambda x: np.sum(np.sin(x)), mode="numpy")
    np.testing.assert_allclose(h(np.ones(2)), np.cos(np.ones(2)))
    assert getattr(h._last_spec, "tiering", None) is None
    assert not getattr(h._last_spec.fn, "light", False)
