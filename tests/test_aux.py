"""has_aux= on the derivative transformations (JAX's return conventions) and stop_gradient."""
import numpy as np
import pytest

import pyautodiff as ad

from helpers import assert_close, numeric_grad

X = np.array([0.5, -1.25, 2.0])
V = np.array([1.0, 0.5, -2.0])


def loss_with_aux(a):
    r = np.sin(a) * a
    return np.sum(r ** 2), {"residual": r, "n": len(a), "mean": float(np.mean(a))}


def _grad_by_hand(a):
    r = np.sin(a) * a
    return 2 * r * (np.cos(a) * a + np.sin(a))


def _check_aux(aux, a):
    assert set(aux) == {"residual", "n", "mean"}
    assert_close(aux["residual"], np.sin(a) * a, rtol=1e-15, atol=0)
    assert aux["n"] == 3
    assert type(aux["mean"]) is float
    assert_close(aux["mean"], np.mean(a), rtol=1e-15, atol=0)


def test_grad_has_aux_returns_gradient_and_aux():
    g, aux = ad.grad(loss_with_aux, has_aux=True)(X)
    assert_close(g, _grad_by_hand(X), rtol=1e-13)
    _check_aux(aux, X)
    g2, aux2 = ad.grad(loss_with_aux, has_aux=True)(X + 1)  # new values, same trace
    assert_close(g2, _grad_by_hand(X + 1), rtol=1e-13)
    _check_aux(aux2, X + 1)


def test_value_and_grad_has_aux_nests_value_with_aux():
    (value, aux), g = ad.value_and_grad(loss_with_aux, has_aux=True)(X)
    assert_close(value, np.sum((np.sin(X) * X) ** 2), rtol=1e-15)
    assert_close(g, _grad_by_hand(X), rtol=1e-13)
    _check_aux(aux, X)


def test_jacobian_has_aux():
    def f(a):
        return np.tanh(a) * 2.0, a.sum()

    J, aux = ad.jacobian(f, has_aux=True)(X)
    assert_close(J, np.diag(2 * (1 - np.tanh(X) ** 2)), rtol=1e-13, atol=1e-15)
    assert_close(aux, X.sum(), rtol=1e-15)


def test_jvp_has_aux_returns_three_values():
    def f(a):
        return np.exp(a), [a[0], "tag"]

    out, tangent, aux = ad.jvp(f, has_aux=True)(X, V)
    assert_close(out, np.exp(X), rtol=1e-15)
    assert_close(tangent, np.exp(X) * V, rtol=1e-14)
    assert aux[1] == "tag" and aux[0] == X[0]


def test_vjp_has_aux_returns_three_values():
    def f(a):
        return a ** 3, np.max(a)

    out, cot, aux = ad.vjp(f, has_aux=True)(X, V)
    assert_close(out, X ** 3, rtol=1e-15)
    assert_close(cot, 3 * X ** 2 * V, rtol=1e-14)
    assert aux == np.max(X)


def test_hessian_and_hvp_has_aux():
    H, aux = ad.hessian(loss_with_aux, has_aux=True)(X)
    fd = np.array([numeric_grad(lambda a: _grad_by_hand(a)[i], X) for i in range(3)])
    assert_close(H, fd, rtol=1e-6, atol=1e-8)
    _check_aux(aux, X)
    Hv, aux = ad.hvp(loss_with_aux, has_aux=True)(X, V)
    assert_close(Hv, fd @ V, rtol=1e-6, atol=1e-8)
    _check_aux(aux, X)


def test_has_aux_with_tuple_wrt_and_structured_args():
    def f(params, data):
        W, b = params["W"], params["b"]
        pred = data @ W + b
        return np.mean(pred ** 2), pred

    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    data = rng.normal(size=(5, 3))
    g, pred = ad.grad(f, has_aux=True)(params, data)
    expected_pred = data @ params["W"] + params["b"]
    assert_close(pred, expected_pred, rtol=1e-14)
    assert_close(g["W"], data.T @ (2 * expected_pred / expected_pred.size), rtol=1e-12)
    assert_close(g["b"], (2 * expected_pred / expected_pred.size).sum(0), rtol=1e-12)
    (gp, gd), _ = ad.grad(f, wrt=(0, 1), has_aux=True)(params, data)
    assert_close(gp["b"], g["b"], rtol=1e-15)
    assert gd.shape == data.shape


