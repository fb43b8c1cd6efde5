"""Opcodes that make and call functions (``CALL``, ``MAKE_FUNCTION``, intrinsics):
the ``CallOps`` mixin of the Interpreter.

The stack layout of a call differs between CPythons (where the NULL slot sits,
``KW_NAMES`` vs ``CALL_KW``); the decision what a call *does* (emulate, lower,
run for real) is the call policy's (``vm/calls.py``).
"""
from __future__ import annotations

import types

from . import code as vmcode
from .frame import NULL, pop_n


class CallOps:
    """Mixed into the Interpreter (``ctx``, ``call``, ``_made``): one method per opcode."""

    def _call_from_stack(self, f, argc, kwnames):
        args = pop_n(f, argc)
        b = f.stack.pop()
        a = f.stack.pop()
        if vmcode.NULL_BEFORE_CALLABLE:
            fn, args = (b, args) if a is NULL else (a, [b, *args])
        else:
            fn, args = (a, args) if b is NULL else (a, [b, *args])
        kwargs = {}
        if kwnames:
            n = len(kwnames)
            kwargs = dict(zip(kwnames, args[-n:]))
            args = args[:-n]
        f.stack.append(self.call(fn, tuple(args), kwargs))

    # -- functions and calls ----------------------------------------------------------------
    def op_KW_NAMES(self, f, ins):
        f.kw_names = f.code.co_consts[ins.arg]

    def op_CALL(self, f, ins):
        kwnames, f.kw_names = f.kw_names, None
        self._call_from_stack(f, ins.arg, kwnames)

    def op_CALL_KW(self, f, ins):
        kwnames = f.stack.pop()
        self._call_from_stack(f, ins.arg, kwnames)

    def op_CALL_FUNCTION_EX(self, f, ins):
        kwargs = f.stack.pop() if ins.arg & 1 else {}
        args = f.stack.pop()
        b = f.stack.pop()
        a = f.stack.pop()
        fn = b if (vmcode.NULL_BEFORE_CALLABLE and a is NULL) else a
        f.stack.append(self.call(fn, tuple(args), dict(kwargs)))

    def op_CALL_INTRINSIC_1(self, f, ins):
        kind = vmcode.INTRINSICS_1.get(ins.arg)
        v = f.stack.pop()
        if kind == "unary_positive":
            f.stack.append(+v)
        elif kind == "list_to_tuple":
            f.stack.append(tuple(v))
        elif kind == "stopiteration_error":
            if isinstance(v, StopIteration):
                raise RuntimeError("generator raised StopIteration") from v
            raise v
        elif kind == "print":
            print(repr(v))
            f.stack.append(None)
        else:
            raise self.ctx.unsupported(f"unsupported intrinsic {ins.argval}")

    def op_MAKE_FUNCTION(self, f, ins):
        code = f.stack.pop()
        flags = ins.arg or 0
        closure = f.stack.pop() if flags & 0x08 else None
        annotations = f.stack.pop() if flags & 0x04 else None
        kwdefaults = f.stack.pop() if flags & 0x02 else None
        defaults = f.stack.pop() if flags & 0x01 else None
        if closure is None and code.co_freevars:  # 3.13: SET_FUNCTION_ATTRIBUTE brings the cells
            closure = tuple(types.CellType() for _ in code.co_freevars)
        fn = types.FunctionType(code, f.globals, code.co_name, defaults, closure)
        fn.__qualname__ = code.co_qualname
        if kwdefaults:
            fn.__kwdefaults__ = kwdefaults
        if annotations:
            fn.__annotations__ = dict(zip(annotations[::2], annotations[1::2])) if isinstance(annotations, tuple) else annotations
        self._made.add(fn)
        f.stack.append(fn)

    def op_SET_FUNCTION_ATTRIBUTE(self, f, ins):  # 3.13
        fn = f.stack.pop()
        value = f.stack.pop()
        if ins.arg == 0x08:  # a closure can only be given at creation
            new = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, value)
            new.__qualname__, new.__kwdefaults__ = fn.__qualname__, fn.__kwdefaults__
            fn = new
        elif ins.arg == 0x01:
            fn.__defaults__ = value
        elif ins.arg == 0x02:
            fn.__kwdefaults__ = value
        elif ins.arg == 0x04:
            fn.__annotations__ = dict(zip(value[::2], value[1::2])) if isinstance(value, tuple) else value
        self._made.add(fn)
        f.stack.append(fn)
