"""Random, valid numpy programs for differential testing of pyautodiff.

A program is drawn with hypothesis from a small grammar and rendered to Python
*source text*, written to a module file and imported, so the function under
test is real user code with real bytecode: ``if``/``while`` on data, ``for``
loops, comprehensions, helper functions, lambdas, ``out[i] = ...`` writes,
early ``return``s, ``try``/``except``.

Every expression carries its static shape and an interval bounding its values
(interval arithmetic).  An operation with a restricted domain (``log``,
``sqrt``, division, ``arcsin`` ...) gets an argument whose interval lies in the
domain, with a margin (otherwise the argument is shifted or squashed into it),
and values are kept moderate, so programs never produce NaN/inf on the inputs
they are drawn with.

Each program is rendered twice from the same draw:
- the *user* text (what pyautodiff traces and CPython runs), and
- the *probe* text, identical in value, where every non-smooth decision (a
  comparison, ``abs``, ``maximum``, ``max`` reductions, ``floor``, an
  ``int()`` of data ...) is recorded.  The finite-difference check runs the
  probe at ``x +- h`` and compares only coordinates whose decisions did not
  change, i.e. where the function is smooth at the scale of the step.

The grammar is table-driven (``UNARY``, ``BINARY``, ``REDUCTIONS``,
``PRODUCTS``, ``EMULATED`` ...): each row names the registry entries it needs
and is used only if the lowering registry has them, so new lowerings are added
by adding rows.

Modes: ``"values"`` (``ad.function`` against CPython; float32/int inputs
too), ``"grad"`` (``ad.grad`` of a scalarized version against finite
differences; float64), ``"raise"`` (one fault statement is injected that
raises, depending on the data, an exception CPython raises: pyautodiff must
raise the same).

Known library bugs: constructs that currently trigger a reported library bug
are listed in ``KNOWN_BUGS`` and left out of the grammar unless the
environment variable ``PYAUTODIFF_FUZZ_KNOWN_BUGS=1`` is set (or the name is
listed in it, comma-separated).  When a bug is fixed, remove its entry.
"""
from __future__ import annotations

import atexit
import collections
import hashlib
import importlib.util
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import scipy.special
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pyautodiff.lowering.registry import FUNCTIONS, METHODS


def _sp(name):
    """scipy.special.<name>, or a placeholder the registry never has."""
    return getattr(scipy.special, name, "missing:" + name)


# -- known library bugs (see module docstring) ---------------------------------------------------

# Fixed, now exercised: compare-fn-pyscalar, fancy-negative-dup-grad, math-domain-cached,
# pyfloat-shape, grad-constant, guard-rounding (regression tests in tests/test_errors.py and
# tests/test_guards.py), tie-grad (tests/test_ties.py; gradients at max/min/clip ties are
# compared where no decision changes), dead-index-error (tests/test_guards.py), pyfloat-result
# (tests/test_emulator.py), linalg-ones-grad (tests/test_special_values.py).
KNOWN_BUGS = {
}


def _enabled_known_bugs():
    raw = os.environ.get("PYAUTODIFF_FUZZ_KNOWN_BUGS", "")
    if raw.strip() in ("1", "all", "yes", "true"):
        return set(KNOWN_BUGS)
    return {s.strip() for s in raw.split(",") if s.strip()}


ENABLED_BUGS = _enabled_known_bugs()


def allow(bug: str) -> bool:
    """May the grammar use a construct that triggers the known bug ``bug``?"""
    if bug not in KNOWN_BUGS:  # fixed: the construct is part of the grammar again
        return True
    return bug in ENABLED_BUGS


# -- registry availability -----------------------------------------------------------------------


def supported(*keys) -> bool:
    """True if every key is in the lowering registry ("m:name" for ndarray methods)."""
    for k in keys:
        if isinstance(k, str) and k.startswith("m:"):
            if k[2:] not in METHODS:
                return False
        elif isinstance(k, str) and k.startswith("missing:"):
            return False
        elif isinstance(k, str):
            continue  # operators and builtins handled by the emulator itself
        else:
            try:
                if k not in FUNCTIONS:
                    return False
            except TypeError:
                return False
    return True


# -- numbers and intervals -----------------------------------------------------------------------

INF = float("inf")
CAP = 30.0  # values are kept within [-CAP, CAP] (scaled or squashed beyond)


def num(c: float) -> str:
    """A float literal (parenthesized when negative)."""
    c = float(c)
    if c == int(c) and abs(c) < 1e6:
        s = f"{int(c)}.0"
    else:
        s = f"{c:.4g}"
        if "." not in s and "e" not in s:
            s += ".0"
    return f"({s})" if c < 0 else s


def _clean(lo, hi):
    lo, hi = float(lo), float(hi)
    if math.isnan(lo) or math.isnan(hi):
        return -1e9, 1e9
    return min(lo, hi), max(lo, hi)


def iv_add(a, b):
    return _clean(a[0] + b[0], a[1] + b[1])


def iv_sub(a, b):
    return _clean(a[0] - b[1], a[1] - b[0])


def iv_mul(a, b):
    ps = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
    ps = [0.0 if math.isnan(p) else p for p in ps]
    return _clean(min(ps), max(ps))


def iv_recip(b):
    assert b[0] > 0 or b[1] < 0, b
    return _clean(1.0 / b[1], 1.0 / b[0])


def iv_scale(a, k):
    return iv_mul(a, (k, k))


def iv_union(a, b):
    return (min(a[0], b[0]), max(a[1], b[1]))


def iv_square(a):
    lo, hi = a
    if lo >= 0:
        return (lo * lo, hi * hi)
    if hi <= 0:
        return (hi * hi, lo * lo)
    return (0.0, max(lo * lo, hi * hi))


def mono(fn):
    def image(lo, hi):
        return _clean(fn(lo), fn(hi))

    return image


def const(lo, hi):
    return lambda a, b: (lo, hi)


def _mag(iv):
    return max(abs(iv[0]), abs(iv[1]))


# -- typed expressions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Val:
    """An expression: user text, probe text, static shape, value interval.

    ``kind``: "np" (numpy array or scalar), "py" (Python float), "bool" (bool array),
    "int" (int array). ``roots``: names of variables it may alias (views); empty for
    fresh arrays, which may be written in place.
    """

    text: str
    probe: str
    shape: tuple
    lo: float
    hi: float
    kind: str = "np"
    roots: frozenset = frozenset()
    dtype: str = "float64"

    @property
    def iv(self):
        return (self.lo, self.hi)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))


def fresh(text, probe, shape, iv, kind="np", dtype="float64"):
    return Val(text, probe, tuple(shape), iv[0], iv[1], kind, frozenset(), dtype)


def derived(text, probe, shape, iv, *parents, kind="np"):
    """A result that may be a view of its operands (keeps their roots)."""
    roots = frozenset().union(*[p.roots for p in parents]) if parents else frozenset()
    dtype = parents[0].dtype if parents else "float64"
    return Val(text, probe, tuple(shape), iv[0], iv[1], kind, roots, dtype)


@dataclass(frozen=True)
class Var:
    name: str
    shape: tuple
    lo: float
    hi: float
    kind: str = "np"  # "np", "py", "int" (int array input)
    roots: frozenset = frozenset()
    dtype: str = "float64"
    is_arg: bool = False
    extra: tuple = ()  # for int arrays: (valid index range n, lo, hi of values)
    created: bool = False  # made by np.zeros/ones/full in the function (maybe still untraced)

    def val(self):
        roots = self.roots | {self.name}
        return Val(self.name, self.name, self.shape, self.lo, self.hi, self.kind, frozenset(roots), self.dtype)

    @property
    def iv(self):
        return (self.lo, self.hi)

    @property
    def owned(self):
        return not self.roots and not self.is_arg and self.kind == "np" and len(self.shape) > 0


# -- operation tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Unary:
    name: str
    fmt: str  # user text, {0} = operand
    domain: tuple  # interval the operand must lie in
    image: Callable  # (lo, hi) -> (lo, hi)
    requires: tuple = ()
    pfmt: str | None = None  # probe text (records kinks); None: same as fmt
    math: str | None = None  # math-module twin for Python floats
    grad: bool = True  # usable in grad mode


def _cosh_img(lo, hi):
    m = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
    return (math.cosh(m), math.cosh(max(abs(lo), abs(hi))))


def _abs_img(lo, hi):
    if lo >= 0:
        return (lo, hi)
    if hi <= 0:
        return (-hi, -lo)
    return (0.0, max(-lo, hi))


# Interval images of the logistic family: written so that no finite bound overflows
# math.exp (the domains are unbounded; a bound of 1e3 occurs).
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _expit(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


UNARY = [
    Unary("exp", "np.exp({0})", (-INF, 3.0), mono(math.exp), (np.exp,), math="math.exp"),
    Unary("log", "np.log({0})", (0.2, INF), mono(math.log), (np.log,), math="math.log"),
    Unary("sin", "np.sin({0})", (-INF, INF), const(-1.0, 1.0), (np.sin,), math="math.sin"),
    Unary("cos", "np.cos({0})", (-INF, INF), const(-1.0, 1.0), (np.cos,), math="math.cos"),
    Unary("tanh", "np.tanh({0})", (-INF, INF), mono(math.tanh), (np.tanh,), math="math.tanh"),
    Unary("sqrt", "np.sqrt({0})", (0.2, INF), mono(math.sqrt), (np.sqrt,), math="math.sqrt"),
    Unary("square", "np.square({0})", (-INF, INF), lambda lo, hi: iv_square((lo, hi)), (np.square,)),
    Unary("pow2", "({0} ** 2)", (-INF, INF), lambda lo, hi: iv_square((lo, hi))),
    Unary("pow3", "({0} ** 3)", (-INF, INF), mono(lambda x: x ** 3)),
    Unary("neg", "(-{0})", (-INF, INF), lambda lo, hi: (-hi, -lo)),
    Unary("negative", "np.negative({0})", (-INF, INF), lambda lo, hi: (-hi, -lo), (np.negative,)),
    Unary("log1p", "np.log1p({0})", (-0.7, INF), mono(math.log1p), (np.log1p,), math="math.log1p"),
    Unary("expm1", "np.expm1({0})", (-INF, 3.0), mono(math.expm1), (np.expm1,), math="math.expm1"),
    Unary("log2", "np.log2({0})", (0.2, INF), mono(math.log2), (np.log2,), math="math.log2"),
    Unary("log10", "np.log10({0})", (0.2, INF), mono(math.log10), (np.log10,), math="math.log10"),
    Unary("exp2", "np.exp2({0})", (-INF, 4.0), mono(lambda x: 2.0 ** x), (np.exp2,)),
    Unary("tan", "np.tan({0})", (-1.2, 1.2), mono(math.tan), (np.tan,), math="math.tan"),
    Unary("sinh", "np.sinh({0})", (-3.0, 3.0), mono(math.sinh), (np.sinh,), math="math.sinh"),
    Unary("cosh", "np.cosh({0})", (-3.0, 3.0), _cosh_img, (np.cosh,), math="math.cosh"),
    Unary("arcsin", "np.arcsin({0})", (-0.8, 0.8), mono(math.asin), (np.arcsin,), math="math.asin"),
    Unary("arccos", "np.arccos({0})", (-0.8, 0.8), lambda lo, hi: (math.acos(hi), math.acos(lo)), (np.arccos,),
          math="math.acos"),
    Unary("arctan", "np.arctan({0})", (-INF, INF), mono(math.atan), (np.arctan,), math="math.atan"),
    Unary("arcsinh", "np.arcsinh({0})", (-INF, INF), mono(math.asinh), (np.arcsinh,), math="math.asinh"),
    Unary("arccosh", "np.arccosh({0})", (1.2, INF), mono(math.acosh), (np.arccosh,), math="math.acosh"),
    Unary("arctanh", "np.arctanh({0})", (-0.8, 0.8), mono(math.atanh), (np.arctanh,), math="math.atanh"),
    Unary("reciprocal", "np.reciprocal({0})", (0.3, INF), lambda lo, hi: iv_recip((lo, hi)), (np.reciprocal,)),
    Unary("cbrt", "np.cbrt({0})", (0.2, INF), mono(np.cbrt), (np.cbrt,)),
    Unary("sqrtpow", "({0} ** 0.5)", (0.2, INF), mono(math.sqrt)),
    Unary("invpow", "({0} ** (-1.5))", (0.3, INF), lambda lo, hi: _clean(hi ** -1.5, lo ** -1.5)),
    Unary("deg2rad", "np.deg2rad({0})", (-INF, INF), mono(math.radians), (np.deg2rad,)),
    Unary("sinc", "np.sinc({0})", (-INF, INF), const(-0.23, 1.0), (np.sinc,)),
    Unary("expit", "scipy.special.expit({0})", (-INF, INF), mono(_expit),
          (_sp("expit"),)),
    Unary("log_expit", "scipy.special.log_expit({0})", (-INF, INF), mono(lambda x: -_softplus(-x)),
          (_sp("log_expit"),)),
    Unary("softplus", "scipy.special.softplus({0})", (-INF, INF), mono(_softplus),
          (_sp("softplus"),)),
    Unary("erf", "scipy.special.erf({0})", (-INF, INF), mono(math.erf), (_sp("erf"),), math="math.erf"),
    Unary("ndtr", "scipy.special.ndtr({0})", (-INF, INF), mono(lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))),
          (_sp("ndtr"),)),
    Unary("gammaln", "scipy.special.gammaln({0})", (0.5, 5.0),
          lambda lo, hi: (min(math.lgamma(lo), math.lgamma(hi), -0.13), max(math.lgamma(lo), math.lgamma(hi))),
          (_sp("gammaln"),), math="math.lgamma"),
    # non-smooth: the probe records the decision
    Unary("abs", "np.abs({0})", (-INF, INF), _abs_img, (np.absolute,), pfmt="np.abs(_ks({0}))", math="math.fabs"),
    Unary("babs", "abs({0})", (-INF, INF), _abs_img, (np.absolute,), pfmt="abs(_ks({0}))"),
    Unary("fabs", "np.fabs({0})", (-INF, INF), _abs_img, (np.fabs,), pfmt="np.fabs(_ks({0}))"),
    Unary("sign", "np.sign({0})", (-INF, INF), const(-1.0, 1.0), (np.sign,), pfmt="np.sign(_ks({0}))"),
    Unary("floor", "np.floor({0})", (-INF, INF), lambda lo, hi: (math.floor(lo), math.floor(hi)), (np.floor,),
          pfmt="_kc(np.floor({0}))"),
    Unary("ceil", "np.ceil({0})", (-INF, INF), lambda lo, hi: (math.ceil(lo), math.ceil(hi)), (np.ceil,),
          pfmt="_kc(np.ceil({0}))"),
    Unary("rint", "np.rint({0})", (-INF, INF), lambda lo, hi: (round(lo) - 1.0, round(hi) + 1.0), (np.rint,),
          pfmt="_kc(np.rint({0}))"),
    Unary("round1", "np.round({0}, 1)", (-INF, INF), lambda lo, hi: (lo - 0.1, hi + 0.1), (np.round,),
          pfmt="_kc(np.round({0}, 1))"),
    Unary("trunc", "np.trunc({0})", (-INF, INF), lambda lo, hi: (math.trunc(lo), math.trunc(hi)), (np.trunc,),
          pfmt="_kc(np.trunc({0}))"),
]


