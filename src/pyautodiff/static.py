"""Static arguments (``static=("name", ...)`` on every transformation).

A static argument is never traced: the function sees its value as a plain
constant (so it may steer Python control flow, size arrays, or go into code the
emulator cannot follow), and its value is part of the cache key, so a new value
traces again (JAX's ``static_argnums``).  Floats, ints, strings, tuples and
other hashable values are keyed by value, numpy arrays by shape, dtype and
bytes.

On a call, each static argument is wrapped in a ``Static`` box; ``structure``
treats the box as a leafless node keyed by ``Static.key`` and hands the
traced function the value inside.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> def f(x, n):
    ...     return np.sum(x ** n) if n > 1.5 else np.sum(x)
    >>> float(ad.grad(f, static=("n",))(np.array([1.0, 2.0]), 2.0)[1])
    4.0
"""
from __future__ import annotations

import numpy as np

from .errors import AutodiffError
from .transforms import KINDS


class Static:
    """An argument's value, hidden from tracing; ``key`` is its cache key."""

    __slots__ = ("value", "key")

    def __init__(self, value, name):
        self.value = value
        self.key = _key(value, name)

    def __repr__(self):
        return f"Static({self.value!r})"


def _key(value, name):
    if type(value) is np.ndarray:
        return ("array", value.shape, value.dtype.str, value.tobytes())
    try:
        hash(value)
    except TypeError:
        raise AutodiffError(f"static argument {name!r} must be hashable or a numpy array (its value is "
                            f"part of the cache key); got a {type(value).__name__}") from None
    return (type(value), value)


def resolve(f, kind, static, wrt):
    """``static`` as a tuple of positions and names; a static argument cannot be in ``wrt``."""
    names = static if isinstance(static, (tuple, list, set, frozenset)) else (() if static is None else (static,))
    for s in names:
        if not isinstance(s, (int, str)) or isinstance(s, bool):
            raise AutodiffError(f"ad.{kind}: static takes parameter names or positions; got {static!r}")
    params = _param_names(f)
    chosen = set()
    for s in names:
        chosen.add(s)
        if isinstance(s, str) and s in params:
            chosen.add(params.index(s))
        elif isinstance(s, int) and s < len(params):
            chosen.add(params[s])
    for w in (wrt if isinstance(wrt, tuple) else (wrt,)) if KINDS[kind].differentiates else ():
        if w in chosen:
            raise AutodiffError(f"ad.{kind}: argument {w!r} is both static and differentiated (wrt)")
    return frozenset(chosen)


def _param_names(f):
    import inspect

    try:
        return [p.name for p in inspect.signature(f).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def mark(chosen, args, kwargs):
    """The call's arguments with the static ones (positions and names in ``chosen``) boxed."""
    args = tuple(Static(a, i) if i in chosen else a for i, a in enumerate(args))
    if kwargs:
        kwargs = {k: Static(v, k) if k in chosen else v for k, v in kwargs.items()}
    return args, kwargs


def unbox(args, kwargs):
    return (tuple(a.value if type(a) is Static else a for a in args),
            {k: v.value if type(v) is Static else v for k, v in kwargs.items()})


class VerifyUnboxed:
    """Verification sees the arguments as the user passed them."""

    def __init__(self, policy):
        self.policy = policy

    def due(self, call_number: int) -> bool:
        return self.policy.due(call_number)

    def check(self, transformed, args, kwargs, direction, out) -> None:
        args, kwargs = unbox(args, kwargs)
        self.policy.check(transformed, args, kwargs, direction, out)
