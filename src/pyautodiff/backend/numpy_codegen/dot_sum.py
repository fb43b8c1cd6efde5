"""The sum of a product, ``(a * b).sum()``, as one BLAS dot product (issue #18).

numpy computes ``(a * b).sum()`` in two passes with a product array in between; ``np.vdot``
reads ``a`` and ``b`` once and writes nothing (1e5 float64 elements: 14 us against about
40 us, 1 core, CPU time).  The gradient of a log-density holds such sums (the normal's
``sum(z * (x - mu))``), as does every ``sum(x ** 2)``.

The generator uses it for a full ``Sum`` of float64 whose input is a product of two
factors of the sum's own shape (a ``Mul`` or ``Sqr``, alone or as the root of a fused
``Composite`` output, read by nothing else), of at least ``MIN_SIZE`` elements.  The
factors are computed as before; only the product and the sum become one call.

What stays numpy's: the value up to the rounding of another summation order (BLAS's
partial sums instead of numpy's pairwise ones).  Where the dot product is zero or not
finite (a product overflowed, an inf met a zero, a NaN: numpy warns there, and the sign
of a zero result depends on the order) the helper recomputes ``(a * b).sum()``, so that
value, its warnings and ``np.errstate(over="raise")`` are numpy's (``np.vdot`` reports no
floating-point errors of its own, unlike ``np.dot``: "overflow encountered in dot",
which ``tests/test_dot_sum.py`` would catch); so it does under an
error state that asks for underflow reports (BLAS gives none) and for operands that are
not contiguous (``np.dot`` would copy them).

Example: ``Sum(Composite{mul(true_div(sub(i1, i2), i0), sub(i1, i2))}(s, x, m))``, the
normal log-density's gradient, becomes ``_sum_of_products((x - m) / s, t0)``.
"""
from __future__ import annotations

import math

import numpy as np

HELPER_NAME = "_sum_of_products"
MIN_SIZE = 4096  # below it the product array is cheap and the dot's extra checks are not

HELPER_SOURCE = f'''def {HELPER_NAME}(a, b):
    """(a * b).sum() as one dot product; numpy's own where the result is zero or not finite
    (its value and warnings), under an underflow-reporting error state, or for strided operands."""
    if a.flags.c_contiguous and b.flags.c_contiguous and np.geterr()["under"] == "ignore":
        r = np.vdot(a, b)  # np.dot would warn on its own ("overflow encountered in dot")
        if r != 0 and np.isfinite(r):
            return r
    return (a * b).sum()'''


def factors(g, x):
    """The two factor expressions of ``x`` (a product of two full-shape float64 values read
    only by the sum being rendered), or None."""
    from pytensor.scalar.basic import Composite, Mul, Sqr
    from pytensor.tensor.elemwise import Elemwise

    node = x.owner
    shape = getattr(x.type, "shape", ())
    if node is None or not isinstance(node.op, Elemwise) or g.uses.get(x, 0) != 1:
        return None
    if x.type.dtype != "float64" or not shape or None in shape or math.prod(shape) < MIN_SIZE:
        return None
    scalar_op = node.op.scalar_op
    in_shapes = [getattr(v.type, "shape", ()) for v in node.inputs]
    if isinstance(scalar_op, (Mul, Sqr)):
        inner_inputs = None
        parts = list(range(len(node.inputs)))
        if isinstance(scalar_op, Mul) and len(parts) != 2:
            return None
        deps = [{i} for i in parts] if isinstance(scalar_op, Mul) else [{0}, {0}]
    elif isinstance(scalar_op, Composite):
        fg = scalar_op.fgraph
        root = fg.outputs[node.outputs.index(x)]
        if root.owner is None or not isinstance(root.owner.op, (Mul, Sqr)):
            return None
        inner = list(root.owner.inputs) * (2 if isinstance(root.owner.op, Sqr) else 1)
        if len(inner) != 2 or any(v.type.dtype != "float64" for v in inner):
            return None
        inner_inputs = fg.inputs
        deps = [_inputs_under(v, inner_inputs) for v in inner]
        parts = inner
    else:
        return None
    for dep in deps:  # each factor has the sum's full shape: no broadcast in the product
        if not dep or _broadcast([in_shapes[i] for i in dep]) != tuple(shape):
            return None
    args = [g.elemwise_arg(v, i) for i, v in enumerate(node.inputs)]
    if isinstance(scalar_op, Composite):
        exprs = []
        for part in parts:
            if part.owner is None:  # an input of the kernel itself
                exprs.append(args[inner_inputs.index(part)])
            else:
                sub = Composite(list(inner_inputs), [part])
                exprs.append(g.scalar(sub, args, ["float64"])[0])
    else:
        exprs = [args[0], args[0]] if isinstance(scalar_op, Sqr) else [args[0], args[1]]
    if any(e.weak or np.dtype(e.dtype) != np.float64 for e in exprs):
        return None
    if exprs[0] is exprs[1] or exprs[0].text == exprs[1].text:  # x * x: computed once
        exprs = [g.atom(exprs[0])] * 2
    return exprs


def _inputs_under(var, inputs) -> set:
    """Positions in ``inputs`` of the kernel inputs ``var`` depends on."""
    seen, stack, found = set(), [var], set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v in inputs:
            found.add(inputs.index(v))
        elif v.owner is not None:
            stack.extend(v.owner.inputs)
    return found


def _broadcast(shapes) -> tuple:
    ndim = max(len(s) for s in shapes)
    out = []
    for d in range(ndim):
        sizes = {s[d - ndim + len(s)] for s in shapes if d - ndim + len(s) >= 0} - {1}
        out.append(sizes.pop() if len(sizes) == 1 else (1 if not sizes else None))
    return tuple(out)