@dataclass(frozen=True)
class Binary:
    name: str
    fmt: str  # {0}, {1}
    image: Callable  # (iv_a, iv_b) -> iv
    dom_a: tuple = (-INF, INF)
    dom_b: tuple = (-INF, INF)
    requires: tuple = ()
    pfmt: str | None = None
    grad: bool = True
    pyok: bool = True  # fine when both operands are Python floats


def _div_img(a, b):
    return iv_mul(a, iv_recip(b))


def _pow_img(a, b):
    cands = [a[i] ** b[j] for i in (0, 1) for j in (0, 1)]
    return _clean(min(cands), max(cands))


def _logaddexp_img(a, b):
    return (max(a[0], b[0]), max(a[1], b[1]) + math.log(2.0))


def _hypot_img(a, b):
    return (0.0, math.hypot(_mag(a), _mag(b)))


def _maxi(a, b):
    return (max(a[0], b[0]), max(a[1], b[1]))


def _mini(a, b):
    return (min(a[0], b[0]), min(a[1], b[1]))


BINARY = [
    Binary("add", "({0} + {1})", iv_add),
    Binary("sub", "({0} - {1})", iv_sub),
    Binary("mul", "({0} * {1})", iv_mul),
    Binary("div", "({0} / {1})", _div_img, dom_b=(0.3, INF)),
    Binary("np.add", "np.add({0}, {1})", iv_add, requires=(np.add,)),
    Binary("np.subtract", "np.subtract({0}, {1})", iv_sub, requires=(np.subtract,)),
    Binary("np.multiply", "np.multiply({0}, {1})", iv_mul, requires=(np.multiply,)),
    Binary("np.divide", "np.divide({0}, {1})", _div_img, dom_b=(0.3, INF), requires=(np.divide,)),
    Binary("pow", "({0} ** {1})", _pow_img, dom_a=(0.3, 3.0), dom_b=(-2.0, 2.0)),
    Binary("np.power", "np.power({0}, {1})", _pow_img, dom_a=(0.3, 3.0), dom_b=(-2.0, 2.0), requires=(np.power,)),
    Binary("hypot", "np.hypot({0}, {1})", _hypot_img, dom_a=(0.2, INF), requires=(np.hypot,)),
    Binary("arctan2", "np.arctan2({0}, {1})", const(-1.6, 1.6), dom_b=(0.2, INF), requires=(np.arctan2,)),
    Binary("logaddexp", "np.logaddexp({0}, {1})", _logaddexp_img, requires=(np.logaddexp,)),
    Binary("logaddexp2", "np.logaddexp2({0}, {1})", _logaddexp_img, requires=(np.logaddexp2,)),
    # non-smooth
    Binary("maximum", "np.maximum({0}, {1})", _maxi, requires=(np.maximum,),
           pfmt="np.maximum(*_kpair({0}, {1}))"),
    Binary("minimum", "np.minimum({0}, {1})", _mini, requires=(np.minimum,),
           pfmt="np.minimum(*_kpair({0}, {1}))"),
    Binary("fmax", "np.fmax({0}, {1})", _maxi, requires=(np.fmax,), pfmt="np.fmax(*_kpair({0}, {1}))"),
    Binary("fmin", "np.fmin({0}, {1})", _mini, requires=(np.fmin,), pfmt="np.fmin(*_kpair({0}, {1}))"),
    Binary("copysign", "np.copysign({0}, {1})", lambda a, b: (-_mag(a), _mag(a)), requires=(np.copysign,),
           pfmt="np.copysign(_ks({0}), _ks({1}))"),
    Binary("remainder", "np.remainder({0}, {1})", lambda a, b: (0.0, b[1]), dom_b=(0.5, INF),
           requires=(np.remainder,), pfmt="_kmod(np.remainder, {0}, {1})"),
    Binary("fmod", "np.fmod({0}, {1})", lambda a, b: (-b[1], b[1]), dom_b=(0.5, INF),
           requires=(np.fmod,), pfmt="_kmod(np.fmod, {0}, {1})"),
]

CMP_FN = {">": "_op.gt", "<": "_op.lt", ">=": "_op.ge", "<=": "_op.le"}
COMPARISONS = [(">", "np.greater"), ("<", "np.less"), (">=", "np.greater_equal"), ("<=", "np.less_equal")]


@dataclass(frozen=True)
class Reduction:
    name: str
    func: str  # numpy function text, e.g. "np.sum"; None: method only
    method: str | None
    requires: tuple
    image: Callable  # (iv, n) -> iv
    kink: str | None = None  # probe helper wrapping the call
    keepdims: bool = True
    grad: bool = True
    min_n: int = 1
    axis_none: bool = False  # a full reduction needs axis=None (ufunc.reduce)


def _sum_img(iv, n):
    return iv_scale(iv, n)


def _prod_img(iv, n):
    m = _mag(iv)
    return (-(m ** n), m ** n) if iv[0] < 0 else (iv[0] ** n, iv[1] ** n)


def _var_img(iv, n):
    return (0.0, (iv[1] - iv[0]) ** 2)


def _std_img(iv, n):
    return (0.0, iv[1] - iv[0])


REDUCTIONS = [
    Reduction("sum", "np.sum", "sum", (np.sum,), _sum_img),
    Reduction("mean", "np.mean", "mean", (np.mean,), lambda iv, n: iv),
    Reduction("max", "np.max", "max", (np.max,), lambda iv, n: iv, kink="_kred"),
    Reduction("min", "np.min", "min", (np.min,), lambda iv, n: iv, kink="_kred"),
    Reduction("amax", "np.amax", None, (np.amax,), lambda iv, n: iv, kink="_kred"),
    Reduction("prod", "np.prod", "prod", (np.prod,), _prod_img),
    Reduction("var", "np.var", "var", (np.var,), _var_img),
    Reduction("std", "np.std", "std", (np.std,), _std_img, kink="_kstd", min_n=2),
    Reduction("ptp", "np.ptp", None, (np.ptp,), lambda iv, n: (0.0, iv[1] - iv[0]), kink="_kptp"),
    Reduction("nansum", "np.nansum", None, (np.nansum,), _sum_img),
    # numpy's Python-level functions, emulated by pyautodiff
    Reduction("average", "np.average", None, ("emulated",), lambda iv, n: iv),
    Reduction("logsumexp", "scipy.special.logsumexp", None, (_sp("logsumexp"),),
              lambda iv, n: (iv[0], iv[1] + math.log(n))),
    Reduction("nanmean", "np.nanmean", None, (np.nanmean,), lambda iv, n: iv),
    Reduction("nanvar", "np.nanvar", None, (np.nanvar,), _var_img),
    Reduction("nanmax", "np.nanmax", None, (np.nanmax,), lambda iv, n: iv, kink="_kred"),
    Reduction("median", "np.median", None, (np.median,), lambda iv, n: iv, kink="_kmedian"),
    Reduction("add.reduce", "np.add.reduce", None, ((np.add, "reduce"),), _sum_img, axis_none=True),
    Reduction("multiply.reduce", "np.multiply.reduce", None, ((np.multiply, "reduce"),), _prod_img, axis_none=True),
    Reduction("maximum.reduce", "np.maximum.reduce", None, ((np.maximum, "reduce"),), lambda iv, n: iv,
              kink="_kred", axis_none=True),
    Reduction("norm", "np.linalg.norm", None, (np.linalg.norm,), lambda iv, n: (0.0, _mag(iv) * math.sqrt(n)),
              kink="_knormr"),
]


@dataclass(frozen=True)
class AxisOp:
    """A shape-preserving operation along one axis."""

    name: str
    fmt: str  # {0} operand, {k} axis
    image: Callable  # (iv, n) -> iv
    requires: tuple
    domain: tuple = (-INF, INF)
    pfmt: str | None = None


AXIS_OPS = [
    AxisOp("cumsum", "np.cumsum({0}, axis={k})", lambda iv, n: iv_union(iv, iv_scale(iv, n)), (np.cumsum,)),
    AxisOp("cumsum-method", "{0}.cumsum(axis={k})", lambda iv, n: iv_union(iv, iv_scale(iv, n)), ("m:cumsum",)),
    AxisOp("cumprod", "np.cumprod({0}, axis={k})", lambda iv, n: (-(1.2 ** n), 1.2 ** n), (np.cumprod,),
           domain=(-1.2, 1.2)),
    AxisOp("sort", "np.sort({0}, axis={k})", lambda iv, n: iv, (np.sort,), pfmt="np.sort(_ksort({0}, {k}), axis={k})"),
    AxisOp("softmax", "scipy.special.softmax({0}, axis={k})", lambda iv, n: (0.0, 1.0), (_sp("softmax"),)),
    AxisOp("log_softmax", "scipy.special.log_softmax({0}, axis={k})",
           lambda iv, n: (-(iv[1] - iv[0]) - math.log(n), 0.0), (_sp("log_softmax"),)),
    AxisOp("flip", "np.flip({0}, axis={k})", lambda iv, n: iv, ("emulated",)),
    AxisOp("roll", "np.roll({0}, 1, axis={k})", lambda iv, n: iv, ("emulated",)),
]


# -- the program being generated ----------------------------------------------------------------


@dataclass
class Arg:
    name: str
    kind: str  # "arr" (ndarray), "f32" (float32 ndarray), "py" (Python float), "npf" (numpy float64), "idx"
    shape: tuple
    lo: float
    hi: float
    n: int = 0  # for idx: the axis length it indexes

    @property
    def differentiable(self):
        return self.kind in ("arr", "py", "npf")


@dataclass
class Program:
    mode: str
    args: list
    source: str  # user module
    probe_source: str  # probe module
    features: collections.Counter = field(default_factory=collections.Counter)
    mag: float = 1.0
    faults: tuple = ()

    @property
    def wrt(self):
        return tuple(a.name for a in self.args if a.differentiable)

    def load(self):
        return load_module(self.source)

    def load_probe(self):
        return load_module(self.probe_source)


_TMPDIR = None
_MODULES: dict = {}


def load_module(source: str):
    """Write ``source`` to a module file (once) and import it; real file name and line numbers."""
    global _TMPDIR
    key = hashlib.sha1(source.encode()).hexdigest()[:16]
    mod = _MODULES.get(key)
    if mod is not None:
        return mod
    if _TMPDIR is None:
        _TMPDIR = tempfile.mkdtemp(prefix="pyautodiff_fuzz_")
        atexit.register(shutil.rmtree, _TMPDIR, True)
    name = f"fuzzprog_{key}"
    path = os.path.join(_TMPDIR, name + ".py")
    with open(path, "w") as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    if len(_MODULES) > 400:
        for k in list(_MODULES)[:200]:
            sys.modules.pop(f"fuzzprog_{k}", None)
            del _MODULES[k]
    _MODULES[key] = mod
    return mod


PRELUDE = """\
import math
import numpy as np
import scipy.special


class FuzzError(Exception):
    pass


def _w(r):
    return (np.cos(np.arange(np.size(r)) * 0.7 + 0.3) + 1.5).reshape(np.shape(r))


def _sc(r):
    return np.sum(r * _w(r))
"""

PROBE_PRELUDE = PRELUDE + '''

import operator as _op

_REC = []
_TIE = [False]  # at a kink where the gradient is undefined (a norm at 0, a sort tie ...)
_MAXTIE = [False]  # at a tie of max/min/clip: the gradient splits it (see KNOWN_BUGS "tie-grad")
_KMIN = [float("inf")]  # smallest relative margin of a comparison (near ties decide by rounding)


def _kcmp(a, b, op):
    """A comparison: record its outcome and how close it was to a tie."""
    d = np.abs(np.subtract(a, b, dtype=np.float64)) / (1.0 + np.maximum(np.abs(a), np.abs(b)))
    if np.size(d):
        _KMIN[0] = min(_KMIN[0], float(np.min(d)))
    c = op(a, b)
    _REC.append(np.array(c, copy=True))
    return c


def _kc(c):
    """Record a decision (comparison outcome, floor value, index ...)."""
    _REC.append(np.array(c, copy=True))
    return c


def _ks(v):
    _REC.append(np.sign(v))
    return v


def _kpair(x, y):
    d = np.subtract(x, y)
    _REC.append(np.sign(d))
    if np.any(d == 0):
        _MAXTIE[0] = True
    return x, y


def _kred(fn, x, axis=None, keepdims=False):
    xa = np.asarray(x)
    m = fn(xa, axis=axis, keepdims=True)
    mask = xa == m
    if np.any(np.sum(mask, axis=axis) > 1):
        _MAXTIE[0] = True
    _REC.append(mask)
    return fn(x, axis=axis, keepdims=keepdims)


def _kptp(fn, x, axis=None, keepdims=False):
    _kred(np.max, x, axis)
    _kred(np.min, x, axis)
    return fn(x, axis=axis, keepdims=keepdims)


def _kstd(fn, x, axis=None, keepdims=False):
    if np.any(np.var(x, axis=axis) < 1e-10):
        _TIE[0] = True
    return fn(x, axis=axis, keepdims=keepdims)


# A norm is not differentiable at the zero vector; the finite differences step inputs by
# 1e-4 and more, so a norm closer to zero than that may have its kink inside the step (at
# 8e-8, seed 96 compared the exact one-sided derivative with a difference across the kink)
_KINK_NORM = 1e-3


def _knorm(x):
    if np.sqrt(np.sum(np.square(x))) < _KINK_NORM:
        _TIE[0] = True
    return x


def _kclip(x, lo, hi):
    _REC.append(np.array(x < lo))
    _REC.append(np.array(x > hi))
    if np.any(x == lo) or np.any(x == hi):
        _MAXTIE[0] = True
    return x


def _kmod(fn, x, y):
    _REC.append(np.floor(np.divide(x, y)))
    return fn(x, y)


def _kmaxb(fn, items):
    vals = [float(v) for v in items]
    best = fn(vals)
    if vals.count(best) > 1:
        _TIE[0] = True
    _REC.append(np.array(vals.index(best)))
    return fn(items)


def _ksort(x, axis):
    xs = np.sort(x, axis=axis)
    if np.any(np.diff(xs, axis=axis) == 0):
        _TIE[0] = True
    _REC.append(np.argsort(x, axis=axis, kind="stable"))
    return x


def _kmedian(fn, x, axis=None, keepdims=False):
    _ksort(np.ravel(x) if axis is None else x, -1 if axis is None else axis)
    return fn(x, axis=axis, keepdims=keepdims)


def _knormr(fn, x, axis=None, keepdims=False):
    if np.any(np.sqrt(np.sum(np.square(x), axis=axis)) < _KINK_NORM):
        _TIE[0] = True
    return fn(x, axis=axis, keepdims=keepdims)


def _probe_reset():
    del _REC[:]
    _TIE[0] = False
    _MAXTIE[0] = False
    _KMIN[0] = float("inf")
'''


