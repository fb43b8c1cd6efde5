"""scipy.optimize wrappers: derived derivatives, structured parameters."""
import numpy as np
import pytest
import scipy.optimize as so

import pyautodiff as ad

from helpers import assert_close
from test_examples import nll, nll_grad_by_hand

HAND = {"jac": so.rosen_der, "hess": so.rosen_hess, "hessp": so.rosen_hess_prod}
USES = {"L-BFGS-B": ("jac",), "BFGS": ("jac",), "CG": ("jac",), "Newton-CG": ("jac", "hessp"),
        "trust-ncg": ("jac", "hessp"), "trust-exact": ("jac", "hess")}


@pytest.mark.parametrize("method", list(USES))
def test_rosen_from_zeros_to_ones(method):
    options = {"maxiter": 2000, **({"xtol": 1e-10} if method == "Newton-CG" else {})}
    res = ad.minimize(so.rosen, np.zeros(5), method=method, options=options)
    assert res.success, res.message
    assert_close(res.x, np.ones(5), rtol=0, atol=1e-4)
    if method == "CG":  # CG amplifies last-bit rounding differences into another path
        return
    # the same path as scipy with the analytic derivatives
    ref = so.minimize(so.rosen, np.zeros(5), method=method, options=options, **{k: HAND[k] for k in USES[method]})
    assert res.nit == ref.nit
    assert_close(res.x, ref.x, rtol=1e-6, atol=1e-8)


def test_one_value_and_grad_call_per_evaluation():
    calls = []

    def f(x):
        calls.append(1)  # an outside write: replayed by every call of the compiled function
        return so.rosen(x)

    res = ad.minimize(f, np.zeros(4), verify=False)
    assert res.nfev > 10
    # one value-and-gradient call per evaluation (separate value and gradient calls would
    # append twice), all from one trace
    assert len(calls) == res.nfev


def test_logistic_regression_with_tuple_params_matches_scipy_with_hand_gradient():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = rng.integers(0, 3, 60)
    W0, b0 = np.zeros((3, 4)), np.zeros(3)

    def loss(params, X, y):
        W, b = params
        return nll(W, b, X, y)

    res = ad.minimize(loss, (W0, b0), args=(X, y))
    W, b = res.x
    assert isinstance(res.x, tuple) and W.shape == (3, 4) and b.shape == (3,)

    def flat(z):
        return nll(z[:12].reshape(3, 4), z[12:], X, y)

    def flat_grad(z):
        gW, gb = nll_grad_by_hand(z[:12].reshape(3, 4), z[12:], X, y)
        return np.concatenate([gW.ravel(), gb])

    ref = so.minimize(flat, np.zeros(15), jac=flat_grad, method="L-BFGS-B")
    assert res.fun == pytest.approx(ref.fun, rel=1e-8)
    assert_close(np.concatenate([W.ravel(), b]), ref.x, rtol=0, atol=1e-4)


def test_dict_parameters_keep_their_structure():
    def f(p):
        return np.sum((p["a"] - 3.0) ** 2) + (p["s"] + 1.0) ** 2

    res = ad.minimize(f, {"a": np.zeros(3), "s": np.array(0.0)})
    assert set(res.x) == {"a", "s"}
    assert_close(res.x["a"], [3.0, 3.0, 3.0], atol=1e-6)
    assert float(res.x["s"]) == pytest.approx(-1.0, abs=1e-6)


def test_fmin_functions_return_scipys_values():
    x, f, d = ad.fmin_l_bfgs_b(so.rosen, np.zeros(3))
    assert_close(x, np.ones(3), atol=1e-4)
    assert f == pytest.approx(0.0, abs=1e-8) and d["warnflag"] == 0
    for fmin in (ad.fmin_cg, ad.fmin_bfgs, ad.fmin_ncg):
        xopt = fmin(so.rosen, np.zeros(3), disp=False)
        assert_close(xopt, np.ones(3), atol=1e-4)
    xopt, fopt, *rest = ad.fmin_bfgs(so.rosen, np.zeros(3), disp=False, full_output=True)
    assert fopt == pytest.approx(0.0, abs=1e-10)


def test_bounds_callback_and_progress(capsys):
    seen = []
    res = ad.minimize(lambda x: np.sum((x - 2.0) ** 2), np.zeros(2), bounds=[(0, 1), (0, 5)],
                      callback=lambda x: seen.append(x.copy()), progress=True)
    assert_close(res.x, [1.0, 2.0], atol=1e-6)
    assert seen and seen[-1].shape == (2,)


def test_user_supplied_jac_is_refused_clearly():
    with pytest.raises(ad.AutodiffError, match="derives jac"):
        ad.minimize(so.rosen, np.zeros(2), jac=so.rosen_der)
