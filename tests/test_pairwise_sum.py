"""The Numba tier adds float sums in numpy's order (backend/pairwise_sum.py).

Expected values are numpy's own ``np.sum``; the data span many magnitudes, so that a
sequential sum (PyTensor's Numba loop) differs from numpy's pairwise one in the last bits.
"""
import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.backend import pairwise_sum, tiered


def _data(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 6, size=shape)).astype(dtype)


# lengths around numpy's block (128) and unroll (8) boundaries, and a long split
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 1000, 100_003])
def test_vector_sums_equal_numpys(n):
    x = _data(n, seed=n)
    got = ad.function(np.sum, mode="numba")(x)
    assert got == np.sum(x)


# float64 only: PyTensor sums float32 in float64 (and so does our numpy tier), not in
# numpy's float32 order; such sums keep PyTensor's loop
@pytest.mark.parametrize("case", ["full", "F full", "last axis", "last two axes", "strided", "reversed",
                                  "mean"])
def test_sums_equal_numpys(case):
    fns = {
        "full": lambda x: np.sum(x),
        "F full": lambda x: np.sum(x.T),  # an F-contiguous view: numpy adds in memory order
        "last axis": lambda x: np.sum(x, axis=-1),
        "last two axes": lambda x: np.sum(x.reshape(6, 50, 20), axis=(1, 2)),
        "strided": lambda x: np.sum(x.ravel()[::3]),
        "reversed": lambda x: np.sum(x.ravel()[::-1]),
        "mean": lambda x: x.mean(axis=-1),
    }
    x = _data((300, 20))
    f = fns[case]
    got = ad.function(f, mode="numba")(x)
    want = f(x)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_leading_axis_and_matrix_views_keep_pytensors_loop():
    # numpy adds row after row over a leading axis, as PyTensor's loop does
    x = _data((300, 20))
    got = ad.function(lambda x: np.sum(x, axis=0), mode="numba")(x)
    np.testing.assert_array_equal(got, np.sum(x, axis=0))
    # a strided view of a matrix: PyTensor's loop, which may round otherwise: close, not equal
    got = ad.function(lambda x: np.sum(x[:, ::2]), mode="numba")(x)
    np.testing.assert_allclose(got, np.sum(x[:, ::2]), rtol=1e-12, atol=0)


def test_centering_a_constant_column_gives_zero():
    # the symptom: x - x.mean() of a constant column was 1e-17 once Numba served
    c = np.full(1000, 0.1)
    got = ad.function(lambda c: c - np.mean(c), mode="numba")(c)
    np.testing.assert_array_equal(got, c - np.mean(c))


def test_value_of_a_gradient_call_equals_numpys():
    def f(w, x):
        r = x @ w - np.mean(x @ w)
        return np.sum(r ** 2) + np.sum(np.sum(x, axis=1) * w[0])

    x, w = _data((500, 4), seed=3), np.array([0.3, -1.2, 2.0, 0.5])
    v1, g1 = ad.value_and_grad(f, mode="numpy")(w, x)
    v2, g2 = ad.value_and_grad(f, mode="numba")(w, x)
    assert v1 == v2 == f(w, x)
    # the gradients' graphs are rewritten differently for each tier (the BLAS forms):
    # equal to a hand-written gradient up to rounding, not bit for bit
    s = x @ w
    r = s - s.mean()
    hand = 2 * (x - x.mean(axis=0)).T @ r
    hand[0] += np.sum(x)
    np.testing.assert_allclose(g1, hand, rtol=1e-12)
    np.testing.assert_allclose(g2, hand, rtol=1e-12)


def test_the_numba_tier_sums_as_the_numpy_tier(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", 0.0)
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 0.0)
    x = _data(10_000, seed=7)
    g = ad.function(lambda x: (np.sum(x), np.sum(x * x)))
    first = g(x)
    for _ in range(tiered.MEASURE_CALLS + 1):
        g(x)
    assert g._last_spec.tiering.wait(timeout=600).startswith("numba")
    assert g(x) == first == (np.sum(x), np.sum(x * x))


def test_only_our_numba_mode_includes_the_rewrite():
    # a user's own PyTensor keeps its Sum: the rewrite sits under our tag alone
    import pytensor
    import pytensor.tensor as pt

    from pyautodiff.backend.compile import _PYTENSOR_MODES

    x = pt.vector("x")
    theirs = pytensor.function([x], pt.sum(x), mode="NUMBA")
    ours = pytensor.function([x], pt.sum(x), mode=_PYTENSOR_MODES["numba"]())
    kinds = lambda f: {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}  # noqa: E731
    assert "PairwiseSum" in kinds(ours) and "PairwiseSum" not in kinds(theirs)
    y = _data(5000)
    assert ours(y) == np.sum(y)


def test_perform_and_reducer_source():
    import pytensor.tensor as pt

    op = pairwise_sum.PairwiseSum((1,))
    x = pt.matrix("x")
    node = op.make_node(x)
    out = [[None]]
    v = _data((4, 300))
    op.perform(node, [v], out)
    np.testing.assert_array_equal(out[0][0], v.sum(axis=1))
    src = pairwise_sum.reducer_source(2, (1,), "float64")
    assert "fallback(x)" in src and "pairwise(flat, o * inner, inner, ZERO)" in src
