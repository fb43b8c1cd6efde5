"""Probing a loop body for rolling (see ``vm/rolling.py``): one iteration traced
with placeholders for the loop's traced locals and a traced step index, so
that it yields the body as a graph; and the comparison of two such probes.

A probe also notes what a rolled loop would not repeat (writes to attributes,
globals, lists, ``list.append``, random draws...), and which locals changed
in a way the graph cannot carry.  Python numbers that change at every step
(``t += dt``, ``k += 1``) are the exception: the next probes carry them as
traced scalars (``promote``), so such counters roll too.

Example::

    p1 = probe(interp, f, loop)
    p2 = probe(interp, f, loop, p1)
    same(p1, p2)          # the body traced to the same graph twice
"""
from __future__ import annotations

import types

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import equal_computations

try:
    from pytensor.graph.traversal import graph_inputs
except ImportError:  # pytensor < 3.3
    from pytensor.graph.basic import graph_inputs

from ..traced import Traced
from .frame import HANDLED

_IMMUTABLE = (int, float, bool, str, bytes, complex, type(None))
_NUMBERS = (int, float)  # Python numbers a probe may carry as traced scalars
_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "update", "add",
                       "discard", "setdefault", "popitem", "sort", "reverse", "__setitem__",
                       "__delitem__", "appendleft", "extendleft", "popleft", "fill", "put",
                       "itemset", "resize", "setflags", "write", "writelines", "send"})
# Opcodes whose effect a rolled loop would not repeat (STORE_SUBSCR is checked by container;
# LIST_APPEND & co. build a comprehension's result on the stack)
_EFFECT_OPS = ("STORE_ATTR", "DELETE_ATTR", "STORE_GLOBAL", "DELETE_GLOBAL", "STORE_DEREF",
               "DELETE_DEREF", "DELETE_SUBSCR", "STORE_NAME", "DELETE_NAME", "YIELD_VALUE", "SEND",
               "LIST_APPEND", "SET_ADD", "MAP_ADD")


_NB_INPLACE = 13  # BINARY_OP's arguments from here on are the in-place operators (+=, -=...), 3.11-3.13


class Loop:
    """One loop of a frame: its header (the instruction each iteration starts at), the
    last instruction of its body, and for a ``for`` loop its iterator and source plan
    (``vm/loop_sources.py``); a ``while`` loop has neither."""

    def __init__(self, header, last, it=None, plan=None):
        self.header, self.last, self.it, self.plan = header, last, it, plan
        self.ops = 0  # graph operations of an iteration emulated plainly before

    @property
    def is_for(self):
        return self.plan is not None


class Probe:
    """One iteration traced with placeholders: the body as a graph."""

    def __init__(self):
        self.placed = []  # (Traced, var before, placeholder), in slot order, one per object
        self.before = []  # the frame's locals at the header
        self.after = []
        self.index = None  # the traced step index (Traced)
        self.k = None  # its concrete value
        self.items = {}  # id of each part of the loop's item -> its path in the item
        self.guards = []
        self.effects = False
        self.left = False  # control left the loop (break/return/exception handler/yield)
        self.signal = None
        self.regular = False  # every local classified (see _classify)
        self.kinds = None  # per slot: "same" | "index" | "item" | "state" | "last" | "alias" | "number"
        self.paths = {}  # slot -> path of the item part it holds
        self.aliases = {}  # slot -> the earlier slot holding the same changed object
        self.outs = None  # per changing slot: its new variable
        self.inner_rolled = 0  # loops rolled inside this probe (nested loops)

    def placeholder_name(self, obj):
        for t, old, p in self.placed:
            if t is obj:
                return p.name
        return None

    def placeholder_of(self, obj):
        for t, _, p in self.placed:
            if t is obj:
                return p
        return None

    @property
    def numbers(self):
        return [j for j, k in enumerate(self.kinds or ()) if k == "number"]


def promote(f, slots):
    """Carry the Python numbers in ``slots`` as traced scalars (constants of the graph
    until a probe places them); returns {slot: the Python value}."""
    olds = {}
    for j in slots:
        v = f.localsplus[j]
        olds[j] = v
        dtype = "int64" if type(v) is int else "float64"
        f.localsplus[j] = Traced(v, pt.constant(np.asarray(v, dtype=dtype)))
    return olds