def test_has_aux_requires_a_pair():
    with pytest.raises(ad.AutodiffError, match="has_aux=True.*pair"):
        ad.grad(lambda a: np.sum(a), has_aux=True)(X)
    with pytest.raises(ad.AutodiffError, match="has_aux=True.*pair"):
        ad.grad(lambda a: (np.sum(a), 1.0, 2.0), has_aux=True)(X)


def test_has_aux_is_refused_by_function():
    with pytest.raises(ad.AutodiffError, match="has_aux"):
        ad.function(loss_with_aux, has_aux=True)


def test_a_tuple_result_without_has_aux_is_an_error_not_a_tuple_value():
    with pytest.raises(ad.AutodiffError, match="has_aux=True"):
        ad.value_and_grad(lambda a: (np.sum(a ** 2), 1.0))(X)
    with pytest.raises(ad.AutodiffError, match="has_aux=True"):
        ad.grad(lambda a: (np.sum(a ** 2), a))(X)


def test_has_aux_verifies_the_differentiated_part():
    g, aux = ad.grad(loss_with_aux, has_aux=True, verify=True)(X)
    assert_close(g, _grad_by_hand(X), rtol=1e-13)
    out, cot, aux = ad.vjp(lambda a: (np.sin(a), a.sum()), has_aux=True, verify=True)(X, V)
    assert_close(cot, np.cos(X) * V, rtol=1e-14)


# -- stop_gradient -----------------------------------------------------------------------

def test_stop_gradient_treats_its_argument_as_a_constant():
    # d/dx [x * sg(x)] = sg(x) = x (not 2x)
    g = ad.grad(lambda x: np.sum(x * ad.stop_gradient(x)))(X)
    assert_close(g, X, rtol=1e-15)
    # the value is unchanged
    assert_close(ad.function(lambda x: np.sum(x * ad.stop_gradient(x)))(X), np.sum(X * X), rtol=1e-15)


def test_stop_gradient_in_every_mode():
    f = lambda x: np.sum(np.sin(ad.stop_gradient(x ** 2)) * x)  # noqa: E731
    c = np.sin(X ** 2)
    assert_close(ad.grad(f)(X), c, rtol=1e-14)
    assert_close(ad.hessian(f)(X), np.zeros((3, 3)), atol=0)
    assert_close(ad.hvp(f)(X, V), np.zeros(3), atol=0)
    _, t = ad.jvp(lambda x: np.sin(ad.stop_gradient(x ** 2)) * x)(X, V)
    assert_close(t, c * V, rtol=1e-14)
    _, u = ad.vjp(lambda x: np.sin(ad.stop_gradient(x ** 2)) * x)(X, V)
    assert_close(u, c * V, rtol=1e-14)
    assert_close(ad.jacobian(lambda x: ad.stop_gradient(x) * x)(X), np.diag(X), rtol=1e-15)


def test_stop_gradient_on_plain_values_and_structures():
    assert ad.stop_gradient(2.5) == 2.5
    a = np.arange(3.0)
    assert ad.stop_gradient(a) is a
    # a structure: each traced leaf is stopped
    def f(x):
        a, b = ad.stop_gradient((x, 2 * x))
        return np.sum(a * b * x)

    assert_close(ad.grad(f)(X), 2 * X ** 2, rtol=1e-15)


def test_stop_gradient_of_a_float_scalar_and_python_float():
    def f(x):
        s = ad.stop_gradient(float(np.sum(x)))  # a Python float computed from x
        return s * np.sum(x)

    assert_close(ad.grad(f)(X), np.full(3, X.sum()), rtol=1e-15)


def test_stop_gradient_moving_average_example():
    # JAX's documented use: a TD(0) target is not differentiated
    def td_loss(theta, s_prev, r, s_next):
        v_prev = s_prev @ theta
        target = r + ad.stop_gradient(s_next @ theta)
        return (target - v_prev) ** 2

    theta = np.array([0.1, -0.2, 0.3])
    s_prev, s_next, r = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, -1.0]), 1.5
    td = r + s_next @ theta - s_prev @ theta
    assert_close(ad.grad(td_loss)(theta, s_prev, r, s_next), -2 * td * s_prev, rtol=1e-14)
