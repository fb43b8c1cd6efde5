"""Values read from outside the arguments are never stale on a cached call (issue 19).

Every case changes outside state between two calls of one transformed function
and compares with what CPython computes (or a hand-written derivative)."""
import os
import types

import numpy as np
import pytest

import pyautodiff as ad


class Model:
    def __init__(self, y):
        self.y = y

    def loglike(self, q):
        return -np.sum((self.y - q) ** 2)


MODELS = {}
MODEL_LIST = [None]


def test_bootstrap_over_models_replaced_in_a_dict():
    g = ad.grad(lambda q: MODELS["m"].loglike(q))
    q = np.array([0.5, -1.0])
    rng = np.random.default_rng(0)
    for _ in range(3):
        y = rng.normal(size=2)
        MODELS["m"] = Model(y)
        np.testing.assert_allclose(g(q), 2 * (y - q), rtol=1e-12)


def test_model_replaced_in_a_list():
    g = ad.grad(lambda q: MODEL_LIST[0].loglike(q))
    q = np.array([0.5, -1.0])
    for y in (np.array([1.0, 2.0]), np.array([-3.0, 0.0])):
        MODEL_LIST[0] = Model(y)
        np.testing.assert_allclose(g(q), 2 * (y - q), rtol=1e-12)


T = (9.0, 2.0)


def _uses_tuple(x):
    return x * T[0] + T[1]


def test_rebound_global_tuple():
    global T
    g = ad.function(_uses_tuple)
    T = (9.0, 2.0)
    assert g(1.0) == _uses_tuple(1.0) == 11.0
    T = (3.0, 1.0)
    assert g(1.0) == _uses_tuple(1.0) == 4.0


G = [1.0, 2.0]


def _uses_len(x):
    return x * len(G)


def test_len_of_a_global_list_after_append():
    g = ad.function(_uses_len)
    assert g(2.0) == 4.0
    G.append(3.0)
    assert g(2.0) == _uses_len(2.0) == 6.0
    G.pop()


def _iterates(x):
    total = 0.0
    for w in G:
        total = total + w * x
    return total


def test_iteration_over_a_global_list_after_it_changes():
    g = ad.function(_iterates)
    assert g(2.0) == _iterates(2.0)
    G.append(4.0)
    try:
        assert g(2.0) == _iterates(2.0)
        G[0] = 10.0
        assert g(2.0) == _iterates(2.0)
    finally:
        G[:] = [1.0, 2.0]


class Cfg:
    lr = 0.5


def test_class_attribute():
    g = ad.grad(lambda x: Cfg.lr * x ** 2)
    assert g(1.0) == 1.0
    Cfg.lr = 7.0
    try:
        assert g(1.0) == 14.0
    finally:
        Cfg.lr = 0.5


class WithClassDefault:
    scale = 2.0

    def f(self, x):
        return self.scale * x


def test_class_attribute_read_through_an_instance():
    obj = WithClassDefault()
    g = ad.function(obj.f)
    assert g(1.0) == 2.0
    WithClassDefault.scale = 5.0
    try:
        assert g(1.0) == 5.0
    finally:
        WithClassDefault.scale = 2.0


cfgmod = types.ModuleType("cfgmod")
cfgmod.scale = 2.0
cfgmod.power = 2


def test_module_attributes():
    g = ad.function(lambda x: cfgmod.scale * x ** cfgmod.power)
    assert g(3.0) == 18.0
    cfgmod.scale, cfgmod.power = 1.0, 3
    try:
        assert g(3.0) == 27.0
    finally:
        cfgmod.scale, cfgmod.power = 2.0, 2


RNG = np.random.default_rng(42)


def _noisy(x):
    return x + RNG.normal(size=3)


def test_reseeded_generator_draws_from_the_new_one():
    global RNG
    g = ad.function(_noisy)
    x = np.zeros(3)
    RNG = np.random.default_rng(42)
    first = g(x)
    expected = np.random.default_rng(42).normal(size=3)
    np.testing.assert_array_equal(first, expected)
    RNG = np.random.default_rng(42)  # re-seeding by rebinding: the same draws again
    np.testing.assert_array_equal(g(x), expected)
    RNG = np.random.default_rng(7)
    np.testing.assert_array_equal(g(x), np.random.default_rng(7).normal(size=3))


def test_environment_variables(monkeypatch):
    monkeypatch.setenv("PYAD_TEST_SCALE", "2")
    monkeypatch.setenv("PYAD_TEST_MODE", "square")

    def f(x):
        s = float(os.environ["PYAD_TEST_SCALE"])
        if os.environ.get("PYAD_TEST_MODE", "linear") == "square":
            return s * x ** 2
        return s * x

    g = ad.function(f)
    assert g(3.0) == f(3.0) == 18.0
    monkeypatch.setenv("PYAD_TEST_SCALE", "5")
    assert g(3.0) == f(3.0) == 45.0
    monkeypatch.delenv("PYAD_TEST_MODE")
    assert g(3.0) == f(3.0) == 15.0


