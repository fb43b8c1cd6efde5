"""Transformed functions pickle by reference to the original function and their
options (compiled state is rebuilt on the other side), before and after calls, so
multiprocessing and concurrent.futures can ship them to spawned processes."""
import concurrent.futures
import multiprocessing
import os
import pickle

import numpy as np
import pytest

import pyautodiff as ad

import pickle_helpers as ph


def test_a_called_transformed_function_pickles_with_its_options():
    g = ad.grad(ph.loss, wrt="w", mode="numpy", cache_size=5, loop_limit=1234)
    w = np.array([0.3, -0.2, 0.1])
    np.testing.assert_allclose(g(w, ph.X), ph.loss_grad_by_hand(w, ph.X), rtol=1e-13)
    g2 = pickle.loads(pickle.dumps(g))
    assert g2 is not g and g2.original is ph.loss
    assert (g2.kind, g2.wrt, g2.mode, g2.loop_limit, g2._cache.limit) == ("grad", "w", "numpy", 1234, 5)
    assert g2.stats.calls == 0 and len(g2._cache) == 0  # compiled state is not shipped
    np.testing.assert_allclose(g2(w, ph.X), ph.loss_grad_by_hand(w, ph.X), rtol=1e-13)


def test_a_decorated_module_level_function_pickles_by_name():
    w = np.array([0.5, 1.5])
    ph.decorated(w)
    assert pickle.loads(pickle.dumps(ph.decorated)) is ph.decorated


def test_every_transformation_pickles():
    for make in (ad.function, ad.grad, ad.value_and_grad, ad.hessian, ad.jacobian, ad.hvp, ad.jvp, ad.vjp):
        t = make(ph.decorated_by_hand)
        t2 = pickle.loads(pickle.dumps(t))
        assert t2.kind == t.kind and t2.original is ph.decorated_by_hand


def test_a_lambda_cannot_be_pickled_by_reference():
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(ad.grad(lambda x: x * 2.0))


def _inputs():
    rng = np.random.default_rng(0)
    return [rng.normal(size=3) for _ in range(6)]


def test_a_spawn_pool_runs_a_called_transformed_function():
    g = ad.grad(ph.loss)
    ws = _inputs()
    g(ws[0], ph.X)  # called (and compiled) here first
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(ph.apply, [(g, w) for w in ws])
    assert {pid for pid, _ in results} - {os.getpid()}  # really elsewhere
    for w, (_, got) in zip(ws, results):
        np.testing.assert_allclose(got, ph.loss_grad_by_hand(w, ph.X), rtol=1e-13)


def test_a_spawn_process_pool_executor_runs_a_decorated_transformed_function():
    ws = _inputs()
    ph.decorated(ws[0])
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as ex:
        got = list(ex.map(ph.decorated, ws))
    for w, g in zip(ws, got):
        np.testing.assert_allclose(g, ph.decorated_by_hand(w), rtol=1e-14)


def test_dask_ships_a_called_transformed_function_to_worker_processes():
    import dask

    g = ad.grad(ph.loss)
    ws = _inputs()
    g(ws[0], ph.X)
    tasks = [dask.delayed(ph.apply)(g, w) for w in ws]
    results = dask.compute(*tasks, scheduler="processes", num_workers=2)
    assert {pid for pid, _ in results} - {os.getpid()}
    for w, (_, got) in zip(ws, results):
        np.testing.assert_allclose(got, ph.loss_grad_by_hand(w, ph.X), rtol=1e-13)


def test_a_called_vmap_pickles_too():
    v = ad.vmap(ad.grad(ph.loss), in_axes=(0, None))
    ws = np.stack(_inputs())
    want = np.stack([ph.loss_grad_by_hand(w, ph.X) for w in ws])
    np.testing.assert_allclose(v(ws, ph.X), want, rtol=1e-13)
    v2 = pickle.loads(pickle.dumps(v))
    assert v2.in_axes == (0, None) and v2.original.kind == "grad"
    np.testing.assert_allclose(v2(ws, ph.X), want, rtol=1e-13)


def test_has_aux_and_static_survive_pickling():
    g = ad.grad(ph.loss_with_aux, has_aux=True, static=("scale",))
    w = np.array([0.3, -0.2, 0.1])
    got, aux = g(w, ph.X, scale=2)
    g2 = pickle.loads(pickle.dumps(g))
    assert g2.has_aux and g2.static == ("scale",)
    got2, aux2 = g2(w, ph.X, scale=2)
    np.testing.assert_allclose(got, 2 * ph.loss_grad_by_hand(w, ph.X), rtol=1e-13)
    np.testing.assert_allclose(got2, got, rtol=1e-15)
    assert aux2 == aux == "scaled by 2"
