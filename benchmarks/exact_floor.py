"""How fast can numpy-exact compiled code get on the normal log-density's gradient? (issue #18)

The target asks for <= 1.1x bare PyTensor, whose Numba code uses LLVM's fast-math
flags; ours rounds as numpy does (README, "Compiled backends round as numpy does").
This measures, on the gradient our rewrites produce for 10^5 samples
(``t = data - mu``; ``sum(t) / sigma / sigma``; ``sum(t / sigma * t) / sigma**2 - n / sigma``),
hand-written Numba kernels that give numpy's bits (checked) against one that does not:

- ``numpy``: the generated numpy code's operations;
- ``two passes``: the elementwise part, then ``pairwise_sum``'s helpers (our Numba tier);
- ``fused``: one pass, each block of 128 elements computed into a buffer and summed
  by numpy's eight accumulators (what fusing the sums into the elementwise loop could
  reach without changing a bit);
- ``fast-math``: one loop with ``fastmath=True`` (reassociated, vectorized sums; the
  division becomes a multiplication by a reciprocal): not numpy's bits;
- ``divide`` / ``multiply``: one pass of ``x / s`` and of ``x * s`` alone (IEEE division's
  throughput bounds any exact kernel).

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/exact_floor.py
"""
from __future__ import annotations

import time

import numba
import numpy as np

from pyautodiff.backend import pairwise_sum

N = 100_000
JIT = dict(fastmath=False, boundscheck=False, error_model="numpy")
_run = pairwise_sum._jitted_helpers()["pairwise"]


def numpy_gradient(mu, sigma, data):
    t0 = data - mu
    return t0.sum() / sigma / sigma, (t0 / sigma * t0).sum() / sigma ** 2 + -float(data.size) / sigma


@numba.njit(**JIT)
def two_passes(mu, sigma, data):
    t0 = data - mu
    t1 = t0 / sigma * t0
    z = 0.0
    s0 = z + _run(t0, 0, t0.size, z)
    s1 = z + _run(t1, 0, t1.size, z)
    return s0 / sigma / sigma, s1 / sigma ** 2 + -float(data.size) / sigma


# numpy's sum of a run of at most 128 elements: pairwise_sum's own helper, inlined
_block = numba.njit(inline="always", **JIT)(pairwise_sum._block)


@numba.njit(**JIT)
def _fused_run(data, mu, sigma, lo, n, b0, b1):
    if n <= 128:
        for i in range(n):
            t = data[np.uint64(lo + i)] - mu
            b0[i] = t
            b1[i] = t / sigma * t
        return _block(b0, 0, n, 0.0), _block(b1, 0, n, 0.0)
    half = n // 2
    half -= half % 8  # numpy's split
    a0, a1 = _fused_run(data, mu, sigma, lo, half, b0, b1)
    c0, c1 = _fused_run(data, mu, sigma, lo + half, n - half, b0, b1)
    return a0 + c0, a1 + c1


@numba.njit(**JIT)
def fused(mu, sigma, data):
    b0, b1 = np.empty(128), np.empty(128)
    s0, s1 = _fused_run(data, mu, sigma, 0, data.size, b0, b1)
    z = 0.0
    return (z + s0) / sigma / sigma, (z + s1) / sigma ** 2 + -float(data.size) / sigma


@numba.njit(fastmath=True)
def fast_math(mu, sigma, data):
    s0 = 0.0
    s1 = 0.0
    for i in range(data.size):
        t = data[i] - mu
        s0 += t
        s1 += t / sigma * t
    return s0 / sigma / sigma, s1 / sigma ** 2 + -float(data.size) / sigma


@numba.njit(**JIT)
def divide(mu, sigma, data):
    out = np.empty_like(data)
    for i in range(data.size):
        out[i] = data[i] / sigma
    return out


@numba.njit(**JIT)
def multiply(mu, sigma, data):
    out = np.empty_like(data)
    for i in range(data.size):
        out[i] = data[i] * sigma
    return out


def median_us(fn, args, calls=400):
    fn(*args)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def main():
    data = np.random.default_rng(0).normal(1.5, 2.0, size=N)
    args = (0.3, 1.7, data)
    expected = numpy_gradient(*args)
    print(f"{'kernel':<12} {'us':>8}  numpy's bits")
    for name, fn in [("numpy", numpy_gradient), ("two passes", two_passes), ("fused", fused),
                     ("fast-math", fast_math), ("divide", divide), ("multiply", multiply)]:
        exact = "" if name in ("divide", "multiply") else ("yes" if fn(*args) == expected else "no")
        print(f"{name:<12} {median_us(fn, args):>8.1f}  {exact}")


if __name__ == "__main__":
    main()
