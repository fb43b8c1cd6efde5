"""ad.data_parallel: objectives over row blocks, evaluated on a dask LocalCluster.

The references are hand-written: the gradient and Hessian-vector product of
logistic regression and of a Poisson GLM on the concatenated numpy data.  One
LocalCluster (2 worker processes, 1 thread each) serves the module.
"""
from __future__ import annotations

import logging
import os
import signal

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import pyautodiff as ad

ROW_CHUNKS = (120, 120, 120, 50)  # four uneven blocks (the last one shorter, as dask makes them)
N, P = sum(ROW_CHUNKS), 4


def logistic_nll(w, X, y):
    z = X @ w
    return np.sum(np.logaddexp(0.0, z) - y * z)


def poisson_nll(w, X, y):
    z = X @ w
    return np.sum(np.exp(z) - y * z)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# model -> (objective, its gradient, its Hessian-vector product), written by hand
MODELS = {
    "logistic": (logistic_nll,
                 lambda w, X, y: X.T @ (_sigmoid(X @ w) - y),
                 lambda w, X, y, v: X.T @ (_sigmoid(X @ w) * (1 - _sigmoid(X @ w)) * (X @ v))),
    "poisson": (poisson_nll,
                lambda w, X, y: X.T @ (np.exp(X @ w) - y),
                lambda w, X, y, v: X.T @ (np.exp(X @ w) * (X @ v))),
}


def _data(model, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(N), rng.normal(size=(N, P - 1))])
    w_true = np.array([0.3, -0.5, 0.8, 0.2])
    z = X @ w_true
    y = (rng.random(N) < _sigmoid(z)).astype(float) if model == "logistic" else rng.poisson(np.exp(z)).astype(float)
    return X, y


def _dask(X, y):
    return (da.from_array(X, chunks=(ROW_CHUNKS, P)).persist(),
            da.from_array(y, chunks=(ROW_CHUNKS,)).persist())


def _compiled_on_this_worker():
    import sys

    return len(sys.modules["pyautodiff.data_parallel"]._WORKER_FUNCTIONS)


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


