"""Opcodes that move values between the stack, constants and names (locals,
cells, globals, builtins, imports): the ``LocalsOps`` mixin of the Interpreter.

Reads of names the function does not own (globals, closure cells of user code)
go through ``ctx.read_external`` so a cached trace stays exact when they change.
"""
from __future__ import annotations

import builtins
import sys
import types

from ..traced import Traced, contains_traced
from . import code as vmcode
from .code import Instr
from .frame import NULL, push_callable


class LocalsOps:
    """Mixed into the Interpreter (which provides ``ctx``): one method per opcode."""

    # -- opcodes: stack and constants ---------------------------------------
    def op_NOP(self, f, ins):
        pass

    def op_POP_TOP(self, f, ins):
        f.stack.pop()

    def op_PUSH_NULL(self, f, ins):
        f.stack.append(NULL)

    def op_COPY(self, f, ins):
        f.stack.append(f.stack[-ins.arg])

    def op_SWAP(self, f, ins):
        s = f.stack
        s[-1], s[-ins.arg] = s[-ins.arg], s[-1]

    def op_LOAD_CONST(self, f, ins):
        f.stack.append(ins.argval)


    # -- locals, cells, globals ---------------------------------------------
    def _load_fast(self, f, i):
        v = f.localsplus[i]
        if v is NULL:
            raise UnboundLocalError(f"cannot access local variable '{f.decoded.localsplus[i]}' "
                                    "where it is not associated with a value")
        return self.ctx.resolve(v)

    def op_LOAD_FAST(self, f, ins):
        f.stack.append(self._load_fast(f, ins.arg))

    def op_LOAD_FAST_LOAD_FAST(self, f, ins):
        first, second = vmcode.local_pair(ins.arg)
        f.stack.append(self._load_fast(f, first))
        f.stack.append(self._load_fast(f, second))

    def op_LOAD_FAST_AND_CLEAR(self, f, ins):
        f.stack.append(f.localsplus[ins.arg])
        f.localsplus[ins.arg] = NULL

    def op_STORE_FAST(self, f, ins):
        v = f.localsplus[ins.arg] = f.stack.pop()
        if type(v) is Traced and f.is_user_code:
            name_after(v, f.decoded.localsplus[ins.arg])

    def op_STORE_FAST_LOAD_FAST(self, f, ins):
        store, load = vmcode.local_pair(ins.arg)
        f.localsplus[store] = f.stack.pop()
        f.stack.append(self._load_fast(f, load))

    def op_STORE_FAST_STORE_FAST(self, f, ins):
        first, second = vmcode.local_pair(ins.arg)
        f.localsplus[first] = f.stack.pop()
        f.localsplus[second] = f.stack.pop()

    def op_DELETE_FAST(self, f, ins):
        f.localsplus[ins.arg] = NULL

    def op_MAKE_CELL(self, f, ins):
        v = f.localsplus[ins.arg]
        cell = f.localsplus[ins.arg] = types.CellType() if v is NULL else types.CellType(v)
        self.ctx.internal_cells.add(id(cell))
        self.ctx.keepalive.append(cell)

    def op_COPY_FREE_VARS(self, f, ins):
        closure = f.func.__closure__
        n = len(f.localsplus)
        for j in range(ins.arg):
            f.localsplus[n - ins.arg + j] = closure[j]

    def op_LOAD_DEREF(self, f, ins):
        cell = f.localsplus[ins.arg]
        try:
            v = cell.cell_contents
        except ValueError:
            raise NameError(f"cannot access free variable '{f.decoded.localsplus[ins.arg]}' where it is "
                            "not associated with a value in enclosing scope") from None
        if f.is_user_code and id(cell) not in self.ctx.internal_cells:
            name = f.decoded.localsplus[ins.arg]
            v = self.ctx.read_external(("cell", id(cell)), lambda c=cell: c.cell_contents, v,
                                       f"closure variable '{name}'")
        f.stack.append(self.ctx.resolve(v))

    def op_STORE_DEREF(self, f, ins):
        cell = f.localsplus[ins.arg]
        if id(cell) not in self.ctx.internal_cells:
            self.ctx.wrote_outside = True  # a nonlocal of an outside closure (not replayed)
        cell.cell_contents = f.stack.pop()

    def op_DELETE_DEREF(self, f, ins):
        cell = f.localsplus[ins.arg]
        if id(cell) not in self.ctx.internal_cells:
            self.ctx.wrote_outside = True
        del cell.cell_contents

    def op_LOAD_GLOBAL(self, f, ins):
        name = ins.argval
        if name in f.globals:
            v = f.globals[name]
            if f.is_user_code:
                g = f.globals
                v = self.ctx.read_external(("global", id(g), name), lambda g=g, n=name: g[n], v,
                                           f"global '{name}'")
        elif name in f.builtins:
            v = f.builtins[name]
        else:
            raise NameError(f"name '{name}' is not defined")
        v = self.ctx.resolve(v)
        if ins.arg & 1:
            push_callable(f, v)
        else:
            f.stack.append(v)

    def op_STORE_GLOBAL(self, f, ins):
        v = f.stack.pop()
        if contains_traced(v):
            raise self.ctx.unsupported(f"storing a traced value in the global '{ins.argval}' is not supported: "
                                       "cached calls would not repeat that side effect")
        self.ctx.wrote_outside = True  # done by the trace only, not replayed
        f.globals[ins.argval] = v

    def op_DELETE_GLOBAL(self, f, ins):
        self.ctx.wrote_outside = True
        del f.globals[ins.argval]

    def op_LOAD_NAME(self, f, ins):
        self.op_LOAD_GLOBAL(f, Instr(ins.name, 0, ins.argval, ins.offset, ins.lineno, None))

    def op_LOAD_BUILD_CLASS(self, f, ins):
        f.stack.append(builtins.__build_class__)

    def op_IMPORT_NAME(self, f, ins):
        fromlist = f.stack.pop()
        level = f.stack.pop()
        f.stack.append(__import__(ins.argval, f.globals, None, fromlist, level))

    def op_IMPORT_FROM(self, f, ins):
        module = f.stack[-1]
        try:
            f.stack.append(getattr(module, ins.argval))
        except AttributeError:
            full = f"{module.__name__}.{ins.argval}"
            if full in sys.modules:
                f.stack.append(sys.modules[full])
            else:
                raise ImportError(f"cannot import name '{ins.argval}' from '{module.__name__}'") from None

    def op_LOAD_ASSERTION_ERROR(self, f, ins):
        f.stack.append(AssertionError)


def name_after(t: Traced, local: str) -> None:
    """Name an unnamed variable after the user's local (readable exported code)."""
    var = t._sym
    if var.name is None and not local.startswith((".", "_")):
        var.name = local
