"""The scipy.special ufuncs behind scipy.stats: distribution functions and their inverses.

``scipy.stats`` is Python down to its ``_pdf``/``_cdf``/``_ppf`` methods, which
the emulator runs as they are; those end in C ufuncs of ``scipy.special``
(public ones such as ``stdtr``, ``chdtrc``, ``gammaincinv``, and private
Boost wrappers such as ``_beta_pdf``, ``_binom_pmf``).  Each is registered
here by its ufunc object with a PyTensor formula built from functions
PyTensor differentiates (``betainc``, ``gammainc``, ``betaincinv`` ...):
scipy still computes every value, the formula gives the derivative.

Example::

    scipy.stats.t.cdf(x, df)   # -> scipy.special.stdtr(df, x): betainc formula below
"""
from __future__ import annotations

import math

import pytensor.tensor as pt
import scipy.special as sc
from pytensor.gradient import disconnected_grad, zero_grad
from pytensor.tensor import special as pts
from scipy.special import _ufuncs as scu

from .core import elementwise
from .host_ops import scipy_value
from .registry import register_fn
from .special import gammaincc, xlog1py, xlogy

_SQRT2 = math.sqrt(2.0)


def _implicit(inverse, forward, density, params, q):
    """``y = inverse(*params, q)`` with derivatives from ``forward(*params, y) == q``.

    PyTensor's inverse ops (gammaincinv, betaincinv) have no derivative in their
    shape parameters.  With ``y0`` the op's value and ``h = (q - F(params, y0)) / F_y``
    (``F_y = density``), ``y0 + h - zero_grad(h)`` has exactly ``y0``'s value and
    the implicit-function derivatives ``dy/dq = 1 / F_y``, ``dy/dp = -F_p / F_y``.
    """
    y0 = disconnected_grad(inverse(*params, q))  # not zero_grad: the op is not asked for a derivative
    slope = zero_grad(density(*params, y0))
    h = (q - forward(*params, y0)) / slope
    return y0 + (h - zero_grad(h))


def _gamma_density(a, y):
    return pt.exp((a - 1.0) * pt.log(y) - y - pt.gammaln(a))


def _beta_density(a, b, y):
    return pt.exp((a - 1.0) * pt.log(y) + (b - 1.0) * pt.log1p(-y) - pts.betaln(a, b))


def _gammaincinv(a, q):
    return _implicit(pt.gammaincinv, pt.gammainc, _gamma_density, (a,), q)


def _gammainccinv(a, q):
    # Q = 1 - P: PyTensor's derivative of gammaincc in a is a coarser series than gammainc's
    return _implicit(pt.gammainccinv, lambda a, y: 1.0 - pt.gammainc(a, y), lambda a, y: -_gamma_density(a, y),
                     (a,), q)


def _betaincinv(a, b, q):
    return _implicit(pt.betaincinv, pt.betainc, _beta_density, (a, b), q)


def _betainccinv(a, b, q):
    # x with 1 - I_x(a, b) = q, i.e. I_{1-x}(b, a) = q
    return _implicit(lambda a, b, q: 1.0 - pt.betaincinv(b, a, q), lambda a, b, y: _betaincc(a, b, y),
                     lambda a, b, y: -_beta_density(a, b, y), (a, b), q)


def _betaincc(a, b, x):
    # 1 - I_x(a, b), taken as I_{1-x}(b, a) above the mean, where 1 - I would cancel
    upper = pt.gt(x, a / (a + b))
    return pt.switch(upper, pt.betainc(b, a, 1.0 - x), 1.0 - pt.betainc(a, b, x))


def _stdtr(df, t):
    tail = 0.5 * pt.betainc(df / 2.0, 0.5, df / (df + t * t))
    return pt.switch(pt.lt(t, 0), tail, 1.0 - tail)


def _stdtrit_value(df, p):
    lower = pt.lt(p, 0.5)
    x = pt.betaincinv(df / 2.0, 0.5, 2.0 * pt.switch(lower, p, 1.0 - p))
    magnitude = pt.sqrt(df * (1.0 - x) / x)
    return pt.switch(lower, -magnitude, magnitude)


def _t_density(df, t):
    log_norm = pt.gammaln((df + 1.0) / 2.0) - pt.gammaln(df / 2.0) - 0.5 * pt.log(df * math.pi)
    return pt.exp(log_norm - (df + 1.0) / 2.0 * pt.log1p(t * t / df))


def _stdtrit(df, p):
    # derivatives from stdtr (the sqrt above has an infinite slope at the median)
    return _implicit(_stdtrit_value, _stdtr, _t_density, (df,), p)


def _binom_pmf(k, n, p):
    log_choose = pt.gammaln(n + 1.0) - pt.gammaln(k + 1.0) - pt.gammaln(n - k + 1.0)
    return pt.exp(log_choose + xlogy(k, p) + xlog1py(n - k, -p))


def _binom_cdf(k, n, p):
    k = pt.floor(k)
    inside = pt.lt(k, n)
    return pt.switch(inside, pt.betainc(pt.switch(inside, n - k, 1.0), k + 1.0, 1.0 - p), 1.0)