# one objective per model for the module: ad.minimize reuses its transformations across methods
OBJECTIVES = {model: ad.data_parallel(f, data=("X", "y")) for model, (f, _, _) in MODELS.items()}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_gradient_and_hvp_on_the_cluster_equal_the_hand_written_ones(client, model):
    f, grad, hvp = MODELS[model]
    X, y = _data(model)
    Xd, yd = _dask(X, y)
    obj = OBJECTIVES[model]
    w = np.array([0.1, -0.2, 0.3, 0.05])
    v = np.array([1.0, 0.5, -0.25, 2.0])
    value, g = ad.value_and_grad(obj)(w, Xd, yd)
    assert type(g) is np.ndarray
    np.testing.assert_allclose(value, f(w, X, y), rtol=1e-12)
    np.testing.assert_allclose(g, grad(w, X, y), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(ad.hvp(obj)(w, Xd, yd, v), hvp(w, X, y, v), rtol=1e-12, atol=1e-10)
    # the blocks ran on both worker processes, each with its own compiled transformations
    counts = client.run(_compiled_on_this_worker)
    assert len(counts) == 2 and all(n > 0 for n in counts.values()), counts


def test_grad_hessian_jvp_and_reduce_mean(client):
    X, y = _data("logistic", seed=1)
    Xd, yd = _dask(X, y)
    _, grad, hvp = MODELS["logistic"]
    w = np.array([0.2, 0.1, -0.3, 0.4])
    v = np.array([0.5, -1.0, 0.25, 1.0])
    H = np.column_stack([hvp(w, X, y, e) for e in np.eye(P)])
    obj = ad.data_parallel(logistic_nll, data=(1, 2))  # data by position
    np.testing.assert_allclose(ad.grad(obj)(w, Xd, yd), grad(w, X, y), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(ad.hessian(obj)(w, Xd, yd), H, rtol=1e-12, atol=1e-10)
    value, tangent = ad.jvp(obj)(w, Xd, yd, v)
    np.testing.assert_allclose(value, logistic_nll(w, X, y), rtol=1e-12)
    np.testing.assert_allclose(tangent, grad(w, X, y) @ v, rtol=1e-12)

    def mean_nll(w, X, y):  # a mean over the block's rows: reduce="mean" weights blocks by rows
        return logistic_nll(w, X, y) / X.shape[0]

    mean_obj = ad.data_parallel(mean_nll, data=("X", "y"), reduce="mean")
    np.testing.assert_allclose(mean_obj(w, Xd, yd), logistic_nll(w, X, y) / N, rtol=1e-12)
    np.testing.assert_allclose(ad.grad(mean_obj)(w, Xd, yd), grad(w, X, y) / N, rtol=1e-12)


@pytest.mark.parametrize("method", ["L-BFGS-B", "trust-exact", "newton-cg"])
def test_minimize_on_the_cluster_reaches_the_numpy_optimum(client, method):
    X, y = _data("poisson", seed=2)
    Xd, yd = _dask(X, y)
    res = ad.minimize(OBJECTIVES["poisson"], np.zeros(P), args=(Xd, yd), method=method, tol=1e-10)
    ref = ad.minimize(poisson_nll, np.zeros(P), args=(X, y), method="L-BFGS-B", tol=1e-12)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-5, atol=1e-6)
    assert np.abs(MODELS["poisson"][1](res.x, X, y)).max() < 1e-4 * N  # stationary by the hand-written gradient


def test_a_worker_killed_mid_fit_leaves_the_result_unchanged(client):
    X, y = _data("logistic", seed=3)
    ref = ad.minimize(logistic_nll, np.zeros(P), args=(X, y), tol=1e-12)
    Xd, yd = _dask(X, y)
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    killed = []

    def kill_one_worker(xk):
        if not killed:  # after the first iteration: the next evaluation meets a dead worker
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(xk)

    res = ad.minimize(OBJECTIVES["logistic"], np.zeros(P), args=(Xd, yd), tol=1e-12, callback=kill_one_worker)
    assert killed and res.success, res.message
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-7, atol=1e-9)
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()  # that process really is gone


def test_the_decomposability_check_catches_a_wrongly_normalized_objective(client):
    X, y = _data("logistic", seed=4)
    Xd, yd = _dask(X, y)
    w = np.zeros(P)

    def block_mean_nll(w, X, y):  # normalized by its own block's size, yet declared a sum
        return logistic_nll(w, X, y) / X.shape[0]

    wrong = ad.data_parallel(block_mean_nll, data=("X", "y"), reduce="sum")
    with pytest.raises(ad.VerificationError, match=r"block_mean_nll.*does not decompose"):
        ad.grad(wrong)(w, Xd, yd)
    with pytest.raises(ad.VerificationError, match="block_mean_nll"):
        ad.minimize(wrong, w, args=(Xd, yd))

    def centered_nll(w, X, y):  # standardizes by a statistic of its own block
        return logistic_nll(w, X - X.mean(axis=0), y)

    with pytest.raises(ad.VerificationError, match="centered_nll"):
        ad.grad(ad.data_parallel(centered_nll, data=("X", "y")))(w, X, y)  # numpy data: checked too
    with pytest.warns(ad.VerificationWarning, match="block_mean_nll"):
        ad.grad(wrong, verify=ad.Verify(on_fail="warn"))(w, Xd, yd)
    # verify=False is the user's word: no check, the (wrong) sum of block means comes back
    got = ad.grad(wrong, verify=False)(w, Xd, yd)
    _, grad, _ = MODELS["logistic"]
    expected = sum(grad(w, X[a:b], y[a:b]) / (b - a)
                   for a, b in zip(np.cumsum((0,) + ROW_CHUNKS[:-1]), np.cumsum(ROW_CHUNKS)))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # the right normalization for a block mean is reduce="mean": accepted
    ad.grad(ad.data_parallel(block_mean_nll, data=("X", "y"), reduce="mean"))(w, Xd, yd)


