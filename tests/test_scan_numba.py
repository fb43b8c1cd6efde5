"""The Numba tier's form of a rolled loop (backend/scan_numba.py): our generated loop and
body jitted in place of PyTensor's Numba ``Scan``.  Its gradients must equal the
hand-written ones and the numpy tier's, every Scan of these loops must take our form
(none silently falls back), and a Scan it does not cover must still run right on
PyTensor's form.  ``mode="numba"`` forces the tier (no waiting for the timing)."""
import numba
import numpy as np
import pytest
from test_loops import (
    THETA,
    W16,
    accumulate,
    accumulate_grad,
    lotka_volterra,
    lotka_volterra_grad,
    rnn,
    rnn_grad,
)

import pyautodiff as ad
from pyautodiff.backend import scan_numba
from pyautodiff.backend.scan_numpy import loop_source as numpy_loop_source
from pyautodiff.backend.scan_numpy import scan_order


@pytest.fixture
def forms(monkeypatch):
    """Records which form each Scan compiled by the Numba linker took."""
    taken = []
    ours = scan_numba.numba_scan

    def recording(op, node):
        try:
            out = ours(op, node)
        except scan_numba.Unsupported as exc:
            taken.append(f"pytensor: {exc}")
            raise
        taken.append("ours")
        return out

    monkeypatch.setattr(scan_numba, "numba_scan", recording)
    return taken


def test_scalar_states_at_ten_thousand_steps(forms):
    # Lotka-Volterra on scalars: 0-d states, 0-d non-sequences, an untraced state backward
    n = 10_000
    g = ad.grad(lotka_volterra, mode="numba")
    got = g(THETA, n)
    np.testing.assert_allclose(got, lotka_volterra_grad(THETA, n), rtol=1e-8)
    np.testing.assert_allclose(got, ad.grad(lotka_volterra, mode="numpy")(THETA, n), rtol=1e-12)
    assert forms and forms == ["ours"] * len(forms), forms
    theta2 = THETA * 0.9  # the same compiled code, other values
    np.testing.assert_allclose(g(theta2, n), lotka_volterra_grad(theta2, n), rtol=1e-8)


def test_array_states_sequences_and_per_step_outputs(forms):
    # a sequence read at i % 16, a per-step output (the loop's guard), mit-mot backward
    x, w, n = np.linspace(-0.3, 1.2, 8), np.linspace(0.5, 2, 16), 300
    gx, gw = ad.grad(accumulate, wrt=(0, 1), mode="numba")(x, w, n)
    ex, ew = accumulate_grad(x, w, n)
    np.testing.assert_allclose(gx, ex, rtol=1e-10)
    np.testing.assert_allclose(gw, ew, rtol=1e-10)
    nx, nw = ad.grad(accumulate, wrt=(0, 1), mode="numpy")(x, w, n)
    np.testing.assert_allclose(gx, nx, rtol=1e-13)
    np.testing.assert_allclose(gw, nw, rtol=1e-13)
    assert forms and forms == ["ours"] * len(forms), forms


