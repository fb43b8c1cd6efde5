"""Benchmark problems, each written once against an array module ``xp``.

``make(xp)`` returns the objective written with ``xp`` (``numpy`` for
pyautodiff and the hand-written baseline, ``autograd.numpy`` or ``jax.numpy``
for the peers), so every column runs the same source text.  All float64.
"""
from __future__ import annotations

import numpy as np
import scipy.optimize


def _seed(xp):
    def f(x1, x2):
        return xp.log(x1) + x1 * x2 - xp.sin(x2)
    return f


def _seed_hand(x1, x2):
    return 1.0 / x1 + x2, x1 - np.cos(x2)


def _normal(xp):
    def logp(mu, sigma, data):
        z = (data - mu) / sigma
        return xp.sum(-0.5 * z ** 2 - xp.log(sigma) - 0.5 * np.log(2 * np.pi))
    return logp


def _normal_hand(mu, sigma, data):
    z = (data - mu) / sigma
    return np.sum(z) / sigma, np.sum(z ** 2 - 1.0) / sigma


def _loglinear(xp):
    def nll(W, b, X, y):
        s = X @ W.T + b
        s = s - s.max(axis=1, keepdims=True)
        logp = s - xp.log(xp.exp(s).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean() + 1e-3 * xp.sum(W ** 2)
    return nll


def _loglinear_hand(W, b, X, y):
    from pyautodiff.demo import nll_grad_by_hand

    return nll_grad_by_hand(W, b, X, y)


def _mlp(xp):
    def loss(W1, b1, W2, b2, X, y):
        h = xp.tanh(X @ W1 + b1)
        z = h @ W2 + b2
        z = z - z.max(axis=1, keepdims=True)
        logp = z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))
        return -xp.mean(logp[np.arange(X.shape[0]), y])
    return loss


def _mlp_hand(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = X.shape[0]
    p[np.arange(n), y] -= 1
    p /= n
    dh = (p @ W2.T) * (1 - h ** 2)
    return X.T @ dh, dh.sum(0), h.T @ p, p.sum(0)


def _logistic(xp):
    def nll(w, X, y):  # labels y in {-1, +1}
        return xp.sum(xp.log1p(xp.exp(-y * (X @ w))))
    return nll


def _logistic_hand(w, X, y):
    return X.T @ (-y / (1.0 + np.exp(y * (X @ w))))


def _rosen(xp):
    if xp is np:
        return scipy.optimize.rosen  # pyautodiff emulates scipy's own code

    def rosen(x):
        return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return rosen


def problems():
    rng = np.random.default_rng(0)
    from pyautodiff.demo import loglinear_data

    W, b, X, y = loglinear_data()
    mlp_args = (rng.normal(size=(784, 256)) * 0.05, np.zeros(256), rng.normal(size=(256, 10)) * 0.05,
                np.zeros(10), rng.normal(size=(256, 784)), rng.integers(0, 10, 256))
    data = rng.normal(1.5, 2.0, size=100_000)
    x1000 = np.linspace(-1.2, 1.5, 1000)
    x100 = np.linspace(-1.2, 1.5, 100)
    Xl = rng.normal(size=(10_000, 20))
    wl, yl = rng.normal(size=20) * 0.3, np.sign(rng.normal(size=10_000))
    return [
        dict(key="seed", name="seed ln(x1)+x1*x2-sin(x2)", make=_seed, wrt=(0, 1), args=(2.0, 5.0),
             hand=_seed_hand, kind="grad"),
        dict(key="normal", name="normal log-density, 1e5 samples (mu, sigma)", make=_normal, wrt=(0, 1),
             args=(0.3, 1.7, data), hand=_normal_hand, kind="grad"),
        dict(key="loglinear", name="log-linear N=1000 D=100 K=10", make=_loglinear, wrt=(0, 1),
             args=(W, b, X, y), hand=_loglinear_hand, kind="grad"),
        dict(key="mlp", name="MLP 784-256-10, batch 256", make=_mlp, wrt=(0, 1, 2, 3), args=mlp_args,
             hand=_mlp_hand, kind="grad"),
        dict(key="mlp_hvp", name="MLP hvp (W1)", make=_mlp, wrt=0, args=mlp_args,
             direction=rng.normal(size=(784, 256)), hand=None, kind="hvp"),
        dict(key="logistic", name="logistic regression 10^4 x 20", make=_logistic, wrt=0, args=(wl, Xl, yl),
             hand=_logistic_hand, kind="grad"),
        dict(key="rosen", name="rosen N=1000", make=_rosen, wrt=0, args=(x1000,),
             hand=scipy.optimize.rosen_der, kind="grad"),
        dict(key="rosen_hess", name="rosen Hessian N=100", make=_rosen, wrt=0, args=(x100,),
             hand=scipy.optimize.rosen_hess, kind="hessian"),
    ]
