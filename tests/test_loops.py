"""Loop rolling (src/pyautodiff/vm/rolling.py): a regular `for i in range(n)` loop
becomes one Scan; its derivatives must equal hand-written reverse sweeps or
careful central differences, at small n and n = 10,000, and irregular loops
must stay unrolled and right."""
import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.backend import tiered

from helpers import numeric_grad


# -- the four loops, and their derivatives written by hand ---------------------------
def accumulate(x, w, n):
    for i in range(n):
        x = x + 0.01 * np.sin(x) * w[i % 16]
    return x.sum()


def accumulate_grad(x, w, n):
    xs = [x]
    for i in range(n):
        x = x + 0.01 * np.sin(x) * w[i % 16]
        xs.append(x)
    gx, gw = np.ones_like(x), np.zeros_like(w)
    for i in reversed(range(n)):
        xi = xs[i]
        gw[i % 16] += np.sum(gx * 0.01 * np.sin(xi))
        gx = gx * (1 + 0.01 * np.cos(xi) * w[i % 16])
    return gx, gw


def lotka_volterra(theta, n):
    a, b, c, d = theta[0], theta[1], theta[2], theta[3]
    x, y = 1.0, 0.5
    dt = 10.0 / n
    for i in range(n):
        dx = a * x - b * x * y
        dy = c * x * y - d * y
        x = x + dt * dx
        y = y + dt * dy
    return x + y


def lotka_volterra_grad(theta, n):
    """Forward sensitivities d(x, y)/d theta, stepped beside the state."""
    a, b, c, d = theta
    x, y = 1.0, 0.5
    sx, sy = np.zeros(4), np.zeros(4)
    dt = 10.0 / n
    for i in range(n):
        dfx = np.array([x, -x * y, 0.0, 0.0]) + (a - b * y) * sx - b * x * sy
        dfy = np.array([0.0, 0.0, x * y, -y]) + c * y * sx + (c * x - d) * sy
        x, y = x + dt * (a * x - b * x * y), y + dt * (c * x * y - d * y)
        sx, sy = sx + dt * dfx, sy + dt * dfy
    return sx + sy


def rnn(W, x, h):
    for t in range(x.shape[0]):
        h = np.tanh(W @ h + x[t])
    return h.sum()


def rnn_grad(W, x, h):
    hs = [h]
    for t in range(x.shape[0]):
        h = np.tanh(W @ h + x[t])
        hs.append(h)
    gh, gW, gx = np.ones_like(h), np.zeros_like(W), np.zeros_like(x)
    for t in reversed(range(x.shape[0])):
        d = gh * (1 - hs[t + 1] ** 2)
        gW += np.outer(d, hs[t])
        gx[t] = d
        gh = W.T @ d
    return gW, gx


def fill(a, b, x):
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = np.tanh(a * x[i] + b)
    return out.sum()


def fill_grad(a, b, x):
    d = 1 - np.tanh(a * x + b) ** 2
    return np.sum(d * x), np.sum(d)


rng = np.random.default_rng(17)
W16 = rng.normal(size=(16, 16)) * 0.25
THETA = np.array([1.0, 0.5, 0.3, 0.4])


@pytest.mark.parametrize("n", [30, 10_000])
def test_accumulate_rolls_and_differentiates(n):
    x, w = rng.normal(size=8), rng.normal(size=16)
    tr = ad.trace(accumulate, x, w, n)
    assert tr.loops_rolled == 1
    assert np.isclose(tr.result, accumulate(x, w, n), rtol=1e-12)
    gx, gw = ad.grad(accumulate, wrt=(0, 1))(x, w, n)
    ex, ew = accumulate_grad(x, w, n)
    np.testing.assert_allclose(gx, ex, rtol=1e-9)
    np.testing.assert_allclose(gw, ew, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [30, 10_000])
def test_lotka_volterra_on_scalars(n):
    tr = ad.trace(lotka_volterra, THETA, n)
    assert tr.loops_rolled == 1
    assert np.isclose(tr.result, lotka_volterra(THETA, n), rtol=1e-12)
    g = ad.grad(lotka_volterra)(THETA, n)
    np.testing.assert_allclose(g, lotka_volterra_grad(THETA, n), rtol=1e-8)


@pytest.mark.parametrize("n", [30, 10_000])
def test_rnn(n):
    x, h = rng.normal(size=(n, 16)), rng.normal(size=16)
    assert ad.trace(rnn, W16, x, h).loops_rolled == 1
    gW, gx = ad.grad(rnn, wrt=(0, 1))(W16, x, h)
    eW, ex = rnn_grad(W16, x, h)
    np.testing.assert_allclose(gW, eW, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gx, ex, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [30, 10_000])
