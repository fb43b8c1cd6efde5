"""Benchmark: an L-BFGS fit of logistic regression on a dask LocalCluster.

Usage (the README's figures)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/dask_fit.py [--rows 1000000] [--blocks 4]

On one LocalCluster (2 worker processes, 1 thread each), with X (rows x 10)
and y generated on the workers and persisted in ``--blocks`` row blocks:

- ``ad.minimize(ad.data_parallel(nll, data=("X", "y")), ...)`` (L-BFGS-B)
  against dask-glm's ``lbfgs`` (``pip install dask-glm``; its gradients are
  written by hand as dask.array expressions) with the same optimizer settings
  (scipy's L-BFGS-B, same ``gtol``, no normalization): total fit time (the
  first fit, with compiles on client and workers, and a second one), per-iteration
  time, iterations, and the distance between the two optima;
- one distributed gradient against the single-process gradient of the same
  data (pyautodiff and hand-written numpy): the cost of distribution;
- the per-block function a worker runs: the rebuilt transformation (what
  data_parallel ships) against ``export_source``'s numpy code, per call and
  first call.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster, wait  # noqa: E402

import pyautodiff as ad  # noqa: E402


def logistic_nll(w, X, y):
    z = X @ w
    return np.sum(np.logaddexp(0.0, z) - y * z)


def handwritten_grad(w, X, y):
    return X.T @ (1.0 / (1.0 + np.exp(-(X @ w))) - y)


def timed(fn, repeats=5):
    """(median seconds, last result) over ``repeats`` calls after one warm-up call."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def make_data(rows, cols, blocks, seed=0):
    rng = da.random.default_rng(seed)
    chunk = -(-rows // blocks)
    X = rng.normal(size=(rows, cols), chunks=(chunk, cols))
    w_true = np.linspace(-1.0, 1.0, cols)
    y = (rng.random(size=rows, chunks=(chunk,)) < 1.0 / (1.0 + da.exp(-(X @ w_true)))).astype(float)
    X, y = dask.persist(X, y)
    wait([X, y])
    return X, y


def fit_pyautodiff(obj, X, y, cols, gtol, maxiter):
    t0 = time.perf_counter()
    res = ad.minimize(obj, np.zeros(cols), args=(X, y), method="L-BFGS-B",
                      options={"gtol": gtol, "maxiter": maxiter})
    return time.perf_counter() - t0, res.x, res.nit, res.nfev


def fit_dask_glm(X, y, gtol, maxiter):
    from dask_glm.algorithms import lbfgs

    t0 = time.perf_counter()
    beta = lbfgs(X, y, max_iter=maxiter, tol=gtol, normalize=False)
    return time.perf_counter() - t0, np.asarray(beta)


def count_dask_glm_iterations(X, y, gtol, maxiter):
    """dask-glm's lbfgs does not return its iteration count: wrap scipy's L-BFGS-B to read it."""
    import dask_glm.algorithms as algorithms

    seen = {}
    original = algorithms.fmin_l_bfgs_b

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.update(nit=out[2]["nit"], nfev=out[2]["funcalls"])
        return out

    algorithms.fmin_l_bfgs_b = spy
    try:
        seconds, beta = fit_dask_glm(X, y, gtol, maxiter)
    finally:
        algorithms.fmin_l_bfgs_b = original
    return seconds, beta, seen["nit"], seen["nfev"]


def per_block_functions(X_block, y_block, cols):
    """The two ways a worker could run a block: the rebuilt transformation, or export_source's code."""
    w = np.full(cols, 0.01)
    t0 = time.perf_counter()
    vg = ad.value_and_grad(logistic_nll)
    vg(w, X_block, y_block)
    first_transformed = time.perf_counter() - t0
    src = ad.export_source(vg, w, X_block, y_block, name="vg")
    t0 = time.perf_counter()
    namespace: dict = {}
    exec(compile(src, "<exported>", "exec"), namespace)
    exported = namespace["vg"]
    exported(w, X_block, y_block)
    first_exported = time.perf_counter() - t0
    a, b = vg(w, X_block, y_block), exported(w, X_block, y_block)
    assert np.allclose(a[1], b[1]), "exported code differs from the transformation"
    t_transformed, _ = timed(lambda: vg(w, X_block, y_block), repeats=7)
    t_exported, _ = timed(lambda: exported(w, X_block, y_block), repeats=7)
    return first_transformed, first_exported, t_transformed, t_exported


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--gtol", type=float, default=1e-4)
    parser.add_argument("--maxiter", type=int, default=100)
    a = parser.parse_args()

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        X, y = make_data(a.rows, a.cols, a.blocks)
        print(f"dask {dask.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}, "
              f"{os.cpu_count()} cores; LocalCluster 2 processes x 1 thread; X {X.shape} in "
              f"{len(X.chunks[0])} blocks of {X.chunks[0][0]} rows ({X.nbytes / 1e6:.0f} MB)")
        obj = ad.data_parallel(logistic_nll, data=("X", "y"))

        cold, x_ad, nit, nfev = fit_pyautodiff(obj, X, y, a.cols, a.gtol, a.maxiter)
        warm, x_ad, nit, nfev = fit_pyautodiff(obj, X, y, a.cols, a.gtol, a.maxiter)
        try:
            glm_first, _ = fit_dask_glm(X, y, a.gtol, a.maxiter)
            glm, x_glm, glm_nit, glm_nfev = count_dask_glm_iterations(X, y, a.gtol, a.maxiter)
            have_glm = True
        except ImportError as exc:
            print(f"dask-glm is not available ({exc}); skipping its fit")
            have_glm = False

        print("\nL-BFGS-B fit (same scipy optimizer and gtol)")
        print("| fit | total | iterations (evaluations) | per iteration | per evaluation |")
        print("|---|---|---|---|---|")
        print(f"| pyautodiff data_parallel, first fit (compiles) | {cold:.2f} s | {nit} ({nfev}) | "
              f"{cold / nit * 1e3:.1f} ms | {cold / nfev * 1e3:.1f} ms |")
        print(f"| pyautodiff data_parallel, second fit | {warm:.2f} s | {nit} ({nfev}) | "
              f"{warm / nit * 1e3:.1f} ms | {warm / nfev * 1e3:.1f} ms |")
        if have_glm:
            print(f"| dask-glm lbfgs (first fit {glm_first:.2f} s) | {glm:.2f} s | {glm_nit} ({glm_nfev}) | "
                  f"{glm / glm_nit * 1e3:.1f} ms | {glm / glm_nfev * 1e3:.1f} ms |")
            print(f"\nsecond fit, dask-glm / pyautodiff: {glm / warm:.2f}x total, "
                  f"{(glm / glm_nfev) / (warm / nfev):.2f}x per evaluation; "
                  f"max |x_pyautodiff - x_dask_glm| = {np.abs(x_ad - x_glm).max():.2e}")

        Xn, yn = dask.compute(X, y)
        w = x_ad * 0.5
        g_dist = ad.grad(obj)
        t_dist, g1 = timed(lambda: g_dist(w, X, y))
        g_local = ad.grad(logistic_nll)
        t_local, g2 = timed(lambda: g_local(w, Xn, yn))
        t_hand, g3 = timed(lambda: handwritten_grad(w, Xn, yn))
        assert np.allclose(g1, g3, rtol=1e-9) and np.allclose(g2, g3, rtol=1e-9)
        print("\nOne gradient (median of 5)")
        print(f"| distributed (2 workers, {len(X.chunks[0])} blocks) | single process, pyautodiff | "
              "single process, hand-written numpy |")
        print("|---|---|---|")
        print(f"| {t_dist * 1e3:.1f} ms ({t_dist / t_local:.2f}x) | {t_local * 1e3:.1f} ms (1x) | "
              f"{t_hand * 1e3:.1f} ms ({t_hand / t_local:.2f}x) |")

        n0 = X.chunks[0][0]
        ft, fe, tt, te = per_block_functions(Xn[:n0], yn[:n0], a.cols)
        print(f"\nPer block ({n0} rows), value and gradient: rebuilt transformation {tt * 1e3:.1f} ms per call "
              f"(first call {ft:.2f} s: trace + compile), export_source code {te * 1e3:.1f} ms per call "
              f"(first call {fe * 1e3:.0f} ms after the export on the client)")
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
