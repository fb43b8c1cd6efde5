"""``Traced``: a concrete numpy value with its symbolic PyTensor shadow.

A value that depends on an input of the traced function is boxed as
``Traced(value, sym)``: ``value`` is exactly what numpy computed, ``sym`` the
symbolic PyTensor variable computing it from the inputs (not ``var``, which is
``ndarray.var``: a traced array answers it, as every ndarray method, through
the lowering registry).  Operators, numpy's override
protocols (``__array_ufunc__``/``__array_function__``) and attribute access
route to the lowering registry, so numpy code — even numpy's own C code
calling back into Python — builds the graph.  Every conversion that would
silently drop the shadow (``__float__``, ``__array__``) raises instead, and
every conversion into Python control (``__bool__``, ``__int__``, ``__index__``,
data-dependent shapes) records a guard.

Example (inside a trace, values print as numpy would print them)::

    x = Traced(np.ones(3), pt.vector("x"))
    y = (x * 2).sum()          # Traced(6.0, Sum(Mul(x, 2)))
"""
from __future__ import annotations

import operator
import sys

import numpy as np
import pytensor.tensor as pt

from . import active


class Traced:
    """A value computed by numpy during the trace and its symbolic variable."""

    __slots__ = ("value", "_sym", "version", "_view")

    def __init__(self, value, sym, view=None):
        self.value = value
        self._sym = sym
        self.version = 0  # bumped on every in-place write
        # For views: (base Traced, fwd(base_var) -> var, inv(base_var, var) -> base_var or None, base version)
        self._view = view

    # -- the symbolic side, kept exact across in-place writes -----------
    @property
    def sym(self):
        """The PyTensor variable computing this value from the inputs (a view's is
        recomputed from its base if the base was written since)."""
        view = self._view
        if view is not None:
            base, fwd, inv, seen = view
            if base.stamp() != seen:
                if fwd is None:
                    raise active.require().unsupported(
                        "an array was written after a view of it was taken by an operation "
                        "that pyautodiff cannot replay; copy the view (.copy()) or write first"
                    )
                self._sym = fwd(base.sym)
                self._view = (base, fwd, inv, base.stamp())
        return self._sym

    def stamp(self) -> int:
        """Changes whenever this array or anything it is a view of is written: the sum of
        the write counts up the chain of bases. A view of a view (``a.reshape(2, 2)[None]``)
        compares its base's stamp, not only its version: a write into ``a`` bumps no
        version of the reshape, and the view kept the value from before the write."""
        total, box = self.version, self
        while box._view is not None:
            box = box._view[0]
            total += box.version
        return total

    def check_writable(self) -> None:
        """Refuse a write into an argument (or a view of one) before numpy makes
        it: the concrete values of arguments are read-only views of the
        caller's arrays, not copies."""
        ctx = active.require()
        box = self
        while box is not None:
            what = ctx.readonly.get(id(box))
            if what is not None:
                raise ctx.unsupported(
                    f"the function writes into {what} in place; cached calls would not repeat that "
                    "side effect. Work on a copy (x = x.copy())"
                )
            box = box._view[0] if box._view is not None else None

    def assign(self, new_var) -> None:
        """Record an in-place write (the concrete value is already updated)."""
        ctx = active.require()
        self.check_writable()
        view = self._view
        if view is not None:
            base, fwd, inv, _ = view
            if inv is None:
                raise ctx.unsupported(
                    "writing through a view that pyautodiff cannot map back to its base; "
                    "write into the base array with an index instead"
                )
            base.assign(inv(base.sym, new_var))
            self._view = (base, fwd, inv, base.stamp())
        self._sym = new_var
        self.version += 1

    # -- numpy's view of the object -------------------------------------
    @property
    def __class__(self):  # isinstance(x, np.ndarray) / float, as numpy would answer
        return type(self.value)

    __array_ufunc__ = None  # replaced by lowering (kept here to document intent)

    def __array__(self, *args, **kwargs):
        raise _escape("converted to a plain numpy array (__array__)")

    def __float__(self):
        raise _escape("converted to a Python float")

    def __complex__(self):
        raise _escape("converted to a Python complex")

    def __repr__(self):
        return repr(self.value)

    def __str__(self):
        return str(self.value)

    def __format__(self, spec):
        return format(self.value, spec)

    def __hash__(self):
        h = hash(self.value)  # numpy's TypeError for an array
        # A dict or set finds (or misses) an entry by the value itself, out of the graph's
        # sight: the trace holds for this value only (a guard; another value traces again).
        ctx = active.current()
        if ctx is not None:
            var = self.sym
            same = pt.isnan(var) if self.value != self.value else pt.eq(var, self.value)
            ctx.add_guard(same, True, "hash")
        return h

    # -- conversions into Python control: guards ------------------------
    def __bool__(self):
        outcome = bool(self.value)  # numpy's own error for ambiguous truth values
        var = self.sym
        expr = var if var.dtype == "bool" else pt.neq(var, 0)
        if var.ndim:
            expr = expr.any()
        active.require().add_guard(expr, outcome, "bool")
        return outcome

    def __int__(self):
        outcome = int(self.value)
        var = self.sym
        if var.ndim:
            var = var.flatten()[0]
        expr = pt.cast(var, "int64")
        active.require().add_guard(expr, outcome, "int")
        return outcome

    def __index__(self):
        outcome = operator.index(self.value)  # TypeError for floats, as numpy
        active.require().add_guard(pt.cast(self.sym, "int64"), outcome, "index")
        return outcome

    # -- shape attributes (guarded when the shape depends on data) -------
    @property
    def shape(self):
        shape = self.value.shape
        static = self.sym.type.shape
        if None in static:
            for i, (s, known) in enumerate(zip(shape, static)):
                if known is None:
                    active.require().add_guard(self.sym.shape[i], s, "shape")
        return shape

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def size(self):
        self.shape  # records guards for data-dependent shapes
        return self.value.size

    def __len__(self):
        self.shape
        return len(self.value)

    def __iter__(self):
        return TracedRows(self, 0, len(self))


