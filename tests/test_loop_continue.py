"""`continue` in rolled loops (issue #17), on every Python: in a `while` loop CPython 3.11-3.13
compile `continue` as a jump to a copy of the loop's test placed before the body, while the
body's end tests at the bottom and jumps to the body's start, so the two paths of one loop
have different back edges; in a `for` loop both go back to FOR_ITER.  Each phase (steps that
continue, steps that do not) rolls; the step where the path changes ends a rolled part, and a
later call that changes phase at another step fails a guard and is traced again.  Derivatives
are checked against hand-written ones (the same loop, differentiated by hand)."""
import numpy as np
import pytest

import pyautodiff as ad


def warmup(x, n, m):
    """Skip the first m steps' sums (continue), then add them up: a while loop."""
    k = 0
    s = 0.0
    while k < n:
        k += 1
        x = x * 1.001
        if k <= m:
            continue
        s = s + np.sin(x).sum()
    return s + x.sum()


def warmup_for(x, n, m):
    s = 0.0
    for k in range(1, n + 1):
        x = x * 1.001
        if k <= m:
            continue
        s = s + np.sin(x).sum()
    return s + x.sum()


def warmup_grad(x, n, m):
    g = np.zeros_like(x)
    c = 1.0
    for k in range(1, n + 1):
        x = x * 1.001
        c *= 1.001
        if k > m:
            g = g + np.cos(x) * c
    return g + c


def clipped(x, n, limit):
    """Continue once the sum passed a limit (decided by the differentiated data)."""
    k = 0
    s = 0.0
    while k < n:
        k += 1
        x = x * 1.001
        if x.sum() > limit:
            continue
        s = s + np.sin(x).sum()
    return s + x.sum()


def clipped_grad(x, n, limit):
    g = np.zeros_like(x)
    c = 1.0
    for _ in range(n):
        x = x * 1.001
        c *= 1.001
        if x.sum() <= limit:
            g = g + np.cos(x) * c
    return g + c


X = np.array([0.3, -0.7, 1.1])


@pytest.mark.parametrize("f", [warmup, warmup_for])
@pytest.mark.parametrize("n", [150, 10_000])
def test_continue_for_the_first_steps_rolls(f, n):
    m = n // 3
    tr = ad.trace(f, X, n, m)
    assert tr.loops_rolled == 2  # the steps that continue, then the ones that add
    assert np.isclose(tr.result, f(X, n, m), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(X, n, m), warmup_grad(X, n, m), rtol=1e-9)


@pytest.mark.parametrize("f", [warmup, warmup_for])
def test_continue_graph_is_flat_in_n(f):
    small, large = ad.trace(f, X, 90, 30), ad.trace(f, X, 9000, 3000)
    assert small.loops_rolled == large.loops_rolled == 2
    assert small.n_nodes() == large.n_nodes()


@pytest.mark.parametrize("f", [warmup, warmup_for])
def test_continue_switching_at_another_step_traces_again(f):
    g = ad.grad(f)
    np.testing.assert_allclose(g(X, 200, 50), warmup_grad(X, 200, 50), rtol=1e-10)
    np.testing.assert_allclose(g(X * 0.5, 200, 50), warmup_grad(X * 0.5, 200, 50), rtol=1e-10)
    assert g.stats.traces == 1  # the same path: the cached code
    np.testing.assert_allclose(g(X, 200, 120), warmup_grad(X, 200, 120), rtol=1e-10)
    assert g.stats.traces == 2  # the continue stops at another step: a guard failed


@pytest.mark.parametrize("n", [150, 10_000])
def test_a_data_dependent_continue_rolls(n):
    limit = float(X.sum() * 1.001 ** (n // 2))  # the sums stop half way
    tr = ad.trace(clipped, X, n, limit)
    assert tr.loops_rolled == 2
    assert np.isclose(tr.result, clipped(X, n, limit), rtol=1e-12)
    g = ad.grad(clipped)
    np.testing.assert_allclose(g(X, n, limit), clipped_grad(X, n, limit), rtol=1e-9)
    np.testing.assert_allclose(g(X * 1.01, n, limit), clipped_grad(X * 1.01, n, limit), rtol=1e-9)
    assert g.stats.traces == 2  # the larger start passes the limit earlier


def test_continue_jvp_and_hessian():
    x = np.array([0.3, -0.2])

    def f(x):
        return warmup(x, 80, 30)

    v = np.array([1.0, 2.0])
    _, t = ad.jvp(f)(x, v)
    assert np.isclose(t, warmup_grad(x, 80, 30) @ v, rtol=1e-10)
    c = 1.001 ** np.arange(31, 81)  # d2/dx2 of sum_k sin(x c_k): diagonal
    expected = np.diag([-np.sum(np.sin(xi * c) * c * c) for xi in x])
    np.testing.assert_allclose(ad.hessian(f)(x), expected, rtol=1e-9, atol=1e-12)
