"""C higher-order builtins, run so that the functions they call are emulated.

``map(np.asarray, args)`` (the first line of every ``scipy.stats`` method),
``sorted(xs, key=f)``, ``functools.reduce(f, xs)``: CPython's versions are C
code that calls ``f`` directly, behind the interpreter's back, so a Python
``f`` would run natively (its ``float(x)``, ``np.array([...])`` unseen) and a
C ``f`` such as ``np.asarray`` would meet a traced value it cannot take.
Each entry of ``HANDLERS`` does the same work in Python, calling ``f``
through ``Interpreter.call``, which emulates, lowers or runs it for real as
for any other call.  Laziness, argument order and tie rules are CPython's:
``map``/``filter``/``starmap`` return iterators that call ``f`` when consumed,
``sorted`` is stable (also with ``reverse=True``), ``min``/``max`` keep the
first of equal keys.  Comparisons of traced keys record guards as usual.

``np.vectorize`` objects loop in C the same way: ``vectorize.py`` runs their loop.

Calls with arguments these do not model (``map(f)`` with no iterable, a
keyword CPython does not know) go to the real builtin, which raises
CPython's own error.

Example::

    handler = lookup(map, args, {})  # -> _map
    it = handler(interp, (np.asarray, (x, mu)), {})
    list(it)                       # [lowered np.asarray(x), np.asarray(mu)]
"""
from __future__ import annotations

import builtins
import functools
import itertools

import numpy as np

from ..traced import contains_traced
from . import vectorize

_NO_DEFAULT = object()


def _map(interp, args, kwargs):
    if len(args) < 2 or kwargs:
        return builtins.map(*args, **kwargs)
    func, iterators = args[0], [iter(a) for a in args[1:]]  # iter() now: CPython checks eagerly

    def run():
        for items in zip(*iterators):
            yield interp.call(func, items, {})

    return run()


def _starmap(interp, args, kwargs):
    if len(args) != 2 or kwargs:
        return itertools.starmap(*args, **kwargs)
    func, iterator = args[0], iter(args[1])

    def run():
        for items in iterator:
            yield interp.call(func, tuple(items), {})

    return run()


def _filter_by(keep_when):
    def handler(interp, args, kwargs):
        real = builtins.filter if keep_when else itertools.filterfalse
        if len(args) != 2 or kwargs:
            return real(*args, **kwargs)
        func, iterator = args[0], iter(args[1])

        def run():
            for item in iterator:
                verdict = item if func is None else interp.call(func, (item,), {})
                if bool(verdict) is keep_when:  # a traced verdict records a guard
                    yield item

        return run()

    return handler


def _while_by(take):
    def handler(interp, args, kwargs):
        real = itertools.takewhile if take else itertools.dropwhile
        if len(args) != 2 or kwargs:
            return real(*args, **kwargs)
        func, iterator = args[0], iter(args[1])

        def run():
            for item in iterator:
                if not interp.call(func, (item,), {}):
                    if not take:
                        yield item
                        yield from iterator
                    return
                if take:
                    yield item

        return run()

    return handler


def _keyed_order(interp, items, key, reverse):
    """``items`` in the order ``sorted(items, key=key, reverse=reverse)`` gives."""
    keys = [interp.call(key, (item,), {}) for item in items]
    order = builtins.sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)
    return [items[i] for i in order]


def _sorted(interp, args, kwargs):
    key = kwargs.get("key")
    if len(args) != 1 or key is None or set(kwargs) - {"key", "reverse"}:
        return builtins.sorted(*args, **kwargs)
    return _keyed_order(interp, list(args[0]), key, bool(kwargs.get("reverse", False)))


def _list_sort(interp, args, kwargs):
    key = kwargs.get("key")
    if len(args) != 1 or type(args[0]) is not list or key is None or set(kwargs) - {"key", "reverse"}:
        return list.sort(*args, **kwargs)
    lst = args[0]
    lst[:] = _keyed_order(interp, list(lst), key, bool(kwargs.get("reverse", False)))
    return None


