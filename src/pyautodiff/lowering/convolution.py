"""1-D convolution and correlation: numpy's and scipy.signal's.

Every mode is a slice of the full convolution (PyTensor's ``convolve1d``, whose
derivative is again a convolution); correlation convolves with the reversed
second input.  The libraries differ only in where the slice starts and how long
it is (checked against numpy and scipy for all lengths up to 6 each):

- ``valid``: ``max(n, m) - min(n, m) + 1`` values from ``min(n, m) - 1`` (both);
- numpy ``same``: ``max(n, m)`` values, from ``(min - 1) // 2`` for ``convolve`` and for
  ``correlate`` with ``n >= m``, from ``min // 2`` for ``correlate`` with ``n < m``;
- scipy ``same``: ``n`` values (``in1``'s length), from ``(m - 1) // 2``.

``scipy.signal.fftconvolve`` and ``oaconvolve`` are the same convolution computed by
FFT: the graph convolves directly (equal up to rounding).

Example::

    np.convolve(x, [0.25, 0.5, 0.25], mode="same")    # a smoothed signal, differentiable in x
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import scipy.signal as ss
from pytensor.tensor.signal import convolve1d

from ..traced import unwrap
from .core import lift, refuse, vars_for
from .registry import register

_MODES = ("full", "same", "valid")


def _start_and_length(lib: str, kind: str, mode: str, n: int, m: int) -> tuple[int, int]:
    """Where numpy's/scipy's ``mode`` result starts in the full convolution, and its length."""
    small, big = min(n, m), max(n, m)
    if mode == "full":
        return 0, n + m - 1
    if mode == "valid":
        return small - 1, big - small + 1
    if lib == "scipy":
        return (m - 1) // 2, n
    if kind == "correlate" and n < m:
        return small // 2, big
    return (small - 1) // 2, big


def _lower(lib, kind, name, a, v, mode, value):
    if mode not in _MODES:
        raise refuse(f"{name}: mode={mode!r} is not supported with traced values")
    va, vv = vars_for([a, v], value.dtype)
    if va.ndim != 1 or vv.ndim != 1:
        raise refuse(f"{name}: only 1-d inputs are supported with traced values")
    if value.dtype.kind == "c":
        raise refuse(f"{name}: complex inputs are not supported with traced values")
    if kind == "correlate":
        vv = vv[::-1]
    n, m = np.shape(unwrap(a))[0], np.shape(unwrap(v))[0]
    start, length = _start_and_length(lib, kind, mode, n, m)
    full = convolve1d(va, vv, mode="full")
    return lift(value, pt.cast(full[start:start + length], value.dtype.name))


@register(np.convolve, group="convolution")
def convolve(a, v, mode="full"):
    value = np.convolve(unwrap(a), unwrap(v), mode=mode)
    return _lower("numpy", "convolve", "numpy.convolve", a, v, mode, value)


@register(np.correlate, group="convolution")
def correlate(a, v, mode="valid"):
    value = np.correlate(unwrap(a), unwrap(v), mode=mode)
    return _lower("numpy", "correlate", "numpy.correlate", a, v, mode, value)


def _scipy(fn, kind, name):
    def lower(in1, in2, mode="full", *args, **kwargs):
        value = np.asarray(fn(unwrap(in1), unwrap(in2), mode, *args, **kwargs))
        if args or set(kwargs) - {"method"}:
            raise refuse(f"{name}: only in1, in2, mode and method are supported with traced values")
        return _lower("scipy", kind, name, in1, in2, mode, value)

    lower.__name__ = f"lower_{fn.__name__}"
    return lower


for _fn, _kind in ((ss.convolve, "convolve"), (ss.correlate, "correlate"), (ss.fftconvolve, "convolve"),
                   (ss.oaconvolve, "convolve")):
    _name = f"scipy.signal.{_fn.__name__}"
    register(_fn, group="convolution", name=_name)(_scipy(_fn, _kind, _name))
