"""A representative subset through PyTensor's compiled backends (C and Numba).

The rest of the suite runs on the default backend (generated numpy code,
which builds in milliseconds); these graphs are compiled for real, which
takes seconds each on a cold cache.
"""
import numpy as np
import pytest
import scipy.optimize

import pyautodiff as ad

from helpers import assert_close
from test_examples import nll, nll_grad_by_hand, seed

MODES = ["c", "numba"]


@pytest.mark.parametrize("mode", MODES)
def test_seed_gradient(mode):
    g = ad.grad(seed, wrt=(0, 1), mode=mode)
    g1, g2 = g(2.0, 5.0)
    assert g1 == pytest.approx(5.5, rel=1e-15) and g2 == pytest.approx(2 - np.cos(5), rel=1e-15)
    g1, g2 = g(3.0, 1.0)  # cached, new values
    assert g1 == pytest.approx(1 / 3 + 1) and g2 == pytest.approx(3 - np.cos(1.0))


@pytest.mark.parametrize("mode", MODES)
def test_loglinear_value_and_grad(mode):
    rng = np.random.default_rng(0)
    W, b, X, y = rng.normal(size=(4, 6)), rng.normal(size=4), rng.normal(size=(30, 6)), rng.integers(0, 4, 30)
    value, (gW, gb) = ad.value_and_grad(nll, wrt=(0, 1), mode=mode)(W, b, X, y)
    hW, hb = nll_grad_by_hand(W, b, X, y)
    assert value == pytest.approx(nll(W, b, X, y), rel=1e-13)
    assert_close(gW, hW, rtol=1e-12, atol=1e-14)
    assert_close(gb, hb, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_rosen_with_a_guarded_branch(mode):
    def f(x):
        r = scipy.optimize.rosen(x)
        return r if x[0] > 0 else 2 * r

    g = ad.grad(f, mode=mode)
    x = np.linspace(0.2, 1.4, 6)
    assert_close(g(x), scipy.optimize.rosen_der(x), rtol=1e-13, atol=1e-12)
    assert_close(g(-x), 2 * scipy.optimize.rosen_der(-x), rtol=1e-13, atol=1e-12)
    assert g.stats.traces == 2


@pytest.mark.parametrize("mode", MODES)
def test_out_of_bounds_index_on_a_cached_call_raises(mode):
    # Numba does not check bounds: before the index guard this read far outside the array
    # (a segmentation fault) or returned garbage; the indices are now clipped and guarded.
    def f(a, idx):
        out = np.zeros(3)
        out[idx] = a[idx] * 2.0
        return out

    g = ad.function(f, mode=mode)
    a = np.array([1.0, 2.0, 3.0])
    assert_close(g(a, np.array([0, 2])), [2.0, 0.0, 6.0])
    for bad in ([0, 10 ** 12], [-4, 0]):
        with pytest.raises(IndexError, match="out of bounds"):
            g(a, np.array(bad))
    assert_close(g(a, np.array([-1, 1])), [0.0, 4.0, 6.0])
    assert g.stats.traces == 1


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(ad.AutodiffError, match="unknown mode"):
        ad.grad(seed, mode="fortran")(2.0, 5.0)


# -- compiled backends round as numpy does: no fused multiply-add, signed zeros kept ------------


def _rounding_cases(a):
    return (a * 10.0 - 1.0,             # 0.1 * 10 rounds to 1: numpy gives 0; a fused multiply-add 5.6e-17
            -(a - a * 1.0),             # -0.0: LLVM's "no signed zeros" made it 0.0
            1.0 / -(a - a * 1.0),       # so this was +inf instead of -inf
            a * 3.0 / 3.0)              # 0.1 * 3 / 3 is 0.1 in numpy; an allowed reciprocal gives 0.1 + 1 ulp


@pytest.mark.parametrize("mode", MODES)
def test_compiled_backends_round_as_numpy(mode):
    a = np.array([0.1, 0.7, 1e-300])
    with np.errstate(divide="ignore"):
        want = _rounding_cases(a)
        got = ad.function(_rounding_cases, mode=mode)(a)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(np.signbit(g), np.signbit(w))