def test_fill_writes_per_step(n):
    x = rng.normal(size=n)
    tr = ad.trace(fill, 0.7, -0.2, x)
    assert tr.loops_rolled == 1
    assert np.isclose(tr.result, fill(0.7, -0.2, x), rtol=1e-12)
    ga, gb = ad.grad(fill, wrt=(0, 1))(0.7, -0.2, x)
    ea, eb = fill_grad(0.7, -0.2, x)
    assert np.isclose(ga, ea, rtol=1e-10) and np.isclose(gb, eb, rtol=1e-10)


@pytest.mark.parametrize("f, args", [
    (accumulate, lambda n: (np.ones(8), np.linspace(-1, 1, 16), n)),
    (lotka_volterra, lambda n: (THETA, n)),
    (rnn, lambda n: (W16, np.ones((n, 16)) * 0.1, np.zeros(16))),
    (fill, lambda n: (0.5, 0.1, np.linspace(0, 1, n))),
])
def test_graph_size_does_not_grow_with_n(f, args):
    small, large = ad.trace(f, *args(100)), ad.trace(f, *args(1000))
    assert small.loops_rolled == large.loops_rolled == 1
    assert small.n_nodes() == large.n_nodes()
    assert small.n_nodes(optimized=False) == large.n_nodes(optimized=False)


# -- every transformation on a rolled loop --------------------------------------------------------
def step_map(x, n):
    for i in range(n):
        x = x + 0.1 * np.sin(x) * (1 + 0.01 * i)
    return x


def test_every_transformation_on_a_rolled_loop():
    n = 30
    x = np.array([0.3, -1.2, 2.0])
    assert ad.trace(step_map, x, n).loops_rolled == 1
    J = numeric_grad(lambda z: step_map(z, n)[0], x)[None]
    for k in (1, 2):
        J = np.vstack([J, numeric_grad(lambda z, k=k: step_map(z, n)[k], x)])
    np.testing.assert_allclose(ad.function(step_map)(x, n), step_map(x, n), rtol=1e-12)
    np.testing.assert_allclose(ad.jacobian(step_map)(x, n), J, rtol=1e-6, atol=1e-9)
    v = np.array([1.0, -2.0, 0.5])
    y, t = ad.jvp(step_map)(x, n, v)
    np.testing.assert_allclose(t, J @ v, rtol=1e-6)
    y, c = ad.vjp(step_map)(x, n, v)
    np.testing.assert_allclose(c, v @ J, rtol=1e-6)

    def cost(z, n):
        return (step_map(z, n) ** 2).sum()

    g_fd = numeric_grad(lambda z: cost(z, n), x)
    val, g = ad.value_and_grad(cost)(x, n)
    assert np.isclose(val, cost(x, n), rtol=1e-12)
    np.testing.assert_allclose(g, g_fd, rtol=1e-6)
    H_fd = np.array([numeric_grad(lambda z, k=k: ad.grad(cost)(z, n)[k], x, 1e-5) for k in range(3)])
    H = ad.hessian(cost)(x, n)
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ad.hvp(cost)(x, n, v), H_fd @ v, rtol=1e-5, atol=1e-7)


