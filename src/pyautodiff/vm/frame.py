"""A ``Frame``: the data of one emulated function activation, nothing more."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Location
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
    fast: list  # "fast locals plus": locals, cells, free variables
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
