"""Opcodes of ``raise``, ``try``/``except`` and ``with``: the ``ExceptionOps``
mixin of the Interpreter.

Exceptions raised by emulated code are real Python exceptions; the dispatch
loop (``Interpreter.execute``) jumps to the handler the code's exception table
names.  The exception being handled lives in a stack of ``frame.ExcState``
owned by the interpreter: its own at the bottom, and on top the state of each
generator while it runs (CPython's ``exc_info`` chain and ``gi_exc_state``).
"""
from __future__ import annotations


class ExceptionOps:
    """Mixed into the Interpreter (which provides ``exc_states``): one method per opcode."""

    def handled_exception(self):
        """The exception a bare ``raise`` re-raises: the innermost one being handled,
        looking through generators that handle none to their callers (CPython's
        ``_PyErr_GetTopmostException``)."""
        for state in reversed(self.exc_states):
            if state.value is not None:
                return state.value
        return None

    def op_RAISE_VARARGS(self, f, ins):
        if ins.arg == 0:
            exc = self.handled_exception()
            if exc is None:
                raise RuntimeError("No active exception to reraise")
            raise exc
        if ins.arg == 2:
            cause = f.stack.pop()
            exc = f.stack.pop()
            raise exc from cause
        raise f.stack.pop()

    def op_RERAISE(self, f, ins):
        exc = f.stack.pop()
        raise exc

    def op_PUSH_EXC_INFO(self, f, ins):
        exc = f.stack.pop()
        state = self.exc_states[-1]
        f.stack.append(state.value)  # restored by POP_EXCEPT when the except block ends
        f.stack.append(exc)
        state.value = exc

    def op_POP_EXCEPT(self, f, ins):
        self.exc_states[-1].value = f.stack.pop()

    def op_CHECK_EXC_MATCH(self, f, ins):
        right = f.stack.pop()
        f.stack.append(isinstance(f.stack[-1], right))

    def op_BEFORE_WITH(self, f, ins):
        mgr = f.stack.pop()
        kind = type(mgr)
        exit_ = kind.__exit__.__get__(mgr, kind)
        f.stack.append(exit_)
        f.stack.append(kind.__enter__(mgr))

    def op_WITH_EXCEPT_START(self, f, ins):
        exit_ = f.stack[-4]
        exc = f.stack[-1]
        f.stack.append(exit_(type(exc), exc, exc.__traceback__))
