"""The gradient skips a max-shift the cost cannot see (issue #18): values against hand-written
gradients and finite differences, and the cases where the shift must keep its gradient."""
import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.demo import loglinear_data, nll_grad_by_hand

from helpers import assert_close, numeric_grad


def log_softmax_nll(W, b, X, y):
    s = X @ W.T + b
    s = s - s.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean() + 1e-3 * np.sum(W ** 2)


def test_log_softmax_gradient_matches_the_hand_written_one_and_skips_the_max():
    W, b, X, y = loglinear_data(n=60, d=7, k=4)
    W = W * 50  # scores of a few units: the max matters for the values
    gW, gb = ad.grad(log_softmax_nll, wrt=(0, 1))(W, b, X, y)
    hW, hb = nll_grad_by_hand(W, b, X, y)
    assert_close(gW, hW, rtol=1e-12, atol=1e-15)
    assert_close(gb, hb, rtol=1e-12, atol=1e-15)
    src = ad.export_source(ad.grad(log_softmax_nll, wrt=(0, 1)), W, b, X, y)
    assert "s ==" not in src and "np.where" not in src  # no mask of the maximum: its gradient is gone


def test_softmax_ratio_and_hessian_of_log_sum_exp():
    def lse(x):  # max-shifted log-sum-exp over all elements
        m = np.max(x)
        return np.log(np.sum(np.exp(x - m))) + m

    def softmax_dot(x, w):  # exp(d) / sum(exp(d)): factors cancel
        d = x - x.max(axis=0, keepdims=True)
        e = np.exp(d)
        return np.sum(w * (e / e.sum(axis=0, keepdims=True)))

    x = np.array([0.3, -1.2, 2.0, 2.0, 0.7])  # a tie at the maximum
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    assert_close(ad.grad(lse)(x), p, rtol=1e-13)
    assert_close(ad.hessian(lse)(x), np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-15)
    X, w = np.random.default_rng(1).normal(size=(4, 3)), np.random.default_rng(2).normal(size=(4, 3))
    P = np.exp(X) / np.exp(X).sum(axis=0)
    assert_close(ad.grad(softmax_dot)(X, w), P * (w - (w * P).sum(axis=0)), rtol=1e-12, atol=1e-15)


CASES_KEEPING_THE_SHIFT = {
    # the cost moves with the shift: the maximum's gradient is part of the answer
    "exp of the shifted values": lambda s: np.sum(np.exp(s - s.max(axis=1, keepdims=True))),
    "normalised along the other axis": lambda s: np.sum(
        (lambda d: d - np.log(np.exp(d).sum(axis=0, keepdims=True)))(s - s.max(axis=1, keepdims=True))[:, 0]),
    "user's stop_gradient inside": lambda s: np.sum(
        (lambda d: d - ad.stop_gradient(np.log(np.exp(d).sum(axis=1, keepdims=True))))(
            s - s.max(axis=1, keepdims=True)) ** 2),
    "shift then square": lambda s: np.sum((s - s.max(axis=1, keepdims=True)) ** 2),
}


@pytest.mark.parametrize("name", list(CASES_KEEPING_THE_SHIFT))
def test_costs_that_see_the_shift_keep_its_gradient(name):
    f = CASES_KEEPING_THE_SHIFT[name]
    s = np.random.default_rng(3).normal(size=(3, 4))
    if name == "user's stop_gradient inside":
        # d/ds of sum((d - c)^2) with c held: 2 (d - c), minus its row sum at each row's maximum
        d = s - s.max(axis=1, keepdims=True)
        r = 2 * (d - np.log(np.exp(d).sum(axis=1, keepdims=True)))
        want = r - (s == s.max(axis=1, keepdims=True)) * r.sum(axis=1, keepdims=True)
    else:
        want = numeric_grad(f, s)
    assert_close(ad.grad(f)(s), want, rtol=1e-6, atol=1e-8)


def test_shared_maximum_keeps_its_other_uses():
    # the same maximum is subtracted (invisible) and added back (visible): only the first goes
    def f(s):
        m = s.max(axis=1, keepdims=True)
        d = s - m
        return np.sum(d - np.log(np.exp(d).sum(axis=1, keepdims=True))) + 3.0 * np.sum(m)

    s = np.array([[0.1, 2.0, -1.0], [1.5, 0.2, 0.3]])
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    want = 1.0 - 3 * p + 3.0 * (s == s.max(axis=1, keepdims=True))
    assert_close(ad.grad(f)(s), want, rtol=1e-13, atol=1e-15)
