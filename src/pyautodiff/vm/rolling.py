"""Loop rolling: a ``for i in range(...)`` loop whose iterations trace to the same
computation becomes one PyTensor ``Scan`` instead of N unrolled copies.

At the loop header (``FOR_ITER`` over a range iterator, in user code), after a
couple of iterations emulated plainly, the emulator *probes* two consecutive
iterations: the loop's Traced locals get fresh placeholder variables and the
loop index is a traced int64, so each probe yields the body as a graph of
(carried values, index).  If both probes give the same graph (PyTensor's
``equal_computations``), had no side effect the graph cannot repeat (attribute,
global or container writes, ``list.append``...), and every other local is
unchanged, the loop is *rolled*:

- the remaining iterations' concrete values come from the body compiled once
  (numpy code) and run in a Python loop, checking the body's guards at each
  step; the first step whose guards fail ends the rolled part and is emulated
  as usual (so is everything after it);
- the graph gets one ``Scan`` over the rolled steps (its gradient, R-op and
  numba form are PyTensor's); a guard at every step becomes one flag per step,
  and the trace's guard is their conjunction;
- ``out[i] = v`` (a carried array written at the loop index and nowhere else
  read) becomes a per-step output stacked once, never an O(N) copy per step.

A probe that differs (irregular loop) is not wasted: its placeholders are
replaced by the values they stood for, and the loop stays unrolled.

Example::

    def f(x, w):
        for i in range(1000):
            x = x + 0.01 * np.sin(x) * w[i % 16]
        return x.sum()

    ad.trace(f, x, w).loops_rolled     # 1: one Scan, whatever the trip count
"""
from __future__ import annotations

import collections
import itertools
import os
import types

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Constant, equal_computations

try:
    from pytensor.graph.traversal import graph_inputs
except ImportError:  # pytensor < 3.3
    from pytensor.graph.basic import graph_inputs
from pytensor.graph.replace import clone_replace

from ..backend import scan_numpy
from ..context import Guard
from ..errors import AutodiffError
from ..traced import Traced
from . import loop_scan

RANGE_ITERATOR = type(iter(range(0)))
scan_numpy.register()  # Scans run as generated Python loops in the numpy tier

_FIRST_PROBE = 2  # iterations emulated plainly first (they promote `out`, turn 0.0 into a Traced...)
# Probe only when this many iterations remain: below it, unrolling compiles as fast
# (PyTensor's Scan rewrites cost about a second; measured crossover 12-16 steps)
_MIN_LEFT = 20
_MAX_ATTEMPTS = 3  # probes of one loop that found an irregular body; then it stays unrolled
_IMMUTABLE = (int, float, bool, str, bytes, complex, type(None))
_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "update", "add",
                       "discard", "setdefault", "popitem", "sort", "reverse", "__setitem__",
                       "__delitem__", "appendleft", "extendleft", "popleft", "fill", "put",
                       "itemset", "resize", "setflags", "write", "writelines", "send"})
# Opcodes whose effect a rolled loop would not repeat (STORE_SUBSCR is checked by container)
_EFFECT_OPS = ("STORE_ATTR", "DELETE_ATTR", "STORE_GLOBAL", "DELETE_GLOBAL", "STORE_DEREF",
               "DELETE_DEREF", "DELETE_SUBSCR", "STORE_NAME", "DELETE_NAME", "YIELD_VALUE", "SEND")


class _Probe:
    """One iteration traced with placeholders: the body as a graph."""

    def __init__(self):
        self.placed = []  # (Traced, var before, placeholder), in slot order, one per object
        self.before = []  # the frame's locals at the header
        self.after = []
        self.index = None  # the traced loop index (Traced)
        self.k = None  # its concrete value
        self.guards = []
        self.effects = False
        self.left = False  # control left the loop (break/return/exception handler/yield)
        self.signal = None
        self.regular = False  # every local classified (see _classify)
        self.kinds = None  # per slot: "same" | "index" | "state" | "last"
        self.outs = None  # per changing slot: its new variable

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


