"""The concrete values of a rolled loop's remaining steps (src/pyautodiff/vm/loop_values.py):
a loop whose steps read no other step's result is computed all at once, never step by
step; its values, the step where a guard ends the rolled part, and the warnings and
errors the user sees must be those of CPython running the loop."""
import warnings

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.backend import tiered
from pyautodiff.vm import loop_values

from helpers import numeric_grad

rng = np.random.default_rng(23)


@pytest.fixture
def no_step_by_step(monkeypatch):
    """Fail if a rolled loop's steps are run one by one."""
    def refuse(*args, **kwargs):
        raise AssertionError("the steps were run one by one")

    monkeypatch.setattr(loop_values, "sequential", refuse)


@pytest.fixture
def step_by_step_runs(monkeypatch):
    """Count the rolled loops whose steps are run one by one."""
    runs = []
    original = loop_values.sequential

    def counted(*args, **kwargs):
        runs.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(loop_values, "sequential", counted)
    return runs


def fill(a, b, x):
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = np.tanh(a * x[i] + b)
    return out


def test_a_fill_is_computed_at_once(no_step_by_step):
    x = rng.normal(size=500)
    tr = ad.trace(fill, 0.7, -0.2, x)
    assert tr.loops_rolled == 1 and not tiered.has_loop(tr.outputs)
    np.testing.assert_allclose(tr.result, np.tanh(0.7 * x - 0.2), rtol=1e-15)

    def loss(a, b, x):
        return fill(a, b, x).sum()

    d = 1 - np.tanh(0.7 * x - 0.2) ** 2
    ga, gb = ad.grad(loss, wrt=(0, 1))(0.7, -0.2, x)
    assert np.isclose(ga, np.sum(d * x), rtol=1e-12) and np.isclose(gb, np.sum(d), rtol=1e-12)


def test_the_values_after_the_loop_steer_the_trace(no_step_by_step):
    """A branch on the filled array after the loop takes CPython's path, and a call whose
    values take the other path is traced again."""
    def f(x):
        out = np.zeros(x.shape[0])
        for i in range(x.shape[0]):
            out[i] = x[i] ** 2 - 1.0
        if out[-1] > 0:
            return out.sum()
        return -out.sum()

    g = ad.grad(f)
    for last in (3.0, 0.5):
        x = rng.normal(size=60)
        x[-1] = last
        np.testing.assert_allclose(g(x), np.sign(last ** 2 - 1) * 2 * x, rtol=1e-12)
    assert g.stats.traces == 2


def test_rows_written_with_a_value_that_broadcasts(no_step_by_step):
    """``K[i] = s`` (a scalar into a row) and ``K[i] = v`` with ``v`` of shape (1, m):
    the value broadcasts over the row as one assignment does."""
    def f(x, w):
        K, L = np.zeros((x.shape[0], 3)), np.zeros((x.shape[0], 3))
        for i in range(x.shape[0]):
            K[i] = np.sin(x[i])
            L[i] = (x[i] * w)[None, :]
        return K, L

    x, w = rng.normal(size=40), rng.normal(size=3)
    tr = ad.trace(f, x, w)
    assert tr.loops_rolled == 1
    K, L = tr.result
    np.testing.assert_allclose(K, np.repeat(np.sin(x)[:, None], 3, axis=1), rtol=1e-15)
    np.testing.assert_allclose(L, x[:, None] * w, rtol=1e-15)

    def loss(x, w):
        K, L = f(x, w)
        return (K * L).sum()

    np.testing.assert_allclose(ad.grad(loss)(x, w), numeric_grad(lambda z: loss(z, w), x), rtol=1e-6)


def breaks_at_a_negative(x):
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        if x[i] <= 0:
            break
        out[i] = np.log(x[i])
    return out.sum()


def test_a_guard_that_fails_ends_the_rolled_part_without_a_warning(step_by_step_runs):
    """The steps after the break are computed at once too (log of a negative there): that
    must neither warn nor change where the rolled part ends."""
    x = np.linspace(0.5, 2.0, 100)
    x[60] = -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CPython's loop does not warn
        tr = ad.trace(breaks_at_a_negative, x)
        g = ad.grad(breaks_at_a_negative)(x)
    assert tr.loops_rolled == 1 and not step_by_step_runs
    assert np.isclose(tr.result, np.log(x[:60]).sum(), rtol=1e-14)
    expected = np.zeros_like(x)
    expected[:60] = 1 / x[:60]
    np.testing.assert_allclose(g, expected, rtol=1e-12)


def test_a_floating_point_error_of_a_step_that_runs_is_shown_as_the_loop_shows_it(step_by_step_runs):
    """``log(0)`` at a rolled step: the RuntimeWarning of the step-by-step run, and under
    ``np.errstate(all="raise")`` its FloatingPointError."""
    def f(x):
        out = np.zeros(x.shape[0])
        for i in range(x.shape[0]):
            out[i] = np.log(x[i])
        return out.sum()

    x = np.linspace(0.5, 2.0, 100)
    x[60] = 0.0
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        tr = ad.trace(f, x)
    assert tr.loops_rolled == 1 and tr.result == -np.inf and step_by_step_runs
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        ad.trace(f, x)