# -- guards inside a rolled body ---------------------------------------------------------------------
def branchy(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0:
            s = s + x[i] ** 2
        else:
            s = s - x[i]
    return s


def branchy_grad(x):
    return np.where(x > 0, 2 * x, -1.0)


def test_guards_in_a_rolled_body_are_checked_at_every_step():
    g = ad.grad(branchy)
    pos = rng.uniform(0.1, 1.0, size=50)
    assert ad.trace(branchy, pos).loops_rolled == 1
    np.testing.assert_allclose(g(pos), branchy_grad(pos))
    mixed = pos.copy()
    mixed[37] = -0.5  # one later step takes the other branch: a guard failure
    np.testing.assert_allclose(g(mixed), branchy_grad(mixed))
    assert g.stats.traces == 2 and g.stats.guard_failures == 1
    assert g.stats.loops_rolled == 1  # steps 2..36 of the new trace (the rest is too short)
    np.testing.assert_allclose(g(pos * 2), branchy_grad(pos * 2))  # the first specialization again
    assert g.stats.traces == 2


def test_first_trace_stops_rolling_where_a_guard_fails():
    x = rng.uniform(0.1, 1.0, size=60)
    x[30:] *= -1
    assert ad.trace(branchy, x).loops_rolled == 2  # up to the change of branch, and after it
    assert np.isclose(ad.function(branchy)(x), branchy(x))
    np.testing.assert_allclose(ad.grad(branchy)(x), branchy_grad(x))


def early_exit(x, n):
    for i in range(n):
        if i >= 7:
            break
        x = x * 1.1 + 0.1
    return x.sum()


def test_break_ends_the_rolled_part():
    x = np.array([1.0, 2.0])
    assert np.isclose(ad.function(early_exit)(x, 30), early_exit(x, 30))
    np.testing.assert_allclose(ad.grad(early_exit)(x, 30), np.full(2, 1.1 ** 7))


# -- irregular loops stay unrolled and right ---------------------------------------------------------
def alternating(x, n):
    for i in range(n):
        if i % 2 == 0:
            x = np.sin(x)
        else:
            x = x * 1.5
    return x.sum()


def alternating_grad(x, n):
    g = np.ones_like(x)
    for i in range(n):
        g = g * (np.cos(x) if i % 2 == 0 else 1.5)
        x = np.sin(x) if i % 2 == 0 else x * 1.5
    return g


def counted(x, n):
    seen = 0
    hist = []
    for i in range(n):
        x = np.cos(x)
        seen += 1
        hist.append(x)
    return x.sum() + seen + hist[n // 2].sum()


def counted_grad(x, n):
    """d/dx of x_n.sum() + x_(n//2+1).sum() for x_(k+1) = cos(x_k)."""
    d, total = np.ones_like(x), np.zeros_like(x)
    for k in range(n):
        d = d * -np.sin(x)
        x = np.cos(x)
        if k == n // 2:
            total += d
    return total + d


def test_irregular_loops_stay_unrolled_and_right():
    x = np.array([0.2, 0.9])
    assert ad.trace(alternating, x, 40).loops_rolled == 0
    np.testing.assert_allclose(ad.grad(alternating)(x, 40), alternating_grad(x, 40), rtol=1e-12)
    assert ad.trace(counted, x, 40).loops_rolled == 0  # a Python counter and a list: not repeatable
    assert np.isclose(ad.function(counted)(x, 40), counted(x, 40))
    np.testing.assert_allclose(ad.grad(counted)(x, 40), counted_grad(x, 40), rtol=1e-10)


def test_short_loops_stay_unrolled():
    x, w = rng.normal(size=8), rng.normal(size=16)
    assert ad.trace(accumulate, x, w, 21).loops_rolled == 0  # unrolling compiles as fast
    gx, gw = ad.grad(accumulate, wrt=(0, 1))(x, w, 21)
    np.testing.assert_allclose(gx, accumulate_grad(x, w, 21)[0], rtol=1e-12)


def test_loop_variable_and_locals_after_a_rolled_loop():
    def f(x, n):
        for i in range(2, n, 3):  # 33 iterations
            y = x * i
            x = x + 0.5 * np.tanh(y)
        return x.sum() + i + y.sum()

    x = np.array([0.1, -0.4])
    assert ad.trace(f, x, 100).loops_rolled == 1
    assert np.isclose(ad.function(f)(x, 100), f(x, 100))
    np.testing.assert_allclose(ad.grad(f)(x, 100), numeric_grad(lambda z: f(z, 100), x), rtol=1e-6)


def test_a_hundred_thousand_steps():
    x, w = rng.normal(size=8), rng.normal(size=16)
    n = 100_000
    gx, gw = ad.grad(accumulate, wrt=(0, 1))(x, w, n)
    ex, ew = accumulate_grad(x, w, n)
    np.testing.assert_allclose(gx, ex, rtol=1e-8)
    np.testing.assert_allclose(gw, ew, rtol=1e-8, atol=1e-12)


def test_export_of_a_rolled_loop_runs_under_numpy_alone():
    x, w = rng.normal(size=8), rng.normal(size=16)
    source = ad.export_source(ad.grad(accumulate, wrt=(0, 1)), x, w, 50)
    assert "def scan_loop(" in source and "for i in range(n_steps)" in source  # a readable Python loop
    namespace = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    gx, gw = namespace["grad_accumulate"](x, w, 50)
    ex, ew = accumulate_grad(x, w, 50)
    np.testing.assert_allclose(gx, ex, rtol=1e-10)
    np.testing.assert_allclose(gw, ew, rtol=1e-10, atol=1e-14)


def test_a_loop_of_independent_steps_is_vectorized():
    """`out[i] = f(x[i])` with no step reading another's result: no Scan, no Python loop,
    forward and back (vm/loop_scan.py ``vectorized``); the export runs under numpy alone."""
    x = rng.normal(size=300)
    tr = ad.trace(fill, 0.7, -0.2, x)
    assert tr.loops_rolled == 1 and not tiered.has_loop(tr.outputs)
    source = ad.export_source(ad.grad(fill, wrt=(0, 1)), 0.7, -0.2, x)
    assert "scan_loop" not in source and "for i in range(n_steps)" not in source
    namespace = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    ga, gb = namespace["grad_fill"](0.7, -0.2, x)
    ea, eb = fill_grad(0.7, -0.2, x)
    assert np.isclose(ga, ea, rtol=1e-10) and np.isclose(gb, eb, rtol=1e-10)
    np.testing.assert_allclose(ad.grad(fill, wrt=(0, 1))(0.7, -0.2, x), (ea, eb), rtol=1e-10)


def test_a_vectorized_loop_with_a_step_invariant_write_and_an_index_read_after_it():
    """Independent steps whose value does not depend on the index (it is broadcast to
    every step) beside one that does, and the loop variable read after the loop."""
    def f(a, x):
        out, const = np.zeros(x.shape[0]), np.zeros(x.shape[0])
        for i in range(x.shape[0]):
            out[i] = np.sin(a * x[i]) * i
            const[i] = a * a
        return out.sum() + const.sum() * i

    x = rng.normal(size=40)
    tr = ad.trace(f, 0.3, x)
    assert tr.loops_rolled == 1 and not tiered.has_loop(tr.outputs)
    n = x.shape[0]
    expected = np.sum(np.cos(0.3 * x) * x * np.arange(n)) + 2 * 0.3 * n * (n - 1)
    assert np.isclose(ad.grad(f)(0.3, x), expected, rtol=1e-10)
    assert np.isclose(ad.function(f)(0.3, x), f(0.3, x), rtol=1e-12)


@pytest.mark.parametrize("carried", [False, True])
@pytest.mark.parametrize("columns", [3, 28])
def test_a_scalar_written_into_each_row_fills_the_row(carried, columns):
    """``K[i] = s`` broadcasts ``s`` over row i, vectorized or in a Scan (a carried state
    beside it).  The 28 steps rolled (30 less the two emulated first) once broadcast
    along the rows instead: with 28 columns, a silent transpose."""
    def f(x):
        K = np.zeros((x.shape[0], columns))
        h = 0.0
        for i in range(x.shape[0]):
            if carried:
                h = np.tanh(h + x[i])
                K[i] = h
            else:
                K[i] = np.sin(x[i])
        return K

    def loss(x):
        return (f(x) * np.arange(columns)).sum()

    x = rng.normal(size=30)
    tr = ad.trace(f, x)
    assert tr.loops_rolled == 1 and tiered.has_loop(tr.outputs) == carried
    np.testing.assert_allclose(ad.function(f)(x), f(x), rtol=1e-14)
    np.testing.assert_allclose(ad.grad(loss)(x), numeric_grad(loss, x), rtol=1e-6, atol=1e-9)


def test_a_running_sum_is_vectorized():
    """`loss = loss + term(i)` with no term reading the sum (an inner loop unrolled into
    several terms, a second sum beside it): no Scan; values and gradient as by hand."""
    def f(w, X, y):
        loss, hits = 0.0, np.zeros(3)
        for i in range(X.shape[0]):
            for j in range(2):
                loss = loss + (j + 1) * (X[i] @ w - y[i]) ** 2
            hits = hits + np.tanh(X[i] * w)
        return loss + hits.sum()

    X, y, w = rng.normal(size=(50, 3)), rng.normal(size=50), rng.normal(size=3)
    tr = ad.trace(f, w, X, y)
    assert tr.loops_rolled == 1 and not tiered.has_loop(tr.outputs)
    r = X @ w - y
    expected = 6 * X.T @ r + np.sum((1 - np.tanh(X * w) ** 2) * X, axis=0)
    np.testing.assert_allclose(ad.grad(f)(w, X, y), expected, rtol=1e-10)
    np.testing.assert_allclose(ad.function(f)(w, X, y), f(w, X, y), rtol=1e-12)


def test_a_sum_read_inside_its_loop_stays_a_scan():
    def f(x, n):
        s = 0.0
        for i in range(n):
            s = s + np.sin(x[i] * s + 0.1)
        return s

    x = rng.normal(size=40)
    tr = ad.trace(f, x, 40)
    assert tr.loops_rolled == 1 and tiered.has_loop(tr.outputs)
    np.testing.assert_allclose(ad.grad(f)(x, 40), numeric_grad(lambda z: f(z, 40), x), rtol=1e-6, atol=1e-9)
