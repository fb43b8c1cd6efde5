"""Second derivatives and both modes: hessian, hvp, jacobian, jvp, vjp."""
import numpy as np
import pytest
import scipy.optimize

import pyautodiff as ad

from helpers import assert_close
from test_examples import mlp_grad_by_hand, mlp_loss


def test_hessian_of_quadratic_form():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    H = ad.hessian(lambda x: 0.5 * x @ A @ x)(rng.normal(size=4))
    assert H.shape == (4, 4)
    assert_close(H, (A + A.T) / 2, rtol=1e-13, atol=1e-14)


def test_rosen_hessian_and_hvp_against_scipy():
    x = np.linspace(-1.0, 1.5, 7)
    v = np.cos(np.arange(7.0))
    assert_close(ad.hessian(scipy.optimize.rosen)(x), scipy.optimize.rosen_hess(x), rtol=1e-12, atol=1e-10)
    assert_close(ad.hvp(scipy.optimize.rosen)(x, v), scipy.optimize.rosen_hess_prod(x, v), rtol=1e-12, atol=1e-10)


def test_logistic_regression_hessian():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    y = (rng.random(30) < 0.5).astype(float)

    def nll(w):
        z = X @ w
        return np.sum(np.logaddexp(0.0, z) - y * z)

    w = rng.normal(size=4) * 0.3
    p = 1 / (1 + np.exp(-X @ w))
    assert_close(ad.hessian(nll)(w), X.T @ np.diag(p * (1 - p)) @ X, rtol=1e-12, atol=1e-12)


def test_softmax_jacobian():
    def softmax(z):
        e = np.exp(z - z.max())
        return e / e.sum()

    z = np.array([0.2, -1.0, 0.5, 2.0])
    p = softmax(z)
    J = ad.jacobian(softmax)(z)
    assert J.shape == (4, 4)
    assert_close(J, np.diag(p) - np.outer(p, p), rtol=1e-13, atol=1e-15)


def test_mlp_hessian_wrt_one_weight_matrix_matches_finite_differences_of_its_gradient():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(8, 3))
    y = rng.integers(0, 2, 8)
    W1, b1 = rng.normal(size=(3, 4)) * 0.5, rng.normal(size=4) * 0.1
    W2, b2 = rng.normal(size=(4, 2)) * 0.5, rng.normal(size=2) * 0.1
    H = ad.hessian(mlp_loss, wrt="W2")(W1, b1, W2, b2, X, y)
    assert H.shape == (4, 2, 4, 2)
    eps = 1e-6
    fd = np.zeros_like(H)
    for i in range(4):
        for j in range(2):
            Wp, Wm = W2.copy(), W2.copy()
            Wp[i, j] += eps
            Wm[i, j] -= eps
            gp = mlp_grad_by_hand(W1, b1, Wp, b2, X, y)[2]
            gm = mlp_grad_by_hand(W1, b1, Wm, b2, X, y)[2]
            fd[:, :, i, j] = (gp - gm) / (2 * eps)
    assert_close(H, fd, rtol=1e-6, atol=1e-8)


def test_hessian_blocks_for_tuple_wrt():
    def f(a, b):
        return np.sum(a ** 2 * b[0]) + b[1] ** 3

    a, b = np.array([1.0, 2.0]), np.array([3.0, 0.5])
    (Haa, Hab), (Hba, Hbb) = ad.hessian(f, wrt=(0, 1))(a, b)
    assert_close(Haa, np.diag(2 * b[0] * np.ones(2)))
    assert_close(Hab, [[2 * a[0], 0], [2 * a[1], 0]])
    assert_close(Hba, Hab.T)
    assert_close(Hbb, [[0, 0], [0, 6 * b[1]]])


def vector_fn(x):
    return np.array([x[0] * x[1], np.sin(x[2]), x[0] ** 2 + x[2]])


def test_jvp_and_vjp_match_the_jacobian():
    x = np.array([0.5, -1.0, 2.0])
    J = ad.jacobian(vector_fn)(x)
    want = np.array([[x[1], x[0], 0], [0, 0, np.cos(x[2])], [2 * x[0], 0, 1]])
    assert_close(J, want, rtol=1e-14)
    v = np.array([1.0, 2.0, -0.5])
    u = np.array([0.3, -1.0, 2.0])
    value, tangent = ad.jvp(vector_fn)(x, v)
    assert_close(value, vector_fn(x))
    assert_close(tangent, J @ v, rtol=1e-14)
    value, cot = ad.vjp(vector_fn)(x, u)
    assert_close(cot, u @ J, rtol=1e-14)


