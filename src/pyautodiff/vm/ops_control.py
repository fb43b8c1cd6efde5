"""Control-flow opcodes: iteration (``for``, ``yield from``), jumps, and leaving
a frame (return, yield): the ``ControlOps`` mixin of the Interpreter.

Truth tests of traced values record guards by themselves (``Traced.__bool__``);
what is left here is loop bookkeeping: a ``for`` over a ``range`` in user code is
offered to loop rolling (``vm/rolling.py``), and an unrolled loop that grows the
graph past ``loop_limit`` warns once (``TraceSizeWarning``).
"""
from __future__ import annotations

import types
import warnings

from .. import outside
from ..errors import Location, TraceSizeWarning
from . import code as vmcode
from . import rolling
from .frame import NULL, Signal
from .generator import VMGenerator


class ControlOps:
    """Mixed into the Interpreter (which provides ``ctx``): one method per opcode."""

    def op_END_FOR(self, f, ins):
        f.stack.pop()
        if vmcode.END_FOR_POPS_ITERATOR:
            f.stack.pop()

    def op_SEND(self, f, ins):
        # `yield from` / await: pass the sent value on; its return value ends the loop
        value = f.stack.pop()
        receiver = f.stack[-1]
        try:
            result = next(receiver) if value is None else receiver.send(value)
        except StopIteration as stop:
            if not vmcode.SEND_KEEPS_RECEIVER:
                f.stack.pop()
            f.stack.append(self.ctx.resolve(stop.value))
            f.pc = ins.target
            return
        f.stack.append(self.ctx.resolve(result))

    def op_END_SEND(self, f, ins):
        del f.stack[-2]

    # -- iteration ------------------------------------------------------------------------
    def op_GET_ITER(self, f, ins):
        v = f.stack.pop()
        it = outside.iterate(self.ctx, v) if f.is_user_code else None  # an outside list: items are reads
        f.stack.append(it if it is not None else iter(v))

    def op_GET_YIELD_FROM_ITER(self, f, ins):
        v = f.stack[-1]
        if not isinstance(v, (types.GeneratorType, VMGenerator)):
            f.stack[-1] = iter(v)

    def op_FOR_ITER(self, f, ins):
        if type(f.stack[-1]) is rolling.RANGE_ITERATOR and f.is_user_code:
            handled = rolling.at_header(self, f, f.pc - 1)
            if handled is not None:
                return handled[0]
        try:
            v = next(f.stack[-1])
        except StopIteration:
            if vmcode.FOR_ITER_PUSHES_ON_EXHAUSTION:
                f.stack.append(NULL)  # END_FOR (and 3.13's POP_TOP) pop it with the iterator
            else:
                f.stack.pop()
            f.pc = ins.target
            return
        f.stack.append(self.ctx.resolve(v))

    # -- jumps ----------------------------------------------------------------------------------
    def op_JUMP(self, f, ins):
        if ins.target < f.pc:  # a loop's back edge: remember its header for warnings
            self._loop_iteration(f, ins.target)
        f.pc = ins.target

    def _loop_iteration(self, f, header):
        ctx = self.ctx
        if not f.is_user_code:
            return
        if ctx.n_ops > ctx.loop_limit and not ctx.warned_size:
            ctx.warned_size = True
            ins = f.decoded.instrs[header]
            loc = Location(f.code.co_filename, ins.lineno or f.code.co_firstlineno, f.code.co_qualname)
            warnings.warn(f"pyautodiff: the trace of this loop has grown past {ctx.loop_limit} operations "
                          f"({ctx.n_ops} so far); loops are unrolled into the graph, which will be slow "
                          f"to optimize. Vectorize the loop or raise loop_limit=.\n  {loc}",
                          TraceSizeWarning, stacklevel=2)

    def op_POP_JUMP_IF_FALSE(self, f, ins):
        if not f.stack.pop():
            if ins.target < f.pc:  # 3.11's conditional back edges
                self._loop_iteration(f, ins.target)
            f.pc = ins.target

    def op_POP_JUMP_IF_TRUE(self, f, ins):
        if f.stack.pop():
            if ins.target < f.pc:  # 3.11's conditional back edges
                self._loop_iteration(f, ins.target)
            f.pc = ins.target

    def op_POP_JUMP_IF_NONE(self, f, ins):
        if f.stack.pop() is None:
            f.pc = ins.target

    def op_POP_JUMP_IF_NOT_NONE(self, f, ins):
        if f.stack.pop() is not None:
            f.pc = ins.target

    def op_JUMP_IF_FALSE_OR_POP(self, f, ins):
        if not f.stack[-1]:
            f.pc = ins.target
        else:
            f.stack.pop()

    def op_JUMP_IF_TRUE_OR_POP(self, f, ins):
        if f.stack[-1]:
            f.pc = ins.target
        else:
            f.stack.pop()

    # -- leaving a frame: return, yield ----------------------------------------------------
    def op_RETURN_VALUE(self, f, ins):
        return Signal("return", f.stack.pop())

    def op_RETURN_CONST(self, f, ins):
        return Signal("return", ins.argval)

    def op_RETURN_GENERATOR(self, f, ins):
        return Signal("generator")

    def op_YIELD_VALUE(self, f, ins):
        return Signal("yield", f.stack.pop())
