"""Writes to the world outside the function, replayed on every call.

A traced function may change state it did not create: ``self.last_resid = r``,
``self.coefs_[i] = w``, ``LOG.append(loss)``, ``print("loss", loss)``,
``out_file.write("tick\\n")``.  CPython does these on every call; a cached call
runs compiled code instead of the function.  So each such *effect* is recorded
in trace order with its arguments; values that depend on the inputs become
extra outputs of the compiled function, and every cached call performs the
effects again, in order, with the values this call computed.  During the
trace itself the effects happen for real, and afterwards the outside objects
hold plain numpy values (never the trace's internal ``Traced`` boxes).

Refused at trace time (``UnsupportedError`` naming the line), because a replay
could not reproduce them:

- a string built while tracing (``print(f"loss {loss}")``): its text may come
  from the inputs; pass the values as arguments (``print("loss", loss)``);
- an object holding traced values that pyautodiff cannot look into;
- mutators that return what they remove (``pop``, ``popitem``, ``setdefault``);
- reading an outside container after changing its length in the same call
  (the read would be of the state before this call's change).

Example::

    class Fit:
        def loss(self, w):
            r = self.X @ w - self.y
            self.last_resid = r          # an effect: written back on every call
            return r @ r

    g = ad.grad(fit.loss); g(w1); g(w2)  # fit.last_resid == X @ w2 - y, a plain ndarray
"""
from __future__ import annotations

import builtins
import logging
import types
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import outside, structure
from .traced import Traced, contains_traced, leaf_kind, unwrap

# Methods of outside containers and files replayed as effects (they return None or a count).
REPLAYED_METHODS = frozenset({"append", "extend", "insert", "remove", "clear", "sort", "reverse", "add",
                              "discard", "update", "write", "writelines", "flush"})
# Methods that hand back what they change: a replay could not give the trace's value back.
REFUSED_METHODS = frozenset({"pop", "popitem", "setdefault", "__setitem__", "__delitem__"})
# Functions whose every call is an effect: output, warnings, logging.
REPLAYED_FUNCTIONS = frozenset({builtins.print, warnings.warn, logging.debug, logging.info, logging.warning,
                                logging.error, logging.critical, logging.exception, logging.log})
_LOGGER_METHODS = frozenset({"debug", "info", "warning", "error", "critical", "exception", "log"})
_LENGTH_CHANGING = frozenset({"append", "extend", "insert", "remove", "clear", "add", "discard", "update"})


@dataclass
class Effect:
    """One write to the outside, replayed by ``perform(values)`` with this call's values."""

    perform: Callable  # (filled value) -> None
    value: Any  # what was written / the call's argument tuple (as the trace holds it)
    where: Any  # Location, for errors
    clean: Callable | None = None  # (concrete value) -> None: leave plain values where Traced were
    template: Any = None  # structure.Template of ``value``, holes for traced leaves
    n: int = 0  # number of outputs it takes


def store_attr(ctx, frame, obj, name, value) -> None:
    """``obj.name = value`` as the emulator runs it: recorded when ``obj`` is outside."""
    target_outside = isinstance(obj, types.ModuleType) or (type(obj) is not Traced and outside.is_outside(ctx, obj))
    if target_outside and frame.is_user_code:
        _check_value(ctx, frame, value, f"the attribute '{name}'")
        src = outside.source(ctx, obj)
        perform = lambda v, s=src, n=name: setattr(s(), n, v)  # noqa: E731
        _record(ctx, perform, value, clean=perform)
        ctx.written.add(("attr", id(obj), name))
        ctx.keepalive.append(obj)
    setattr(obj, name, value)


def store_item(ctx, frame, container, index, value) -> bool:
    """``container[index] = value`` into an outside list or dict: recorded and done; False if
    ``container`` is not an outside container (the caller stores as usual)."""
    if id(container) not in ctx.sources or not isinstance(container, (list, dict)) or not frame.is_user_code:
        return False
    _check_value(ctx, frame, value, f"an item of a {type(container).__name__}")
    src = outside.source(ctx, container)
    if type(index) is slice or (type(container) is dict and index not in container):
        ctx.mutated.add(id(container))  # its length may change
    perform = lambda v, s=src, k=index: s().__setitem__(k, v)  # noqa: E731
    _record(ctx, perform, value, clean=perform)
    if type(index) is not slice:
        ctx.written.add(("item", id(container), index))
    container[index] = value
    return True


