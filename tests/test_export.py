"""export_source: standalone numpy code that equals the library's results."""
import builtins
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.optimize

import pyautodiff as ad

from test_examples import mlp_loss, nll, seed


def load_numpy_only(source):
    """exec the exported source where importing anything but numpy fails."""
    real_import = builtins.__import__

    def only_numpy(name, *args, **kwargs):
        if name.split(".")[0] not in ("numpy", "io", "base64"):
            raise ImportError(f"exported code imported {name}")
        return real_import(name, *args, **kwargs)

    safe_builtins = dict(vars(builtins), __import__=only_numpy)
    namespace = {"__builtins__": safe_builtins}
    exec(compile(source, "<exported>", "exec"), namespace)
    # the derivative is defined last, after any helper (sigmoid, solve...) it calls
    return [v for k, v in namespace.items() if callable(v) and not k.startswith("_")
            and getattr(v, "__code__", None) is not None and v.__code__.co_filename == "<exported>"][-1]


def same(a, b):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            same(a[k], b[k])
    else:
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12, atol=1e-300)
        assert np.shape(a) == np.shape(b)


def roundtrip(g, *args, new_args=None):
    source = ad.export_source(g, *args)
    fn = load_numpy_only(source)
    same(fn(*args), g(*args))
    if new_args is not None:  # new values of the same structure
        same(fn(*new_args), g(*new_args))
    return source


@pytest.fixture
def loglinear():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=(40, 5)), rng.integers(0, 3, 40)


def test_seed_function_value_and_gradient():
    src = roundtrip(ad.value_and_grad(seed, wrt=(0, 1)), 2.0, 5.0, new_args=(3.0, 0.5))
    assert "def value_and_grad_seed(x1, x2):" in src
    assert "with respect to x1, x2" in src


def test_loglinear_gradient_computes_exp_once(loglinear):
    W, b, X, y = loglinear
    rng = np.random.default_rng(1)
    src = roundtrip(ad.grad(nll, wrt=("W", "b")), *loglinear,
                    new_args=(rng.normal(size=W.shape), b, X, rng.integers(0, 3, 40)))
    assert src.count("np.exp(") == 1, src
    assert "import pyautodiff" not in src and "pytensor" not in src
    assert "def grad_nll(W, b, X, y):" in src


def test_mlp_gradient():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    params = (rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=(6, 3)), rng.normal(size=3))
    roundtrip(ad.grad(mlp_loss, wrt=(0, 1, 2, 3)), *params, X, y)


def test_rosen_gradient_and_hvp():
    x = np.linspace(-1, 1.5, 6)
    v = np.cos(np.arange(6.0))
    roundtrip(ad.grad(scipy.optimize.rosen), x, new_args=(x * 0.5,))
    src = roundtrip(ad.hvp(scipy.optimize.rosen), x, v)
    assert "def hvp_rosen(x, v):" in src


def branchy(x):
    if np.sum(x) > 0:
        return np.sum(np.exp(x))
    return np.sum(x ** 2)


def test_guarded_branch_checks_its_path():
    g = ad.grad(branchy)
    x = np.array([0.5, 1.0])
    src = roundtrip(g, x, new_args=(x * 2,))
    fn = load_numpy_only(src)
    with pytest.raises(ValueError, match="another path"):
        fn(-x)
    assert "np.sum(x) > 0" in src  # the guard is named in the header


def test_wrong_shape_is_refused():
    fn = load_numpy_only(ad.export_source(ad.grad(seed, wrt=0), 2.0, 5.0))
    with pytest.raises(ValueError, match="shape"):
        fn(np.ones(2), 5.0)


def test_structured_parameters_and_other_transformations():
    def loss(params, X):
        return np.sum(np.tanh(X @ params["W"]) ** 2) + np.sum(params["b"] ** 2)

    rng = np.random.default_rng(3)
    p = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    X = rng.normal(size=(5, 3))
    roundtrip(ad.grad(loss), p, X)
    roundtrip(ad.function(loss), p, X)
    roundtrip(ad.hessian(lambda x: np.sum(np.sin(x) * x ** 2)), np.array([0.3, 1.2]))
    roundtrip(ad.jacobian(lambda x: np.tanh(x) * x[0]), np.array([0.3, 1.2]))
    roundtrip(ad.jvp(lambda x: np.exp(x) * 2), np.array([0.3, 1.2]), np.array([1.0, -1.0]))


def test_not_a_transformation():
    with pytest.raises(ad.AutodiffError):
        ad.export_source(seed, 2.0, 5.0)


def test_command_line_writes_and_verifies(tmp_path):
    module = tmp_path / "model.py"
    module.write_text(textwrap.dedent("""
        import numpy as np

        def loss(W, b, X):
            return np.sum(np.log1p(np.exp(X @ W + b)))

        def example_args():
            rng = np.random.default_rng(0)
            return rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 3))
    """))
    out = tmp_path / "loss_grad.py"
    proc = subprocess.run([sys.executable, "-m", "pyautodiff", "export", f"{module}:loss", "--wrt", "W,b",
                           "--example", f"{module}:example_args", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matches pyautodiff" in proc.stdout
    fn = load_numpy_only(out.read_text())
    rng = np.random.default_rng(0)
    W, b, X = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 3))
    s = 1 / (1 + np.exp(-(X @ W + b)))
    gW, gb = fn(W, b, X)
    np.testing.assert_allclose(gW, X.T @ s, rtol=1e-12)
    np.testing.assert_allclose(gb, s.sum(0), rtol=1e-12)


def test_python_float_parameters_with_broadcasting():
    def logp(mu, sigma, data):
        z = (data - mu) / sigma
        return np.sum(-0.5 * z ** 2 - np.log(sigma))

    data = np.linspace(-1, 2, 7)
    roundtrip(ad.grad(logp, wrt=(0, 1)), 0.3, 1.7, data, new_args=(-0.2, 0.9, data))


def test_exported_sigmoid_keeps_its_overflow_check():
    # the helper's errstate-decorated exp is a module-level name: exported with the functions
    def nll(w, X, y):
        return np.sum(np.log1p(np.exp(-y * (X @ w))))

    rng = np.random.default_rng(5)
    X, w, y = rng.normal(size=(50, 2)), np.zeros(2), np.sign(rng.normal(size=50))
    source = ad.export_source(ad.grad(nll), w, X, y)
    assert "_sigmoid_exp = np.errstate(over=\"raise\")(np.exp)" in source
    fn = load_numpy_only(source)
    big = np.array([400.0, 0.0])  # margins up to about 1000: exp overflows in the hand form
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fn(big, X, y)
    z = y * (X @ big)
    v = -y * np.exp(-np.logaddexp(0.0, z))  # -y * sigmoid(-z), stable
    np.testing.assert_allclose(got, X.T @ v, rtol=1e-12, atol=1e-300)


def test_a_rolled_loops_periodic_index_is_written_as_an_expression():
    # `w[i % 16]` in a rolled loop indexes with the steps' remainders: a readable
    # `np.arange(...) % 16`, not a stored blob of 1 000 integers
    def f(x, w):
        for i in range(1000):
            x = x + 0.01 * np.sin(x) * w[i % 16]
        return x.sum()

    rng = np.random.default_rng(5)
    x, w = rng.normal(size=8), rng.normal(size=16)
    source = roundtrip(ad.grad(f), x, w, new_args=(x + 0.3, w * 0.5))
    assert "b64decode" not in source and "% 16" in source
