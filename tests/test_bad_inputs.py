"""Bad or unusual inputs to the API: a clear ``AutodiffError``, or exactly numpy's own behaviour.

Covers a wrong ``wrt``, results ``grad`` cannot differentiate, argument types that are not
differentiable or not arrays at all, NaN/inf inputs, empty arrays, 0-d arrays and numpy
scalars, directions of the wrong shape, and loops unrolled past ``loop_limit``.
"""
import sys
import warnings

import numpy as np
import pytest

import pyautodiff as ad

X = np.array([0.5, 1.5, 2.5])


def loss(x):
    return np.sum(x ** 2)


def scaled(x, n, label="a"):
    return np.sum(x) * n


def same(got, ref):
    """``got`` is what numpy/CPython gave: type, shape, dtype, values (NaN == NaN)."""
    if isinstance(ref, tuple):
        assert type(got) is tuple and len(got) == len(ref)
        for g, r in zip(got, ref):
            same(g, r)
        return
    assert type(got) is type(ref), (type(got), type(ref))
    assert np.shape(got) == np.shape(ref)
    assert np.asarray(got).dtype == np.asarray(ref).dtype
    if np.asarray(ref).dtype == object:
        assert np.asarray(got).tolist() == np.asarray(ref).tolist()
        return
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-12, equal_nan=True)


def quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args)


# -- wrt ----------------------------------------------------------------------------------------

KINDS = [ad.grad, ad.value_and_grad, ad.hessian]


