"""Indexing: ``x[idx]`` reads and ``x[idx] = v`` writes with numpy's semantics.

Reads with basic indices (ints, slices, None, Ellipsis) give numpy views; the
result remembers its base so that a later write through either side stays
exact (``Traced.sym`` recomputes a view after its base changed, and a write to
a view is written back with ``set_subtensor``).  Writes use the concrete
array's own ``__setitem__`` first (numpy's casting and broadcasting errors),
then mirror it symbolically:

- basic indices: ``set_subtensor`` on the same index;
- concrete advanced indices (integer arrays, boolean masks, mixed): numpy
  itself tells which flat positions were written and by which element of the
  broadcast value — for repeated indices only the element that won the write
  (``a[[0, 0]] = [1, 2]`` keeps 2) — and the write becomes a 1-d
  ``set_subtensor`` on those positions, so gradients reach only the winners;
- traced indices: ``set_subtensor`` on the symbolic index; integer index
  arrays are guarded to stay free of repeats (otherwise the gradient of the
  losing writes would be wrong).

Traced integer indices (reads, writes, ``take``, ``ufunc.at`` ...) are
*bounded* (``bounded``): guarded to stay within the axis, so that a cached
call with an out-of-bounds index retraces and numpy raises its IndexError,
even where the result is unused and the indexing itself optimized away.

Ordinary arrays created in the function that receive a traced value are
*promoted*: they become traced, and every later reference to them resolves
to the traced version.
"""
from __future__ import annotations

import sys

import numpy as np
import pytensor.tensor as pt

from .. import context
from ..traced import Traced, contains_traced, unwrap
from .core import as_var, guard, lift, refuse, register_store, write_out
from .registry import register


def _sym_index(idx):
    """The index with traced parts replaced by their variables."""
    t = type(idx)
    if t is tuple:
        return tuple(_sym_index(i) for i in idx)
    if t is Traced:
        return idx.sym
    if t is slice:
        return slice(_sym_index(idx.start), _sym_index(idx.stop), _sym_index(idx.step))
    if t is list:
        return as_var(idx) if contains_traced(idx) else np.asarray(idx)
    if isinstance(idx, np.ndarray):
        return pt.constant(idx.copy())  # the caller may change its index array later
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


def bounded(positions, lo, hi, what="index in bounds"):
    """Traced integer ``positions`` (a PyTensor variable), guarded to lie within [lo, hi].

    A cached call with a position outside fails the guard and retraces, and the
    retrace runs numpy on the real values, which raises numpy's own error.  One
    reduction per index array.  The positions used are clipped into the range
    (unchanged while the guard holds), so a backend without bounds checks (Numba)
    never reads or writes outside the array on the call that fails the guard.
    """
    if positions.dtype != "int64":  # bounds compared in int64: no narrow overflow, no float upcast
        lo = 0 if positions.dtype.startswith("uint") else lo  # (a wrapped huge uint64 is < 0)
        positions = pt.cast(positions, "int64")
    safe = pt.minimum(pt.maximum(positions, lo), hi)  # (np.clip costs 3x more on small arrays)
    guard(pt.all(pt.eq(safe, positions)), True, what)
    return safe


def within_axis(positions, base, axis):
    """``bounded`` to the positions numpy accepts along ``base``'s ``axis``: -n .. n - 1."""
    n = base.type.shape[axis]
    n = base.shape[axis] if n is None else n  # a length that depends on the data
    return bounded(positions, -n, n - 1)


def _is_traced_int(item) -> bool:
    if type(item) is Traced:
        return np.asarray(item.value).dtype.kind in "iu"
    return type(item) is list and contains_traced(item) and np.asarray(unwrap(item)).dtype.kind in "iu"


def _axes_taken(item):
    """How many axes of the indexed array ``item`` consumes (None: Ellipsis, the rest)."""
    if item is None:
        return 0
    if item is Ellipsis:
        return None
    value = unwrap(item)
    is_mask = isinstance(value, (bool, np.bool_, list, np.ndarray)) and np.asarray(value).dtype == bool
    return np.ndim(value) if is_mask else 1


