"""Per-call cost of the contents guard on an outside integer array (labels read from a global).

An outside integer/bool array up to ``CONTENT_GUARD_BYTES`` is a constant of the trace and
every cached call compares its contents with what the trace read (context.Contents).  This
measures that comparison alone, and a cached gradient of a weighted binary log-loss whose
labels are a global, beside the same loss taking the labels as a float argument (a graph
input: no comparison).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=$PWD/src python benchmarks/outside_content_guard.py

Each line: the median of 7 repeats of the per-call time (us).
"""
from __future__ import annotations

import sys

import numpy as np

import pyautodiff as ad
from pyautodiff.context import CONTENT_GUARD_BYTES, Contents

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from run import per_call  # noqa: E402

LABELS = np.zeros(1, dtype=np.int64)


def loss_global(p):
    return -np.mean(LABELS * np.log(p) + (1 - LABELS) * np.log1p(-p))


def loss_argument(p, y):
    return -np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))


def main():
    global LABELS
    rng = np.random.default_rng(0)
    limit = CONTENT_GUARD_BYTES // 8
    print(f"{'labels':>9} {'compare':>9} {'grad, global labels':>20} {'grad, float labels':>19}")
    for n in (100, 10_000, 100_000, limit):
        LABELS = rng.integers(0, 2, n)
        p = rng.uniform(0.05, 0.95, n)
        c = Contents(LABELS)
        compare = per_call(c.matches, (LABELS,))
        g_global = ad.grad(loss_global, mode="numpy")
        g_arg = ad.grad(loss_argument, mode="numpy")
        t_global = per_call(g_global, (p,))
        t_arg = per_call(g_arg, (p, LABELS.astype(float)))
        print(f"{n:>9} {compare * 1e6:>9.1f} {t_global * 1e6:>20.1f} {t_arg * 1e6:>19.1f}")


if __name__ == "__main__":
    main()
