"""Transformations compose: a transformation of a transformation, and one called
inside traced code, is traced through.  Expected values are hand-written
derivatives or finite differences of hand-written ones, never our own output."""
import numpy as np
import pytest

import pyautodiff as ad


def f(x):
    return np.sum(np.sin(x) * x ** 2) + (x[0] * x[1]) ** 2


def f_grad(x):
    g = np.cos(x) * x ** 2 + 2 * x * np.sin(x)
    g[0] += 2 * x[0] * x[1] ** 2
    g[1] += 2 * x[1] * x[0] ** 2
    return g


def f_hess(x):
    d = -np.sin(x) * x ** 2 + 4 * x * np.cos(x) + 2 * np.sin(x)
    H = np.diag(d)
    H[0, 0] += 2 * x[1] ** 2
    H[1, 1] += 2 * x[0] ** 2
    H[0, 1] += 4 * x[0] * x[1]
    H[1, 0] += 4 * x[0] * x[1]
    return H


X = np.array([0.7, -1.3, 0.4])
X2 = np.array([1.1, 0.2, -0.9])


def test_wraps_without_copying_the_inner_state():
    g = ad.grad(f)
    j = ad.jacobian(g)
    assert j.kind == "jacobian" and g.kind == "grad"
    assert j.__name__ == "f" and j.__wrapped__ is g and j.original is g
    assert "jacobian" in repr(j) and "grad" not in repr(j).split(" of ")[0]
    assert j.stats is not g.stats


