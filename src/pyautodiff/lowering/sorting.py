"""Sorting and order-based selection: sort, argsort, partition, take_along_axis, searchsorted.

The order depends on the data, so it is computed symbolically (PyTensor's
sort and argsort call numpy's, with the same ``kind``); the gradient of a
sort flows back through the permutation.  ``ndarray.sort`` sorts in place.
``partition`` gathers through numpy's own ``argpartition`` (``host_ops.ArgPartition``:
introselect's arrangement is numpy's, no sort reproduces it).
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..traced import contains_traced, unwrap
from .core import as_var, lift, refuse
from .host_ops import ArgPartition
from .indexing import bounded, within_axis
from .registry import register, register_method


def _sort_var(x, axis, kind):
    if axis is None:
        return pt.sort(x.flatten(), axis=0, kind=kind)
    return pt.sort(x, axis=int(axis) % max(x.ndim, 1), kind=kind)


def _check_order(name, order):
    if order is not None:
        raise refuse(f"{name}: order= (structured arrays) is not supported with traced values")


@register(np.sort, group="sorting")
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    _check_order("numpy.sort", order)
    value = np.sort(unwrap(a), axis=axis, kind=kind, stable=stable)
    return lift(value, _sort_var(as_var(a), axis, "stable" if stable else (kind or "quicksort")))


def sort_inplace(self, axis=-1, kind=None, order=None, *, stable=None):
    _check_order("ndarray.sort", order)
    self.check_writable()
    before = self.sym
    self.value.sort(axis=axis, kind=kind, stable=stable)
    self.assign(_sort_var(before, axis, "stable" if stable else (kind or "quicksort")))


register_method("sort", sort_inplace, "sorting")


@register(np.argsort, method="argsort", group="sorting")
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    _check_order("numpy.argsort", order)
    value = np.argsort(unwrap(a), axis=axis, kind=kind, stable=stable)
    x = as_var(a)
    kind = "stable" if stable else (kind or "quicksort")
    if axis is None:
        return lift(value, pt.argsort(x.flatten(), axis=0, kind=kind))
    return lift(value, pt.argsort(x, axis=int(axis) % max(x.ndim, 1), kind=kind))


@register(np.take_along_axis, group="sorting")
def take_along_axis(arr, indices, axis=-1):
    value = np.take_along_axis(unwrap(arr), unwrap(indices), axis=axis)
    x, idx = as_var(arr), as_var(indices)
    if axis is None:
        x, axis = x.flatten(), 0
    axis = int(axis) % x.ndim
    if contains_traced(indices):
        idx = within_axis(idx, x, axis)
    return lift(value, pt.take_along_axis(x, idx, axis=axis))


@register(np.searchsorted, method="searchsorted", group="sorting")
def searchsorted(a, v, side="left", sorter=None):
    value = np.searchsorted(unwrap(a), unwrap(v), side=side, sorter=unwrap(sorter))
    sv = None if sorter is None else as_var(sorter)
    if contains_traced(sorter):  # numpy: "Sorter index out of range" (no negative positions)
        sv = bounded(sv, 0, np.shape(unwrap(a))[-1] - 1)
    var = pt.searchsorted(as_var(a), as_var(v), side=side, sorter=sv)
    return lift(value, var)



def _argpartition_var(name, x, kth, axis):
    """numpy's own arrangement (``host_ops.ArgPartition``), with the axis normalized."""
    if contains_traced(kth):
        raise refuse(f"{name}: a kth that depends on the inputs is not supported with traced values")
    if axis is None:
        x, axis = x.flatten(), 0
    axis = int(axis) % max(x.ndim, 1)
    return x, axis, ArgPartition(tuple(np.atleast_1d(np.asarray(kth)).tolist()), axis)(x)


@register(np.partition, group="sorting")
def partition(a, kth, axis=-1, kind="introselect", order=None):
    _check_order("numpy.partition", order)
    value = np.partition(unwrap(a), kth, axis=axis, kind=kind)
    x, axis, idx = _argpartition_var("numpy.partition", as_var(a), kth, axis)
    return lift(value, pt.take_along_axis(x, idx, axis=axis))


def partition_inplace(self, kth, axis=-1, kind="introselect", order=None):
    _check_order("ndarray.partition", order)
    self.check_writable()
    before = self.sym
    self.value.partition(kth, axis=axis, kind=kind)  # numpy first: it refuses a bad kth or axis
    x, axis, idx = _argpartition_var("ndarray.partition", before, kth, axis)
    self.assign(pt.take_along_axis(x, idx, axis=axis))


register_method("partition", partition_inplace, "sorting")


@register(np.argpartition, method="argpartition", group="sorting")
def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    _check_order("numpy.argpartition", order)
    value = np.argpartition(unwrap(a), kth, axis=axis, kind=kind)
    return lift(value, pt.cast(_argpartition_var("numpy.argpartition", as_var(a), kth, axis)[2], value.dtype.name))
