"""numpy's results at the edges (issue #11, found by differential testing):
NaN and inf, empty arrays, long scalar loops, tiny linear systems.

Expected values come from numpy itself or from derivatives worked out by hand.
The C and Numba modes compile for real (seconds each on a cold cache), so
they run on a few representative cases only.
"""
import numpy as np
import pytest

import pyautodiff as ad

from helpers import assert_close

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 2.0, -3.5])
OTHER = np.array([1.0, np.nan, 0.0, np.inf, 2.0, 0.0, -1.0])


def _numpy_says(f, *args):
    with np.errstate(all="ignore"):
        return f(*args)


# -- NaN and inf: algebraic simplifications that do not hold in IEEE arithmetic ----------------

# PyTensor's canonicalization would turn each of these into a constant or into
# one operand, where numpy gives NaN (or False) for some entries.
IEEE_CASES = {
    "x / x": lambda x, y: x / x,
    "x - x": lambda x, y: x - x,
    "x * 0.0": lambda x, y: x * 0.0,
    "0.0 * x * 2.0": lambda x, y: 0.0 * x * 2.0,
    "x * zeros": lambda x, y: x * np.zeros(7),
    "0.0 / x": lambda x, y: 0.0 / x,
    "x * y / y": lambda x, y: x * y / y,
    "x + y - y": lambda x, y: x + y - y,
    "x * (1 / x)": lambda x, y: x * (1 / x),
    "x / abs(x)": lambda x, y: x / np.abs(x),
    "x == x": lambda x, y: x == x,
    "x != x": lambda x, y: x != x,
    "x <= x": lambda x, y: x <= x,
    "x >= x": lambda x, y: x >= x,
    "zeros @ x": lambda x, y: np.zeros((3, 7)) @ x,
    "sum(x - x)": lambda x, y: np.sum(x - x),
    # distributing to cancel (local_greedy_distributor)
    "(x * y + x) / x": lambda x, y: (x * y + x) / x,
    "(y / x + 1) * x": lambda x, y: (y / x + 1.0) * x,
    # sign rewrites: 1 / 0 is inf (sign 1); a product that underflows is 0 (sign 0)
    "sign(1 / x)": lambda x, y: np.sign(1.0 / x),
    "sign(x * x)": lambda x, y: np.sign(x * x * 1e-300),
    "sign(x ** 2)": lambda x, y: np.sign((x * 1e-200) ** 2),
    "sign(prod)": lambda x, y: np.sign(np.prod(x[:3] * 1e-200)),
    "sign(exp(x) / y)": lambda x, y: np.sign(np.exp(x) / (y * 1e300)),
    # inverse pairs that hold only on part of the domain (arccosh(cosh(-2.0)) is 2.0)
    "arccosh(cosh(x))": lambda x, y: np.arccosh(np.cosh(x)),
    "cosh(arccosh(x))": lambda x, y: np.cosh(np.arccosh(x)),
    "tanh(arctanh(x))": lambda x, y: np.tanh(np.arctanh(x)),
    "1 / (1 / x)": lambda x, y: 1.0 / (1.0 / (x * 5e-324)),
}


@pytest.mark.parametrize("name", list(IEEE_CASES))
def test_nan_and_inf_propagate_as_in_numpy(name):
    f = IEEE_CASES[name]
    with np.errstate(all="ignore"):
        got = ad.function(f)(SPECIAL, OTHER)
    np.testing.assert_array_equal(got, _numpy_says(f, SPECIAL, OTHER))


