"""A ``Frame``: the data of one emulated function activation, nothing more.

Also the other small data the opcode handlers pass around: ``NULL`` (CPython's
empty stack slot), ``Signal`` (how a run of a frame ended) and the two stack
helpers every family of handlers uses (``push_callable``, ``pop_n``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Location
from . import code as vmcode
from .code import Decoded


class _Null:
    """CPython's NULL stack slot (e.g. before a callable that is not a method)."""

    __slots__ = ()

    def __repr__(self):
        return "NULL"


NULL = _Null()


@dataclass(eq=False)
class Frame:
    code: Any
    decoded: Decoded
    func: Any  # the function object (for its closure and name)
    globals: dict
    builtins: dict
    localsplus: list  # CPython's "fast locals plus": locals, cells, free variables
    is_user_code: bool
    stack: list = field(default_factory=list)
    pc: int = 0  # index of the next instruction
    kw_names: tuple | None = None  # 3.11/3.12 KW_NAMES for the next CALL

    def location(self) -> Location:
        instr = self.decoded.instrs[max(self.pc - 1, 0)]
        lineno = instr.lineno
        if lineno is None:  # artificial instructions: nearest earlier line
            for ins in reversed(self.decoded.instrs[: self.pc]):
                if ins.lineno is not None:
                    lineno = ins.lineno
                    break
        return Location(self.code.co_filename, lineno or self.code.co_firstlineno, self.code.co_qualname)


class ExcState:
    """The exception being handled (``except`` block): what a bare ``raise`` re-raises.

    One for the interpreter's own thread of frames and one per generator, as
    CPython's ``gi_exc_state``: a generator resumed inside an ``except`` block
    sees its own handled exception, and its caller never sees it."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = None


class Signal:
    """How a run of a frame ended: 'return', 'yield' or 'generator' (created)."""

    __slots__ = ("kind", "value")

    def __init__(self, kind, value=None):
        self.kind, self.value = kind, value


# What a step returns when the frame's exception table caught what the instruction
# raised: the frame goes on at the handler (not an end of the run).
HANDLED = Signal("handled")


def push_callable(f: Frame, fn) -> None:
    """Push a callable as CPython's CALL expects it, with a NULL beside it
    (before it on 3.11/3.12, after it on 3.13)."""
    if vmcode.NULL_BEFORE_CALLABLE:
        f.stack.append(NULL)
        f.stack.append(fn)
    else:
        f.stack.append(fn)
        f.stack.append(NULL)


def pop_n(f: Frame, n: int) -> list:
    """The top ``n`` stack items, removed (in stack order, deepest first)."""
    if not n:
        return []
    items = f.stack[-n:]
    del f.stack[-n:]
    return items
