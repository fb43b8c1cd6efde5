"""Expressions of the generated code: rendered numpy text with its dtype.

An `Expr` is a piece of Python source (``np.exp(x)``), its operator
precedence (to parenthesize only where needed), the names it reads and its
numpy dtype.  `apply_template` renders a template (`Tmpl`) on argument expressions
so that the result has exactly PyTensor's dtype: numpy's result dtype is
found by evaluating the same expression on tiny dummy values (cached), and
casts are inserted only where it differs.

Example::

    >>> import numpy as np
    >>> x = Expr("x", names={"x"}, dtype=np.dtype("float32"))
    >>> apply_template(call_template("np.exp", 1), [x], "float64").text
    'np.exp(x.astype(np.float64))'
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence

import numpy as np

from ...concurrency import quiet_warnings
from .registry import NoForm

# Python operator precedence, low to high (only what we emit).
P_LOW = 0
P_CMP = 5
P_BOR = 6
P_BXOR = 7
P_BAND = 8
P_ADD = 10
P_MUL = 11
P_UNARY = 12
P_POW = 13
P_ATOM = 20

NOVALUE = object()
_WEAK_DEFAULT = {bool: np.dtype(bool), int: np.dtype("int64"), float: np.dtype("float64"),
                 complex: np.dtype("complex128")}
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Expr:
    """A rendered numpy expression.

    ``dtype`` is a numpy dtype, or a Python type (``int``, ``float``, ``bool``,
    ``complex``) when the runtime value is a plain Python scalar, which numpy
    treats as "weak" when mixing dtypes (NEP 50).  ``fresh`` means the value is
    a newly allocated array that nothing else references, so it may be
    modified in place.  ``srcs`` are the elementwise-input positions the value
    depends on (for the broadcasting check), ``value`` the Python value of a
    literal constant.
    """

    __slots__ = ("const_dtype", "dtype", "fresh", "names", "prec", "srcs", "text", "value")

    def __init__(self, text, prec=P_ATOM, names=frozenset(), dtype=None, fresh=False,
                 value=NOVALUE, srcs=frozenset(), const_dtype=None):
        self.text = text
        self.prec = prec
        self.names = frozenset(names)
        self.dtype = dtype
        self.fresh = fresh
        self.value = value
        self.srcs = frozenset(srcs)
        self.const_dtype = const_dtype

    def replace(self, **kw):
        new = Expr.__new__(Expr)
        for k in Expr.__slots__:
            setattr(new, k, kw.get(k, getattr(self, k)))
        return new

    @property
    def is_literal(self):
        return self.value is not NOVALUE

    @property
    def is_name(self):
        return bool(IDENT.match(self.text)) and not self.is_literal

    @property
    def weak(self):
        return isinstance(self.dtype, type)

    def wrap(self, min_prec):
        return self.text if self.prec >= min_prec else f"({self.text})"


def dtype_name(dtype) -> str:
    """Source text for a dtype, e.g. ``np.float32`` or ``bool``."""
    dtype = np.dtype(dtype)
    return "bool" if dtype.kind == "b" else f"np.{dtype.name}"


def np_dtype(dt):
    return _WEAK_DEFAULT[dt] if isinstance(dt, type) else np.dtype(dt)


def dtype_matches(dt, target) -> bool:
    return np_dtype(dt) == np.dtype(target)


def _float_text(v: float) -> str:
    if np.isnan(v):
        return "np.nan"
    if np.isinf(v):
        return "np.inf" if v > 0 else "-np.inf"
    return repr(float(v))


def literal_expr(value, dtype) -> Expr:
    """A Python literal for a scalar constant of PyTensor dtype ``dtype``.

    Literals are "weak" for numpy; float32 constants whose short repr is not
    exact as a double are spelled ``np.float32(0.1)`` so the value is exact.
    """
    dtype = np.dtype(dtype)
    value = dtype.type(value).item()
    if dtype.kind == "b":
        return Expr(repr(bool(value)), dtype=bool, value=bool(value), const_dtype=dtype)
    if dtype.kind in "iu":
        return Expr(str(value), P_UNARY if value < 0 else P_ATOM, dtype=int, value=int(value),
                     const_dtype=dtype)
    if dtype.kind == "f":
        short = str(dtype.type(value)) if dtype.itemsize < 8 else repr(value)
        if np.isfinite(value) and float(short) != value:
            # e.g. float32(0.1): keep the exact value with an explicit dtype
            return Expr(f"{dtype_name(dtype)}({short})", dtype=dtype)
        text = _float_text(value)
        return Expr(text, P_UNARY if text.startswith("-") else P_ATOM, dtype=float,
                     value=float(value), const_dtype=dtype)
    if dtype.kind == "c":
        return Expr(repr(complex(value)), P_ATOM, dtype=complex, value=complex(value),
                     const_dtype=dtype)
    raise NoForm(f"constant of dtype {dtype}")


def strong(e: Expr, dtype=None) -> Expr:
    """Make a weak (Python scalar) expression a numpy value of ``dtype``."""
    if not e.weak:
        return e
    dtype = np.dtype(dtype if dtype is not None else (e.const_dtype or np_dtype(e.dtype)))
    text = f"{dtype_name(dtype)}({e.text})"
    return e.replace(text=text, prec=P_ATOM, dtype=dtype, value=NOVALUE, fresh=False)


def cast_expr(e: Expr, dtype) -> Expr:
    """``e`` converted to ``dtype`` (no-op if it already has it)."""
    dtype = np.dtype(dtype)
    if not e.weak and e.dtype == dtype:
        return e
    if e.weak:
        if dtype_matches(e.dtype, dtype):
            return e
        return strong(e, dtype)
    return e.replace(text=f"{e.wrap(P_ATOM)}.astype({dtype_name(dtype)})", prec=P_ATOM,
                     dtype=dtype, fresh=True, value=NOVALUE)


# ---------------------------------------------------------------------------
# Templates: format strings whose numpy result dtype we can probe
# ---------------------------------------------------------------------------


class Tmpl:
    """``fmt`` uses ``{0}``, ``{1}``...; ``arg_prec[i]`` is the minimum precedence
    argument i may have without parentheses; ``prec`` is the result's."""

    __slots__ = ("arg_prec", "fmt", "prec")

    def __init__(self, fmt, prec=P_ATOM, arg_prec=None):
        self.fmt = fmt
        self.prec = prec
        self.arg_prec = arg_prec

    def render(self, args: Sequence[Expr]) -> str:
        texts = [a.wrap(self.arg_prec[i] if self.arg_prec else P_LOW) for i, a in enumerate(args)]
        return self.fmt.format(*texts)