def enabled() -> bool:
    """``PYAUTODIFF_ROLL_LOOPS=0`` turns loop rolling off (every loop unrolls)."""
    return os.environ.get("PYAUTODIFF_ROLL_LOOPS", "1").strip().lower() not in ("0", "false", "no", "off")


def at_header(interp, f, header):
    """Called at FOR_ITER over a range iterator in user code.  Returns None to let
    FOR_ITER proceed as usual, or ``(signal,)`` when the loop (or part of it) was
    run here and the frame's pc is set where execution continues."""
    ctx = interp.ctx
    if interp.probing or f.code.co_flags & 0x20 or not enabled():  # inside a probe; generators
        return None
    it = f.stack[-1]
    plan = ctx.loop_plans.get(id(it))
    if plan is None:  # iterator (kept alive), visits of the header, next probe at, attempts
        plan = ctx.loop_plans[id(it)] = [it, 0, _FIRST_PROBE, 0]
    visit = plan[1]
    plan[1] += 1
    if visit != plan[2] or plan[3] >= _MAX_ATTEMPTS:
        return None
    rest = _remaining(it)
    if len(rest) < _MIN_LEFT:
        return None
    plan[3] += 1
    plan[2] = 2 * visit + 2
    return _attempt(interp, f, header, it, rest)


def _remaining(it) -> range:
    """The values a range iterator has still to give."""
    _, (rng,), state = it.__reduce__()
    return rng if state is None else rng[state:]  # 3.12+: the rest; 3.11: the range and a position


def _attempt(interp, f, header, it, rng):
    ctx = interp.ctx
    g0 = len(ctx.guards)
    p1 = _probe(interp, f, header, it)
    if p1.left:
        _give_up(ctx, f, [p1], g0)
        return (p1.signal,)
    p2 = _probe(interp, f, header, it, p1)
    if p2.left or not _same(p1, p2):
        _give_up(ctx, f, [p1, p2], g0)
        return (p2.signal,)
    try:
        _roll(interp, f, header, it, rng, p1, p2, g0)
    except _CannotRoll:
        _give_up(ctx, f, [p1, p2], g0)
    f.pc = header
    return (None,)


class _CannotRoll(Exception):
    pass


# -- probing ---------------------------------------------------------------------------------
def _probe(interp, f, header, it, previous=None) -> _Probe:
    ctx = interp.ctx
    p = _Probe()
    p.before = list(f.localsplus)
    for v in p.before:
        if type(v) is Traced and v._view is None and p.placeholder_of(v) is None \
                and (previous is None or v is not previous.index):
            old = v._sym
            ph = old.type(name=old.name if previous is None else previous.placeholder_name(v))
            p.placed.append((v, old, ph))
            v._sym = ph
    stack_before = list(f.stack)
    p.k = next(it)
    p.index = Traced(p.k, pt.scalar(dtype="int64", name="i"))
    f.stack.append(p.index)
    f.pc = header + 1
    g0 = len(ctx.guards)
    saved_ops, saved_call = interp._ops, interp.__dict__.get("call")
    interp._ops = _EffectOps(saved_ops, p)
    interp.call = _effect_call(interp, p)
    interp.probing = True
    try:
        _run_to_header(interp, f, header, p)
    finally:
        interp.probing = False
        interp._ops = saved_ops
        if saved_call is None:
            del interp.call
        else:
            interp.call = saved_call
    p.guards = ctx.guards[g0:]
    p.after = list(f.localsplus)
    if not p.left and (len(f.stack) != len(stack_before)
                       or any(a is not b for a, b in zip(f.stack, stack_before))):
        p.effects = True
    p.regular = not p.left and _classify(p)  # now: the next probe changes the placeholders
    return p


def _run_to_header(interp, f, header, p):
    """Execute ``f`` from its pc until control is back at the loop header (the body
    ran once) or leaves the frame (return/yield: ``p.left``, ``p.signal``)."""
    instrs = f.decoded.instrs
    ops = interp._ops
    while f.pc != header:
        ins = instrs[f.pc]
        f.pc += 1
        handler = ops.get(ins.name)
        if handler is None:
            handler = ops[ins.name] = interp._handler(ins)
        try:
            signal = handler(f, ins)
        except AutodiffError:
            raise
        except Exception as exc:
            h = f.decoded.handler_for(f.pc - 1)
            if h is None:
                if f.is_user_code:
                    interp.ctx.note_raise(exc, f)
                raise
            p.effects = True  # an exception handled inside the body: keep it unrolled
            del f.stack[h.depth:]
            if h.lasti:
                f.stack.append(ins.offset)
            f.stack.append(exc)
            f.pc = h.target
            continue
        if signal is not None:
            p.left, p.signal = True, signal
            return