def test_decorator_forms_and_wrt_by_name():
    @ad.hvp(wrt="x")
    def f(scale, x):
        return scale * np.sum(x ** 3)

    x, v = np.array([1.0, 2.0]), np.array([1.0, 1.0])
    assert_close(f(2.0, x, v), 2.0 * 6 * x * v)

    @ad.hessian
    def g(x):
        return np.sum(np.exp(x))

    assert_close(g(x), np.diag(np.exp(x)))


def test_direction_of_wrong_shape_is_a_clear_error():
    with pytest.raises(ad.AutodiffError, match="direction"):
        ad.hvp(scipy.optimize.rosen)(np.ones(3), np.ones(4))


def test_hvp_graph_is_not_quadratic():
    # the optimized hvp graph is a small multiple of the gradient graph
    rng = np.random.default_rng(3)
    X = rng.normal(size=(8, 3))
    y = rng.integers(0, 2, 8)
    args = (rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)), rng.normal(size=2), X, y)
    g = ad.grad(mlp_loss, wrt=0)
    h = ad.hvp(mlp_loss, wrt=0)
    g(*args)
    h(*args, np.ones((3, 4)))
    from pyautodiff.backend.compile import optimized_fgraph

    def size(t):
        spec = t._cache.entries[next(iter(t._cache.entries))][0]
        return len(optimized_fgraph(spec.trace.all_inputs + spec.extra_inputs, spec.outputs).apply_nodes)

    assert size(h) <= 4 * size(g)


def test_jvp_and_vjp_when_one_output_is_computed_from_another():
    # regression: PyTensor's multi-output pushforward/pullback dropped the shared path
    def g(x):
        a = np.sin(x)
        return a, 2 * a + x

    x = 1.0
    (a, b), (ta, tb) = ad.jvp(g)(x, 1.0)
    assert ta == pytest.approx(np.cos(x)) and tb == pytest.approx(2 * np.cos(x) + 1)
    value, cot = ad.vjp(g)(x, (1.0, 1.0))
    assert cot == pytest.approx(3 * np.cos(x) + 1)


def test_node_counts_show_the_optimizer_at_work():
    g = ad.grad(lambda x1, x2: np.log(x1) + x1 * x2 - np.sin(x2), wrt=(0, 1))
    before, after = g.n_nodes(2.0, 5.0, optimized=False), g.n_nodes(2.0, 5.0)
    assert after < before


@pytest.mark.parametrize("m, n", [(7, 2), (2, 7)])  # forward mode for tall, reverse for wide
def test_jacobian_both_constructions(m, n):
    rng = np.random.default_rng(m)
    A = rng.normal(size=(m, n))
    x = rng.normal(size=n)
    J = ad.jacobian(lambda x: np.tanh(A @ x) * np.sum(x ** 2))(x)
    t = np.tanh(A @ x)
    want = (1 - t ** 2)[:, None] * A * np.sum(x ** 2) + np.outer(t, 2 * x)
    assert_close(J, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("light", ["1", "0"])
def test_hessian_of_a_rolled_loop(monkeypatch, light):
    # the light first tier of a loop's graph kept a Blockwise of IncSubtensor whose generated
    # core helper took the index as a parameter the call did not pass (an InternalError on
    # every cold cache; a warm one served the fully rewritten code)
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", "0")
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")  # the default mode's first tier: light rewrites
    monkeypatch.setattr("pyautodiff.backend.compile.LIGHT_LOOPS", light == "1")

    def f(x):
        s = 0.0
        for i in range(1, x.shape[0]):
            s = s + np.sin(x[i]) * x[i - 1]
        return s

    x = np.random.default_rng(0).normal(size=40)
    hess = ad.hessian(f)
    H = hess(x)
    assert hess.stats.loops_rolled == 1
    hand = np.zeros((40, 40))  # by hand
    i = np.arange(1, 40)
    hand[i, i] = -np.sin(x[i]) * x[i - 1]
    hand[i, i - 1] = hand[i - 1, i] = np.cos(x[i])
    np.testing.assert_allclose(H, hand, rtol=1e-12, atol=1e-12)
    v = np.linspace(-1.0, 1.0, 40)
    np.testing.assert_allclose(ad.hvp(f)(x, v), hand @ v, rtol=1e-12, atol=1e-12)
