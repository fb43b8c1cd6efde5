"""Module-level functions for tests/test_pickle.py: a spawned process imports them by name."""
import numpy as np

import pyautodiff as ad


def loss(w, x):
    return np.sum(np.tanh(x @ w) ** 2) + 0.5 * np.sum(w * w)


def loss_grad_by_hand(w, x):
    t = np.tanh(x @ w)
    return x.T @ (2 * t * (1 - t ** 2)) + w


@ad.grad
def decorated(w):
    return np.sum(np.sin(w) * w)


def decorated_by_hand(w):
    return np.cos(w) * w + np.sin(w)


X = np.linspace(-1.0, 1.0, 12).reshape(4, 3)


def apply(g, w):
    """Call ``g`` in the worker and say which process did it."""
    import os

    return os.getpid(), g(w, X)


def loss_with_aux(w, x, scale=1):
    return scale * loss(w, x), f"scaled by {scale}"
