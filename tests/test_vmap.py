"""ad.vmap: batched evaluation and per-example derivatives (JAX's meaning), checked
against hand-written derivatives and against the same function applied row by row
under CPython."""
import numpy as np
import pytest

import pyautodiff as ad

rng = np.random.default_rng(7)


def sq_loss(w, x, y):
    return (x @ w - y) ** 2


def test_per_example_gradients_equal_the_hand_written_ones():
    w, X, Y = rng.normal(size=3), rng.normal(size=(9, 3)), rng.normal(size=9)
    g = ad.vmap(ad.grad(sq_loss), in_axes=(None, 0, 0))
    got = g(w, X, Y)
    want = 2 * (X @ w - Y)[:, None] * X  # d/dw (x.w - y)^2, per row
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert g.stats["batched"] == 1 and g.stats["looped"] == 0
    # a second call with new data reuses the batched graph
    X2 = rng.normal(size=(9, 3))
    np.testing.assert_allclose(g(w, X2, Y), 2 * (X2 @ w - Y)[:, None] * X2, rtol=1e-13)
    assert g.stats["batched"] == 2


def test_logistic_per_example_gradients_with_integer_labels():
    def nll(w, x, y):
        z = x @ w
        return np.logaddexp(0.0, z) - y * z

    w, X = rng.normal(size=4), rng.normal(size=(6, 4))
    y = (rng.random(6) > 0.5).astype(np.int64)
    got = ad.vmap(ad.grad(nll), in_axes=(None, 0, 0))(w, X, y)
    p = 1 / (1 + np.exp(-(X @ w)))
    np.testing.assert_allclose(got, (p - y)[:, None] * X, rtol=1e-12)


def test_batched_evaluation_of_a_plain_function_along_another_axis():
    A = rng.normal(size=(3, 5))
    out = ad.vmap(lambda x: np.sin(x) * np.sum(x), in_axes=1, out_axes=1)(A)
    np.testing.assert_allclose(out, np.sin(A) * A.sum(axis=0, keepdims=True), rtol=1e-14)


def test_hvp_with_batched_points_and_directions():
    f = lambda x: np.sum(np.sin(x) ** 2)  # noqa: E731
    X, V = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    got = ad.vmap(ad.hvp(f))(X, V)
    np.testing.assert_allclose(got, 2 * np.cos(2 * X) * V, rtol=1e-12)  # Hessian diag 2cos(2x)


def test_jacobian_per_example():
    X = rng.normal(size=(5, 3))
    J = ad.vmap(ad.jacobian(np.tanh))(X)
    assert J.shape == (5, 3, 3)
    for i in range(5):
        np.testing.assert_allclose(J[i], np.diag(1 - np.tanh(X[i]) ** 2), rtol=1e-13)


def test_value_and_grad_and_python_float_results():
    def f(x):
        return float(np.sum(x ** 2))

    X = rng.normal(size=(4, 2))
    v = ad.vmap(ad.function(f))(X)
    np.testing.assert_allclose(v, (X ** 2).sum(axis=1), rtol=1e-14)
    val, g = ad.vmap(ad.value_and_grad(lambda x: np.sum(x ** 3)))(X)
    np.testing.assert_allclose(val, (X ** 3).sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(g, 3 * X ** 2, rtol=1e-14)


def test_examples_on_different_branches_are_each_right():
    def f(x):
        if x.sum() > 0:
            return x * 2.0
        return -x

    A = np.array([[1.0, 2.0], [-3.0, 1.0], [0.5, 0.5], [-1.0, -1.0]])
    v = ad.vmap(f)
    np.testing.assert_array_equal(v(A), np.stack([f(a) for a in A]))
    # all rows on the first row's branch: one batched graph
    B = np.abs(A)
    np.testing.assert_array_equal(v(B), 2 * B)
    assert v.stats["batched"] >= 1 and v.stats["looped"] >= 1


def test_tuple_results_and_out_axes():
    def f(x):
        return x + 1.0, np.sum(x)

    A = rng.normal(size=(4, 3))
    a, s = ad.vmap(f, out_axes=(1, 0))(A)
    np.testing.assert_allclose(a, (A + 1.0).T, rtol=1e-15)
    np.testing.assert_allclose(s, A.sum(axis=1), rtol=1e-14)


def test_keyword_arguments_map_along_axis_0():
    f = lambda x, scale: x * scale  # noqa: E731
    A, s = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    np.testing.assert_allclose(ad.vmap(f)(A, scale=s), A * s, rtol=1e-15)


@pytest.mark.parametrize("call, message", [
    (lambda: ad.vmap(np.sin, in_axes=None)(np.ones(3)), "no argument is mapped"),
    (lambda: ad.vmap(lambda a, b: a + b)(np.ones(3), np.ones(4)), "different sizes"),
    (lambda: ad.vmap(np.sin)(1.5), "rank at least 1"),
    (lambda: ad.vmap(np.sin, in_axes=2)(np.ones(3)), "out of range"),
    (lambda: ad.vmap(lambda a, b: a, in_axes=(0,))(np.ones(3), np.ones(3)), "in_axes has 1"),
    (lambda: ad.vmap(np.sin, in_axes="x"), "in_axes takes"),
    (lambda: ad.vmap(np.sin, out_axes=None)(np.arange(3.0)), "varies over the batch"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ad.AutodiffError, match=message):
        call()


def test_a_transformation_of_a_vmap_is_traced_through():
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(ad.vmap(np.sin)(x)))(x), np.cos(x), rtol=1e-12)
