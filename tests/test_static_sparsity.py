"""The static-sparsity pass: exactly the dense graph's numbers, with less work.

Every comparison is bit for bit against the same graph compiled with the
pass turned off (NaN, inf and signed zeros included), and the values against
an independent source (scipy's hand-written Rosenbrock Hessian, the
analytic derivative of tanh)."""
import numpy as np
import pytensor.tensor as pt
import pytest
import scipy.optimize

import pyautodiff as ad
from pyautodiff.backend import static_sparsity
from pyautodiff.backend.compile import compile_graph, optimized_fgraph

from helpers import assert_close

SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e308, -5e-324])


@pytest.fixture(autouse=True)
def _no_code_cache(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", "0")  # the switch is not part of the cache key


def _same(a, b):
    """Equal, NaN where NaN and zeros of the same sign (a NaN's own sign bit
    depends on the order of a product's operands, which numpy's loops choose)."""
    a, b = np.asarray(a), np.asarray(b)
    numbers = ~np.isnan(a)
    return (a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
            and np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers])))


def _dense_and_sparse(build, monkeypatch):
    """``build()`` run with the pass off and on: ``(dense, sparse)``."""
    monkeypatch.setattr(static_sparsity, "ENABLED", False)
    dense = build()
    monkeypatch.setattr(static_sparsity, "ENABLED", True)
    return dense, build()


def _big_elementwise_nodes(inputs, outputs, size):
    from pytensor.tensor.elemwise import Elemwise

    fg = optimized_fgraph(inputs, outputs)
    return [n for n in fg.apply_nodes if isinstance(n.op, Elemwise)
            and int(np.prod(n.outputs[0].type.shape)) >= size]


def _row(n, seed=0):
    x = np.random.default_rng(seed).normal(size=n)
    x[:len(SPECIAL)] = SPECIAL
    return x


# -- the graph level ----------------------------------------------------------------------

