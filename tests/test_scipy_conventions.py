"""scipy's calling conventions: hessp(x, p, *args), jac(x, *args); hvp's direction checks."""
import numpy as np
import pytest
import scipy.optimize

import pyautodiff as ad

from helpers import assert_close


def test_hessp_has_scipys_signature():
    x = np.linspace(-1.0, 1.5, 6)
    p = np.cos(np.arange(6.0))
    hp = ad.hessp(scipy.optimize.rosen)
    assert_close(hp(x, p), scipy.optimize.rosen_hess_prod(x, p), rtol=1e-12, atol=1e-10)


def test_hessp_passes_extra_args_after_p():
    def f(x, A, c):
        return 0.5 * x @ A @ x + c * np.sum(x ** 4)

    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    x, p = rng.normal(size=4), rng.normal(size=4)
    expected = 0.5 * (A + A.T) @ p + 12 * 0.3 * x ** 2 * p
    assert_close(ad.hessp(f)(x, p, A, 0.3), expected, rtol=1e-12)


def test_hessp_and_grad_plug_into_scipy_minimize():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=40) > 0).astype(float)

    def nll(w, X, y):
        z = X @ w
        return np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * w @ w

    res = scipy.optimize.minimize(nll, np.zeros(3), args=(X, y), method="Newton-CG",
                                  jac=ad.grad(nll), hessp=ad.hessp(nll))
    ref = scipy.optimize.minimize(nll, np.zeros(3), args=(X, y), method="BFGS", options={"gtol": 1e-10})
    assert res.success
    assert_close(res.x, ref.x, rtol=1e-5, atol=1e-6)
    # value_and_grad fits jac=True
    res2 = scipy.optimize.minimize(ad.value_and_grad(nll), np.zeros(3), args=(X, y), jac=True, method="BFGS",
                                   options={"gtol": 1e-10})
    assert_close(res2.x, ref.x, rtol=1e-5, atol=1e-6)


def test_hessp_checks_p():
    hp = ad.hessp(scipy.optimize.rosen)
    with pytest.raises(ad.AutodiffError, match="shape"):
        hp(np.zeros(4), np.zeros(3))


def test_hvp_without_direction_is_a_clear_error():
    def f(x, data):
        return np.sum(x ** 2 * data)

    x, data = np.ones(3), np.arange(3.0)
    with pytest.raises(ad.AutodiffError, match="direction"):
        ad.hvp(f)(x, data)  # forgot v: data must not be taken as the direction
    assert_close(ad.hvp(f)(x, data, np.ones(3)), 2 * data, rtol=1e-15)
    with pytest.raises(ad.AutodiffError, match="direction"):
        ad.hvp(lambda x: np.sum(x ** 3))(x)
    with pytest.raises(ad.AutodiffError, match="direction"):
        ad.jvp(lambda x: x ** 3)(x)


def test_hvp_with_defaults_or_varargs_still_checks_the_direction_shape():
    def f(x, scale=2.0):
        return scale * np.sum(x ** 3)

    x = np.ones(3)
    assert_close(ad.hvp(f)(x, np.ones(3)), 12 * x, rtol=1e-15)
    with pytest.raises(ad.AutodiffError, match=r"shape \(4,\)"):
        ad.hvp(f)(x, np.ones(4))
    with pytest.raises(ad.AutodiffError, match="direction"):
        ad.hvp(f)(x, (np.ones(3), np.ones(3)))
