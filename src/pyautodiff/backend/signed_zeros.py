"""Constants ``0.0`` and ``-0.0`` kept apart when PyTensor merges equal constants.

Constants merge by their ``signature``, which compares values with ``==``, so ``0.0`` and
``-0.0`` became one constant, and ``arctan2(-0.0, x) + arctan2(0.0, x)`` ran as twice
``arctan2(0.0, x)``.  ``keep_signed_zeros_apart`` (idempotent) gives a constant holding a
negative zero a signature that equals only one with the same signs.

Example::

    keep_signed_zeros_apart()
    pt.constant(-0.0).signature() == pt.constant(0.0).signature()   # False
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

_install_lock = threading.Lock()  # background builds install it too


def _signs(data):
    data = np.asarray(data)
    return np.signbit(data.real), (np.signbit(data.imag) if data.dtype.kind == "c" else None)


def _has_negative_zero(data) -> bool:
    data = np.asarray(data)
    if data.dtype.kind not in "fc" or not data.size:
        return False
    parts = (data.real, data.imag) if data.dtype.kind == "c" else (data,)
    return any(bool(np.any(np.signbit(part) & (part == 0))) for part in parts)


def keep_signed_zeros_apart():
    """Constants merge by their ``signature``, which compares values with ``==``: ``0.0`` and
    ``-0.0`` became one constant (a tensor constant in the graph, a scalar one inlined into
    a fused ``Composite``), so ``arctan2(-0.0, x) + arctan2(0.0, x)`` ran as twice
    ``arctan2(0.0, x)`` (2 pi for 0 at x = -1).  A constant holding a negative zero gets a
    signature that equals only one with the same signs; every other signature is
    PyTensor's own.  Process-wide (merging is not per mode), and only ever stricter: two
    constants that were kept apart before still are."""
    from pytensor.scalar.basic import ScalarConstant, ScalarConstantSignature
    from pytensor.tensor.variable import TensorConstant, TensorConstantSignature

    with _install_lock:
        _sign_aware_signature(TensorConstant, TensorConstantSignature)
        _sign_aware_signature(ScalarConstant, ScalarConstantSignature)


def _sign_aware_signature(cls, base):
    current = cls.signature
    if getattr(current, "keeps_signed_zeros_apart", False):
        return

    class SignedZerosSignature(base):
        def __eq__(self, other):
            return (type(other) is type(self) and super().__eq__(other)
                    and all(np.array_equal(a, b) for a, b in zip(_signs(self[1]), _signs(other[1]))))

        __hash__ = base.__hash__

    kept = weakref.WeakKeyDictionary()  # constant -> (PyTensor's signature, ours): one scan of the data

    def signature(self):
        sig = current(self)  # memoized by pytensor_speedups: the same object while the data is
        hit = kept.get(self)
        if hit is not None and hit[0] is sig:
            return hit[1]
        ours = SignedZerosSignature(sig) if _has_negative_zero(sig[1]) else sig
        kept[self] = (sig, ours)
        return ours

    signature.keeps_signed_zeros_apart = True
    signature.__wrapped__ = current
    cls.signature = signature
