"""The bytecode interpreter: runs a user's function one instruction at a time.

Modelled on byterun: a ``Frame`` is data, and each opcode is one small method
``op_<NAME>``.  Values are the real Python/numpy values; a value that depends
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
import functools
import operator
import sys
import types
import weakref

import numpy as np

from .. import context, outside, writes
from ..errors import AutodiffError
from ..lowering import indexing, registry
from ..traced import Traced, contains_traced, unwrap
from . import code as vmcode
from . import rolling
from .calls import CallPolicy, is_library
from .code import Instr, decode
from .frame import NULL, Frame
from .matching import MatchOps

_BINARY_OPS = [
    operator.add, operator.and_, operator.floordiv, operator.lshift, operator.matmul,
    operator.mul, operator.mod, operator.or_, operator.pow, operator.rshift,
    operator.sub, operator.truediv, operator.xor,
    operator.iadd, operator.iand, operator.ifloordiv, operator.ilshift, operator.imatmul,
    operator.imul, operator.imod, operator.ior, operator.ipow, operator.irshift,
    operator.isub, operator.itruediv, operator.ixor,
]
_COMPARE = {"<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
            ">": operator.gt, ">=": operator.ge}

class TraceSizeWarning(UserWarning):
    """An unrolled loop made the traced graph very large."""


class _Signal:
    """How a run of a frame ended: 'return', 'yield' or 'generator' (created)."""

    __slots__ = ("kind", "value")

    def __init__(self, kind, value=None):
        self.kind, self.value = kind, value


class VMGenerator:
    """A generator whose frame the interpreter runs (generator expressions, ``yield``)."""

    def __init__(self, interp, frame):
        self._interp, self._frame, self._done = interp, frame, False
        self.__name__ = frame.code.co_name

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)

    def send(self, value):
        if self._done:
            raise StopIteration
        self._frame.stack.append(value)
        try:
            signal = self._interp.execute(self._frame)
        except BaseException:
            self._done = True
            raise
        if signal.kind == "yield":
            return signal.value
        self._done = True
        raise StopIteration(signal.value)

    def close(self):
        self._done = True


class Interpreter(CallPolicy, MatchOps):
    def __init__(self, ctx: context.TraceContext):
        self.ctx = ctx
        self.current_exc = None  # the exception being handled (for bare `raise`)
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
        fast = [NULL] * len(dec.localsplus)
        bound = _bind(func, args, kwargs)
        if func not in self._made and not is_library(func):  # its code and defaults are outside state
            bound = outside.read_function(self.ctx, func, bound)
        for name, value in bound.items():
            fast[dec.localsplus.index(name)] = value
        glb = func.__globals__
        blt = glb.get("__builtins__", builtins)
        blt = blt.__dict__ if isinstance(blt, types.ModuleType) else blt
        return Frame(code, dec, func, glb, blt, fast, not is_library(func))

    # -- the dispatch loop --------------------------------------------------
    def execute(self, frame: Frame) -> _Signal:
        instrs = frame.decoded.instrs
        ops = self._ops
        ctx = self.ctx
        ctx.frames.append(frame)
        try:
            while True:
                ins = instrs[frame.pc]
                frame.pc += 1
                handler = ops.get(ins.name)
                if handler is None:
                    handler = ops[ins.name] = self._handler(ins)
                try:
                    signal = handler(frame, ins)
                except AutodiffError:
                    raise  # our errors are not the user's to catch
                except Exception as exc:
                    h = frame.decoded.handler_for(frame.pc - 1)
                    if h is None:
                        if frame.is_user_code:
                            ctx.note_raise(exc, frame)
                        raise
                    del frame.stack[h.depth:]
                    if h.lasti:
                        frame.stack.append(ins.offset)
                    frame.stack.append(exc)
                    frame.pc = h.target
                    continue
                if signal is not None:
                    return signal
        finally:
            ctx.frames.pop()

    def _handler(self, ins: Instr):
        handler = getattr(self, "op_" + ins.name, None)
        if handler is None:
            reason = vmcode.REFUSED.get(ins.name, "not emulated")
            raise self.ctx.unsupported(f"unsupported Python bytecode {ins.name} (pyautodiff emulates "
                                       f"CPython {sys.version_info.major}.{sys.version_info.minor}): {reason}")
        return handler

    # -- helpers ----------------------------------------------------------
    def _push_callable(self, f, fn):
        """Push a callable as CPython's CALL expects it, with a NULL beside it."""
        if vmcode.NULL_BEFORE_CALLABLE:
            f.stack.append(NULL)
            f.stack.append(fn)
        else:
            f.stack.append(fn)
            f.stack.append(NULL)

    def _pop_n(self, f, n):
        if not n:
            return []
        items = f.stack[-n:]
        del f.stack[-n:]
        return items

    def _call_from_stack(self, f, argc, kwnames):
        args = self._pop_n(f, argc)
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

    # -- locals, cells, globals ---------------------------------------------
    def _load_fast(self, f, i):
        v = f.fast[i]
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
        f.stack.append(f.fast[ins.arg])
        f.fast[ins.arg] = NULL

    def op_STORE_FAST(self, f, ins):
        v = f.fast[ins.arg] = f.stack.pop()
        if type(v) is Traced and f.is_user_code:
            _name_after(v, f.decoded.localsplus[ins.arg])

    def op_STORE_FAST_LOAD_FAST(self, f, ins):
        store, load = vmcode.local_pair(ins.arg)
        f.fast[store] = f.stack.pop()
        f.stack.append(self._load_fast(f, load))

    def op_STORE_FAST_STORE_FAST(self, f, ins):
        first, second = vmcode.local_pair(ins.arg)
        f.fast[first] = f.stack.pop()
        f.fast[second] = f.stack.pop()

    def op_DELETE_FAST(self, f, ins):
        f.fast[ins.arg] = NULL

    def op_MAKE_CELL(self, f, ins):
        v = f.fast[ins.arg]
        cell = f.fast[ins.arg] = types.CellType() if v is NULL else types.CellType(v)
        self.ctx.internal_cells.add(id(cell))
        self.ctx.keepalive.append(cell)

    def op_COPY_FREE_VARS(self, f, ins):
        closure = f.func.__closure__
        n = len(f.fast)
        for j in range(ins.arg):
            f.fast[n - ins.arg + j] = closure[j]

    def op_LOAD_DEREF(self, f, ins):
        cell = f.fast[ins.arg]
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
        f.fast[ins.arg].cell_contents = f.stack.pop()

    def op_DELETE_DEREF(self, f, ins):
        del f.fast[ins.arg].cell_contents

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
            self._push_callable(f, v)
        else:
            f.stack.append(v)

    def op_STORE_GLOBAL(self, f, ins):
        v = f.stack.pop()
        if contains_traced(v):
            raise self.ctx.unsupported(f"storing a traced value in the global '{ins.argval}' is not supported: "
                                       "cached calls would not repeat that side effect")
        f.globals[ins.argval] = v

    def op_DELETE_GLOBAL(self, f, ins):
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

    # -- attributes -----------------------------------------------------------
    def _read_attr(self, f, obj, name):
        if type(obj) is Traced and name in _SHADOWED_METHODS:
            return functools.partial(registry.METHODS[name].fn, obj)
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
            self._push_callable(f, value)
        else:
            f.stack.append(value)

    def op_LOAD_ATTR_METHOD(self, f, ins):  # 3.11 LOAD_METHOD
        obj = f.stack.pop()
        self._push_callable(f, self._read_attr(f, obj, ins.argval))

    def op_LOAD_SUPER_ATTR(self, f, ins):
        self_obj = f.stack.pop()
        cls = f.stack.pop()
        f.stack.pop()  # the global `super`
        value = getattr(super(cls, self_obj), ins.argval)
        if ins.arg & 1:
            self._push_callable(f, value)
        else:
            f.stack.append(value)

    def op_STORE_ATTR(self, f, ins):
        obj = f.stack.pop()
        writes.store_attr(self.ctx, f, obj, ins.argval, f.stack.pop())  # outside objects: replayed

    def op_DELETE_ATTR(self, f, ins):
        delattr(f.stack.pop(), ins.argval)

    # -- operators --------------------------------------------------------------
    def op_BINARY_OP(self, f, ins):
        b = f.stack.pop()
        a = f.stack.pop()
        if ins.arg in vmcode.REMAINDER_OPS and isinstance(a, (str, bytes)):  # "%.3f" % x formats the value
            b = unwrap(b)
        result = _BINARY_OPS[ins.arg](a, b)
        if type(result) is np.ndarray:
            self.ctx.note_created(result)
        f.stack.append(result)

    def op_COMPARE_OP(self, f, ins):
        b = f.stack.pop()
        a = f.stack.pop()
        result = _COMPARE[ins.argval](a, b)
        if ins.arg & vmcode.COMPARE_OP_TO_BOOL:
            result = bool(result)
        f.stack.append(result)

    def op_CONTAINS_OP(self, f, ins):
        b = f.stack.pop()
        a = f.stack.pop()
        result = a in b
        if f.is_user_code:
            outside.contains(self.ctx, a, b, result)
        f.stack.append((not result) if ins.arg else result)

    def op_IS_OP(self, f, ins):
        b = f.stack.pop()
        a = f.stack.pop()
        f.stack.append((a is not b) if ins.arg else (a is b))

    def op_UNARY_NEGATIVE(self, f, ins):
        f.stack.append(-f.stack.pop())

    def op_UNARY_POSITIVE(self, f, ins):
        f.stack.append(+f.stack.pop())

    def op_UNARY_INVERT(self, f, ins):
        f.stack.append(~f.stack.pop())

    def op_UNARY_NOT(self, f, ins):
        f.stack.append(not f.stack.pop())

    def op_TO_BOOL(self, f, ins):
        f.stack.append(bool(f.stack.pop()))

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
            for i, v in enumerate(f.fast):
                if v is container:
                    f.fast[i] = result

    def op_DELETE_SUBSCR(self, f, ins):
        index = f.stack.pop()
        container = f.stack.pop()
        del container[index]

    def op_BUILD_SLICE(self, f, ins):
        items = self._pop_n(f, ins.arg)
        f.stack.append(slice(*items))

    # -- building containers ---------------------------------------------------------
    def op_BUILD_TUPLE(self, f, ins):
        f.stack.append(tuple(self._pop_n(f, ins.arg)))

    def op_BUILD_LIST(self, f, ins):
        f.stack.append(self._pop_n(f, ins.arg))

    def op_BUILD_SET(self, f, ins):
        f.stack.append(set(self._pop_n(f, ins.arg)))

    def op_BUILD_MAP(self, f, ins):
        items = self._pop_n(f, 2 * ins.arg)
        f.stack.append(dict(zip(items[::2], items[1::2])))

    def op_BUILD_CONST_KEY_MAP(self, f, ins):
        keys = f.stack.pop()
        f.stack.append(dict(zip(keys, self._pop_n(f, ins.arg))))

    def op_BUILD_STRING(self, f, ins):
        f.stack.append("".join(self._pop_n(f, ins.arg)))

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
        if f.is_user_code and rolling.rollable(f.stack[-1]):
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
        if ins.target < f.pc:  # a loop's back edge: warnings, and a while loop may roll
            handled = self._loop_iteration(f, ins.target)
            if handled is not None:
                return handled[0]
        f.pc = ins.target

    def _loop_iteration(self, f, header):
        """A back edge to ``header``: None, or ``(signal,)`` when rolling ran the loop on."""
        ctx = self.ctx
        if not f.is_user_code:
            return None
        if ctx.n_ops > ctx.loop_limit and not ctx.warned_size:
            ctx.warned_size = True
            ins = f.decoded.instrs[header]
            import warnings

            from ..errors import Location

            loc = Location(f.code.co_filename, ins.lineno or f.code.co_firstlineno, f.code.co_qualname)
            warnings.warn(f"pyautodiff: the trace of this loop has grown past {ctx.loop_limit} operations "
                          f"({ctx.n_ops} so far); loops are unrolled into the graph, which will be slow "
                          f"to optimize. Vectorize the loop or raise loop_limit=.\n  {loc}",
                          TraceSizeWarning, stacklevel=2)
        return rolling.at_back_edge(self, f, header, f.pc - 1)

    def op_POP_JUMP_IF_FALSE(self, f, ins):
        if not f.stack.pop():
            if ins.target < f.pc:  # 3.11's conditional back edges
                handled = self._loop_iteration(f, ins.target)
                if handled is not None:
                    return handled[0]
            f.pc = ins.target

    def op_POP_JUMP_IF_TRUE(self, f, ins):
        if f.stack.pop():
            if ins.target < f.pc:  # 3.11's conditional back edges
                handled = self._loop_iteration(f, ins.target)
                if handled is not None:
                    return handled[0]
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

    def op_RETURN_VALUE(self, f, ins):
        return _Signal("return", f.stack.pop())

    def op_RETURN_CONST(self, f, ins):
        return _Signal("return", ins.argval)

    def op_RETURN_GENERATOR(self, f, ins):
        return _Signal("generator")

    def op_YIELD_VALUE(self, f, ins):
        return _Signal("yield", f.stack.pop())

    # -- exceptions and with-blocks --------------------------------------------------------
    def op_RAISE_VARARGS(self, f, ins):
        if ins.arg == 0:
            if self.current_exc is None:
                raise RuntimeError("No active exception to reraise")
            raise self.current_exc
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
        f.stack.append(self.current_exc)
        f.stack.append(exc)
        self.current_exc = exc

    def op_POP_EXCEPT(self, f, ins):
        self.current_exc = f.stack.pop()

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

    # -- formatting ---------------------------------------------------------------------------
    _CONVERSIONS = {0: None, 1: str, 2: repr, 3: ascii}

    def op_FORMAT_VALUE(self, f, ins):
        spec = f.stack.pop() if ins.arg & 4 else ""
        value = f.stack.pop()
        conv = self._CONVERSIONS[ins.arg & 3]
        f.stack.append(format(conv(value) if conv else value, spec))

    def op_FORMAT_SIMPLE(self, f, ins):
        f.stack.append(format(f.stack.pop(), ""))

    def op_FORMAT_WITH_SPEC(self, f, ins):
        spec = f.stack.pop()
        f.stack.append(format(f.stack.pop(), spec))

    def op_CONVERT_VALUE(self, f, ins):
        f.stack.append(self._CONVERSIONS[ins.arg](f.stack.pop()))


