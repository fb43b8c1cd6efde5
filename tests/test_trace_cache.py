"""The trace-level disk cache (trace_cache.py): a first call served without tracing.

A new ``Transformed`` in the same process has an empty in-memory cache and asks the
disk as a new process would, so most cases run in-process; the subprocess tests show
the real thing (a new interpreter, a module whose text changed between runs).
Expected values are hand-written derivatives.
"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff import trace_cache

SCALE = 2
OFFSET = np.array([0.5, -1.0, 2.0])
LABEL = "square"


@pytest.fixture
def disk(tmp_path, monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(tmp_path))
    monkeypatch.setenv("PYAUTODIFF_TRACE_CACHE", "1")
    return tmp_path


def _helper(x, p=2):
    return np.sum(x ** p)


def _uses_globals(x):
    # a global int (value guard), a global array (graph input), a helper function,
    # a global string, a library module
    y = x + OFFSET
    return SCALE * _helper(y) if LABEL == "square" else np.sum(y)


def _grad_uses_globals(x):
    return SCALE * 2 * (x + OFFSET)


X = np.array([0.3, 0.7, -1.1])


def test_a_fresh_transformation_is_served_from_disk_with_the_same_result(disk):
    first = ad.grad(_uses_globals)
    np.testing.assert_allclose(first(X), _grad_uses_globals(X))
    assert first.stats.traces == 1 and first.stats.disk_traces == 0
    again = ad.grad(_uses_globals)
    np.testing.assert_allclose(again(X), _grad_uses_globals(X))
    assert again.stats.traces == 0 and again.stats.disk_traces == 1
    np.testing.assert_allclose(again(X * 2), _grad_uses_globals(X * 2))  # cached calls as usual
    assert again.stats.traces == 0


@pytest.mark.parametrize("name, value", [("SCALE", 3), ("LABEL", "sum"), ("SCALE", 2.0)])
def test_a_changed_global_is_not_served_from_the_stale_entry(disk, monkeypatch, name, value):
    ad.grad(_uses_globals)(X)
    monkeypatch.setitem(globals(), name, value)
    g = ad.grad(_uses_globals)
    want = 2 * value * (X + OFFSET) if name == "SCALE" else np.ones(3)
    np.testing.assert_allclose(g(X), want)
    assert g.stats.disk_traces == 0 and g.stats.traces == 1


def test_a_global_array_is_an_input_read_anew(disk, monkeypatch):
    ad.grad(_uses_globals)(X)
    monkeypatch.setitem(globals(), "OFFSET", np.array([1.0, 2.0, 3.0]))  # same shape: same entry
    g = ad.grad(_uses_globals)
    np.testing.assert_allclose(g(X), 2 * SCALE * (X + np.array([1.0, 2.0, 3.0])))
    assert g.stats.disk_traces == 1
    monkeypatch.setitem(globals(), "OFFSET", np.ones(1))  # another shape: traced
    g = ad.grad(_uses_globals)
    np.testing.assert_allclose(g(X), 2 * SCALE * (X + 1.0))
    assert g.stats.disk_traces == 0


def test_a_changed_helper_body_or_default_is_not_served(disk, monkeypatch):
    ad.grad(_uses_globals)(X)

    def cube(x, p=2):
        return np.sum(x ** 3)

    def helper_p3(x, p=3):
        return np.sum(x ** p)

    for new in (cube, helper_p3):
        monkeypatch.setitem(globals(), "_helper", new)
        g = ad.grad(_uses_globals)
        np.testing.assert_allclose(g(X), SCALE * 3 * (X + OFFSET) ** 2)
        assert g.stats.disk_traces == 0, new.__name__


def _make(power, xp=np):
    def f(x, c=1.0):
        return xp.sum(c * x ** power)
    return f


def test_a_changed_closure_value_or_default_is_not_served(disk):
    ad.grad(_make(2))(X)
    g = ad.grad(_make(2))  # the same code and closure values: served
    np.testing.assert_allclose(g(X), 2 * X)
    assert g.stats.disk_traces == 1
    g = ad.grad(_make(3))  # a closure int: a value guard
    np.testing.assert_allclose(g(X), 3 * X ** 2)
    assert g.stats.disk_traces == 0
    f = _make(2)
    f.__defaults__ = (5.0,)  # a default is a constant of the trace: part of the key
    g = ad.grad(f)
    np.testing.assert_allclose(g(X), 10 * X)
    assert g.stats.disk_traces == 0


def test_a_library_object_rebound_in_a_closure_is_not_served(disk):
    import builtins

    ad.grad(_make(2))(X)
    g = ad.grad(_make(2, xp=builtins))  # np in the closure is now another module
    np.testing.assert_allclose(g(X), 2 * X)
    assert g.stats.disk_traces == 0


class _Model:
    def __init__(self, w):
        self.w = w


MODEL = _Model(np.array([1.0, 2.0, 3.0]))


def _uses_an_object(x):
    return np.sum(MODEL.w * x ** 2)


def test_a_trace_with_an_identity_guard_is_not_stored(disk):
    ad.grad(_uses_an_object)(X)
    g = ad.grad(_uses_an_object)
    np.testing.assert_allclose(g(X), 2 * MODEL.w * X)
    assert g.stats.disk_traces == 0 and g.stats.traces == 1


def _branchy(x):
    return np.sum(x ** 2) if x[0] > 0 else np.sum(x ** 3)


def test_guards_of_a_served_trace_still_decide(disk):
    ad.grad(_branchy)(X)  # x[0] > 0
    g = ad.grad(_branchy)
    np.testing.assert_allclose(g(-X), 3 * X ** 2)  # the stored path's guard fails: traced
    assert g.stats.disk_traces == 0 and g.stats.traces == 1
    g = ad.grad(_branchy)
    np.testing.assert_allclose(g(X), 2 * X)  # the entry now holds the other path: traced again
    assert g.stats.disk_traces == 0 and g.stats.traces == 1
    h = ad.grad(_branchy)
    np.testing.assert_allclose(h(X), 2 * X)
    assert h.stats.disk_traces == 1


def _rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_hessian_and_hvp_are_served(disk):
    from scipy.optimize import rosen_hess, rosen_hess_prod

    x, v = np.linspace(-1.2, 1.5, 6), np.arange(6.0)
    for _ in range(2):
        h, p = ad.hessian(_rosen), ad.hvp(_rosen)
        np.testing.assert_allclose(h(x), rosen_hess(x), rtol=1e-12)
        np.testing.assert_allclose(p(x, v), rosen_hess_prod(x, v), rtol=1e-12)
    assert h.stats.disk_traces == 1 and p.stats.disk_traces == 1


def test_a_served_specialization_is_traced_when_its_graph_is_needed(disk):
    ad.grad(_rosen)(X)
    g = ad.grad(_rosen)
    g(X)
    assert g.stats.disk_traces == 1
    spec = g.specialization_for(X)  # export, n_nodes and vmap need the trace
    assert spec.trace is not None and g.stats.traces == 1
    assert "def " in ad.export_source(g, X)


def test_served_code_asks_for_a_trace_once_it_deserves_the_compiled_tier():
    due = []
    served = trace_cache.Served(lambda a: a + 1, object(), due.append, upgrade_after=0.0)
    assert served(1) == 2 and served(2) == 3
    assert len(due) == 1  # once


def _long_loop(x):
    s = 0.0
    for i in list(range(60)):  # over a list: unrolled
        s = s + x[i % 3] * 1e-3
    return s


def test_a_trace_that_warned_is_not_stored(disk):
    from pyautodiff.errors import TraceSizeWarning

    with pytest.warns(TraceSizeWarning):
        ad.grad(_long_loop, loop_limit=50)(X)
    g = ad.grad(_long_loop, loop_limit=50)
    with pytest.warns(TraceSizeWarning):  # traced again, so it warns again
        np.testing.assert_allclose(g(X), [0.02, 0.02, 0.02])
    assert g.stats.disk_traces == 0


def test_a_trace_that_writes_outside_is_not_stored(disk):
    def noisy(x):
        warnings.warn("from the traced code", UserWarning)  # replayed on every call: an effect
        return np.sum(x ** 2)

    with pytest.warns(UserWarning):
        ad.grad(noisy)(X)
    g = ad.grad(noisy)
    with pytest.warns(UserWarning):
        g(X)
    assert g.stats.disk_traces == 0


COUNT = 0


def _counts(x):
    global COUNT
    COUNT = COUNT + 1  # done by the trace alone: a process served from disk would skip it
    return np.sum(x ** 2)


def test_a_trace_that_stores_a_global_or_a_nonlocal_is_not_stored(disk, monkeypatch):
    monkeypatch.setitem(globals(), "COUNT", 0)
    ad.grad(_counts)(X)
    monkeypatch.setitem(globals(), "COUNT", 0)  # as in a new process
    g = ad.grad(_counts)
    np.testing.assert_allclose(g(X), 2 * X)
    assert g.stats.disk_traces == 0 and COUNT == 1

    def make():
        n = 0

        def f(x):
            nonlocal n
            n = 1
            return np.sum(x ** 2)
        return f

    ad.grad(make())(X)
    g = ad.grad(make())
    g(X)
    assert g.stats.disk_traces == 0


def test_the_trace_cache_can_be_turned_off(disk, monkeypatch):
    ad.grad(_rosen)(X)
    monkeypatch.setenv("PYAUTODIFF_TRACE_CACHE", "0")
    g = ad.grad(_rosen)
    g(X)
    assert g.stats.disk_traces == 0 and g.stats.traces == 1


# -- new processes ---------------------------------------------------------------------------

_MODULE = """
import numpy as np