def checked_index(idx, base):
    """``_sym_index(idx)`` for indexing ``base`` (a variable), with every traced integer
    index bounded to the length of the axis it indexes (numpy accepts -n .. n - 1)."""
    sym = _sym_index(idx)
    items, sym_items = (idx, list(sym)) if type(idx) is tuple else ((idx,), [sym])
    if not any(_is_traced_int(i) for i in items):
        return sym
    taken = [_axes_taken(i) for i in items]
    rest = base.ndim - sum(t for t in taken if t is not None)
    axis = 0
    for k, (item, t) in enumerate(zip(items, taken)):
        if _is_traced_int(item):
            sym_items[k] = within_axis(sym_items[k], base, axis)
        axis += rest if t is None else t
    return tuple(sym_items) if type(idx) is tuple else sym_items[0]


def _scalar_bool(idx) -> bool:
    return type(idx) is not tuple and np.ndim(unwrap(idx)) == 0 and np.asarray(unwrap(idx)).dtype == bool


def getitem(x, idx):
    value = unwrap(x)[unwrap(idx)]
    base = as_var(x)
    if _scalar_bool(idx):
        # x[True] is x with a new axis of length 1, x[False] an empty one (array-API code:
        # a[cond] of 0-d arrays); PyTensor has no scalar boolean index. bool() guards a traced flag.
        return lift(value, base[None] if bool(idx) else base[None][:0])
    sym = checked_index(idx, base)
    var = base[sym]
    if type(x) is Traced and _is_basic(idx):
        return lift(value, var, view=(x, lambda b, s=sym: b[s], _write_back(sym, np.ndim(unwrap(x)))))
    return lift(value, var)


def _write_back(sym, ndim):
    """The inverse of the basic-index view ``b[sym]``: the base with the view's
    elements replaced by ``v`` (already of the view's shape).

    PyTensor implements the ``None`` axes of an index as a DimShuffle, and
    ``set_subtensor`` through a DimShuffle both mis-orders the value's axes and
    returns a result of the view's shape, not the base's.  So the new axes
    (length 1) are dropped from ``v`` and the write goes through the index
    without them."""
    items = sym if type(sym) is tuple else (sym,)
    if not any(i is None for i in items):
        return lambda b, v: pt.set_subtensor(b[sym], v)
    core = tuple(i for i in items if i is not None)
    consumed = sum(1 for i in core if i is not Ellipsis)
    new_axes, dim = [], 0
    for i in items:
        if i is None:
            new_axes.append(dim)
            dim += 1
        elif i is Ellipsis:
            dim += ndim - consumed
        elif type(i) is slice:
            dim += 1
    whole = all(i is Ellipsis or (type(i) is slice and i == slice(None)) for i in core)

    def inv(b, v):
        v = v[tuple(0 if d in new_axes else slice(None) for d in range(v.ndim))]
        return v if whole else pt.set_subtensor(b[core], v)

    return inv


# -- writes ---------------------------------------------------------------------------

def setitem(x: Traced, idx, v) -> None:
    x.check_writable()
    before = x.sym
    cidx = unwrap(idx)
    x.value[cidx] = unwrap(v)  # numpy's semantics (and errors) first
    if _scalar_bool(idx):  # x[True] = v writes everything, x[False] = v nothing (bool() guards)
        if not bool(idx):
            return
        idx = cidx = Ellipsis
    val = as_var(v, x.value.dtype.name)
    vshape = np.shape(unwrap(v))
    if contains_traced(idx):
        new = _set_traced_index(x, before, idx, _fit(val, vshape, x.value[cidx].shape))
    elif _is_basic(cidx) and not _has_none(cidx):
        new = pt.set_subtensor(before[cidx], _fit(val, vshape, x.value[cidx].shape))
    else:
        new = write_positions(before, x.value.shape, lambda arr, src: arr.__setitem__(cidx, src), val, vshape)
    x.assign(new)


def _has_none(idx) -> bool:
    return any(i is None for i in (idx if type(idx) is tuple else (idx,)))


