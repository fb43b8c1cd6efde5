"""A transformed function called from many threads at once gives the single-threaded
results: on first calls, on cached calls and across the background tier swap.

Interleavings that matter are forced with ``concurrency.hook`` (a checkpoint where
a test parks one thread until another has done its part), not left to luck."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff import concurrency
from pyautodiff.backend import tiered
from pyautodiff.cache import MISS


def f(x):
    return np.sum(np.sin(x) * x)


def df(x):  # by hand, in float64
    x = np.asarray(x, dtype=np.float64)
    return np.cos(x) * x + np.sin(x)


def _run_threads(targets, timeout=600):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(fn), name=name) for name, fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), f"{t.name} hung"
    if errors:
        raise errors[0]


def _check(x, got):
    want = df(x)
    if x.dtype == np.float32:
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)
    else:
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


def test_a_call_between_a_trace_and_its_fast_path_does_not_cross_specializations():
    # Thread A traces for float32, then waits while thread B traces and serves
    # float64; A's fast path must still be built from A's own specialization.
    g = ad.grad(f, mode="numpy")
    x64 = np.linspace(0.1, 2.0, 7)
    x32 = x64.astype(np.float32)
    b_done = threading.Event()

    def pause(name):
        if name == "traced" and threading.current_thread().name == "A":
            assert b_done.wait(60)

    def a():
        _check(x32, g(x32))

    def b():
        try:
            _check(x64, g(x64))
        finally:
            b_done.set()

    with concurrency.hook(pause):
        _run_threads([("A", a), ("B", b)])
    for _ in range(3):  # now through the fast paths, in both orders
        _check(x64, g(x64))
        _check(x32, g(x32))
        _check(x32, g(x32))
        _check(x64, g(x64))
    assert g.stats.traces == 2
    for specs in g._cache.entries.values():
        for spec in specs:
            if spec.fast_path:
                x = spec.trace.leaves[0]
                assert spec.fast_path((x.copy(),)) is not MISS  # serves its own dtype
                other = x.astype(np.float64 if x.dtype == np.float32 else np.float32)
                assert spec.fast_path((other,)) is MISS


def test_waiting_threads_reuse_the_specialization_another_thread_just_built():
    g = ad.grad(f, mode="numpy")
    x = np.linspace(0.1, 2.0, 5)
    start = threading.Barrier(6)

    def call():
        start.wait(60)
        _check(x, g(x))

    _run_threads([(f"t{i}", call) for i in range(6)])
    assert g.stats.traces == 1 and g.stats.specializations == 1


def test_many_threads_many_rounds_mixed_dtypes_and_shapes_across_the_tier_swap(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)  # upgrade these small problems
    monkeypatch.setattr(tiered, "_REQUIRED_SPEEDUP", 0.0)  # and install Numba whatever its speed
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 0.0)
    g = ad.grad(f)  # the default, tiered mode
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(0.1, 2.0, size=n).astype(dt) for n in (3, 8) for dt in (np.float64, np.float32)]
    n_threads, rounds = 6, 12
    barrier = threading.Barrier(n_threads)
    swapped = threading.Event()

    def worker(k):
        def run():
            for r in range(rounds):
                barrier.wait(600)
                if r == rounds // 2 and k == 0:  # force the swap to have happened mid-run
                    for specs in g._cache.entries.values():
                        for spec in specs:
                            assert spec.tiering.wait(600).startswith("numba"), spec.tiering.outcome
                    swapped.set()
                if r == rounds // 2 + 1:
                    assert swapped.is_set()
                x = inputs[(k + r) % len(inputs)]
                _check(x, g(x))
        return run

    _run_threads([(f"w{k}", worker(k)) for k in range(n_threads)])
    assert g.stats.traces == len(inputs) and g.stats.specializations == len(inputs)
    assert g.stats.upgrades == len(inputs)  # one background compile per specialization
    for specs in g._cache.entries.values():
        assert not isinstance(specs[0].fn, tiered.Tiered)


def test_one_background_upgrade_however_many_threads_reach_the_threshold(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setattr(tiered, "MIN_SECONDS", 0.0)
    monkeypatch.setattr(tiered, "UPGRADE_AFTER_SECONDS", 0.0)
    started = []
    monkeypatch.setattr(tiered.Tiered, "_upgrade", lambda self: started.append(self))
    g = ad.grad(f)
    x = np.linspace(0.1, 2.0, 5)
    for _ in range(tiered.MEASURE_CALLS + 1):  # measured; the next call decides
        g(x)
    started.clear()
    spec = g._last_spec
    spec.tiering.thread = None
    spec.fn = spec.tiering
    both_there = threading.Barrier(2)

    def pause(name):
        if name == "tier-decision":  # both threads reach the decision together
            both_there.wait(60)

    def call():
        _check(x, spec.fn(x)[0])

    with concurrency.hook(pause):
        _run_threads([("a", call), ("b", call)])
    spec.tiering.thread.join(60)
    assert len(started) == 1


def test_pytensor_compiled_functions_are_called_one_thread_at_a_time():
    g = ad.grad(f, mode="c")
    xs = [np.linspace(0.1, 2.0, 50) + k for k in range(4)]
    g(xs[0])
    barrier = threading.Barrier(4)

    def worker(k):
        def run():
            barrier.wait(60)
            for _ in range(200):
                _check(xs[k], g(xs[k]))
        return run

    _run_threads([(f"c{k}", worker(k)) for k in range(4)])


@pytest.mark.parametrize("mode", [None, "c"])
def test_concurrent_first_calls_in_a_fresh_process(mode, tmp_path):
    # PyTensor initialises its configuration lazily and refuses two threads doing it at once
    script = textwrap.dedent(f"""
        import threading, numpy as np, pyautodiff as ad
        fs = [ad.grad(lambda x, k=k: np.sum(np.sin(x) * k), mode={mode!r}) for k in range(1, 7)]
        x = np.linspace(0.1, 1.0, 4)
        errors, barrier = [], threading.Barrier(len(fs))
        def run(i):
            barrier.wait()
            try:
                np.testing.assert_allclose(fs[i](x), (i + 1) * np.cos(x), rtol=1e-14)
            except Exception as e:
                errors.append(repr(e))
        ts = [threading.Thread(target=run, args=(i,)) for i in range(len(fs))]
        [t.start() for t in ts]
        [t.join() for t in ts]
        print("ERRORS", errors)
    """)
    env = dict(os.environ, PYAUTODIFF_CODE_CACHE=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "ERRORS []" in out.stdout, out.stdout + out.stderr


def test_a_background_build_silences_only_its_own_warnings():
    # warnings.catch_warnings swaps process-wide state: a background rewrite under it hid
    # the caller's numpy warnings, and on leaving restored the filters a pytest.warns of
    # the main thread had set in between (the main thread's warning then went unrecorded)
    import warnings

    from pyautodiff.concurrency import quiet_warnings

    inside, leave = threading.Event(), threading.Event()

    def background():
        with quiet_warnings():
            np.log(np.zeros(1))  # a rewrite's constant folding: dropped
            warnings.warn("from the build")  # dropped too
            inside.set()
            leave.wait(10)
            warnings.warn("still the build")

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        t = threading.Thread(target=background, name=concurrency.BACKGROUND_PREFIX + "test")
        t.start()
        assert inside.wait(10)
        np.log(np.zeros(1))  # the caller's own: shown while the build is inside its block
        leave.set()
        t.join(10)
        warnings.warn("the caller's, after the build")
    messages = [str(w.message) for w in seen]
    assert messages == ["divide by zero encountered in log", "the caller's, after the build"]
