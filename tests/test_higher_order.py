"""C higher-order builtins call their function through the emulator.

CPython's ``map``, ``filter``, ``sorted(key=)``, ``min``/``max(key=)``,
``functools.reduce``, ``itertools.starmap``/``accumulate`` and
``functools.partial`` objects are C code: without the emulator's own
versions the function they call would run natively, out of the trace's
sight.  Each case uses something only the emulator can follow (``np.array``
of traced scalars, ``np.asarray`` of a traced value from C) and is checked
against CPython's result and finite differences.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

import pyautodiff as ad

from helpers import numeric_grad

rng = np.random.default_rng(3)
X = rng.normal(size=5)
Y = rng.normal(size=5)


def pair(v):
    return np.array([v, 2.0 * v])  # np.array of a traced scalar: only the emulator can lower it


def f_map_asarray(x, y):
    a, b = map(np.asarray, (x, y))  # scipy.stats' first line
    return np.sum(a * np.sin(b))


def f_map_python(x, y):
    return np.sum(np.stack(list(map(pair, x))) * y[:, None])


def f_map_two_iterables(x, y):
    return sum(map(lambda a, b: np.array(a) * b, x, y))


def f_filter(x, y):
    return sum(filter(lambda v: v > 0, x * y))


def f_filter_none(x, y):
    return sum(filter(None, list(x) + [0.0]))


def f_filterfalse(x, y):
    return sum(itertools.filterfalse(lambda v: v > 0, x * y))


def f_sorted_key(x, y):
    s = sorted(list(x), key=lambda v: np.array(v) ** 2, reverse=True)
    return sum(w * v for w, v in zip(np.arange(1.0, 6.0), s))


def f_list_sort(x, y):
    s = list(x * y)
    s.sort(key=lambda v: -np.asarray(v))
    return sum(w * v for w, v in zip(np.arange(1.0, 6.0), s))


def f_min_max_key(x, y):
    big = max(list(x), key=lambda v: np.abs(np.array(v)))
    small = min(zip(x, y), key=lambda t: np.array(t[0]) * t[1])
    return big * 3.0 + small[0] * small[1]


def f_reduce(x, y):
    return functools.reduce(lambda a, b: np.array(a) * 0.5 + np.sin(b), x)


def f_reduce_initial(x, y):
    return functools.reduce(lambda a, b: a + np.array(b) ** 2, y, x[0])


def f_starmap(x, y):
    return sum(itertools.starmap(lambda a, b: np.array(a) * b, zip(x, y)))


def f_accumulate(x, y):
    return sum(itertools.accumulate(x, lambda a, b: np.array(a) * b))


def f_takewhile_dropwhile(x, y):
    seq = list(x[np.argsort(np.abs(x))])
    head = list(itertools.takewhile(lambda v: np.abs(np.asarray(v)) < 0.8, seq))
    tail = list(itertools.dropwhile(lambda v: np.abs(np.asarray(v)) < 0.8, seq))
    return sum(head) * 2.0 + sum(tail) * 3.0


def scaled(v, *, scale, shift=0.0):
    return np.array(v) * scale + shift


def f_partial_keywords(x, y):
    g = functools.partial(scaled, scale=y[0], shift=1.0)
    return np.sum(np.stack([g(v) for v in x]) ** 2)


def f_dict_map(x, y):
    d = dict(map(lambda k, v: (k, np.array(v) * 2.0), "abcde", x))
    return d["a"] * d["e"] + d["c"] * y[1]


CASES = [f_map_asarray, f_map_python, f_map_two_iterables, f_filter, f_filter_none, f_filterfalse,
         f_sorted_key, f_list_sort, f_min_max_key, f_reduce, f_reduce_initial, f_starmap, f_accumulate,
         f_takewhile_dropwhile, f_partial_keywords, f_dict_map]


@pytest.mark.parametrize("fn", CASES, ids=[f.__name__ for f in CASES])
def test_higher_order_builtin(fn):
    np.testing.assert_allclose(ad.function(fn)(X, Y), fn(X, Y), rtol=1e-12)
    gx, gy = ad.grad(fn, wrt=(0, 1))(X, Y)
    np.testing.assert_allclose(gx, numeric_grad(lambda v: fn(v, Y), X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gy, numeric_grad(lambda v: fn(X, v), Y), rtol=1e-6, atol=1e-8)


def test_key_comparisons_are_guarded():
    # the order sorted() found depends on the data: other data retraces, never reuses it
    fn = ad.function(f_sorted_key)
    x2 = X[::-1] * np.array([1.0, -3.0, 0.1, 2.0, -0.5])
    for x in (X, x2, X):
        np.testing.assert_allclose(fn(x, Y), f_sorted_key(x, Y), rtol=1e-12)
    assert fn.stats.traces == 2


def test_lazy_map_runs_in_order():
    def f(x):
        calls = []  # local: an outside list read after growing it is refused (writes.py)

        def note(v):
            calls.append(len(calls))
            return np.array(v) * 2.0

        it = map(note, x)
        first = next(it)
        assert calls == [0]
        return first + sum(it)

    np.testing.assert_allclose(ad.grad(f)(X), np.full(5, 2.0))


def test_cpython_errors_are_kept():
    with pytest.raises(TypeError):
        ad.grad(lambda x: np.sum(functools.reduce(lambda a, b: a + b, [])) + np.sum(x))(X)
    with pytest.raises(ValueError):
        ad.grad(lambda x: max([], key=lambda v: v) + np.sum(x))(X)
    assert ad.function(lambda x: max([], key=abs, default=1.5) + np.sum(x))(X) == pytest.approx(1.5 + X.sum())
