"""Opcodes that build and unpack containers (tuples, lists, sets, dicts,
strings; ``a, *b = ...``): the ``ContainerOps`` mixin of the Interpreter.
"""
from __future__ import annotations

from .frame import pop_n


class ContainerOps:
    """Mixed into the Interpreter (which provides ``ctx``): one method per opcode."""

    # -- building containers ---------------------------------------------------------
    def op_BUILD_TUPLE(self, f, ins):
        f.stack.append(tuple(pop_n(f, ins.arg)))

    def op_BUILD_LIST(self, f, ins):
        f.stack.append(pop_n(f, ins.arg))

    def op_BUILD_SET(self, f, ins):
        f.stack.append(set(pop_n(f, ins.arg)))

    def op_BUILD_MAP(self, f, ins):
        items = pop_n(f, 2 * ins.arg)
        f.stack.append(dict(zip(items[::2], items[1::2])))

    def op_BUILD_CONST_KEY_MAP(self, f, ins):
        keys = f.stack.pop()
        f.stack.append(dict(zip(keys, pop_n(f, ins.arg))))

    def op_BUILD_STRING(self, f, ins):
        f.stack.append("".join(pop_n(f, ins.arg)))

    def op_LIST_APPEND(self, f, ins):
        v = f.stack.pop()
        f.stack[-ins.arg].append(v)

    def op_SET_ADD(self, f, ins):
        v = f.stack.pop()
        f.stack[-ins.arg].add(v)

    def op_MAP_ADD(self, f, ins):
        v = f.stack.pop()
        k = f.stack.pop()
        f.stack[-ins.arg][k] = v

    def op_LIST_EXTEND(self, f, ins):
        v = f.stack.pop()
        f.stack[-ins.arg].extend(v)

    def op_SET_UPDATE(self, f, ins):
        v = f.stack.pop()
        f.stack[-ins.arg].update(v)

    def op_DICT_UPDATE(self, f, ins):
        v = f.stack.pop()
        f.stack[-ins.arg].update(v)

    def op_DICT_MERGE(self, f, ins):
        v = f.stack.pop()
        target = f.stack[-ins.arg]
        for k in v:
            if k in target:
                raise TypeError(f"got multiple values for keyword argument '{k}'")
        target.update(v)

    def op_LIST_TO_TUPLE(self, f, ins):
        f.stack.append(tuple(f.stack.pop()))

    def op_UNPACK_SEQUENCE(self, f, ins):
        items = list(f.stack.pop())
        if len(items) != ins.arg:
            if len(items) > ins.arg:
                raise ValueError(f"too many values to unpack (expected {ins.arg})")
            raise ValueError(f"not enough values to unpack (expected {ins.arg}, got {len(items)})")
        f.stack.extend(self.ctx.resolve(v) for v in reversed(items))

    def op_UNPACK_EX(self, f, ins):
        before, after = ins.arg & 0xFF, ins.arg >> 8
        items = list(f.stack.pop())
        if len(items) < before + after:
            raise ValueError(f"not enough values to unpack (expected at least {before + after}, got {len(items)})")
        middle = items[before:len(items) - after]
        out = items[:before] + [middle] + items[len(items) - after:]
        f.stack.extend(reversed(out))

    def op_GET_LEN(self, f, ins):
        f.stack.append(len(f.stack[-1]))