class Reject(Exception):
    """The drawn structure cannot be realized (hypothesis rejects the example)."""


SHAPE_DIMS = (1, 2, 3, 4)
MAX_SIZE = 36


class Gen:
    """Draws one program.  ``draw`` is hypothesis's draw function."""

    def __init__(self, draw, mode: str):
        self.draw = draw
        self.mode = mode
        self.grad = mode == "grad"
        self.counter = 0
        self.helpers: list = []  # (user text, probe text)
        self.features = collections.Counter()
        self.mag = 1.0
        self.env: list = []
        self.ret_struct = "single"
        self.lambda_depth = 0
        self.unary = [u for u in UNARY if supported(*u.requires) and (u.grad or not self.grad)]
        self.binary = [b for b in BINARY if supported(*b.requires) and (b.grad or not self.grad)]
        self.reductions = [r for r in REDUCTIONS if supported(*r.requires) and (r.grad or not self.grad)
                           and (r.func or r.method)]
        self.axis_ops = [a for a in AXIS_OPS if supported(*a.requires)]

    # -- drawing helpers -----------------------------------------------------------------------
    def i(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, seq):
        seq = list(seq)
        if not seq:
            raise Reject("nothing to pick")
        return seq[self.draw(st.integers(0, len(seq) - 1))]

    def coin(self, percent=50):
        """True with about ``percent``% probability (shrinks to False)."""
        return self.draw(st.integers(0, 99)) >= 100 - percent

    def fnum(self, lo, hi, digits=2):
        return round(self.draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False)), digits)

    def name(self, prefix="v"):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def note(self, feature):
        self.features[feature] += 1

    def shape(self, max_rank=3):
        rank = self.i(0, max_rank)
        dims = tuple(self.pick(SHAPE_DIMS) for _ in range(rank))
        while int(np.prod(dims, dtype=np.int64)) > MAX_SIZE:
            dims = dims[1:]
        return dims

    def env_shape(self):
        """A shape to compute: mostly one that a variable already has."""
        shapes = [v.shape for v in self.env if v.kind in ("np", "py")]
        if shapes and self.coin(70):
            return self.pick(shapes)
        return self.shape()

    # -- magnitude control ---------------------------------------------------------------------
    def bounded(self, v: Val) -> Val:
        m = _mag(v.iv)
        if not math.isfinite(m):
            return self.wrap_unary(v, "tanh")
        if m <= CAP:
            self.mag = max(self.mag, m)
            return v
        if m < 1e6 and self.coin(60):
            k = 10.0 ** -math.ceil(math.log10(m / CAP))
            return fresh(f"({v.text} * {num(k)})", f"({v.probe} * {num(k)})", v.shape, iv_scale(v.iv, k),
                         kind=v.kind if v.kind != "py" else "py")
        return self.wrap_unary(v, "tanh")

    def wrap_unary(self, v: Val, name: str) -> Val:
        u = next(u for u in UNARY if u.name == name)
        if v.kind == "py" and u.math:
            fmt = u.math + "({0})"
            return fresh(fmt.format(v.text), fmt.format(v.probe), v.shape, u.image(*v.iv), kind="py")
        return fresh(u.fmt.format(v.text), (u.pfmt or u.fmt).format(v.probe), v.shape, u.image(*v.iv))

    def fit(self, v: Val, dom) -> Val:
        """``v`` moved into the interval ``dom`` (shift, squash, or square), if not already in."""
        lo, hi = dom
        if v.lo >= lo and v.hi <= hi:
            return v
        self.note("domain-fix")
        width = v.hi - v.lo
        room = hi - lo
        choice = self.i(0, 2)
        if choice == 0 and width < room * 0.8 and width < 1e3 and math.isfinite(v.lo) and math.isfinite(v.hi):
            # shift into the domain
            margin = min(0.1 * room, 0.5)
            if v.lo < lo:
                c = math.ceil((lo + margin - v.lo) * 100) / 100
            else:
                c = math.floor((hi - margin - v.hi) * 100) / 100
            out = fresh(f"({v.text} + {num(c)})", f"({v.probe} + {num(c)})", v.shape, (v.lo + c, v.hi + c),
                        kind=v.kind)
            if out.lo >= lo and out.hi <= hi:
                return out
        if choice == 1 and hi == INF and _mag(v.iv) < 5:  # (finite)
            c = round(lo + 0.1, 2)
            sq = iv_square(v.iv)
            op = "np.square({0})" if v.kind != "py" else "({0} ** 2)"
            return fresh(f"({op.format(v.text)} + {num(c)})", f"({op.format(v.probe)} + {num(c)})", v.shape,
                         (sq[0] + c, sq[1] + c), kind=v.kind)
        # squash: mid + rad * tanh(v)
        if hi == INF:
            mid, rad = lo + 1.0, 0.8
        elif lo == -INF:
            mid, rad = hi - 1.0, 0.8
        else:
            mid, rad = (lo + hi) / 2, (hi - lo) / 2 * 0.9
        mid, rad = round(mid, 3), round(rad, 3)
        t = self.wrap_unary(v, "tanh")
        return fresh(f"({num(mid)} + {num(rad)} * {t.text})", f"({num(mid)} + {num(rad)} * {t.probe})", v.shape,
                     (mid - rad, mid + rad), kind=v.kind)

    # -- expressions ---------------------------------------------------------------------------
    def expr(self, shape, depth, bcast=False) -> Val:
        """An expression of exactly ``shape`` (or, with ``bcast``, broadcastable to it)."""
        shape = tuple(shape)
        if depth <= 0 or not self.coin(65):
            return self.leaf(shape, bcast)
        kinds = ["unary", "binary", "binary", "reduce", "index"]
        kinds += ["where", "products", "ternary", "mask", "clip", "lambda", "helper", "comprehension"]
        if shape:
            kinds += ["stack", "emulated", "axisop"]
        else:
            kinds += ["pyscalar", "dataint", "builtin_max", "norm"]
        if len(shape) <= 2:
            kinds.append("linalg")
        kind = self.pick(kinds)
        try:
            v = getattr(self, "node_" + kind)(shape, depth - 1)
        except Reject:
            v = None
        if v is None:
            return self.leaf(shape, bcast)
        assert v.shape == shape, (kind, v.shape, shape, v.text)
        self.note(kind)
        return self.bounded(v)

    def leaf(self, shape, bcast=False) -> Val:
        cands = []
        n_env = len(self.env)
        for pos, var in enumerate(self.env):
            if var.kind == "int":
                continue
            recent = 1 + (2 * pos) // max(n_env, 1)  # later variables are used more
            if var.shape == shape:
                cands += [("var", var)] * (2 * recent)
            elif bcast and _broadcasts_to(var.shape, shape):
                cands += [("var", var)] * recent
            elif self.view_options(var, shape):
                cands += [("view", var)] * recent
        if bcast:
            cands.append(("const", None))
        if not cands:
            cands.append(("fallback", None))
        kind, var = self.pick(cands)
        if kind == "var":
            return var.val()
        if kind == "const":
            c = self.fnum(-2.0, 2.0, 2)
            return fresh(num(c), num(c), (), (c, c), kind="py")
        if kind == "view":
            v = self.view_of(var, shape)
            if v is not None:
                return v
        return self.fallback(shape)

    def fallback(self, shape) -> Val:
        """Some variable brought to ``shape``: broadcast if it can be, else its mean."""
        floats = [v for v in self.env if v.kind in ("np", "py")]
        bc = [v for v in floats if _broadcasts_to(v.shape, shape) and v.kind == "np"]
        self.note("fallback")
        if bc and shape:
            var = self.pick(bc)
            return fresh(f"({var.name} + np.zeros({shape!r}))", f"({var.name} + np.zeros({shape!r}))", shape,
                         var.iv)
        var = self.pick(floats)
        base = var.val()
        if base.shape != ():
            base = fresh(f"np.mean({base.text})", f"np.mean({base.probe})", (), base.iv)
        if shape == ():
            return base
        return fresh(f"(np.ones({shape!r}) * {base.text})", f"(np.ones({shape!r}) * {base.probe})", shape, base.iv)

    def view_options(self, var: Var, shape) -> list:
        """How ``var`` can be reduced, indexed, sliced, transposed or reshaped to ``shape``."""
        s = var.shape
        if var.kind == "py":  # a Python float: numpy functions only (no indexing, no methods)
            if shape == ():
                return ["full_reduce"]
            return ["py_reshape"] if int(np.prod(shape, dtype=np.int64)) == 1 and len(shape) <= 2 else []
        opts = []
        if s and s[1:] == shape:
            opts.append("row")
        if len(s) == len(shape) + 1:
            opts += [("reduce", k) for k in range(len(s)) if s[:k] + s[k + 1:] == shape]
            opts += [("take", k) for k in range(1, len(s)) if s[:k] + s[k + 1:] == shape]
        if len(s) == len(shape) and s != shape and all(a >= b for a, b in zip(s, shape)):
            opts.append("slice")
        if len(s) == len(shape) and s != shape and all(a >= 1 for a in s):
            opts += [("keepdims", k) for k in range(len(s)) if s[:k] + (1,) + s[k + 1:] == shape]
        if s and shape and s[1:] == shape[1:]:
            opts.append("fancy")
        if len(s) >= 2 and sorted(s) == sorted(shape) and s != shape:
            opts.append("transpose")
        if s == shape and len(s) >= 1:
            opts += ["flip", "same_slice"]
        if int(np.prod(s, dtype=np.int64)) == int(np.prod(shape, dtype=np.int64)) and s != shape:
            opts.append("reshape")
        if shape == () and s:
            opts.append("full_reduce")
        return opts

    def view_of(self, var: Var, shape) -> Val | None:
        """``var`` reduced, indexed, sliced, transposed or reshaped to ``shape``."""
        v = var.val()
        s = var.shape
        opts = self.view_options(var, shape)
        if not opts:
            return None
        opt = self.pick(opts)
        self.note("view:" + (opt if isinstance(opt, str) else opt[0]))
        if opt == "py_reshape":
            forms = ["np.reshape({0}, %r)" % (shape,)]
            forms += {(1,): ["np.atleast_1d({0})", "np.expand_dims({0}, 0)", "np.ravel({0})"],
                      (1, 1): ["np.atleast_2d({0})"]}.get(shape, [])
            form = self.pick(forms)
            return fresh(form.format(v.text), form.format(v.probe), shape, v.iv)
        if opt == "row":
            n = s[0]
            k = self.i(-n, n - 1)
            form = self.pick(["{0}[{1}]", "{0}[{1}, ...]"] if len(s) > 1 else ["{0}[{1}]"])
            t = form.format(v.text, k)
            return derived(t, form.format(v.probe, k), shape, v.iv, v)
        if isinstance(opt, tuple) and opt[0] == "take":
            k = opt[1]
            j = self.i(-s[k], s[k] - 1)
            if k == len(s) - 1 and self.coin():
                idx = f"[..., {j}]"
            else:
                idx = "[" + ", ".join([":"] * k + [str(j)]) + "]"
            return derived(v.text + idx, v.probe + idx, shape, v.iv, v)
        if isinstance(opt, tuple) and opt[0] in ("reduce", "keepdims"):
            return self.reduce_text(v, opt[1], opt[0] == "keepdims", shape)
        if opt == "full_reduce":
            return self.reduce_text(v, None, False, ())
        if opt == "slice":
            parts = [self.slice_for(a, b) for a, b in zip(s, shape)]
            idx = "[" + ", ".join(parts) + "]"
            return derived(v.text + idx, v.probe + idx, shape, v.iv, v)
        if opt == "same_slice":
            k = self.i(0, len(s) - 1)
            idx = "[" + ", ".join([":"] * k + ["::-1"]) + "]"
            return derived(v.text + idx, v.probe + idx, shape, v.iv, v)
        if opt == "flip":
            k = self.i(0, len(s) - 1)
            t = f"np.flip({{0}}, axis={k})"
            self.note("emulated:flip")
            return derived(t.format(v.text), t.format(v.probe), shape, v.iv, v)
        if opt == "fancy":
            n = s[0]
            idx = self.fancy_index(n, shape[0])
            form = self.pick(["{0}[{1}]", "np.take({0}, {1}, axis=0)", "{0}.take({1}, axis=0)"])
            if "take" in form and not supported(np.take, "m:take"):
                form = "{0}[{1}]"
            for var2 in self.env:  # an integer input array of the right length and range
                if var2.kind == "int" and var2.shape == (shape[0],) and var2.extra[0] == n and self.coin(60):
                    self.note("int-input-index")
                    return fresh(form.format(v.text, var2.name), form.format(v.probe, var2.name), shape, v.iv)
            return fresh(form.format(v.text, idx), form.format(v.probe, idx), shape, v.iv)
        if opt == "transpose":
            perm = _find_perm(s, shape, self)
            if len(s) == 2 or perm == tuple(reversed(range(len(s)))) and self.coin():
                form = self.pick(["{0}.T", "np.transpose({0})", "{0}.transpose()"])
            else:
                form = self.pick(["np.transpose({0}, %r)" % (perm,), "{0}.transpose%r" % (perm,)])
                if len(s) == 3 and sorted(perm) == [0, 1, 2]:
                    diff = [i for i in range(3) if perm[i] != i]
                    if len(diff) == 2 and self.coin():
                        form = f"np.swapaxes({{0}}, {diff[0]}, {diff[1]})"
            return derived(form.format(v.text), form.format(v.probe), shape, v.iv, v)
        if opt == "reshape":
            forms = ["{0}.reshape(%r)" % (shape,), "np.reshape({0}, %r)" % (shape,)]
            if len(shape) == 1:
                forms += ["{0}.ravel()", "{0}.flatten()", "{0}.reshape(-1)", "np.ravel({0})"]
            if shape and shape[0] == 1 and shape[1:] == s:
                forms += ["{0}[None]", "np.expand_dims({0}, 0)"]
            if len(shape) == len(s) + 1 and shape[-1] == 1 and shape[:-1] == s:
                forms += ["{0}[..., None]", "np.expand_dims({0}, -1)"]
            if tuple(d for d in s if d != 1) == shape:
                forms += ["np.squeeze({0})", "{0}.squeeze()"]
            form = self.pick(forms)
            fresh_ = "flatten" in form
            mk = fresh if fresh_ else (lambda t, p, sh, iv: derived(t, p, sh, iv, v))
            return mk(form.format(v.text), form.format(v.probe), shape, v.iv)
        raise AssertionError(opt)

    def fancy_index(self, n, m):
        """``m`` indices into an axis of length ``n`` (repeats and negative indices allowed)."""
        idx = [self.i(-n, n - 1) for _ in range(m)]
        if not allow("fancy-negative-dup-grad"):
            norm = [k % n for k in idx]
            idx = [k if norm.count(k % n) == 1 else k % n for k in idx]
        return idx

    def slice_for(self, n, m):
        """A slice of an axis of length ``n`` with ``m`` elements."""
        forms = []
        for a in range(0, n - m + 1):
            forms.append(f"{a}:{a + m}")
        if m == n:
            forms += [":", "::-1"]
        if (n + 1) // 2 == m:
            forms.append("::2")
        if m < n:
            forms += [f"{n - m}:", f":{m}", f"-{m}:", f":{m - n}"]
        return self.pick(forms)

    def reduce_text(self, v: Val, axis, keepdims, shape, red: Reduction | None = None) -> Val:
        n = v.size if axis is None else v.shape[axis]
        reds = [r for r in self.reductions if r.min_n <= n and (r.keepdims or not keepdims)]
        if v.kind == "py":
            reds = [r for r in reds if r.func and True]
        red = red or self.pick(reds)
        if red.name in ("prod", "multiply.reduce") and _mag(v.iv) ** n > 1e6:
            red = next(r for r in self.reductions if r.name == "sum")
        kw = []
        if axis is not None:
            ax = axis if self.coin() else axis - len(v.shape)
            kw.append(f"axis={ax}")
        elif red.axis_none:
            kw.append("axis=None")
        if keepdims:
            kw.append("keepdims=True")
        use_method = red.method and v.kind == "np" and (not red.func or self.coin(40))
        if red.name == "average" and keepdims:
            use_method = False
        if use_method:
            text = f"{v.text}.{red.method}({', '.join(kw)})"
            ptext = f"{v.probe}.{red.method}({', '.join(kw)})"
            pfunc = f"np.{red.method}"
        else:
            text = f"{red.func}({', '.join([v.text] + kw)})"
            ptext = f"{red.func}({', '.join([v.probe] + kw)})"
            pfunc = red.func
        if red.kink:
            ptext = f"{red.kink}({', '.join([pfunc, v.probe] + kw)})"
        self.note("reduce:" + red.name)
        return fresh(text, ptext, shape, red.image(v.iv, n))

    # nodes --------------------------------------------------------------------------------------
    def node_unary(self, shape, depth):
        u = self.pick(self.unary)
        x = self.expr(shape, depth)
        x = self.fit(x, u.domain)
        self.note("u:" + u.name)
        if x.kind == "py" and u.math and self.coin():
            fmt = u.math + "({0})"
            pf = u.math + "(" + (f"_ks({x.probe})" if u.pfmt else x.probe) + ")"
            return fresh(fmt.format(x.text), pf, shape, u.image(*x.iv), kind="py")
        # Python floats stay Python floats through operators and builtins (x ** 2, -x, abs(x))
        kind = "py" if x.kind == "py" and not u.fmt.startswith("np.") else "np"
        return fresh(u.fmt.format(x.text), (u.pfmt or u.fmt).format(x.probe), shape, u.image(*x.iv), kind=kind)

    def operands(self, shape, depth, dom_a=(-INF, INF), dom_b=(-INF, INF)):
        """Two operands broadcasting to ``shape`` (at least one has exactly ``shape``)."""
        exact_first = self.coin()
        a = self.expr(shape, depth) if exact_first else self.expr(self.bshape(shape), depth, bcast=True)
        b = self.expr(self.bshape(shape), depth, bcast=True) if exact_first else self.expr(shape, depth)
        a, b = self.fit(a, dom_a), self.fit(b, dom_b)
        if np.broadcast_shapes(a.shape, b.shape) != shape:
            raise Reject("broadcast")
        return a, b

    def bshape(self, shape):
        """A shape that broadcasts to ``shape`` (drop leading dims, set some to 1)."""
        if not shape:
            return ()
        drop = self.i(0, len(shape))
        out = [1 if (d > 1 and self.coin(25)) else d for d in shape[drop:]]
        return tuple(out)

    def node_binary(self, shape, depth):
        b = self.pick(self.binary)
        x, y = self.operands(shape, depth, b.dom_a, b.dom_b)
        if x.kind == "py" and y.kind == "py" and b.fmt.startswith("np."):
            pass  # numpy functions on two Python floats: numpy scalars
        self.note("b:" + b.name)
        kind = "py" if (x.kind == "py" and y.kind == "py" and not b.fmt.startswith("np.")) else "np"
        if kind == "py" and b.name in ("pow",) and x.lo <= 0:
            raise Reject("py pow")
        return fresh(b.fmt.format(x.text, y.text), (b.pfmt or b.fmt).format(x.probe, y.probe), shape,
                     b.image(x.iv, y.iv), kind=kind)

    def node_reduce(self, shape, depth):
        form = self.pick(["axis", "axis", "keepdims", "full", "two"])
        if form == "full":
            if shape != ():
                raise Reject("full")
            src = self.env_shape() or (self.pick(SHAPE_DIMS),)
            x = self.expr(src, depth)
            return self.reduce_text(x, None, False, ())
        if form == "keepdims":
            ones = [k for k, d in enumerate(shape) if d == 1]
            if not ones:
                raise Reject("keepdims")
            k = self.pick(ones)
            src = shape[:k] + (self.pick(SHAPE_DIMS),) + shape[k + 1:]
            x = self.expr(src, depth)
            return self.reduce_text(x, k, True, shape)
        if form == "two" and len(shape) <= 1:
            k1, k2 = sorted(self.draw(st.sets(st.integers(0, len(shape) + 1), min_size=2, max_size=2)))
            src = list(shape)
            src.insert(k1, self.pick(SHAPE_DIMS))
            src.insert(k2, self.pick(SHAPE_DIMS))
            src = tuple(src)
            if int(np.prod(src)) > MAX_SIZE:
                raise Reject("size")
            x = self.expr(src, depth)
            red = self.pick([r for r in self.reductions if r.name in ("sum", "mean", "max", "min", "prod")])
            if red.name == "prod" and _mag(x.iv) ** (src[k1] * src[k2]) > 1e6:
                red = self.reductions[0]
            kw = f"axis=({k1}, {k2})"
            text = f"{red.func}({x.text}, {kw})"
            ptext = f"{red.kink}({red.func}, {x.probe}, {kw})" if red.kink else f"{red.func}({x.probe}, {kw})"
            self.note("reduce:two-axes")
            return fresh(text, ptext, shape, red.image(x.iv, src[k1] * src[k2]))
        k = self.i(0, len(shape))
        src = shape[:k] + (self.pick(SHAPE_DIMS),) + shape[k:]
        if int(np.prod(src)) > MAX_SIZE:
            raise Reject("size")
        x = self.expr(src, depth)
        return self.reduce_text(x, k, False, shape)

    def node_index(self, shape, depth):
        """An index/slice/transpose/reshape of a computed (not just a variable) array."""
        kind = self.pick(["row", "slice", "transpose", "reshape", "newaxis"])
        if kind == "row":
            n = self.pick(SHAPE_DIMS)
            src = (n,) + shape
        elif kind == "slice" and shape:
            src = tuple(d + self.i(0, 2) for d in shape)
        elif kind == "transpose" and len(shape) >= 2:
            src = tuple(reversed(shape))
        elif kind == "newaxis" and shape and 1 in shape:
            k = shape.index(1)
            src = shape[:k] + shape[k + 1:]
            x = self.as_np(self.expr(src, depth))
            idx = "[" + ", ".join([":"] * k + ["None"]) + "]"
            return derived(x.text + idx, x.probe + idx, shape, x.iv, x)
        else:
            size = int(np.prod(shape, dtype=np.int64))
            src = self.pick([s for s in _factorings(size) if s != shape] or [shape])
        if int(np.prod(src, dtype=np.int64)) > MAX_SIZE:
            raise Reject("size")
        x = self.expr(src, depth)
        if x.kind == "py":
            raise Reject("py index")
        tmp = Var("_", x.shape, x.lo, x.hi, roots=x.roots)
        v = self.view_of(tmp, shape)
        if v is None:
            raise Reject("view")
        # substitute the expression for the placeholder name
        return derived(_subst(v.text, "_", "(" + x.text + ")"), _subst(v.probe, "_", "(" + x.probe + ")"),
                       shape, v.iv, x) if v.roots else \
            fresh(_subst(v.text, "_", "(" + x.text + ")"), _subst(v.probe, "_", "(" + x.probe + ")"), shape, v.iv)

    def cond_array(self, shape, depth):
        """A boolean array broadcasting to ``shape``: a comparison of data."""
        a = self.expr(self.bshape(shape), depth, bcast=True)
        if self.coin(60):
            b = self.expr(self.bshape(shape), depth, bcast=True)
        else:
            t = self.threshold(a)
            b = fresh(num(t), num(t), (), (t, t), kind="py")
        op, fn = self.pick(COMPARISONS)
        bshape = np.broadcast_shapes(a.shape, b.shape)
        if self.coin(20) and supported(eval(fn, {"np": np})) and (
                allow("compare-fn-pyscalar") or (a.kind != "py" and b.kind != "py" and a.shape and b.shape)):
            text = f"{fn}({a.text}, {b.text})"
            probe = f"_kcmp({a.probe}, {b.probe}, {fn})"
        else:
            text = f"({a.text} {op} {b.text})"
            probe = f"_kcmp({a.probe}, {b.probe}, {CMP_FN[op]})"
        return fresh(text, probe, bshape, (0.0, 1.0), kind="bool", dtype="bool")

    def threshold(self, v: Val):
        lo, hi = v.lo, v.hi
        if hi - lo > 6:  # loose bounds: data are mostly near the middle
            mid = (lo + hi) / 2
            lo, hi = mid - 1.5, mid + 1.5
        return round(lo + (hi - lo) * self.draw(st.floats(0.2, 0.8)), 2)

    def node_where(self, shape, depth):
        c = self.cond_array(shape, depth)
        x, y = self.operands(shape, depth)
        if np.broadcast_shapes(c.shape, x.shape, y.shape) != shape:
            raise Reject("where")
        if not supported(np.where):
            raise Reject("where")
        return fresh(f"np.where({c.text}, {x.text}, {y.text})", f"np.where({c.probe}, {x.probe}, {y.probe})",
                     shape, iv_union(x.iv, y.iv))

    def node_mask(self, shape, depth):
        """Multiplication by a comparison mask, or a masked sum."""
        if shape == () and self.coin(50):
            src = self.env_shape() or (3,)
            x = self.expr(src, depth)
            if x.kind == "py" or not src:
                raise Reject("mask")
            c = self.cond_array(src, depth)
            if c.shape != src:
                raise Reject("mask")
            self.note("boolean-index")
            return fresh(f"np.sum({x.text}[{c.text}])", f"np.sum({x.probe}[{c.probe}])", (),
                         iv_union(_sum_img(x.iv, x.size), (0.0, 0.0)))
        c = self.cond_array(shape, depth)
        x = self.as_np(self.expr(shape, depth))  # (a Python float times a bool is a Python float)
        if np.broadcast_shapes(c.shape, x.shape) != shape:
            raise Reject("mask")
        return fresh(f"({x.text} * {c.text})", f"({x.probe} * {c.probe})", shape, iv_union(x.iv, (0.0, 0.0)))

    def node_clip(self, shape, depth):
        if not supported(np.clip):
            raise Reject("clip")
        x = self.expr(shape, depth)
        t1 = self.threshold(x)
        t2 = round(t1 + self.fnum(0.1, 2.0), 2)
        if x.kind == "py":
            raise Reject("clip py")
        return fresh(f"np.clip({x.text}, {num(t1)}, {num(t2)})",
                     f"np.clip(_kclip({x.probe}, {num(t1)}, {num(t2)}), {num(t1)}, {num(t2)})", shape, (t1, t2))

    def node_products(self, shape, depth):
        k = self.pick(SHAPE_DIMS)
        r = len(shape)
        if r == 0:
            u, v = self.expr((k,), depth), self.expr((k,), depth)
            form = self.pick(["({0} @ {1})", "np.dot({0}, {1})", "np.inner({0}, {1})", "np.vdot({0}, {1})",
                              "{0}.dot({1})", "np.einsum('i,i->', {0}, {1})", "np.matmul({0}, {1})"])
            iv = iv_scale(iv_mul(u.iv, v.iv), k)
        elif r == 1:
            n = shape[0]
            if self.coin():
                u, v = self.expr((n, k), depth), self.expr((k,), depth)
                form = self.pick(["({0} @ {1})", "np.dot({0}, {1})", "np.einsum('ij,j->i', {0}, {1})",
                                  "np.matmul({0}, {1})", "{0}.dot({1})", "np.tensordot({0}, {1}, axes=1)"])
            else:
                u, v = self.expr((k,), depth), self.expr((k, n), depth)
                form = self.pick(["({0} @ {1})", "np.dot({0}, {1})", "np.einsum('j,ji->i', {0}, {1})"])
            iv = iv_scale(iv_mul(u.iv, v.iv), k)
        elif r == 2:
            m, n = shape
            if self.coin(25):
                u, v = self.expr((m,), depth), self.expr((n,), depth)
                form = self.pick(["np.outer({0}, {1})", "np.einsum('i,j->ij', {0}, {1})",
                                  "({0}[:, None] * {1}[None, :])"])
                iv = iv_mul(u.iv, v.iv)
            else:
                u, v = self.expr((m, k), depth), self.expr((k, n), depth)
                form = self.pick(["({0} @ {1})", "np.dot({0}, {1})", "np.matmul({0}, {1})", "{0}.dot({1})",
                                  "np.einsum('ij,jk->ik', {0}, {1})", "np.tensordot({0}, {1}, axes=1)",
                                  "np.tensordot({0}, {1}, axes=([1], [0]))"])
                iv = iv_scale(iv_mul(u.iv, v.iv), k)
        elif r == 3:
            b, m, n = shape
            u = self.expr((b, m, k), depth)
            v = self.expr(self.pick([(k, n), (b, k, n)]), depth)
            form = self.pick(["({0} @ {1})", "np.matmul({0}, {1})"])
            iv = iv_scale(iv_mul(u.iv, v.iv), k)
        else:
            raise Reject("rank")
        if u.kind == "py" or v.kind == "py":
            raise Reject("py product")
        if "einsum" in form and not supported(np.einsum) or "tensordot" in form and not supported(np.tensordot):
            raise Reject("unsupported")
        self.note("prod:" + form.split("(")[0])
        return fresh(form.format(u.text, v.text), form.format(u.probe, v.probe), shape, iv)

    def node_stack(self, shape, depth):
        kind = self.pick(["stack", "concatenate", "array", "hstack", "vstack"])
        if kind != "array" and not supported(np.concatenate, getattr(np, kind)):
            raise Reject("joining functions not in the registry")
        if kind == "stack":
            ax = self.i(0, len(shape) - 1)
            n = shape[ax]
            inner = shape[:ax] + shape[ax + 1:]
            parts = [self.expr(inner, depth) for _ in range(n)]
            axtxt = f", axis={ax}" if ax or self.coin(30) else ""
            text = "np.stack([" + ", ".join(p.text for p in parts) + "]" + axtxt + ")"
            probe = "np.stack([" + ", ".join(p.probe for p in parts) + "]" + axtxt + ")"
        elif kind == "array" and len(shape) == 1:
            parts = [self.expr((), depth) for _ in range(shape[0])]
            text = "np.array([" + ", ".join(p.text for p in parts) + "])"
            probe = "np.array([" + ", ".join(p.probe for p in parts) + "])"
        elif kind in ("concatenate", "hstack", "vstack"):
            if kind == "hstack":
                ax = 0 if len(shape) == 1 else 1
            elif kind == "vstack":
                ax = 0
                if len(shape) != 2:
                    raise Reject("vstack")
            else:
                ax = self.i(0, len(shape) - 1)
            n = shape[ax]
            if n < 2:
                raise Reject("concat")
            p = self.i(1, n - 1)
            s1 = shape[:ax] + (p,) + shape[ax + 1:]
            s2 = shape[:ax] + (n - p,) + shape[ax + 1:]
            parts = [self.expr(s1, depth), self.expr(s2, depth)]
            if kind == "concatenate":
                axtxt = f", axis={ax}" if ax or self.coin(30) else ""
                text = f"np.concatenate([{parts[0].text}, {parts[1].text}]{axtxt})"
                probe = f"np.concatenate([{parts[0].probe}, {parts[1].probe}]{axtxt})"
            else:
                text = f"np.{kind}(({parts[0].text}, {parts[1].text}))"
                probe = f"np.{kind}(({parts[0].probe}, {parts[1].probe}))"
        else:
            raise Reject("stack")
        iv = parts[0].iv
        for p_ in parts[1:]:
            iv = iv_union(iv, p_.iv)
        self.note("stack:" + kind)
        return fresh(text, probe, shape, iv)

    def node_ternary(self, shape, depth):
        c = self.cond_scalar(depth)
        x, y = self.expr(shape, depth), self.expr(shape, depth)
        kind = "py" if x.kind == y.kind == "py" else "np"
        if x.kind != y.kind and shape == ():
            # CPython returns whichever branch: keep both numpy for a stable result type
            x, y = self.as_np(x), self.as_np(y)
        return derived(f"({x.text} if {c.text} else {y.text})", f"({x.probe} if {c.probe} else {y.probe})", shape,
                       iv_union(x.iv, y.iv), x, y, kind=kind)

    def as_np(self, v: Val) -> Val:
        if v.kind != "py":
            return v
        return fresh(f"np.float64({v.text})", f"np.float64({v.probe})", v.shape, v.iv)

    def node_lambda(self, shape, depth):
        if self.lambda_depth:
            raise Reject("nested lambda")
        src = self.pick([shape, self.env_shape()])
        x = self.expr(src, depth)
        t = self.name("t")
        saved = self.env
        self.env = saved + [Var(t, x.shape, x.lo, x.hi, kind=x.kind, roots=x.roots | {"_lambda"})]
        self.lambda_depth += 1
        try:
            body = self.expr(shape, depth + 1)
        finally:
            self.env = saved
            self.lambda_depth -= 1
        if t not in body.text:
            raise Reject("unused lambda parameter")
        out = fresh(f"(lambda {t}: {body.text})({x.text})", f"(lambda {t}: {body.probe})({x.probe})", shape,
                    body.iv, kind=body.kind)
        if body.roots:  # the lambda may return (a view of) its argument or an outer variable
            out = replace(out, roots=body.roots | x.roots | {"_lambda"})
        return out

    def node_helper(self, shape, depth):
        """A call of a module-level helper function (defined now, with its own body)."""
        if len(self.helpers) >= 3 or self.lambda_depth:
            raise Reject("helpers")
        nparams = self.i(1, 2)
        params = [self.expr(self.pick([shape, self.env_shape()]), depth) for _ in range(nparams)]
        hname = f"_h{len(self.helpers)}"
        saved_env = self.env
        names = [f"p{i}" for i in range(nparams)]
        self.env = [Var(n, p.shape, p.lo, p.hi, kind=p.kind, roots=frozenset({"_param"}))
                    for n, p in zip(names, params)]
        self.lambda_depth += 1
        try:
            lines, plines = [], []
            if self.coin(40):
                s2 = self.env_shape()
                mid = self.expr(s2, depth + 1)
                nm = self.name("q")
                lines.append(f"    {nm} = {mid.text}")
                plines.append(f"    {nm} = {mid.probe}")
                self.env.append(Var(nm, mid.shape, mid.lo, mid.hi, kind=mid.kind, roots=mid.roots))
            if self.coin(30):
                c = self.cond_scalar(depth)
                alt = self.expr(shape, depth)
                lines.append(f"    if {c.text}:\n        return {alt.text}")
                plines.append(f"    if {c.probe}:\n        return {alt.probe}")
            else:
                alt = None
            body = self.expr(shape, depth + 1)
            if alt is not None and alt.kind != body.kind and shape == ():
                raise Reject("helper return kinds")
            lines.append(f"    return {body.text}")
            plines.append(f"    return {body.probe}")
        finally:
            self.env = saved_env
            self.lambda_depth -= 1
        sig = ", ".join(names)
        self.helpers.append((f"def {hname}({sig}):\n" + "\n".join(lines) + "\n",
                             f"def {hname}({sig}):\n" + "\n".join(plines) + "\n"))
        iv = body.iv if alt is None else iv_union(body.iv, alt.iv)
        call = ", ".join(p.text for p in params)
        pcall = ", ".join(p.probe for p in params)
        out = fresh(f"{hname}({call})", f"{hname}({pcall})", shape, iv, kind=body.kind)
        if body.roots or (alt is not None and alt.roots):  # may return (a view of) a parameter
            out = replace(out, roots=frozenset({"_helper"}).union(*[p.roots for p in params]))
        return out

    def node_comprehension(self, shape, depth):
        """np.stack/np.array of a list comprehension, or sum() of a generator expression."""
        if self.lambda_depth:
            raise Reject("comprehension in lambda")
        rows = [v for v in self.env if v.kind == "np" and v.shape and v.dtype == "float64"]
        r = self.name("r")
        if shape and (self.coin(70) or not rows):
            n = shape[0]
            src = [v for v in rows if v.shape[0] == n]
            if src and self.coin(70):
                s = self.pick(src)
                loop, env_add = f"for {r} in {s.name}", [Var(r, s.shape[1:], s.lo, s.hi, roots=s.roots | {s.name})]
            else:
                loop, env_add = f"for {r} in range({n})", []
            saved = self.env
            self.env = saved + env_add
            try:
                body = self.expr(shape[1:], depth + 1)
                if not env_add:  # use the loop index
                    body = fresh(f"({body.text} * ({r} + 1.0))", f"({body.probe} * ({r} + 1.0))", body.shape,
                                 iv_scale(body.iv, n) if body.lo >= 0 else iv_union(body.iv, iv_scale(body.iv, n)),
                                 kind=body.kind)
            finally:
                self.env = saved
            fn = "np.array" if shape[1:] == () and self.coin() else "np.stack"
            if fn == "np.stack" and body.kind == "py":
                body = self.as_np(body)
            self.note("comprehension:list")
            return fresh(f"{fn}([{body.text} {loop}])", f"{fn}([{body.probe} {loop}])", shape, body.iv)
        if not rows:
            raise Reject("rows")
        s = self.pick(rows)
        saved = self.env
        self.env = saved + [Var(r, s.shape[1:], s.lo, s.hi, roots=s.roots | {s.name})]
        try:
            body = self.expr(shape, depth + 1)
        finally:
            self.env = saved
        if r not in body.text:
            raise Reject("unused")
        self.note("comprehension:sum")
        text = f"sum({body.text} for {r} in {s.name})"
        if body.kind == "py" and shape == ():
            return fresh(text, f"sum({body.probe} for {r} in {s.name})", shape, iv_scale(body.iv, s.shape[0]),
                         kind="py")
        return fresh(text, f"sum({body.probe} for {r} in {s.name})", shape,
                     iv_union(iv_scale(body.iv, s.shape[0]), (0.0, 0.0)))

    def node_pyscalar(self, shape, depth):
        x = self.expr((), depth)
        if x.kind == "py":
            u = self.pick([u for u in self.unary if u.math])
            x = self.fit(x, u.domain)
            pf = u.math + "(" + ("_ks(%s)" if u.pfmt else "%s") % x.probe + ")"
            return fresh(f"{u.math}({x.text})", pf, (), u.image(*x.iv), kind="py")
        form = self.pick(["float({0})", "{0}.item()", "float({0})"])
        if ".item" in form and not supported("m:item"):
            form = "float({0})"
        self.note("to-python-float")
        return fresh(form.format(x.text), form.format(x.probe), (), x.iv, kind="py")

    def node_dataint(self, shape, depth):
        """An element picked by an index computed from data (argmax/argmin, a count)."""
        rows = [v for v in self.env if v.kind == "np" and len(v.shape) == 1]
        if not rows:
            raise Reject("rows")
        target = self.pick(rows)
        n = target.shape[0]
        src = self.expr(self.pick([(self.pick(SHAPE_DIMS),), self.env_shape()]), depth)
        if src.kind == "py" or not src.shape:
            raise Reject("dataint")
        form = self.pick(["argmax", "argmin", "count"])
        if form == "count":
            t = self.threshold(src)
            k = f"int(np.sum({src.text} > {num(t)}))"
            pk = f"int(_kc(np.sum({src.probe} > {num(t)})))"
        else:
            k = f"int(np.{form}({src.text}))"
            pk = f"int(_kc(np.{form}({src.probe})))"
        self.note("data-int-index")
        return derived(f"{target.name}[{k} % {n}]", f"{target.name}[{pk} % {n}]", (), target.iv, target.val())

    def node_builtin_max(self, shape, depth):
        a, b = self.expr((), depth), self.expr((), depth)
        a, b = self.as_np(a), self.as_np(b)
        fn = self.pick(["max", "min"])
        self.note("builtin:" + fn)
        return fresh(f"{fn}({a.text}, {b.text})", f"{fn}(*_kpair({a.probe}, {b.probe}))", (),
                     _maxi(a.iv, b.iv) if fn == "max" else _mini(a.iv, b.iv))

    def node_norm(self, shape, depth):
        src = self.pick([(self.pick(SHAPE_DIMS),), self.env_shape()])
        if not src:
            raise Reject("norm")
        x = self.expr(src, depth)
        if x.kind == "py":
            raise Reject("norm")
        self.note("emulated:norm")
        m = _mag(x.iv) * math.sqrt(x.size)
        return fresh(f"np.linalg.norm({x.text})", f"np.linalg.norm(_knorm({x.probe}))", (), (0.0, m))

    def node_axisop(self, shape, depth):
        """cumsum / cumprod / sort / softmax ... along one axis (shape-preserving)."""
        if not self.axis_ops:
            raise Reject("no axis ops")
        op = self.pick(self.axis_ops)
        x = self.as_np(self.expr(shape, depth))
        x = self.fit(x, op.domain)
        k = self.i(0, len(shape) - 1)
        kt = k if self.coin() else k - len(shape)
        self.note("axis:" + op.name)
        # np.flip returns a view: writing into it later writes into its operand
        mk = (lambda *a: derived(*a, x)) if op.name == "flip" else fresh
        return mk(op.fmt.format(x.text, k=kt), (op.pfmt or op.fmt).format(x.probe, k=kt), shape,
                  op.image(x.iv, shape[k]))

    def node_linalg(self, shape, depth):
        """det / slogdet / trace / inv / solve / cholesky of a well-conditioned matrix."""
        n = shape[0] if shape else self.pick(SHAPE_DIMS)
        if len(shape) == 2 and shape[0] != shape[1]:
            raise Reject("square")
        x = self.as_np(self.expr((n, n), depth))
        # M = 3 I + 0.3 tanh(X): singular values in [3 - 0.3 n, 3 + 0.3 n] (n <= 4: >= 1.8)
        m_text = f"(np.eye({n}) * 3.0 + 0.3 * np.tanh({x.text}))"
        m_probe = f"(np.eye({n}) * 3.0 + 0.3 * np.tanh({x.probe}))"
        lo_s, hi_s = 3.0 - 0.3 * n, 3.0 + 0.3 * n
        if shape == ():
            kind = self.pick(["det", "slogdet", "trace", "norm_fro"])
            form = {"det": "np.linalg.det({0})", "slogdet": "np.linalg.slogdet({0})[1]",
                    "trace": "np.trace({0})", "norm_fro": "np.linalg.norm({0})"}[kind]
            iv = {"det": (lo_s ** n, hi_s ** n), "slogdet": (n * math.log(lo_s), n * math.log(hi_s)),
                  "trace": (n * 2.7, n * 3.3), "norm_fro": (0.0, hi_s * math.sqrt(n))}[kind]
            req = {"det": np.linalg.det, "slogdet": np.linalg.slogdet, "trace": np.trace,
                   "norm_fro": np.linalg.norm}[kind]
        elif len(shape) == 1:
            kind = "solve"
            v = self.as_np(self.expr((n,), depth))
            form = "np.linalg.solve({0}, {1})"
            iv = (-_mag(v.iv) * math.sqrt(n) / lo_s, _mag(v.iv) * math.sqrt(n) / lo_s)
            req = np.linalg.solve
        else:
            kind = self.pick(["inv", "cholesky", "matrix_power"])
            form = {"inv": "np.linalg.inv({0})", "cholesky": "np.linalg.cholesky({0} @ {0}.T)",
                    "matrix_power": "np.linalg.matrix_power({0}, 2)"}[kind]
            iv = {"inv": (-1.0 / lo_s, 1.0 / lo_s), "cholesky": (-hi_s, hi_s),
                  "matrix_power": (-hi_s ** 2, hi_s ** 2)}[kind]
            req = {"inv": np.linalg.inv, "cholesky": np.linalg.cholesky,
                   "matrix_power": np.linalg.matrix_power}[kind]
        if not supported(req):
            raise Reject("linalg not in the registry")
        if kind == "cholesky":  # (M evaluated once: a name would be nicer, an expression is fine)
            text, probe = form.format(m_text), form.format(m_probe)
        elif kind == "solve":
            text, probe = form.format(m_text, v.text), form.format(m_probe, v.probe)
        else:
            text, probe = form.format(m_text), form.format(m_probe)
        self.note("linalg:" + kind)
        return fresh(text, probe, shape, iv)

    def node_emulated(self, shape, depth):
        """numpy functions written in Python (emulated by pyautodiff)."""
        kind = self.pick(["diff", "roll", "triu", "pad", "flip", "polyval"])
        if kind == "diff":
            ax = self.i(0, len(shape) - 1)
            src = shape[:ax] + (shape[ax] + 1,) + shape[ax + 1:]
            x = self.expr(src, depth)
            iv = iv_sub(x.iv, x.iv)
            t = f"np.diff({{0}}, axis={ax})" if ax or self.coin() else "np.diff({0})"
            if not ax and len(shape) > 1:
                t = f"np.diff({{0}}, axis={ax})"
            if len(shape) == 1 or ax == len(shape) - 1:
                t = "np.diff({0})" if self.coin() else f"np.diff({{0}}, axis={ax})"
        elif kind == "roll":
            x = self.expr(shape, depth)
            ax = self.i(0, len(shape) - 1)
            t = f"np.roll({{0}}, {self.i(-2, 2)}, axis={ax})"
            iv = x.iv
        elif kind == "triu" and len(shape) == 2:
            x = self.expr(shape, depth)
            t = self.pick(["np.triu({0})", "np.tril({0})", "np.triu({0}, 1)"])
            iv = iv_union(x.iv, (0.0, 0.0))
        elif kind == "pad" and all(d >= 3 for d in shape) and len(shape) <= 2:
            x = self.expr(tuple(d - 2 for d in shape), depth)
            t = "np.pad({0}, 1)"
            iv = iv_union(x.iv, (0.0, 0.0))
        elif kind == "polyval":
            x = self.expr(shape, depth)
            if x.kind == "py":
                raise Reject("py")
            x = self.fit(x, (-1.5, 1.5))
            cs = [self.fnum(-1, 1) for _ in range(self.i(1, 3))]
            t = "np.polyval(%r, {0})" % (cs,)
            tot = sum(abs(c) for c in cs) * 1.5 ** len(cs)
            iv = (-tot, tot)
        else:
            kind = "flip"
            x = self.expr(shape, depth)
            t = f"np.flip({{0}}, axis={self.i(0, len(shape) - 1)})"
            iv = x.iv
        if x.kind == "py":
            raise Reject("py")
        self.note("emulated:" + kind)
        if kind == "flip":
            return derived(t.format(x.text), t.format(x.probe), shape, iv, x)
        return fresh(t.format(x.text), t.format(x.probe), shape, iv)

    # -- conditions ----------------------------------------------------------------------------
    def cond_scalar(self, depth) -> Val:
        """A data-dependent truth value for ``if``/``while``/ternaries."""
        kind = self.pick(["cmp", "cmp", "all", "any", "and", "not"])
        if kind in ("and", "not") and depth > 0:
            c1 = self.cond_scalar(depth - 1)
            if kind == "not":
                return fresh(f"not {c1.text}", f"not {c1.probe}", (), (0, 1), kind="bool")
            c2 = self.cond_scalar(depth - 1)
            op = self.pick(["and", "or"])
            return fresh(f"({c1.text} {op} {c2.text})", f"({c1.probe} {op} {c2.probe})", (), (0, 1), kind="bool")
        if kind in ("all", "any"):
            src = self.env_shape()
            c = self.cond_array(src, depth)
            form = self.pick([f"np.{kind}({{0}})", f"{{0}}.{kind}()"]) if c.kind != "py" else f"np.{kind}({{0}})"
            if c.shape == ():
                form = f"np.{kind}({{0}})"
            return fresh(form.format(c.text), form.format(c.probe), (), (0, 1), kind="bool")
        a = self.expr((), depth)
        if self.coin(50):
            b = self.expr((), depth)
        else:
            t = self.threshold(a)
            b = fresh(num(t), num(t), (), (t, t), kind="py")
        op, _ = self.pick(COMPARISONS)
        return fresh(f"{a.text} {op} {b.text}", f"_kcmp({a.probe}, {b.probe}, {CMP_FN[op]})", (), (0, 1),
                     kind="bool")

    # -- statements ----------------------------------------------------------------------------
    def block(self, n, depth, indent, allow_return=True):
        lines, plines = [], []
        for _ in range(n):
            kind = self.pick(self.stmt_kinds(allow_return))
            try:
                out = getattr(self, "stmt_" + kind)(depth, indent)
            except Reject:
                out = None
            if out is None:
                continue
            self.note("stmt:" + kind)
            ls, ps = out
            lines += ls
            plines += ps
            if kind == "return":
                break
        return lines, plines

    def stmt_kinds(self, allow_return):
        kinds = ["assign", "assign", "inplace", "inplace", "fill", "accumulate", "if", "while", "pyfloat", "try",
                 "break", "view_write"]
        if self.owned():
            kinds += ["inplace", "inplace", "view_write"]  # write into the arrays the function made
        if allow_return:
            kinds.append("return_if")
        return kinds

    def add_var(self, name, v: Val):
        self.env = [e for e in self.env if e.name != name]
        self.env.append(Var(name, v.shape, v.lo, v.hi, kind=v.kind if v.kind in ("np", "py") else "np",
                            roots=v.roots, dtype=v.dtype))

    def stmt_assign(self, depth, ind):
        shape = self.env_shape()
        v = self.expr(shape, depth)
        if v.kind == "bool":
            raise Reject("bool")
        name = self.name()
        self.add_var(name, v)
        return [f"{ind}{name} = {v.text}"], [f"{ind}{name} = {v.probe}"]

    def stmt_pyfloat(self, depth, ind):
        v = self.expr((), depth)
        name = self.name("s")
        if v.kind != "py":
            v = fresh(f"float({v.text})", f"float({v.probe})", (), v.iv, kind="py")
        self.add_var(name, v)
        return [f"{ind}{name} = {v.text}"], [f"{ind}{name} = {v.probe}"]

    def owned(self):
        return [v for v in self.env if v.owned]

    def widen(self, name, iv):
        """Variable ``name`` was written in place: widen its interval (and its views').

        Views of an array made in the function that may still hold only constants are
        dropped instead: if this write makes it traced, a view taken before is refused
        by pyautodiff (documented: "take the view after the write")."""
        created = any(v.name == name and v.created for v in self.env)
        out = []
        for v in self.env:
            if created and name in v.roots:
                continue
            if v.name == name or name in v.roots:
                lo, hi = iv_union(v.iv, iv)
                v = replace(v, lo=lo, hi=hi)
            out.append(v)
        self.env = out

    def stmt_inplace(self, depth, ind):
        owned = self.owned()
        if not owned:
            raise Reject("no owned array")
        x = self.pick(owned)
        s = x.shape
        kind = self.pick(["aug", "item", "item_aug", "slice", "col", "fancy", "fancy_aug", "mask", "out", "add_at",
                          "copyto", "put"])
        if kind == "aug":
            op = self.pick(["+=", "-=", "*=", "/="])
            e = self.expr(self.bshape(s), depth, bcast=True)
            if op == "*=":
                e = self.fit(e, (-1.5, 1.5))
            if op == "/=":
                e = self.fit(e, (0.5, 3.0))
            new = {"+=": iv_add, "-=": iv_sub, "*=": iv_mul, "/=": _div_img}[op](x.iv, e.iv)
            self.widen(x.name, new)
            return [f"{ind}{x.name} {op} {e.text}"], [f"{ind}{x.name} {op} {e.probe}"]
        if kind == "out":
            fn = self.pick(["np.add", "np.multiply", "np.subtract"])
            e = self.expr(self.bshape(s), depth, bcast=True)
            if fn == "np.multiply":
                e = self.fit(e, (-1.5, 1.5))
            new = {"np.add": iv_add, "np.multiply": iv_mul, "np.subtract": iv_sub}[fn](x.iv, e.iv)
            self.widen(x.name, new)
            self.note("ufunc-out")
            return [f"{ind}{fn}({x.name}, {e.text}, out={x.name})"], [f"{ind}{fn}({x.name}, {e.probe}, out={x.name})"]
        n = s[0]
        if kind == "add_at" and supported((np.add, "at")):
            m = self.i(1, 4)
            idx = self.fancy_index(n, m)
            e = self.expr(self.bshape((m,) + s[1:]), depth, bcast=True)
            self.widen(x.name, iv_union(x.iv, iv_add(x.iv, iv_scale(e.iv, m))))
            self.note("ufunc.at")
            return [f"{ind}np.add.at({x.name}, {idx}, {e.text})"], [f"{ind}np.add.at({x.name}, {idx}, {e.probe})"]
        if kind == "copyto" and supported(np.copyto):
            e = self.expr(self.bshape(s), depth, bcast=True)
            self.widen(x.name, e.iv)
            return [f"{ind}np.copyto({x.name}, {e.text})"], [f"{ind}np.copyto({x.name}, {e.probe})"]
        if kind == "put" and supported(np.put) and len(s) == 1:
            m = self.i(1, n)
            idx = [k % n for k in self.fancy_index(n, m)]
            e = self.expr(self.pick([(), (m,)]), depth, bcast=True)
            self.widen(x.name, e.iv)
            return [f"{ind}np.put({x.name}, {idx}, {e.text})"], [f"{ind}np.put({x.name}, {idx}, {e.probe})"]
        if kind in ("add_at", "copyto", "put"):
            kind = "item"
        if kind in ("item", "item_aug"):
            k = self.i(-n, n - 1)
            e = self.expr(self.bshape(s[1:]), depth, bcast=True)
            op = "=" if kind == "item" else self.pick(["+=", "-="])
            new = e.iv if op == "=" else (iv_add if op == "+=" else iv_sub)(x.iv, e.iv)
            self.widen(x.name, iv_union(x.iv, new))
            return [f"{ind}{x.name}[{k}] {op} {e.text}"], [f"{ind}{x.name}[{k}] {op} {e.probe}"]
        if kind == "slice":
            sl = self.slice_for(n, self.i(1, n))
            m = len(range(n)[_parse_slice(sl)])
            e = self.expr(self.bshape((m,) + s[1:]), depth, bcast=True)
            op = self.pick(["=", "+=", "*="])
            if op == "*=":
                e = self.fit(e, (-1.5, 1.5))
            new = e.iv if op == "=" else (iv_add if op == "+=" else iv_mul)(x.iv, e.iv)
            self.widen(x.name, iv_union(x.iv, new))
            return [f"{ind}{x.name}[{sl}] {op} {e.text}"], [f"{ind}{x.name}[{sl}] {op} {e.probe}"]
        if kind == "col" and len(s) >= 2:
            j = self.i(-s[1], s[1] - 1)
            e = self.expr(self.bshape((s[0],) + s[2:]), depth, bcast=True)
            self.widen(x.name, iv_union(x.iv, e.iv))
            return [f"{ind}{x.name}[:, {j}] = {e.text}"], [f"{ind}{x.name}[:, {j}] = {e.probe}"]
        if kind in ("fancy", "fancy_aug"):
            m = self.i(1, 3)
            idx = self.fancy_index(n, m)
            e = self.expr(self.bshape((m,) + s[1:]), depth, bcast=True)
            if kind == "fancy_aug":
                self.widen(x.name, iv_union(x.iv, iv_add(x.iv, e.iv)))
                return [f"{ind}{x.name}[{idx}] += {e.text}"], [f"{ind}{x.name}[{idx}] += {e.probe}"]
            self.widen(x.name, iv_union(x.iv, e.iv))
            return [f"{ind}{x.name}[{idx}] = {e.text}"], [f"{ind}{x.name}[{idx}] = {e.probe}"]
        if kind == "mask":
            t = self.threshold(x.val())
            c = self.fnum(-1, 1)
            op = self.pick([">", "<"])
            self.widen(x.name, iv_union(x.iv, (c, c)))
            self.note("mask-write")
            return ([f"{ind}{x.name}[{x.name} {op} {num(t)}] = {num(c)}"],
                    [f"{ind}{x.name}[_kc({x.name} {op} {num(t)})] = {num(c)}"])
        raise Reject("inplace")

    def stmt_view_write(self, depth, ind):
        owned = self.owned()
        if not owned:
            raise Reject("no owned")
        x = self.pick(owned)
        n = x.shape[0]
        sl = self.slice_for(n, self.i(1, n))
        m = len(range(n)[_parse_slice(sl)])
        w = self.name("w")
        e = self.expr(self.bshape((m,) + x.shape[1:]), depth, bcast=True)
        op = self.pick(["[...] =", "+=", "*=", "[0] ="])
        if op == "*=":
            e = self.fit(e, (-1.5, 1.5))
        if op == "[0] =":
            e = self.expr(self.bshape(x.shape[1:]), depth, bcast=True)
        new = {"+=": iv_add, "*=": iv_mul}.get(op, lambda a, b: b)(x.iv, e.iv)
        self.widen(x.name, iv_union(x.iv, new))
        sep = "" if op.startswith("[") else " "
        return ([f"{ind}{w} = {x.name}[{sl}]", f"{ind}{w}{sep}{op} {e.text}"],
                [f"{ind}{w} = {x.name}[{sl}]", f"{ind}{w}{sep}{op} {e.probe}"])

    def loop_header(self, n):
        """``for`` header over range/enumerate/zip, and the row variables it provides."""
        i = self.name("i")
        rows = [v for v in self.env if v.kind == "np" and v.shape and v.shape[0] == n and v.dtype == "float64"]
        form = self.pick(["range", "enumerate", "zip"] if rows else ["range"])
        row_vars = []
        if form == "range":
            head = f"for {i} in range({n}):"
            for v in rows:
                row_vars.append(Var(f"{v.name}[{i}]", v.shape[1:], v.lo, v.hi, roots=v.roots | {v.name}))
        elif form == "enumerate":
            v = self.pick(rows)
            r = self.name("r")
            head = f"for {i}, {r} in enumerate({v.name}):"
            row_vars.append(Var(r, v.shape[1:], v.lo, v.hi, roots=v.roots | {v.name}))
        else:
            v = self.pick(rows)
            w = self.pick(rows)
            r, q = self.name("r"), self.name("r")
            head = f"for {i}, ({r}, {q}) in enumerate(zip({v.name}, {w.name})):"
            row_vars.append(Var(r, v.shape[1:], v.lo, v.hi, roots=v.roots | {v.name}))
            row_vars.append(Var(q, w.shape[1:], w.lo, w.hi, roots=w.roots | {w.name}))
        self.note("loop:" + form)
        return head, i, row_vars

    def stmt_fill(self, depth, ind):
        """``out = np.zeros(shape)`` then ``out[i] = expr`` in a loop."""
        shape = self.env_shape()
        if not shape:
            shape = (self.pick(SHAPE_DIMS),)
        n = shape[0]
        name = self.name()
        head, i, rows = self.loop_header(n)
        saved = self.env
        self.env = saved + rows
        try:
            body = self.expr(shape[1:], depth, bcast=True)
        finally:
            self.env = saved
        op = self.pick(["=", "=", "+="])
        init = self.pick(["np.zeros({0})", "np.ones({0})", "np.full({0}, 0.5)", "np.zeros_like({1})"])
        like = [v for v in self.env if v.shape == shape and v.kind == "np" and v.dtype == "float64"]
        if "zeros_like" in init and not like:
            init = "np.zeros({0})"
        init = init.format(repr(shape), like[0].name if like else "")
        base = (0.5, 1.0) if ("ones" in init or "full" in init) else (0.0, 0.0)
        iv = iv_union(base, body.iv if op == "=" else iv_add(base, body.iv))
        lines = [f"{ind}{name} = {init}", f"{ind}{head}", f"{ind}    {name}[{i}] {op} {body.text}"]
        plines = [f"{ind}{name} = {init}", f"{ind}{head}", f"{ind}    {name}[{i}] {op} {body.probe}"]
        self.env.append(Var(name, shape, *iv, created=True))
        return lines, plines

    def stmt_accumulate(self, depth, ind):
        shape = self.env_shape()
        n = self.pick(SHAPE_DIMS)
        name = self.name("acc")
        head, i, rows = self.loop_header(n)
        saved = self.env
        self.env = saved + rows
        try:
            body = self.expr(shape, depth, bcast=True)
        finally:
            self.env = saved
        if shape == ():
            init = self.pick(["0.0", "0"])
            upd = self.pick([f"{name} = {name} + {{0}}", f"{name} += {{0}}"])
        else:
            init = f"np.zeros({shape!r})"
            upd = self.pick([f"{name} = {name} + {{0}}", f"{name} += {{0}}"])
        iv = iv_union((0.0, 0.0), iv_scale(body.iv, n))
        lines = [f"{ind}{name} = {init}", f"{ind}{head}", f"{ind}    " + upd.format(body.text)]
        plines = [f"{ind}{name} = {init}", f"{ind}{head}", f"{ind}    " + upd.format(body.probe)]
        kind = "py" if shape == () and body.kind == "py" else "np"
        self.env.append(Var(name, shape, *iv, kind=kind))
        return lines, plines

    def stmt_break(self, depth, ind):
        """A loop with a data-dependent ``break`` or ``continue``."""
        n = self.pick(SHAPE_DIMS)
        name = self.name("acc")
        head, i, rows = self.loop_header(n)
        saved = self.env
        self.env = saved + rows
        try:
            c = self.cond_scalar(depth)
            body = self.expr((), depth)
        finally:
            self.env = saved
        body = self.as_np(body)
        kw = self.pick(["break", "continue"])
        self.note("loop:" + kw)
        lines = [f"{ind}{name} = np.float64(0.0)", f"{ind}{head}", f"{ind}    if {c.text}:",
                 f"{ind}        {kw}", f"{ind}    {name} = {name} + {body.text}"]
        plines = [f"{ind}{name} = np.float64(0.0)", f"{ind}{head}", f"{ind}    if {c.probe}:",
                  f"{ind}        {kw}", f"{ind}    {name} = {name} + {body.probe}"]
        self.env.append(Var(name, (), *iv_union((0.0, 0.0), iv_scale(body.iv, n))))
        return lines, plines

    def stmt_if(self, depth, ind):
        """if/elif/else on data; every branch assigns the same new variable."""
        shape = self.env_shape()
        name = self.name()
        nbranch = self.pick([2, 2, 1, 3])
        saved = self.env
        envs, branches = [], []
        for b in range(nbranch):
            self.env = list(saved)
            if nbranch == 1 or b == 0:
                head = "if"
            else:
                head = "elif" if b < nbranch - 1 else "else"
            c = self.cond_scalar(depth) if head != "else" else None
            inner_l, inner_p = self.block(self.i(0, 1), depth, ind + "    ", allow_return=False)
            v = self.expr(shape, depth)
            branches.append((head, c, inner_l, inner_p, v))
            envs.append(self.env)
        self.env = list(saved)
        v0 = self.expr(shape, depth) if nbranch == 1 else None  # no else: assigned before the if
        values = [br[4] for br in branches] + ([v0] if v0 is not None else [])
        if len({v.kind for v in values}) > 1:  # Python float in one branch, numpy in another
            values = [self.as_np(v) for v in values]
        lines, plines = [], []
        if v0 is not None:
            v0 = values[-1]
            lines.append(f"{ind}{name} = {v0.text}")
            plines.append(f"{ind}{name} = {v0.probe}")
        iv = values[0].iv
        for (head, c, inner_l, inner_p, _), v in zip(branches, values):
            iv = iv_union(iv, v.iv)
            lines.append(f"{ind}{head} {c.text}:" if c else f"{ind}else:")
            plines.append(f"{ind}{head} {c.probe}:" if c else f"{ind}else:")
            lines += inner_l + [f"{ind}    {name} = {v.text}"]
            plines += inner_p + [f"{ind}    {name} = {v.probe}"]
        if v0 is not None:
            iv = iv_union(iv, v0.iv)
        # in-place writes inside branches widened intervals: merge
        merged = []
        for var in self.env:
            for e in envs:
                other = next((o for o in e if o.name == var.name), None)
                if other is not None:
                    var = replace(var, lo=min(var.lo, other.lo), hi=max(var.hi, other.hi))
            merged.append(var)
        self.env = merged
        roots = frozenset().union(*[v.roots for v in values])
        self.env.append(Var(name, shape, *iv, kind=values[0].kind if values[0].kind == "py" else "np",
                            roots=roots | {"_branch"}))
        self.note("if:%d" % nbranch)
        return lines, plines

    def stmt_while(self, depth, ind):
        shape = self.env_shape()
        name, k = self.name(), self.name("k")
        init = self.expr(shape, depth)
        init = self.fit(init, (-3.0, 3.0))
        init = self.as_np(init)
        m = self.i(1, 4)
        c = self.pick([0.5, -0.5, 0.9, 1.1])
        step = self.expr(self.bshape(shape), depth, bcast=True)
        step = self.fit(step, (-1.0, 1.0))
        form = self.pick(["np.sum({0}) {op} {t}", "np.max({0}) {op} {t}", "{0}.mean() {op} {t}"]) if shape else \
            "{0} {op} {t}"
        pform = {"np.sum({0}) {op} {t}": "_kcmp(np.sum({0}), {t}, {fn})",
                 "np.max({0}) {op} {t}": "_kcmp(np.max({0}), {t}, {fn})",
                 "{0}.mean() {op} {t}": "_kcmp({0}.mean(), {t}, {fn})",
                 "{0} {op} {t}": "_kcmp({0}, {t}, {fn})"}[form]
        # interval over the iterations
        iv = init.iv
        cur = init.iv
        for _ in range(m):
            cur = iv_add(iv_scale(cur, c), step.iv)
            iv = iv_union(iv, cur)
        scale = init.size if form.startswith("np.sum") else 1
        t = round(self.threshold(Val("", "", (), iv[0] * scale if scale > 1 else iv[0],
                                     iv[1] * scale if scale > 1 else iv[1])), 2)
        op = self.pick(["<", ">"])
        cond = form.format(name, op=op, t=num(t))
        pcond = pform.format(name, t=num(t), fn=CMP_FN[op])
        upd = self.pick([f"{name} = {name} * {num(c)} + {{0}}", f"{name} = {num(c)} * {name} + {{0}}"])
        lines = [f"{ind}{name} = {init.text}", f"{ind}{k} = 0", f"{ind}while {cond} and {k} < {m}:",
                 f"{ind}    " + upd.format(step.text), f"{ind}    {k} += 1"]
        plines = [f"{ind}{name} = {init.probe}", f"{ind}{k} = 0", f"{ind}while {pcond} and {k} < {m}:",
                  f"{ind}    " + upd.format(step.probe), f"{ind}    {k} += 1"]
        self.env.append(Var(name, shape, *iv, roots=init.roots))
        return lines, plines

    def stmt_try(self, depth, ind):
        """try/except around an index computed from data."""
        rows = [v for v in self.env if v.kind == "np" and v.shape]
        if not rows:
            raise Reject("rows")
        x = self.pick(rows)
        n = x.shape[0]
        src = self.expr((), depth)
        src = self.fit(src, (-1.0, 1.0))
        scale = round(1.5 * n, 1)
        name = self.name()
        alt = self.expr(x.shape[1:], depth)
        idx = f"int(np.floor({src.text} * {num(scale)}))"
        pidx = f"int(_kc(np.floor({src.probe} * {num(scale)})))"
        lines = [f"{ind}try:", f"{ind}    {name} = {x.name}[{idx}]", f"{ind}except IndexError:",
                 f"{ind}    {name} = {alt.text}"]
        plines = [f"{ind}try:", f"{ind}    {name} = {x.name}[{pidx}]", f"{ind}except IndexError:",
                  f"{ind}    {name} = {alt.probe}"]
        kind = "np" if alt.kind != "py" or not x.shape[1:] else "np"
        if alt.kind == "py" and x.shape[1:] == ():
            raise Reject("mixed result kinds")
        self.env.append(Var(name, x.shape[1:], *iv_union(x.iv, alt.iv), kind=kind, roots=frozenset({"_try"})))
        return lines, plines

    def stmt_return_if(self, depth, ind):
        c = self.cond_scalar(depth)
        r, pr = self.ret(depth)
        return [f"{ind}if {c.text}:", f"{ind}    return {r}"], [f"{ind}if {c.probe}:", f"{ind}    return {pr}"]

    def ret(self, depth):
        if self.ret_struct == "tuple":
            a = self.expr(self.env_shape(), depth)
            b = self.expr(self.env_shape(), depth)
            a, b = self.ret_kind(a), self.ret_kind(b)
            return f"{a.text}, {b.text}", f"{a.probe}, {b.probe}"
        if self.ret_struct == "dict":
            a = self.ret_kind(self.expr(self.env_shape(), depth))
            b = self.ret_kind(self.expr(self.env_shape(), depth))
            return '{"u": %s, "v": %s}' % (a.text, b.text), '{"u": %s, "v": %s}' % (a.probe, b.probe)
        v = self.ret_kind(self.expr(self.env_shape(), depth))
        return v.text, v.probe

    def ret_kind(self, v: Val) -> Val:
        return v

    # -- the whole program -----------------------------------------------------------------------
    def program(self) -> Program:
        args = self.draw_args()
        for a in args:
            if a.kind == "idx":
                self.env.append(Var(a.name, a.shape, 0, a.n, kind="int", is_arg=True, extra=(a.n,), dtype="int64"))
            else:
                self.env.append(Var(a.name, a.shape, a.lo, a.hi, kind="py" if a.kind == "py" else "np",
                                    is_arg=True, dtype="float32" if a.kind == "f32" else "float64"))
        self.ret_struct = self.pick(["single", "single", "single", "tuple", "dict"])
        depth = self.i(1, 3)
        n_stmts = self.i(0, 5)
        faults = ()
        if self.mode == "raise":  # the fault goes somewhere between the statements
            n_before = self.i(0, n_stmts)
            lines, plines = self.block(n_before, depth, "    ")
            fl, fp, faults = self.fault(depth)
            l2, p2 = self.block(n_stmts - n_before, depth, "    ")
            lines, plines = lines + fl + l2, plines + fp + p2
        else:
            lines, plines = self.block(n_stmts, depth, "    ")
        r, pr = self.ret(depth)
        lines.append(f"    return {r}")
        plines.append(f"    return {pr}")
        sig = ", ".join(a.name for a in args)
        helpers = "".join("\n\n" + h[0] for h in self.helpers)
        phelpers = "".join("\n\n" + h[1] for h in self.helpers)
        body = "\n".join(lines)
        pbody = "\n".join(plines)
        if self.ret_struct == "single":
            sc = "_sc(r)"
        elif self.ret_struct == "tuple":
            sc = "_sc(r[0]) + 2.0 * _sc(r[1])"
        else:
            sc = '_sc(r["u"]) - 0.5 * _sc(r["v"])'
        diff_args = [a.name for a in args if a.differentiable]
        if diff_args and not allow("grad-constant"):  # (keeps f_s dependent on the inputs)
            sc += f" + 0.0 * np.sum({diff_args[0]})"
        scal = f"\n\ndef f_s({sig}):\n    r = f({sig})\n    return {sc}\n"
        source = PRELUDE + helpers + f"\n\ndef f({sig}):\n{body}\n" + scal
        probe = PROBE_PRELUDE + phelpers + f"\n\ndef f({sig}):\n{pbody}\n" + scal
        compile(source, "<fuzz>", "exec")
        return Program(self.mode, args, source, probe, self.features, self.mag, faults)

    def draw_args(self):
        n = self.i(1, 3)
        args = []
        names = ["a", "b", "c"]
        for k in range(n):
            kind = self.pick(["arr", "arr", "arr", "py", "npf"] + (["f32"] if self.mode != "grad" else []))
            shape = self.shape() if kind in ("arr", "f32") else ()
            prev = [a.shape for a in args if a.shape]
            if shape and prev and self.coin(60):  # related to an earlier argument's shape
                shape = self.related_shape(self.pick(prev))
            if kind in ("arr", "f32") and k == 0 and not shape:
                shape = (self.pick(SHAPE_DIMS),)
            lo, hi = self.pick([(-2.0, 2.0), (-2.0, 2.0), (0.5, 2.5), (-1.0, 0.5)])
            args.append(Arg(names[k], kind, shape, lo, hi))
        if self.coin(25):
            dims = [a.shape[0] for a in args if a.shape]
            if dims:
                args.append(Arg("idx", "idx", (self.pick(SHAPE_DIMS),), 0, 0, n=self.pick(dims)))
        return args

    def related_shape(self, s):
        """A shape that broadcasts, contracts or transposes with ``s``."""
        kind = self.pick(["same", "bcast", "T", "contract", "append"])
        if kind == "same":
            return s
        if kind == "bcast":
            return self.bshape(s) or s
        if kind == "T":
            return tuple(reversed(s))
        if kind == "contract":  # s[-1] first: s @ new is defined
            return (s[-1], self.pick(SHAPE_DIMS))
        out = s + (self.pick(SHAPE_DIMS),)
        return out if len(out) <= 3 and int(np.prod(out)) <= MAX_SIZE else s

    # -- faults (mode "raise") -----------------------------------------------------------------
    def fault(self, depth):
        """One statement that raises (or not, depending on the data) what CPython raises."""
        ind = "    "
        kind = self.pick(["raise_if", "assert", "custom", "index", "zerodiv", "keyerror", "listindex",
                          "math_domain", "broadcast", "reshape", "axis", "static_index", "dot", "float_of_array",
                          "bool_of_array", "helper_raise", "caught", "int_index_input"])
        self.note("fault:" + kind)
        c = None
        if kind in ("raise_if", "assert", "custom", "zerodiv", "keyerror", "helper_raise"):
            c = self.cond_scalar(depth)
        if kind == "raise_if":
            msg = self.pick(["'fuzz: too large'", "f'fuzz: value {1 + 1}'"])
            exc = self.pick(["ValueError", "RuntimeError", "TypeError", "ArithmeticError"])
            return [f"{ind}if {c.text}:", f"{ind}    raise {exc}({msg})"], [f"{ind}if {c.probe}:",
                                                                             f"{ind}    raise {exc}({msg})"], (kind,)
        if kind == "assert":
            return [f"{ind}assert {c.text}, 'fuzz: assertion'"], [f"{ind}assert {c.probe}, 'fuzz: assertion'"], (kind,)
        if kind == "custom":
            return [f"{ind}if {c.text}:", f"{ind}    raise FuzzError('fuzz: custom', 3)"], \
                [f"{ind}if {c.probe}:", f"{ind}    raise FuzzError('fuzz: custom', 3)"], (kind,)
        if kind == "helper_raise":
            hname = f"_h{len(self.helpers)}"
            self.helpers.append((f"def {hname}(flag):\n    if flag:\n        raise KeyError('fuzz')\n    return 1.0\n",) * 2)
            return [f"{ind}_e = {hname}({c.text})"], [f"{ind}_e = {hname}({c.probe})"], (kind,)
        if kind == "zerodiv":
            form = self.pick(["1.0 / int({0})", "1 // int({0})", "5 % int({0})"])
            return [f"{ind}_e = " + form.format(c.text)], [f"{ind}_e = " + form.format(c.probe)], (kind,)
        if kind == "keyerror":
            return [f"{ind}_e = {{'p': 1.0}}['p' if {c.text} else 'q']"], \
                [f"{ind}_e = {{'p': 1.0}}['p' if {c.probe} else 'q']"], (kind,)
        rows = [v for v in self.env if v.kind == "np" and v.shape and v.dtype in ("float64", "float32")]
        if kind in ("index", "listindex", "caught"):
            src = self.fit(self.expr((), depth), (-1.0, 1.0))
            n = rows[0].shape[0] if rows and kind != "listindex" else 2
            idx = f"int(np.floor({src.text} * {num(1.6 * n)}))"
            if kind == "listindex":
                line = f"_e = [1.0, 2.0][{idx}]"
            else:
                x = self.pick(rows) if rows else None
                if x is None:
                    line = f"_e = [1.0, 2.0][{idx}]"
                else:
                    idx = f"int(np.floor({src.text} * {num(1.6 * x.shape[0])}))"
                    line = f"_e = {x.name}[{idx}]"
            if kind == "caught":
                return [f"{ind}try:", f"{ind}    {line}", f"{ind}except IndexError as err:",
                        f"{ind}    _e = str(err)"], \
                    [f"{ind}try:", f"{ind}    {line}", f"{ind}except IndexError as err:", f"{ind}    _e = str(err)"], \
                    (kind,)
            return [ind + line], [ind + line], (kind,)
        if kind == "math_domain":
            src = self.expr((), depth)
            t = self.threshold(src)
            fn = self.pick(["math.sqrt", "math.log", "math.acos"])
            arg = f"float({src.text}) - {num(t)}"
            if fn == "math.acos":
                arg = f"float({src.text}) - {num(t)} + 1.0"
            if not allow("math-domain-cached"):
                self.note("math-domain-static")  # only raise on every call or never
                arg = f"{num(t)} - {num(t)} - 1.0 + 0.0 * float({src.text})" if self.coin() else \
                    f"{num(abs(t) + 1.0)} + 0.0 * float({src.text})"
            return [f"{ind}_e = {fn}({arg})"], [f"{ind}_e = {fn}({arg})"], (kind,)
        if not rows:
            return [f"{ind}raise ValueError('fuzz: no arrays')"], [f"{ind}raise ValueError('fuzz: no arrays')"], (kind,)
        x = self.pick(rows)
        s = x.shape
        if kind == "broadcast":
            bad = tuple(d + 1 for d in s)
            return [f"{ind}_e = {x.name} + np.ones({bad!r})"], [f"{ind}_e = {x.name} + np.ones({bad!r})"], (kind,)
        if kind == "reshape":
            line = f"{ind}_e = {x.name}.reshape({int(np.prod(s)) + 1}, -1)"
            return [line], [line], (kind,)
        if kind == "axis":
            return [f"{ind}_e = np.sum({x.name}, axis={len(s)})"], [f"{ind}_e = np.sum({x.name}, axis={len(s)})"], (kind,)
        if kind == "static_index":
            return [f"{ind}_e = {x.name}[{s[0]}]"], [f"{ind}_e = {x.name}[{s[0]}]"], (kind,)
        if kind == "dot":
            return [f"{ind}_e = np.dot({x.name}, np.ones({s[-1] + 1}))"], \
                [f"{ind}_e = np.dot({x.name}, np.ones({s[-1] + 1}))"], (kind,)
        if kind == "float_of_array":
            if int(np.prod(s)) == 1:
                return [f"{ind}_e = float({x.name}) + float(np.ones(2))"], \
                    [f"{ind}_e = float({x.name}) + float(np.ones(2))"], (kind,)
            return [f"{ind}_e = float({x.name})"], [f"{ind}_e = float({x.name})"], (kind,)
        if kind == "bool_of_array":
            if int(np.prod(s)) == 1:
                return [f"{ind}if {x.name} + np.zeros(2):", f"{ind}    _e = 1.0"], \
                    [f"{ind}if {x.name} + np.zeros(2):", f"{ind}    _e = 1.0"], (kind,)
            return [f"{ind}if {x.name} > 0:", f"{ind}    _e = 1.0"], [f"{ind}if {x.name} > 0:", f"{ind}    _e = 1.0"], \
                (kind,)
        if kind == "int_index_input":
            idx_args = [v for v in self.env if v.kind == "int"]
            if idx_args:
                iv = idx_args[0]
                tgt = [v for v in rows if v.shape[0] == iv.extra[0]]
                if tgt:
                    lines = [f"{ind}_e = {tgt[0].name}[{iv.name}]"]
                    if not allow("dead-index-error"):  # the indexed value decides a branch: not dead
                        lines.append(f"{ind}if np.sum(_e) > 1e300:\n{ind}    raise ValueError('unreachable')")
                    return lines, lines, (kind,)
            return [f"{ind}_e = {x.name}[[0, {s[0]}]]"], [f"{ind}_e = {x.name}[[0, {s[0]}]]"], (kind,)
        raise AssertionError(kind)


