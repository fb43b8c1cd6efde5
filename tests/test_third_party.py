"""Real third-party objectives, unchanged, against their own derivatives or finite differences.

statsmodels' models carry analytic scores and Hessians; scipy.stats and scipy.linalg
objectives are checked against central finite differences.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg as sl
import scipy.stats as st

import pyautodiff as ad

from helpers import numeric_grad

sm = pytest.importorskip("statsmodels.api")

rng = np.random.default_rng(0)
N = 60
X = np.column_stack([np.ones(N), rng.normal(size=(N, 2))])
BETA = np.array([0.3, -0.5, 0.8])
Y_BIN = (rng.uniform(size=N) < 1 / (1 + np.exp(-X @ BETA))).astype(float)
Y_COUNT = rng.poisson(np.exp(X @ BETA * 0.5)).astype(float)
Y_CAT = rng.integers(0, 3, size=N).astype(float)
Y_POS = np.exp(X @ BETA * 0.3) * rng.gamma(5.0, 0.2, size=N)


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _against_model(model, params, rtol=1e-8):
    """grad and hessian of model.loglike against the model's own score and hessian."""
    g = _quiet(ad.grad(model.loglike), params)
    np.testing.assert_allclose(g, model.score(params), rtol=rtol, atol=1e-8)
    h = _quiet(ad.hessian(model.loglike), params)
    np.testing.assert_allclose(h, model.hessian(params), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("make", [
    lambda: sm.Logit(Y_BIN, X), lambda: sm.Probit(Y_BIN, X), lambda: sm.Poisson(Y_COUNT, X),
], ids=["Logit", "Probit", "Poisson"])
def test_statsmodels_discrete(make):
    _against_model(make(), BETA * 0.9)


def test_statsmodels_negative_binomial():
    model = sm.NegativeBinomial(Y_COUNT, X)
    params = np.append(BETA * 0.5, 0.7)
    np.testing.assert_allclose(_quiet(ad.grad(model.loglike), params), model.score(params), rtol=1e-8)
    # statsmodels' analytic hessian disagrees with differences of its own score in the alpha row;
    # the Hessian is checked against those differences
    h = _quiet(ad.hessian(model.loglike), params)
    want = np.array([numeric_grad(lambda p, i=i: model.score(p)[i], params) for i in range(4)])
    np.testing.assert_allclose(h, want, rtol=1e-6, atol=1e-7)


def test_statsmodels_mnlogit():
    model = sm.MNLogit(Y_CAT, X)
    params = rng.normal(size=(3, 2)) * 0.3
    g = _quiet(ad.grad(model.loglike), params)
    np.testing.assert_allclose(g.ravel(order="F"), model.score(params), rtol=1e-8)  # score is flattened F-style
    np.testing.assert_allclose(g.ravel(order="F"), model.score(params.ravel(order="F")), rtol=1e-8)


@pytest.mark.parametrize("family,y", [
    (lambda: sm.families.Binomial(link=sm.families.links.Probit()), Y_BIN),
    (lambda: sm.families.Poisson(), Y_COUNT),
    (lambda: sm.families.Gamma(link=sm.families.links.Log()), Y_POS),
    (lambda: sm.families.Gaussian(), Y_POS),
], ids=["binomial-probit", "poisson", "gamma-log", "gaussian"])
def test_statsmodels_glm_with_estimated_scale(family, y):
    model = sm.GLM(y, X, family=family())
    params = BETA * 0.3
    f = lambda b: model.loglike(b, scale=None)  # noqa: E731  (scale estimated from the data: the default)
    g = _quiet(ad.grad(f), params)
    np.testing.assert_allclose(g, numeric_grad(f, params), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(_quiet(ad.grad(model.loglike), params), numeric_grad(model.loglike, params),
                               rtol=1e-6, atol=1e-7)


def test_scipy_stats_likelihood():
    y = st.t.rvs(4.0, loc=1.0, scale=2.0, size=40, random_state=rng)

    def nll(p):
        return -np.sum(st.t.logpdf(y, np.exp(p[2]), loc=p[0], scale=np.exp(p[1])))

    p = np.array([0.5, 0.3, 1.0])
    np.testing.assert_allclose(_quiet(ad.grad(nll), p), numeric_grad(nll, p), rtol=1e-6)


def test_gaussian_process_marginal_likelihood():
    t = np.linspace(0, 3, 12)
    y = np.sin(t) + 0.1 * rng.normal(size=12)

    def nlml(log_ell, log_sf, log_sn):
        d = t[:, None] - t[None, :]
        K = np.exp(2 * log_sf) * np.exp(-0.5 * d ** 2 / np.exp(2 * log_ell)) + np.exp(2 * log_sn) * np.eye(12)
        c, low = sl.cho_factor(K, lower=True)
        alpha = sl.cho_solve((c, low), y)
        return 0.5 * y @ alpha + np.sum(np.log(np.diag(c))) + 0.5 * 12 * np.log(2 * np.pi)

    args = (0.1, 0.2, -1.5)
    grads = ad.grad(nlml, wrt=(0, 1, 2))(*args)
    for i, g in enumerate(grads):
        want = numeric_grad(lambda v: nlml(*args[:i], float(v), *args[i + 1:]), args[i])
        np.testing.assert_allclose(g, want, rtol=1e-6)


def test_sklearn_log_loss_in_the_probabilities():
    metrics = pytest.importorskip("sklearn.metrics")
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.2, 0.7, 0.9, 0.4, 0.6])
    # labels are data: static (scikit-learn encodes them with numpy and scipy.sparse)
    value, g = ad.value_and_grad(metrics.log_loss, wrt=1, static=(0,))(y, p)
    assert value == pytest.approx(metrics.log_loss(y, p), rel=1e-13)
    # -mean(y log p + (1 - y) log(1 - p))
    np.testing.assert_allclose(g, -(y / p - (1 - y) / (1 - p)) / y.size, rtol=1e-12)

    labels = np.array([1, 2, 0, 2])
    probs = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]])
    g = ad.grad(metrics.log_loss, wrt=1, static=(0,))(labels, probs)
    want = np.zeros_like(probs)  # -mean(log p[i, y_i])
    want[np.arange(4), labels] = -1.0 / (4 * probs[np.arange(4), labels])
    np.testing.assert_allclose(g, want, rtol=1e-12)


