"""The demo: the two founding examples, checked against hand-written gradients.

Run with ``python -m pyautodiff demo``.  The data are built in (a fixed
random seed), so the output is the same on every machine.
"""
from __future__ import annotations

import time

import numpy as np

import pyautodiff as ad


def seed_function(x1, x2):
    return np.log(x1) + x1 * x2 - np.sin(x2)


def nll(W, b, X, y):
    """Multinomial log-linear regression: mean negative log-likelihood + L2."""
    s = X @ W.T + b
    s = s - s.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean() + 1e-3 * np.sum(W ** 2)


def nll_grad_by_hand(W, b, X, y):
    s = X @ W.T + b
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    d = p.copy()
    d[np.arange(n), y] -= 1
    d /= n
    return d.T @ X + 2e-3 * W, d.sum(axis=0)


def loglinear_data(n=1000, d=100, k=10, seed=0):
    """Synthetic classification data: labels drawn from a true log-linear model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W_true = rng.normal(size=(k, d)) / np.sqrt(d)
    logits = X @ W_true.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in p])
    W0 = rng.normal(size=(k, d)) * 0.01
    b0 = np.zeros(k)
    return W0, b0, X, y


def main(out=print) -> int:
    out("pyautodiff demo: gradients of ordinary numpy code, beside hand-written ones\n")
    out("1. f(x1, x2) = ln(x1) + x1*x2 - sin(x2) at (2, 5)")
    g1, g2 = ad.grad(seed_function, wrt=(0, 1))(2.0, 5.0)
    h1, h2 = 1 / 2.0 + 5.0, 2.0 - np.cos(5.0)
    out(f"   pyautodiff : df/dx1 = {g1:.16f}   df/dx2 = {g2:.16f}")
    out(f"   by hand    : df/dx1 = {h1:.16f}   df/dx2 = {h2:.16f}\n")

    W, b, X, y = loglinear_data()
    out(f"2. log-linear regression, N={X.shape[0]}, D={X.shape[1]}, K={W.shape[0]}")
    grad = ad.grad(nll, wrt=("W", "b"))
    t0 = time.perf_counter()
    gW, gb = grad(W, b, X, y)
    first = time.perf_counter() - t0
    hW, hb = nll_grad_by_hand(W, b, X, y)
    err = max(np.abs(gW - hW).max(), np.abs(gb - hb).max())
    out(f"   |grad - hand-written grad|_max = {err:.2e}")
    out(f"   gW[0, :4] = {np.array2string(gW[0, :4], precision=6)}   by hand {np.array2string(hW[0, :4], precision=6)}")
    out(f"   gb[:4]    = {np.array2string(gb[:4], precision=6)}   by hand {np.array2string(hb[:4], precision=6)}")
    reps = 50
    t0 = time.perf_counter()
    for _ in range(reps):
        grad(W, b, X, y)
    ours = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        nll_grad_by_hand(W, b, X, y)
    hand = (time.perf_counter() - t0) / reps
    out(f"   first call (trace + optimize + build): {first * 1e3:.0f} ms")
    out(f"   per call: {ours * 1e6:.0f} us (hand-written numpy: {hand * 1e6:.0f} us)\n")

    value, _ = ad.value_and_grad(nll)(W, b, X, y)
    fast = ad.function(nll)
    out(f"   value_and_grad value = {value:.12f}, ad.function = {fast(W, b, X, y):.12f}, "
        f"plain numpy = {nll(W, b, X, y):.12f}")
    ok = err < 1e-10 and abs(g1 - h1) < 1e-12 and abs(g2 - h2) < 1e-12
    out("\nall gradients agree with the hand-written ones" if ok else "\nMISMATCH")
    return 0 if ok else 1