def test_jacobian_of_grad_is_the_hessian():
    H = ad.jacobian(ad.grad(f))
    np.testing.assert_allclose(H(X), f_hess(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(H(X2), f_hess(X2), rtol=1e-12, atol=1e-12)  # the cached call


def test_grad_of_function_is_the_gradient():
    np.testing.assert_allclose(ad.grad(ad.function(f))(X), f_grad(X), rtol=1e-12)


def test_second_and_third_derivatives_of_a_polynomial():
    def p(x):
        return x ** 4 + 3.0 * x ** 3 - 2.0 * x

    d2 = ad.grad(ad.grad(p))
    d3 = ad.grad(ad.grad(ad.grad(p)))
    for x in (0.5, -1.7, 2.0):
        assert d2(x) == pytest.approx(12 * x ** 2 + 18 * x, rel=1e-12)
        assert d3(x) == pytest.approx(24 * x + 18, rel=1e-12)


def _g(x):
    return np.sin(np.outer(x, x)) + np.cos(x @ x)


def _g_jac(x):
    n = len(x)
    eye = np.eye(n)
    c = np.cos(np.outer(x, x))
    # d/dx_k [sin(x_i x_j)] = cos(x_i x_j) (delta_ik x_j + x_i delta_jk)
    J = c[:, :, None] * (eye[:, None, :] * x[None, :, None] + x[:, None, None] * eye[None, :, :])
    return J - np.sin(x @ x) * 2 * x[None, None, :]


def test_jacobian_of_jacobian_shape_and_values():
    x = np.array([0.3, -0.8])
    JJ = ad.jacobian(ad.jacobian(_g))(x)
    assert JJ.shape == (2, 2, 2, 2)
    h = 1e-6
    fd = np.stack([(_g_jac(x + h * e) - _g_jac(x - h * e)) / (2 * h) for e in np.eye(2)], axis=-1)
    np.testing.assert_allclose(JJ, fd, rtol=1e-6, atol=1e-8)


def test_value_and_grad_inside_hvp_and_jacobian():
    v = np.array([0.3, 1.0, -2.0])
    hvp = ad.hvp(lambda x: ad.value_and_grad(f)(x)[0])
    np.testing.assert_allclose(hvp(X, v), f_hess(X) @ v, rtol=1e-12)
    jac = ad.jacobian(lambda x: ad.value_and_grad(f)(x)[1])
    np.testing.assert_allclose(jac(X), f_hess(X), rtol=1e-12)


def test_grad_called_inside_a_traced_function():
    v = np.array([0.3, 1.0, -2.0])

    def directional(x):
        return ad.grad(f)(x) @ v

    np.testing.assert_allclose(ad.function(directional)(X), f_grad(X) @ v, rtol=1e-12)
    h = 1e-6
    fd = np.array([(f_grad(X + h * e) @ v - f_grad(X - h * e) @ v) / (2 * h) for e in np.eye(3)])
    got = ad.grad(directional)(X)
    np.testing.assert_allclose(got, fd, rtol=1e-6)
    np.testing.assert_allclose(got, f_hess(X) @ v, rtol=1e-12)
    np.testing.assert_allclose(ad.grad(directional)(X2), f_hess(X2) @ v, rtol=1e-12)


def test_inner_closure_over_the_outer_variable():
    # d/dx [ d/dy sin(x*y) at y0 ] = cos(x y0) - x y0 sin(x y0)
    y0 = 0.9

    def h(x):
        return ad.grad(lambda y: np.sin(x * y))(y0)

    for x in (0.4, -1.2):
        assert ad.function(h)(x) == pytest.approx(x * np.cos(x * y0), rel=1e-12)
        assert ad.grad(h)(x) == pytest.approx(np.cos(x * y0) - x * y0 * np.sin(x * y0), rel=1e-12)


def test_guards_of_the_inner_function_hold_in_the_outer():
    def piecewise(x):
        if x[0] > 0:
            return np.sum(x ** 3)
        return np.sum(np.exp(x))

    H = ad.jacobian(ad.grad(piecewise))
    np.testing.assert_allclose(H(X), np.diag(6 * X), rtol=1e-12)
    xn = -X
    np.testing.assert_allclose(H(xn), np.diag(np.exp(xn)), rtol=1e-12)
    np.testing.assert_allclose(H(X2), np.diag(6 * X2), rtol=1e-12)


def test_jvp_and_vjp_of_grad():
    v = np.array([0.3, 1.0, -2.0])
    g, Hv = ad.jvp(ad.grad(f))(X, v)
    np.testing.assert_allclose(g, f_grad(X), rtol=1e-12)
    np.testing.assert_allclose(Hv, f_hess(X) @ v, rtol=1e-12)
    g, vH = ad.vjp(ad.grad(f))(X, v)
    np.testing.assert_allclose(vH, v @ f_hess(X), rtol=1e-12)


def test_hessian_of_function_and_wrt_by_name():
    def two(a, b):
        return np.sum(a ** 2 * b)

    Hb = ad.jacobian(ad.grad(two, wrt="a"), wrt="b")
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(Hb(a, b), np.diag(2 * a), rtol=1e-12)
    np.testing.assert_allclose(ad.hessian(ad.function(f))(X), f_hess(X), rtol=1e-12)


def test_what_cannot_compose_raises():
    with pytest.raises(ad.AutodiffError):
        ad.hessian(ad.grad(f))(X)  # the gradient is not a scalar
    with pytest.raises(ad.AutodiffError):
        ad.grad(ad.value_and_grad(f))(X)  # a tuple, not a scalar


def test_vmap_inside_a_transformation():
    def loss_i(w, x):
        return np.sum(np.tanh(x * w)) ** 2

    w = np.array([0.5, -0.3])
    X = np.array([[1.0, 2.0], [0.3, -0.7], [2.0, 0.1]])

    def total(w):
        return np.sum(ad.vmap(loss_i, in_axes=(None, 0))(w, X))

    def total_grad(w):  # hand-written: d/dw s_i^2 = 2 s_i x_i (1 - tanh(x_i w)^2)
        return sum(2 * np.sum(np.tanh(x * w)) * x * (1 - np.tanh(x * w) ** 2) for x in X)

    np.testing.assert_allclose(ad.function(total)(w), sum(loss_i(w, x) for x in X), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(total)(w), total_grad(w), rtol=1e-12)
    per_example = ad.jacobian(ad.vmap(ad.grad(loss_i), in_axes=(None, 0)))(w, X)  # (3, 2, 2)
    assert per_example.shape == (3, 2, 2)
    for i, x in enumerate(X):
        t = np.tanh(x * w)
        s, d = np.sum(t), 1 - t ** 2
        hand = 2 * np.outer(x * d, x * d) + np.diag(2 * s * x * x * (-2 * t * d))
        np.testing.assert_allclose(per_example[i], hand, rtol=1e-10, atol=1e-12)


class _Fit:
    def __init__(self, X, y):
        self.X, self.y = X, y

    def loss(self, w):
        r = self.X @ w - self.y
        self.last_resid = r  # written back on every call, also when traced through
        return r @ r


def test_inner_function_writing_to_an_object():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(4, 2)), rng.normal(size=4)
    fit = _Fit(X, y)
    H = ad.jacobian(ad.grad(fit.loss))
    for w in (np.array([1.0, 2.0]), np.array([-0.5, 0.3])):
        np.testing.assert_allclose(H(w), 2 * X.T @ X, rtol=1e-12)
        assert type(fit.last_resid) is np.ndarray
        np.testing.assert_allclose(fit.last_resid, X @ w - y, rtol=1e-12)


def test_structured_arguments_keep_their_leaf_order():
    def f(p):  # dict keys not in sorted order
        return np.sum(p["z"] ** 2) + 3.0 * np.sum(p["a"] ** 3)

    p = {"z": np.array([1.0, 2.0]), "a": np.array([0.5, -1.0])}

    def inner_grad_dot(q):
        g = ad.grad(f)({"z": q[:2], "a": q[2:]})
        return np.sum(g["z"] * np.array([1.0, 10.0])) + np.sum(g["a"] * np.array([100.0, 1000.0]))

    q = np.concatenate([p["z"], p["a"]])
    # d/dq of 2 z . (1, 10) + 9 a^2 . (100, 1000)
    expected = np.concatenate([2 * np.array([1.0, 10.0]), 18 * p["a"] * np.array([100.0, 1000.0])])
    np.testing.assert_allclose(ad.grad(inner_grad_dot)(q), expected, rtol=1e-12)