def before_call(ctx, fn, args, kwargs):
    """An effect if ``fn`` is ``print`` or a mutator of an outside container or file; None if not.

    Returns a function to call with the call's result once it succeeded (it records the effect)."""
    frames = ctx.emulator.frames if ctx.emulator is not None else ()
    frame = frames[-1] if frames else None
    if frame is None or not frame.is_user_code:
        return None
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "")
    try:
        replayed = fn in REPLAYED_FUNCTIONS or (isinstance(owner, logging.Logger) and name in _LOGGER_METHODS)
    except TypeError:  # an unhashable callable
        replayed = False
    if replayed:
        _check_value(ctx, frame, (args, kwargs), name or "print")
        return lambda result: _record(ctx, lambda v, f=fn: f(*v[0], **v[1]), (args, kwargs))
    if owner is None or isinstance(owner, (type, types.ModuleType)) or id(owner) not in ctx.sources:
        return None
    if name in REFUSED_METHODS:
        raise ctx.unsupported(f"{type(owner).__name__}.{name} on an object from outside the function "
                              "cannot be replayed on cached calls; work on a copy or return the value")
    if name not in REPLAYED_METHODS:
        return None
    _check_value(ctx, frame, (args, kwargs), f"{type(owner).__name__}.{name}")
    src = outside.source(ctx, owner)

    def record(result):
        if name in _LENGTH_CHANGING:
            ctx.mutated.add(id(owner))
        _record(ctx, lambda v, s=src, n=name: getattr(s(), n)(*v[0], **v[1]), (args, kwargs),
                clean=lambda v, o=owner: _scrub(o))

    return record


def _record(ctx, perform, value, clean=None) -> None:
    ctx.effects.append(Effect(perform, value, ctx.location(), clean))


def _scrub(container) -> None:
    """Replace Traced items of an outside container by their values (after the trace)."""
    if type(container) is list:
        container[:] = [unwrap(v) for v in container]
    elif type(container) is dict:
        for k, v in container.items():
            container[k] = unwrap(v)
    elif type(container) is set and any(type(v) is Traced for v in container):
        values = {unwrap(v) for v in container}
        container.clear()
        container.update(values)


def _check_value(ctx, frame, value, what) -> None:
    """A replay needs every value it writes: traced leaves in structures we can walk, and no
    string built during the trace (its text may depend on the inputs)."""
    frames = ctx.emulator.frames if ctx.emulator is not None else ()
    constants = [c for fr in frames for c in fr.code.co_consts if type(c) is str]

    def walk(x, depth=0):
        t = type(x)
        if t is Traced or depth > 8:
            return
        if t is str:
            if len(x) > 1 and not any(x is c for c in constants):
                raise ctx.unsupported(
                    f"{what} receives a string built while tracing; a cached call could not rebuild its "
                    "text from new inputs. Pass the values themselves (print('loss', loss)), or call "
                    "it outside the transformed function")
            return
        if t in (list, tuple) or (isinstance(x, tuple) and hasattr(x, "_fields")):
            for v in x:
                walk(v, depth + 1)
        elif t is dict:
            for v in x.values():
                walk(v, depth + 1)
        elif not isinstance(x, (np.ndarray, np.generic, int, float, complex, type(None))):
            d = getattr(x, "__dict__", None)
            if d and any(contains_traced(v) for v in d.values()):
                raise ctx.unsupported(f"{what} receives a {type(x).__name__} holding traced values; "
                                      "pyautodiff cannot write it back on cached calls")

    walk(value)


def finish(ctx) -> list:
    """After the trace: each effect's template (holes = traced leaves, as they are now) and
    the outside objects cleaned of Traced; returns the outputs the effects take."""
    outputs: list = []
    for e in ctx.effects:
        holes: list = []
        e.template = structure.template_of(_resolved(ctx, e.value), lambda x: type(x) is Traced, leaf_kind, holes)
        e.n = len(holes)
        outputs += [h.sym for h in holes]
    for e in ctx.effects:  # the real objects keep plain values
        if e.n and e.clean is not None:
            e.clean(unwrap(_resolved(ctx, e.value)))
    return outputs


def _resolved(ctx, x):
    t = type(x)
    if t in (list, tuple):
        return t(_resolved(ctx, v) for v in x)
    if t is dict:
        return {k: _resolved(ctx, v) for k, v in x.items()}
    return ctx.resolve(x)


def replay(effects, values) -> None:
    """Perform the effects in order with a cached call's values (``values``: their outputs)."""
    pos = 0
    for e in effects:
        e.perform(e.template.fill(values[pos:pos + e.n]))
        pos += e.n
