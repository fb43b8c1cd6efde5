"""Reads of the world outside the arguments: one chain of reads per value, guarded.

A traced function may read state that is not among its arguments: module
globals, closure variables, attributes of objects and classes, items of
containers, ``len`` of a list, ``os.environ``, a function's defaults and code.
A cached call must see that state as it is *now*.  The rule, as in
TorchDynamo's guards, is one mechanism: every value the trace reaches from a
*root* (a global, a closure cell, a module attribute, an object the function
is bound to or given) is reached by a *chain* of reads (``MODELS["m"].y``:
global ``MODELS``, item ``"m"``, attribute ``y``), and each step is recorded
with a fetch that repeats the chain from its root.  On every cached call each
step is fetched again and checked by its kind (``context.External``):

- numeric arrays and floats are graph *inputs* (fetched, so in-place changes
  are seen; type, shape and dtype must match);
- ints, strings, bools, None (and ``len``, ``in`` and ``os.getenv`` results)
  are guarded by *value*;
- other objects stored in a dict, list, tuple, module, instance or class
  (a replaced model, a re-seeded generator, a rebound tuple) by *identity*;
- a user function the trace runs, by the identity of its ``__code__``,
  ``__defaults__`` and ``__kwdefaults__`` and of each keyword default.

A step that fails sends the call to a new trace.  Objects the trace itself
created (instances of classes called during the trace) are not outside.
Not guarded: modules and numpy/scipy/standard-library functions and classes
(rebinding ``np`` or ``np.sum`` is not followed), and attributes of
library objects other than what their instance ``__dict__`` holds.

Example::

    MODELS["m"] = Model(y1)
    g = ad.grad(lambda q: MODELS["m"].loglike(q))
    g(q)                      # traced: MODELS (identity), MODELS["m"] (identity), .y (input)
    MODELS["m"] = Model(y2)
    g(q)                      # the identity step fails: traced again, y2's gradient
"""
from __future__ import annotations

import collections.abc
import io
import os
import types

from .library_code import LIBRARY_ROOTS, is_library
from .traced import Traced

# Library objects whose contents are outside state (os.environ, sys.argv, ...).
_MUTABLE_STATE = (dict, list, collections.abc.MutableMapping, io.IOBase)
# Containers whose items are stored objects (an identity guard on an item is stable).
_STORING = (dict, list, tuple)
_KEY_TYPES = (int, str, bytes, bool, float, type(None))
# Builtin-method reads of an outside container repeated on every call (side-effect free).
_METHOD_READS = frozenset({"get", "__contains__", "__getitem__", "count", "index"})


def source(ctx, obj):
    """() -> ``obj`` as reached from its root now (itself, for roots and arguments)."""
    fetch = ctx.sources.get(id(obj))
    return fetch if fetch is not None else (lambda o=obj: o)


def is_outside(ctx, obj) -> bool:
    """Reached from a root, or an instance of a user class the trace did not create."""
    if id(obj) in ctx.sources:
        return True
    return id(obj) not in ctx.inside and not isinstance(obj, type) and not is_library(type(obj))


def note_created(ctx, obj) -> None:
    """``obj`` was created by the trace (a class called): its attributes are not outside reads."""
    ctx.inside.add(id(obj))
    ctx.keepalive.append(obj)


def _stored_attr(obj, name) -> bool:
    """Is ``obj.name`` a stored value (not computed anew by a property or other descriptor)?"""
    d = getattr(obj, "__dict__", None)
    if not isinstance(obj, type) and isinstance(d, dict) and name in d:
        return True
    for k in (obj.__mro__ if isinstance(obj, type) else type(obj).__mro__):
        if name in k.__dict__:
            v = k.__dict__[name]
            return not hasattr(type(v), "__get__") or \
                isinstance(v, (types.FunctionType, staticmethod, types.MemberDescriptorType))  # __slots__
    return False


def read_attr(ctx, obj, name, value):
    """``obj.name`` read by user code: a step of a chain when ``obj`` is outside."""
    if isinstance(obj, types.ModuleType):
        if obj.__name__.partition(".")[0] not in LIBRARY_ROOTS or isinstance(value, _MUTABLE_STATE):
            d = obj.__dict__
            if name in d:
                return ctx.read_external(("global", id(d), name), lambda d=d, n=name: d[n], value,
                                         f"global '{name}' of {obj.__name__}")
        return value
    if isinstance(obj, type):
        if is_library(obj):
            return value
    elif not is_outside(ctx, obj) or ("attr", id(obj), name) in ctx.written:
        return value  # the trace's own object, or a value this call wrote (writes.py)
    elif is_library(type(obj)) and name not in (getattr(obj, "__dict__", None) or ()):
        return value  # an array's .shape, a generator's method: not state we follow
    src = source(ctx, obj)
    ctx.keepalive.append(obj)
    if isinstance(value, types.MethodType) and value.__self__ is obj and isinstance(value.__func__, types.FunctionType):
        # which function a method call runs: guarded by the function's identity
        ctx.read_external(("method", id(obj), name), lambda s=src, n=name: getattr(s(), n).__func__,
                          value.__func__, f"method '{name}' of a {type(obj).__name__}")
        return value
    if callable(value) and not isinstance(value, (types.FunctionType, type)):
        return value
    return ctx.read_external(("attr", id(obj), name), lambda s=src, n=name: getattr(s(), n), value,
                             f"attribute '{name}' of {_describe(obj)}", stored=_stored_attr(obj, name))