SCALE = {scale}

def helper(x):
    return np.sum(x ** {power})

def f(x, c={default}):
    return SCALE * c * helper(x)
"""

_DRIVER = """
import json, sys, warnings
sys.path.insert(0, {where!r})
import numpy as np, pyautodiff as ad
import mod
x = np.array([0.3, 0.7, -1.1])
g, h = ad.grad(mod.f), ad.hessian(mod.f)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out = [g(x).tolist(), h(x).tolist()]
print(json.dumps(dict(out=out, disk=g.stats.disk_traces + h.stats.disk_traces,
                      traces=g.stats.traces + h.stats.traces,
                      warned=[str(w.message)[:60] for w in caught])))
"""


def _run(tmp_path, scale=2, power=2, default=1.0):
    (tmp_path / "mod.py").write_text(_MODULE.format(scale=scale, power=power, default=default))
    env = dict(os.environ, PYAUTODIFF_CODE_CACHE=str(tmp_path / "cache"), PYAUTODIFF_TRACE_CACHE="1",
               PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-c", _DRIVER.format(where=str(tmp_path))], capture_output=True,
                         text=True, env=env, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _want(scale, power, c):
    x = np.array([0.3, 0.7, -1.1])
    return scale * c * power * x ** (power - 1), np.diag(scale * c * power * (power - 1) * x ** (power - 2))


def _check(run, scale, power, c):
    grad, hess = _want(scale, power, c)
    np.testing.assert_allclose(run["out"][0], grad, rtol=1e-12)
    np.testing.assert_allclose(run["out"][1], hess, rtol=1e-12)


def test_a_new_process_is_served_and_an_edited_module_or_a_bad_entry_is_not(tmp_path):
    # (string hashes are salted per process: a hit shows the key does not depend on them)
    cold = _run(tmp_path)
    _check(cold, 2, 2, 1.0)
    assert cold["traces"] == 2 and cold["disk"] == 0
    warm = _run(tmp_path)
    _check(warm, 2, 2, 1.0)
    assert warm["traces"] == 0 and warm["disk"] == 2
    for scale, power in ((3, 2), (3, 3)):  # a global, then a helper's body (defaults: in-process above)
        edited = _run(tmp_path, scale, power)
        _check(edited, scale, power, 1.0)
        assert edited["disk"] == 0 and edited["traces"] == 2, (scale, power)
    cache = tmp_path / "cache"
    for name in sorted(p for p in os.listdir(cache) if p.endswith(".npz")):
        if b'"deps"' not in _source_of(cache, name):  # the code entries: trace entries point to nothing
            os.unlink(cache / name)
    run = _run(tmp_path, 3, 3)
    _check(run, 3, 3, 1.0)
    assert run["disk"] == 0 and run["traces"] == 2
    for name in os.listdir(cache):  # garbage everywhere
        if name.endswith(".npz"):
            (cache / name).write_bytes(b"PK\x03\x04 not a zip")
    run = _run(tmp_path, 3, 3)
    _check(run, 3, 3, 1.0)
    assert run["disk"] == 0 and run["traces"] == 2
    assert any("ignored the code cache entry" in w for w in run["warned"])


def _source_of(cache, name):
    with np.load(cache / name, allow_pickle=False) as z:
        return z["source"].tobytes()


def test_keys_need_plain_arguments_and_a_plain_function(disk):
    g = ad.grad(_rosen)
    assert trace_cache.key_of(g, (("a", (3,), "d"),)) is not None
    assert trace_cache.key_of(g, ((int, 3),)) is None  # a static value of an unusual kind
    assert trace_cache.key_of(ad.grad(_rosen, mode="c"), (("a", (3,), "d"),)) is None
    assert trace_cache.key_of(ad.value_and_grad(_rosen), (("a", (3,), "d"),)) is None
    k = trace_cache.key_of(g, (("a", (3,), "d"),))
    assert k != trace_cache.key_of(g, (("a", (4,), "d"),))
    assert k != trace_cache.key_of(ad.grad(_rosen, loop_limit=10), (("a", (3,), "d"),))