class _EffectOps(dict):
    """The interpreter's opcode table, with the effects a rolled body would not repeat flagged."""

    def __init__(self, base, probe):
        super().__init__(base)
        self._probe = probe
        for name in _EFFECT_OPS:
            self.pop(name, None)
        for name in ("STORE_SUBSCR", "STORE_SLICE"):
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
        dict.__setitem__(self, name, handler)


def _holds_traced(f, ins):
    from ..traced import contains_traced

    depth = 3 if ins.name == "STORE_SUBSCR" else 4
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
def _classify(p: _Probe) -> bool:
    kinds, outs = [], []
    for b, a in zip(p.before, p.after):
        if a is p.index:
            kinds.append("index")
        elif type(a) is Traced and (a is not b or (p.placeholder_of(b) is not None and a._sym is not p.placeholder_of(b))):
            if type(b) is Traced and (type(a.value) is not type(b.value) or np.shape(a.value) != np.shape(b.value)
                                      or getattr(a.value, "dtype", None) != getattr(b.value, "dtype", None)):
                return False
            ph = p.placeholder_of(b) if type(b) is Traced else None
            kinds.append("state" if ph is not None else "last")
            outs.append(a.sym)
        elif a is b or (type(a) is type(b) and type(a) in _IMMUTABLE and a == b):
            kinds.append("same")
        else:
            return False
    p.kinds, p.outs = kinds, outs
    return True


def _same(p1: _Probe, p2: _Probe) -> bool:
    if p1.effects or p2.effects or not p1.regular or not p2.regular or p1.kinds != p2.kinds:
        return False
    if [(g.kind, g.outcome) for g in p1.guards] != [(g.kind, g.outcome) for g in p2.guards]:
        return False
    xs = p1.outs + [g.expr for g in p1.guards]
    ys = p2.outs + [g.expr for g in p2.guards]
    if any(x.type != y.type for x, y in zip(xs, ys)):
        return False
    in1 = [ph for _, _, ph in p1.placed] + [p1.index._sym]
    in2 = [ph for _, _, ph in p2.placed] + [p2.index._sym]
    if len(in1) != len(in2):
        return False
    # a state's input must be the placeholder of the object its slot held
    s1 = [p1.placeholder_of(b) for b, k in zip(p1.before, p1.kinds) if k == "state"]
    s2 = [p2.placeholder_of(b) for b, k in zip(p2.before, p2.kinds) if k == "state"]
    if [in1.index(v) for v in s1] != [in2.index(v) for v in s2] or len(set(map(id, s1))) != len(s1):
        return False
    return equal_computations(xs, ys, in_xs=in1, in_ys=in2)


# -- giving up: the probes become plain unrolled iterations --------------------------------------
def _give_up(ctx, f, probes, g0):
    """Replace every placeholder by the value it stood for (a constant for the index)."""
    subs = {}
    for p in probes:
        for t, old, ph in p.placed:
            subs[ph] = clone_replace(old, replace=subs) if subs else old
        if p.index is not None:
            subs[p.index._sym] = pt.constant(np.int64(p.k))
            p.index._sym = subs[p.index._sym]
    _apply(ctx, f, probes, subs, g0)


