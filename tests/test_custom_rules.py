"""ad.custom_vjp / ad.custom_jvp: JAX's signatures, un-emulatable primals, second derivatives."""
import ctypes

import numpy as np
import pytest

import pyautodiff as ad

from helpers import assert_close, numeric_grad

X = np.array([0.3, -1.2, 2.0])
V = np.array([1.0, -0.5, 0.25])


# JAX's documented example, reworked in numpy: log1pexp with a numerically stable derivative
@ad.custom_jvp
def log1pexp(x):
    return np.log1p(np.exp(x))


@log1pexp.defjvp
def log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t * (1 - 1 / (1 + np.exp(x)))


def test_custom_jvp_gives_the_stable_derivative():
    # (JAX's autodiff of log1p(exp(x)) gives nan at 100; PyTensor's softplus rewrite saves ours too)
    assert ad.grad(log1pexp)(100.0) == 1.0
    assert_close(ad.grad(lambda x: np.sum(log1pexp(x)))(X), 1 / (1 + np.exp(-X)), rtol=1e-15)


def test_custom_jvp_forward_and_reverse_modes():
    s = 1 / (1 + np.exp(-X))
    out, t = ad.jvp(log1pexp)(X, V)
    assert_close(out, np.log1p(np.exp(X)), rtol=1e-15)
    assert_close(t, s * V, rtol=1e-15)
    out, u = ad.vjp(log1pexp)(X, V)
    assert_close(u, s * V, rtol=1e-15)
    assert_close(ad.jacobian(log1pexp)(X), np.diag(s), rtol=1e-15)


def test_custom_jvp_second_derivative_differentiates_the_rule():
    s = 1 / (1 + np.exp(-X))
    assert_close(ad.hessian(lambda x: np.sum(log1pexp(x)))(X), np.diag(s * (1 - s)), rtol=1e-13)
    assert_close(ad.hvp(lambda x: np.sum(log1pexp(x)))(X, V), s * (1 - s) * V, rtol=1e-13)


def test_outside_a_transformation_the_function_is_plain():
    assert log1pexp(0.5) == np.log1p(np.exp(0.5))
    assert_close(log1pexp(X), np.log1p(np.exp(X)), rtol=0, atol=0)


# -- custom_vjp ------------------------------------------------------------------------------

@ad.custom_vjp
def clip_gradient(x, lo, hi):
    return x  # identity on values


def _clip_fwd(x, lo, hi):
    return x, (lo, hi)


def _clip_bwd(res, g):
    lo, hi = res
    return (np.clip(g, lo, hi), None, None)


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_custom_vjp_clip_gradient_jax_example():
    # JAX's clip_gradient example: the value is x, the cotangent is clipped
    f = lambda x: np.sum(clip_gradient(x, -0.5, 0.5) * np.array([2.0, -0.1, 0.3]))  # noqa: E731
    assert_close(ad.grad(f)(X), [0.5, -0.1, 0.3], rtol=1e-15)
    assert_close(ad.function(lambda x: clip_gradient(x, -1.0, 1.0) * 2)(X), 2 * X, rtol=1e-15)


@ad.custom_vjp
def f_sin(x):
    return np.sin(x)


f_sin.defvjp(lambda x: (f_sin(x), np.cos(x)), lambda cos_x, g: (g * cos_x,))


def test_custom_vjp_residuals_and_composition():
    def loss(x):
        return np.sum(f_sin(x) ** 2)

    assert_close(ad.grad(loss)(X), 2 * np.sin(X) * np.cos(X), rtol=1e-14)
    (v, g) = ad.value_and_grad(loss)(X)
    assert_close(v, np.sum(np.sin(X) ** 2), rtol=1e-15)
    # forward mode transposes the pullback
    _, t = ad.jvp(f_sin)(X, V)
    assert_close(t, np.cos(X) * V, rtol=1e-15)


def test_custom_vjp_second_derivative_differentiates_the_rule():
    # d/dx (g * cos x) = -g sin x: the Hessian of sum(f_sin) is diag(-sin x)
    assert_close(ad.hessian(lambda x: np.sum(f_sin(x)))(X), np.diag(-np.sin(X)), rtol=1e-14, atol=1e-15)


def test_a_deliberately_different_rule_is_what_the_derivative_uses():
    @ad.custom_vjp
    def g(x):
        return x ** 2

    g.defvjp(lambda x: (g(x), x), lambda x, ct: (ct * 10.0,))
    assert_close(ad.grad(lambda x: np.sum(g(x)))(X), np.full(3, 10.0), rtol=1e-15)
    assert_close(ad.function(lambda x: np.sum(g(x)))(X), np.sum(X ** 2), rtol=1e-15)


# -- a primal the emulator cannot run ---------------------------------------------------------