def call_template(name: str, nargs: int) -> Tmpl:
    inner = ", ".join(f"{{{i}}}" for i in range(nargs))
    return Tmpl(f"{name}({inner})")


def binop(sym: str, prec: int, nargs: int = 2) -> Tmpl:
    # Left-associative: parenthesize the right operands at equal precedence,
    # which preserves PyTensor's evaluation order exactly (floats are not
    # associative).  Comparisons never chain.
    first = prec + 1 if prec == P_CMP else prec
    fmt = f" {sym} ".join(f"{{{i}}}" for i in range(nargs))
    return Tmpl(fmt, prec, (first,) + (prec + 1,) * (nargs - 1))


def unop(sym: str) -> Tmpl:
    return Tmpl(f"{sym}{{0}}", P_UNARY, (P_UNARY + 1,))


POW = Tmpl("{0} ** {1}", P_POW, (P_POW + 1, P_UNARY))

_PROBE_FNS: dict[str, Callable] = {}
_PROBE_CACHE: dict[tuple, object] = {}


_PROBE_NS: dict = {"np": np}


def add_probe(name: str, source: str) -> None:
    """Make the helper function ``source`` (``def name(...)``, numpy as ``np``) callable in
    probed templates, e.g. ``Tmpl("sigmoid({0})")``.

    Example::

        add_probe("twice", "def twice(x):\n    return 2 * x")
    """
    if name not in _PROBE_NS:
        exec(source, _PROBE_NS)  # defines `name` in the namespace probes evaluate in


