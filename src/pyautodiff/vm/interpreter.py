"""The bytecode interpreter: runs a user's function one instruction at a time.

Modelled on byterun: a ``Frame`` is data (``frame.py``), and each opcode is one
small method ``op_<NAME>`` of a mixin, one module per family of opcodes:
``ops_locals`` (stack, constants, names), ``ops_access`` (attributes, items),
``ops_operators``, ``ops_containers``, ``ops_control`` (loops, jumps, return,
yield), ``ops_calls``, ``ops_exceptions``, ``matching`` (``match``).  The
``Interpreter`` owns what outlives one opcode: the stack of emulated frames and
the exception being handled (per generator: ``generator.py``).  Values are the real Python/numpy values; a value that depends
on a differentiable input is a ``Traced`` box, whose operators and numpy
protocols build the symbolic graph.  The interpreter's own job is what
operator overloading cannot see:

- calls: user and library Python functions are emulated in new frames; the
  registry intercepts calls such as ``float(x)``, ``math.exp(x)`` and
  ``np.array([...])``; everything else runs for real;
- in-place writes into ordinary arrays (``out[i] = expr``): see
  ``lowering.indexing.store``;
- control flow: truth tests of traced values record guards (``Traced.__bool__``);
- errors: an unsupported opcode names the user's file and line.

Example::

    interp = Interpreter(ctx)
    result = interp.call(f, (Traced(x, x_var),), {})
"""
from __future__ import annotations

import builtins
import sys
import types
import weakref

from .. import context, outside
from ..errors import AutodiffError
from ..library_code import is_library
from . import code as vmcode
from .binding import bind_arguments
from .calls import CallPolicy
from .code import Instr, decode
from .frame import HANDLED, NULL, ExcState, Frame, Signal
from .generator import VMGenerator
from .matching import MatchOps
from .ops_access import AccessOps
from .ops_calls import CallOps
from .ops_containers import ContainerOps
from .ops_control import ControlOps
from .ops_exceptions import ExceptionOps
from .ops_locals import LocalsOps
from .ops_operators import OperatorOps


class Interpreter(CallPolicy, LocalsOps, AccessOps, OperatorOps, ContainerOps, ControlOps, CallOps,
                  ExceptionOps, MatchOps):
    """Runs emulated frames for one trace (``ctx``); the trace reaches it through the
    ``context.Emulator`` interface (``frames``, ``call``)."""

    def __init__(self, ctx: context.TraceContext):
        self.ctx = ctx
        self.frames: list[Frame] = []  # the emulated call stack, innermost last
        # The exceptions being handled: the interpreter's own state, and on top the
        # state of each running generator (VMGenerator.send pushes and pops it).
        self.exc_states: list[ExcState] = [ExcState()]
        self._ops = {}
        # Functions made while emulating (comprehensions, lambdas, closures) are
        # always emulated: they may read traced values from their closure.
        self._made = weakref.WeakSet()
        self.probing = False  # the loop-body probe running (vm/loop_probe.py), or False

    # -- calls ------------------------------------------------------------
    def run_function(self, func, args, kwargs):
        frame = self.make_frame(func, args, kwargs)
        signal = self.execute(frame)
        if signal.kind == "generator":
            return VMGenerator(self, frame)
        return signal.value

    def make_frame(self, func, args, kwargs) -> Frame:
        code = func.__code__
        dec = decode(code)
        localsplus = [NULL] * len(dec.localsplus)
        bound = bind_arguments(func, args, kwargs)
        if func not in self._made and not is_library(func):  # its code and defaults are outside state
            bound = outside.read_function(self.ctx, func, bound)
        for name, value in bound.items():
            localsplus[dec.localsplus.index(name)] = value
        glb = func.__globals__
        blt = glb.get("__builtins__", builtins)
        blt = blt.__dict__ if isinstance(blt, types.ModuleType) else blt
        return Frame(code, dec, func, glb, blt, localsplus, not is_library(func))

    # -- the dispatch loop --------------------------------------------------
    def execute(self, frame: Frame) -> Signal:
        step = self.step
        self.frames.append(frame)
        try:
            while True:
                signal = step(frame)
                if signal is not None and signal is not HANDLED:
                    return signal
        finally:
            self.frames.pop()

    def step(self, frame: Frame):
        """Run the instruction at ``frame.pc``: its handler's signal (None to go on), or
        ``HANDLED`` when it raised and the frame's exception table caught it (the frame
        goes on at the handler).  ``execute`` and the loop probe both step with it."""
        ins = frame.decoded.instrs[frame.pc]
        frame.pc += 1
        handler = self._ops.get(ins.name)
        if handler is None:  # read back: the loop probe's table wraps handlers as they are stored
            self._ops[ins.name] = self._handler(ins)
            handler = self._ops[ins.name]
        try:
            return handler(frame, ins)
        except AutodiffError:
            raise  # our errors are not the user's to catch
        except Exception as exc:
            h = frame.decoded.handler_for(frame.pc - 1)
            if h is None:
                if frame.is_user_code:
                    self.ctx.note_raise(exc, frame)
                raise
            del frame.stack[h.depth:]
            if h.lasti:
                frame.stack.append(ins.offset)
            frame.stack.append(exc)
            frame.pc = h.target
            return HANDLED

    def _handler(self, ins: Instr):
        handler = getattr(self, "op_" + ins.name, None)
        if handler is None:
            reason = vmcode.REFUSED.get(ins.name, "not emulated")
            raise self.ctx.unsupported(f"unsupported Python bytecode {ins.name} (pyautodiff emulates "
                                       f"CPython {sys.version_info.major}.{sys.version_info.minor}): {reason}")
        return handler