@pytest.mark.parametrize("f, df", [
    (np.arccosh, lambda x: 1.0 / np.sqrt(x * x - 1.0)),  # d/dx cosh(arccosh(x)) = 1 for x > 1
    (np.arctanh, lambda x: 1.0 / (1.0 - x * x)),
])
def test_the_gradient_of_an_inverse_pair_is_nan_where_numpys_value_is(f, df):
    inverse = {np.arccosh: np.cosh, np.arctanh: np.tanh}[f]
    x = np.array([-2.0, 0.5, 1.5, 3.0])

    def g(x):
        return np.sum(inverse(f(x)))

    with np.errstate(all="ignore"):
        got = ad.grad(g)(x)
        value = ad.function(g)(x)
        want_fprime = df(x) * {np.arccosh: np.sinh, np.arctanh: lambda u: 1.0 - np.tanh(u) ** 2}[f](f(x))
    assert np.isnan(value)  # numpy: NaN where the inner function is undefined
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want_fprime))
    ok = ~np.isnan(want_fprime)
    np.testing.assert_allclose(got[ok], want_fprime[ok], rtol=1e-12)


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_a_negative_zero_constant_is_not_merged_with_zero(mode):
    # PyTensor merged the constants 0.0 and -0.0 (in the graph, and inlined into a fused loop)
    def f(x):
        return (np.arctan2(-0.0, x) + np.arctan2(0.0, x),
                np.arctan2(0.0 * x, -1.0) + np.arctan2(-0.0 + 0 * x, -1.0),
                1.0 / (x * 0.0 - 0.0), np.copysign(1.0, np.full(2, -0.0)) + np.copysign(1.0, np.zeros(2)))

    x = np.array([-1.0, 2.0])
    with np.errstate(all="ignore"):
        got = ad.function(f, mode=mode)(x)
        want = f(x)
    assert want[0][0] == 0.0  # -pi + pi: the two zeros matter
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_constants_with_negative_zeros_merge_only_with_the_same_signs():
    import pytensor.scalar as ps
    import pytensor.tensor as pt

    from pyautodiff.backend import safe_rewrites

    safe_rewrites._ensure_registered()

    def same(a, b):
        return a.signature() == b.signature() and b.signature() == a.signature()

    def tensor(*values):
        return pt.constant(np.array(values))

    assert same(tensor(-0.0, 1.0, 2.0), tensor(-0.0, 1.0, 2.0))
    assert not same(tensor(-0.0, 1.0, 2.0), tensor(0.0, 1.0, 2.0))
    assert not same(tensor(-0.0, 1.0, 2.0), tensor(-0.0, 2.0, 1.0))  # one sum: the values are compared
    assert not same(tensor(-0.0, 0.0), tensor(0.0, -0.0))
    assert same(tensor(0.0, 1.0), tensor(0.0, 1.0))
    assert not same(ps.constant(-0.0), ps.constant(0.0))
    assert same(ps.constant(-0.0), ps.constant(-0.0))
    assert same(tensor(np.nan, -0.0), tensor(np.nan, -0.0))


@pytest.mark.parametrize("mode", ["c", "py", "numba"])
def test_nan_and_inf_propagate_as_in_numpy_in_every_mode(mode):
    def f(x):
        return x / x, x - x, x * 0.0

    with np.errstate(all="ignore"):
        got = ad.function(f, mode=mode)(SPECIAL)
    for g, want in zip(got, _numpy_says(f, SPECIAL)):
        np.testing.assert_array_equal(g, want)


def test_integer_algebra_still_simplifies():
    # integers have no NaN: n - n is 0 and needs no computation
    g = ad.function(lambda n: (n - n, n * 0))
    n = np.arange(4)
    assert [list(v) for v in g(n)] == [[0, 0, 0, 0]] * 2
    assert "n - n" not in ad.export_source(g, n)


def test_gradient_through_a_step_of_an_infinite_value_is_finite():
    # x / 0.0 is inf and the step's cotangent is zero: no 0 * inf -> NaN in the gradient.
    # d/dx sum(x * isposinf(x / 0.0)) = isposinf(x / 0.0) = 1 for x > 0
    def f(x):
        return np.sum(x * np.isposinf(x / 0.0))

    x = np.array([0.5, 1.5, 3.0])
    with np.errstate(divide="ignore"):
        value, grad = ad.value_and_grad(f)(x)
    assert value == 5.0
    np.testing.assert_array_equal(grad, [1.0, 1.0, 1.0])


def test_value_keeps_numpys_nan_while_the_gradient_is_the_derivative():
    # f(x) = sum(x * 0.0): numpy's value is NaN when x holds inf; f' = 0 everywhere
    with np.errstate(invalid="ignore"):
        value, grad = ad.value_and_grad(lambda x: np.sum(x * 0.0))(np.array([1.0, np.inf]))
    assert np.isnan(value)
    np.testing.assert_array_equal(grad, [0.0, 0.0])