# ndarray methods whose names Traced uses for itself (Traced.var is the symbolic variable)
_SHADOWED_METHODS = frozenset({"var"})

def _name_after(t: Traced, local: str) -> None:
    """Name an unnamed variable after the user's local (readable exported code)."""
    var = t._var
    if var.name is None and not local.startswith((".", "_")):
        var.name = local


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


_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08


def _bind(func, args, kwargs) -> dict:
    """Bind call arguments to parameter names as CPython does (from the code object)."""
    code = func.__code__
    names = code.co_varnames
    npos, nposonly, nkw = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    qual = func.__qualname__
    bound = {}
    for name, value in zip(names[:npos], args):
        bound[name] = value
    extra = args[npos:]
    i = npos + nkw
    if code.co_flags & _CO_VARARGS:
        bound[names[i]] = tuple(extra)
        i += 1
    elif extra:
        raise TypeError(f"{qual}() takes {npos} positional argument{'s' if npos != 1 else ''} "
                        f"but {len(args)} were given")
    varkw = {} if code.co_flags & _CO_VARKEYWORDS else None
    if varkw is not None:
        bound[names[i]] = varkw
    allowed = set(names[nposonly:npos + nkw])
    for k, v in kwargs.items():
        if k in allowed:
            if k in bound:
                raise TypeError(f"{qual}() got multiple values for argument '{k}'")
            bound[k] = v
        elif varkw is not None:
            varkw[k] = v
        else:
            raise TypeError(f"{qual}() got an unexpected keyword argument '{k}'")
    defaults = func.__defaults__ or ()
    first_default = npos - len(defaults)
    missing = []
    for j, name in enumerate(names[:npos]):
        if name not in bound:
            if j >= first_default:
                bound[name] = defaults[j - first_default]
            else:
                missing.append(name)
    kwdefaults = func.__kwdefaults__ or {}
    for name in names[npos:npos + nkw]:
        if name not in bound:
            if name in kwdefaults:
                bound[name] = kwdefaults[name]
            else:
                missing.append(name)
    if missing:
        raise TypeError(f"{qual}() missing {len(missing)} required argument{'s' if len(missing) > 1 else ''}: "
                        + ", ".join(f"'{m}'" for m in missing))
    return bound