def _binom_sf(k, n, p):
    k = pt.floor(k)
    inside = pt.lt(k, n)
    return pt.switch(inside, pt.betainc(k + 1.0, pt.switch(inside, n - k, 1.0), p), 0.0)


def _nbinom_pmf(k, n, p):
    log_choose = pt.gammaln(k + n) - pt.gammaln(n) - pt.gammaln(k + 1.0)
    return pt.exp(log_choose + n * pt.log(p) + xlog1py(k, -p))


def _poch(z, m):
    # Gamma(z + m) / Gamma(z) through log|Gamma| (no overflow for large z), signs apart
    sign = pt.sign(pt.gamma(z + m)) * pt.sign(pt.gamma(z))
    return sign * pt.exp(pt.gammaln(z + m) - pt.gammaln(z))


# name in scipy.special (public) or scipy.special._ufuncs (private) -> PyTensor builder
PUBLIC = {
    "expm1": pt.expm1,
    "log1p": pt.log1p,
    "exp2": lambda x: pt.exp2(x),
    "exp10": lambda x: pt.exp(x * math.log(10.0)),
    "cbrt": lambda x: pt.sgn(x) * pt.abs(x) ** (1.0 / 3.0),
    "poch": _poch,
    "stdtr": _stdtr,
    "stdtrit": _stdtrit,
    "chdtr": lambda v, x: pt.gammainc(v / 2.0, x / 2.0),
    "chdtrc": lambda v, x: gammaincc(v / 2.0, x / 2.0),
    "chdtri": lambda v, y: 2.0 * _gammainccinv(v / 2.0, y),
    "gammaincinv": _gammaincinv,
    "gammainccinv": _gammainccinv,
    "betaincc": _betaincc,
    "betaincinv": _betaincinv,
    "betainccinv": _betainccinv,
    "ndtri_exp": lambda y: -_SQRT2 * pt.erfcinv(2.0 * pt.exp(y)),
    "pdtr": lambda k, m: gammaincc(pt.floor(k) + 1.0, m),
    "pdtrc": lambda k, m: pt.gammainc(pt.floor(k) + 1.0, m),
    "bdtr": lambda k, n, p: _binom_cdf(k, n, p),
    "bdtrc": lambda k, n, p: _binom_sf(k, n, p),
    "nbdtr": lambda k, n, p: pt.betainc(n, pt.floor(k) + 1.0, p),
    "nbdtrc": lambda k, n, p: _betaincc(n, pt.floor(k) + 1.0, p),
}
PRIVATE = {
    "_beta_pdf": lambda x, a, b: pt.exp(xlogy(a - 1.0, x) + xlog1py(b - 1.0, -x) - pts.betaln(a, b)),
    "_beta_ppf": lambda q, a, b: _betaincinv(a, b, q),
    "_binom_pmf": _binom_pmf,
    "_binom_cdf": _binom_cdf,
    "_binom_sf": _binom_sf,
    "_nbinom_pmf": _nbinom_pmf,
    # discrete quantiles: integer-valued, piecewise constant (derivative zero a.e.), by scipy
    "_binom_ppf": lambda q, n, p: scipy_value("scipy.special._ufuncs._binom_ppf", q, n, p),
    "_nbinom_ppf": lambda q, n, p: scipy_value("scipy.special._ufuncs._nbinom_ppf", q, n, p),
    "_binom_isf": lambda q, n, p: scipy_value("scipy.special._ufuncs._binom_isf", q, n, p),
    "_nbinom_isf": lambda q, n, p: scipy_value("scipy.special._ufuncs._nbinom_isf", q, n, p),
    "_nbinom_cdf": lambda k, n, p: pt.betainc(n, pt.floor(k) + 1.0, p),
    "_nbinom_sf": lambda k, n, p: _betaincc(n, pt.floor(k) + 1.0, p),
    # nbinom's moments (failures before the n-th success)
    "_nbinom_mean": lambda n, p: n * (1.0 - p) / p,
    "_nbinom_variance": lambda n, p: n * (1.0 - p) / (p * p),
    "_nbinom_skewness": lambda n, p: (2.0 - p) / pt.sqrt(n * (1.0 - p)),
    "_nbinom_kurtosis_excess": lambda n, p: 6.0 / n + p * p / (n * (1.0 - p)),
    "_cauchy_ppf": lambda p, loc, scale: loc + scale * pt.tan(math.pi * (p - 0.5)),
    "_cauchy_isf": lambda p, loc, scale: loc - scale * pt.tan(math.pi * (p - 0.5)),
    "_log1mexp": lambda x: pt.log1mexp(x),
    "_lgam1p": lambda x: pt.gammaln(1.0 + x),
    "_log1pmx": lambda x: pt.log1p(x) - x,
}


def install() -> None:
    for table, home, prefix in ((PUBLIC, sc, "scipy.special."), (PRIVATE, scu, "scipy.special._ufuncs.")):
        for public, fn in table.items():
            uf = getattr(home, public, None)
            if uf is None:  # an older scipy without this ufunc
                continue
            name = prefix + public
            register_fn(uf, elementwise(uf, fn, name=name), "scipy.special", name=name)


install()
