"""Fewer passes for sign flips in generated code (issue #18): the negation moved past a
matrix product, and sigmoid of a negated product; values against hand-written gradients
and numpy's own forms, to the last bit where the forms are claimed exact."""
import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytensor.tensor as pt
import pytest
from pytensor.graph.fg import FunctionGraph

import pyautodiff as ad
from pyautodiff.backend.numpy_codegen import compile_fgraph, rewrite_graph


def generated(inputs, outputs):
    return compile_fgraph(rewrite_graph(FunctionGraph(inputs, outputs, clone=True)))


def logistic_nll(w, X, y):  # labels y in {-1, +1}
    return np.sum(np.log1p(np.exp(-y * (X @ w))))


def test_logistic_gradient_matches_the_hand_written_one_and_folds_its_signs_into_the_sigmoid():
    rng = np.random.default_rng(0)
    X, w, y = rng.normal(size=(300, 4)), rng.normal(size=4), np.sign(rng.normal(size=300))
    got = ad.grad(logistic_nll)(w, X, y)
    np.testing.assert_allclose(got, X.T @ (-y / (1.0 + np.exp(y * (X @ w)))), rtol=1e-12)
    src = ad.export_source(ad.grad(logistic_nll), w, X, y)
    # the product y * (X @ w) goes into the matrix product's buffer (one allocation fewer)
    assert "t0 = X @ w\n    t0 *= y\n    grad_w = X.T @ sigmoid(t0, neg=True, scale=y, minus=True)" in src
    assert "-(X.T" not in src and "-1.0 *" not in src


def test_a_negated_sigmoid_product_keeps_its_sign_inside_to_the_last_bit():
    # the sign of -(sigmoid(v) * s) stays before the product (negation_sink leaves it) and
    # goes into the sigmoid's division: -1 - e is -(1 + e) exactly, the quotient only flips sign
    A, v, s = pt.matrix("A", shape=(5, 400)), pt.vector("v", shape=(400,)), pt.vector("s", shape=(400,))
    fn = generated([A, v, s], [pt.dot(A, -(pt.sigmoid(v) * s))])
    alone = generated([v], [-pt.sigmoid(v)])
    assert "minus=True" in fn.source and "-(A @" not in fn.source and "minus=True" in alone.source
    rng = np.random.default_rng(3)
    a, vv, ss = rng.normal(size=(5, 400)), rng.normal(scale=5.0, size=400), rng.normal(size=400)
    np.testing.assert_array_equal(fn(a, vv, ss)[0], a @ -(ss / (1 + np.exp(-vv))))
    np.testing.assert_array_equal(alone(vv)[0], -(1 / (1 + np.exp(-vv))))
    with warnings.catch_warnings():  # the tail path negates too
        warnings.simplefilter("error")
        tail = alone(np.append(np.full(3, -720.0), [np.inf, -np.inf]))[0]
    np.testing.assert_allclose(tail[:3], -np.exp(np.full(3, -720.0)), rtol=1e-13)
    np.testing.assert_array_equal(tail[3:], [-1.0, -0.0])


def test_negation_after_the_product_is_the_same_to_the_last_bit():
    A, v, s = pt.matrix("A", shape=(5, 400)), pt.vector("v", shape=(400,)), pt.vector("s", shape=(400,))
    fn = generated([A, v, s], [pt.dot(A, -(v * s))])
    assert "-(A @" in fn.source
    rng = np.random.default_rng(1)
    a, vv, ss = rng.normal(size=(5, 400)), rng.normal(size=400), rng.normal(size=400)
    np.testing.assert_array_equal(fn(a, vv, ss)[0], a @ -(vv * ss))


def test_negation_stays_before_a_product_that_is_larger():
    # an outer product has more elements than its operand: negating first is cheaper
    u, v = pt.matrix("u", shape=(300, 1)), pt.matrix("v", shape=(1, 300))
    fn = generated([u, v], [pt.dot(-u, v)])
    a, b = np.arange(300.0).reshape(300, 1), np.linspace(0, 1, 300).reshape(1, 300)
    np.testing.assert_array_equal(fn(a, b)[0], -a @ b)
    assert "-(" not in fn.source  # (PyTensor 3.3 makes it a broadcast product: no dot at all)