def _graphs():
    """(name, inputs, outputs) of graphs the pass rewrites."""
    n = 64
    x = pt.vector("x", shape=(n,))
    row = x[None, :]
    eye = np.eye(n)
    shifted = np.eye(n, k=1) * -2.0
    shifted[shifted == 0] = -0.0  # a background of negative zeros
    a = pt.constant(eye * 3.0) * row + pt.constant(shifted)
    out = {"elementwise": [a],
           "two outputs": [pt.exp(pt.constant(eye) * row), pt.constant(eye) * row + 1.0]}
    zeros = pt.zeros((n, n + 1))
    out["added into zeros"] = [pt.inc_subtensor(zeros[:, 1:], a)]
    out["rows partly updated"] = [pt.inc_subtensor(zeros[: n // 2, :-1], a[: n // 2])]
    out["stepped and reversed"] = [pt.set_subtensor(zeros[::-1, :-1], a) * 2.0]
    out["updated twice"] = [pt.inc_subtensor(pt.inc_subtensor(zeros[:, :-1], a)[:, 1:], a * row)]
    return [(name, [x], outs) for name, outs in out.items()]


@pytest.mark.parametrize("name,inputs,outputs", _graphs(), ids=[g[0] for g in _graphs()])
def test_graph_results_are_the_dense_ones_bit_for_bit(name, inputs, outputs, monkeypatch):
    x = _row(64)

    def run():
        fn, _ = compile_graph(inputs, outputs, mode="numpy")
        return fn(x)

    dense, sparse = _dense_and_sparse(run, monkeypatch)
    for d, s in zip(dense, sparse):
        assert _same(d, s)
    # and the pass did its work: no elementwise node spans the full array
    size = int(np.prod(outputs[0].type.shape))
    assert _big_elementwise_nodes(inputs, outputs, size // 4) == []
    monkeypatch.setattr(static_sparsity, "ENABLED", False)
    assert _big_elementwise_nodes(inputs, outputs, size // 4) != []


def test_dense_constants_and_small_arrays_are_left_alone():
    x = pt.vector("x", shape=(64,))
    dense_constant = pt.constant(np.arange(64.0 * 64).reshape(64, 64)) * x[None, :]
    small = pt.constant(np.eye(16)) * x[None, :16]
    for out in (dense_constant, small):
        size = int(np.prod(out.type.shape))
        assert len(_big_elementwise_nodes([x], [out], size)) == 1


# -- end to end ---------------------------------------------------------------------------

def test_rosen_hessian_matches_scipy_and_the_dense_graph(monkeypatch):
    x = np.linspace(-1.2, 1.5, 100)
    dense, sparse = _dense_and_sparse(lambda: ad.hessian(scipy.optimize.rosen)(x), monkeypatch)
    assert _same(dense, sparse)
    assert_close(sparse, scipy.optimize.rosen_hess(x), rtol=1e-12, atol=1e-10)
    special = np.linspace(-1.2, 1.5, 100)
    special[[3, 40, 41, 99]] = [np.nan, np.inf, -0.0, -np.inf]
    dense, sparse = _dense_and_sparse(lambda: ad.hessian(scipy.optimize.rosen)(special), monkeypatch)
    assert _same(dense, sparse)


def test_rosen_hessian_in_numba_mode(monkeypatch):
    x = np.linspace(-1.2, 1.5, 100)
    x[7] = np.inf
    dense, sparse = _dense_and_sparse(
        lambda: ad.hessian(scipy.optimize.rosen, mode="numba")(x), monkeypatch)
    assert _same(dense, sparse)
    x[7] = 0.25
    assert_close(ad.hessian(scipy.optimize.rosen, mode="numba")(x), scipy.optimize.rosen_hess(x),
                 rtol=1e-12, atol=1e-10)


def test_forward_jacobian_of_an_elementwise_function(monkeypatch):
    x = _row(80, seed=1)
    dense, sparse = _dense_and_sparse(lambda: ad.jacobian(np.tanh)(x), monkeypatch)
    assert _same(dense, sparse)
    finite = np.random.default_rng(2).normal(size=80)
    assert_close(ad.jacobian(np.tanh)(finite), np.diag(1 - np.tanh(finite) ** 2), rtol=1e-14, atol=0)


def test_hessian_of_a_banded_function(monkeypatch):
    def smoothness(x):
        return np.sum(np.cos(np.diff(x)) + x[:-1] ** 3)

    x = np.random.default_rng(3).normal(size=40)
    dense, sparse = _dense_and_sparse(lambda: ad.hessian(smoothness)(x), monkeypatch)
    assert _same(dense, sparse)
    c = -np.cos(np.diff(x))  # the second derivative of cos(x[i + 1] - x[i]) in its argument
    expected = np.zeros((40, 40))
    i = np.arange(39)
    expected[i, i] += c + 6 * x[:-1]
    expected[i + 1, i + 1] += c
    expected[i, i + 1] -= c
    expected[i + 1, i] -= c
    assert_close(sparse, expected, rtol=1e-12, atol=1e-12)


def _random_graph(rng):
    """A random graph of sparse constants, elementwise operations and slice updates."""
    n, m = int(rng.integers(32, 72)), int(rng.integers(32, 72))
    x = pt.vector("x", shape=(m,))
    col = pt.vector("c", shape=(n,))
    operands = [x[None, :], col[:, None], pt.exp(x)[None, :]]

    def sparse_constant():
        background = rng.choice([0.0, -0.0, 1.0, np.nan, -2.5])
        data = np.full((n, m), background)
        k = int(rng.integers(1, n * m // 20))
        data.flat[rng.choice(n * m, k, replace=False)] = rng.choice(
            [*SPECIAL, 1.5, -3.0, 2.0], size=k)
        return pt.constant(data)

    ops = [pt.add, pt.mul, pt.sub, pt.true_div, pt.maximum, lambda a, b: pt.exp(a) * b]
    value = sparse_constant()
    for _ in range(int(rng.integers(1, 4))):
        op = ops[int(rng.integers(len(ops)))]
        other = operands[int(rng.integers(len(operands)))] if rng.random() < 0.7 else sparse_constant()
        value = op(value, other) if rng.random() < 0.5 else op(other, value)
    base = pt.zeros((n + 1, m + 2)) if rng.random() < 0.5 else pt.alloc(np.float64(-0.0), n + 1, m + 2)
    rows = [slice(None, -1), slice(1, None), slice(None, -1, None), slice(-1, 0, -1)][int(rng.integers(4))]
    cols = [slice(2, None), slice(None, -2), slice(-2, 0, -1), slice(1, -1)][int(rng.integers(4))]
    update = pt.set_subtensor if rng.random() < 0.3 else pt.inc_subtensor
    out = update(base[rows, cols], value)
    if rng.random() < 0.5:
        out = pt.inc_subtensor(out[1:, :-2], value * 0.5)
    return [x, col], [out * 2.0 if rng.random() < 0.5 else out]


@pytest.mark.parametrize("seed", range(60))
def test_random_graphs_give_the_dense_results(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    inputs, outputs = _random_graph(rng)
    values = [_row(int(v.type.shape[0]), seed=seed + i) for i, v in enumerate(inputs)]

    def run():
        fn, _ = compile_graph(inputs, outputs, mode="numpy")
        return fn(*values)

    dense, sparse = _dense_and_sparse(run, monkeypatch)
    assert _same(dense[0], sparse[0])
