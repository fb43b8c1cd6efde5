"""Regression tests for the wrong numbers of issue 20 (each against an independent reference)."""
from __future__ import annotations

import math

import numpy as np

import pyautodiff as ad

from helpers import numeric_grad


def test_second_derivative_of_det_has_the_right_sign():
    # det [[a, b], [c, d]] = a d - b c: d2/da dd = 1, d2/db dc = -1, all others 0.
    a = np.array([[1.0, 2.0], [3.0, 5.0]])  # LAPACK pivots once here (odd permutation)
    want = np.zeros((2, 2, 2, 2))
    want[0, 0, 1, 1] = want[1, 1, 0, 0] = 1.0
    want[0, 1, 1, 0] = want[1, 0, 0, 1] = -1.0
    np.testing.assert_allclose(ad.hessian(np.linalg.det)(a), want, atol=1e-12)
    v = np.array([[0.3, -1.0], [2.0, 0.5]])
    np.testing.assert_allclose(ad.hvp(np.linalg.det)(a, v), np.tensordot(want, v, axes=2), atol=1e-12)


def test_hessian_of_det_3x3_against_differences_of_the_analytic_gradient():
    a = np.array([[0.2, 1.5, -0.3], [2.0, 0.1, 0.7], [-1.0, 0.4, 1.2]])
    h = ad.hessian(np.linalg.det)(a)
    for i in range(3):
        for j in range(3):
            cofactor = lambda m, i=i, j=j: np.linalg.det(m) * np.linalg.inv(m).T[i, j]  # noqa: E731
            np.testing.assert_allclose(h[i, j], numeric_grad(cofactor, a), rtol=1e-6, atol=1e-8)


def test_fmod_keeps_the_dividends_sign_at_zero():
    for x, y in ((-6.0, 3.0), (6.0, 3.0), (-7.5, 2.5), (-1.25, 0.5)):
        got = ad.function(lambda a, b: np.fmod(a, b))(x, y)
        assert math.copysign(1.0, got) == math.copysign(1.0, np.fmod(x, y)) and got == np.fmod(x, y)
        assert math.copysign(1.0, ad.function(lambda a, b: math.fmod(a, b))(x, y)) == math.copysign(1.0, math.fmod(x, y))


def test_std_of_one_value_has_a_zero_gradient():
    assert np.all(ad.grad(lambda x: np.std(x))(np.array([1.5])) == 0.0)
    assert np.all(ad.grad(lambda x: np.nanstd(x))(np.array([1.5, np.nan])) == 0.0)
    assert np.all(ad.grad(lambda x: np.sum(x.std(axis=1)))(np.full((2, 3), 0.7)) == 0.0)
    x = np.array([0.3, 1.1, -0.4])  # elsewhere the derivative is the usual one
    np.testing.assert_allclose(ad.grad(np.std)(x), (x - x.mean()) / (x.size * x.std()), rtol=1e-12)


def test_jvp_with_several_wrt_adds_every_direction():
    assert ad.jvp(lambda a, b: a + b, wrt=(0, 1))(0.4, 0.5, (1.0, 5.0))[1] == 6.0
    a, b = np.array([1.0, 1.0]), np.array([0.5, 2.0])
    da, db = np.array([1.0, 2.0]), np.array([5.0, 1.0])
    np.testing.assert_allclose(ad.jvp(lambda a, b: a * b, wrt=(0, 1))(a, b, (da, db))[1], b * da + a * db)


def test_gradient_has_the_inputs_dtype_through_a_float64_cast():
    x = np.array([1.0, 2.0], dtype=np.float32)
    g = ad.grad(lambda x: np.sum(x.astype("float64") ** 2))(x)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, 2 * x)  # d/dx sum x^2 = 2x, exact in float32
    _, cot = ad.vjp(lambda x: np.asarray(x, dtype=np.float64) * 3.0)(x, np.ones(2))
    assert cot.dtype == np.float32 and np.all(cot == 3.0)


