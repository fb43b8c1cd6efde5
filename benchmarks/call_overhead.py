"""Per-call overhead of a cached transformation, by argument kind (plain floats and
arrays on the fast path, a dict of arrays and keyword arguments on the general path).

Run from the repository root, once per version of the code to compare:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/call_overhead.py

Each line: the median of 11 repeats of the per-call time (µs).  The normal
log-density is benchmarks/run.py's problem; the others use tiny arrays, so the
time is almost all overhead.
"""
from __future__ import annotations

import sys

import numpy as np

import pyautodiff as ad

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from problems import problems  # noqa: E402
from run import per_call  # noqa: E402


def cases():
    p = problems()[1]  # normal log-density, (mu, sigma, data)
    normal = ad.grad(p["make"](np), wrt=p["wrt"], mode="numpy")
    x = np.ones(3)

    def tiny(params, k=1.0):
        return np.sum(params["w"] * params["b"]) * k

    d = {"w": x, "b": 2.0}
    g_dict = ad.grad(tiny, mode="numpy")
    g_plain = ad.grad(lambda w, b: np.sum(w * b), mode="numpy")
    return [
        ("normal log-density grad (fast path)", normal, p["args"], {}),
        ("tiny grad, (array, float) (fast path)", g_plain, (x, 2.0), {}),
        ("tiny grad, a dict argument", g_dict, (d,), {}),
        ("tiny grad, a dict argument + keyword", g_dict, (d,), {"k": 1.5}),
    ]


def main():
    for name, g, args, kwargs in cases():
        g(*args, **kwargs)
        fn = (lambda *a: g(*a, **kwargs)) if kwargs else g
        t = per_call(fn, args, min_time=0.5, repeats=11)
        print(f"{t * 1e6:8.2f} us  {name}")


if __name__ == "__main__":
    main()
