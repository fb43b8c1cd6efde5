"""Float floor division and fmod, exactly as numpy and Python compute them.

numpy's float ``//`` goes through ``divmod`` (``fmod``, then a correction and a snap to the
nearest integer), not ``floor(a / b)``: ``1.0 // 0.1`` is 9.0 although ``1.0 / 0.1`` rounds
to 10.0.  ``np.fmod`` is C's exact ``fmod`` (``np.fmod(1.0, 0.1)`` is 0.0999...), and for
integers a zero divisor gives 0.
"""
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

import pyautodiff as ad

MODES = [{}, {"mode": "numpy"}, {"mode": "numba"}]
IDS = ["default", "numpy", "numba"]

_A = [-7.5, -3.0, -1.0, -0.0, 0.0, 0.3, 1.0, 3.0, 7.5, 1e300, np.inf, -np.inf, np.nan]
_B = [-2.0, -0.1, -0.0, 0.0, 0.1, 0.2, 2.0, 1e-300, np.inf, -np.inf, np.nan]
GRID_A = np.array(_A)[:, None]
GRID_B = np.array(_B)[None, :]


def _same(got, want):
    assert type(got) is type(want), (type(got), type(want))
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True), (got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want)), (got, want)


def check(f, mode, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # numpy warns on x / 0
        warnings.simplefilter("ignore", RuntimeWarning)
        want = f(*args)
        got = ad.function(f, **mode)(*args)
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)
    else:
        _same(got, want)


@pytest.mark.parametrize("mode", MODES, ids=IDS)
class TestFloorDivide:
    def test_reproducer_arrays(self, mode):
        check(lambda x, d: x // d, mode, np.array([1.0, 2.0]), np.array([0.1, 0.2]))

    def test_reproducer_python_float(self, mode):
        check(lambda s: s // 0.1, mode, 1.0)

    def test_python_float_operands(self, mode):
        check(lambda s, d: s // d, mode, -1.0, 0.1)
        check(lambda s, d: divmod(s, d), mode, 1.0, 0.1)

    def test_np_floor_divide(self, mode):
        check(np.floor_divide, mode, np.array([1.0, 2.0, -1.0]), np.array([0.1, 0.2, 0.1]))

    def test_divmod_quotient(self, mode):
        check(np.divmod, mode, np.array([1.0, 2.0, -1.0]), np.array([0.1, 0.2, 0.1]))

    def test_float32(self, mode):
        check(lambda x, d: x // d, mode, np.float32(1.5), np.float32(0.1))
        check(lambda x, d: x // d, mode, np.array([1.5, -1.5], np.float32), np.float32(0.1))
        check(lambda x: x // 0.1, mode, np.array([1.5, -1.5], np.float32))  # weak 0.1: float32

    def test_grid(self, mode):
        # negative operands, signed zeros, zero divisors (inf/nan), infinities and nan
        check(lambda x, d: x // d, mode, GRID_A, GRID_B)
        check(lambda x, d: np.divmod(x, d)[0], mode, GRID_A, GRID_B)

    def test_divmod_grid(self, mode, request):
        if mode.get("mode") == "numba":  # PyTensor's Numba Mod: +0.0 where numpy's remainder is -0.0
            request.applymarker(pytest.mark.xfail(strict=True, reason="float % zero sign in Numba"))
        check(np.divmod, mode, GRID_A, GRID_B)

    def test_grid_float32(self, mode):
        check(lambda x, d: x // d, mode, GRID_A.astype(np.float32), GRID_B.astype(np.float32))

    def test_mixed_int_float(self, mode):
        check(lambda x, d: x // d, mode, np.array([1, -1, 7], np.int64), np.array([0.1, 0.1, -0.7]))

    def test_inplace(self, mode):
        def f(x, d):
            y = x.copy()
            y //= d
            return y
        check(f, mode, np.array([1.0, 2.0]), np.array([0.1, 0.2]))

    def test_integers_unchanged(self, mode):
        check(lambda x, d: x // d, mode, np.array([7, -7, 7, -7], np.int64), np.array([2, 2, -2, -2], np.int64))


@pytest.mark.parametrize("mode", MODES, ids=IDS)
class TestFmod:
    def test_reproducer(self, mode):
        check(np.fmod, mode, np.array([1.0]), np.array([0.1]))

    def test_math_fmod(self, mode):
        check(lambda s: math.fmod(s, 0.1), mode, 1.0)

    def test_grid(self, mode):
        check(np.fmod, mode, GRID_A, GRID_B)

    def test_grid_float32(self, mode):
        check(np.fmod, mode, GRID_A.astype(np.float32), GRID_B.astype(np.float32))

    def test_int64_zero_divisor(self, mode):
        check(np.fmod, mode, np.array([7, -7, 0], np.int64), np.int64(0))

    def test_int64_large(self, mode):
        check(np.fmod, mode, np.array([2**53 + 1, 2**62 + 3, -(2**62) - 3]), np.int64(3))

    def test_int64_signs(self, mode):
        a = np.array([7, -7, 7, -7, np.iinfo(np.int64).min, np.iinfo(np.int64).min], np.int64)
        b = np.array([3, 3, -3, -3, -1, 3], np.int64)
        check(np.fmod, mode, a, b)

    def test_int32_zero_divisor(self, mode):
        check(np.fmod, mode, np.array([5, -5, 2**31 - 1], np.int32), np.array([0, 0, 0], np.int32))


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_fmod_gradient(mode):
    a = np.array([1.0, -1.0, 7.5, -7.5, 0.3, 5.0])
    b = np.array([0.1, 0.1, -2.0, 2.0, 0.7, -0.3])
    ga, gb = ad.grad(lambda x, y: np.sum(np.fmod(x, y)), wrt=(0, 1), **mode)(a, b)
    # fmod(a, b) = a - n * b with n = trunc(a / b) of the exact (not rounded) quotient
    n = np.array([math.trunc(Fraction(x) / Fraction(y)) for x, y in zip(a, b)], dtype=float)
    assert np.array_equal(ga, np.ones_like(a))
    assert np.array_equal(gb, -n)  # at 1.0 / 0.1, n is 9 (the rounded quotient is 10)


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_floor_divide_gradient_is_zero(mode):
    a = np.array([1.0, -1.0, 7.5, 3.0])
    b = np.array([0.1, 0.1, -2.0, 0.0])
    with np.errstate(all="ignore"):
        ga, gb = ad.grad(lambda x, y: np.sum(x // y) + np.sum(np.divmod(x, y)[0]), wrt=(0, 1), **mode)(a, b)
    assert np.array_equal(ga, np.zeros_like(a)) and np.array_equal(gb, np.zeros_like(b))