def test_sigmoid_of_a_negated_product_in_both_tails_without_warnings():
    x, y = pt.vector("x"), pt.vector("y")
    fn = generated([x, y], [pt.sigmoid(-(x * y)) * 3.0])
    assert "neg=True, scale=3.0" in fn.source
    xs = np.array([-800.0, -370.0, -350.0, -15.0, -1e-8, 0.0, 2.5, 30.0, 370.0, 400.0, np.inf, -np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fn(xs, np.full(xs.size, 2.0))[0]
    u = -2.0 * xs  # sigmoid(u): the textbook form where it neither overflows nor underflows
    mid = np.abs(u) < 700
    np.testing.assert_array_equal(got[mid], 3.0 / (1 + np.exp(-u[mid])))  # the scaled form
    low = (u < -700) & np.isfinite(u)  # the lower tail, down to subnormals: within one step of their grid
    # of the exact value (3 * exp(u) rounds twice there: it was once the reference, one step off at u = -740)
    exact = _exact_scaled_sigmoid(u[low], np.full(low.sum(), 3.0))
    np.testing.assert_allclose(got[low], exact, rtol=1e-13, atol=np.finfo(float).smallest_subnormal)
    np.testing.assert_array_equal(got[-3:], [0.0, 3.0, np.nan])


def test_sigmoid_helper_on_scalars_and_float32():
    x = pt.scalar("x")
    f32 = pt.vector("f", dtype="float32")
    fn = generated([x, f32], [pt.sigmoid(x), pt.sigmoid(f32)])
    s, v = fn(np.float64(-2.0), np.array([-100.0, 0.0, 3.0], dtype=np.float32))
    assert float(s) == 1 / (1 + np.exp(2.0))
    assert v.dtype == np.float32
    np.testing.assert_allclose(v, [np.exp(np.float32(-100.0)), 0.5, 1 / (1 + np.exp(-3.0))], rtol=1e-6)


def _exact_scaled_sigmoid(u, a):
    """a / (1 + exp(-u)) to 40 digits (decimal), rounded once to float64."""
    with localcontext() as ctx:
        ctx.prec = 40
        return np.array([float(Decimal(ai) / (1 + (-Decimal(ui)).exp())) for ui, ai in zip(u, a)])


def test_a_sigmoid_times_a_factor_divides_the_factor_in_one_pass_correctly_rounded():
    # the derivative of softplus(u) times its cotangent a: a / (1 + exp(-u)), one division
    x, a = pt.vector("x"), pt.vector("a")
    fn = generated([x, a], [pt.sigmoid(x) * a, pt.sigmoid(-(x * a)) * a * 2.0])
    assert "sigmoid(x, scale=a)" in fn.source and "scale=2.0 * a" in fn.source
    rng = np.random.default_rng(2)
    xs, av = rng.normal(scale=8.0, size=400), rng.normal(size=400)
    p, q = fn(xs, av)
    exact_p, exact_q = _exact_scaled_sigmoid(xs, av), _exact_scaled_sigmoid(-xs * av, av * 2.0)
    # within a rounding or two of the exact value (the exponential's and the division's)
    np.testing.assert_allclose(p, exact_p, rtol=4.5e-16, atol=0)
    np.testing.assert_allclose(q, exact_q, rtol=6.7e-16, atol=0)
    # the tails: scale * exp(u) below, scale above; no warnings
    tails = np.array([-800.0, -720.0, 720.0, np.inf, -np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p, _ = fn(tails, np.full(6, 3.0))
    np.testing.assert_allclose(p[:2], 3.0 * np.exp(tails[:2]), rtol=1e-13)
    np.testing.assert_array_equal(p[2:], [3.0, 3.0, 0.0, np.nan])


@pytest.mark.parametrize("case", ["wider factor", "wider dtype"])
def test_a_sigmoid_times_a_factor_that_would_widen_the_result_multiplies_after(case):
    # the helper divides in place into its own buffer: a factor of a larger shape or a
    # wider dtype than the sigmoid's argument must not be folded in
    if case == "wider factor":
        x, a = pt.tensor("x", shape=(None, 1)), pt.tensor("a", shape=(None, None))
        xs, av = np.linspace(-3, 3, 5).reshape(5, 1), np.arange(15.0).reshape(5, 3)
    else:
        x, a = pt.vector("x", dtype="float32"), pt.vector("a", dtype="float64")
        xs, av = np.linspace(-3, 3, 5, dtype=np.float32), np.arange(5.0) + 1e-9
    fn = generated([x, a], [pt.sigmoid(x) * a])
    assert "scale=a" not in fn.source
    (got,) = fn(xs, av)
    want = 1 / (1 + np.exp(-xs.astype(np.float64))) * av
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6 if case == "wider dtype" else 1e-15)


def test_sigmoid_helper_on_an_empty_array():
    # regression: the overflow check reduced an empty array with fmax, which has no identity
    x = pt.vector("x")
    fn = generated([x], [pt.sigmoid(x), pt.sigmoid(-x) * x])
    got = fn(np.zeros(0))
    assert [g.shape for g in got] == [(0,), (0,)]


def test_the_real_part_of_a_complex_input_is_not_scratch_for_the_sigmoid():
    # np.real(z) is a view of z: the helper must not compute in place into it
    z = pt.vector("z", dtype="complex128")
    fn = generated([z], [pt.sigmoid(pt.real(z)) * 2.0])
    assert "sigmoid(np.real(z), scale=2.0)" in fn.source
    zz = np.array([1 + 2j, -3 + 1j])
    (got,) = fn(zz)
    np.testing.assert_array_equal(zz, [1 + 2j, -3 + 1j])
    np.testing.assert_array_equal(got, 2.0 / (1 + np.exp(-zz.real)))


def _logistic_rows(margins):
    """X (rows of one feature and a constant), w and y whose margins y * (X @ w) are ``margins``."""
    y = np.where(np.arange(margins.size) % 2 == 0, 1.0, -1.0)
    X = np.stack([margins * y / 2.0, np.ones(margins.size)], axis=1)  # X @ w = margins * y (w = [2, 0])
    return np.array([2.0, 0.0]), X, y


def _exact_logistic_gradient(w, X, y):
    """X.T @ (-y * sigmoid(-y * (X @ w))), each element of the vector to 40 digits, rounded once."""
    z = X @ w  # exact here: one product per row with a zero second weight
    v = -_exact_scaled_sigmoid(-y * z, y)
    return X.T @ v, v


def test_logistic_gradient_where_the_hand_code_overflows_is_exact_and_silent():
    # margins past log(max) = 709.78 overflow exp in the hand-written gradient (a warning); the
    # generated code's exp raises under its errstate instead and the tail recomputes without warnings
    margins = np.array([-800.0, -30.0, -1.0, 0.0, 0.5, 20.0, 708.2, 709.5, 710.0, 745.0, 760.0, 1200.0])
    w, X, y = _logistic_rows(margins)
    with pytest.warns(RuntimeWarning, match="overflow"):
        X.T @ (-y / (1.0 + np.exp(y * (X @ w))))

    def compiled_grad(w, X, y):
        g = ad.grad(logistic_nll)
        g(np.zeros_like(w), X, y)  # traced on margins 0 (the trace runs the function itself, which overflows)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return g(w, X, y)

    got = compiled_grad(w, X, y)
    want, v = _exact_logistic_gradient(w, X, y)
    # the same matrix product of a vector correct to a rounding: within a few roundings of its terms
    assert np.all(np.abs(got - want) <= 4 * np.finfo(float).eps * (np.abs(X).T @ np.abs(v))), (got, want)
    # and the vector itself: the gradient of one row at a time (X of one row) is its element
    for i in (6, 7, 8, 9, 10):
        row = compiled_grad(w, X[i:i + 1], y[i:i + 1])
        np.testing.assert_allclose(row, X[i] * v[i], rtol=1e-15, atol=np.finfo(float).smallest_subnormal)


def test_the_tail_keeps_a_large_factor_exact():
    # scale * exp(u) where exp(u) is subnormal: (scale * h) * h with h = exp(u / 2) keeps scale's
    # bits (scale * exp(u) kept about 40 of them at u = -720)
    x, a = pt.vector("x"), pt.vector("a")
    fn = generated([x, a], [pt.sigmoid(x) * a])
    xs = np.array([-720.0, -745.0, -1000.0, -709.0, 3.0])
    av = np.array([1e300, 1e300, 1e300, -1e300, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (got,) = fn(xs, av)
    np.testing.assert_allclose(got, _exact_scaled_sigmoid(xs, av), rtol=1e-15, atol=0)


def test_sigmoid_helper_tail_on_scalars_and_zero_d_arrays():
    x = pt.scalar("x")
    fn = generated([x], [pt.sigmoid(x) * 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for v in (-720.0, -800.0, 2.0):
            for arg in (np.float64(v), np.array(v)):
                (got,) = fn(arg)
                assert np.ndim(got) == 0
                np.testing.assert_allclose(float(got), _exact_scaled_sigmoid([v], [3.0])[0], rtol=1e-15,
                                           atol=np.finfo(float).smallest_subnormal)


def test_sigmoid_helper_keeps_the_callers_floating_point_settings():
    # the helper's errstate covers its own exp only: an overflow the caller asked to raise elsewhere
    # still raises, and its own tail raises an underflow the caller asked to raise
    x = pt.vector("x")
    fn = generated([x], [pt.sigmoid(x)])
    with np.errstate(under="raise"), pytest.raises(FloatingPointError):
        fn(np.array([-720.0, 1.0]))
    with np.errstate(over="raise"):
        (got,) = fn(np.array([-720.0, 1.0]))  # no overflow reaches the caller
    np.testing.assert_allclose(got, _exact_scaled_sigmoid([-720.0, 1.0], [1.0, 1.0]), rtol=1e-15,
                               atol=np.finfo(float).smallest_subnormal)
    assert np.geterr()["over"] == "warn"


@pytest.mark.parametrize("n", [300, 40_000])  # below and above 128 KiB: a new buffer for exp, or in place
def test_sigmoid_helper_large_and_small_arrays_exact_and_inputs_untouched(n):
    x, y = pt.vector("x"), pt.vector("y")
    fn = generated([x, y], [pt.sigmoid(-(x * y)) * 3.0, pt.sigmoid(x), pt.sigmoid(-x) * y])
    assert "scratch=True" in fn.source  # the product x * y is the helper's to overwrite
    rng = np.random.default_rng(7)
    xs = rng.normal(scale=300.0, size=n)
    xs[:6] = [-800.0, -709.5, -708.2, 708.2, 720.0, np.nan]
    ys = np.full(n, 1.0)
    before = xs.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b, c = fn(xs, ys)
    np.testing.assert_array_equal(xs, before)
    pick = np.r_[0:5, 6:40]
    tiny = np.finfo(float).smallest_subnormal
    np.testing.assert_allclose(a[pick], _exact_scaled_sigmoid(-xs[pick], np.full(pick.size, 3.0)), rtol=1e-15, atol=tiny)
    np.testing.assert_allclose(b[pick], _exact_scaled_sigmoid(xs[pick], np.ones(pick.size)), rtol=1e-15, atol=tiny)
    np.testing.assert_allclose(c[pick], _exact_scaled_sigmoid(-xs[pick], ys[pick]), rtol=1e-15, atol=tiny)
    assert np.isnan(a[5]) and np.isnan(b[5]) and np.isnan(c[5])
    # without an overflowing element: the fast path (in place above 128 KiB), same values
    xs = np.clip(xs[6:], -700.0, 700.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b, c = fn(xs, ys[6:])
    pick = np.arange(40)
    np.testing.assert_allclose(a[pick], _exact_scaled_sigmoid(-xs[pick], np.full(pick.size, 3.0)), rtol=1e-15, atol=tiny)
    np.testing.assert_allclose(b[pick], _exact_scaled_sigmoid(xs[pick], np.ones(pick.size)), rtol=1e-15, atol=tiny)