def _broadcasts_to(s, shape):
    if len(s) > len(shape):
        return False
    for a, b in zip(reversed(s), reversed(shape)):
        if a != b and a != 1:
            return False
    return True


def _factorings(size):
    out = []
    for a in range(1, size + 1):
        if size % a == 0:
            out.append((a, size // a))
            out.append((size,))
    return [s for s in dict.fromkeys(out) if all(d <= 6 for d in s)] or [(size,)]


def _find_perm(s, shape, gen):
    perms = [p for p in __import__("itertools").permutations(range(len(s))) if tuple(s[i] for i in p) == shape]
    return gen.pick(perms)


def _subst(text, name, repl):
    """Replace the placeholder variable ``name`` (a whole identifier) in ``text``."""
    import re

    return re.sub(r"(?<![\w.])%s(?!\w)" % re.escape(name), lambda m: repl, text)


def _parse_slice(s):
    parts = s.split(":")
    conv = [int(p) if p.strip() not in ("", None) else None for p in parts]
    return slice(*conv)


# -- inputs --------------------------------------------------------------------------------------


def _floats(lo, hi, width=64):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width)


def draw_inputs(draw, prog: Program, jitter: bool):
    xs = []
    for a in prog.args:
        if a.kind == "py":
            xs.append(float(draw(_floats(a.lo, a.hi))))
        elif a.kind == "npf":
            xs.append(np.float64(draw(_floats(a.lo, a.hi))))
        elif a.kind == "idx":
            lo, hi = (-a.n, a.n - 1) if prog.mode != "raise" else (-a.n - 1, a.n)
            xs.append(draw(hnp.arrays(np.int64, a.shape, elements=st.integers(lo, hi))))
        else:
            dt = np.float32 if a.kind == "f32" else np.float64
            x = draw(hnp.arrays(dt, a.shape, elements=_floats(a.lo, a.hi, 32 if dt is np.float32 else 64)))
            if jitter and x.size:  # distinct values: no ties in max/abs/comparisons
                j = (np.arange(x.size).reshape(x.shape) * 0.61803 % 1.0 - 0.5) * 2e-3
                x = np.asarray(np.clip(x + j, a.lo, a.hi), dtype=dt).reshape(a.shape)
            xs.append(x)
    return tuple(xs)


@dataclass
class Case:
    program: Program
    inputs: list  # tuples of arguments, one per call

    def __repr__(self):
        return format_case(self.program, self.inputs)

    def _repr_pretty_(self, p, cycle):  # hypothesis prints falsifying examples with this
        p.text(repr(self))


def _input_code(x):
    if isinstance(x, np.ndarray):
        return f"np.array({x.tolist()!r}, dtype=np.{x.dtype.name})"
    if isinstance(x, np.floating):
        return f"np.float64({float(x)!r})"
    return repr(x)


def format_case(prog: Program, inputs) -> str:
    src = prog.source.replace(PRELUDE, "")
    lines = ["", "# ---- fuzz program (mode %s) ----" % prog.mode, "import math", "import numpy as np",
             "import scipy.special",
             "import pyautodiff as ad", "", "", "class FuzzError(Exception):", "    pass", "", "",
             "def _w(r):", "    return (np.cos(np.arange(np.size(r)) * 0.7 + 0.3) + 1.5).reshape(np.shape(r))",
             "", "", "def _sc(r):", "    return np.sum(r * _w(r))", src.rstrip(), ""]
    for k, xs in enumerate(inputs):
        lines.append(f"args{k} = ({', '.join(_input_code(x) for x in xs)}{',' if len(xs) == 1 else ''})")
    lines.append("# ----")
    return "\n".join(lines)


def cases(mode: str, n_calls: int = 2):
    """Strategy: a Case (program + ``n_calls`` input tuples) for ``mode``."""

    @st.composite
    def _case(draw):
        gen = Gen(draw, mode)
        try:
            prog = gen.program()
        except Reject:
            from hypothesis import reject

            reject()
        inputs = [draw_inputs(draw, prog, jitter=(mode == "grad")) for _ in range(n_calls)]
        return Case(prog, inputs)

    return _case()


# statistics printed at the end of the session (see conftest.py)
STATS: collections.Counter = collections.Counter()
FEATURES: collections.Counter = collections.Counter()  # grammar constructs used, summed over programs


def program_from_source(mode: str, args: list, body: str, helpers: str = "", ret: str = "single",
                        probe_body: str | None = None) -> Program:
    """A Program from hand-written source (regression tests): ``body`` is ``def f(...)``'s body.

    The probe is ``probe_body`` if given, else the same code (which records no decisions:
    finite differences are then compared on every coordinate, so keep such programs smooth
    at their inputs).
    """
    sig = ", ".join(a.name for a in args)
    diff_args = [a.name for a in args if a.differentiable]
    sc = {"single": "_sc(r)", "tuple": "_sc(r[0]) + 2.0 * _sc(r[1])"}[ret]
    sc += f" + 0.0 * np.sum({diff_args[0]})" if diff_args else ""
    tail = f"\n\ndef f_s({sig}):\n    r = f({sig})\n    return {sc}\n"
    text = helpers + f"\n\ndef f({sig}):\n" + body.rstrip() + "\n" + tail
    ptext = helpers + f"\n\ndef f({sig}):\n" + (probe_body or body).rstrip() + "\n" + tail
    return Program(mode, list(args), PRELUDE + text, PROBE_PRELUDE + ptext)
