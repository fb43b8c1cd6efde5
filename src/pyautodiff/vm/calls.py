"""The call policy: what the emulator does with a call in traced code.

A call is traced through (another transformation: ``compose.py``), replayed as a
graph input (a random draw), routed through the emulator (``map``, ``sorted``,
``reduce``... in ``higher_order.py``), lowered (the registry: ``float(x)``,
``np.exp(x)``), emulated in a new frame (user and library Python that received a
traced value), or run for real, in that order.  ``CallPolicy`` is a mixin of the
``Interpreter``, which provides ``run_function``, its ``frames`` and the trace context ``ctx``.

Example::

    interp = Interpreter(ctx)           # an Interpreter is a CallPolicy
    interp.call(np.exp, (x,), {})       # lowered: a Traced result
"""
from __future__ import annotations

import functools
import types

import numpy as np

from .. import outside, writes
from ..context import CONTENT_GUARD_BYTES
from ..errors import AutodiffError
from ..library_code import is_library
from ..lowering import registry
from ..traced import Traced, contains_traced, unwrap
from . import higher_order

_CO_ASYNC = 0x80 | 0x100 | 0x200


def _holds_traced(obj, depth=0) -> bool:
    """A library object whose attributes hold traced values (a frozen scipy.stats distribution
    of traced parameters): its methods are emulated even when called without traced arguments
    (``st.norm(mu, s).mean()``), or they would meet the traced values in C code."""
    d = getattr(obj, "__dict__", None)
    if type(d) is not dict:
        return False
    if contains_traced(d):
        return True
    # one level down: a frozen multivariate_normal keeps its covariance in a Covariance object
    return depth < 1 and any(is_library(type(v)) and _holds_traced(v, depth + 1) for v in d.values())


def _integer_hint(args, kwargs) -> str:
    """What to do when the traced value a function refused is integer data (labels, indices)."""
    leaves = [a for a in (*args, *kwargs.values()) if type(a) is Traced]
    if not any(a.value.dtype.kind in "biu" for a in leaves if hasattr(a.value, "dtype")):
        return ""
    return ("; it got integer data (labels, indices?), which is traced when it is an argument of the "
            "transformed function or an outside array over "
            f"{CONTENT_GUARD_BYTES >> 20} MB: pass it as a static argument (static=...) so the "
            "library sees a concrete array")


def _zero_argument_super(f):
    """``super()`` called in emulated frame ``f``: CPython's own reads the *calling* frame (ours,
    not the emulated one), so the class cell and the first argument are read from ``f``."""
    names = f.decoded.localsplus
    if "__class__" not in names or not names:
        raise RuntimeError("super(): __class__ cell not found")
    cls = f.localsplus[names.index("__class__")].cell_contents
    first = f.localsplus[0]
    if isinstance(first, types.CellType):  # the first argument is captured by a closure
        first = first.cell_contents
    return super(cls, first)


# Callable types whose calls are traced through rather than run (type -> handler(interp, fn,
# args, kwargs)); api.py and vmap.py register pyautodiff's transformations (compose.py).
TRACED_THROUGH: dict = {}


