"""A first call that takes long says so once, and its phases are timed (issue #18).

No timing is asserted: the threshold is a setting, set to 0 (every first call
is "long") or to a huge value (none is)."""
import logging
import threading

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff import progress


def f(x):
    return np.sum(np.sin(x) * x)


@pytest.fixture
def no_code_cache(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", "0")  # so that every first call rewrites


def _records(caplog):
    return [r for r in caplog.records if r.name == "pyautodiff" and "taking long" in r.getMessage()]


def test_phases_are_recorded_in_stats(no_code_cache, monkeypatch):
    monkeypatch.setattr(progress, "AFTER_SECONDS", 1e9)
    g = ad.grad(f)
    x = np.linspace(0.1, 1.0, 4)
    assert np.allclose(g(x), np.sin(x) + x * np.cos(x))
    phases = g.stats.last_phase_seconds
    assert {"trace", "differentiate", "rewrite", "generate"} <= set(phases)
    assert all(v >= 0.0 for v in phases.values())


def test_a_long_first_call_logs_once_naming_function_and_phase(no_code_cache, monkeypatch, caplog):
    monkeypatch.setattr(progress, "AFTER_SECONDS", 0.0)
    caplog.set_level(logging.WARNING, logger="pyautodiff")
    g = ad.grad(f)
    g(np.ones(3))
    records = _records(caplog)
    assert len(records) == 1
    message = records[0].getMessage()
    assert "grad of f" in message
    assert any(p in message for p in ("trace", "differentiate", "rewrite", "generate"))
    g(np.ones(3))  # a cache hit: no first call, no message
    assert len(_records(caplog)) == 1


def test_a_quick_first_call_says_nothing(no_code_cache, monkeypatch, caplog):
    monkeypatch.setattr(progress, "AFTER_SECONDS", 1e9)
    caplog.set_level(logging.WARNING, logger="pyautodiff")
    ad.grad(f)(np.ones(3))
    assert _records(caplog) == []


def test_a_long_phase_is_reported_while_it_runs(caplog):
    # the timer thread speaks while the phase still runs: the phase waits for it
    caplog.set_level(logging.WARNING, logger="pyautodiff")
    spoken = threading.Event()

    class Signal(logging.Handler):
        def emit(self, record):
            spoken.set()

    handler = Signal()
    logging.getLogger("pyautodiff").addHandler(handler)
    try:
        # 1 s: the phase begins microseconds after the timer starts, with room to spare for
        # a loaded machine (at 0.01 s the timer once spoke before the phase began)
        with progress.Compile("grad of slow", after=1.0) as compiling:
            progress.graph_size(12345)
            with progress.phase("rewrite"):
                assert spoken.wait(timeout=60)
        assert compiling.said
        compiling._timer.join(timeout=60)  # the record reaches caplog's handler after ours
    finally:
        logging.getLogger("pyautodiff").removeHandler(handler)
    (record,) = _records(caplog)
    assert "grad of slow" in record.getMessage()
    assert "now in rewrite" in record.getMessage()
    assert "12345 nodes" in record.getMessage()
    assert progress.phase("outside") is not None  # no first call running: a no-op context


def test_nested_first_calls_time_their_own_phases(no_code_cache, monkeypatch):
    # a transformed function calling another one's first call inside its trace
    monkeypatch.setattr(progress, "AFTER_SECONDS", 1e9)
    inner = ad.grad(f)

    def outer(x):
        return np.sum(inner(x) ** 2)

    x = np.linspace(0.2, 0.9, 3)
    with progress.Compile("outer", after=1e9) as compiling:
        with progress.phase("trace"):
            inner(x)
    assert set(compiling.times) == {"trace"}
    assert {"trace", "rewrite"} <= set(inner.stats.last_phase_seconds)
    assert np.allclose(outer(x), np.sum((np.sin(x) + x * np.cos(x)) ** 2))


def test_the_collector_is_paused_while_a_first_call_builds_and_enabled_after():
    import gc

    from pyautodiff.backend import pytensor_speedups

    seen = []

    def f(x):
        seen.append(gc.isenabled())  # runs in the emulator, during the trace
        return np.sum(np.sin(x))

    assert gc.isenabled()
    np.testing.assert_allclose(ad.grad(f)(np.array([0.1, 0.2])), np.cos([0.1, 0.2]))
    assert seen == [False] and gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        with pytensor_speedups.gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
