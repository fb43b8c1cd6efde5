"""Peak memory of a first call: logistic regression on a 10^6 x 20 X (issue #18).

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYAUTODIFF_CODE_CACHE=0 python benchmarks/first_call_memory.py

Reports the tracemalloc peak above the inputs for the first call of
``ad.grad`` (trace, differentiate, rewrite, generate, run), for the second call,
and for autograd's gradient when installed, in MiB and as a ratio to X's size.
"""
from __future__ import annotations

import os
import sys
import tracemalloc

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import pyautodiff as ad  # noqa: E402


def loss(w, X, y, xp=np):
    z = X @ w
    return xp.sum(xp.log1p(xp.exp(-y * z)))


def peak(fn, *args):
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn(*args)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top


def main():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1_000_000, 20))
    y = np.sign(rng.normal(size=1_000_000))
    w = rng.normal(size=20) * 0.1
    mib = 2.0 ** 20
    print(f"X: {X.nbytes / mib:.0f} MiB")
    g = ad.grad(loss)
    rows = [("pyautodiff first call", peak(g, w, X, y)), ("pyautodiff second call", peak(g, w, X, y))]
    try:
        import autograd
        import autograd.numpy as anp

        ag = autograd.grad(lambda w, X, y: loss(w, X, y, anp))
        rows.append(("autograd", peak(ag, w, X, y)))
    except ImportError:
        pass
    for name, top in rows:
        print(f"{name:<24} peak {top / mib:8.1f} MiB  ({top / X.nbytes:.2f} x X)")


if __name__ == "__main__":
    main()
