"""Rolled `for` loops over lists and tuples of same-shaped arrays or floats (issue #17,
src/pyautodiff/vm/loop_lists.py): the items left are stacked once and the body reads the
stack at the traced step index.  Derivatives are checked against hand-written ones or
central differences, at small N and N = 10,000; the graph must not grow with N."""
import numpy as np
import pytest

import pyautodiff as ad

from helpers import numeric_grad


def test_a_comprehension_appending_in_a_loop_is_not_rolled_away():
    # the probe's first LIST_APPEND must count as an effect (regression: it ran unflagged)
    def f(x, n):
        ws = [x * j for j in range(n)]
        return len(ws) + ws[-1].sum()

    x = np.array([0.3, -0.5, 0.8])
    tr = ad.trace(f, x, 40)
    assert np.isclose(tr.result, f(x, 40), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(x, 40), np.full(3, 39.0), rtol=1e-12)


class _Box:
    pass


def test_an_attribute_written_once_per_step_is_not_rolled_away():
    # the same regression through STORE_ATTR: each probe's first write went unflagged
    def f(x):
        a = _Box()
        a.v = 0.0
        for i in range(40):
            a.v = a.v + np.sin(x * i)
        return a.v.sum()

    x = np.array([0.3, -0.5])
    assert np.isclose(ad.trace(f, x).result, f(x), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(x), np.array([np.sum(np.arange(40) * np.cos(x[k] * np.arange(40)))
                                                        for k in range(2)]), rtol=1e-12)



def test_an_ordinary_array_updated_in_place_with_constants_is_not_rolled_away():
    def f(x):
        acc = np.zeros(2)
        s = 0.0
        for i in range(40):
            acc += 1.0  # a plain array, plain numbers: an effect a Scan would not repeat
            s = s + x * i
        return s.sum() + acc.sum()

    x = np.array([0.3, -0.5])
    assert np.isclose(ad.trace(f, x).result, f(x), rtol=1e-12)


def test_constant_items_written_in_place_stay_unrolled():
    def f(x, n):
        ws = list(np.linspace(0.5, 1.5, 2 * n).reshape(n, 2))  # constant arrays (views of one)
        s = 0.0
        for w in ws:
            w += 1.0
            s = s + np.sin(w * x).sum()
        return s + ws[-1].sum()

    x = np.array([0.3, -0.5])
    tr = ad.trace(f, x, 40)
    assert tr.loops_rolled == 0
    assert np.isclose(tr.result, f(x, 40), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(x, 40), numeric_grad(lambda z: f(z, 40), x), rtol=1e-7)


rng = np.random.default_rng(1717)
X = np.array([0.3, -0.5, 0.8])


# -- a list of arrays given as an argument --------------------------------------------------------
def layers(x, ws):
    h = x
    for w in ws:
        h = np.tanh(w * h + 0.1)
    return h.sum()


def layers_grad(x, ws):
    hs = [x]
    for w in ws:
        hs.append(np.tanh(w * hs[-1] + 0.1))
    gh, gws = np.ones_like(x), []
    for w, h_in, h_out in zip(reversed(ws), reversed(hs[:-1]), reversed(hs[1:])):
        d = gh * (1 - h_out ** 2)
        gws.append(d * h_in)
        gh = d * w
    return gh, gws[::-1]


@pytest.mark.parametrize("n", [30, 300])  # each item an argument: PyTensor's cost grows with the inputs
def test_a_list_of_arrays_rolls(n):
    ws = [1.0 + 0.1 * rng.normal(size=3) for _ in range(n)]
    tr = ad.trace(layers, X, ws)
    assert tr.loops_rolled == 1
    assert np.isclose(tr.result, layers(X, ws), rtol=1e-12)
    gx, gws = ad.grad(layers, wrt=(0, 1))(X, ws)
    ex, ews = layers_grad(X, ws)
    np.testing.assert_allclose(gx, ex, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.array(gws), np.array(ews), rtol=1e-9, atol=1e-12)


def constant_layers(x, n):
    ws = list(np.linspace(0.5, 1.5, 3 * n).reshape(n, 3))  # constant arrays, made in the function
    return layers(x, ws)


@pytest.mark.parametrize("n", [30, 10_000])
def test_a_list_of_constant_arrays_rolls(n):
    tr = ad.trace(constant_layers, X, n)
    assert tr.loops_rolled == 1
    assert np.isclose(tr.result, constant_layers(X, n), rtol=1e-12)
    ws = list(np.linspace(0.5, 1.5, 3 * n).reshape(n, 3))
    np.testing.assert_allclose(ad.grad(constant_layers)(X, n), layers_grad(X, ws)[0], rtol=1e-9, atol=1e-12)