def test_vjp_of_svd_factors_against_finite_differences():
    rng = np.random.default_rng(3)
    for shape, full in (((3, 3), True), ((3, 3), False), ((4, 3), False)):
        a = rng.normal(size=shape)
        u, s, vh = np.linalg.svd(a, full_matrices=full)
        du, ds, dvh = rng.normal(size=u.shape), rng.normal(size=s.shape), rng.normal(size=vh.shape)

        def f(m, full=full, du=du, ds=ds, dvh=dvh):
            uu, ss, vv = np.linalg.svd(m, full_matrices=full)
            return np.sum(du * uu) + np.sum(ds * ss) + np.sum(dvh * vv)

        got = ad.vjp(lambda m, full=full: np.linalg.svd(m, full_matrices=full))(a, (du, ds, dvh))[1]
        np.testing.assert_allclose(got, numeric_grad(f, a), rtol=1e-6, atol=1e-8)
        factors = ad.function(lambda m, full=full: np.linalg.svd(m, full_matrices=full))(a)
        for got_f, want_f in zip(factors, (u, s, vh)):  # numpy's own signs
            np.testing.assert_allclose(got_f, want_f, atol=1e-12)


def test_vjp_direction_of_the_wrong_shape_is_named():
    import pytest

    f = ad.vjp(lambda m: np.linalg.svd(m, full_matrices=False)[0])
    with pytest.raises(ad.AutodiffError, match=r"direction of shape \(3, 3\) does not match .* \(4, 3\)"):
        f(np.ones((4, 3)) + np.eye(4, 3), np.ones((3, 3)))


def test_vjp_of_ellipsis_einsum():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 3))
    u = rng.normal(size=(2, 3, 3))
    _, (ga, gb) = ad.vjp(lambda a, b: np.einsum("...ij,...jk->...ik", a, b), wrt=(0, 1))(a, b, u)
    # d <u, a b> / da = u b^T, / db = a^T u
    np.testing.assert_allclose(ga, u @ np.swapaxes(b, -1, -2), rtol=1e-12)
    np.testing.assert_allclose(gb, np.swapaxes(a, -1, -2) @ u, rtol=1e-12)


def test_grad_of_a_size_one_output():
    a = np.array([[1.5, -2.0], [0.5, 3.0]])
    np.testing.assert_array_equal(ad.grad(lambda m: m[:1, :1] ** 2)(a), [[3.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(ad.grad(lambda m: m[0, 1:] * 2.0)(a), [[0.0, 2.0], [0.0, 0.0]])
    value, g = ad.value_and_grad(lambda m: m[1:, 1:] * m[:1, :1])(a)
    assert value.shape == (1, 1) and value[0, 0] == 4.5  # the value keeps its shape
    np.testing.assert_array_equal(g, [[3.0, 0.0], [0.0, 1.5]])


def test_eigh_upper_matches_numpy_and_its_gradient_finite_differences():
    rng = np.random.default_rng(1)
    for n in (3, 4):
        a, w = rng.normal(size=(n, n)), rng.normal(size=(n, n))
        for uplo in ("U", "L"):
            vals, vecs = ad.function(lambda m, uplo=uplo: np.linalg.eigh(m, uplo))(a)
            want_vals, want_vecs = np.linalg.eigh(a, uplo)
            np.testing.assert_allclose(vals, want_vals, atol=1e-12)
            np.testing.assert_allclose(vecs, want_vecs, atol=1e-12)  # numpy's signs

            def f(m, uplo=uplo, w=w):
                e, v = np.linalg.eigh(m, uplo)
                return np.sum(w * v) + np.sum(w[0] * e)

            with np.errstate(divide="ignore", invalid="ignore"):
                got = ad.grad(f)(a)
            np.testing.assert_allclose(got, numeric_grad(f, a), rtol=1e-5, atol=1e-7)