class CallPolicy:
    """How the emulator calls a function (see the module docstring)."""

    def call(self, fn, args, kwargs):
        """Call ``fn`` as the traced code would: emulate, lower or run for real."""
        traced = contains_traced(args) or (bool(kwargs) and contains_traced(kwargs))
        if type(fn) is functools.partial and type(fn.func) in TRACED_THROUGH:  # a decorated method
            fn, args, kwargs = fn.func, (*fn.args, *args), {**fn.keywords, **kwargs}
        through = TRACED_THROUGH.get(type(fn))
        if through is not None:  # a transformation: its graph is built inside this one
            return through(self, fn, args, kwargs)
        if is_random_draw(fn):
            return self._random_draw(fn, args, kwargs, traced)
        hook = higher_order.lookup(fn, args, kwargs)
        if hook is not None:  # map, sorted(key=), reduce, partial...: their function is called through us
            return hook(self, args, kwargs)
        if traced:
            entry = registry.lookup(fn)
            if entry is not None:
                return entry.fn(*args, **kwargs)
        target = self._emulation_target(fn, args, traced)
        if target is not None:
            func, args = target
            return self.run_function(func, args, kwargs)
        if traced and isinstance(fn, type) and _python_init(fn):
            return self._construct(fn, args, kwargs)
        if traced and is_library(fn) and getattr(fn, "__module__", "").startswith("pyautodiff"):
            raise self.ctx.unsupported("calling a pyautodiff transformation inside traced code is not supported; "
                                       "use ad.hessian / ad.jacobian for higher derivatives")
        if fn is super and not args and not kwargs and self.frames:  # 3.11's zero-argument super()
            return _zero_argument_super(self.frames[-1])
        effect = writes.before_call(self.ctx, fn, args, kwargs)  # print, LOG.append: replayed
        prev, self.ctx.callee = self.ctx.callee, _callable_name(fn)
        try:
            result = fn(*args, **kwargs)
            if effect is not None:
                effect(result)
        except AutodiffError:
            raise
        except Exception as exc:
            if traced and not isinstance(fn, types.FunctionType) and _accepts_concrete(fn, args, kwargs):
                # It fails only because it received a traced value: say so.
                raise self.ctx.unsupported(
                    f"{self.ctx.callee} cannot take a traced value ({type(exc).__name__}: {exc}); "
                    "pyautodiff cannot follow values into it. Use numpy operations, or pass it "
                    "values that do not depend on the differentiated inputs" + _integer_hint(args, kwargs)) from exc
            raise
        finally:
            self.ctx.callee = prev
        if type(result) is np.ndarray:
            self.ctx.note_created(result)
        elif isinstance(fn, type):
            outside.note_created(self.ctx, result)
        elif self.frames and self.frames[-1].is_user_code:
            result = outside.after_call(self.ctx, fn, args, kwargs, result)  # len(G), os.getenv, d.get
        return self.ctx.resolve(result)

    def _emulation_target(self, fn, args, traced):
        if isinstance(fn, types.FunctionType):
            if fn.__code__.co_flags & _CO_ASYNC:
                return None
            if not traced and is_library(fn) and fn not in self._made:
                return None
            return fn, args
        if isinstance(fn, types.MethodType) and isinstance(fn.__func__, types.FunctionType):
            if not traced and is_library(fn.__func__) and not contains_traced(fn.__self__) \
                    and not _holds_traced(fn.__self__):
                return None
            return fn.__func__, (fn.__self__, *args)
        if isinstance(fn, functools.partial) and traced:
            return self._emulation_target(fn.func, (*fn.args, *args), True) if not fn.keywords else None
        call = getattr(type(fn), "__call__", None)
        if (traced and isinstance(call, types.FunctionType) and not isinstance(fn, type)
                and not (call.__module__ or "").startswith("pyautodiff")):  # ours are refused by name below
            return call, (fn, *args)  # a callable object (scipy.stats.multivariate_normal(mean, cov))
        return None

    def _random_draw(self, fn, args, kwargs, traced):
        """A random draw becomes a graph input, drawn again on every call."""
        name = _callable_name(fn)
        if traced:
            raise self.ctx.unsupported(
                f"{name} receives a traced value; draw standard variates and transform them "
                "instead (e.g. mu + sigma * rng.standard_normal(size))")
        value = fn(*args, **kwargs)
        self.ctx.n_draws = getattr(self.ctx, "n_draws", 0) + 1
        key = ("random", self.ctx.n_draws)
        drawn = self.ctx.read_external(key, functools.partial(fn, *args, **kwargs), value,
                                       f"random draw '{getattr(fn, '__name__', 'draw')}'")
        if self.ctx.externals.get(key) is None or self.ctx.externals[key].kind != "input":
            raise self.ctx.unsupported(f"{name} returned a {type(value).__name__}; only numeric random "
                                       "draws can be replayed on every call")
        self.ctx.externals[key].fresh = True
        return drawn

    def _construct(self, cls, args, kwargs):
        obj = cls.__new__(cls)
        outside.note_created(self.ctx, obj)
        self.run_function(cls.__init__, (obj, *args), kwargs)
        return obj


_RANDOM_SOURCES = (np.random.Generator, np.random.RandomState)


def is_random_draw(fn) -> bool:
    """A method of a numpy or stdlib random generator (np.random.normal is one too)."""
    import random

    owner = getattr(fn, "__self__", None)
    if owner is None or isinstance(owner, type):
        return False
    if isinstance(owner, _RANDOM_SOURCES) or isinstance(owner, random.Random):
        return getattr(fn, "__name__", "") not in _RANDOM_NON_DRAWS
    return False


# Generator methods that do not draw (state handling, spawning)
_RANDOM_NON_DRAWS = frozenset({"seed", "get_state", "set_state", "spawn", "bit_generator", "getstate",
                               "setstate", "__getstate__", "__setstate__", "__reduce__"})


def _accepts_concrete(fn, args, kwargs) -> bool:
    try:
        fn(*unwrap(args), **unwrap(kwargs))
    except Exception:
        return False
    return True


def _python_init(cls) -> bool:
    init = getattr(cls, "__init__", None)
    # scipy's classes too (scipy.stats' _PSD factors a traced covariance in __init__), when
    # object.__new__ makes their instances, as _construct does
    if not isinstance(init, types.FunctionType):
        return False
    if not is_library(init):
        return True
    return (init.__module__ or "").partition(".")[0] == "scipy" and cls.__new__ is object.__new__


def _callable_name(fn) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else name
