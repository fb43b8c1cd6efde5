"""The default mode upgrades a hot specialization to Numba in the background."""
import numpy as np

import pyautodiff as ad
from pyautodiff.backend import tiered

from helpers import assert_close
from test_examples import nll, nll_grad_by_hand


def test_upgrade_to_numba_keeps_results_exact(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)  # upgrade even this small problem
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", 0.0)  # and install it whatever its speed
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 0.0)  # at once
    rng = np.random.default_rng(0)
    W, b, X, y = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    g = ad.grad(nll, wrt=("W", "b"))
    for _ in range(tiered.MEASURE_CALLS + 1):
        g(W, b, X, y)
    spec = g._last_spec
    outcome = spec.tiering.wait(timeout=600)
    assert outcome.startswith("numba"), outcome
    assert not isinstance(spec.fn, tiered.Tiered) and spec.fn is not spec.tiering.first_tier
    assert g.stats.upgrades == 1
    W2 = W + 0.5
    gW, gb = g(W2, b, X, y)
    hW, hb = nll_grad_by_hand(W2, b, X, y)
    assert_close(gW, hW, rtol=1e-12, atol=1e-14)
    assert_close(gb, hb, rtol=1e-12, atol=1e-14)


def test_cheap_calls_stay_on_numpy(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    g = ad.grad(lambda x1, x2: np.log(x1) + x1 * x2, wrt=(0, 1))
    for _ in range(tiered.MEASURE_CALLS + 1):
        g(2.0, 5.0)
    spec = g._last_spec
    assert spec.tiering.wait() == "kept numpy (cheap calls)"
    assert spec.fn is spec.tiering.first_tier


def test_explicit_mode_does_not_tier():
    g = ad.grad(lambda x: np.sum(x ** 2), mode="numpy")
    g(np.ones(3))
    assert g._last_spec.tiering is None


def test_no_upgrade_before_enough_time_was_spent(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)
    g = ad.grad(lambda x: np.sum(np.exp(x)))
    for _ in range(20):
        g(np.ones(10))
    spec = g._last_spec
    assert spec.tiering.outcome == "measuring" and spec.tiering.thread is None
    assert isinstance(spec.fn, tiered.Tiered)


def test_a_graph_numba_won_for_before_upgrades_at_its_first_calls(monkeypatch, tmp_path):
    # issue #18: a warm process gets Numba in its first second, not after 2 s of numpy
    from pyautodiff.backend import tier_memory

    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setenv("PYAUTODIFF_TIER_NOTES", "1")
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(tmp_path))
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", 0.0)  # install it whatever its speed

    def f(x):
        return np.sum(np.exp(x) * x)

    x = np.linspace(-1.0, 1.0, 50)
    g = ad.grad(f)
    g(x)
    first = g._last_spec.tiering
    assert first.recall_thread is None  # the code cache's key names the note: read at once
    assert first.recalled is None and first.outcome == "measuring"
    tier_memory.remember(first.note_key, "numba")  # as an earlier process would have
    g2 = ad.grad(f)  # a new transformed function: a new specialization of the same graph
    g2(x)
    spec = g2._last_spec
    assert spec.tiering.recalled == "numba" and spec.tiering.upgrade_after == 0.0
    g2(x)  # this call starts the compile
    assert spec.tiering.wait(timeout=600).startswith("numba")
    assert_close(g2(x + 0.5), np.exp(x + 0.5) * (x + 1.5), rtol=1e-13)
    assert tier_memory.recall(first.note_key) == "numba"


def test_a_graph_the_code_cache_does_not_keep_is_fingerprinted_for_its_note(monkeypatch, tmp_path):
    from pyautodiff.backend import code_cache, tier_memory

    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setenv("PYAUTODIFF_TIER_NOTES", "1")
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(tmp_path))
    monkeypatch.setattr(code_cache, "MAX_CONSTANT_BYTES", -1)  # nothing is stored
    g = ad.grad(lambda x: np.sum(np.exp(x) * x))
    g(np.linspace(-1.0, 1.0, 50))
    tiering = g._last_spec.tiering
    assert getattr(tiering.first_tier, "code_key", None) is None
    tiering.recall_thread.join()
    assert tiering.note_key == tier_memory.note_key(tiering.inputs, tiering.outputs) is not None


