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