def _extreme(builtin, better):
    def handler(interp, args, kwargs):
        key = kwargs.get("key")
        if not args or set(kwargs) - {"key", "default"}:
            return builtin(*args, **kwargs)  # CPython's TypeError
        if len(args) == 1:
            items = list(args[0])
        else:
            if "default" in kwargs:
                return builtin(*args, **kwargs)  # CPython's TypeError
            items = list(args)
        if not items:
            default = kwargs.get("default", _NO_DEFAULT)
            if default is _NO_DEFAULT:
                return builtin(items)  # CPython's ValueError for an empty sequence
            return default
        best, best_key = items[0], interp.call(key, (items[0],), {})
        for item in items[1:]:
            k = interp.call(key, (item,), {})
            if better(k, best_key):  # strictly better: the first of equal keys wins
                best, best_key = item, k
        return best

    return handler


def _reduce(interp, args, kwargs):
    if len(args) not in (2, 3) or kwargs:
        return functools.reduce(*args, **kwargs)
    func, iterator = args[0], iter(args[1])
    if len(args) == 3:
        acc = args[2]
    else:
        try:
            acc = next(iterator)
        except StopIteration:
            return functools.reduce(func, ())  # CPython's TypeError
    for item in iterator:
        acc = interp.call(func, (acc, item), {})
    return acc


def _accumulate(interp, args, kwargs):
    func = args[1] if len(args) > 1 else kwargs.get("func")
    if func is None or len(args) > 2 or set(kwargs) - {"func", "initial"}:
        return itertools.accumulate(*args, **kwargs)
    iterator, initial = iter(args[0]), kwargs.get("initial")

    def run():
        acc = initial
        if acc is None:
            try:
                acc = next(iterator)
            except StopIteration:
                return
        yield acc
        for item in iterator:
            acc = interp.call(func, (acc, item), {})
            yield acc

    return run()


def _partial(interp, args, kwargs, *, p):
    return interp.call(p.func, (*p.args, *args), {**p.keywords, **kwargs})


HANDLERS = {
    builtins.map: _map,
    builtins.filter: _filter_by(True),
    itertools.filterfalse: _filter_by(False),
    itertools.takewhile: _while_by(True),
    itertools.dropwhile: _while_by(False),
    itertools.starmap: _starmap,
    itertools.accumulate: _accumulate,
    builtins.sorted: _sorted,
    list.sort: _list_sort,
    builtins.min: _extreme(builtins.min, lambda a, b: a < b),
    builtins.max: _extreme(builtins.max, lambda a, b: a > b),
    functools.reduce: _reduce,
}


# without a key function these compare the items themselves: the registry's lowerings
# (a traced select, no guards) or CPython's own comparisons handle them
_BUILTIN_METHOD = type([].sort)
_ONLY_WITH_KEY = frozenset({builtins.min, builtins.max})


def lookup(fn, args, kwargs):
    """The handler emulating C higher-order ``fn`` (``handler(interp, args, kwargs)``), or None."""
    if type(fn) is functools.partial:
        # pyautodiff's own partials (a lowering bound to its array) are called as they are, and
        # so is a partial whose call and keywords hold no traced value (the interpreter's
        # ordinary path, which emulates a positional-only partial of Python code already)
        own = (getattr(fn.func, "__module__", None) or "").startswith("pyautodiff")
        traced = contains_traced(args) or contains_traced(kwargs) or contains_traced(fn.keywords)
        return functools.partial(_partial, p=fn) if traced and not own else None
    if type(fn) is np.vectorize and (contains_traced(args) or contains_traced(kwargs)):
        return lambda interp, args, kwargs: vectorize.call(interp, fn, args, kwargs)
    if type(fn) is _BUILTIN_METHOD and type(fn.__self__) is list and fn.__name__ == "sort":
        return lambda interp, args, kwargs: _list_sort(interp, (fn.__self__, *args), kwargs)
    try:
        handler = HANDLERS.get(fn)
    except TypeError:  # unhashable callables
        return None
    if handler is not None and fn in _ONLY_WITH_KEY and kwargs.get("key") is None:
        return None
    return handler