def test_tier_notes_are_hints_read_as_one_word(monkeypatch, tmp_path):
    from pyautodiff.backend import tier_memory

    monkeypatch.setenv("PYAUTODIFF_TIER_NOTES", "1")
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(tmp_path))
    tier_memory.remember("k1", "numpy")
    assert tier_memory.recall("k1") == "numpy"
    (tmp_path / tier_memory.SUBDIR / "k2").write_text("import os; os.system('x')")
    assert tier_memory.recall("k2") is None and tier_memory.recall("missing") is None
    tier_memory.remember("k3", "not a tier")
    assert tier_memory.recall("k3") is None
    monkeypatch.setenv("PYAUTODIFF_TIER_NOTES", "0")
    assert tier_memory.recall("k1") is None
    monkeypatch.setattr(tier_memory, "MAX_NOTES", 4)
    monkeypatch.setenv("PYAUTODIFF_TIER_NOTES", "1")
    for i in range(6):
        tier_memory.remember(f"n{i}", "numba")
    assert len([p for p in (tmp_path / tier_memory.SUBDIR).iterdir() if not p.name.startswith(".")]) <= 4


def test_the_first_tier_is_timed_again_before_the_choice(monkeypatch):
    # Its first calls may share the interpreter with the background full rewrite: a
    # vectorized fill's 49 us calls measured 1.7-25 ms, and a Numba build twice slower than
    # the numpy code was installed. Here the first tier's first calls are slow, then fast.
    import time

    import pytensor.tensor as pt

    from pyautodiff.backend import compile as compile_module

    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setenv("PYAUTODIFF_TIER_NOTES", "0")
    monkeypatch.setattr(tiered, "MEASURE_CALLS", 2)
    calls = []

    def first_tier(x):
        calls.append(x)
        time.sleep(0.05 if len(calls) <= tiered.MEASURE_CALLS else 0.0005)
        return x

    def second_tier(x):
        time.sleep(0.01)
        return x

    monkeypatch.setattr(compile_module, "compile_graph", lambda *a, **k: (second_tier, None))
    installed = []
    x = pt.vector("x")
    # decided at the second call, when both samples are taken (slow ones)
    t = tiered.Tiered([x], [2 * x], "f", first_tier, install=installed.append, upgrade_after=0.075)
    for _ in range(tiered.MEASURE_CALLS):
        t(np.ones(2))
    assert t.thread is not None and t.samples and min(t.samples) >= 0.05
    outcome = t.wait(timeout=60)
    assert outcome.startswith("kept numpy (numba not faster"), outcome
    assert installed[-1] is first_tier


def test_both_tiers_are_timed_in_turn():
    # whatever else runs while the background thread times them (the caller's own calls)
    # meets both tiers alike: their calls alternate
    order = []
    runs, other = tiered._timed_in_turn(lambda x: order.append("second"), lambda x: order.append("first"), (1,), 3)
    assert order == ["second", "first"] * 3 and len(runs) == len(other) == 3


def test_the_numba_tier_rounds_as_numpy(monkeypatch):
    # PyTensor's Numba forms default to fast-math (a fused a * 10 - 1 was 5.6e-17, not 0): a
    # result must not change when the default mode moves a function to Numba
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", 0.0)
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 0.0)

    def f(a):
        return a * 10.0 - 1.0, 1.0 / -(a - a)

    a = np.full(3, 0.1)
    g = ad.function(f)
    for _ in range(tiered.MEASURE_CALLS + 1):
        g(a)
    assert g._last_spec.tiering.wait(timeout=600).startswith("numba")
    with np.errstate(divide="ignore"):
        want = f(a)
    got = g(a)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])  # -inf, not +inf
