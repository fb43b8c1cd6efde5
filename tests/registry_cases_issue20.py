"""Registry cases for the numpy and scipy functions of issue 20's second round (see test_registry.py):
interp, partition, integer scalar types, 1-d convolution and correlation, Bessel functions
of the second kind, discrete quantiles (integer-valued: derivative zero).  Each is checked against numpy's/scipy's value and central finite differences."""
from __future__ import annotations

import numpy as np
import scipy.signal as ss
import scipy.special as sc
import scipy.stats as st
from scipy.special import _ufuncs as scu


def _partition_in_place(x):
    y = x * 1.0
    y.partition((1, 3))
    return y


def add(case, normal, pos, distinct):
    prob = lambda *s: 0.1 + 0.8 * (pos(*s) - 0.5) / 1.5  # noqa: E731  (pos is in (0.5, 2))
    xp, fp = np.array([0.0, 1.0, 2.5, 3.0]), np.array([1.0, -0.5, 2.0, 0.3])
    inside = np.array([0.3, 1.7, 2.9, 0.6])
    case("numpy.interp", np.interp, inside, xp, fp, wrt=(0, 1, 2))
    case("numpy.interp", lambda x, g, f: np.interp(x, g, f, left=-2.0, right=f[0] * 3), np.array([-1.0, 0.4, 3.5]),
         xp, fp, wrt=(0, 2), tag="left/right, outside the grid")
    case("numpy.interp", lambda x, g, f: np.interp(x, g, f), 1.7, xp, fp, tag="scalar x")

    case("numpy.partition", lambda x: np.partition(x, 2), distinct(7))
    case("numpy.partition", lambda x: np.partition(x, (0, 2), axis=0), distinct(4, 3), tag="axis 0, several kth")
    case("numpy.partition", lambda x: np.partition(x, 4, axis=None), distinct(2, 3), tag="flat")
    case("ndarray.partition", _partition_in_place, distinct(6))
    case("numpy.argpartition", lambda x: x[np.argpartition(x, 3)[:3]], distinct(7))
    case("ndarray.argpartition", lambda x: np.take_along_axis(x, x.argpartition(1, axis=1), axis=1), distinct(3, 4))

    for t in (np.int64, np.int32, np.int16, np.int8):  # truncation toward zero; no derivative
        case(f"numpy.{t.__name__}", lambda x, t=t: x * t(x[0] * 3), normal(3))

    a, v = normal(6), normal(3)
    for mode in ("full", "same", "valid"):
        case("numpy.convolve", lambda a, v, mode=mode: np.convolve(a, v, mode), a, v, wrt=(0, 1), tag=mode)
        case("numpy.correlate", lambda a, v, mode=mode: np.correlate(a, v, mode), a, v, wrt=(0, 1), tag=mode)
        case("scipy.signal.convolve", lambda a, v, mode=mode: ss.convolve(a, v, mode), a, v, wrt=(0, 1), tag=mode)
        case("scipy.signal.correlate", lambda a, v, mode=mode: ss.correlate(a, v, mode), a, v, wrt=(0, 1), tag=mode)
    case("numpy.correlate", lambda a, v: np.correlate(a, v, "same"), normal(3), normal(6), wrt=(0, 1),
         tag="same, longer second input")
    case("scipy.signal.convolve", lambda a, v: ss.convolve(a, v, "same"), normal(3), normal(6), wrt=(0, 1),
         tag="same, longer second input")
    case("scipy.signal.fftconvolve", lambda a, v: ss.fftconvolve(a, v, "same"), a, v, wrt=(0, 1), rtol=1e-7)
    case("scipy.signal.oaconvolve", lambda a, v: ss.oaconvolve(a, v), a, v, wrt=(0, 1), rtol=1e-7)

    x = pos(4) * 2 + 0.2
    case("scipy.special.y0", sc.y0, x)
    case("scipy.special.y1", sc.y1, x)
    case("scipy.special.yn", lambda x: sc.yn(3, x), x)
    case("scipy.special.yn", lambda x: sc.yn(np.array([0, 1, 2, 5]), x), x, tag="orders")
    case("scipy.special.yv", lambda x: sc.yv(1.5, x), x)

    # np.unique: distinct values (a tie would split under a finite difference), then repeats
    case("numpy.unique", np.unique, distinct(2, 3))
    case("numpy.unique", lambda x: np.unique(x, return_index=True, return_inverse=True, return_counts=True),
         np.array([3.0, 1.0, 3.0, 2.0, 1.0]), wrt=(), tag="repeats, all outputs")
    case("ndarray.view", lambda x: x.view() * 2, normal(3))
    case("ndarray.view", lambda x: x.view(np.float64)[1:], normal(3), tag="same dtype")

    # discrete quantiles: scipy's integer values, zero derivative in q and the parameters
    # (no jump of these CDFs lies near these points: finite differences are zero too)
    q = np.array([0.2, 0.45, 0.65, 0.9])
    private = "scipy.special._ufuncs."
    case(private + "_binom_ppf", scu._binom_ppf, q, 7.0, 0.4, wrt=(0, 1, 2), grad="zero")
    case(private + "_nbinom_ppf", scu._nbinom_ppf, q, 3.5, 0.4, wrt=(0, 1, 2), grad="zero")
    case("scipy.stats.poisson.ppf", lambda q, mu: st.poisson.ppf(q, mu), q, 2.5, wrt=(0, 1), grad="zero")
    case("scipy.stats.poisson.ppf", lambda q, mu: st.poisson(mu, loc=2).ppf(q), q, np.array([0.7, 2.5, 4.0, 9.0]),
         wrt=(0, 1), grad="zero", tag="frozen, loc")
    for name in ("_binom_isf", "_nbinom_isf"):
        case(private + name, getattr(scu, name), q, 7.0, 0.4, wrt=(0, 1, 2), grad="zero")
    for name in ("_nbinom_mean", "_nbinom_variance", "_nbinom_skewness", "_nbinom_kurtosis_excess"):
        case(private + name, getattr(scu, name), pos(4) * 3, prob(4), wrt=(0, 1))
    case("numpy.extract", lambda x: np.extract(x[0] < 10.0, x[1:]), normal(3), tag="0-d traced condition")
