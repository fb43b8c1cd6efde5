"""Verification mode: the original code re-run, derivatives checked numerically."""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import pyautodiff as ad

from test_examples import nll, nll_grad_by_hand


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=(20, 5)), rng.integers(0, 3, 20)


def test_correct_objective_passes_silently_for_20_calls(data):
    g = ad.grad(nll, wrt=("W", "b"), verify=True)
    rng = np.random.default_rng(1)
    W, b, X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(20):
            W2 = W + 0.1 * rng.normal(size=W.shape)
            gW, gb = g(W2, b, X, y)
            np.testing.assert_allclose(gW, nll_grad_by_hand(W2, b, X, y)[0], rtol=1e-12, atol=1e-14)
    assert g.stats.verifications == 20


COUNTER = {"n": 0}


def hidden_state(x):
    COUNTER["n"] += 1  # a result that changes between calls with equal inputs
    return np.sum(x ** 2) * COUNTER["n"]


def test_hidden_state_is_caught_and_named():
    g = ad.grad(hidden_state, verify=1)
    with pytest.raises(ad.VerificationError) as info:
        g(np.ones(3))
        g(np.ones(3))
    msg = str(info.value)
    assert "hidden_state" in msg and "'value'" in msg and "(3,)" in msg
    assert isinstance(info.value, AssertionError)


def test_every_n_and_warn_mode():
    g = ad.grad(hidden_state, verify=ad.Verify(every=3, on_fail="warn"))
    with pytest.warns(ad.VerificationWarning):
        for _ in range(4):
            g(np.ones(2))
    assert g.stats.verifications == 2  # calls 1 and 4


GLOBAL_DATA = np.array([1.0, 2.0, 3.0])


def test_mutated_global_is_retraced_or_caught_never_stale():
    def f(x):
        return np.sum(GLOBAL_DATA * x)

    g = ad.grad(f, verify=True)
    g(np.ones(3))
    GLOBAL_DATA[:] = [4.0, 5.0, 6.0]
    try:
        np.testing.assert_allclose(g(np.ones(3)), [4.0, 5.0, 6.0])
    finally:
        GLOBAL_DATA[:] = [1.0, 2.0, 3.0]


def test_check_grad_reports_a_wrong_custom_gradient(data):
    W, b, X, y = data
    good = ad.check_grad(nll, W, b, X, y, wrt=0)
    assert good.ok, good
    bad = ad.check_grad(nll, W, b, X, y, wrt=0, grad=lambda W, b, X, y: nll_grad_by_hand(W, b, X, y)[0] * 1.01)
    assert not bad.ok and bad.grad_error > 1e-3
    assert "FAILED" in repr(bad) and "grad" in repr(bad)
    broken = ad.check_grad(lambda x: x, np.ones(3))  # non-scalar: reported, not raised
    assert not broken.ok


def test_every_transformation_verifies():
    A = np.array([[2.0, 0.5], [0.3, 1.0]])

    def quad(x):
        return 0.5 * x @ A @ x + np.sum(np.sin(x))

    def vec(x):
        return np.tanh(A @ x)

    x = np.array([0.3, -0.7])
    v = np.array([1.0, 2.0])
    for t in (ad.value_and_grad(quad, verify=True), ad.hessian(quad, verify=True),
              ad.jacobian(vec, verify=True), ad.function(vec, verify=True)):
        t(x)
        assert t.stats.verifications == 1
    ad.hvp(quad, verify=True)(x, v)
    ad.jvp(vec, verify=True)(x, v)
    ad.vjp(vec, verify=True)(x, v)


def test_no_false_alarms_on_200_objectives_of_varied_scale():
    rng = np.random.default_rng(42)
    forms = [
        lambda x, c: c * np.sum(np.log1p(x ** 2)),
        lambda x, c: c * np.sum(np.exp(-x ** 2) * np.cos(x)),
        lambda x, c: c * np.log(np.sum(np.exp(x))),
        lambda x, c: c * np.sum(x ** 4 - 2 * x ** 2 + x),
        lambda x, c: c * np.sum(np.tanh(x) * x),
    ]
    failures = []
    for i in range(200):
        form = forms[i % len(forms)]
        c = 10.0 ** rng.uniform(-8, 8)
        s = 10.0 ** rng.uniform(-2, 1)
        x = rng.normal(size=rng.integers(1, 6)) * s
        report = ad.check_grad(lambda z, form=form, c=c: form(z, c), x, seed=i)
        if not report.ok:
            failures.append((i, c, s, report))
    assert not failures, failures[:3]


def test_environment_variable_sets_the_default(tmp_path):
    script = tmp_path / "env_check.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, pyautodiff as ad
        n = {"k": 0}
        def f(x):
            n["k"] += 1
            return np.sum(x) * n["k"]
        g = ad.grad(f)
        try:
            g(np.ones(2)); g(np.ones(2))
        except ad.VerificationError:
            print("caught")
        else:
            print("silent")
    """))
    env = dict(os.environ, PYAUTODIFF_VERIFY="1")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "caught", out.stderr
    env["PYAUTODIFF_VERIFY"] = "0"
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "silent", out.stderr


def test_pytest_option_verifies_a_whole_session(tmp_path):
    (tmp_path / "test_user_code.py").write_text(textwrap.dedent("""
        import numpy as np, pyautodiff as ad
        state = {"k": 0}
        def f(x):
            state["k"] += 1
            return np.sum(x ** 2) * state["k"]
        def test_uses_grad():
            g = ad.grad(f)
            g(np.ones(2)); g(np.ones(2))
    """))
    env = {k: v for k, v in os.environ.items() if k != "PYAUTODIFF_VERIFY"}
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    plain = subprocess.run(base, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert "1 passed" in plain.stdout, plain.stdout + plain.stderr
    verified = subprocess.run(base + ["--autodiff-verify"], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path, env=env)
    assert "1 failed" in verified.stdout and "VerificationError" in verified.stdout, verified.stdout
    # the bare option before a path must not take the path as its N
    before = subprocess.run(base[:-1] + ["--autodiff-verify", str(tmp_path)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env=env)
    assert "1 failed" in before.stdout, before.stdout + before.stderr
    every = subprocess.run(base + ["--autodiff-verify=5", "-v"], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path, env=env)
    assert "verifying values and derivatives (every 5 call(s))" in every.stdout, every.stdout
