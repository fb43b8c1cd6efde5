"""Loop kinds beyond `for i in range(n)` (src/pyautodiff/vm/loop_sources.py, loop_probe.py,
rolling.py): `for` over enumerate/zip/array rows, `while` loops whose trip count depends on
the data (decided at trace time, checked on every call), `break`, nested loops, and Python
counters carried as traced scalars.  Derivatives are checked against hand-written ones or
central differences, at small N and N = 10,000; the trace must not grow with N."""
import numpy as np
import pytest

import pyautodiff as ad

from helpers import numeric_grad

rng = np.random.default_rng(1717)


# -- for over enumerate / zip / array rows ---------------------------------------------------------
def weighted(x, w):
    s = 0.0
    for i, wi in enumerate(w):
        s = s + np.sin(x * wi) * (i + 1)
    return s.sum()


def weighted_grad(x, w):
    c = np.arange(1, w.size + 1)
    gx = (np.cos(np.outer(w, x)) * (w * c)[:, None]).sum(0)
    gw = (np.cos(np.outer(w, x)) * x[None, :]).sum(1) * c
    return gx, gw


def squares(a, xs, ys):
    s = 0.0
    for x, y in zip(xs, ys):
        s = s + (a * x - y) ** 2
    return s


def recurrent(W, X, h):
    for x_t in X:
        h = np.tanh(W @ h + x_t)
    return h.sum()


def recurrent_grad(W, X, h):
    hs = [h]
    for x_t in X:
        h = np.tanh(W @ h + x_t)
        hs.append(h)
    gh, gW, gX = np.ones_like(h), np.zeros_like(W), np.zeros_like(X)
    for t in reversed(range(X.shape[0])):
        d = gh * (1 - hs[t + 1] ** 2)
        gW += np.outer(d, hs[t])
        gX[t] = d
        gh = W.T @ d
    return gW, gX


def counted_pairs(a, xs, ys):
    s = 0.0
    for i, (j, x, y) in enumerate(zip(range(3, 10 ** 9, 2), xs, ys)):
        s = s + (a * x - y) ** 2 * (i + 1) / j
    return s


def counted_pairs_grad(a, xs, ys):
    i = np.arange(xs.size)
    j = 3 + 2 * i
    return np.sum(2 * (a * xs - ys) * xs * (i + 1) / j)


W4 = rng.normal(size=(4, 4)) * 0.3


@pytest.mark.parametrize("n", [30, 10_000])
def test_enumerate_rolls(n):
    x, w = rng.normal(size=3), rng.normal(size=n) * 0.1
    tr = ad.trace(weighted, x, w)
    assert tr.loops_rolled == 1
    assert np.isclose(tr.result, weighted(x, w), rtol=1e-12)
    gx, gw = ad.grad(weighted, wrt=(0, 1))(x, w)
    ex, ew = weighted_grad(x, w)
    np.testing.assert_allclose(gx, ex, rtol=1e-9)
    np.testing.assert_allclose(gw, ew, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [30, 10_000])
def test_zip_of_arrays_rolls(n):
    xs = rng.normal(size=n)
    ys = 2 * xs + rng.normal(size=n) * 0.1
    assert ad.trace(squares, 0.7, xs, ys).loops_rolled == 1
    val, g = ad.value_and_grad(squares)(0.7, xs, ys)
    assert np.isclose(val, squares(0.7, xs, ys), rtol=1e-12)
    assert np.isclose(g, np.sum(2 * (0.7 * xs - ys) * xs), rtol=1e-10)
    gys = ad.grad(squares, wrt=2)(0.7, xs, ys)
    np.testing.assert_allclose(gys, -2 * (0.7 * xs - ys), rtol=1e-10)


@pytest.mark.parametrize("n", [30, 10_000])
def test_rows_of_an_array_roll(n):
    X, h = rng.normal(size=(n, 4)), rng.normal(size=4)
    assert ad.trace(recurrent, W4, X, h).loops_rolled == 1
    gW, gX = ad.grad(recurrent, wrt=(0, 1))(W4, X, h)
    eW, eX = recurrent_grad(W4, X, h)
    np.testing.assert_allclose(gW, eW, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gX, eX, rtol=1e-9, atol=1e-12)


