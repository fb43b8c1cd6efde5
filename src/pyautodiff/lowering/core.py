"""Shared machinery of all lowerings: joining concrete and symbolic results.

``lift(value, var)`` is the one place where the symbolic side is made to agree
with numpy: the variable is cast to the dtype numpy produced and its rank and
static shape are checked, so numpy's promotion rules hold exactly and a
mismatch is caught during tracing instead of surfacing as a wrong number.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Constant

from .. import context, emulator
from ..errors import InternalError
from ..traced import Traced, unwrap
from . import registry

_PY_SCALARS = (bool, int, float, complex)


def dtype_of(value) -> np.dtype:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.dtype
    if isinstance(value, bool):
        return np.dtype(bool)
    if isinstance(value, int):
        return np.dtype(np.int64)
    if isinstance(value, float):
        return np.dtype(np.float64)
    if isinstance(value, complex):
        return np.dtype(np.complex128)
    return np.asarray(value).dtype


def as_var(x, dtype=None):
    """PyTensor variable for ``x``: its shadow if traced, else a constant."""
    if type(x) is Traced:
        var = x.sym
        return var if dtype is None or var.dtype == dtype else pt.cast(var, dtype)
    if type(x) in (list, tuple) and any(type(v) is Traced for v in _leaves(x)):
        return pt.stack([as_var(v, dtype) for v in x]) if x else pt.as_tensor_variable(np.asarray(x))
    # a copy: PyTensor keeps the array it is given, and the function may write into it later
    arr = np.array(x, dtype=dtype, copy=True)
    return pt.constant(arr)


def _leaves(x):
    if type(x) in (list, tuple):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


def _is_py_scalar(a) -> bool:
    """A NEP 50 "weak" scalar: numpy converts it to the other operands' dtype first.

    Exact types: numpy scalars (np.float64 subclasses float) are not weak.  A
    traced value is weak when its concrete value is a Python scalar (a Python
    float argument, ``float(x)``, ``round(s)``): numpy sees that same Python
    scalar, so the graph must convert it as numpy does, or a float32 array times
    a float argument is computed in float64 and rounded twice."""
    t = type(a)
    return t in _PY_SCALARS or (t is Traced and type(a.value) in _PY_SCALARS)


def weak_dtype(args, result_dtype):
    """dtype for Python-scalar operands, following NEP 50 (weak scalars)."""
    arrays = [dtype_of(unwrap(a)) for a in args if not _is_py_scalar(a)]
    weak = [unwrap(a) for a in args if _is_py_scalar(a)]
    try:
        if not arrays:
            # all weak (a traced Python scalar among them): the result's dtype (Python's
            # int ** -int is a float), never below the scalars' own kind (np.isnan(s) must
            # not see s cast to bool, nor np.abs(z) see z cast to float)
            return None if result_dtype is None else np.result_type(result_dtype, *weak)
        return np.result_type(*arrays, *weak)
    except TypeError:
        return result_dtype


def _weak_var(a, dtype):
    """The variable of weak scalar ``a`` converted to ``dtype`` as numpy converts it.

    A Python int outside an integer ``dtype``'s range: numpy's arithmetic raised
    OverflowError already, its comparisons compare exactly, so it keeps a dtype
    that holds it (``lift`` casts the result).  A traced int guards on which side
    of the range it is, so a cached call on the other side traces again."""
    v = unwrap(a)
    if dtype is None or type(v) is not int or np.dtype(dtype).kind not in "iu":
        return as_var(a, dtype)
    info = np.iinfo(dtype)
    fits = bool(info.min <= v <= info.max)
    if type(a) is Traced and np.dtype(dtype) != np.int64:
        sym = a.sym  # int64: the uint64 maximum is out of its reach anyway
        inside = pt.ge(sym, max(info.min, -2**63)) & pt.le(sym, min(info.max, 2**63 - 1))
        guard(inside, fits, "a Python int fits the array's dtype")
    if fits:
        return as_var(a, dtype)
    return as_var(a, "int64" if -2**63 <= v < 2**63 else "uint64" if 0 <= v < 2**64 else "float64")


def vars_for(args, result_dtype=None):
    """Symbolic operands, with Python scalars typed as numpy would type them."""
    scalar_dt = weak_dtype(args, result_dtype) if any(_is_py_scalar(a) for a in args) else None
    return [_weak_var(a, scalar_dt) if _is_py_scalar(a) else as_var(a) for a in args]


def lift(value, var, view=None):
    """Join a concrete numpy result with its symbolic variable.

    ``view``, for operations whose result may share memory with a traced
    operand, is ``(base, fwd, inv)``: ``fwd(base_var)`` recomputes the view and
    ``inv(base_var, view_var)`` writes a changed view back (None: read-only).
    """
    if value is NotImplemented:
        return value
    if not isinstance(value, (np.ndarray, np.generic, *_PY_SCALARS)):
        raise InternalError(f"lowering produced a {type(value).__name__}, expected a numpy value")
    dt = dtype_of(value)
    if var.dtype != dt.name:
        var = pt.cast(var, dt.name)
    ndim = np.ndim(value)
    if var.ndim != ndim:
        if var.ndim > ndim and all(s == 1 for s in var.type.shape[: var.ndim - ndim]):
            var = var.reshape(np.shape(value)) if ndim else var.reshape(())
        else:
            raise InternalError(
                f"symbolic rank {var.ndim} != numpy rank {ndim} for shape {np.shape(value)}"
            )
    static = var.type.shape
    shape = np.shape(value)
    for s, k in zip(shape, static):
        if k is not None and k != s:
            raise InternalError(f"symbolic shape {static} != numpy shape {shape}")
    ctx = context.current()
    if type(value) is np.ndarray and value.size == 0:
        # an empty result depends on nothing: as a constant it sends no gradient back, where
        # a zero cotangent would meet an infinite partial (scipy.stats: x[cond] of -inf * scale).
        # Its emptiness may depend on data (b[a > 0] with no a > 0): then a guard keeps the
        # constant from serving a call where the result is not empty.
        if ctx is not None and not isinstance(var, Constant) and 0 not in static:
            axis = shape.index(0)
            guard(var.shape[axis], 0, "an empty result stays empty")
        var = pt.constant(value.copy())
    if ctx is not None:
        ctx.n_ops += 1
    if view is not None:
        base, fwd, inv = view
        if (type(base) is Traced and isinstance(value, np.ndarray)
                and isinstance(base.value, np.ndarray) and np.may_share_memory(value, base.value)):
            return Traced(value, var, (base, fwd, inv, base.stamp()))
    return Traced(value, var)


def refuse(message: str):
    """The UnsupportedError to raise for ``message`` (naming the user's line)."""
    return context.require().unsupported(message)


def guard(expr, outcome, kind: str) -> None:
    """Record that the trace depended on ``expr`` evaluating to ``outcome``."""
    context.require().add_guard(expr, outcome, kind)


def axes_of(axis, ndim) -> tuple:
    """numpy's ``axis`` (int, tuple, None, negative) as a tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(int(a) % ndim if ndim else int(a) for a in axes)


def element_numbers(a) -> np.ndarray:
    """An int array shaped like ``a`` holding each element's flat position."""
    shape = np.shape(unwrap(a))
    return np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)