@pytest.mark.parametrize("transform", KINDS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("wrt, what", [
    ("w", "wrt='w' does not name an argument"),
    (3, "wrt=3 does not name an argument"),
    (-1, "wrt=-1 does not name an argument"),
    (None, "wrt=None does not name an argument"),
])
def test_wrt_that_names_no_argument(transform, wrt, what):
    with pytest.raises(ad.AutodiffError, match=what) as info:
        transform(loss, wrt=wrt)(X)
    assert "arguments: x" in str(info.value)


def test_wrt_names_a_keyword_argument_not_passed():
    with pytest.raises(ad.AutodiffError, match="wrt='y' does not name an argument"):
        ad.grad(lambda x, y=1.0: np.sum(x) * y, wrt="y")(X)


def test_wrt_a_keyword_argument_passed_by_keyword():
    assert ad.grad(scaled, wrt="n")(X, n=2.0) == pytest.approx(np.sum(X))


@pytest.mark.parametrize("args, wrt, what", [
    ((X, 3), 1, "argument 1 holds no float array or float"),
    ((X, 3, "b"), 2, "argument 2 holds no float array or float"),
    ((np.arange(3), 2.0), 0, "'x' of dtype int64; only float arrays and floats are differentiable"),
    ((np.array([True, False]), 2.0), 0, "'x' of dtype bool"),
    # complex arguments are differentiable (test_complex.py); a complex result is not a loss
    ((X + 1j, 2.0), 0, "needs scaled to return a real value; it returned complex128"),
])
def test_wrt_an_argument_that_is_not_differentiable(args, wrt, what):
    with pytest.raises(ad.AutodiffError, match=what):
        ad.grad(scaled, wrt=wrt)(*args)


def test_wrt_a_python_int_argument():
    with pytest.raises(ad.AutodiffError, match="argument 0 holds no float array or float"):
        ad.grad(lambda x: x * 2.0)(3)


def test_wrt_an_empty_tuple_differentiates_nothing():
    assert ad.grad(loss, wrt=())(X) == ()


def test_jacobian_wrt_unknown_name():
    with pytest.raises(ad.AutodiffError, match="wrt='z'"):
        ad.jacobian(lambda x: x * 2, wrt="z")(X)


def test_not_a_function():
    with pytest.raises(ad.AutodiffError, match="expects a function, got int"):
        ad.grad(3)


# -- results grad cannot differentiate ---------------------------------------------------------


@pytest.mark.parametrize("transform", KINDS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("f, what", [
    (lambda x: x * 2, r"a scalar; it returned an array of shape \(3,\)"),
    (lambda x: (np.sum(x), np.sum(x)), "one scalar; it returned a tuple of 2 values"),
    (lambda x: None, "one scalar; it returned <class 'NoneType'>"),
    (lambda x: "text", "one scalar; it returned <class 'str'>"),
], ids=["array", "tuple", "None", "str"])  # a size-1 array is its one value (test_issue20_numbers)
def test_result_that_is_not_one_scalar(transform, f, what):
    with pytest.raises(ad.AutodiffError, match=what):
        transform(f)(X)


def test_non_scalar_message_suggests_jacobian():
    with pytest.raises(ad.AutodiffError, match="jacobian"):
        ad.grad(lambda x: x * 2)(X)


@pytest.mark.parametrize("f", [lambda x: np.sum(x) > 1, lambda x: int(np.sum(x))], ids=["bool", "int"])
def test_integer_or_bool_result(f):
    with pytest.raises(ad.AutodiffError):
        ad.grad(f)(X)


def test_zero_dimensional_array_result_is_a_scalar():
    np.testing.assert_allclose(ad.grad(lambda x: np.asarray(np.sum(x ** 2)))(X), 2 * X)


# -- directions of hvp / jvp / vjp --------------------------------------------------------------


def test_hvp_without_direction():
    with pytest.raises(ad.AutodiffError, match="direction last"):
        ad.hvp(loss)()


@pytest.mark.parametrize("transform, f, v, what", [
    (ad.hvp, loss, np.ones(4), r"direction of shape \(4,\) does not match .* of shape \(3,\)"),
    (ad.jvp, lambda x: x ** 2, np.ones(2), r"direction of shape \(2,\) does not match .* of shape \(3,\)"),
    (ad.vjp, lambda x: x ** 2, np.ones(2), r"direction of shape \(2,\) does not match .* of shape \(3,\)"),
], ids=["hvp", "jvp", "vjp"])
def test_direction_of_the_wrong_shape(transform, f, v, what):
    with pytest.raises(ad.AutodiffError, match=what):
        transform(f)(X, v)


# -- argument types ----------------------------------------------------------------------------


@pytest.mark.parametrize("static", ["ab", None, {1, 2}, (1, "x"), 3, np.array(["a", "b"]),
                                    np.array(["2020-01-01"], dtype="datetime64[D]")],
                         ids=["str", "None", "set", "tuple", "int", "str array", "datetime array"])
def test_static_arguments_of_any_type(static):
    def f(x, s):
        return x * float(len(repr(s)) % 5 + 1) if s is not None else x * 2.0

    same(ad.function(f)(X, static), f(X, static))
    np.testing.assert_allclose(ad.grad(lambda x, s: np.sum(f(x, s)))(X, static), f(np.ones(3), static))


@pytest.mark.parametrize("x", [np.arange(3), np.array([True, False]), np.array([10], dtype=np.uint8), X + 1j,
                               X.astype(np.float16), X.astype(np.float32)],
                         ids=["int64", "bool", "uint8", "complex128", "float16", "float32"])
def test_function_of_non_float64_arrays_follows_numpy(x):
    def f(x):
        return x * 2 + 250 if x.dtype == np.uint8 else x * 2

    same(ad.function(f)(x), f(x))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_gradient_keeps_the_float_dtype(dtype):
    g = ad.grad(loss)(X.astype(dtype))
    assert g.dtype == dtype
    np.testing.assert_allclose(g, 2 * X, rtol=1e-3)


@pytest.mark.parametrize("x, kind", [(3.0, np.float64), (np.float64(3.0), np.float64), (np.float32(3.0), np.float32)],
                         ids=["float", "float64", "float32"])
def test_gradient_of_scalar_arguments_is_a_numpy_scalar(x, kind):
    g = ad.grad(lambda x: x ** 2)(x)
    assert type(g) is kind and g == 6.0


def test_structured_arguments_get_structured_gradients():
    g = ad.grad(lambda p: np.sum(p["w"] ** 2) + p["b"])({"w": X, "b": 1.0})
    assert list(g) == ["w", "b"]
    np.testing.assert_allclose(g["w"], 2 * X)
    assert g["b"] == 1.0
    g = ad.grad(lambda p: p[0] * p[1])([1.0, 2.0])
    assert type(g) is list and g == [2.0, 1.0]


def test_object_arrays_are_computed_as_numpy_does():
    x = np.array([1.0, "a"], dtype=object)
    same(ad.function(lambda x: x * 2)(x), x * 2)


def test_complex_values_through_function():
    f = lambda x: np.sum(x * x)  # noqa: E731
    same(ad.function(f)(X + 1j), f(X + 1j))


# -- NaN and inf ---------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.log(x)),
    lambda x: np.log(x),
    lambda x: np.exp(x) - x,
    lambda x: np.sqrt(x) * 2,
    lambda x: np.where(x > 1.0, x, -x),
], ids=["sum log", "log", "exp - x", "sqrt", "where"])
@pytest.mark.parametrize("x", [np.array([np.nan, 1.0]), np.array([np.inf, -np.inf, 1.0]), np.array([-1.0, 0.0, 2.0])],
                         ids=["nan", "inf", "out of domain"])