def scaled_rows(a, R, h):
    for r in a * R:  # the rows of an array computed in the function: no local names it
        h = np.tanh(0.5 * h + r)
    return h.sum()


def scaled_rows_grad(a, R, h):
    """By hand: the forward states, then one reverse sweep."""
    hs = [h]
    for r in a * R:
        hs.append(np.tanh(0.5 * hs[-1] + r))
    g, ga, gR = np.ones_like(h), 0.0, np.zeros_like(R)
    for t in range(len(R) - 1, -1, -1):
        d = g * (1 - hs[t + 1] ** 2)
        gR[t] = d * a
        ga += d @ R[t]
        g = 0.5 * d
    return ga, gR, g


@pytest.mark.parametrize("n", [30, 10_000])
def test_rows_of_an_array_computed_in_the_function_roll(n):
    R, h = rng.normal(size=(n, 3)), rng.normal(size=3)
    tr = ad.trace(scaled_rows, 0.7, R, h)
    assert tr.loops_rolled == 1
    assert np.isclose(tr.result, scaled_rows(0.7, R, h), rtol=1e-12)
    got = ad.grad(scaled_rows, wrt=(0, 1, 2))(0.7, R, h)
    for g, e in zip(got, scaled_rows_grad(0.7, R, h)):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)
    if n == 30:  # and the hand-written one against central differences
        np.testing.assert_allclose(got[0], numeric_grad(lambda a: scaled_rows(a, R, h), 0.7), rtol=1e-6)


@pytest.mark.parametrize("n", [30, 10_000])
def test_enumerate_of_zip_with_a_range(n):
    xs, ys = rng.normal(size=n), rng.normal(size=n)
    tr = ad.trace(counted_pairs, 0.4, xs, ys)
    assert tr.loops_rolled == 1
    assert np.isclose(tr.result, counted_pairs(0.4, xs, ys), rtol=1e-12)
    assert np.isclose(ad.grad(counted_pairs)(0.4, xs, ys), counted_pairs_grad(0.4, xs, ys), rtol=1e-10)


def test_rows_of_a_constant_array_and_the_loop_variables_after():
    table = np.linspace(-1.0, 1.0, 40).reshape(20, 2) * np.array([1.0, 3.0])

    def f(x):
        for k, row in enumerate(table[3:]):  # an ordinary array: its rows are constants
            x = x + 0.1 * np.tanh(x * row[0] + row[1])
        return x.sum() + k + row.sum()

    x = np.array([0.3, -0.2])
    tr = ad.trace(f, x)
    assert tr.loops_rolled == 0  # 17 rows: fewer than rolling needs; unrolled and right
    table = np.linspace(-1.0, 1.0, 80).reshape(40, 2) * np.array([1.0, 3.0])
    assert ad.trace(f, x).loops_rolled == 1
    assert np.isclose(ad.function(f)(x), f(x), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(x), numeric_grad(f, x), rtol=1e-7)


@pytest.mark.parametrize("f, args", [
    (weighted, lambda n: (np.ones(3), np.linspace(0, 0.1, n))),
    (squares, lambda n: (0.5, np.linspace(0, 1, n), np.linspace(1, 2, n))),
    (recurrent, lambda n: (W4, np.ones((n, 4)) * 0.1, np.zeros(4))),
    (counted_pairs, lambda n: (0.5, np.linspace(0, 1, n), np.linspace(1, 2, n))),
])
def test_graph_does_not_grow_with_n(f, args):
    small, large = ad.trace(f, *args(30)), ad.trace(f, *args(1000))
    assert small.loops_rolled == large.loops_rolled == 1
    assert small.n_nodes() == large.n_nodes()


