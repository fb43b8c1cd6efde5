"""Operator opcodes (binary, comparison, membership, identity, unary, truth)
and string formatting: the ``OperatorOps`` mixin of the Interpreter.

The operators themselves are Python's: on a ``Traced`` operand they reach its
overloads (``lowering.operators``), which build the graph.
"""
from __future__ import annotations

import operator

import numpy as np

from .. import outside
from ..traced import unwrap
from . import code as vmcode

_BINARY_OPS = [
    operator.add, operator.and_, operator.floordiv, operator.lshift, operator.matmul,
    operator.mul, operator.mod, operator.or_, operator.pow, operator.rshift,
    operator.sub, operator.truediv, operator.xor,
    operator.iadd, operator.iand, operator.ifloordiv, operator.ilshift, operator.imatmul,
    operator.imul, operator.imod, operator.ior, operator.ipow, operator.irshift,
    operator.isub, operator.itruediv, operator.ixor,
]
_COMPARE = {"<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
            ">": operator.gt, ">=": operator.ge}


class OperatorOps:
    """Mixed into the Interpreter (which provides ``ctx``): one method per opcode."""

    # -- operators --------------------------------------------------------------
    def op_BINARY_OP(self, f, ins):
        b = f.stack.pop()
        a = f.stack.pop()
        if ins.arg in vmcode.REMAINDER_OPS and isinstance(a, (str, bytes)):  # "%.3f" % x formats the value
            b = unwrap(b)
        result = _BINARY_OPS[ins.arg](a, b)
        if type(result) is np.ndarray:
            self.ctx.note_created(result)
        f.stack.append(result)

    def op_COMPARE_OP(self, f, ins):
        b = f.stack.pop()
        a = f.stack.pop()
        result = _COMPARE[ins.argval](a, b)
        if ins.arg & vmcode.COMPARE_OP_TO_BOOL:
            result = bool(result)
        f.stack.append(result)

    def op_CONTAINS_OP(self, f, ins):
        b = f.stack.pop()
        a = f.stack.pop()
        result = a in b
        if f.is_user_code:
            outside.contains(self.ctx, a, b, result)
        f.stack.append((not result) if ins.arg else result)

    def op_IS_OP(self, f, ins):
        b = f.stack.pop()
        a = f.stack.pop()
        f.stack.append((a is not b) if ins.arg else (a is b))

    def op_UNARY_NEGATIVE(self, f, ins):
        f.stack.append(-f.stack.pop())

    def op_UNARY_POSITIVE(self, f, ins):
        f.stack.append(+f.stack.pop())

    def op_UNARY_INVERT(self, f, ins):
        f.stack.append(~f.stack.pop())

    def op_UNARY_NOT(self, f, ins):
        f.stack.append(not f.stack.pop())

    def op_TO_BOOL(self, f, ins):
        f.stack.append(bool(f.stack.pop()))

    # -- formatting ---------------------------------------------------------------------------
    _CONVERSIONS = {0: None, 1: str, 2: repr, 3: ascii}

    def op_FORMAT_VALUE(self, f, ins):
        spec = f.stack.pop() if ins.arg & 4 else ""
        value = f.stack.pop()
        conv = self._CONVERSIONS[ins.arg & 3]
        f.stack.append(format(conv(value) if conv else value, spec))

    def op_FORMAT_SIMPLE(self, f, ins):
        f.stack.append(format(f.stack.pop(), ""))

    def op_FORMAT_WITH_SPEC(self, f, ins):
        spec = f.stack.pop()
        f.stack.append(format(f.stack.pop(), spec))

    def op_CONVERT_VALUE(self, f, ins):
        f.stack.append(self._CONVERSIONS[ins.arg](f.stack.pop()))