def probe(interp, f, loop, previous=None) -> Probe:
    ctx = interp.ctx
    p = Probe()
    p.before = list(f.localsplus)
    skip = set() if previous is None else set(previous.items) | {id(previous.index)}
    for v in p.before:
        if type(v) is Traced and v._view is None and p.placeholder_of(v) is None and id(v) not in skip:
            old = v._sym
            ph = old.type(name=old.name if previous is None else previous.placeholder_name(v))
            p.placed.append((v, old, ph))
            v._sym = ph
    stack_before = list(f.stack)
    outer = interp.probing
    if loop.is_for:
        p.k = loop.plan.values[0 if previous is None else loop.plan.values.index(previous.k) + 1]
        next(loop.it)  # the real iterator moves on (its item is replaced by the traced one)
        p.index = Traced(p.k, pt.scalar(dtype="int64", name="i"))
        item = loop.plan.item(p.index)
        _note_items(p.items, item, ())
        f.stack.append(item)
        f.pc = loop.header + 1
    else:
        p.k = 0 if previous is None else previous.k + 1
        p.index = Traced(p.k, pt.scalar(dtype="int64", name="i"))  # the step count (unused by the body)
        f.pc = loop.header
    g0 = len(ctx.guards)
    saved_ops, saved_call = interp._ops, interp.__dict__.get("call")
    interp._ops = _EffectOps(saved_ops, p)
    interp.call = _effect_call(interp, p)
    interp.probing = p
    try:
        _run_body(interp, f, loop, p)
    finally:
        if loop.is_for and not loop.plan.settle():
            p.effects = True  # the body wrote into an item of a stacked list
        interp.probing = outer
        interp._ops = saved_ops
        if saved_call is None:
            del interp.call
        else:
            interp.call = saved_call
    if outer and p.effects:  # an effect inside a nested probe is one of the outer body too
        outer.effects = True
    p.guards = ctx.guards[g0:]
    p.after = list(f.localsplus)
    if not p.left and (len(f.stack) != len(stack_before)
                       or any(a is not b for a, b in zip(f.stack, stack_before))):
        p.effects = True
    p.regular = not p.left and _classify(p)  # now: the next probe changes the placeholders
    return p


def _note_items(items, item, path):
    items[id(item)] = path
    if type(item) is tuple:
        for n, part in enumerate(item):
            _note_items(items, part, path + (n,))


def _run_body(interp, f, loop, p):
    """Execute ``f`` from its pc until control is back at the loop header (the body
    ran once) or leaves the loop (break, the loop's end, return/yield: ``p.left``,
    ``p.signal``)."""
    header, last = loop.header, loop.last
    while True:
        signal = interp.step(f)
        if signal is HANDLED:
            p.effects = True  # an exception handled inside the body: keep it unrolled
        elif signal is not None:
            p.left, p.signal = True, signal
            return
        if f.pc == header:
            return
        if not header <= f.pc <= last:
            p.left = True  # break, or the loop ended: the frame goes on from f.pc
            return


class _EffectOps(dict):
    """The interpreter's opcode table, with the effects a rolled body would not repeat flagged."""

    def __init__(self, base, probe):
        super().__init__(base)
        self._probe = probe
        for name in _EFFECT_OPS:
            self.pop(name, None)
        for name in ("STORE_SUBSCR", "STORE_SLICE", "BINARY_OP"):
            self.pop(name, None)

    def __setitem__(self, name, handler):
        probe = self._probe
        if name in _EFFECT_OPS:
            def flagged(f, ins, handler=handler):
                probe.effects = True
                return handler(f, ins)
            handler = flagged
        elif name in ("STORE_SUBSCR", "STORE_SLICE"):
            def checked(f, ins, handler=handler, name=name):
                container = f.stack[-2] if name == "STORE_SUBSCR" else f.stack[-3]
                # a list/dict/object, or an ordinary array written with ordinary values:
                # an effect the rolled loop would not repeat (traced writes are graph updates)
                if f.is_user_code and type(container) is not Traced and (
                        type(container) is not np.ndarray or not _holds_traced(f, ins)):
                    probe.effects = True
                return handler(f, ins)
            handler = checked
        elif name == "BINARY_OP":
            def inplace(f, ins, handler=handler):
                # `a += 1.0` on an ordinary array: a write of constants the rolled loop would
                # not repeat (with a traced operand the array becomes traced: a graph update)
                if ins.arg >= _NB_INPLACE and f.is_user_code and type(f.stack[-2]) is np.ndarray \
                        and not _holds_traced(f, ins):
                    probe.effects = True
                return handler(f, ins)
            handler = inplace
        dict.__setitem__(self, name, handler)