def test_sklearn_regression_metrics():
    metrics = pytest.importorskip("sklearn.metrics")
    y = np.array([1.0, -0.5, 2.0, 0.3, 1.2])
    pred = np.array([0.8, -0.1, 2.5, 0.0, 1.0])
    np.testing.assert_allclose(ad.grad(metrics.mean_squared_error, wrt=1)(y, pred), 2 * (pred - y) / y.size,
                               rtol=1e-12)
    ss_tot = np.sum((y - y.mean()) ** 2)  # r2 = 1 - sum (y - pred)^2 / ss_tot
    np.testing.assert_allclose(ad.grad(metrics.r2_score, wrt=1)(y, pred), 2 * (y - pred) / ss_tot, rtol=1e-12)


LABELS = np.array([0, 1, 1, 0, 1])


def test_sklearn_log_loss_with_outside_labels():
    """Labels from a global are a constant guarded on their contents: scikit-learn's label
    encoding sees a concrete array, and an in-place change of the labels traces again."""
    metrics = pytest.importorskip("sklearn.metrics")
    p = np.array([0.2, 0.7, 0.9, 0.4, 0.6])
    saved = LABELS.copy()
    g = ad.grad(lambda q: metrics.log_loss(LABELS, q))
    try:
        for flip in (None, 0, 0):  # the second flip restores the first labels
            if flip is not None:
                LABELS[flip] = 1 - LABELS[flip]
            y = LABELS  # -mean(y log p + (1 - y) log(1 - p))
            np.testing.assert_allclose(g(p), -(y / p - (1 - y) / (1 - p)) / y.size, rtol=1e-12)
    finally:
        LABELS[:] = saved
    assert g.stats.traces == 2  # the restored labels reuse the first trace


def test_sklearn_log_loss_with_traced_labels_names_the_function(monkeypatch):
    """Integer labels that are graph inputs (an argument, or an outside array over the
    contents-guard limit) stop in scikit-learn's label encoding: the error names log_loss,
    the user's line, and says to make them static."""
    metrics = pytest.importorskip("sklearn.metrics")
    from pyautodiff import context

    p = np.array([0.2, 0.7, 0.9, 0.4, 0.6])

    def loss(q):
        return metrics.log_loss(LABELS, q)

    monkeypatch.setattr(context, "CONTENT_GUARD_BYTES", 8)  # LABELS is over it: a graph input
    for fn, args in ((loss, (p,)), (lambda y, q: metrics.log_loss(y, q), (LABELS, p))):
        with pytest.raises(ad.UnsupportedError, match=r"sklearn\.metrics\.log_loss.*static=") as info:
            ad.grad(fn, wrt=len(args) - 1)(*args)
        assert info.value.location.filename == __file__


def test_traced_values_into_scipy_sparse_are_refused_with_the_fix():
    sp = pytest.importorskip("scipy.sparse")

    def f(x):
        return sp.csr_matrix(np.diag(x)).sum()

    with pytest.raises(ad.UnsupportedError, match=r"in scipy\.sparse\..*static") as info:
        ad.grad(f)(np.ones(3))
    assert info.value.location.filename == __file__