def test_getenv(monkeypatch):
    monkeypatch.setenv("PYAD_TEST_N", "2")
    f = lambda x: x * int(os.getenv("PYAD_TEST_N", "1"))  # noqa: E731
    g = ad.function(f)
    assert g(3.0) == 6.0
    monkeypatch.setenv("PYAD_TEST_N", "4")
    assert g(3.0) == f(3.0) == 12.0


def test_defaults_kwdefaults_and_code_of_a_function():
    def h(x, a=2.0, *, b=1.0):
        return a * x + b

    def other(x, a=2.0, *, b=1.0):
        return a * x - b

    g = ad.function(h)
    assert g(1.0) == 3.0
    h.__defaults__ = (3.0,)
    assert g(1.0) == h(1.0) == 4.0
    h.__kwdefaults__ = {"b": 10.0}
    assert g(1.0) == h(1.0) == 13.0
    h.__code__ = other.__code__
    assert g(1.0) == h(1.0) == -7.0


def _helper(x):
    return 2.0 * x


def _calls_helper(x):
    return _helper(x) + 1.0


def test_code_of_a_helper_replaced():
    g = ad.function(_calls_helper)
    assert g(1.0) == 3.0
    saved = _helper.__code__
    _helper.__code__ = (lambda x: 5.0 * x).__code__
    try:
        assert g(1.0) == _calls_helper(1.0) == 6.0
    finally:
        _helper.__code__ = saved


def test_objects_made_inside_the_trace_are_not_outside_reads():
    def f(x):
        w = [1.0, 2.0]
        a = w[0] * x
        w[0] = 5.0
        return a + w[0] * x

    class Box:
        pass

    def h(x):
        o = Box()
        o.v = 1.0
        a = o.v * x
        o.v = 2.0
        return a + o.v * x

    assert ad.function(f)(1.0) == f(1.0) == 6.0
    assert ad.function(h)(1.0) == h(1.0) == 3.0


def test_plain_functions_keep_the_lean_cached_call():
    # np and len are not guarded; the function's own code and defaults are, inline
    f = lambda x: np.sum(np.exp(x)) * len(x)  # noqa: E731
    t = ad.trace(f, np.ones(3))
    assert [e.kind for e in t.externals] == ["identities"]
    g = ad.function(f)
    g(np.ones(3))
    g(np.ones(3))
    assert g._last_spec.fast_path and g.stats.cache_hits == 1


# -- writes to the outside world -------------------------------------------------------------

class LinFit:
    def __init__(self, X, y):
        self.X, self.y = X, y
        self.coefs = [np.zeros(2), np.zeros(1)]

    def loss(self, w):
        r = self.X @ w - self.y
        self.last_resid = r
        self.coefs[0] = w[:2] * 2.0
        self.coefs[1] = w[2:]
        return r @ r


def test_attribute_and_item_writes_are_plain_values_of_this_call():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=5)
    fit = LinFit(X, y)
    g = ad.grad(fit.loss)
    for w in (np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 0.0]), np.array([4.0, 4.0, 4.0])):
        np.testing.assert_allclose(g(w), 2 * X.T @ (X @ w - y), rtol=1e-12)
        assert type(fit.last_resid) is np.ndarray and type(fit.coefs[0]) is np.ndarray
        np.testing.assert_allclose(fit.last_resid, X @ w - y, rtol=1e-12)
        np.testing.assert_allclose(fit.coefs[0], w[:2] * 2.0, rtol=1e-12)
        np.testing.assert_allclose(fit.coefs[1], w[2:], rtol=1e-12)
    assert g.stats.traces == 1


LOG = []


def _logs(x):
    LOG.append(x * 2.0)
    print("value", x, 3)
    return x ** 2


def test_print_and_append_are_replayed_in_order(capsys):
    g = ad.grad(_logs)
    LOG.clear()
    for x in (1.0, 2.5, -3.0):
        assert g(x) == 2 * x
    assert [float(v) for v in LOG] == [2.0, 5.0, -6.0]
    assert all(type(v) in (float, np.float64) for v in LOG)  # plain values, never the trace's boxes
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [["value", "1.0", "3"], ["value", "2.5", "3"],
                                               ["value", "-3.0", "3"]]
    LOG.clear()


def test_print_of_a_string_built_from_traced_values_is_refused():
    def f(x):
        print(f"loss {x:.3f}")
        return x ** 2

    with pytest.raises(ad.UnsupportedError, match="string built while tracing") as info:
        ad.grad(f)(1.0)
    assert "test_outside_state.py" in str(info.value)


def test_file_writes_are_replayed():
    import io

    out = io.StringIO()

    def f(x):
        out.write("tick\n")
        return x * 3.0

    g = ad.function(f)
    for x in (1.0, 2.0, 3.0):
        assert g(x) == 3 * x
    assert out.getvalue() == "tick\n" * 3


