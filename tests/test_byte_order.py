"""Arrays in the other byte order (as many file formats store them) are never misread:
they are converted on entry, in every mode, so the compiled code sees native memory.
Also the other mode-specific raw failures of the issue: mode="c" integer division by
zero and float16 under Numba."""
import warnings

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.backend import tiered

MODES = ["numpy", "c", "numba", "py", None]
SWAPPED = ">" if np.little_endian else "<"


def swapped(a):
    out = np.asarray(a).astype(np.asarray(a).dtype.newbyteorder(SWAPPED))
    assert not out.dtype.isnative
    return out


@pytest.mark.parametrize("mode", MODES)
def test_non_native_arrays_give_numpys_results_in_every_mode(mode):
    x = np.array([1.0, 2.0, 3.0])
    n = np.array([3, 1, 2])
    fn = ad.function(lambda v, k: v * 2 + k, mode=mode)
    for args in [(x, n), (swapped(x), n), (x, swapped(n)), (swapped(x), swapped(n))]:
        got = fn(*args)
        want = args[0] * 2 + args[1]  # numpy itself: a native result
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype and got.dtype.isnative
    g = ad.grad(lambda v: np.sum(v ** 3), mode=mode)
    for v in (swapped(x), x, swapped(x.astype(np.float32))):
        np.testing.assert_allclose(g(v), 3 * np.asarray(v, dtype=np.float64) ** 2, rtol=1e-6)


@pytest.mark.parametrize("mode", ["numpy", "c"])
def test_non_native_leaves_in_structures_keywords_directions_and_globals(mode):
    w = swapped(np.array([0.5, -1.0]))
    params = {"w": w, "b": swapped(np.array(0.25))}
    g = ad.grad(lambda p, x=None: np.sum(p["w"] * x) + p["b"] ** 2, mode=mode)
    x = swapped(np.array([2.0, 3.0]))
    got = g(params, x=x)
    np.testing.assert_array_equal(got["w"], [2.0, 3.0])
    assert float(got["b"]) == 0.5
    hvp = ad.hvp(lambda v: np.sum(v ** 3), mode=mode)
    v = np.array([1.0, 2.0])
    np.testing.assert_allclose(hvp(swapped(v), swapped(np.array([1.0, 1.0]))), 6 * v, rtol=1e-15)


SCALE = swapped(np.array([2.0, 3.0]))


def uses_a_global(v):
    return np.sum(v * SCALE)


def test_a_non_native_global_read_by_the_trace():
    g = ad.grad(uses_a_global, mode="c")
    np.testing.assert_array_equal(g(np.array([1.0, 1.0])), [2.0, 3.0])
    np.testing.assert_array_equal(g(np.array([5.0, 1.0])), [2.0, 3.0])


def test_a_non_native_first_call_after_the_numba_upgrade(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", 0.0)
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 0.0)
    fn = ad.function(lambda v: v * 2)
    x = np.array([1.0, 2.0, 3.0])
    for _ in range(tiered.MEASURE_CALLS + 1):
        fn(x)
    assert fn._last_spec.tiering.wait(600).startswith("numba")
    for _ in range(3):
        np.testing.assert_array_equal(fn(swapped(x)), [2.0, 4.0, 6.0])
        np.testing.assert_array_equal(fn(x), [2.0, 4.0, 6.0])


@pytest.mark.parametrize("mode", MODES)
def test_integer_division_by_zero_gives_numpys_zero(mode):
    a, b = np.array([7, -7, 3, 5]), np.array([2, 2, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want_div, want_mod = a // b, a % b  # numpy: 0 where b == 0 (with a warning)
        got_div = ad.function(lambda u, v: u // v, mode=mode)(a, b)
        got_mod = ad.function(lambda u, v: u % v, mode=mode)(a, b)
        # the cached specialization too
        np.testing.assert_array_equal(ad.function(lambda u, v: u // v, mode=mode)(b, b[::-1] * 0), [0, 0, 0, 0])
    np.testing.assert_array_equal(got_div, want_div)
    np.testing.assert_array_equal(got_mod, want_mod)


def test_float16_under_numba_is_a_clear_error_and_the_default_mode_keeps_numpy(monkeypatch):
    h = np.array([1.0, 2.0, 3.0], dtype=np.float16)
    with pytest.raises(ad.AutodiffError, match="float16") as info:
        ad.grad(lambda v: np.sum(v * v), mode="numba")(h)
    assert not isinstance(info.value, ad.InternalError)
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", 0.0)
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 0.0)
    g = ad.grad(lambda v: np.sum(v * v))
    for _ in range(tiered.MEASURE_CALLS + 1):
        np.testing.assert_array_equal(g(h), 2 * h)
    assert g._last_spec.tiering.wait(600).startswith("kept numpy")
    np.testing.assert_array_equal(g(h), 2 * h)


@pytest.mark.parametrize("mode", ["numpy", "c", "numba"])
def test_a_non_native_first_call_does_not_teach_the_fast_path_to_pass_raw_memory(mode):
    fn = ad.function(lambda v: v * 2, mode=mode)
    x = np.array([1.0, 2.0, 3.0])
    big = swapped(np.arange(12.0))
    for k in range(3):  # the first call builds the fast path; views share their dtype object
        np.testing.assert_array_equal(fn(big[k:k + 3]), 2 * np.arange(k, k + 3.0))
    for k in range(3):
        np.testing.assert_array_equal(fn(x + k), 2 * (x + k))  # through the fast path
        np.testing.assert_array_equal(fn(big[k:k + 3]), 2 * np.arange(k, k + 3.0))


@pytest.mark.parametrize("mode", ["numpy", "c"])
def test_vmap_converts_non_native_batches_too(mode):
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(ad.vmap(lambda v: v * 2, mode=mode)(swapped(x)), 2 * x)
    g = ad.vmap(ad.grad(lambda v: np.sum(v ** 3), mode=mode))
    np.testing.assert_allclose(g(swapped(x)), 3 * x ** 2, rtol=1e-15)
