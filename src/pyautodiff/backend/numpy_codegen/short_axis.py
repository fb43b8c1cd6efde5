"""Reductions of arrays with a short last axis, where numpy's per-row cost dominates (issue #18).

numpy reduces a C-contiguous ``(N, K)`` array along its last axis by calling its inner
loop once per row, K elements at a time, which costs 20-40 ns a row whatever K is:
``s.max(axis=1)`` of the log-linear model's ``(1000, 10)`` scores took 42 us and
``s.sum(axis=1)`` 22 us, against 14 and 13 us for K - 1 calls of ``np.maximum`` /
``np.add`` on the columns (``(10000, 3)``: 382 against 27 us; 1 core, CPU time).  Below
about 512 rows or above 16 columns numpy's own reduction was as fast or faster, so the
generator uses the helper only inside those bounds (``worth_it``).

The same bits as numpy: the columns are combined in numpy's own order, its pairwise sum
(``0 + a0 + a1 + ...`` below 8 terms; 8 running partial results, combined as
``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the rest in turn, from 8 to
127 terms), checked bit for bit against ``x.sum(axis=-1)`` for float32 and float64,
signed zeros, inf and NaN included (``tests/test_short_axis_reduce.py``).  Maximum and
minimum give numpy's value (NaN propagates either way); numpy's SIMD loop for more than
8 columns may return the other sign of a zero when both ``-0.0`` and ``0.0`` are the
largest, which depends on the CPU's SIMD path in numpy itself.  An input that is not
C-contiguous (a transposed view) goes to ``ufunc.reduce``, numpy's iteration order there
being another one.  Floating-point warnings are those of the elementwise calls
("overflow encountered in add" where the reduction says "in reduce").

The sum over the rows of such an array (``x.sum(axis=0)``: a bias gradient over a batch)
is slow for the same reason (1000 x 10: 18 us; 10000 x 3: 145 us); ``np.einsum("ij->j", x)``
adds the rows in numpy's order, the same bits (signed zeros, inf and NaN included, float32
and float64, checked in the tests), in 6.6 and 37 us.  einsum reports no floating-point
errors, so a result holding inf or NaN is recomputed by numpy's reduction for its warnings.

Example: ``Max{axis=(1,)}(s)`` with ``s`` of shape ``(1000, 10)`` becomes
``_reduce_last_axis(s, np.maximum)``, ``Sum{axis=(0,)}(s)`` ``_sum_leading_axis(s)``.
"""
from __future__ import annotations

import math

import numpy as np

HELPER_NAME = "_reduce_last_axis"
LEADING_HELPER_NAME = "_sum_leading_axis"
MIN_ROWS_LEADING = 256  # 256 x 10: 3.6 against 6.1 us
MAX_COLUMNS = 16  # above it numpy's reduction was as fast (1000 x 32: 55 against 61 us)
MIN_ROWS = 512  # below it numpy's per-row cost stays under the per-call cost of K ufunc calls
_UFUNCS = {"Add": "np.add", "Maximum": "np.maximum", "Minimum": "np.minimum"}

HELPER_SOURCE = f'''def {HELPER_NAME}(x, ufunc):
    """ufunc.reduce(x, axis=-1) for a short last axis, one call per column, in numpy's
    order (its pairwise sum: the same bits); numpy calls its inner loop once per row."""
    n = x.shape[-1]
    if not x.flags.c_contiguous or n < 2:
        return ufunc.reduce(x, axis=-1)
    cols = [x[..., k] for k in range(n)]
    if n < 8:  # numpy's pairwise sum starts from 0 below 8 terms (0 + -0.0 is 0.0)
        acc = ufunc(x.dtype.type(0), cols[0]) if ufunc is np.add else ufunc(cols[0], cols[1])
        for c in cols[1 if ufunc is np.add else 2:]:
            ufunc(acc, c, out=acc)
        return acc
    m = n - n % 8
    r = cols[:8]
    if m > 8:
        r = [ufunc(r[j], cols[8 + j]) for j in range(8)]
        for i in range(16, m, 8):
            for j in range(8):
                ufunc(r[j], cols[i + j], out=r[j])
    a, b, c = ufunc(r[0], r[1]), ufunc(r[2], r[3]), ufunc(r[4], r[5])
    ufunc(a, b, out=a)
    ufunc(r[6], r[7], out=b)
    ufunc(c, b, out=c)
    ufunc(a, c, out=a)
    for i in range(m, n):
        ufunc(a, cols[i], out=a)
    return a'''


LEADING_HELPER_SOURCE = f'''def {LEADING_HELPER_NAME}(x):
    """x.sum(axis=0) of a C-contiguous 2-d array with few columns in one einsum call, which adds
    the rows in numpy's order (the same bits); numpy's own where einsum, silent on floating-point
    errors, gives inf or NaN (numpy's warnings), and for any other layout."""
    if x.flags.c_contiguous:
        r = np.einsum("ij->j", x)
        if np.isfinite(r).all():
            return r
    return x.sum(axis=0)'''


def ufunc_name(scalar_name: str) -> str | None:
    """``np.add`` / ``np.maximum`` / ``np.minimum`` for a reduction's scalar op class name."""
    return _UFUNCS.get(scalar_name)


def worth_it(shape, axis, dtype) -> bool:
    """Whether a reduction of a float array of static ``shape`` along ``axis`` (a tuple of
    axes, normalized; None: all) is a short last axis the helper reduces faster than numpy."""
    if axis is None or len(shape) < 2 or None in shape or tuple(axis) != (len(shape) - 1,):
        return False
    if np.dtype(dtype) not in (np.dtype("float32"), np.dtype("float64")):
        return False
    return 2 <= shape[-1] <= MAX_COLUMNS and math.prod(shape[:-1]) >= MIN_ROWS


def leading_worth_it(shape, axis, dtype) -> bool:
    """Whether a sum of a float array of static ``shape`` along ``axis`` is the sum over the
    rows of a 2-d array with few columns (``_sum_leading_axis``)."""
    if axis is None or len(shape) != 2 or None in shape or tuple(axis) != (0,):
        return False
    if np.dtype(dtype) not in (np.dtype("float32"), np.dtype("float64")):
        return False
    return 2 <= shape[1] <= MAX_COLUMNS and shape[0] >= MIN_ROWS_LEADING
