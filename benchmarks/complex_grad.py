"""Complex numbers: the gradient of real losses of complex code, per call and first call.

Two losses: a spectral one on a real signal (``sum(w * |fft(x)|^2)``, N = 1024) and a
complex least-squares one (``|A Z - B|^2`` with complex 64x32 matrices).  pyautodiff
differentiates them on (real, imaginary) pairs (``complex_split``); beside it the
hand-written numpy gradient, autograd and ``jax.jit(jax.grad)`` when installed.  Prints
per-call CPU time (median of batches), the ratio to the hand-written gradient, and
pyautodiff's first call (trace + differentiate + build) in this process.

Run (2 shared cores: ratios within one run are what count)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/complex_grad.py
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import pyautodiff as ad

rng = np.random.default_rng(0)
N = 1024
W = rng.uniform(0.5, 2.0, N)
X = rng.normal(size=N)
A = rng.normal(size=(64, 32)) + 1j * rng.normal(size=(64, 32))
B = rng.normal(size=(64, 8)) + 1j * rng.normal(size=(64, 8))
Z = rng.normal(size=(32, 8)) + 1j * rng.normal(size=(32, 8))


def spectral(xp):
    return lambda x: xp.sum(W * xp.abs(xp.fft.fft(x)) ** 2)


def least_squares(xp):
    return lambda z: xp.sum(xp.abs(A @ z - B) ** 2)


HAND = {
    "spectral": lambda x: 2 * N * np.real(np.fft.ifft(W * np.fft.fft(x))),
    "least_squares": lambda z: 2 * np.conj(A.conj().T @ (A @ z - B)),
}
PROBLEMS = {"spectral": (spectral, X), "least_squares": (least_squares, Z)}


def per_call(f, arg, repeat=7):
    f(arg)
    n = 1
    while True:
        t = time.process_time()
        for _ in range(n):
            f(arg)
        if time.process_time() - t > 0.05:
            break
        n *= 2
    times = []
    for _ in range(repeat):
        t = time.process_time()
        for _ in range(n):
            f(arg)
        times.append((time.process_time() - t) / n)
    return statistics.median(times)


def main():
    others = {}
    try:
        import autograd
        import autograd.numpy as anp

        others["autograd"] = lambda make: autograd.grad(make(anp))
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        others["jax.jit"] = lambda make: jax.jit(jax.grad(make(jnp)))
    except ImportError:
        pass
    print(f"{'problem':15} {'hand-written':>12} {'pyautodiff':>20} {'first call':>10} "
          + " ".join(f"{k:>20}" for k in others))
    for name, (make, arg) in PROBLEMS.items():
        hand = per_call(HAND[name], arg)
        g = ad.grad(make(np))
        t = time.process_time()
        ours_value = g(arg)
        first = time.process_time() - t
        assert np.allclose(ours_value, HAND[name](arg))
        ours = per_call(g, arg)
        cols = []
        for label, build in others.items():
            fn = build(make)
            theirs = per_call(fn, arg)
            cols.append(f"{theirs * 1e6:9.1f} µs ({theirs / hand:5.2f}x)")
        print(f"{name:15} {hand * 1e6:9.1f} µs {ours * 1e6:9.1f} µs ({ours / hand:5.2f}x) {first:8.2f} s "
              + " ".join(f"{c:>20}" for c in cols))


if __name__ == "__main__":
    main()
