"""Indexing: ``x[idx]`` reads and ``x[idx] = v`` writes with numpy's semantics.

Reads with basic indices (ints, slices, None, Ellipsis) give numpy views; the
result remembers its base so that a later write through either side stays
exact (``Traced.var`` recomputes a view after its base changed, and a write to
a view is written back with ``set_subtensor``).  Writes use the concrete
array's own ``__setitem__`` first (numpy's casting and broadcasting errors),
then ``set_subtensor`` on the symbolic side.  Ordinary arrays created in the
function that receive a traced value are *promoted*: they become traced, and
every later reference to them resolves to the traced version.
"""
from __future__ import annotations

import sys

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import Traced, contains_traced, unwrap
from .core import as_var, lift
from .registry import register


def _sym_index(idx):
    """The index with traced parts replaced by their variables."""
    t = type(idx)
    if t is tuple:
        return tuple(_sym_index(i) for i in idx)
    if t is Traced:
        return idx.var
    if t is slice:
        return slice(_sym_index(idx.start), _sym_index(idx.stop), _sym_index(idx.step))
    if t is list:
        return as_var(idx) if contains_traced(idx) else np.asarray(idx)
    if isinstance(idx, np.ndarray):
        return pt.constant(idx)
    return idx


def _is_basic(idx) -> bool:
    items = idx if type(idx) is tuple else (idx,)
    for i in items:
        if i is None or i is Ellipsis or type(i) is slice:
            continue
        if isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)):
            continue
        return False
    return True


def getitem(x, idx):
    value = unwrap(x)[unwrap(idx)]
    sym = _sym_index(idx)
    var = as_var(x)[sym]
    if type(x) is Traced and _is_basic(idx):
        return lift(value, var, view=(x, lambda b, s=sym: b[s], lambda b, v, s=sym: pt.set_subtensor(b[s], v)))
    return lift(value, var)


def setitem(x: Traced, idx, v) -> None:
    before = x.var
    x.value[unwrap(idx)] = unwrap(v)  # numpy's semantics (and errors) first
    sym = _sym_index(idx)
    target = before[sym]
    val = as_var(v, x.value.dtype.name)
    while val.ndim > target.ndim and val.type.shape[0] == 1:  # numpy drops leading 1s
        val = val[0]
    x.assign(pt.set_subtensor(target, val))


def store(container, idx, value):
    """``container[idx] = value`` for any container, as the emulator executes it."""
    ctx = context.current()
    if ctx is not None:
        container = ctx.resolve(container)
    if type(container) is Traced:
        if not isinstance(container.value, np.ndarray):
            container.value[idx] = value  # raises numpy's/Python's TypeError
        setitem(container, idx, value)
        return container
    if type(container) is np.ndarray and (contains_traced(value) or contains_traced(idx)):
        target = promote(container)
        setitem(target, idx, value)
        return target
    container[unwrap(idx) if type(container) is np.ndarray else idx] = value
    return container


def promote(arr: np.ndarray) -> Traced:
    """Make an ordinary array created in the function traced (it is being written)."""
    ctx = context.require()
    hit = ctx.promoted.get(id(arr))
    if hit is not None:
        return hit
    origin = ctx.real_views.get(id(arr))
    if origin is not None:
        parent = ctx.resolve(origin[0])
        if type(parent) is not Traced:
            parent = promote(origin[0])
        result = getitem(parent, origin[1])
    elif id(arr) in ctx.created and (arr.base is None or _base_unreachable(arr, ctx)):
        result = Traced(arr, pt.constant(arr.copy()))
    else:
        raise ctx.unsupported(
            "a traced value is written into an array that was not created inside the "
            "traced function (a global, an argument's contents, or a view); pyautodiff "
            "could not replay that side effect. Write into a fresh array (np.zeros, .copy())"
        )
    ctx.promoted[id(arr)] = result
    ctx.keepalive.append(arr)
    return result


def _base_unreachable(arr, ctx) -> bool:
    """True if ``arr``'s base is referenced only by ``arr`` (and our bookkeeping)."""
    base = arr.base
    own = sum(1 for v in ctx.keepalive if v is base)
    # getrefcount's argument, arr.base, and our own keepalive references
    return sys.getrefcount(base) - 2 - own <= 0


@register(np.take, method="take", group="indexing")
def take(a, indices, axis=None, out=None, mode="raise"):
    value = np.take(unwrap(a), unwrap(indices), axis=axis, mode=mode)
    var = as_var(a)
    if axis is None:
        var = var.flatten()
        axis = 0
    return lift(value, pt.take(var, as_var(indices), axis=axis % max(np.ndim(unwrap(a)), 1) if np.ndim(unwrap(a)) else axis))
