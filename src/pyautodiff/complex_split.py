"""The traced graph rewritten on (real, imaginary) pairs, for derivatives of complex code.

PyTensor's gradients of complex operations are mostly missing or wrong (its
``Real``/``Imag``/``Abs`` gradients are refused, ``angle``'s is zero), so a
derivative through complex values is taken on an equivalent *real* graph: every
complex variable that depends on a differentiated input becomes a pair of real
variables ``(re, im)`` (``im`` is None where it is known to be zero), each
complex operation becomes real arithmetic on the pairs (``exp(a + ib) =
e^a (cos b + i sin b)``), and operations that act on the two parts alike
(reshapes, indexing, joins, sums, fills) are applied to each part.  Real
nodes downstream are rebuilt on the new variables; nodes that do not depend on
the differentiated inputs stay as they are (their complex values are
constants to the derivative).  PyTensor then differentiates real arithmetic
only, which it does right.

``split(seeds, outputs)`` takes the seeds (original input -> its replacement:
a real variable, or a pair for a complex input) and returns, per output, its
real variable or ``(re, im)`` pair.  An operation on complex values without a
rule here raises ``UnsupportedError`` naming it, never a wrong derivative.

Example::

    >>> import pytensor.tensor as pt
    >>> z = pt.zvector("z"); x, y = pt.dvector("x"), pt.dvector("y")
    >>> [out] = split({z: (x, y)}, [pt.sum(pt.abs(z) ** 2)])
    >>> out.dtype
    'float64'
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.traversal import io_toposort

from .errors import UnsupportedError

PART_DTYPE = {"complex128": "float64", "complex64": "float32"}


def is_complex(var) -> bool:
    return getattr(var, "dtype", "").startswith("complex")


# -- complex arithmetic on parts (im None: exactly zero) --------------------------------

def _im0(p):
    a, b = p
    return b if b is not None else pt.zeros_like(a)


def _add(*ps):
    re = ps[0][0]
    for a, _ in ps[1:]:
        re = re + a
    ims = [b for _, b in ps if b is not None]
    im = None
    for b in ims:
        im = b if im is None else im + b
    return re, im


def _neg(p):
    a, b = p
    return -a, (None if b is None else -b)


def _sub(p, q):
    return _add(p, _neg(q))


def _mul2(p, q):
    (a, b), (c, d) = p, q
    if b is None and d is None:
        return a * c, None
    if b is None:
        return a * c, a * d
    if d is None:
        return a * c, b * c
    return a * c - b * d, a * d + b * c


def _mul(*ps):
    out = ps[0]
    for p in ps[1:]:
        out = _mul2(out, p)
    return out


def _div(p, q):
    (a, b), (c, d) = p, q
    if d is None:
        return a / c, (None if b is None else b / c)
    den = c * c + d * d
    if b is None:
        return a * c / den, -a * d / den
    return (a * c + b * d) / den, (b * c - a * d) / den


def _exp(p):
    a, b = p
    e = pt.exp(a)
    return (e, None) if b is None else (e * pt.cos(b), e * pt.sin(b))


def _log(p):
    a, b = p[0], _im0(p)
    return 0.5 * pt.log(a * a + b * b), pt.arctan2(b, a)


def _sin(p):
    a, b = p[0], _im0(p)
    return pt.sin(a) * pt.cosh(b), pt.cos(a) * pt.sinh(b)


def _cos(p):
    a, b = p[0], _im0(p)
    return pt.cos(a) * pt.cosh(b), -pt.sin(a) * pt.sinh(b)


def _sinh(p):
    a, b = p[0], _im0(p)
    return pt.sinh(a) * pt.cos(b), pt.cosh(a) * pt.sin(b)


def _cosh(p):
    a, b = p[0], _im0(p)
    return pt.cosh(a) * pt.cos(b), pt.sinh(a) * pt.sin(b)


def _sqrt(p):
    # The principal root, in the form that stays differentiable on the real axis:
    # t = sqrt((|z| + |a|) / 2); a >= 0: (t, b / 2t); a < 0: (|b| / 2t, t with b's sign).
    a, b = p[0], _im0(p)
    t = pt.sqrt((pt.sqrt(a * a + b * b) + pt.abs(a)) / 2)
    half = b / (2 * t)
    nonneg = pt.ge(a, 0)
    neg_b = pt.lt(b, 0) | (pt.eq(b, 0) & pt.lt(1.0 / b, 0))  # -0.0 counts as negative, as numpy's
    return pt.switch(nonneg, t, pt.abs(half)), pt.switch(nonneg, half, pt.switch(neg_b, -t, t))


def _pow(p, q):
    base_const = _constant_int(q)
    if base_const is not None and abs(base_const) <= 16:
        n = abs(base_const)
        out = (pt.ones_like(p[0]), None) if n == 0 else _mul(*([p] * n))
        return _div((pt.ones_like(p[0]), None), out) if base_const < 0 else out
    return _exp(_mul2(q, _log(p)))


def _constant_int(p):
    a, b = p
    if b is not None:
        return None
    try:
        v = pt.get_underlying_scalar_constant_value(a)
    except Exception:  # not a constant
        return None
    v = np.asarray(v)
    return int(v) if v.ndim == 0 and float(v) == int(v) else None


def _real_output(f):
    f.real_output = True
    return f


def _switch(c, p, q):
    return pt.switch(c[0], p[0], q[0]), (None if p[1] is None and q[1] is None
                                         else pt.switch(c[0], _im0(p), _im0(q)))


def _second(x, p):
    return pt.second(x[0], p[0]), (None if p[1] is None else pt.second(x[0], p[1]))


# Elemwise scalar op (class name) -> rule on the inputs' parts -> the output's parts
# (or a real variable, for the rules marked real_output).
ELEMWISE = {
    "Add": _add, "Sub": _sub, "Neg": _neg, "Mul": _mul, "TrueDiv": _div,
    "Exp": _exp, "Log": _log, "Sin": _sin, "Cos": _cos, "Sinh": _sinh, "Cosh": _cosh,
    "Tan": lambda p: _div(_sin(p), _cos(p)), "Tanh": lambda p: _div(_sinh(p), _cosh(p)),
    "Sqrt": _sqrt, "Sqr": lambda p: _mul2(p, p), "Pow": _pow,
    "Reciprocal": lambda p: _div((pt.ones_like(p[0]), None), p),
    "Conj": lambda p: (p[0], None if p[1] is None else -p[1]),
    "Identity": lambda p: p, "Cast": lambda p: p,
    "Complex": lambda x, y: (x[0], y[0]),
    "ComplexFromPolar": lambda r, t: (r[0] * pt.cos(t[0]), r[0] * pt.sin(t[0])),
    "Switch": _switch, "Second": _second,
    "Real": _real_output(lambda p: p[0]),
    "Imag": _real_output(lambda p: _im0(p)),
    "Abs": _real_output(lambda p: pt.sqrt(p[0] * p[0] + _im0(p) * _im0(p)) if p[1] is not None else pt.abs(p[0])),
    "Angle": _real_output(lambda p: pt.arctan2(_im0(p), p[0])),
    "EQ": _real_output(lambda p, q: pt.eq(p[0], q[0]) & pt.eq(_im0(p), _im0(q))),
    "NEQ": _real_output(lambda p, q: pt.neq(p[0], q[0]) | pt.neq(_im0(p), _im0(q))),
    "IsNan": _real_output(lambda p: pt.isnan(p[0]) | pt.isnan(_im0(p))),
    "IsInf": _real_output(lambda p: pt.isinf(p[0]) | pt.isinf(_im0(p))),
}

# Ops that act on the real and imaginary parts alike: applied to each part, with the
# float/complex inputs as data and the others (indices, shapes, axes) unchanged.
PARTWISE = frozenset({
    "DimShuffle", "MatrixTranspose", "Reshape", "SpecifyShape", "Subtensor", "AdvancedSubtensor",
    "AdvancedSubtensor1", "IncSubtensor", "AdvancedIncSubtensor", "AdvancedIncSubtensor1", "Join",
    "Split", "Alloc", "ExtractDiag", "AllocDiag", "Repeat", "Flatten", "Squeeze", "Unbroadcast",
    "BroadcastTo", "Sum", "CumOp", "Tile",
})
# Ops linear in each of their two (data) operands: (a + ib)(c + id) multiplied out.
BILINEAR = frozenset({"Dot", "Matmul", "Dot22", "Einsum"})


class Splitter:
    """One pass over a graph (see the module docstring)."""

    def __init__(self, seeds: dict):
        self.pairs: dict = {}  # complex var -> (re, im | None)
        self.real: dict = {}  # real var -> its rebuilt var
        for var, new in seeds.items():
            if isinstance(new, tuple):
                self.pairs[var] = new
            else:
                self.real[var] = new

    def changed(self, var) -> bool:
        return var in self.pairs or var in self.real

    def parts(self, var):
        if var in self.pairs:
            return self.pairs[var]
        if is_complex(var):  # independent of the differentiated inputs: a constant to the derivative
            return pt.real(var), pt.imag(var)
        return self.real.get(var, var), None

    def real_var(self, var):
        return self.real.get(var, var)

    def run(self, outputs):
        for node in io_toposort(list(self.pairs) + list(self.real), list(outputs)):
            if any(self.changed(i) for i in node.inputs):
                self._node(node)
        return [self.pairs[o] if o in self.pairs else self.real_var(o) for o in outputs]

    def _node(self, node):
        op = node.op
        touches_complex = any(map(is_complex, node.inputs)) or any(map(is_complex, node.outputs))
        if not touches_complex:
            squared = self._abs_squared(node)
            if squared is not None:  # |z| ** 2 as a*a + b*b: no sqrt, and a derivative at z = 0
                self._store(node.outputs[0], squared)
                return
            _refuse_complex_inner(op)
            new = node.clone_with_new_inputs([self.real_var(i) for i in node.inputs], strict=False)
            for old, out in zip(node.outputs, new.outputs):
                self.real[old] = out
            return
        name = type(op).__name__
        if name == "CumOp" and op.mode != "add":
            name = "cumprod"  # not partwise: refused below
        if name == "Elemwise":
            self._elemwise(node)
        elif name in PARTWISE:
            self._partwise(node)
        elif name in BILINEAR or (name == "Blockwise" and type(op.core_op).__name__ in BILINEAR):
            self._bilinear(node)
        else:
            raise UnsupportedError(
                f"the derivative through {op} on complex values is not supported (pyautodiff "
                "differentiates complex code on real and imaginary parts and has no rule for this "
                "operation); compute it on np.real(...) and np.imag(...) instead")

    def _abs_squared(self, node):
        """``a*a + b*b`` for ``abs(z) ** 2`` / ``sqr(abs(z))`` of a split complex ``z``, else None."""
        if type(node.op).__name__ != "Elemwise":
            return None
        scalar = type(node.op.scalar_op).__name__
        if scalar not in ("Pow", "Sqr"):
            return None
        if scalar == "Pow" and _constant_int((node.inputs[1], None)) != 2:
            return None
        base = node.inputs[0].owner
        if (base is None or type(base.op).__name__ != "Elemwise" or type(base.op.scalar_op).__name__ != "Abs"
                or base.inputs[0] not in self.pairs):
            return None
        a, b = self.pairs[base.inputs[0]]
        return a * a + b * b if b is not None else a * a

    def _store(self, out, value):
        if isinstance(value, tuple):
            dt = PART_DTYPE[out.dtype]
            re, im = value
            re = _fit(pt.cast(re, dt) if re.dtype != dt else re, out)
            im = None if im is None else _fit(pt.cast(im, dt) if im.dtype != dt else im, out)
            self.pairs[out] = (re, im)
        else:
            v = value if value.dtype == out.dtype else pt.cast(value, out.dtype)
            self.real[out] = _fit(v, out)

    def _elemwise(self, node):
        scalar = type(node.op.scalar_op).__name__
        rule = ELEMWISE.get(scalar)
        if rule is None:
            raise UnsupportedError(f"the derivative of {scalar.lower()} on complex values is not supported")
        out = node.outputs[0]
        result = rule(*[self.parts(i) for i in node.inputs])
        if is_complex(out) and not isinstance(result, tuple):
            result = (result, None)
        elif not is_complex(out) and isinstance(result, tuple):
            result = result[0]  # a cast from complex to real keeps the real part, as numpy
        self._store(out, result)

    def _partwise(self, node):
        op = node.op
        data = [i for i in node.inputs if i.dtype.startswith(("float", "complex"))]
        re_in = {i: self.parts(i)[0] for i in data}
        ims = {i: self.parts(i)[1] for i in data}
        new_re = self._apply(op, node, re_in)
        if all(b is None for b in ims.values()):
            new_im = [None] * len(node.outputs)
        else:
            im_in = {i: (b if b is not None else pt.zeros_like(re_in[i])) for i, b in ims.items()}
            new_im = self._apply(op, node, im_in)
        for out, re, im in zip(node.outputs, new_re, new_im):
            self._store(out, (re, im) if is_complex(out) else re)

    def _apply(self, op, node, data):
        inputs = [data.get(i, None) if i in data else self.real_var(i) for i in node.inputs]
        name = type(op).__name__
        if name == "Sum":
            return [pt.sum(inputs[0], axis=op.axis)]
        return node.clone_with_new_inputs(inputs, strict=False).outputs

    def _bilinear(self, node):
        (a, b), (c, d) = (self.parts(i) for i in node.inputs)
        op = node.op

        def apply(x, y):
            if type(op).__name__ == "Einsum":
                return pt.einsum(op.subscripts, x, y)
            return node.clone_with_new_inputs([x, y], strict=False).outputs[0]

        if b is None and d is None:
            result = (apply(a, c), None)
        elif b is None:
            result = (apply(a, c), apply(a, d))
        elif d is None:
            result = (apply(a, c), apply(b, c))
        else:
            result = (apply(a, c) - apply(b, d), apply(a, d) + apply(b, c))
        out = node.outputs[0]
        self._store(out, result if is_complex(out) else result[0])


def _fit(part, out):
    """``part`` with ``out``'s shape (an elementwise op's parts may broadcast differently)."""
    if part.type.ndim == out.type.ndim and part.type.broadcastable == out.type.broadcastable:
        return part
    shape = [s if s is not None else out.shape[k] for k, s in enumerate(out.type.shape)]
    return pt.broadcast_to(part, shape)


def _refuse_complex_inner(op):
    """A loop (Scan) or inner graph computing with complex values inside: no rule reaches in."""
    inner = getattr(op, "inner_outputs", None) or getattr(getattr(op, "fgraph", None), "outputs", None)
    if not inner:
        return
    ins = getattr(op, "inner_inputs", None) or op.fgraph.inputs
    for node in io_toposort(list(ins), list(inner)):
        if any(map(is_complex, node.outputs)):
            raise UnsupportedError(
                f"the derivative through {op} (a rolled loop or inner graph) computing with complex values "
                "is not supported")


def split(seeds: dict, outputs):
    """Per output, its real variable or ``(re, im)`` pair (see the module docstring)."""
    return Splitter(seeds).run(outputs)


def complex_on_path(inputs, outputs) -> bool:
    """Whether a complex value depends on ``inputs`` on the way to ``outputs``."""
    dependent = set(inputs)
    if any(map(is_complex, inputs)):
        return True
    for node in io_toposort(list(inputs), list(outputs)):
        if any(i in dependent for i in node.inputs):
            dependent.update(node.outputs)
            if any(map(is_complex, node.outputs)) or any(map(is_complex, node.inputs)):
                return True
    return False
