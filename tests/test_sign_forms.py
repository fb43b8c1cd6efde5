"""Fewer passes for sign flips in generated code (issue #18): the negation moved past a
matrix product, and sigmoid of a negated product; values against hand-written gradients
and numpy's own forms, to the last bit where the forms are claimed exact."""
import warnings

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.fg import FunctionGraph

import pyautodiff as ad
from pyautodiff.backend.numpy_codegen import compile_fgraph, rewrite_graph


def generated(inputs, outputs):
    return compile_fgraph(rewrite_graph(FunctionGraph(inputs, outputs, clone=True)))


def logistic_nll(w, X, y):  # labels y in {-1, +1}
    return np.sum(np.log1p(np.exp(-y * (X @ w))))


def test_logistic_gradient_matches_the_hand_written_one_and_negates_after_the_product():
    rng = np.random.default_rng(0)
    X, w, y = rng.normal(size=(300, 4)), rng.normal(size=4), np.sign(rng.normal(size=300))
    got = ad.grad(logistic_nll)(w, X, y)
    np.testing.assert_allclose(got, X.T @ (-y / (1.0 + np.exp(y * (X @ w)))), rtol=1e-12)
    src = ad.export_source(ad.grad(logistic_nll), w, X, y)
    assert "-(X.T @" in src and "neg=True" in src and "-1.0 *" not in src


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
    assert "neg=True" in fn.source
    xs = np.array([-800.0, -370.0, -350.0, -15.0, -1e-8, 0.0, 2.5, 30.0, 370.0, 400.0, np.inf, -np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fn(xs, np.full(xs.size, 2.0))[0]
    u = -2.0 * xs  # sigmoid(u): the textbook form where it neither overflows nor underflows
    mid = np.abs(u) < 700
    np.testing.assert_array_equal(got[mid], 3.0 * (1 / (1 + np.exp(-u[mid]))))
    low = u < -700  # the lower tail: exp(u), down to subnormals
    np.testing.assert_allclose(got[low & np.isfinite(u)], 3.0 * np.exp(u[low & np.isfinite(u)]), rtol=1e-13)
    np.testing.assert_array_equal(got[-3:], [0.0, 3.0, np.nan])


def test_sigmoid_helper_on_scalars_and_float32():
    x = pt.scalar("x")
    f32 = pt.vector("f", dtype="float32")
    fn = generated([x, f32], [pt.sigmoid(x), pt.sigmoid(f32)])
    s, v = fn(np.float64(-2.0), np.array([-100.0, 0.0, 3.0], dtype=np.float32))
    assert float(s) == 1 / (1 + np.exp(2.0))
    assert v.dtype == np.float32
    np.testing.assert_allclose(v, [np.exp(np.float32(-100.0)), 0.5, 1 / (1 + np.exp(-3.0))], rtol=1e-6)