def test_hessian_and_jvp_through_zip_and_enumerate():
    xs, ys = rng.normal(size=40), rng.normal(size=40)

    def cost(p):
        s = 0.0
        for i, (x, y) in enumerate(zip(xs, ys)):
            s = s + (p[0] * np.sin(p[1] * x) - y) ** 2 * (1 + 0.01 * i)
        return s

    p = np.array([0.8, 1.3])
    g = ad.grad(cost)
    np.testing.assert_allclose(g(p), numeric_grad(cost, p), rtol=1e-6)
    H_fd = np.array([numeric_grad(lambda q, k=k: g(q)[k], p, 1e-5) for k in range(2)])
    np.testing.assert_allclose(ad.hessian(cost)(p), H_fd, rtol=1e-5, atol=1e-7)
    v = np.array([1.0, -0.5])
    _, t = ad.jvp(cost)(p, v)
    assert np.isclose(t, numeric_grad(cost, p) @ v, rtol=1e-6)


# -- while loops: the trip count is decided at trace time and checked on every call ---------------
def euler(x, T):
    t = 0.0
    while t < T:  # a Python float counter: carried as a traced scalar
        x = x + 0.01 * np.sin(x)
        t += 0.01
    return x.sum()


def euler_grad(x, T):
    t, g = 0.0, np.ones_like(x)
    while t < T:
        g = g * (1 + 0.01 * np.cos(x))
        x = x + 0.01 * np.sin(x)
        t += 0.01
    return g


@pytest.mark.parametrize("T", [0.5, 100.0])  # 51 and 10,001 steps
def test_while_with_a_float_counter(T):
    x = np.array([0.3, 1.0, -2.0])
    g = ad.grad(euler)
    assert ad.trace(euler, x, T).loops_rolled == 1
    np.testing.assert_allclose(g(x, T), euler_grad(x, T), rtol=1e-9)
    np.testing.assert_allclose(g(x * 1.1, T), euler_grad(x * 1.1, T), rtol=1e-9)
    assert g.stats.traces == 1  # the same number of steps: no new trace


def test_while_trip_count_changes_and_retraces():
    x = np.array([0.3, 1.0])
    g = ad.grad(euler)
    np.testing.assert_allclose(g(x, 0.5), euler_grad(x, 0.5), rtol=1e-9)
    np.testing.assert_allclose(g(x, 0.8), euler_grad(x, 0.8), rtol=1e-9)  # more steps: a guard fails
    assert g.stats.traces == 2 and g.stats.guard_failures == 1
    np.testing.assert_allclose(g(x, 0.5), euler_grad(x, 0.5), rtol=1e-9)
    assert g.stats.traces == 2  # both specializations kept


def grow(x, c):
    while x.sum() < c:  # the trip count depends on the differentiated input
        x = x * 1.05 + 0.01
    return x


def grow_grad(x, c):
    g = 1.0
    while x.sum() < c:
        x = x * 1.05 + 0.01
        g *= 1.05
    return g * np.ones_like(x)


def test_while_with_a_data_dependent_trip_count():
    g = ad.grad(lambda x, c: grow(x, c).sum())
    x = np.array([0.5, 0.25])
    assert ad.trace(grow, x, 100.0).loops_rolled == 1
    np.testing.assert_allclose(g(x, 100.0), grow_grad(x, 100.0), rtol=1e-10)
    for x2 in (x * 1.2, x * 0.3, x):  # other trip counts: each a new trace, never a reused one
        np.testing.assert_allclose(g(x2, 100.0), grow_grad(x2, 100.0), rtol=1e-10)
        np.testing.assert_allclose(ad.function(grow)(x2, 100.0), grow(x2, 100.0), rtol=1e-12)
    assert g.stats.traces == 3
    small, large = ad.trace(grow, x, 10.0), ad.trace(grow, x, 1e80)
    assert small.loops_rolled == large.loops_rolled == 1
    assert small.n_nodes() == large.n_nodes()


def fixed_point(a):
    x, prev = 1.0, 0.0
    while abs(x - prev) > 1e-12:  # x = a cos(x): linear convergence, about 80 steps
        prev = x
        x = a * np.cos(x)
    return x