def test_nan_and_inf_values_follow_numpy(f, x):
    same(quiet(ad.function(f), x), quiet(f, x))


def test_gradient_at_nan_and_inf():
    g = quiet(ad.grad(loss), np.array([np.nan, 1.0]))
    np.testing.assert_array_equal(g, [np.nan, 2.0])
    g = quiet(ad.grad(lambda x: np.sum(np.exp(-x))), np.array([np.inf, 1.0]))
    np.testing.assert_allclose(g, [-0.0, -np.exp(-1.0)])


def branchy(x):
    return x * 2 if np.sum(x) > 0 else x * 3


def test_branch_on_nan_after_a_finite_trace():
    g = ad.function(branchy)
    for x in (np.array([1.0, 2.0]), np.array([np.nan, 1.0]), np.array([-1.0, 0.5]), np.array([1.0, 2.0])):
        same(g(x), branchy(x))  # NaN > 0 is False: the other branch, as in CPython


# -- empty arrays ------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [
    lambda x: np.sum(x),
    lambda x: x * 2,
    lambda x: np.sum(x * 2, axis=0),
    lambda x: x.T @ x,
    lambda x: x @ x.T,
    lambda x: sum(r for r in x),
    lambda x: np.mean(x),
], ids=["sum", "scale", "sum axis", "x.T @ x", "x @ x.T", "loop over rows", "mean"])
@pytest.mark.parametrize("shape", [(0,), (0, 3)], ids=["(0,)", "(0, 3)"])
def test_empty_arrays_follow_numpy(f, shape):
    x = np.zeros(shape)
    try:
        ref = quiet(f, x)
    except Exception as exc:  # noqa: BLE001 - e.g. x.T @ x of a 1-d array is a 0-d product: same error
        with pytest.raises(type(exc)):
            quiet(ad.function(f), x)
        return
    same(quiet(ad.function(f), x), ref)


@pytest.mark.parametrize("f", [loss, lambda x: np.sum(x * 2), lambda x: np.mean(x)], ids=["sum sq", "sum", "mean"])
@pytest.mark.parametrize("shape", [(0,), (0, 3)], ids=["(0,)", "(0, 3)"])
def test_gradient_wrt_an_empty_array_is_empty(f, shape):
    g = quiet(ad.grad(f), np.zeros(shape))
    assert type(g) is np.ndarray and g.shape == shape and g.dtype == np.float64


def test_reduction_of_an_empty_array_without_identity_raises_numpys_error():
    x = np.zeros(0)
    with pytest.raises(ValueError) as ref:
        np.max(x)
    with pytest.raises(ValueError) as got:
        ad.function(lambda x: np.max(x))(x)
    assert str(got.value) == str(ref.value)