class TracedRows:
    """The iterator over a traced array's rows (``for row in X``): ``X[0]``, ``X[1]``...

    A class rather than a generator so that loop rolling (``vm/loop_sources.py``) can
    see what is iterated and from which position, even inside ``enumerate``/``zip``."""

    __slots__ = ("traced", "pos", "stop")

    def __init__(self, traced, pos, stop):
        self.traced, self.pos, self.stop = traced, pos, stop

    def __iter__(self):
        return self

    def __next__(self):
        if self.pos >= self.stop:
            raise StopIteration
        self.pos += 1
        return self.traced[self.pos - 1]


def _escape(what: str):
    ctx = active.current()
    callee = f" by {ctx.callee}" if ctx is not None and ctx.callee else ""
    message = (
        f"a traced value was {what}{callee}; its dependence on the inputs would be lost. "
        "Use a numpy operation instead, or, if the value comes from an argument that is not "
        "differentiated, mark that argument static (e.g. ad.grad(f, static=(\"n\",)))."
    )
    if ctx is not None and _in_pandas(ctx):
        message += (" pandas objects cannot hold traced values: convert the pandas data to numpy "
                    "before it meets them (series.to_numpy(), df.to_numpy()).")
    if ctx is None:
        from .errors import UnsupportedError

        return UnsupportedError(message)
    return ctx.unsupported(message)


def _frames(ctx):
    emulator = getattr(ctx, "emulator", None)
    return emulator.frames if emulator is not None else ()


def _in_pandas(ctx) -> bool:
    """Is pandas' code running, emulated or for real (``series * traced`` runs pandas' operator)?"""
    def pandas(module) -> bool:
        return (module or "").partition(".")[0] == "pandas"

    if pandas(ctx.callee) or any(pandas(getattr(f.func, "__module__", None)) for f in _frames(ctx)):
        return True
    frame = sys._getframe(1)
    while frame is not None:  # pandas run for real, calling __array__
        if pandas(frame.f_globals.get("__name__")):
            return True
        frame = frame.f_back
    return False


def leaf_kind(t: Traced) -> str:
    """What a traced leaf holds, for result templates: "array", "float" or "scalar" (numpy)."""
    v = t.value
    if isinstance(v, np.ndarray):
        return "array"
    if type(v) is float:
        return "float"
    return "scalar"


def is_traced(x) -> bool:
    return type(x) is Traced


def contains_traced(x, _depth=0) -> bool:
    """True if ``x`` or anything inside a list/tuple/dict/set of it is Traced."""
    t = type(x)
    if t is Traced:
        return True
    if _depth > 8:
        return False
    if t in (list, tuple, set, frozenset) or (isinstance(x, tuple) and hasattr(x, "_fields")):
        return any(contains_traced(v, _depth + 1) for v in x)
    if t is dict:
        return any(contains_traced(v, _depth + 1) for v in x.values())
    return False


def unwrap(x):
    """The concrete value of ``x`` (deep through lists, tuples and dicts)."""
    t = type(x)
    if t is Traced:
        return x.value
    if t in (list, tuple):
        return t(unwrap(v) for v in x)
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return t(*(unwrap(v) for v in x))
    if t is dict:
        return {k: unwrap(v) for k, v in x.items()}
    return x