def _probe_namespace(fmt: str) -> dict:
    if "scipy." in fmt and "scipy" not in _PROBE_NS:
        importlib.import_module("scipy.special")
        importlib.import_module("scipy.linalg")
        _PROBE_NS["scipy"] = importlib.import_module("scipy")
    return _PROBE_NS


def _probe_key(e: Expr):
    if e.is_literal:
        return ("lit", type(e.value), e.value)
    if e.weak:
        return ("weak", e.dtype)
    return ("arr", np.dtype(e.dtype).str)


def _dummy(e: Expr):
    if e.is_literal:
        return e.value
    if e.weak:
        return e.dtype(1)
    return np.ones(1, dtype=e.dtype)


def probe_dtype(fmt: str, args: Sequence[Expr]):
    """The dtype numpy gives ``fmt`` on values like ``args`` (None if it fails)."""
    key = (fmt, tuple(_probe_key(a) for a in args))
    if key in _PROBE_CACHE:
        return _PROBE_CACHE[key]
    fn = _PROBE_FNS.get(fmt)
    if fn is None:
        params = [f"a{i}" for i in range(len(args))]
        fn = eval(f"lambda {', '.join(params)}: {fmt.format(*params)}", _probe_namespace(fmt))
        _PROBE_FNS[fmt] = fn
    try:
        with quiet_warnings():  # also in a background build: the caller's warnings still show
            res = fn(*[_dummy(a) for a in args])
        if isinstance(res, (np.ndarray, np.generic)):
            dt = res.dtype
        elif type(res) in _WEAK_DEFAULT:
            dt = type(res)
        else:
            dt = None
    except Exception:
        dt = None
    _PROBE_CACHE[key] = dt
    return dt


def apply_template(tmpl: Tmpl, args: Sequence[Expr], out_dtype) -> Expr:
    """Render ``tmpl`` on ``args`` so that the result has exactly ``out_dtype``.

    Tries, in order: the plain rendering; literal constants with an explicit
    dtype (e.g. float32 array * float64 constant computes in float64 in
    PyTensor); inputs upcast to the output dtype (when numpy would compute in
    lower precision, e.g. exp(int8) -> float16); finally a cast of the result.
    """
    out_dtype = np.dtype(out_dtype)
    names = frozenset().union(*[a.names for a in args]) if args else frozenset()
    srcs = frozenset().union(*[a.srcs for a in args]) if args else frozenset()

    def make(argv, dt):
        return Expr(tmpl.render(argv), tmpl.prec, names, dt, fresh=True, srcs=srcs)

    dt = probe_dtype(tmpl.fmt, args)
    if dt is not None and dtype_matches(dt, out_dtype):
        return make(args, dt)
    if any(a.is_literal for a in args):
        strong_args = [strong(a) if a.is_literal else a for a in args]
        dt2 = probe_dtype(tmpl.fmt, strong_args)
        if dt2 is not None and dtype_matches(dt2, out_dtype):
            return make(strong_args, dt2)
        if dt is None:
            args, dt = strong_args, dt2
    if out_dtype.kind in "fc" and (dt is None or (np_dtype(dt).kind in "biuf" and np.can_cast(
            np_dtype(dt), out_dtype, "safe"))):
        up_args = [a if a.weak or np_dtype(a.dtype).kind == "b" or
                   dtype_matches(a.dtype, out_dtype) else cast_expr(a, out_dtype) for a in args]
        dt3 = probe_dtype(tmpl.fmt, up_args)
        if dt3 is not None and dtype_matches(dt3, out_dtype):
            return make(up_args, dt3)
    if dt is None:
        raise NoForm(f"numpy cannot evaluate {tmpl.fmt!r} for these dtypes")
    return cast_expr(make(args, dt), out_dtype)


def shape_tuple(items: Sequence[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
