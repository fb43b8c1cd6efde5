"""Registry cases for the scipy.special distribution ufuncs and scipy.linalg (see test_registry.py).

``add(case, ...)`` appends them to test_registry's table, so they are checked
like every other entry: the compiled value against scipy's, the gradient of a
random weighting of the outputs against central finite differences.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sl
import scipy.special as sc
from scipy.special import _ufuncs as scu


def add(case, normal, pos, uniform, spd):
    prob = lambda *s: uniform(0.1, 0.9, *s)  # noqa: E731
    counts = np.array([0.0, 1.0, 3.0, 5.0])
    for name in ("expm1", "log1p", "cbrt"):
        case(f"scipy.special.{name}", getattr(sc, name), pos(3))
    for name in ("exp2", "exp10"):
        case(f"scipy.special.{name}", getattr(sc, name), normal(3))
    # PyTensor's own d/dk of gammaincc is wrong here (-43014 for 0.04995 at k=30, x=25)
    case("scipy.special.gammaincc", sc.gammaincc, np.array([30.0, 3.0]), np.array([25.0, 5.0]), wrt=(0, 1),
         tag="large arguments")
    case("scipy.special.poch", sc.poch, pos(4) * 3, normal(4), wrt=(0, 1))
    case("scipy.special.stdtr", sc.stdtr, pos(4) * 3, normal(4), wrt=(0, 1))
    case("scipy.special.stdtrit", sc.stdtrit, pos(4) * 3, prob(4), wrt=(0, 1))
    for name in ("chdtr", "chdtrc"):
        case(f"scipy.special.{name}", getattr(sc, name), pos(4) * 2, pos(4), wrt=(0, 1))
    case("scipy.special.chdtri", sc.chdtri, pos(4) * 2, prob(4), wrt=(0, 1))
    for name in ("gammaincinv", "gammainccinv"):
        case(f"scipy.special.{name}", getattr(sc, name), pos(4) * 2, prob(4), wrt=(0, 1))
    case("scipy.special.betaincc", sc.betaincc, pos(4) * 2, pos(4) * 2, prob(4), wrt=(0, 1, 2))
    case("scipy.special.betaincinv", sc.betaincinv, pos(4) * 2, pos(4) * 2, prob(4), wrt=(0, 1, 2))
    case("scipy.special.betainccinv", sc.betainccinv, pos(4) * 2, pos(4) * 2, prob(4), wrt=(0, 1, 2))
    case("scipy.special.ndtri_exp", sc.ndtri_exp, -pos(4), rtol=1e-7)
    for name in ("pdtr", "pdtrc"):
        case(f"scipy.special.{name}", getattr(sc, name), counts, pos(4) * 2, wrt=(1,))
    for name in ("bdtr", "bdtrc"):
        case(f"scipy.special.{name}", getattr(sc, name), counts, 6, prob(4), wrt=(2,))
    for name in ("nbdtr", "nbdtrc"):
        case(f"scipy.special.{name}", getattr(sc, name), counts, 4.0, prob(4), wrt=(2,))
    private = "scipy.special._ufuncs."
    case(private + "_beta_pdf", scu._beta_pdf, prob(4), pos(4) * 2, pos(4) * 2, wrt=(0, 1, 2))
    case(private + "_beta_ppf", scu._beta_ppf, prob(4), pos(4) * 2, pos(4) * 2, wrt=(0, 1, 2))
    for name in ("_binom_pmf", "_binom_cdf", "_binom_sf"):
        case(private + name, getattr(scu, name), counts, 6, prob(4), wrt=(2,))
    for name in ("_nbinom_pmf", "_nbinom_cdf", "_nbinom_sf"):
        case(private + name, getattr(scu, name), counts, 2.5, prob(4), wrt=(2,))
    case(private + "_nbinom_pmf", scu._nbinom_pmf, counts, pos(4) * 2, 0.4, wrt=(1,), tag="n")
    for name in ("_cauchy_ppf", "_cauchy_isf"):
        case(private + name, getattr(scu, name), prob(4), normal(4), pos(4), wrt=(0, 1, 2))
    if hasattr(scu, "_log1mexp"):  # a private ufunc scipy added after 1.15, our minimum
        case(private + "_log1mexp", scu._log1mexp, -pos(4))
    case(private + "_lgam1p", scu._lgam1p, pos(4))
    case(private + "_log1pmx", scu._log1pmx, pos(4))

    # -- scipy.stats internals -----------------------------------------------------------
    from scipy.stats import _continuous_distns as cd
    # the left tail, the right tail and the central case of truncnorm's log-mass
    case("scipy.stats._continuous_distns._log_gauss_mass", cd._log_gauss_mass, np.array([-3.0, 0.5, -1.0]),
         np.array([-1.0, 2.0, 1.5]), wrt=(0, 1))
    # scipy's value is complex (a logsumexp with i*pi), real for log_p > log_q; truncnorm takes np.real
    case("scipy.stats._continuous_distns._log_diff", lambda p, q: np.real(cd._log_diff(p, q)), np.array([-0.5, 0.3, -2.0]),
         np.array([-1.0, -0.2, -7.0]), wrt=(0, 1))

    # -- scipy.linalg --------------------------------------------------------------------
    a, b, vec = normal(4, 4), normal(4, 2), normal(4)
    tri = np.tril(normal(4, 4)) + 3 * np.eye(4)
    case("scipy.linalg.cholesky", sl.cholesky, spd(4))
    case("scipy.linalg.cholesky", lambda s: sl.cholesky(s, lower=True, check_finite=False), spd(4), tag="lower")
    case("scipy.linalg.cho_factor", lambda s: sl.cho_factor(s)[0], spd(4))
    case("scipy.linalg.cho_solve", lambda s, y: sl.cho_solve(sl.cho_factor(s, lower=True), y), spd(4), b,
         wrt=(0, 1))
    case("scipy.linalg.cho_solve", lambda c, y: sl.cho_solve((c, False), y), np.ascontiguousarray(sl.cholesky(spd(4))), vec, wrt=(0, 1),
         tag="upper factor, vector")
    case("scipy.linalg.solve_triangular", lambda t, y: sl.solve_triangular(t, y, lower=True), tri, b, wrt=(0, 1))
    case("scipy.linalg.solve_triangular", lambda t, y: sl.solve_triangular(t.T, y, trans="T", unit_diagonal=True),
         tri, vec, wrt=(0, 1), tag="trans, unit diagonal")
    case("scipy.linalg.solve", sl.solve, a + 4 * np.eye(4), b, wrt=(0, 1))
    case("scipy.linalg.solve", lambda s, y: sl.solve(s, y, assume_a="pos", lower=True), spd(4), vec, wrt=(0, 1),
         tag="assume_a pos")
    case("scipy.linalg.solve", lambda m, y: sl.solve(m, y, transposed=True), a + 4 * np.eye(4), vec, wrt=(0, 1),
         tag="transposed")
    case("scipy.linalg.inv", sl.inv, a + 4 * np.eye(4))
    case("scipy.linalg.det", sl.det, a)
    case("scipy.linalg.expm", lambda m: sl.expm(0.3 * m), a)
    case("scipy.linalg.eigh", lambda s: sl.eigh(s)[1] ** 2, spd(4))  # squares: signs are a convention
    case("scipy.linalg.eigh", lambda s: sl.eigh(s, lower=False, eigvals_only=True), spd(4), tag="upper, values")
    case("scipy.linalg.lu_factor", lambda m: sl.lu_factor(m)[0], a)
    case("scipy.linalg.lu_solve", lambda m, y: sl.lu_solve(sl.lu_factor(m), y), a, b, wrt=(0, 1))
    case("scipy.linalg.lu_solve", lambda m, y: sl.lu_solve(sl.lu_factor(m), y, trans=1), a, vec, wrt=(0, 1),
         tag="trans")
    case("scipy.linalg.lu", sl.lu, a)
    case("scipy.linalg.lu", lambda m: sl.lu(m, permute_l=True), a, tag="permute_l")
    case("scipy.linalg.solve_sylvester", sl.solve_sylvester, spd(3), spd(2), normal(3, 2), wrt=(0, 1, 2))
    band = np.vstack([normal(4), 4 + normal(4), normal(4)])
    case("scipy.linalg.solve_banded", lambda ab, y: sl.solve_banded((1, 1), ab, y), band, b, wrt=(0, 1))
    case("scipy.linalg.block_diag", lambda m, v: sl.block_diag(m, v, 2.0), a, normal(3), wrt=(0, 1))
