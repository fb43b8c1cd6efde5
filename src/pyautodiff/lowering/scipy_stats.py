"""scipy.stats internals whose Python is not real numpy arithmetic, as formulas.

The emulator runs scipy.stats' own Python (argument checks, ``loc``/``scale``,
``_logpdf`` ...).  A few helpers compute with complex numbers to subtract in
log space (``_log_gauss_mass``: ``logsumexp([log_p, log_q + pi*1j])``), which
the real-valued graph cannot follow; each is registered here by its function
object with the same mathematics in real arithmetic.  scipy still computes
the value.

Example::

    scipy.stats.truncnorm.logcdf(x, a, b)   # _log_gauss_mass(a, x) - _log_gauss_mass(a, b)
"""
from __future__ import annotations

import math

import numpy as np
import pytensor.tensor as pt
from scipy.stats import _continuous_distns as _cd
from scipy.stats import _discrete_distns as _dd

from ..traced import unwrap
from .core import lift, vars_for
from .host_ops import scipy_value
from .registry import register
from .special import log_ndtr

_SQRT2 = math.sqrt(2.0)


def _ndtr(x):
    return 0.5 * pt.erfc(-x / _SQRT2)


def _log_diff(log_p, log_q):
    """log(exp(log_p) - exp(log_q)) for log_p >= log_q."""
    return log_p + pt.log1mexp(log_q - log_p)


@register(_cd._log_gauss_mass, group="scipy.stats", name="scipy.stats._continuous_distns._log_gauss_mass")
def log_gauss_mass(a, b):
    value = _cd._log_gauss_mass(unwrap(a), unwrap(b))
    av, bv = vars_for([a, b], np.dtype("float64"))
    av, bv = pt.broadcast_arrays(av, bv)
    left, right = pt.le(bv, 0), pt.gt(av, 0)
    # each case gets arguments valid for it, so the untaken ones stay finite (no NaN gradients)
    lb, la = pt.switch(left, bv, -1.0), pt.switch(left, av, -2.0)
    ra, rb = pt.switch(right, av, 1.0), pt.switch(right, bv, 2.0)
    left_mass = _log_diff(log_ndtr(lb), log_ndtr(la))
    right_mass = _log_diff(log_ndtr(-ra), log_ndtr(-rb))
    central = pt.log1p(-_ndtr(av) - _ndtr(-bv))
    return lift(value, pt.switch(left, left_mass, pt.switch(right, right_mass, central)))


@register(_cd._log_diff, group="scipy.stats", name="scipy.stats._continuous_distns._log_diff")
def log_diff(log_p, log_q):
    """``log(exp(log_p) - exp(log_q))``, which scipy takes as the real part of a complex
    ``logsumexp`` (truncnorm's ``isf``)."""
    value = np.real(_cd._log_diff(unwrap(log_p), unwrap(log_q)))
    return lift(value, _log_diff(*vars_for([log_p, log_q], np.dtype("float64"))))


@register(_dd.poisson_gen._ppf, group="scipy.stats", name="scipy.stats.poisson.ppf")
def poisson_ppf(dist, q, mu):
    """Integer-valued and piecewise constant in ``q`` and ``mu``: scipy computes it, the
    derivative is zero (almost everywhere, as a finite difference sees it)."""
    value = _dd.poisson_gen._ppf(dist, unwrap(q), unwrap(mu))
    return lift(value, scipy_value("scipy.stats.poisson.ppf", *vars_for([q, mu], np.dtype("float64"))))