def fixed_point_grad(a):
    x, prev, d = 1.0, 0.0, 0.0
    while abs(x - prev) > 1e-12:
        prev = x
        x, d = a * np.cos(x), np.cos(x) - a * np.sin(x) * d
    return d


def test_while_until_converged_and_its_hessian():
    a = 0.7
    assert ad.trace(fixed_point, a).loops_rolled == 1
    assert np.isclose(ad.grad(fixed_point)(a), fixed_point_grad(a), rtol=1e-9)
    h_fd = (fixed_point_grad(a + 1e-5) - fixed_point_grad(a - 1e-5)) / 2e-5
    assert np.isclose(ad.hessian(fixed_point)(a), h_fd, rtol=1e-5)


def test_while_with_an_int_counter_and_the_counter_after():
    def f(x, n):
        k = 0
        while k < n:
            x = x + 0.1 * np.tanh(x)
            k += 1
        return x.sum() * k

    x = np.array([0.2, -0.7])
    assert ad.trace(f, x, 60).loops_rolled == 1
    assert np.isclose(ad.function(f)(x, 60), f(x, 60), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(x, 60), numeric_grad(lambda z: f(z, 60), x), rtol=1e-7)


# -- break with a data-dependent step -------------------------------------------------------------
def damped(x, a, tol):
    for i in range(10_000):
        new = 0.9 * x + a
        if abs(new - x) < tol:
            break
        x = new
    return x


def damped_grad(x, a, tol):
    d = 0.0
    for i in range(10_000):
        new = 0.9 * x + a
        if abs(new - x) < tol:
            break
        x, d = new, 0.9 * d + 1.0
    return d


def test_break_at_a_data_dependent_step_is_guarded():
    g = ad.grad(damped, wrt=1)
    assert ad.trace(damped, 0.0, 1.0, 1e-6).loops_rolled == 1
    assert np.isclose(g(0.0, 1.0, 1e-6), damped_grad(0.0, 1.0, 1e-6), rtol=1e-10)
    assert np.isclose(g(0.0, 1.0 + 1e-9, 1e-6), damped_grad(0.0, 1.0 + 1e-9, 1e-6), rtol=1e-10)
    assert g.stats.traces == 1  # breaks at the same step
    assert np.isclose(g(0.0, 3.0, 1e-6), damped_grad(0.0, 3.0, 1e-6), rtol=1e-10)  # a later break
    assert g.stats.traces == 2


# -- nested loops: the inner loop rolls inside the rolled outer body -------------------------------
def double(x, n):
    s = 0.0
    for i in range(n):
        for j in range(n):
            s = s + np.sin(x[i] * x[j])
    return s


def double_grad(x):
    return 2 * (np.cos(np.outer(x, x)) * x[None, :]).sum(1)


def test_nested_loops_roll_inside_each_other():
    x = rng.normal(size=100) * 0.5
    small, large = ad.trace(double, x[:30], 30), ad.trace(double, x, 100)
    assert small.loops_rolled == large.loops_rolled == 4  # inner Scans of 2 plain steps, outer with inner
    assert small.n_nodes() == large.n_nodes()
    assert np.isclose(large.result, double(x, 100), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(double)(x, 100), double_grad(x), rtol=1e-9)  # 10,000 steps


def test_a_kernel_matrix_filled_by_a_double_loop():
    def gp(x, ell):
        n = x.shape[0]
        K = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                K[i, j] = np.exp(-(x[i] - x[j]) ** 2 / ell)
        return (K * np.outer(x, x)).sum()

    x = np.linspace(0, 1, 24)
    assert ad.trace(gp, x, 0.3).loops_rolled == 4
    d2 = (x[:, None] - x[None, :]) ** 2
    expected = np.sum(np.exp(-d2 / 0.3) * d2 / 0.3 ** 2 * np.outer(x, x))
    assert np.isclose(ad.grad(gp, wrt=1)(x, 0.3), expected, rtol=1e-10)