# -- 0-d arrays ----------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [
    lambda x: x ** 2,
    lambda x: x[()],
    lambda x: np.max(x) * 2,
    lambda x: x.reshape(1) * 2,
    lambda x: np.stack([x, x]),
    lambda x: x * np.ones(2),
    lambda x: np.sin(x) if x > 0 else np.cos(x),
], ids=["square", "x[()]", "max", "reshape", "stack", "broadcast", "branch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_dimensional_arrays_follow_numpy(f, dtype):
    for v in (3.0, -0.5):
        x = np.array(v, dtype=dtype)
        same(ad.function(f)(x), f(x))


def test_gradient_wrt_a_zero_dimensional_array_is_a_zero_dimensional_array():
    for dtype in (np.float64, np.float32):
        g = ad.grad(lambda x: x ** 2)(np.array(3.0, dtype=dtype))
        assert type(g) is np.ndarray and g.shape == () and g.dtype == dtype and g == 6.0


def test_indexing_a_zero_dimensional_array_with_data_raises_numpys_error():
    def f(x):
        return x[int(x)]

    with pytest.raises(IndexError) as ref:
        f(np.array(1.0))
    with pytest.raises(IndexError) as got:
        ad.function(f)(np.array(1.0))
    assert str(got.value) == str(ref.value)


# -- loops unrolled past loop_limit --------------------------------------------------------------


def long_loop(x, n):
    s = 0.0
    for i in list(range(n)):  # over a list: unrolled (a range loop would roll into one Scan)
        s = s + x[i % 3] * 1e-3
    return s


def test_a_loop_past_loop_limit_warns_and_stays_exact():
    from pyautodiff.errors import TraceSizeWarning

    with pytest.warns(TraceSizeWarning, match="loop_limit"):
        got = ad.function(long_loop, loop_limit=100)(X, 300)
    assert got == pytest.approx(long_loop(X, 300), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceSizeWarning)
        ad.function(long_loop, loop_limit=10_000)(X, 300)  # under the limit: no warning
    np.testing.assert_allclose(ad.grad(long_loop)(X, 300), [0.1, 0.1, 0.1])


def test_the_loop_limit_warning_names_the_users_line():
    from pyautodiff.errors import TraceSizeWarning

    with pytest.warns(TraceSizeWarning) as record:
        ad.function(long_loop, loop_limit=50)(X, 100)
    assert any(__file__ in str(w.message) and "for i in list(range(n)):" in str(w.message) for w in record)


def test_a_gradient_deeper_than_the_recursion_limit_is_built_on_a_deep_stack(monkeypatch):
    from pyautodiff.backend import deep

    def loop(s):
        for _ in list(range(1000)):  # unrolled (over a list): 1000 dependent steps
            s = s * 1.0001 + 1.0
        return s

    deep_runs = []
    in_deep_thread = deep._in_deep_thread
    monkeypatch.setattr(deep, "_in_deep_thread", lambda *a: deep_runs.append(a[0]) or in_deep_thread(*a))
    limit = sys.getrecursionlimit()
    # d s_n / d s_0 = 1.0001 ** n by the chain rule, whatever the additions
    assert ad.grad(loop)(1.0) == pytest.approx(1.0001 ** 1000, rel=1e-12)
    assert deep_runs  # PyTensor's grad passed the recursion limit: the deep stack served it
    assert sys.getrecursionlimit() == limit  # raised only while the deep build ran
    deep_runs.clear()
    assert ad.grad(lambda s: np.sin(s) * s)(0.5) == pytest.approx(np.cos(0.5) * 0.5 + np.sin(0.5))
    assert not deep_runs  # a shallow graph is built in the calling thread


def test_graph_depth_counts_the_longest_path():
    import pytensor.tensor as pt

    from pyautodiff.backend.deep import graph_depth

    x = pt.dscalar("x")
    y = x
    for _ in range(5000):  # deeper than the recursion limit: counted without recursion
        y = y + 1.0
    assert graph_depth([pt.exp(pt.sin(x)), x]) == 2
    assert graph_depth([y, pt.exp(x)]) == 5000


def test_a_gradient_too_deep_even_for_the_deep_stack_is_a_clear_error(monkeypatch):
    from pyautodiff.backend import deep

    monkeypatch.setattr(deep, "RECURSION_LIMIT", 1200)  # the deep retry too shallow for 2000 steps

    def loop(s):
        for _ in list(range(2000)):
            s = s * 1.0001 + 1.0
        return s

    with pytest.raises(ad.UnsupportedError, match="too deep to differentiate"):
        ad.grad(loop)(1.0)
