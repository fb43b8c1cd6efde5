"""numpy -> PyTensor lowering: the registry and the modules that fill it.

Importing this package fills ``registry.FUNCTIONS``/``registry.METHODS`` and
connects ``Traced`` to them (operators, numpy's override protocols, methods
and properties).  ``registry.table()`` lists what is supported.
"""
from __future__ import annotations

from .. import context
from ..traced import Traced
from . import builtins as _builtins
from . import (  # noqa: F401
    convolution,
    core,
    creation,
    cumulative,
    diagonals,
    eig,
    fft,
    indexing,
    inplace,
    interpolation,
    joining,
    linalg,
    metadata,
    operators,
    products,
    rearrange,
    reductions,
    registry,
    scipy_linalg,
    scipy_stats,
    selection,
    setops,
    shape,
    sorting,
    special,
    special_distributions,
    statistics,
    ufuncs,
)
from .registry import METHODS, BoundMethod, register_method

# Attributes of an ndarray that do not depend on its values.
_PLAIN_ATTRS = frozenset({"flags", "strides", "itemsize", "nbytes", "base", "data", "ctypes", "device"})

_PROPERTIES = {**shape.PROPERTIES, "real": ufuncs.real, "imag": ufuncs.imag}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    return core.dispatch_ufunc(ufunc, method, inputs, kwargs)


def _array_function(self, func, types, args, kwargs):
    return core.dispatch_function(func, args, kwargs)


def _getattr(self, name):
    if name.startswith("__"):
        raise AttributeError(name)
    value = object.__getattribute__(self, "value")
    entry = METHODS.get(name)
    if entry is not None and hasattr(value, name):
        return BoundMethod(entry, self)
    prop = _PROPERTIES.get(name)
    if prop is not None and hasattr(value, name):
        return prop(self)
    if name in _PLAIN_ATTRS:
        return getattr(value, name)
    if hasattr(value, name):
        ctx = context.current()
        msg = f"{type(value).__name__}.{name} has no lowering for traced values"
        raise ctx.unsupported(msg) if ctx else AttributeError(msg)
    raise AttributeError(f"'{type(value).__name__}' object has no attribute '{name}'")


def _install() -> None:
    operators.install()
    ufuncs.install()
    special.install()
    reductions.install()
    for name, fn in shape.METHODS.items():
        register_method(name, fn, "shape")
    register_method("item", _builtins.item, "python")
    register_method("tolist", _builtins.tolist, "python")
    Traced.__array_ufunc__ = _array_ufunc
    Traced.__array_function__ = _array_function
    Traced.__getattr__ = _getattr
    Traced.__getitem__ = indexing.getitem
    Traced.__setitem__ = lambda self, idx, v: indexing.store(self, idx, v) and None


_install()