# -- irregular bodies and counters that cannot be carried ---------------------------------------------
def test_a_counter_used_as_a_python_index_stays_unrolled():
    table = [0.5 * k for k in range(50)]

    def f(x):
        k = 0
        for i in range(40):
            x = x + table[k] * 0.01 * np.sin(x)
            k += 1
        return x.sum() + k

    x = np.array([0.4, 1.1])
    assert ad.trace(f, x).loops_rolled == 0
    assert np.isclose(ad.function(f)(x), f(x), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(x), numeric_grad(f, x), rtol=1e-7)


# -- export: each kind under numpy alone (a Python loop, or none where the steps vectorize) -----------
@pytest.mark.parametrize("f, args, wrt, loop", [
    # a running sum of independent terms is vectorized: no loop left to write
    (squares, (0.7, np.linspace(0, 1, 30), np.linspace(1, 3, 30)), 0, False),
    (recurrent, (W4, np.ones((30, 4)) * 0.1, np.zeros(4)), 0, True),
    (euler, (np.array([0.3, 1.0]), 0.5), 0, True),
    (double, (np.linspace(0, 1, 25), 25), 0, True),
])
def test_export_of_each_kind_runs_under_numpy_alone(f, args, wrt, loop):
    source = ad.export_source(ad.grad(f, wrt=wrt), *args)
    assert ("def scan_loop" in source) == loop
    assert "import pytensor" not in source and "import pyautodiff" not in source
    namespace = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    got = namespace[f"grad_{f.__name__}"](*args)
    a0 = np.asarray(args[0], dtype=float)
    np.testing.assert_allclose(got, numeric_grad(lambda z: f(z, *args[1:]), a0), rtol=1e-6, atol=1e-9)


def test_a_counter_a_probe_cannot_carry_is_traced_again_plain():
    def f(x, n):
        t = 0.0
        try:  # the failed probe is no error of this code's to catch
            for i in range(n):
                x = x + 0.01 * np.sin(x) * float("%.3f" % t)  # formatting needs a Python float
                t += 0.5
        except Exception:
            return 0.0 * x.sum()
        return x.sum()

    x = np.array([0.4, 1.1])
    tr = ad.trace(f, x, 40)
    assert tr.loops_rolled == 0  # t stays a Python float, so the body changes at every step
    assert np.isclose(tr.result, f(x, 40), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(x, 40), numeric_grad(lambda z: f(z, 40), x), rtol=1e-7)


def test_a_few_iterations_of_a_big_body_roll():
    def f(x):
        m = x.shape[0]
        s = 0.0
        for i in range(m):  # 10 x 10: neither loop is long, but unrolled they are 100 steps
            for j in range(m):
                s = s + np.sin(x[i] * x[j])
        return s

    x = np.linspace(0, 1, 10)
    assert ad.trace(f, x).loops_rolled == 1  # the outer loop, its inner loop unrolled in the body
    np.testing.assert_allclose(ad.grad(f)(x), double_grad(x), rtol=1e-10)


def test_break_inside_a_while_loop_and_a_loop_that_ends_early():
    def f(x, limit):
        k = 0
        while True:
            x = x * 1.02 + 0.01
            k += 1
            if x.sum() > limit:
                break
        return x.sum() + k

    def grad(x, limit):
        g = 1.0
        while True:
            x = x * 1.02 + 0.01
            g *= 1.02
            if x.sum() > limit:
                break
        return g * np.ones_like(x)

    x = np.array([0.5, 1.5])
    g = ad.grad(f)
    assert ad.trace(f, x, 50.0).loops_rolled == 1
    np.testing.assert_allclose(g(x, 50.0), grad(x, 50.0), rtol=1e-10)
    np.testing.assert_allclose(g(x, 3.0), grad(x, 3.0), rtol=1e-10)  # a few steps: a new trace
    assert g.stats.traces == 2
    assert np.isclose(ad.function(f)(x, 50.0), f(x, 50.0), rtol=1e-12)