def _holds_traced(f, ins):
    from ..traced import contains_traced

    depth = {"STORE_SUBSCR": 3, "BINARY_OP": 2}.get(ins.name, 4)
    return any(contains_traced(v) for v in f.stack[-depth:])


def _effect_call(interp, probe):
    base = type(interp).call.__get__(interp)

    def call(fn, args, kwargs):
        owner = getattr(fn, "__self__", None)
        if isinstance(fn, (types.BuiltinMethodType, types.MethodWrapperType)) and owner is not None \
                and not isinstance(owner, types.ModuleType) and getattr(fn, "__name__", "") in _MUTATORS \
                and type(owner) is not Traced:
            probe.effects = True
        if "out" in kwargs:
            probe.effects = True
        from .calls import is_random_draw

        if is_random_draw(fn):
            probe.effects = True
        return base(fn, args, kwargs)

    return call


# -- comparing two probes ------------------------------------------------------------------------
def _classify(p: Probe) -> bool:
    kinds, outs, changed = [], [], {}
    for j, (b, a) in enumerate(zip(p.before, p.after)):
        j0 = changed.get(id(a))
        if j0 is not None and (b is p.before[j0] or type(b) is not Traced):
            kinds.append("alias")  # `x = new`: one object in two slots, carried once
            p.aliases[j] = j0
        elif a is p.index:
            kinds.append("index")
        elif id(a) in p.items and type(a) in (Traced, tuple):
            kinds.append("item")
            p.paths[j] = p.items[id(a)]
        elif type(a) is Traced and (a is not b or (p.placeholder_of(b) is not None and a._sym is not p.placeholder_of(b))):
            if type(b) is Traced and (type(a.value) is not type(b.value) or np.shape(a.value) != np.shape(b.value)
                                      or getattr(a.value, "dtype", None) != getattr(b.value, "dtype", None)):
                return False
            ph = p.placeholder_of(b) if type(b) is Traced else None
            kinds.append("state" if ph is not None else "last")
            outs.append(a.sym)
            changed[id(a)] = j
        elif a is b or (type(a) is type(b) and type(a) in _IMMUTABLE and a == b):
            kinds.append("same")
        elif type(a) is type(b) and type(a) in _NUMBERS:
            kinds.append("number")  # a Python counter: the next probes carry it traced
        else:
            return False
    p.kinds, p.outs = kinds, outs
    return True


def same(p1: Probe, p2: Probe) -> bool:
    """The two probes traced the same body: same kinds of locals, same guards, equal graphs."""
    if p1.effects or p2.effects or not p1.regular or not p2.regular or p1.kinds != p2.kinds:
        return False
    if "number" in p1.kinds or p1.paths != p2.paths or p1.aliases != p2.aliases \
            or p1.inner_rolled != p2.inner_rolled:
        return False
    if [(g.kind, g.outcome) for g in p1.guards] != [(g.kind, g.outcome) for g in p2.guards]:
        return False
    xs = p1.outs + [g.expr for g in p1.guards]
    ys = p2.outs + [g.expr for g in p2.guards]
    if any(x.type != y.type for x, y in zip(xs, ys)):
        return False
    # the inputs, aligned by the local slot that held them (a probe may place values its
    # body never reads, e.g. the previous iteration's row, overwritten by the new one)
    in1, in2 = _inputs(p1, xs), _inputs(p2, ys)
    if [j for j, _ in in1] != [j for j, _ in in2]:
        return False
    # a state's input must be the placeholder of the object its slot held, one object per state
    s1 = [p1.placeholder_of(b) for b, k in zip(p1.before, p1.kinds) if k == "state"]
    s2 = [p2.placeholder_of(b) for b, k in zip(p2.before, p2.kinds) if k == "state"]
    if len(set(map(id, s1))) != len(s1) or len(set(map(id, s2))) != len(s2):
        return False
    return equal_computations(xs, ys, in_xs=[ph for _, ph in in1] + [p1.index._sym],
                              in_ys=[ph for _, ph in in2] + [p2.index._sym])


def _inputs(p, xs):
    """(slot, placeholder) of the placeholders the graphs ``xs`` read, by first slot."""
    used = set(graph_inputs(xs))
    found, seen = [], set()
    for j, b in enumerate(p.before):
        ph = p.placeholder_of(b)
        if ph is not None and ph in used and ph not in seen:
            seen.add(ph)
            found.append((j, ph))
    return found
