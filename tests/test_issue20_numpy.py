"""numpy features of issue 20's second round that are not one registry entry each:
ufuncs with ``where=``/``out=`` (scipy.integrate.simpson), ``np.vectorize`` of a Python function,
integer scalar types in Python control, ``.device``.  References are independent: scipy's and
numpy's own values, hand-written derivatives, finite differences."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate as si

import pyautodiff as ad

from helpers import numeric_grad


def test_ufunc_where_out_keeps_out_and_differentiates_where_computed():
    x = np.array([0.3, 1.7, 0.9, 2.5])
    d = np.array([0.0, 1.0, 0.0, 3.0])

    def f(x):
        return np.sum(np.divide(x, d, out=np.zeros_like(x), where=d != 0) ** 2)

    value, g = ad.value_and_grad(f)(x)
    assert value == pytest.approx(f(x), rel=1e-15)
    np.testing.assert_allclose(g, [0.0, 2 * 1.7, 0.0, 2 * 2.5 / 9], rtol=1e-15)  # d/dx (x/d)^2 = 2x/d^2, 0 where masked

    def g2(x):  # a traced mask and a traced divisor, zero where masked off: no NaN may leak
        return np.sum(np.true_divide(1.0, x - 1.7, out=np.full(4, 2.0), where=np.abs(x - 1.7) > 0.5))

    at = np.array([0.3, 1.7, 0.9, 2.5])
    want = np.zeros(4)
    want[[0, 2, 3]] = -1.0 / (at[[0, 2, 3]] - 1.7) ** 2
    np.testing.assert_allclose(ad.grad(g2)(at), want, rtol=1e-13)
    assert ad.function(g2)(at) == pytest.approx(g2(at), rel=1e-15)


def test_where_without_out_is_refused_with_the_reason():
    with pytest.raises(ad.UnsupportedError, match="numpy.divide: where= without out="):
        ad.grad(lambda x: np.sum(np.divide(x, 2.0, where=x > 0)))(np.ones(3))


def test_simpson_of_a_traced_integrand_and_grid():
    t = np.array([0.0, 0.5, 1.1, 1.5, 2.4, 3.0])
    y = np.sin(t) + 2.0

    # simpson is linear in y: its gradient is the weights, simpson of each unit vector
    weights = np.array([si.simpson(np.eye(6)[i], x=t) for i in range(6)])
    value, g = ad.value_and_grad(lambda y: si.simpson(y, x=t))(y)
    np.testing.assert_allclose(value, si.simpson(y, x=t), rtol=1e-13)
    np.testing.assert_allclose(g, weights, rtol=1e-12, atol=1e-14)

    def area(t):  # differentiable in the sample points too
        return si.simpson(np.sin(t) * t, x=t)

    np.testing.assert_allclose(ad.grad(area)(t), numeric_grad(area, t), rtol=1e-6, atol=1e-9)


def test_vectorize_of_a_python_function_is_emulated_per_element():
    x = np.array([[0.3, -1.7, 0.9], [2.5, -0.1, 1.2]])
    b = np.array([1.5, -0.5, 2.0])
    branchy = np.vectorize(lambda a, c: a * c if a > 0 else math.sin(c) * a)

    def loss(x, b):
        return np.sum(branchy(x, b) ** 2)

    value, (gx, gb) = ad.value_and_grad(loss, wrt=(0, 1))(x, b)
    assert value == pytest.approx(loss(x, b), rel=1e-14)
    out = np.where(x > 0, x * b, np.sin(b) * x)
    np.testing.assert_allclose(gx, 2 * out * np.where(x > 0, b, np.sin(b)), rtol=1e-12)
    np.testing.assert_allclose(gb, np.sum(2 * out * np.where(x > 0, x, np.cos(b) * x), axis=0), rtol=1e-12)
    # the comparison a > 0 is guarded: other signs trace again
    x2 = -x
    np.testing.assert_allclose(ad.grad(loss)(x2, b), numeric_grad(lambda t: loss(t, b), x2), rtol=1e-6)

    power = np.vectorize(lambda a, n: a ** n, excluded={1})
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(power(x, 3)))(x), 3 * x ** 2, rtol=1e-13)
    pair = np.vectorize(lambda a: (a, 2 * a), otypes=[float, float])
    first, second = ad.function(pair)(x)
    np.testing.assert_array_equal(first, x)
    np.testing.assert_array_equal(second, 2 * x)


def test_vectorize_with_signature_is_refused_clearly():
    f = np.vectorize(lambda a: a, signature="(n)->(n)")
    with pytest.raises(ad.UnsupportedError, match="numpy.vectorize with signature="):
        ad.grad(lambda x: np.sum(f(x)))(np.ones(3))


def test_integer_scalar_types_truncate_and_guard_python_control():
    def f(x):
        return x[0] * np.int64(x[1]) + np.sum(x[:np.int32(x[3])])

    g = ad.value_and_grad(f)
    for x in (np.array([0.3, 2.7, -1.9, 2.5]), np.array([0.3, -3.7, -1.9, 3.5])):
        value, grad = g(x)
        assert value == f(x)
        want = np.zeros(4)
        want[0] = int(x[1])
        want[:int(x[3])] += 1.0
        np.testing.assert_array_equal(grad, want)


def test_device_of_a_traced_array_is_numpys():
    assert ad.grad(lambda x: np.sum(x) * (x.device == "cpu"))(np.ones(2)).tolist() == [1.0, 1.0]


class _Base:
    def scale(self, x):
        return 2.0 * x


class _Child(_Base):
    def scale(self, x):  # zero-argument super() in an emulated method (a CALL of super on 3.11)
        return super().scale(x) + x

    def via_closure(self, x):
        def inner():
            return self
        inner()  # self captured by a closure: the first argument is a cell
        return super().scale(x) * 3.0


def test_zero_argument_super_in_an_emulated_method():
    x = np.array([0.5, -1.0])
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(_Child().scale(x) ** 2))(x), 2 * 3 * x * 3)
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(_Child().via_closure(x)))(x), [6.0, 6.0])


def test_pandas_arguments_are_refused_with_the_fix():
    pd = pytest.importorskip("pandas")
    s = pd.Series([0.5, 1.5])
    with pytest.raises(ad.AutodiffError, match=r"argument 0 is a pandas Series.*\.to_numpy\(\)"):
        ad.grad(lambda s: np.sum(s ** 2))(s)
    with pytest.raises(ad.AutodiffError, match=r"argument 0 is a pandas DataFrame.*\.to_numpy\(\)"):
        ad.grad(lambda d: np.sum(d ** 2))(pd.DataFrame({"a": [0.5, 1.5]}))
    # pandas data meeting a traced value inside the function: the hint names the fix
    with pytest.raises(ad.UnsupportedError, match=r"pandas objects cannot hold traced values.*to_numpy"):
        ad.grad(lambda w, s: np.sum((s * w) ** 2))(1.5, s)
    # the advice works: the same function on numpy data
    np.testing.assert_allclose(ad.grad(lambda w, x: np.sum((x * w) ** 2))(1.5, s.to_numpy()),
                               2 * 1.5 * np.sum(s.to_numpy() ** 2), rtol=1e-14)


def test_a_failure_deep_inside_a_library_names_the_function_the_user_called():
    signal = pytest.importorskip("scipy.signal")
    with pytest.raises(ad.UnsupportedError, match=r"^in scipy\.signal\.lfilter .*cannot take a traced value.*"
                                                  r"Use numpy operations") as info:
        ad.grad(lambda x: np.sum(signal.lfilter([1.0], [1.0, -0.5], x)))(np.ones(3))
    assert "test_issue20_numpy.py" in str(info.value)  # and the user's line


def test_scalar_boolean_index_reads_and_writes():
    # array-API code (scipy's apply_where, behind simpson on newer scipy): a[cond] of 0-d cond
    def f(x):
        out = np.zeros(2)
        out[x[0] > 0] = x * 3  # everything or nothing, by a traced flag
        return np.sum(out ** 2) + np.sum(x[x[0] > 0] ** 2) + np.sum(x[1][np.True_]) + np.sum(x[np.False_])

    g = ad.value_and_grad(f)
    for x in (np.array([1.0, 2.0]), np.array([-1.0, 2.0])):  # the flag is guarded: both branches
        value, grad = g(x)
        on = x[0] > 0
        assert value == f(x)
        np.testing.assert_array_equal(grad, (18 * x + 2 * x) * on + np.array([0.0, 1.0]))