_libm = ctypes.CDLL(None)
_libm.cos.restype = ctypes.c_double
_libm.cos.argtypes = [ctypes.c_double]
_libm.sin.restype = ctypes.c_double
_libm.sin.argtypes = [ctypes.c_double]
calls = {"n": 0}


@ad.custom_vjp
def c_cos(x):
    """cos through a C call (ctypes): the emulator cannot follow values into it."""
    calls["n"] += 1
    return np.array([_libm.cos(float(v)) for v in np.asarray(x).ravel()]).reshape(np.shape(x))


def _c_cos_fwd(x):
    return c_cos(x), x


def _c_cos_bwd(x, g):
    return (-g * np.sin(x),)


c_cos.defvjp(_c_cos_fwd, _c_cos_bwd)


def test_un_emulatable_primal_runs_for_real_and_the_rule_is_traced():
    def loss(x, w):
        return np.sum(w * c_cos(x))

    w = np.array([1.0, 2.0, 3.0])
    assert_close(ad.grad(loss)(X, w), -w * np.sin(X), rtol=1e-15)
    vg = ad.value_and_grad(loss)
    vg(X, w)
    before = calls["n"]
    X2 = X + 0.5
    value, g = vg(X2, w)  # a cached call: the C code runs again, on the new values
    assert calls["n"] == before + 1
    assert vg.stats.traces == 1
    assert_close(value, np.sum(w * np.cos(X2)), rtol=1e-15)
    assert_close(g, -w * np.sin(X2), rtol=1e-15)
    assert_close(ad.function(loss)(X2, w), np.sum(w * np.cos(X2)), rtol=1e-15)


def test_second_derivative_through_nested_rules_and_through_a_primal_run_for_real():
    @ad.custom_vjp
    def h(x):
        return c_cos(x)

    # h's residual is c_cos(x): its derivative is c_cos's own rule, so the Hessian exists
    h.defvjp(lambda x: (h(x), h(x)), lambda y, g: (g * y,))
    assert_close(ad.grad(lambda x: np.sum(h(x)))(X), np.cos(X), rtol=1e-15)
    assert_close(ad.hessian(lambda x: np.sum(h(x)))(X), np.diag(-np.sin(X)), rtol=1e-14, atol=1e-15)

    @ad.custom_vjp
    def k(x):  # the C call directly in the body: run for real, no derivative of its own
        return np.array([_libm.cos(float(v)) for v in x])

    k.defvjp(lambda x: (k(x), k(x)), lambda y, g: (g * y,))
    assert_close(ad.grad(lambda x: np.sum(k(x)))(X), np.cos(X), rtol=1e-15)
    with pytest.raises(ad.AutodiffError, match="ran for real"):
        ad.hessian(lambda x: np.sum(k(x)))(X)


def test_rule_errors_are_clear():
    @ad.custom_vjp
    def nrule(x):
        return x * 2

    with pytest.raises(ad.AutodiffError, match="defvjp"):
        ad.grad(lambda x: np.sum(nrule(x)))(X)
    nrule.defvjp(lambda x: (nrule(x), None), lambda r, g: (g * 2, g))
    with pytest.raises(ad.AutodiffError, match="tuple of 1 cotangent"):
        ad.grad(lambda x: np.sum(nrule(x)))(X)
    nrule.defvjp(lambda x: (nrule(x), None), lambda r, g: (np.sum(g),))
    with pytest.raises(ad.AutodiffError, match="shape"):
        ad.grad(lambda x: np.sum(nrule(x)))(X)
    nrule.defvjp(lambda x: nrule(x), lambda r, g: (g,))
    with pytest.raises(ad.AutodiffError, match="pair"):
        ad.grad(lambda x: np.sum(nrule(x)))(X)


def test_custom_rules_with_structured_arguments():
    @ad.custom_vjp
    def affine(p, x):
        return p["W"] @ x + p["b"]

    def fwd(p, x):
        return affine(p, x), (p, x)

    def bwd(res, g):
        p, x = res
        return ({"W": np.outer(g, x), "b": g}, p["W"].T @ g)

    affine.defvjp(fwd, bwd)
    rng = np.random.default_rng(0)
    p = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    gp, gx = ad.grad(lambda p, x: np.sum(np.tanh(affine(p, x))), wrt=(0, 1))(p, X)
    d = 1 - np.tanh(p["W"] @ X + p["b"]) ** 2
    assert_close(gp["W"], np.outer(d, X), rtol=1e-14)
    assert_close(gp["b"], d, rtol=1e-14)
    assert_close(gx, p["W"].T @ d, rtol=1e-14)
    fd = numeric_grad(lambda x: np.sum(np.tanh(p["W"] @ x + p["b"])), X)
    assert_close(gx, fd, rtol=1e-6)
