"""Decoded code objects, and the small tables where CPython versions differ.

``decode(code)`` turns a code object into what the interpreter steps through:
the instruction list (jump targets as instruction indices), the exception
table, and the names of the "fast locals plus" slots.  Decoding is cached per
code object.

CPython 3.11, 3.12 and 3.13 differ mostly in opcode names and stack layouts;
those differences are data here, not separate interpreters.
"""
from __future__ import annotations

import dis
import sys
from dataclasses import dataclass
from functools import lru_cache

import bytecode

PY = sys.version_info[:2]

# Opcodes that are the same operation under another name in some version.
ALIASES = {
    "POP_JUMP_FORWARD_IF_FALSE": "POP_JUMP_IF_FALSE",
    "POP_JUMP_BACKWARD_IF_FALSE": "POP_JUMP_IF_FALSE",
    "POP_JUMP_FORWARD_IF_TRUE": "POP_JUMP_IF_TRUE",
    "POP_JUMP_BACKWARD_IF_TRUE": "POP_JUMP_IF_TRUE",
    "POP_JUMP_FORWARD_IF_NONE": "POP_JUMP_IF_NONE",
    "POP_JUMP_BACKWARD_IF_NONE": "POP_JUMP_IF_NONE",
    "POP_JUMP_FORWARD_IF_NOT_NONE": "POP_JUMP_IF_NOT_NONE",
    "POP_JUMP_BACKWARD_IF_NOT_NONE": "POP_JUMP_IF_NOT_NONE",
    "JUMP_FORWARD": "JUMP",
    "JUMP_BACKWARD": "JUMP",
    "JUMP_BACKWARD_NO_INTERRUPT": "JUMP",
    "JUMP_NO_INTERRUPT": "JUMP",
    "LOAD_FAST_CHECK": "LOAD_FAST",
    "LOAD_METHOD": "LOAD_ATTR_METHOD",
    "LOAD_CLOSURE": "LOAD_FAST",  # pushes the cell object itself
    "NOP": "NOP", "RESUME": "NOP", "PRECALL": "NOP", "EXTENDED_ARG": "NOP",
    "CACHE": "NOP", "NOT_TAKEN": "NOP",
}

# Opcodes we do not emulate, with the reason (each CPython's dis.opmap, minus
# specialized and instrumented opcodes, is handled by an ``op_<NAME>`` method of
# the interpreter, aliased above, or listed here: tests/test_opcode_coverage.py).
_ASYNC = "async code: coroutines are not traced (call the synchronous core)"
_MODULE_SCOPE = "module or class bodies only: a traced function body never runs it"
_NOT_EMITTED = "never appears in a code object's co_code (a pseudo or internal opcode)"
REFUSED = {
    "BEFORE_ASYNC_WITH": _ASYNC, "END_ASYNC_FOR": _ASYNC, "GET_AITER": _ASYNC,
    "GET_ANEXT": _ASYNC, "GET_AWAITABLE": _ASYNC, "ASYNC_GEN_WRAP": _ASYNC,
    "CLEANUP_THROW": _ASYNC + " (it ends gen.throw() into a yield from/await)",
    "CHECK_EG_MATCH": "except* (exception groups) is not emulated",
    "PREP_RERAISE_STAR": "except* (exception groups) is not emulated",
    "CALL_INTRINSIC_2": "its operands are exception groups (except*) and generic type "
                        "parameters (PEP 695), neither emulated",
    "STORE_NAME": _MODULE_SCOPE, "DELETE_NAME": _MODULE_SCOPE, "SETUP_ANNOTATIONS": _MODULE_SCOPE,
    "IMPORT_STAR": _MODULE_SCOPE, "LOAD_LOCALS": _MODULE_SCOPE,
    "LOAD_FROM_DICT_OR_GLOBALS": _MODULE_SCOPE, "LOAD_FROM_DICT_OR_DEREF": _MODULE_SCOPE,
    "LOAD_CLASSDEREF": _MODULE_SCOPE,
    "PRINT_EXPR": "interactive mode only",
    "LOAD_SUPER_METHOD": "zero-argument super() inside a traced method is not emulated",
    "LOAD_ZERO_SUPER_ATTR": "zero-argument super() inside a traced method is not emulated",
    "LOAD_ZERO_SUPER_METHOD": "zero-argument super() inside a traced method is not emulated",
    "EXIT_INIT_CHECK": "ends a class's __init__ called by type.__call__, which runs natively",
    "INTERPRETER_EXIT": _NOT_EMITTED, "ENTER_EXECUTOR": _NOT_EMITTED + " (JIT executors)",
    "RESERVED": _NOT_EMITTED, "POP_BLOCK": _NOT_EMITTED, "SETUP_CLEANUP": _NOT_EMITTED,
    "SETUP_FINALLY": _NOT_EMITTED, "SETUP_WITH": _NOT_EMITTED,
    "STORE_FAST_MAYBE_NULL": _NOT_EMITTED,
}