def test_hessian_of_a_product_with_a_step_is_finite():
    # f(x) = x^3 * (x > 0): f'' = 6 x for x > 0
    h = ad.hessian(lambda x: x ** 3 * (x > 0.0))(2.0)
    assert h == pytest.approx(12.0, rel=1e-14)


# -- empty arrays ------------------------------------------------------------------------------

EMPTY_GRADS = {
    "sum(x @ x.T)": lambda x: np.sum(x @ x.T),
    "sum(x.T @ x)": lambda x: np.sum(x.T @ x),
    "sum(x * x)": lambda x: np.sum(x * x),
    "sum(exp(x) @ ones)": lambda x: np.sum(np.exp(x) @ np.ones((3, 2))),
}


@pytest.mark.parametrize("mode", ["numpy", "c", "py"])
@pytest.mark.parametrize("name", list(EMPTY_GRADS))
def test_gradients_of_empty_arrays_are_empty(name, mode, caplog):
    x = np.zeros((0, 3))
    value, grad = ad.value_and_grad(EMPTY_GRADS[name], mode=mode)(x)
    assert value == 0.0
    assert grad.shape == (0, 3) and grad.dtype == np.float64
    # no rewrite crashed on the empty constants on the way (PyTensor logs a traceback)
    assert "Rewrite failure" not in caplog.text


def test_mean_of_an_empty_array_is_nan_as_in_numpy():
    x = np.zeros(0)
    with pytest.warns(RuntimeWarning):
        want = np.mean(x)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        value, grad = ad.value_and_grad(np.mean)(x)
    assert np.isnan(value) and np.isnan(want)
    assert grad.shape == (0,)


# -- long scalar loops -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [300, 2000])
def test_long_scalar_loop_matches_cpython(n):
    # the loop fuses into one elementwise kernel 2n operations deep
    def loop(s):
        for _ in range(n):
            s = s * 1.0001 + 1.0
        return s

    f = ad.function(loop)
    assert f(np.float64(1.0)) == loop(1.0)
    assert f(np.float64(-2.0)) == loop(-2.0)
    source = ad.export_source(f, np.float64(1.0))
    compile(source, "<exported>", "exec")


def test_gradient_of_a_long_scalar_loop():
    def loop(s):
        for _ in range(300):
            s = s * 1.0001 + 1.0
        return s

    assert ad.grad(loop)(1.0) == pytest.approx(1.0001 ** 300, rel=1e-13)


# -- small linear systems ----------------------------------------------------------------------


def _matrix(s, n=2):
    return np.eye(n) * 3.0 + np.ones((n, n)) * s


def _dsum_inv_ds(s, n=2):
    # d/ds sum(inv(A)) with A = 3 I + s 1 1^T:  -sum(inv(A) @ 1 1^T @ inv(A))
    a_inv = np.linalg.inv(_matrix(s, n))
    return -np.sum(a_inv @ np.ones((n, n)) @ a_inv)


def _dsum_solve_ds(s, n=2):
    # d/ds sum(inv(A) b) = -sum(inv(A) @ 1 1^T @ inv(A) @ b), b = 1
    a_inv = np.linalg.inv(_matrix(s, n))
    return -np.sum(a_inv @ np.ones((n, n)) @ a_inv @ np.ones(n))


@pytest.mark.parametrize("mode", ["numpy", "c"])
@pytest.mark.parametrize("n", [2, 3])
def test_gradient_of_inv_and_solve_of_a_matrix_built_with_ones(n, mode):
    # PyTensor 3.3 proves the 2x2 matrix tridiagonal and would factor it with
    # LAPACK's gttrf, which scipy's wrapper rejects for n = 2
    g_inv = ad.grad(lambda s: np.sum(np.linalg.inv(_matrix(s, n))), mode=mode)
    g_solve = ad.grad(lambda s: np.sum(np.linalg.solve(_matrix(s, n), np.ones(n))), mode=mode)
    for s in (0.5, -0.7):
        assert_close(g_inv(s), _dsum_inv_ds(s, n), rtol=1e-13, atol=1e-15)
        assert_close(g_solve(s), _dsum_solve_ds(s, n), rtol=1e-13, atol=1e-15)


