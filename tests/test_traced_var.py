"""``var`` on a traced array is numpy's ``ndarray.var`` (the symbolic variable of a
``Traced`` is ``.sym``), whichever way user code reaches it.

Expected values: numpy's own ``var`` on the concrete array, and the hand-written
derivative d/dx_i var(x, ddof) = 2 (x_i - mean(x)) / (N - ddof).
"""
from __future__ import annotations

import numpy as np
import pytest

import pyautodiff as ad

from helpers import assert_close

X = np.array([[0.5, -1.25, 2.0], [0.75, 3.0, -0.5], [1.5, 0.25, -2.0], [0.1, 0.2, 0.4]])


def _dvar(x, ddof, axis):
    """d sum(var(x, axis, ddof)) / dx, by hand."""
    n = x.size if axis is None else x.shape[axis]
    return 2.0 * (x - x.mean(axis=axis, keepdims=True)) / (n - ddof)


@pytest.mark.parametrize("axis, ddof", [(None, 0), (0, 1), (1, 0)])
def test_the_var_method_is_numpys(axis, ddof):
    def f(x):
        return np.sum(x.var(axis=axis, ddof=ddof))

    assert_close(ad.function(f)(X), np.sum(X.var(axis=axis, ddof=ddof)), rtol=1e-14)
    assert_close(ad.grad(f)(X), _dvar(X, ddof, axis), rtol=1e-12)


def test_var_reached_by_getattr_and_bound_before_the_call():
    def f(x):
        method = getattr(x, "var")  # not a LOAD_ATTR: the Traced itself answers
        return method() + x.var(axis=0, ddof=1)[1]

    expected = X.var() + X.var(axis=0, ddof=1)[1]
    assert_close(ad.function(f)(X), expected, rtol=1e-14)
    col = np.zeros_like(X)
    col[:, 1] = _dvar(X[:, 1:2], 1, 0)[:, 0]
    assert_close(ad.grad(f)(X), _dvar(X, 0, None) + col, rtol=1e-12)


def test_the_symbolic_variable_is_sym_and_var_is_the_method():
    import pytensor.tensor as pt

    from pyautodiff.traced import Traced

    v = pt.vector("x")
    box = Traced(np.ones(3), v)
    assert box.sym is v
    assert box.var is not v and callable(box.var)  # ndarray.var, bound to the box