def gather(arrange, *arrays, readonly_view=False):
    """Lower a numpy function that only moves elements around (tile, repeat, pad...).

    ``arrange(*arrays)`` runs on the concrete arrays for the value, and on
    arrays of element numbers (the elements of all ``arrays`` numbered in
    turn) for the symbolic side, so the result picks exactly the elements
    numpy picked, whatever broadcasting or cycling numpy applied.
    ``readonly_view``: the numpy result is a read-only view of ``arrays[0]``
    (np.diagonal), recomputed if that array is later written.
    """
    value = arrange(*[unwrap(a) for a in arrays])
    numbers, start = [], 0
    for a in arrays:
        shape = np.shape(unwrap(a))
        size = int(np.prod(shape))
        numbers.append(np.arange(start, start + size, dtype=np.intp).reshape(shape))
        start += size
    picks = np.asarray(arrange(*numbers))
    dt = dtype_of(value).name

    def pick(*vars_):
        flat = [v.reshape((-1,)) if v.dtype == dt else pt.cast(v, dt).reshape((-1,)) for v in vars_]
        pool = flat[0] if len(flat) == 1 else pt.concatenate(flat)
        return pool[picks.reshape(-1)].reshape(picks.shape)

    view = None
    if readonly_view and type(arrays[0]) is Traced and len(arrays) == 1:
        view = (arrays[0], pick, None)
    return lift(value, pick(*[as_var(a) for a in arrays]), view=view)