def read_item(ctx, container, index, value):
    """``container[index]`` read by user code: a step of a chain when ``container`` is outside."""
    if type(value) is Traced or id(container) not in ctx.sources or not _simple_key(index) \
            or ("item", id(container), index) in ctx.written:
        return value
    check_read(ctx, container)
    src = source(ctx, container)
    return ctx.read_external(("item", id(container), index), lambda s=src, k=index: s()[k], value,
                             f"item {index!r} of {_describe(container)}", stored=type(container) in _STORING)


def after_call(ctx, fn, args, kwargs, result):
    """A call that ran for real: ``len``/``os.getenv``/``d.get`` of outside state are chain steps."""
    if kwargs:
        return result
    if fn is len and len(args) == 1 and id(args[0]) in ctx.sources:
        check_read(ctx, args[0])
        src = source(ctx, args[0])
        return ctx.read_external(("len", id(args[0])), lambda s=src: len(s()), result,
                                 f"len of {_describe(args[0])}")
    if fn is os.getenv and all(type(a) in _KEY_TYPES for a in args):
        return ctx.read_external(("getenv", args), lambda a=args: os.getenv(*a), result,
                                 f"os.getenv{args!r}")
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "")
    if owner is not None and name in _METHOD_READS and id(owner) in ctx.sources \
            and all(_simple_key(a) for a in args):
        src = source(ctx, owner)
        return ctx.read_external(("call", id(owner), name, args), lambda s=src, n=name, a=args: getattr(s(), n)(*a),
                                 result, f"{name}{args!r} of {_describe(owner)}",
                                 stored=name != "get" or type(owner) in _STORING)
    return result


def contains(ctx, item, container, result):
    """``item in container`` for an outside container: guarded by value."""
    if id(container) in ctx.sources and _simple_key(item) and type(result) is bool:
        check_read(ctx, container)
        src = source(ctx, container)
        ctx.read_external(("in", id(container), item), lambda s=src, k=item: k in s(), result,
                          f"'{item!r} in' {_describe(container)}")
    return result


def iterate(ctx, container):
    """An iterator over an outside list, tuple or dict whose items are chain steps, or None."""
    if id(container) not in ctx.sources or type(container) not in _STORING:
        return None
    check_read(ctx, container)
    src = source(ctx, container)
    if type(container) is dict:
        keys = tuple(container)
        if all(_simple_key(k) for k in keys):
            ctx.read_external(("keys", id(container)), lambda s=src: tuple(s()), keys,
                              f"the keys of {_describe(container)}")
            return iter(keys)
        return None
    n = ctx.read_external(("len", id(container)), lambda s=src: len(s()), len(container),
                          f"len of {_describe(container)}")
    return OutsideItems(ctx, container, n)


class OutsideItems:
    """The iterator over an outside list or tuple: item ``i`` is read as a chain step when
    it is reached.  A class rather than a generator so that loop rolling
    (``vm/loop_lists.py``) sees the container and the position."""

    __slots__ = ("ctx", "container", "n", "pos")

    def __init__(self, ctx, container, n):
        self.ctx, self.container, self.n, self.pos = ctx, container, n, 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.pos >= self.n:
            raise StopIteration
        self.pos += 1
        return self.item(self.pos - 1)

    def item(self, i):
        """Item ``i``, read as a chain step (a read repeated returns the same box)."""
        return read_item(self.ctx, self.container, i, self.ctx.resolve(self.container[i]))


def read_function(ctx, func, bound: dict) -> dict:
    """A user function about to run: guard the identity of its code and defaults (a default
    value itself is a constant of the trace, as a literal in the code is)."""
    key = ("function", id(func))
    if key not in ctx.externals:
        ctx.read_external(key, lambda f=func: _function_state(f), _function_state(func),
                          f"the code and defaults of {func.__qualname__}", kind="identities")
        ctx.externals[key].owner = func
    return bound


def _function_state(func):
    kw = func.__kwdefaults__
    return (func.__code__, func.__defaults__, kw, *(kw.values() if kw else ()))


def check_read(ctx, container) -> None:
    """Refuse a read of an outside container whose length this call already changed."""
    if id(container) in ctx.mutated:
        raise ctx.unsupported(f"the function reads a {type(container).__name__} from outside after changing "
                              "its length in the same call; a cached call would read it before this "
                              "call's change. Keep the values in a local list and return them")


def _simple_key(k) -> bool:
    if type(k) is tuple:
        return all(_simple_key(x) for x in k)
    return type(k) in _KEY_TYPES


def _describe(obj) -> str:
    if isinstance(obj, type):
        return f"class {obj.__qualname__}"
    return f"a {type(obj).__name__}"