def test_reading_an_outside_list_after_growing_it_is_refused():
    hist = []

    def f(x):
        hist.append(1.0)
        return x * len(hist)

    with pytest.raises(ad.UnsupportedError, match="after changing its length"):
        ad.function(f)(1.0)


def test_sklearn_mlp_objective_leaves_plain_arrays():
    import warnings

    from sklearn.neural_network import MLPRegressor
    from sklearn.neural_network._multilayer_perceptron import _pack

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    mlp = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.fit(X, y)
    layer_units = [X.shape[1], 4, 1]
    activations = [X] + [None] * (len(layer_units) - 1)
    deltas = [None] * (len(activations) - 1)
    coef_grads = [np.empty((a, b)) for a, b in zip(layer_units[:-1], layer_units[1:])]
    intercept_grads = [np.empty(b) for b in layer_units[1:]]
    Y = y.reshape(-1, 1)

    def loss(w):
        return mlp._loss_grad_lbfgs(w, X, Y, None, activations, deltas, coef_grads, intercept_grads)[0]

    g = ad.grad(loss)
    w0 = _pack(mlp.coefs_, mlp.intercepts_)
    for w in (w0, w0 + 0.1 * rng.normal(size=w0.shape)):
        ours = g(w)
        # scikit-learn's own hand-written backpropagation at the same point
        ref = mlp._loss_grad_lbfgs(w.copy(), X, Y, None, [X] + [None] * 2, [None] * 2,
                                   [np.empty((a, b)) for a, b in zip(layer_units[:-1], layer_units[1:])],
                                   [np.empty(b) for b in layer_units[1:]])[1]
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
        g(w)  # a cached call writes this call's values back
        assert all(type(c) is np.ndarray for c in mlp.coefs_ + mlp.intercepts_)
        np.testing.assert_allclose(np.concatenate([c.ravel() for c in mlp.coefs_ + mlp.intercepts_]), w)
        pred = mlp.predict(X)
        assert pred.shape == (20,) and np.all(np.isfinite(pred))


def test_warnings_logging_and_sys_stdout_are_replayed(capsys, caplog):
    import logging
    import sys
    import warnings

    log = logging.getLogger("pyad_test_effects")

    def f(x):
        warnings.warn("careful", UserWarning)
        log.warning("step")
        sys.stdout.write("w\n")
        return x * 2.0

    g = ad.function(f)
    with caplog.at_level(logging.WARNING, logger="pyad_test_effects"):
        for x in (1.0, 2.0, 3.0):
            with pytest.warns(UserWarning, match="careful"):
                assert g(x) == 2 * x
    assert [r.getMessage() for r in caplog.records] == ["step"] * 3
    assert capsys.readouterr().out == "w\n" * 3


class Decorated:
    def __init__(self, a):
        self.a = a

    @ad.grad(wrt="x")
    def energy(self, x):
        return self.a * np.sum(x ** 3)


def test_a_decorated_method_called_inside_a_traced_function():
    m = Decorated(2.0)
    x = np.array([1.0, -2.0])
    np.testing.assert_allclose(m.energy(x), 6 * x ** 2, rtol=1e-12)
    # d/dx sum(grad energy(x)) = d/dx sum(6 x^2) = 12 x
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(m.energy(x)))(x), 12 * x, rtol=1e-12)


class Slotted:
    __slots__ = ("model",)

    def __init__(self, model):
        self.model = model


class Lazy:
    def __init__(self, y):
        self._y = y

    @property
    def y(self):  # a fresh array on every access
        return self._y * 1.0


def test_slots_and_properties():
    holder = Slotted(Model(np.array([1.0, 2.0])))
    g = ad.grad(lambda q: holder.model.loglike(q))
    q = np.zeros(2)
    np.testing.assert_allclose(g(q), 2 * np.array([1.0, 2.0]))
    holder.model = Model(np.array([5.0, -1.0]))
    np.testing.assert_allclose(g(q), 2 * np.array([5.0, -1.0]))
    lazy = Lazy(np.array([1.0, 3.0]))
    h = ad.grad(lambda q: -np.sum((lazy.y - q) ** 2))
    np.testing.assert_allclose(h(q), 2 * np.array([1.0, 3.0]))
    lazy._y = np.array([0.5, 0.5])
    np.testing.assert_allclose(h(q), 2 * np.array([0.5, 0.5]))
    assert h.stats.traces == 1  # the property is fetched on every call, not guarded by identity


def test_an_outside_counter_counts_every_call():
    state = {"n": 0}

    def f(x):
        state["n"] += 1
        return x * state["n"]

    g = ad.function(f)
    for i in range(1, 41):
        assert g(2.0) == 2.0 * i
    assert state["n"] == 40
    assert g.stats.specializations <= 32  # a guard fails on every call; old paths are dropped
