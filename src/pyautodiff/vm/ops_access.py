"""Opcodes that read and write attributes and items (``obj.name``, ``c[i]``,
``c[a:b] = v``): the ``AccessOps`` mixin of the Interpreter.

What they add to plain Python: a read from an outside object is recorded
(``outside.py``) so a cached trace notices when it changes; a write into an
outside object is replayed on every call (``writes.py``); a write of a traced
value into an ordinary array makes the array traced (``lowering.indexing.store``);
a Python property whose code may touch traced state is emulated.
"""
from __future__ import annotations

import types

import numpy as np

from .. import outside, writes
from ..library_code import is_library
from ..lowering import indexing
from ..traced import Traced, contains_traced
from . import code as vmcode
from .frame import pop_n, push_callable


class AccessOps:
    """Mixed into the Interpreter (``ctx``, ``run_function``): one method per opcode."""

    # -- attributes -----------------------------------------------------------
    def _read_attr(self, f, obj, name):
        getter = _emulated_property(obj, name)
        if getter is not None:  # its code may convert traced state (np.array(self._x)): emulate it
            return self.run_function(getter, (obj,), {})
        value = getattr(obj, name)
        if f.is_user_code and type(obj) is not Traced and type(value) is not Traced:
            value = outside.read_attr(self.ctx, obj, name, value)  # a step of a chain of outside reads
        return self.ctx.resolve(value)

    def op_LOAD_ATTR(self, f, ins):
        obj = f.stack.pop()
        value = self._read_attr(f, obj, ins.argval)
        if vmcode.LOAD_ATTR_METHOD_BIT and ins.arg & 1:
            push_callable(f, value)
        else:
            f.stack.append(value)

    def op_LOAD_ATTR_METHOD(self, f, ins):  # 3.11 LOAD_METHOD
        obj = f.stack.pop()
        push_callable(f, self._read_attr(f, obj, ins.argval))

    def op_LOAD_SUPER_ATTR(self, f, ins):
        self_obj = f.stack.pop()
        cls = f.stack.pop()
        f.stack.pop()  # the global `super`
        value = getattr(super(cls, self_obj), ins.argval)
        if ins.arg & 1:
            push_callable(f, value)
        else:
            f.stack.append(value)

    def op_STORE_ATTR(self, f, ins):
        obj = f.stack.pop()
        writes.store_attr(self.ctx, f, obj, ins.argval, f.stack.pop())  # outside objects: replayed

    def op_DELETE_ATTR(self, f, ins):
        delattr(f.stack.pop(), ins.argval)

    # -- subscripts ---------------------------------------------------------------
    def _subscr(self, container, index):
        if type(container) is np.ndarray and contains_traced(index):
            return indexing.getitem(container, index)
        result = container[index]
        if type(container) is np.ndarray and type(result) is np.ndarray:
            if result.base is None:  # advanced indexing copies: a new array of this trace
                self.ctx.note_created(result)
            else:
                self.ctx.note_view(result, container, index)
        return self.ctx.resolve(result)

    def op_BINARY_SUBSCR(self, f, ins):
        index = f.stack.pop()
        container = f.stack.pop()
        value = self._subscr(container, index)
        if f.is_user_code and type(container) is not Traced:
            value = outside.read_item(self.ctx, container, index, value)  # a step of a chain of outside reads
        f.stack.append(value)

    def op_BINARY_SLICE(self, f, ins):
        end = f.stack.pop()
        start = f.stack.pop()
        container = f.stack.pop()
        f.stack.append(self._subscr(container, slice(start, end)))

    def op_STORE_SUBSCR(self, f, ins):
        index = f.stack.pop()
        container = f.stack.pop()
        value = f.stack.pop()
        self._store(f, container, index, value)

    def op_STORE_SLICE(self, f, ins):
        end = f.stack.pop()
        start = f.stack.pop()
        container = f.stack.pop()
        value = f.stack.pop()
        self._store(f, container, slice(start, end), value)

    def _store(self, f, container, index, value):
        if writes.store_item(self.ctx, f, container, index, value):  # an outside list/dict: replayed
            return
        result = indexing.store(container, index, value)
        if result is not container:  # an ordinary array became traced: rebind local names
            for i, v in enumerate(f.localsplus):
                if v is container:
                    f.localsplus[i] = result

    def op_DELETE_SUBSCR(self, f, ins):
        index = f.stack.pop()
        container = f.stack.pop()
        del container[index]

    def op_BUILD_SLICE(self, f, ins):
        items = pop_n(f, ins.arg)
        f.stack.append(slice(*items))


def _emulated_property(obj, name):
    """The Python getter of property ``name`` of ``obj`` if it should be emulated, else None."""
    if type(obj) is Traced or isinstance(obj, type):
        return None
    prop = getattr(type(obj), name, None)
    if type(prop) is not property or not isinstance(prop.fget, types.FunctionType):
        return None
    if is_library(prop.fget) and not contains_traced(getattr(obj, "__dict__", None)):
        return None  # library state without traced values: run it for real
    return prop.fget