def norm_axis(axis, ndim):
    """numpy axis (int, tuple, None, negative) -> PyTensor axis."""
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) % ndim if ndim else int(a) for a in axis)
    return int(axis) % ndim if ndim else int(axis)


def elementwise(np_fn, pt_fn, name=None):
    """Lowering for an elementwise numpy function: numpy computes, PyTensor mirrors."""
    label = name or f"numpy.{getattr(np_fn, '__name__', 'ufunc')}"

    def lower(*args, **kwargs):
        out = kwargs.pop("out", None)
        dtype = kwargs.pop("dtype", None)
        where = kwargs.pop("where", True)
        kwargs.pop("casting", None), kwargs.pop("order", None), kwargs.pop("subok", None)
        if kwargs:
            raise context.require().unsupported(f"{label}: unsupported arguments {sorted(kwargs)}")
        if where is not True:
            return _masked(np_fn, pt_fn, label, args, out, dtype, where)
        value = np_fn(*[unwrap(a) for a in args], **({"dtype": dtype} if dtype is not None else {}))
        var = pt_fn(*vars_for(args, dtype_of(value)))
        result = lift(value, var)
        return result if out is None else write_out(out, result)

    lower.__name__ = f"lower_{label.rpartition('.')[2]}"
    return lower


def _masked(np_fn, pt_fn, label, args, out, dtype, where):
    """``np_fn(*args, out=out, where=where)``: the result where ``where`` holds, ``out`` elsewhere.

    Without ``out`` numpy leaves the other elements uninitialized: refused.  The masked-off
    elements are computed from a harmless 1 (``x / 0`` there would turn the zero gradient
    that reaches them into NaN, and warn)."""
    if out is None:
        raise context.require().unsupported(
            f"{label}: where= without out= leaves elements uninitialized; pass out= as well")
    target = out[0] if isinstance(out, tuple) and len(out) == 1 else out
    scratch = np.array(unwrap(target), copy=True)
    extra = {"dtype": dtype} if dtype is not None else {}
    value = np_fn(*[unwrap(a) for a in args], out=scratch, where=unwrap(where), **extra)
    mask = as_var(where)
    # arithmetic rather than a switch: PyTensor folds switch(m, f(switch(m, v, 1)), o) back
    # to switch(m, f(v), o), and the masked-off f(v) would warn (1 / 0) where numpy does not
    keep = pt.cast(mask, dtype_of(value).name)
    safe = [v * keep + (1 - keep) for v in vars_for(args, dtype_of(value))]
    var = pt.switch(mask, pt_fn(*safe), as_var(target, dtype_of(value)))
    return write_out(out, lift(np.array(value, copy=True), var))


# ``indexing.store``, registered by lowering/indexing.py when it is imported: it builds on
# this module, so this module may not import it (no import cycles).
_store = None


def register_store(store) -> None:
    """Install the in-place store ``store(container, index, value)`` that ``out=`` writes through."""
    global _store
    _store = store


def write_out(out, result):
    """numpy's ``out=``: write the result into ``out`` and return ``out``."""
    if isinstance(out, tuple):
        if len(out) != 1:
            raise context.require().unsupported("ufuncs with several outputs do not support out=")
        out = out[0]
    return _store(out, Ellipsis, result)


# -- entry points from Traced's numpy protocols ------------------------------

def dispatch_ufunc(ufunc, method, inputs, kwargs):
    key = ufunc if method == "__call__" else (ufunc, method)
    entry = registry.lookup(key)
    if entry is None:
        name = registry.qualname(key)
        raise context.require().unsupported(f"{name} has no lowering for traced values")
    return entry.fn(*inputs, **kwargs)


def dispatch_function(func, args, kwargs):
    entry = registry.lookup(func)
    if entry is not None:
        return entry.fn(*args, **kwargs)
    impl = getattr(func, "_implementation", None)
    if impl is not None and hasattr(impl, "__code__") and emulator.available():
        # numpy's Python-level functions are emulated: their own numpy calls are traced.
        return emulator.call(impl, args, kwargs)
    raise context.require().unsupported(f"{registry.qualname(func)} has no lowering for traced values")
