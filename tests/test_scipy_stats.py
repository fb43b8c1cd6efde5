"""scipy.stats as scientists call it, differentiated in the data, loc, scale and shapes.

The emulator runs scipy.stats' own Python (``map(np.asarray, args)``, argument
checks, ``loc``/``scale`` handling, frozen distributions); the C ufuncs at its
bottom have formulas (lowering/special_distributions.py).  Every case checks
the compiled value against scipy's and every derivative against central finite
differences of scipy itself.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats as st

import pyautodiff as ad

from helpers import numeric_grad

U = np.array([0.25, 0.5, 0.8])  # inside every standard support used below
Q = np.array([0.2, 0.45, 0.7])  # (scipy's stdtrit is too coarse at 0.5 for finite differences)
LOC, SCALE = 0.1, 1.3

CONTINUOUS = {  # name: shape parameters
    "norm": (), "t": (4.0,), "cauchy": (), "laplace": (), "logistic": (), "expon": (), "gamma": (2.5,),
    "invgamma": (3.0,), "beta": (2.0, 3.0), "lognorm": (0.7,), "weibull_min": (1.5,), "chi2": (3.0,),
    "uniform": (), "truncnorm": (-1.0, 2.0), "halfnorm": (),
}
METHODS = ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf")
DISCRETE = {"poisson": (2.5,), "binom": (6, 0.3), "nbinom": (4.5, 0.4), "geom": (0.3,), "bernoulli": (0.3,)}
DISCRETE_METHODS = ("logpmf", "pmf", "cdf", "logcdf", "sf", "logsf")
K = np.array([0.0, 1.0, 3.0])


def _check(f, args, wrt, rtol=1e-6):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(ad.function(f)(*args), f(*args), rtol=1e-9)
        grads = ad.grad(f, wrt=wrt)(*args)
    for i, g in zip(wrt, grads):
        want = numeric_grad(lambda v, i=i: f(*args[:i], v, *args[i + 1:]), args[i])
        np.testing.assert_allclose(g, want, rtol=rtol, atol=rtol * 1e-2, err_msg=f"argument {i}")


@pytest.mark.parametrize("name", CONTINUOUS)
def test_continuous(name):
    """logpdf/pdf/cdf/logcdf/sf/logsf/ppf in the data, loc, scale and every shape parameter."""
    shapes = CONTINUOUS[name]
    dist = getattr(st, name)

    def f(x, q, loc, scale, *shapes):
        total = 0.0
        for i, m in enumerate(METHODS):
            at = q if m == "ppf" else x
            total = total + (1.0 + 0.1 * i) * np.sum(getattr(dist, m)(at, *shapes, loc=loc, scale=scale))
        return total

    args = (LOC + SCALE * U, Q, LOC, SCALE, *shapes)
    _check(f, args, tuple(range(len(args))))


@pytest.mark.parametrize("name", DISCRETE)
def test_discrete_in_the_probability_parameter(name):
    """logpmf/pmf/cdf/logcdf/sf/logsf in the last (real) parameter, also frozen with a loc."""
    dist = getattr(st, name)
    *fixed, p = DISCRETE[name]
    k = {"bernoulli": np.zeros(3), "geom": K + 1}.get(name, K)  # (bernoulli's logsf(1) is -inf)

    def f(p):
        total = 0.0
        frozen = dist(*fixed, p, loc=2)
        for i, m in enumerate(DISCRETE_METHODS):
            total = total + (1.0 + 0.1 * i) * np.sum(getattr(dist, m)(k, *fixed, p))
            total = total + (0.5 + 0.1 * i) * np.sum(getattr(frozen, m)(k + 2))
        return total

    _check(f, (p,), (0,))


@pytest.mark.parametrize("name", DISCRETE)
def test_discrete_ppf(name):
    """ppf is scipy's integer value; its derivative is zero in q and the parameters, one in loc
    (finite differences see the same: no jump lies within their step of these points)."""
    dist = getattr(st, name)
    *fixed, p = DISCRETE[name]

    def f(q, p, loc):
        return np.sum(dist.ppf(q, *fixed, p, loc=loc) * np.array([1.0, 1.2, 1.4])) \
            + 0.5 * np.sum(dist(*fixed, p, loc=loc).ppf(q[::-1]))

    q = np.array([0.2, 0.45, 0.65])  # (bernoulli(0.3) jumps at 0.7)
    _check(f, (q, p, LOC), (0, 1, 2))
    grads = ad.grad(f, wrt=(0, 1, 2))(q, p, LOC)
    assert np.all(grads[0] == 0) and grads[1] == 0 and grads[2] == pytest.approx(3 * 1.2 + 1.5)


def test_frozen_distributions():
    def nll(mu, sigma, y):
        return -np.sum(st.norm(mu, sigma).logpdf(y)) - np.sum(st.t(3.0, mu, sigma).logcdf(y))

    _check(nll, (0.3, 1.7, LOC + SCALE * U), (0, 1, 2))


def test_moments_of_frozen_distributions():
    """A frozen distribution's methods without arguments (``mean()``, ``entropy()``) meet its
    traced parameters: they are emulated too (beta's entropy selects with ``np.extract`` of a
    0-d condition; truncnorm's isf subtracts in log space through a complex logsumexp)."""
    def f(loc, scale, a, p):
        g, nb = st.gamma(a, loc=loc, scale=scale), st.nbinom(4.5, p, loc=1)
        return g.mean() + 1.1 * g.var() + 1.2 * g.std() + 1.3 * g.entropy() + 1.4 * g.median() \
            + 1.5 * nb.mean() + 1.6 * nb.var() + 1.7 * nb.stats(moments="sk")[1] \
            + 1.8 * st.beta(a, 3.0).entropy() + np.sum(st.truncnorm(-1.0, 2.0, loc=loc, scale=scale).isf(Q))

    _check(f, (LOC, SCALE, 2.5, 0.4), (0, 1, 2, 3))


def test_multivariate_normal_in_mean_and_cov():
    x = np.array([[0.5, 0.1], [-0.3, 0.8], [0.2, -0.4]])
    cov = np.array([[1.0, 0.3], [0.3, 2.0]])

    def f(mean, c):
        frozen = st.multivariate_normal(mean, c)
        return np.sum(st.multivariate_normal.logpdf(x, mean, c)) + frozen.pdf(x[0]) + 0.5 * frozen.entropy()

    mean = np.array([0.1, -0.2])
    g_mean, g_cov = ad.grad(f, wrt=(0, 1))(mean, cov)
    np.testing.assert_allclose(g_mean, numeric_grad(lambda m: f(m, cov), mean), rtol=1e-6)
    # scipy factors the lower triangle (eigh): a symmetric perturbation moves both halves together
    sym = g_cov + g_cov.T - np.diag(np.diag(g_cov))
    want = numeric_grad(lambda c: f(mean, np.tril(c) + np.tril(c, -1).T), cov)
    np.testing.assert_allclose(np.tril(sym), np.tril(want), rtol=1e-6, atol=1e-9)


def test_dirichlet_in_alpha_and_x():
    def f(z, a):  # x on the simplex through a softmax, so finite differences stay on it
        x = np.exp(z) / np.sum(np.exp(z))
        return st.dirichlet.logpdf(x, a) + st.dirichlet.pdf(x, a)

    _check(f, (np.array([0.2, -0.3, 0.5]), np.array([1.5, 2.0, 3.0])), (0, 1))


def test_student_t_regression_likelihood():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + st.t.rvs(3.0, size=30, random_state=rng)

    def nll(w, log_sigma, log_df):
        return -np.sum(st.t.logpdf(y, np.exp(log_df), loc=X @ w, scale=np.exp(log_sigma)))

    _check(nll, (np.array([0.8, -1.5, 0.2]), 0.1, 1.0), (0, 1, 2))


# -- what scipy.stats' own code needed from the emulator -------------------------------------

def test_place_under_a_false_traced_mask_sends_no_nan():
    # rv_continuous.ppf places `_a * scale + loc` (-inf * scale) where q == 0: nowhere here
    def f(s):
        out = np.zeros(3)
        np.place(out, np.full(3, s) < 0, -np.inf * s)
        return np.sum(out) + s

    assert ad.grad(f)(1.3) == 1.0
    assert ad.function(f)(-1.0) == f(-1.0)  # a true mask retraces (guarded), then writes


def test_empty_selection_sends_no_nan():
    def f(s):
        return np.sum((np.array([-np.inf, 1.0, 2.0]) * s)[np.zeros(3, dtype=bool)]) + s

    assert ad.grad(f)(1.3) == 1.0