def _apply(ctx, f, probes, subs, g0):
    """Substitute ``subs`` in the frame's Traced locals, the guards since ``g0`` and the
    objects the probes touched; anything that escaped is fixed when the trace ends."""
    objs, seen = [], set()
    for p in probes:
        for t, _, _ in p.placed:
            if id(t) not in seen:
                seen.add(id(t))
                objs.append(t)
    for v in f.localsplus:
        if type(v) is Traced and id(v) not in seen:
            seen.add(id(v))
            objs.append(v)
    guards = ctx.guards[g0:]
    targets = [o._sym for o in objs] + [g.expr for g in guards]
    if targets:
        new = clone_replace(targets, replace=subs)
        for o, v in zip(objs, new[:len(objs)]):
            o._sym = v
        for g, v in zip(guards, new[len(objs):]):
            g.expr = v
    ctx.substitutions.update(subs)


def finish(ctx, variables):
    """Variables with every placeholder of an abandoned probe replaced (end of the trace)."""
    subs = ctx.substitutions
    if not subs or not variables:
        return variables
    for _ in range(8):
        if not any(v in subs for v in graph_inputs(variables)):
            return variables
        variables = clone_replace(variables, replace=subs)
    return variables


# -- rolling ----------------------------------------------------------------------------------------
def _roll(interp, f, header, it, rng, p1, p2, g0):
    ctx = interp.ctx
    placeholders = [ph for _, _, ph in p1.placed]
    olds = [old for _, old, _ in p1.placed]
    state_ph = [p1.placeholder_of(b) for b, k in zip(p1.before, p1.kinds) if k == "state"]
    state_slots = [j for j, k in enumerate(p1.kinds) if k == "state"]
    last_slots = [j for j, k in enumerate(p1.kinds) if k == "last"]
    changing = [j for j, k in enumerate(p1.kinds) if k in ("state", "last")]
    out_of = dict(zip(changing, p1.outs))
    state_outs = [state_ph[i].type.filter_variable(out_of[j]) for i, j in enumerate(state_slots)]
    last_outs = [out_of[j] for j in last_slots]
    flag = _step_flag(p1.guards)
    body = state_outs + last_outs + ([flag] if flag is not None else [])
    I = p1.index._sym
    inputs_used = set(graph_inputs(body))
    invariant = [(ph, old) for ph, old in zip(placeholders, olds) if ph in inputs_used and ph not in state_ph]
    free = [v for v in inputs_used if v not in placeholders and v is not I and not isinstance(v, Constant)]
    values = _known_values(interp)
    try:
        free_values = [values[v] for v in free]
    except KeyError:
        raise _CannotRoll from None
    writes = loop_scan.per_step_writes(state_ph, state_outs, body, I, rng)

    # concrete values of the iterations after the probes, from the body compiled once
    start = rng.index(p1.k)
    pos = start + 2
    state_vals = [f.localsplus[j].value for j in state_slots]
    fn = _compile_body(state_ph, I, invariant, free, body, writes)
    inv_vals = [t.value for t, old, ph in p1.placed if (ph, old) in invariant]
    step_vals = _run_body(fn, state_vals, rng, pos, inv_vals, free_values, len(state_slots),
                          len(last_slots), flag is not None, writes, [f.localsplus[j].value for j in last_slots])
    stop, state_vals, last_vals = step_vals
    n_steps = stop - start
    if n_steps < 2:
        raise _CannotRoll

    # the graph: one Scan over iterations start..stop-1
    finals, flags = loop_scan.build(state_ph, state_outs, last_outs, flag, I, invariant, free,
                                  olds_of=[olds[placeholders.index(ph)] for ph in state_ph],
                                  seq=(rng[start], rng[start] + rng.step * n_steps, rng.step), writes=writes)
    del ctx.guards[g0:]
    if flags is not None:
        ctx.guards.append(Guard(pt.all(flags), True, "loop", f.location()))
    # the frame after the rolled iterations
    fresh = {}
    for j, var, val in zip(state_slots + last_slots, finals, state_vals + last_vals):
        a = p2.after[j]
        if id(a) in fresh:
            f.localsplus[j] = fresh[id(a)]
            continue
        if a is p2.before[j] or _in_place(a, p2):  # an array written in place: keep the object
            if isinstance(a.value, np.ndarray):
                a.value[...] = val
            else:
                a.value = _like(a.value, val)
            a._sym = var
            a.version += 1
            new = a
        else:
            new = Traced(_like(a.value, val), var)
        fresh[id(a)] = f.localsplus[j] = new
    for t, old, ph in p2.placed + p1.placed:  # restore invariants (latest probe first)
        if t._sym is ph:
            t._sym = old
    subs = {p1.index._sym: pt.constant(np.int64(p1.k)), p2.index._sym: pt.constant(np.int64(p2.k))}
    for t, old, ph in p1.placed:
        subs[ph] = old
    for t, old, ph in p2.placed:
        subs[ph] = old  # (in terms of the first probe's placeholders, substituted above)
    ctx.substitutions.update(subs)
    for j, k in enumerate(p1.kinds):
        if k == "index":
            f.localsplus[j] = rng[stop - 1]
    collections.deque(itertools.islice(it, stop - start - 2), maxlen=0)  # the probes took two
    ctx.loops_rolled += 1