def test_numpy_data_and_the_local_scheduler_give_the_same_numbers():
    X, y = _data("poisson", seed=5)
    _, grad, hvp = MODELS["poisson"]
    w = np.array([0.1, 0.2, -0.1, 0.0])
    v = np.ones(P)
    obj = ad.data_parallel(poisson_nll, data=("X", "y"))
    np.testing.assert_allclose(ad.grad(obj)(w, X, y), grad(w, X, y), rtol=1e-12)
    np.testing.assert_allclose(ad.hvp(obj)(w, X, y, v), hvp(w, X, y, v), rtol=1e-12)
    with dask.config.set(scheduler="threads"):  # dask's default local scheduler, no cluster
        Xd, yd = da.from_array(X, chunks=(ROW_CHUNKS, P)), da.from_array(y, chunks=(ROW_CHUNKS,))
        np.testing.assert_allclose(ad.grad(obj)(w, Xd, yd), grad(w, X, y), rtol=1e-12)
        np.testing.assert_allclose(ad.grad(obj)(w, X=Xd, y=yd), grad(w, X, y), rtol=1e-12)  # data by keyword
        value, cotangent = ad.vjp(obj)(w, Xd, yd, 2.0)
        np.testing.assert_allclose(value, poisson_nll(w, X, y), rtol=1e-12)
        np.testing.assert_allclose(cotangent, 2.0 * grad(w, X, y), rtol=1e-12)


def test_bad_input_gets_a_clear_error():
    X, y = _data("logistic", seed=6)
    w = np.zeros(P)
    with pytest.raises(ad.AutodiffError, match=r"data='Z' is not a positional argument of logistic_nll.*w, X, y"):
        ad.data_parallel(logistic_nll, data=("X", "Z"))
    with pytest.raises(ad.AutodiffError, match="past the last positional argument"):
        ad.data_parallel(logistic_nll, data=(1, 3))
    with pytest.raises(ad.AutodiffError, match="reduce must be one of"):
        ad.data_parallel(logistic_nll, data="X", reduce="max")
    obj = ad.data_parallel(logistic_nll, data=("X", "y"))
    with dask.config.set(scheduler="sync"):
        Xd = da.from_array(X, chunks=(ROW_CHUNKS, P))
        y_other = da.from_array(y, chunks=(100, 100, 100, 110))
        with pytest.raises(ad.AutodiffError, match=r"different row blocks.*'y' has \(100, 100, 100, 110\)"):
            ad.grad(obj)(w, Xd, y_other)
        with pytest.raises(ad.AutodiffError, match=r"'y' of logistic_nll must be a numpy or dask array.*list"):
            ad.grad(obj)(w, X, list(y))
        with pytest.raises(ad.AutodiffError, match="mix numpy and dask arrays"):
            ad.grad(obj)(w, Xd, y)
        with pytest.raises(ad.AutodiffError, match=r"axis other than 0.*rechunk\(\{1: -1\}\)"):
            ad.grad(obj)(w, da.from_array(X, chunks=(ROW_CHUNKS, 2)), da.from_array(y, chunks=(ROW_CHUNKS,)))
        with pytest.raises(ad.AutodiffError, match="different numbers of rows"):
            ad.grad(obj)(w, X, y[:-1])
        with pytest.raises(ad.AutodiffError, match="wrt='X' is a data argument"):
            ad.grad(obj, wrt="X")(w, X, y)
        with pytest.raises(ad.AutodiffError, match="'y' of logistic_nll was not passed"):
            ad.grad(obj)(w, X)
    with pytest.raises(ad.AutodiffError, match="called inside a function being traced"):
        ad.grad(lambda w: obj(w, X, y) + w @ w)(w)
    with pytest.raises(ad.AutodiffError, match="cannot be transformed again"):
        ad.hessian(ad.grad(obj))
    v = np.ones(P)
    with pytest.raises(ad.AutodiffError, match="called inside a function being traced"):
        ad.grad(lambda w, X, y: ad.grad(obj)(w, X, y) @ v)(w, X, y)
