"""Exceptions CPython raises on Python-scalar arithmetic, kept on cached calls.

``1.0 / x`` with a Python float ``x`` raises ``ZeroDivisionError`` at 0.0 and
``x ** 1000.0`` raises ``OverflowError`` when the result overflows, where the
compiled graph (numpy's semantics) would return inf.  For operators whose
operands are both Python scalars, the trace records a guard on the condition
under which CPython does not raise; a cached call that breaks it traces again,
and the trace raises CPython's own exception from CPython's own operator.
numpy scalars and arrays keep numpy's semantics (inf/nan and a warning).

Example::

    g = ad.function(lambda x: 1.0 / x)
    g(2.0)      # traced: guard "x != 0"
    g(0.0)      # the guard fails, the trace runs 1.0 / 0.0: ZeroDivisionError
"""
from __future__ import annotations

import pytensor.tensor as pt

from .. import context
from ..traced import unwrap

_PYTHON_SCALARS = (float, int, bool)


def _nonzero_divisor(a, b, out):
    return pt.neq(b, 0)


def _pow_is_a_float(a, b, out):
    # CPython's float_pow: 0 ** negative -> ZeroDivisionError; a finite result that
    # overflows -> OverflowError; negative ** non-integer gives a complex (another trace).
    zero_to_negative = pt.eq(a, 0) & pt.lt(b, 0)
    finite_in = pt.isfinite(a) & pt.isfinite(b)
    overflow = finite_in & ~pt.isfinite(out)
    complex_result = pt.lt(a, 0) & pt.isfinite(b) & pt.neq(b, pt.floor(b))
    return ~(zero_to_negative | overflow | complex_result)


# operator name -> the condition (of the symbolic operands and result) under which CPython
# does not raise
CONDITIONS = {
    "truediv": _nonzero_divisor,
    "floordiv": _nonzero_divisor,
    "mod": _nonzero_divisor,
    "pow": _pow_is_a_float,
}


def guard(name, a, b, va, vb, out, value) -> None:
    """Record the no-exception condition of ``a <name> b`` if CPython could raise there."""
    condition = CONDITIONS.get(name)
    if condition is None or type(value) not in _PYTHON_SCALARS:
        return
    if type(unwrap(a)) not in _PYTHON_SCALARS or type(unwrap(b)) not in _PYTHON_SCALARS:
        return
    expr = condition(va, vb, out)
    context.require().add_guard(expr, True, f"Python {name} does not raise")