def _in_place(a, p2):
    return any(t is a for t, _, _ in p2.placed)


def _like(template, value):
    """``value`` with the Python type the emulation would have given (float, np.float64, ndarray)."""
    if isinstance(template, np.ndarray):
        return np.array(value, dtype=template.dtype)
    if type(template) is float:
        return float(value)
    if isinstance(template, np.generic):
        return type(template)(value)
    if type(template) is int:
        return int(value)
    if type(template) is bool:
        return bool(value)
    return value


def _step_flag(guards):
    if not guards:
        return None
    checks = []
    for g in guards:
        if isinstance(g.outcome, bool):
            holds = g.expr if g.expr.dtype == "bool" else pt.neq(g.expr, 0)
            checks.append(holds if g.outcome else pt.invert(holds))
        else:
            checks.append(pt.eq(g.expr, np.asarray(g.outcome, dtype=g.expr.dtype)))
    return pt.all(pt.stack(checks)) if len(checks) > 1 else checks[0]


def _known_values(interp):
    """Concrete values of the graph variables the trace can name: locals of every
    frame (and their cells), outside values read, the function's arguments."""
    ctx = interp.ctx
    values = {}

    def note(v):
        if type(v) is Traced:
            values.setdefault(v.sym, v.value)
        elif type(v) is types.CellType:
            try:
                note(v.cell_contents)
            except ValueError:
                pass

    for fr in interp.frames:
        for v in fr.localsplus:
            note(v)
            if type(v) in (list, tuple):
                for x in v:
                    note(x)
            elif type(v) is dict:
                for x in v.values():
                    note(x)
        for v in fr.stack:
            note(v)
    for e in ctx.externals.values():
        if e.kind == "input":
            values.setdefault(e.box._sym, e.box.value)
    for t in ctx.promoted.values():
        note(t)
    for v in ctx.keepalive:
        note(v)
    return values


def _compile_body(state_ph, I, invariant, free, body, writes):
    from ..backend.compile import compile_graph

    outs = [writes[i][0] if i in writes else o for i, o in enumerate(body)]
    inputs = list(state_ph) + [I] + [ph for ph, _ in invariant] + list(free)
    fn, _ = compile_graph(inputs, outs, mode="numpy", name="loop_body")
    return fn


def _as_arg(v):
    if isinstance(v, np.ndarray):
        return v
    return np.asarray(v)[()] if not isinstance(v, np.generic) else v


def _run_body(fn, state_vals, rng, pos, inv_vals, free_vals, n_state, n_last, has_flag, writes, last_vals):
    """Run the compiled body from iteration ``pos`` while its guards hold; returns
    (first iteration not run, state values, last values)."""
    states = [_as_arg(v) for v in state_vals]
    for i in writes:  # arrays written in place, one element per step
        states[i] = np.array(states[i], copy=True)
    rest = [_as_arg(v) for v in inv_vals] + [_as_arg(v) for v in free_vals]
    last = list(last_vals)
    n = len(rng)
    while pos < n:
        k = np.int64(rng[pos])
        outs = fn(*states, k, *rest)
        if has_flag and not outs[-1]:
            break
        for i in range(n_state):
            if i in writes:
                states[i][writes[i][2][pos]] = outs[i]
            else:
                states[i] = outs[i]
        last = list(outs[n_state:n_state + n_last])
        pos += 1
    return pos, states, last