def _fit(val, vshape, target_shape):
    """Drop the leading length-1 axes numpy ignores when a value has more dims than its target."""
    extra = len(vshape) - len(target_shape)
    return val.reshape(vshape[extra:]) if extra > 0 else val


def write_positions(before, shape, writer, val, vshape):
    """Mirror ``writer(array, values)``, a numpy write into ``array``, on ``before``.

    numpy itself runs the writer on a marker array with the element numbers of
    ``values`` (shape ``vshape``) as the written data, which tells each written
    flat position and the element of ``values`` that ended there — after any
    broadcasting, cycling (``np.put``) or repeated index, exactly as numpy
    resolved it.  The symbolic write is then a 1-d ``set_subtensor``.
    """
    marker = np.full(shape, -1, dtype=np.intp)
    writer(marker, np.arange(int(np.prod(vshape)), dtype=np.intp).reshape(vshape))
    flat = marker.reshape(-1)
    positions = np.flatnonzero(flat >= 0)
    if positions.size == 0:
        return before
    sources = flat[positions]
    values = val.reshape((-1,))
    if not np.array_equal(sources, np.arange(int(np.prod(vshape)))):
        values = values[sources]  # broadcast, cycled or repeated: the elements that landed
    return pt.set_subtensor(before.reshape((-1,))[positions], values).reshape(shape)


def _set_traced_index(x, before, idx, val):
    sym = checked_index(idx, before)
    if not _is_basic(idx) and _has_traced_integer_array(idx):
        # A repeated position would let a losing write receive gradient: the trace
        # holds only while the positions stay distinct.
        positions = pt.arange(int(np.prod(x.value.shape))).reshape(x.value.shape)[sym].reshape((-1,))
        concrete = np.arange(x.value.size).reshape(x.value.shape)[unwrap(idx)].reshape(-1)
        if np.unique(concrete).size != concrete.size:
            raise refuse("writing through an index array that depends on the inputs and repeats a "
                         "position is not supported; numpy keeps only one of the repeated writes")
        if concrete.size > 1:
            ordered = pt.sort(positions)
            guard(pt.all(pt.neq(ordered[1:], ordered[:-1])), True, "distinct write positions")
    return pt.set_subtensor(before[sym], val)


def _has_traced_integer_array(idx) -> bool:
    items = idx if type(idx) is tuple else (idx,)
    for i in items:
        if type(i) is list and contains_traced(i):
            return True
        if type(i) is Traced and np.ndim(i.value) and np.asarray(i.value).dtype != bool:
            return True
    return False


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


def _refs_to_base(arr) -> int:
    base = arr.base
    return sys.getrefcount(base)


# What _refs_to_base counts for a base that only its view holds (the view's own reference,
# the local and getrefcount's argument: 3 on CPython 3.11-3.13), measured rather than
# assumed. Counting 2 (the view's own reference forgotten) refused every write into
# `np.zeros(6).reshape(2, 3)` (long fuzz, 3.11, seed 72).
_ONLY_THE_VIEW = _refs_to_base(np.zeros(1).reshape(1))


def _base_unreachable(arr, ctx) -> bool:
    """True if ``arr``'s base is referenced only by ``arr`` (and our bookkeeping): nothing can
    observe a write through ``arr`` but ``arr`` (``np.zeros(6).reshape(2, 3)``)."""
    own = sum(1 for v in ctx.keepalive if v is arr.base)
    return _refs_to_base(arr) - own <= _ONLY_THE_VIEW


@register(np.take, method="take", group="indexing")
def take(a, indices, axis=None, out=None, mode="raise"):
    value = np.take(unwrap(a), unwrap(indices), axis=axis, mode=mode)
    var = as_var(a)
    if axis is None:
        var, axis = var.flatten(), 0
    axis = int(axis) % var.ndim
    positions = as_var(indices)
    if mode == "raise" and contains_traced(indices):  # (wrap and clip never raise)
        positions = within_axis(positions, var, axis)
    result = lift(value, pt.take(var, positions, axis=axis, mode=mode))
    return result if out is None else write_out(out, result)


register_store(store)  # out= (core.write_out) writes through it