def test_the_graph_of_a_list_loop_is_flat_in_n():
    small = ad.trace(layers, X, [np.ones(3)] * 30)
    large = ad.trace(layers, X, [np.ones(3) * 0.5 for _ in range(600)])
    assert small.loops_rolled == large.loops_rolled == 1
    assert small.n_nodes() == large.n_nodes()
    small, large = ad.trace(constant_layers, X, 30), ad.trace(constant_layers, X, 3000)
    assert small.loops_rolled == large.loops_rolled == 1
    assert small.n_nodes() == large.n_nodes()


def test_a_list_of_another_length_or_shape_traces_again():
    g = ad.grad(layers)
    ws = [np.full(3, 0.9)] * 40
    np.testing.assert_allclose(g(X, ws), layers_grad(X, ws)[0], rtol=1e-10)
    ws2 = [np.full(3, 1.1)] * 40
    np.testing.assert_allclose(g(X, ws2), layers_grad(X, ws2)[0], rtol=1e-10)
    assert g.stats.traces == 1  # other values, same structure: the cached code
    ws3 = [np.full(3, 0.9)] * 50
    np.testing.assert_allclose(g(X, ws3), layers_grad(X, ws3)[0], rtol=1e-10)
    assert g.stats.traces == 2


# -- pairs, floats, enumerate and zip over lists, outside lists --------------------------------------
def pairs_cost(p, pairs):
    s = 0.0
    for a, b in pairs:
        s = s + ((p * a - b) ** 2).sum()
    return s


@pytest.mark.parametrize("n", [30, 300])
def test_a_list_of_pairs_rolls(n):
    pairs = [(rng.normal(size=2), rng.normal(size=2)) for _ in range(n)]
    p = np.array([0.7, -1.2])
    assert ad.trace(pairs_cost, p, pairs).loops_rolled == 1
    A, B = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    np.testing.assert_allclose(ad.grad(pairs_cost)(p, pairs), (2 * (p * A - B) * A).sum(0), rtol=1e-10)


def poly(x, n):
    cs = (1.0 / np.arange(1, n + 1)).tolist()  # Python floats: constants, weak in numpy's promotion
    s = 0.0
    for c in cs:
        s = s + np.sin(c * x)
    return s.sum()


@pytest.mark.parametrize("n", [30, 10_000])
def test_a_list_of_python_floats_rolls(n):
    tr = ad.trace(poly, X, n)
    assert tr.loops_rolled == 1
    assert np.isclose(tr.result, poly(X, n), rtol=1e-12)
    c = 1.0 / np.arange(1, n + 1)
    np.testing.assert_allclose(ad.grad(poly)(X, n), (np.cos(np.outer(c, X)) * c[:, None]).sum(0), rtol=1e-10)


def test_python_floats_keep_a_float32_state_float32():
    def f(x):
        for c in [0.5 + 0.001 * k for k in range(40)]:
            x = x * c + np.float32(0.25)
        return x

    x = np.array([0.3, 1.5], dtype=np.float32)
    tr = ad.trace(f, x)
    assert tr.loops_rolled == 1
    assert tr.result.dtype == np.float32
    np.testing.assert_allclose(tr.result, f(x), rtol=1e-5)


WEIGHTS = [np.linspace(0.5, 1.5, 3) * (1 + 0.01 * k) for k in range(40)]


def global_layers(x):
    h = x
    for w in WEIGHTS:  # an outside list: its length guarded, each item an input
        h = np.tanh(w * h + 0.1)
    return h.sum()


def test_an_outside_list_rolls_and_stays_guarded():
    global WEIGHTS
    saved = WEIGHTS
    try:
        g = ad.grad(global_layers)
        assert ad.trace(global_layers, X).loops_rolled == 1
        np.testing.assert_allclose(g(X), layers_grad(X, WEIGHTS)[0], rtol=1e-10)
        WEIGHTS[7] *= 0.5  # an item changed in place: an input, seen on the cached call
        np.testing.assert_allclose(g(X), layers_grad(X, WEIGHTS)[0], rtol=1e-10)
        assert g.stats.traces == 1
        WEIGHTS = WEIGHTS + [np.ones(3)] * 5  # another length: traced again
        np.testing.assert_allclose(g(X), layers_grad(X, WEIGHTS)[0], rtol=1e-10)
        assert g.stats.traces == 2
    finally:
        WEIGHTS = saved


def test_enumerate_and_zip_over_lists():
    def f(x, ws, vs):
        s = 0.0
        for i, (w, v) in enumerate(zip(ws, vs)):
            s = s + np.sin(w * x) * v * (i + 1)
        return s.sum()

    ws = [rng.normal(size=3) for _ in range(50)]
    vs = [float(k) / 50 for k in range(50)]
    assert ad.trace(f, X, ws, vs).loops_rolled == 1
    W, V = np.array(ws), np.array(vs)[:, None] * np.arange(1, 51)[:, None]
    np.testing.assert_allclose(ad.grad(f)(X, ws, vs), (np.cos(W * X) * W * V).sum(0), rtol=1e-10)


