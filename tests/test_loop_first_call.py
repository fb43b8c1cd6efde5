"""The first call of a graph holding a loop (issue #17): the default mode serves it
with light rewrites (``compile.LIGHT_LOOPS``) and swaps in the fully rewritten code
from a background thread started once the first call has returned; and
``infer_static_shape`` (PyTensor's, which every ``zeros`` of the Scan gradient calls)
cut where the types already fix a shape (``pytensor_speedups``).  Expected values are
the hand-written derivatives of tests/test_loops.py and shapes worked out by hand."""
import numpy as np
import pytensor.tensor as pt
import pytest
from pytensor.tensor import basic as ptb
from test_loops import (
    accumulate,
    accumulate_grad,
    fill,
    fill_grad,
    lotka_volterra,
    lotka_volterra_grad,
    rnn,
    rnn_grad,
)

import pyautodiff as ad
from pyautodiff.backend import compile as compile_mod
from pyautodiff.backend import tiered


@pytest.fixture
def default_mode(monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_TIERED", "1")
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", "0")  # a cached graph is never light
    monkeypatch.setattr(tiered, "LOOP_UPGRADE_AFTER_SECONDS", 1e9)  # no Numba here


@pytest.mark.parametrize("case", ["accumulate", "lotka_volterra", "rnn", "fill"])
def test_a_loop_is_served_light_then_fully_rewritten_with_the_same_derivative(default_mode, case):
    rng = np.random.default_rng(3)
    f, args, expected, wrt = {
        "accumulate": (accumulate, (np.linspace(-0.3, 1.2, 8), np.linspace(0.5, 2, 16), 60),
                       accumulate_grad, (0, 1)),
        "lotka_volterra": (lotka_volterra, (np.array([1.0, 0.5, 0.3, 0.4]), 80),
                           lambda *a: (lotka_volterra_grad(*a),), (0,)),
        "rnn": (rnn, (rng.normal(size=(5, 5)) * 0.4, rng.normal(size=(30, 5)), np.zeros(5)),
                rnn_grad, (0, 1)),
        # vectorized: no Scan left, served light all the same
        "fill": (fill, (0.7, -0.2, rng.normal(size=300)), fill_grad, (0, 1)),
    }[case]
    g = ad.grad(f, wrt=wrt if len(wrt) > 1 else wrt[0])
    want = expected(*args)

    def check(got):
        for a, b in zip(got if len(wrt) > 1 else (got,), want):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)

    check(g(*args))
    tiering = g._last_spec.tiering
    assert g.stats.loops_rolled >= 1
    assert tiering.rewrite_thread is not None and tiering.rewrite_thread.ident is not None  # started
    assert tiering.wait_rewrite(timeout=600).startswith("full rewrite")
    assert not getattr(tiering.first_tier, "light", False)
    for _ in range(tiered.MEASURE_CALLS + 2):  # the measuring wrapper, then what it installed
        check(g(*args))


def test_the_background_rewrite_waits_for_the_first_call(default_mode):
    g = ad.grad(lotka_volterra)
    theta = np.array([1.0, 0.5, 0.3, 0.4])
    started = []
    real = tiered.Tiered._start_rewrite

    def spy(self):
        started.append(self.first_tier is not None and self.rewrite_thread.ident is None)
        real(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tiered.Tiered, "_start_rewrite", spy)
        np.testing.assert_allclose(g(theta, 50), lotka_volterra_grad(theta, 50), rtol=1e-10)
    assert started[0]  # called at the end of the first call, with the thread not yet started
    assert g._last_spec.tiering.wait_rewrite(timeout=600).startswith("full rewrite")


def test_light_loops_off_rewrites_fully_at_once(default_mode, monkeypatch):
    monkeypatch.setattr(compile_mod, "LIGHT_LOOPS", False)
    g = ad.grad(lotka_volterra)
    theta = np.array([1.0, 0.5, 0.3, 0.4])
    np.testing.assert_allclose(g(theta, 50), lotka_volterra_grad(theta, 50), rtol=1e-10)
    assert g._last_spec.tiering.rewrite_thread is None
    assert not getattr(g._last_spec.tiering.first_tier, "light", False)