# -- products with zeros -----------------------------------------------------------------------

# d prod(x) / d x_i is the product of the other elements of x_i's slice, worked out by hand;
# PyTensor's own Prod gradient gives 0 for a slice that is a single zero.
PROD_GRADS = [
    ([0.0], [1.0]),
    ([0.0, 3.0], [3.0, 0.0]),
    ([2.0, 0.0, 5.0], [0.0, 10.0, 0.0]),
    ([0.0, 0.0, 2.0], [0.0, 0.0, 0.0]),
    ([2.0, 3.0, 4.0], [12.0, 8.0, 6.0]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("x, expected", PROD_GRADS)
def test_gradient_of_prod_with_zeros(x, expected, dtype):
    x = np.array(x, dtype=dtype)
    assert ad.grad(np.prod)(x).dtype == x.dtype
    for f in (np.prod, np.multiply.reduce, lambda b: b.prod(), np.nanprod):
        g = ad.grad(lambda b: f(b))(x)
        assert_close(g, expected, rtol=0, atol=0)


def test_gradient_of_prod_of_a_reshaped_zero_scalar():
    assert ad.grad(lambda b: 2 * np.prod(np.reshape(b, (1, 1))))(0.0) == 2.0


_ROWS = np.array([[0.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 0.0, 5.0], [4.0, 0.0, 1.0]])


def _others(a, axis):
    # by hand: the product of the other elements of each slice along ``axis``
    out = np.empty_like(a)
    for i in np.ndindex(a.shape):
        sl = list(i)
        sl[axis] = slice(None)
        row = a[tuple(sl)].copy()
        row[i[axis]] = 1.0
        out[i] = np.prod(row)
    return out


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gradient_of_prod_along_an_axis_with_zeros(axis, keepdims):
    w = np.arange(1.0, 5.0).reshape((4, 1)) if axis != 0 else np.arange(1.0, 4.0)
    f = lambda a: np.sum(np.prod(a, axis=axis, keepdims=keepdims) * (w if keepdims else w.ravel()))
    expected = _others(_ROWS, axis) * (w if keepdims or axis == 0 else w)
    assert_close(ad.grad(f)(_ROWS), expected, rtol=0, atol=0)
    # the value is numpy's, bit for bit
    value = ad.function(lambda a: np.prod(a, axis=axis, keepdims=keepdims))(_ROWS)
    assert np.array_equal(value, np.prod(_ROWS, axis=axis, keepdims=keepdims))


def test_gradient_of_cumprod_with_a_single_zero():
    # cumprod([x]) = [x]: its derivative is 1 at x = 0 too
    assert_close(ad.grad(lambda b: np.sum(np.cumprod(b)))(np.array([0.0])), [1.0], rtol=0, atol=0)


def _cumprod_derivatives(x, w):
    """By hand, for L = sum_i w_i prod_{k<=i} x_k: the gradient sums, over the
    outputs i >= j, the product of x_0..x_i without x_j; the Hessian without
    x_j and x_l (0 on the diagonal)."""
    n = len(x)
    grad, hess = np.zeros(n), np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1):
            grad[j] += w[i] * np.prod(np.delete(x[:i + 1], j))
            for l in range(i + 1):
                if l != j:
                    hess[j, l] += w[i] * np.prod(np.delete(x[:i + 1], [j, l]))
    return grad, hess


@pytest.mark.parametrize("x", [[1.5, 0.0, 2.0, 0.0, 3.0, 0.5, 2.0], [0.0] * 5, [2.0, 3.0, 0.0, 1.25, -1.0],
                               [0.0, 2.0, 3.0], [1.0, 2.0, 0.0]])
def test_gradient_and_hessian_of_cumprod_with_zeros(x):
    x = np.array(x)
    w = np.linspace(0.5, 2.0, len(x))
    f = lambda a: np.sum(np.cumprod(a) * w)
    grad, hess = _cumprod_derivatives(x, w)
    assert_close(ad.grad(f)(x), grad, rtol=1e-15, atol=0)
    assert_close(ad.hessian(f)(x), hess, rtol=1e-15, atol=0)
    # the value is numpy's, multiplied in numpy's order
    assert np.array_equal(ad.function(np.cumprod)(x), np.cumprod(x))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gradient_of_cumprod_along_an_axis_with_zeros(axis):
    a = np.array([[1.5, 0.0, 2.0, 3.0], [0.0, 2.0, 0.0, 0.5], [2.0, 1.0, 3.0, 0.0]])
    w = np.arange(1.0, 13.0).reshape(3, 4)
    got = ad.grad(lambda a: np.sum(np.cumprod(a, axis=axis) * w))(a)
    expected = np.zeros_like(a)
    for k in range(a.shape[1 - axis % 2]):  # each slice along the axis by hand
        index = (slice(None), k) if axis == 0 else (k, slice(None))
        expected[index] = _cumprod_derivatives(a[index], w[index])[0]
    assert_close(got, expected, rtol=1e-15, atol=0)


def test_gradient_of_a_long_cumprod_with_a_zero_stays_linear_in_memory():
    # it once built an n x n matrix of prefixes: 80 GB at this length
    x = np.full(100_000, 1.0001)
    x[10] = 0.0
    g = ad.grad(lambda a: np.sum(np.cumprod(a)))(x)
    assert g[11] == 0.0 and g[10] == pytest.approx(np.sum(np.cumprod(np.delete(x, 10))[9:]), rel=1e-10)


@pytest.mark.parametrize("x", [[0.0, 3.0], [0.0, 2.0, 3.0, 5.0], [0.0, 0.0, 2.0, 3.0],
                               [0.0, 0.0, 0.0], [2.0, 3.0, 4.0],
                               # ten elements: the rewrites' stack traces once took 8 s and 4 GB here
                               [1.5, 0.0, 2.0, 0.5, 3.0, 1.25, 2.0, 0.75, 4.0, 1.5]])
def test_hessian_of_prod_with_zeros(x):
    # by hand: d2 prod / dx_i dx_k = product of the elements other than i and k (0 on the diagonal)
    x = np.array(x)
    n = len(x)
    expected = np.zeros((n, n))
    for i in range(n):
        for k in range(n):
            if i != k:
                expected[i, k] = np.prod(np.delete(x, [i, k]))
    assert_close(ad.hessian(np.prod)(x), expected, rtol=0, atol=0)


def test_hessian_of_a_function_of_row_products_with_zeros():
    f = lambda a: np.sum(np.prod(a, axis=1) ** 2)
    g = ad.grad(f)
    h = ad.hessian(f)(_ROWS).reshape(12, 12)
    eps = 1e-6
    for j in range(12):  # central difference of the gradient (exact here up to rounding)
        e = np.zeros(12)
        e[j] = eps
        column = (g(_ROWS + e.reshape(4, 3)) - g(_ROWS - e.reshape(4, 3))).ravel() / (2 * eps)
        assert_close(h[:, j], column, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("x", [2.8537718592401856e-36, 1e-12, 1e-5, -3e-3, 0.0, 0.004, 0.031, -0.033, 0.2, -1.7])
def test_gradient_of_sinc_near_zero_has_no_cancellation(x):
    # d/dx sin(pi x)/(pi x) written out is a difference of two terms of size 1/x:
    # at x = 3e-36 it came out as 1e20 (found by the long fuzz on PyTensor 3.0)
    def f(a):
        return np.sinc(a) * 1.3 + np.sinc(a) ** 2

    px = np.pi * x
    if abs(px) < 0.1:  # by hand: the series 1 - p^2/3! + p^4/5! - ..., differentiated
        dsinc = np.pi * (-px / 3 + px ** 3 / 30 - px ** 5 / 840 + px ** 7 / 45360 - px ** 9 / 3991680)
    else:
        dsinc = np.pi * (np.cos(px) * px - np.sin(px)) / px ** 2
    expected = dsinc * (1.3 + 2 * np.sinc(x))
    assert ad.grad(f)(x) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert ad.function(f)(x) == pytest.approx(f(x), rel=1e-15)