def emulated_opnames() -> list[str]:
    """This CPython's opcodes that a program's bytecode may contain and the
    emulator must answer for: ``dis.opmap`` minus the specialized (adaptive)
    forms, which ``co_code`` never holds, and the instrumented ones (tools).

    Example::

        >>> "BINARY_OP" in emulated_opnames()
        True
    """
    specialized = {name for family in getattr(dis, "_specializations", {}).values() for name in family}
    return sorted(name for name in dis.opmap
                  if name not in specialized and not name.startswith("INSTRUMENTED_"))


# 3.11/3.12 push NULL *before* a callable (PUSH_NULL; LOAD_GLOBAL f), 3.13 after.
NULL_BEFORE_CALLABLE = PY < (3, 13)
# 3.11's LOAD_ATTR never loads methods; 3.12+ use its low bit for that.
LOAD_ATTR_METHOD_BIT = PY >= (3, 12)
# On exhaustion, 3.11's FOR_ITER pops the iterator; 3.12+ jump to END_FOR,
# which (with 3.13's POP_TOP) pops iterator and value: we push a dummy value.
FOR_ITER_PUSHES_ON_EXHAUSTION = PY >= (3, 12)
# When the sub-generator of ``yield from`` returns, 3.11's SEND pops it; 3.12+
# leave it under the return value for END_SEND to remove.
SEND_KEEPS_RECEIVER = PY >= (3, 12)
# 3.12's END_FOR pops the iterator as well as the value; 3.13 follows it with a POP_TOP.
END_FOR_POPS_ITERATOR = PY == (3, 12)
# 3.13's COMPARE_OP converts its result to bool when this operand bit is set.
COMPARE_OP_TO_BOOL = 16 if PY >= (3, 13) else 0
# BINARY_OP operands of `%` (and `%=`): on a str/bytes left operand it formats.
REMAINDER_OPS = frozenset({bytecode.BinaryOp.REMAINDER.value, bytecode.BinaryOp.INPLACE_REMAINDER.value})


def local_pair(arg: int) -> tuple[int, int]:
    """The two local-variable indices packed in one operand (4 bits each) by
    LOAD_FAST_LOAD_FAST, STORE_FAST_LOAD_FAST and STORE_FAST_STORE_FAST (3.13).

    Example::

        >>> local_pair(0x21)
        (2, 1)
    """
    return arg >> 4, arg & 15


# CALL_INTRINSIC_1 operands (3.12+)
INTRINSICS_1 = {1: "print", 2: "import_star", 3: "stopiteration_error", 5: "unary_positive", 6: "list_to_tuple"}


@dataclass(frozen=True)
class Instr:
    name: str  # canonical opcode name (after ALIASES)
    arg: int | None
    argval: object
    offset: int
    lineno: int | None
    target: int | None  # instruction index of a jump target


@dataclass(frozen=True)
class Handler:
    start: int  # instruction indices, end exclusive
    end: int
    target: int
    depth: int
    lasti: bool


@dataclass(frozen=True)
class Decoded:
    instrs: tuple[Instr, ...]
    handlers: tuple[Handler, ...]
    localsplus: tuple[str, ...]
    n_free: int

    def handler_for(self, index: int) -> Handler | None:
        for h in self.handlers:
            if h.start <= index < h.end:
                return h
        return None


_JUMPS = set(dis.hasjrel) | set(dis.hasjabs) if hasattr(dis, "hasjabs") else set(dis.hasjrel)


@lru_cache(maxsize=4096)
def decode(code) -> Decoded:
    raw = list(dis.get_instructions(code))
    index_of = {ins.offset: i for i, ins in enumerate(raw)}
    instrs = []
    for ins in raw:
        name = ALIASES.get(ins.opname, ins.opname)
        target = None
        if ins.opcode in _JUMPS or ins.opname in ("FOR_ITER", "SEND"):
            target = index_of.get(ins.argval)
        lineno = ins.positions.lineno if ins.positions is not None else None
        instrs.append(Instr(name, ins.arg, ins.argval, ins.offset, lineno, target))
    handlers = []
    # parsing the whole code object again only for its exception table: not when it has none
    # (a long generated function without ``try`` spent a third of its decoding there)
    table = bytecode.ConcreteBytecode.from_code(code).exception_table \
        if getattr(code, "co_exceptiontable", True) else ()
    for e in table:
        # bytecode counts in 2-byte code units with an inclusive stop
        start = _index_at(index_of, e.start_offset * 2)
        end = _index_at(index_of, (e.stop_offset + 1) * 2, raw)
        handlers.append(Handler(start, end, index_of[e.target * 2], e.stack_depth, e.push_lasti))
    return Decoded(tuple(instrs), tuple(handlers), _localsplus(code), len(code.co_freevars))


def _index_at(index_of, offset, raw=None):
    if offset in index_of:
        return index_of[offset]
    # an offset inside an instruction's inline cache: the next instruction
    later = [i for off, i in index_of.items() if off >= offset]
    return min(later) if later else len(index_of)


def _localsplus(code) -> tuple[str, ...]:
    names = list(code.co_varnames)
    names += [c for c in code.co_cellvars if c not in code.co_varnames]
    names += list(code.co_freevars)
    return tuple(names)