def test_an_explicit_mode_rewrites_a_loop_fully(default_mode):
    g = ad.grad(lotka_volterra, mode="numpy")
    theta = np.array([1.0, 0.5, 0.3, 0.4])
    np.testing.assert_allclose(g(theta, 50), lotka_volterra_grad(theta, 50), rtol=1e-10)
    assert getattr(g._last_spec, "tiering", None) is None and not getattr(g._last_spec.fn, "light", False)


# -- infer_static_shape -----------------------------------------------------------------

def test_static_shape_through_a_static_input():
    x = pt.tensor("x", shape=(5, None))
    y = pt.exp(pt.tensor("y", shape=(4,)))  # a computed value of static shape
    assert pt.zeros((x.shape[0] + 2, 3)).type.shape == (7, 3)
    assert pt.zeros((y.shape[0] * x.shape[0],)).type.shape == (20,)
    assert pt.zeros((x.shape[1], 2)).type.shape == (None, 2)  # not fixed: left open
    sh, static = ptb.infer_static_shape([y.shape[0] - 1, 6])
    assert static == (3, 6) and len(sh) == 2


def test_static_shape_found_by_shape_inference_is_kept():
    # a Scan's output has no static length in its type; shape inference finds n_steps
    import warnings

    import pytensor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PyTensor 3.3: scan's return value
        res = pytensor.scan(lambda h: h * 2, outputs_info=[pt.zeros(3)], n_steps=5)
    out = res[0] if isinstance(res, tuple) else res
    assert out.type.shape == (None, 3)
    assert ptb.infer_static_shape([out.shape[0] + 1, out.shape[1]])[1] == (6, 3)
    assert pt.zeros((out.shape[0] + 1,)).type.shape == (6,)


def _scan_of_two(n_steps):
    import warnings

    import pytensor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PyTensor 3.3: scan's return value
        res = pytensor.scan(lambda h, c: (h * 2, c + 1), outputs_info=[pt.zeros(3), pt.zeros(())],
                            n_steps=n_steps)
    return res[0] if isinstance(res, tuple) else res


def test_open_lengths_of_a_node_are_inferred_once_for_all_its_outputs(monkeypatch):
    from pytensor.graph.traversal import ancestors
    from pytensor.scan.op import Scan

    from pyautodiff.backend import pytensor_speedups

    calls = []
    real = pytensor_speedups._infer_node_shapes
    monkeypatch.setattr(pytensor_speedups, "_infer_node_shapes",
                        lambda node, original: calls.append(node) or real(node, original))
    h, c = _scan_of_two(7)
    scan, = {v.owner for v in ancestors([h, c]) if v.owner is not None and isinstance(v.owner.op, Scan)}
    hb, cb = scan.outputs  # the buffers: the initial state and 7 steps
    assert hb.type.shape == (None, 3) and cb.type.shape == (None,)
    assert pt.zeros((hb.shape[0] - 2, hb.shape[1])).type.shape == (6, 3)
    assert pt.zeros((cb.shape[0],)).type.shape == (8,)  # the other output: no second inference
    assert ptb.infer_static_shape([hb.shape[0] * cb.shape[0]])[1] == (64,)
    assert calls == [scan]


def test_a_length_shape_inference_cannot_fix_stays_open():
    n = pt.iscalar("n")
    h, c = _scan_of_two(n)
    assert pt.zeros((c.shape[0] + 1,)).type.shape == (None,)
    assert pt.zeros((h.shape[1], c.shape[0])).type.shape == (3, None)


def test_static_shape_keeps_the_originals_error():
    with pytest.raises(TypeError, match="integers"):
        ptb.infer_static_shape([pt.scalar("s", dtype="float64")])


# -- add_tag_trace while building ------------------------------------------------------

def test_no_stack_traces_while_building_and_pytensors_own_outside():
    from pytensor.graph import utils

    from pyautodiff.backend.rewrite import without_stack_traces

    original = getattr(utils.add_tag_trace, "__wrapped__", utils.add_tag_trace)
    with without_stack_traces():
        with without_stack_traces():  # nested: still off
            inner = pt.vector("inner") + pt.constant(1.5)
        built = pt.vector("built") * 2.0
    after = pt.vector("after")
    assert inner.tag.trace == [] and built.tag.trace == [] and built.owner.inputs[1].tag.trace == []
    assert utils.add_tag_trace is original  # PyTensor's own again
    assert after.tag.trace and after.tag.trace[0][-1][0] == __file__  # this line, no frame of ours
