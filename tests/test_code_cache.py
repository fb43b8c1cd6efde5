"""The on-disk cache of generated numpy code (backend/code_cache.py)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytensor.tensor as pt
import pytest
from test_examples import nll, nll_grad_by_hand

import pyautodiff as ad
from pyautodiff.backend import code_cache, rewrite


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(tmp_path))
    return tmp_path


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=(20, 5)), rng.integers(0, 3, 20)


def _entries(d):
    return sorted(p for p in os.listdir(d) if p.endswith(".pkl"))


def test_a_second_build_of_the_same_graph_skips_rewriting(cache_dir, monkeypatch):
    W, b, X, y = _data()
    first = ad.grad(nll, wrt=(0, 1))(W, b, X, y)
    assert len(_entries(cache_dir)) == 1

    def no_rewriting(fg):
        raise AssertionError("rewrote a graph the cache holds")

    monkeypatch.setattr(rewrite, "rewrite_graph", no_rewriting)
    g = ad.grad(nll, wrt=(0, 1))  # a new transformation: traces again, same graph
    W2, b2, X2, y2 = _data(1)
    for got, want in zip(g(W2, b2, X2, y2), nll_grad_by_hand(W2, b2, X2, y2)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    for got, want in zip(first, nll_grad_by_hand(W, b, X, y)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_other_shapes_constants_and_kinds_get_their_own_entries(cache_dir):
    x = np.linspace(0.1, 1.0, 4)
    ad.grad(lambda v: np.sum(np.sin(v) * 2.0))(x)
    ad.grad(lambda v: np.sum(np.sin(v) * 3.0))(x)  # another constant
    ad.grad(lambda v: np.sum(np.sin(v) * 2.0))(x[:3])  # another shape
    ad.function(lambda v: np.sum(np.sin(v) * 2.0))(x)  # another kind
    assert len(_entries(cache_dir)) == 4
    assert ad.grad(lambda v: np.sum(np.sin(v) * 3.0))(x) == pytest.approx(3.0 * np.cos(x), rel=1e-15)


def test_an_unreadable_entry_is_a_miss_and_is_replaced(cache_dir):
    x = np.linspace(0.1, 1.0, 4)
    ad.grad(lambda v: np.sum(v ** 3))(x)
    (name,) = _entries(cache_dir)
    (cache_dir / name).write_bytes(b"not a pickle")
    np.testing.assert_allclose(ad.grad(lambda v: np.sum(v ** 3))(x), 3 * x ** 2, rtol=1e-15)
    assert code_cache.load(name[:-4]) is not None  # written again, readable


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", "0")
    assert code_cache.directory() is None
    x = np.linspace(0.1, 1.0, 4)
    np.testing.assert_allclose(ad.grad(lambda v: np.sum(v ** 3))(x), 3 * x ** 2, rtol=1e-15)
    assert not code_cache.store("k", "", {})


def test_fingerprints_see_every_difference_that_changes_the_code():
    x = pt.dvector("x")
    base = code_cache.fingerprint([x], [pt.exp(x) * 2.0])
    assert base == code_cache.fingerprint([x], [pt.exp(x) * 2.0])  # a new, equal graph
    y = pt.dvector("y")
    assert base != code_cache.fingerprint([y], [pt.exp(y) * 2.0])  # names become identifiers
    assert base != code_cache.fingerprint([x], [pt.exp(x) * 2.5])
    assert base != code_cache.fingerprint([x], [pt.exp(x) * np.array([2.0, 2.0])])
    assert base != code_cache.fingerprint([x], [pt.log(x) * 2.0])
    assert base != code_cache.fingerprint([x], [x.sum(keepdims=True) * 2.0])
    assert base != code_cache.fingerprint([x], [pt.exp(x) * 2.0], extra="fresh")
    z = pt.tensor("x", shape=(3,), dtype="float64")
    assert base != code_cache.fingerprint([z], [pt.exp(z) * 2.0])  # static shape


def test_a_graph_with_a_free_variable_is_not_cacheable():
    x, free = pt.dvector("x"), pt.dvector("free")
    assert code_cache.fingerprint([x], [x + free]) is None


def test_fingerprints_are_the_same_in_another_process():
    # str hashes are salted per process: the digest must not depend on them
    script = textwrap.dedent("""
        import numpy as np, pyautodiff as ad
        from pyautodiff.backend import code_cache
        g = ad.grad(lambda w, X: np.mean(np.tanh(X @ w) ** 2) + 1e-3 * np.sum(w * w) + np.max(w))
        spec = g.specialization_for(np.ones(4), np.ones((6, 4)))
        print(code_cache.fingerprint(spec.trace.all_inputs, spec.outputs))
    """)
    digests = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYAUTODIFF_CODE_CACHE="0")
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1 and len(digests.pop()) == 64


def test_graphs_with_inner_graphs_are_cacheable_and_told_apart():
    from pytensor.compile.builders import OpFromGraph

    x, v = pt.dvector("x"), pt.dvector("v")
    double = OpFromGraph([v], [v * 2.0], inline=True)
    triple = OpFromGraph([v], [v * 3.0], inline=True)
    a = code_cache.fingerprint([x], [double(x)])
    assert a is not None and a == code_cache.fingerprint([x], [OpFromGraph([v], [v * 2.0], inline=True)(x)])
    assert a != code_cache.fingerprint([x], [triple(x)])
    assert a != code_cache.fingerprint([x], [OpFromGraph([v], [v * 2.0], inline=False)(x)])