def test_matrix_vector_body(forms):
    x, h = np.random.default_rng(3).normal(size=(50, 16)), np.zeros(16)
    gW, gx = ad.grad(rnn, wrt=(0, 1), mode="numba")(W16, x, h)
    eW, ex = rnn_grad(W16, x, h)
    np.testing.assert_allclose(gW, eW, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(gx, ex, rtol=1e-10, atol=1e-13)
    assert "ours" in forms, forms


def test_a_scan_our_form_does_not_cover_runs_on_pytensors(monkeypatch):
    def unsupported(op, node):
        raise scan_numba.Unsupported("as if Numba could not type the body")

    monkeypatch.setattr(scan_numba, "numba_scan", unsupported)
    theta, n = THETA * 1.05, 120
    np.testing.assert_allclose(ad.grad(lotka_volterra, mode="numba")(theta, n), lotka_volterra_grad(theta, n),
                               rtol=1e-9)


# -- the loop text alone, jitted, against a plain Python loop -------------------------------
def _run_both(n_steps, seqs, bufs, nit_sizes, non_seqs, layout, body):
    """The Numba loop and the numpy tier's loop over the same body and layout."""
    taps_in, as_while, nit_dtypes, nit_ndims = layout
    src = scan_numba.loop_source("loop", "body", len(seqs), (), (), taps_in, nit_dtypes, nit_ndims, (),
                                 len(non_seqs), [k for k, a in enumerate(non_seqs) if np.ndim(a) == 0],
                                 as_while)
    env = {"np": np, "body": numba.njit(body), "order": numba.njit(scan_numba.order)}
    exec(src, env)
    jitted = numba.njit(env["loop"])(np.array(n_steps), *seqs, *bufs, *[np.array(s) for s in nit_sizes],
                                      *[np.asarray(a) for a in non_seqs])
    env = {"np": np, "body": body, "scan_order": scan_order}
    exec(numpy_loop_source("loop", "body", len(seqs), (), (), taps_in, nit_dtypes, nit_ndims, 0, len(non_seqs),
                           as_while), env)
    plain = env["loop"](n_steps, *seqs, *bufs, *nit_sizes, *non_seqs)
    return jitted if isinstance(jitted, tuple) else (jitted,), plain


def test_two_taps_a_short_circular_buffer_and_a_per_step_vector():
    # x[t] = x[t-1] + c * x[t-2] * s[t]; the buffer keeps 3 rows of 10 steps; y[t] = (x, 2x)
    def body(s, x2, x1, c):
        x = x1 + c * x2 * s
        return x, np.array([x, 2.0 * x])

    s, c = np.linspace(0.5, 1.5, 10), 0.3
    jitted, plain = _run_both(10, [s], [np.array([1.0, 2.0, 0.0])], [10], [c],
                              (((-2, -1),), False, ("float64",), (1,)), body)
    xs = [1.0, 2.0]
    for t in range(10):
        xs.append(xs[-1] + c * xs[-2] * s[t])
    np.testing.assert_allclose(jitted[0], xs[-3:], rtol=1e-15)  # the last 3 states, oldest first
    np.testing.assert_allclose(jitted[1], np.stack([xs[2:], 2 * np.array(xs[2:])], axis=1), rtol=1e-15)
    for a, b in zip(jitted, plain):
        np.testing.assert_array_equal(a, b)


def test_an_until_condition_stops_the_loop():
    def body(x, limit):
        y = x * 1.5
        return y, y > limit

    jitted, plain = _run_both(20, [], [np.zeros(21) + 1.0], [], [10.0], (((-1,),), True, (), ()), body)
    steps = 0
    x = 1.0
    while True:  # 1.5^6 > 10 after 6 steps
        x, steps = x * 1.5, steps + 1
        if x > 10.0:
            break
    assert jitted[0].shape == (steps + 1,)
    np.testing.assert_allclose(jitted[0], 1.5 ** np.arange(steps + 1), rtol=1e-15)
    np.testing.assert_array_equal(jitted[0], plain[0])


def test_a_loop_bodys_sums_add_in_numpys_order(forms):
    # the body is numpy code jitted by Numba, where x.sum() is Numba's own sum, one element
    # after another: the loop's value differed from the numpy tier's and CPython's by 5e-4
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8, 25)) * 10.0 ** rng.uniform(-5, 5, size=(60, 8, 25))
    w = rng.normal(size=25)

    def f(w, X):
        h = np.zeros((8, 25))
        s = 0.0
        r = np.zeros(8)
        for t in range(X.shape[0]):
            h = 0.5 * h + X[t] * w
            s = s + np.sum(h * h)
            r = r + 0.25 * h.sum(axis=1)
        return s, r

    want = f(w, X)
    got = ad.function(f, mode="numba")(w, X)
    assert forms and forms == ["ours"] * len(forms), forms
    assert got[0] == want[0]
    np.testing.assert_array_equal(got[1], want[1])