def test_jvp_and_hessian_through_a_list_loop():
    ws = [0.5 + 0.01 * k * np.ones(2) for k in range(40)]

    def f(x):
        return layers(x, ws)

    x = np.array([0.2, -0.4])
    g = ad.grad(f)
    np.testing.assert_allclose(g(x), layers_grad(x, ws)[0], rtol=1e-10)
    v = np.array([1.0, 0.5])
    _, t = ad.jvp(f)(x, v)
    assert np.isclose(t, layers_grad(x, ws)[0] @ v, rtol=1e-10)
    H_fd = np.array([numeric_grad(lambda q, k=k: layers_grad(q, ws)[0][k], x, 1e-5) for k in range(2)])
    np.testing.assert_allclose(ad.hessian(f)(x), H_fd, rtol=1e-6, atol=1e-9)


# -- what stays unrolled, and right ----------------------------------------------------------------
def test_a_heterogeneous_list_stays_unrolled():
    def f(x, ws):
        s = 0.0
        for w in ws:
            s = s + np.sin(w * x[: np.size(w)]).sum()
        return s

    ws = [np.ones(3) if k % 2 else np.ones(2) * 0.5 for k in range(40)]
    tr = ad.trace(f, X, ws)
    assert tr.loops_rolled == 0
    np.testing.assert_allclose(ad.grad(f)(X, ws), numeric_grad(lambda z: f(z, ws), X), rtol=1e-7)


def test_a_body_writing_into_its_items_stays_unrolled():
    def f(x, n):
        ps = [x * (k + 1) for k in range(n)]
        last = ps[-1]
        s = 0.0
        for p in ps:
            p += 1.0  # the list's own arrays change: a rolled loop would not repeat it
            s = s + np.sin(p).sum()
        return s + ps[0].sum() + last.sum()

    tr = ad.trace(f, X, 40)
    assert tr.loops_rolled == 0
    assert np.isclose(tr.result, f(X, 40), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(X, 40), numeric_grad(lambda z: f(z, 40), X), rtol=1e-7)


def test_a_body_writing_into_a_later_item_stays_unrolled():
    def f(x, n):
        ps = [x * (k + 1) for k in range(n)]
        last = ps[-1]
        s = 0.0
        for p in ps:
            s = s + np.sin(p).sum()
            last += 0.5  # the last item, changed before the loop reaches it
        return s

    tr = ad.trace(f, X, 40)
    assert tr.loops_rolled == 0
    assert np.isclose(tr.result, f(X, 40), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(X, 40), numeric_grad(lambda z: f(z, 40), X), rtol=1e-7)


def test_a_list_loop_inside_a_rolled_loop():
    def f(x, ws, T):
        for t in range(T):
            for w in ws:
                x = x + 0.01 * np.sin(w * x)
        return x.sum()

    ws = [np.ones(2) * (0.5 + k / 30) for k in range(30)]
    x = np.array([0.2, 0.4])
    tr = ad.trace(f, x, ws, 25)
    assert tr.loops_rolled == 4  # the inner Scans of two plain outer steps, the outer with its inner
    assert np.isclose(tr.result, f(x, ws, 25), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(f)(x, ws, 25), numeric_grad(lambda z: f(z, ws, 25), x), rtol=1e-7)


# -- zip(..., strict=True) ------------------------------------------------------------------------------
def strict_squares(a, xs, ys):
    s = 0.0
    for x, y in zip(xs, ys, strict=True):
        s = s + (a * x - y) ** 2
    return s


@pytest.mark.parametrize("n", [30, 10_000])
def test_zip_strict_rolls_when_the_lengths_agree(n):
    xs = np.linspace(0, 1, n)
    ys = 2 * xs + np.sin(7 * xs) * 0.1
    assert ad.trace(strict_squares, 0.7, xs, ys).loops_rolled == 1
    g = ad.grad(strict_squares)
    assert np.isclose(g(0.7, xs, ys), np.sum(2 * (0.7 * xs - ys) * xs), rtol=1e-10)
    with pytest.raises(ValueError, match="shorter"):  # CPython's error, also after a cached call
        g(0.7, xs, ys[:-1])
    with pytest.raises(ValueError, match="longer"):
        ad.function(strict_squares)(0.7, xs[:-1], ys)


def test_zip_strict_over_lists_with_enumerate():
    def f(x, ws, vs):
        s = 0.0
        for i, (w, v) in enumerate(zip(ws, vs, strict=True)):
            s = s + np.sin(w * x) * v * (i + 1)
        return s.sum()

    ws = [rng.normal(size=3) for _ in range(40)]
    vs = [k / 40 for k in range(40)]
    assert ad.trace(f, X, ws, vs).loops_rolled == 1
    W, V = np.array(ws), (np.array(vs) * np.arange(1, 41))[:, None]
    np.testing.assert_allclose(ad.grad(f)(X, ws, vs), (np.cos(W * X) * W * V).sum(0), rtol=1e-10)
    with pytest.raises(ValueError, match="shorter"):
        ad.grad(f)(X, ws, vs[:-1])
