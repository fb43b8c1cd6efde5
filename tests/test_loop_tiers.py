"""The default mode and rolled loops: a graph holding a Scan (a rolled loop or its
derivative) upgrades to Numba after LOOP_UPGRADE_AFTER_SECONDS of numpy-tier time
(backend/tiered.py), far sooner than other graphs, and the Numba loop gives the
hand-written gradient."""
import numpy as np
from test_loops import accumulate, accumulate_grad, lotka_volterra, lotka_volterra_grad

import pyautodiff as ad
from pyautodiff.backend import tiered


def test_a_loop_graph_is_told_from_a_straight_one():
    x, w = np.linspace(-0.3, 1.2, 8), np.linspace(0.5, 2, 16)
    rolled = ad.trace(accumulate, x, w, 40)
    assert rolled.loops_rolled == 1 and tiered.has_loop(rolled.outputs)
    straight = ad.trace(lambda x: np.sin(x).sum(), x)
    assert not tiered.has_loop(straight.outputs)


def test_a_rolled_loop_upgrades_to_numba_after_the_loop_threshold(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setattr(tiered, "LOOP_UPGRADE_AFTER_SECONDS", 0.0)  # at the first call
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 1e9)  # never, were it not a loop
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", 0.0)  # install Numba whatever its speed here
    theta, n = np.array([1.0, 0.5, 0.3, 0.4]), 200
    g = ad.grad(lotka_volterra)
    np.testing.assert_allclose(g(theta, n), lotka_volterra_grad(theta, n), rtol=1e-9)
    spec = g._last_spec
    assert spec.tiering.upgrade_after == 0.0
    outcome = spec.tiering.wait(timeout=600)
    assert outcome.startswith("numba"), outcome
    assert spec.fn is not spec.tiering.first_tier and g.stats.upgrades == 1
    theta2 = theta * 1.1
    np.testing.assert_allclose(g(theta2, n), lotka_volterra_grad(theta2, n), rtol=1e-9)


def test_other_graphs_keep_the_general_threshold(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    x, w = np.linspace(-0.3, 1.2, 8), np.linspace(0.5, 2, 16)
    g = ad.grad(accumulate, wrt=(0, 1))
    gx, gw = g(x, w, 40)
    ex, ew = accumulate_grad(x, w, 40)
    np.testing.assert_allclose(gx, ex, rtol=1e-10)
    np.testing.assert_allclose(gw, ew, rtol=1e-10)
    assert g._last_spec.tiering.upgrade_after == tiered.LOOP_UPGRADE_AFTER_SECONDS
    h = ad.grad(lambda x: np.sin(x).sum())
    h(x)
    assert h._last_spec.tiering.upgrade_after == tiered.UPGRADE_AFTER_SECONDS
