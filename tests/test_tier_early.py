"""A process served by the trace cache builds Numba at once where a tier note says it won
before (issue #18: a warm process gets the compiled tier in its first second).

A new ``Transformed`` in the same process asks the disk as a new process would
(``test_trace_cache.py``).  Expected values are hand-written derivatives.
"""
import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.backend import numba_reload, tier_memory, tiered
from pyautodiff.trace_cache import Served


def _f(x):
    return np.sum(np.exp(x) * x)


def _grad_f(x):
    return np.exp(x) * (x + 1.0)


X = np.linspace(-1.0, 1.0, 50)


@pytest.fixture
def warm(tmp_path, monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(tmp_path))
    monkeypatch.setenv("PYAUTODIFF_TRACE_CACHE", "1")
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setenv("PYAUTODIFF_TIER_NOTES", "1")
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)
    return tmp_path


def _first_process(monkeypatch, speedup):
    """Trace, store, and upgrade at once (the note is written as after a real win or loss)."""
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", speedup)
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 0.0)
    g = ad.grad(_f)
    g(X)
    g(X)
    return g._last_spec.tiering


def test_an_upgrade_notes_its_tier_under_the_code_key_too(warm, monkeypatch):
    first = _first_process(monkeypatch, 0.0)  # installed whatever its speed
    assert first.wait(timeout=600).startswith("numba")
    assert tier_memory.recall(tier_memory.code_note_key(first.first_tier.code_key)) == "numba"
    assert tier_memory.recall(first.note_key) == "numba"


def test_served_code_numba_won_for_builds_numba_when_its_first_call_returns(warm, monkeypatch):
    _first_process(monkeypatch, 0.0).wait(timeout=600)
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 1e9)  # only the note can start it
    g = ad.grad(_f)
    np.testing.assert_allclose(g(X), _grad_f(X), rtol=1e-13)
    spec = g._last_spec
    assert g.stats.disk_traces == 1 and g.stats.traces == 0
    wrapper = spec.fn
    assert isinstance(wrapper, Served) and wrapper.thread is not None
    wrapper.thread.join(timeout=600)
    assert spec.tiering.outcome.startswith("numba") and g.stats.upgrades == 1
    # the Numba build serves the served specialization, loaded by the note's key: no trace
    assert spec.fn.numba_build == tier_memory.recall_build(tier_memory.code_note_key(wrapper.first_tier.code_key))
    assert "reloaded" in [what for what, *_ in spec.tiering.timeline] and g.stats.traces == 0
    np.testing.assert_allclose(g(X + 0.5), _grad_f(X + 0.5), rtol=1e-12)
    strided = np.linspace(-1.0, 1.0, 100)[::2]  # a layout the loaded build was not compiled for: numpy code
    np.testing.assert_allclose(g(strided), _grad_f(strided), rtol=1e-12)


def test_a_note_without_a_build_traces_for_the_graph_and_builds_it(warm, monkeypatch):
    first = _first_process(monkeypatch, 0.0)
    first.wait(timeout=600)
    tier_memory.remember(tier_memory.code_note_key(first.first_tier.code_key), "numba")  # an older note
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 1e9)
    g = ad.grad(_f)
    g(X)
    spec = g._last_spec
    spec.fn.thread.join(timeout=600)
    # built from the graph the early build traced for
    assert spec.tiering.outcome.startswith("numba") and hasattr(spec.fn, "pytensor_function")
    np.testing.assert_allclose(g(X + 0.5), _grad_f(X + 0.5), rtol=1e-12)


def _other(x):  # the same argument types as _f, another function
    return np.sum(np.sin(x) * 3.0)


@pytest.mark.parametrize("build", ["another graph's", "missing", "malformed"])
def test_a_note_naming_a_wrong_build_costs_a_trace_never_a_wrong_value(warm, monkeypatch, build):
    first = _first_process(monkeypatch, 0.0)
    first.wait(timeout=600)
    other = ad.grad(_other, mode="numba")
    other(X)
    named = {"another graph's": numba_reload.build_of(other._last_spec.fn),
             "missing": ("numba_funcified_fgraph", "0" * 64 + "_fastmath0"),
             "malformed": ("numba_funcified_fgraph", "../../etc")}[build]
    assert named is not None
    tier_memory.remember(tier_memory.code_note_key(first.first_tier.code_key), "numba", named)
    assert tier_memory.recall_build(tier_memory.code_note_key(first.first_tier.code_key)) == named
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 1e9)
    g = ad.grad(_f)
    np.testing.assert_allclose(g(X), _grad_f(X), rtol=1e-13)
    spec = g._last_spec
    spec.fn.thread.join(timeout=600)
    assert spec.tiering.outcome.startswith("numba") and hasattr(spec.fn, "pytensor_function")  # from the graph
    np.testing.assert_allclose(g(X + 0.5), _grad_f(X + 0.5), rtol=1e-12)


def test_a_loaded_build_is_compared_with_the_numpy_code():
    assert numba_reload.agrees((np.array([1.0, np.nan, np.inf]),), (np.array([1.0 + 1e-12, np.nan, np.inf]),))
    # within a millionth of the output's largest finite value (cancellation rounds to such noise)
    assert numba_reload.agrees(np.array([1e6, 1e-3]), np.array([1e6, 1e-3 + 1e-4]))
    assert not numba_reload.agrees((np.array([1.0, 2.0]),), (np.array([1.0, 2.1]),))
    assert not numba_reload.agrees((np.array([1.0, np.nan]),), (np.array([1.0, 2.0]),))
    assert not numba_reload.agrees((np.array([1.0, 2.0]),), (np.array([1.0, 2.0], dtype=np.float32),))
    assert not numba_reload.agrees((np.array([1.0]),), (np.array([1.0]), np.array([2.0])))
    assert not numba_reload.agrees((np.array([1, 2]),), (np.array([1, 3]),))


def test_a_note_numba_loses_to_now_keeps_the_code_and_the_usual_schedule(warm, monkeypatch):
    _first_process(monkeypatch, 0.0).wait(timeout=600)
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", 1e9)  # never fast enough: timed, not installed
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 1e9)
    g = ad.grad(_f)
    g(X)
    wrapper = g._last_spec.fn
    wrapper.thread.join(timeout=600)
    assert g._last_spec.fn is wrapper and g._last_spec.tiering.outcome.startswith("kept numpy")
    assert not wrapper.due  # the served code asks for a trace after its time, as without a note
    np.testing.assert_allclose(g(X), _grad_f(X), rtol=1e-13)


def test_without_a_note_or_with_notes_off_nothing_starts_early(warm, monkeypatch):
    first = _first_process(monkeypatch, 1e9)  # Numba measured not faster: the note says numpy
    assert first.wait(timeout=600).startswith("kept numpy")
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 1e9)
    g = ad.grad(_f)
    g(X)
    assert isinstance(g._last_spec.fn, Served) and g._last_spec.fn.thread is None
    tier_memory.remember(tier_memory.code_note_key(first.first_tier.code_key), "numba")
    monkeypatch.setenv("PYAUTODIFF_TIER_NOTES", "0")
    g = ad.grad(_f)
    g(X)
    assert isinstance(g._last_spec.fn, Served) and g._last_spec.fn.thread is None
