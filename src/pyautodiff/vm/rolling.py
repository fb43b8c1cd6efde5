"""Loop rolling: a loop whose iterations trace to the same computation becomes one
PyTensor ``Scan`` instead of N unrolled copies.

At a loop's header in user code (``FOR_ITER`` over a range, array rows,
``enumerate``/``zip`` of those: ``vm/loop_sources.py``; or a ``while`` loop's
back edge), after a couple of iterations emulated plainly, the emulator
*probes* two consecutive iterations (``vm/loop_probe.py``): the loop's Traced
locals get fresh placeholder variables and the step index is a traced int64,
so each probe yields the body as a graph of (carried values, index).  If both
probes give the same graph (PyTensor's ``equal_computations``), had no side
effect the graph cannot repeat (attribute, global or container writes,
``list.append``...), and every other local is unchanged, the loop is *rolled*:

- the remaining iterations' concrete values come from the body compiled once
  (numpy code) and run in a Python loop, checking the body's guards at each
  step, or, when no step reads another's result, from the body vectorized over
  all the steps (``vm/loop_values.py``); the first step whose guards fail ends
  the rolled part and is emulated as usual (so is everything after it).  A
  ``while`` loop's test and a ``break`` not taken are such guards: the trip
  count is the traced call's, and another count fails a guard on a later call;
- the graph gets one ``Scan`` over the rolled steps (its gradient, R-op and
  numba form are PyTensor's); a guard at every step becomes one flag per step,
  and the trace's guard is their conjunction;
- ``out[i] = v`` (a carried array written at the loop index and nowhere else
  read) becomes a per-step output stacked once, never an O(N) copy per step;
- a loop inside the body rolls inside the probe, so the outer Scan holds the
  inner one (nested loops).

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

import os
import types

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Constant

try:
    from pytensor.graph.traversal import graph_inputs
except ImportError:  # pytensor < 3.3
    from pytensor.graph.basic import graph_inputs
from pytensor.graph.replace import clone_replace

from ..backend import scan_numpy
from ..context import Guard
from ..errors import AutodiffError
from ..traced import Traced
from . import loop_scan, loop_sources, loop_values
from .loop_probe import Loop, probe, promote, same

RANGE_ITERATOR = loop_sources.RANGE_ITERATOR
scan_numpy.register()  # Scans run as generated Python loops in the numpy tier

_FIRST_PROBE = 2  # iterations emulated plainly first (they promote `out`, turn 0.0 into a Traced...)
# Probe only when this many iterations remain: below it, unrolling compiles as fast
# (PyTensor's Scan rewrites cost about a second; measured crossover 12-16 steps).  A while
# loop's trip count is known only once its body has run: fewer rolled steps give up.
_MIN_LEFT = 20
_MIN_OPS = 250  # ... or when the iterations left hold this many graph operations (at least 4 of them)
_MAX_ATTEMPTS = 3  # probes of one loop that found an irregular body; then it stays unrolled
# A while loop is probed after this many back edges: most short loops (Newton steps) end
# before, and probing costs a compiled body (about 0.1 s) that a short loop never repays
_WHILE_FIRST_PROBE = 8
_WHILE_STEPS = range(0, 2 ** 62)  # a while loop's step count: it ends where its guards fail


def enabled() -> bool:
    """``PYAUTODIFF_ROLL_LOOPS=0`` turns loop rolling off (every loop unrolls)."""
    return os.environ.get("PYAUTODIFF_ROLL_LOOPS", "1").strip().lower() not in ("0", "false", "no", "off")


def rollable(it) -> bool:
    """FOR_ITER over ``it`` may roll: a range, array rows, a list or tuple, enumerate/zip of those."""
    return type(it) in loop_sources.ROLLABLE


def at_header(interp, f, header):
    """Called at FOR_ITER over a rollable iterator in user code.  Returns None to let
    FOR_ITER proceed as usual, or ``(signal,)`` when the loop (or part of it) was
    run here and the frame's pc is set where execution continues."""
    ctx = interp.ctx
    if f.code.co_flags & 0x20 or not enabled():  # generators
        return None
    it = f.stack[-1]
    plan = ctx.loop_plans.get(id(it))
    if plan is None:  # iterator (kept alive), visits of the header, next probe at, attempts, ops seen
        plan = ctx.loop_plans[id(it)] = [it, 0, _FIRST_PROBE, 0, ctx.n_ops]
    visit = plan[1]
    plan[1] += 1
    ops, plan[4] = ctx.n_ops - plan[4], ctx.n_ops  # graph operations of the last iteration
    if visit != plan[2] or plan[3] >= _MAX_ATTEMPTS:
        return None
    src = loop_sources.of(it, ctx)
    if src is None or not _worth(src.n, ops):
        return None
    plan[3] += 1
    plan[2] = 2 * visit + 2
    last = f.decoded.instrs[header].target - 1  # FOR_ITER's exit: the body ends before it
    return _attempt(interp, f, Loop(header, last, it, loop_sources.Plan(src)))


def at_back_edge(interp, f, header, edge):
    """Called at a backward jump in user code (``edge`` jumps to ``header``): a ``while``
    loop's next iteration.  Returns None (jump as usual) or ``(signal,)`` as at_header."""
    ctx = interp.ctx
    if not f.is_user_code or f.code.co_flags & 0x20:
        return None
    plans = ctx.loop_plans.setdefault(("while", id(f)), {})
    for h in [h for h in plans if header < h <= edge]:  # loops inside this one start afresh
        del plans[h]
    if f.decoded.instrs[header].name == "FOR_ITER" or not enabled():
        return None
    plan = plans.get(header)
    if plan is None or plan[0] is not f:  # frame (kept alive), back edges seen, next probe at, attempts, ops
        plan = plans[header] = [f, 0, _WHILE_FIRST_PROBE, 0, ctx.n_ops]
    visit = plan[1]
    plan[1] += 1
    ops, plan[4] = ctx.n_ops - plan[4], ctx.n_ops
    if visit != plan[2] or plan[3] >= _MAX_ATTEMPTS:
        return None
    plan[3] += 1
    plan[2] = 2 * visit + 2
    loop = Loop(header, edge)
    loop.ops = ops
    return _attempt(interp, f, loop)


def _worth(n, ops):
    """Rolling ``n`` iterations of ``ops`` graph operations each pays: unrolled, they would
    cost more to compile than a Scan (long loops, or a few iterations of a big body,
    e.g. an outer loop whose inner loop is unrolled)."""
    return n >= _MIN_LEFT or (n >= 4 and n * ops >= _MIN_OPS)


def _attempt(interp, f, loop):
    ctx = interp.ctx
    g0 = len(ctx.guards)
    p1 = probe(interp, f, loop)
    if p1.left:
        _give_up(interp, f, [p1], g0)
        return (p1.signal,)
    promoted = {}
    key = (f.code, loop.header)
    if p1.regular and p1.numbers and not p1.effects and key not in ctx.plain_loops:
        # Python numbers changed (t += dt): this iteration stays unrolled, the next two
        # carry them as traced scalars
        _give_up(interp, f, [p1], g0)
        promoted = promote(f, p1.numbers)
        g0 = len(ctx.guards)
        try:
            p1 = probe(interp, f, loop, p1)
            p2 = None if p1.left else probe(interp, f, loop, p1)
        except AutodiffError as exc:  # e.g. float(t) of a carried counter: trace again, t plain
            raise CarryFailed(key) from exc
        if p1.left:
            _give_up(interp, f, [p1], g0, promoted)
            return (p1.signal,)
    else:
        p2 = probe(interp, f, loop, p1)
    if p2.left or not same(p1, p2):
        _give_up(interp, f, [p1, p2], g0, promoted)
        return (p2.signal,)
    try:
        _roll(interp, f, loop, p1, p2, g0)
    except _CannotRoll:
        _give_up(interp, f, [p1, p2], g0, promoted)
    f.pc = loop.header
    return (None,)


class _CannotRoll(Exception):
    pass


class CarryFailed(AutodiffError):
    """A probe carrying a loop's Python numbers as traced scalars failed (``float(t)`` of
    one, say): the trace starts again with that ``loop`` (code, header) left plain.  An
    AutodiffError so that no handler of the traced code catches it on its way out."""

    def __init__(self, loop):
        super().__init__(f"a loop's Python numbers could not be carried as traced values ({loop[0].co_name})")
        self.loop = loop


def _count_rolled(interp, n):
    """Scans built: the trace's count, or the enclosing probe's (its body holds them)."""
    if interp.probing:
        interp.probing.inner_rolled += n
    else:
        interp.ctx.loops_rolled += n


# -- giving up: the probes become plain unrolled iterations --------------------------------------
def _give_up(interp, f, probes, g0, promoted=None):
    """Replace every placeholder by the value it stood for (a constant for the index);
    Python numbers carried traced (``promoted``: slot -> the number) and still computed
    from constants alone become Python numbers again."""
    ctx = interp.ctx
    _count_rolled(interp, sum(p.inner_rolled for p in probes))
    subs = {}
    for p in probes:
        for t, old, ph in p.placed:
            subs[ph] = clone_replace(old, replace=subs) if subs else old
        if p.index is not None:
            subs[p.index._sym] = pt.constant(np.int64(p.k))
            p.index._sym = subs[p.index._sym]
    _apply(ctx, f, probes, subs, g0)
    for j, number in (promoted or {}).items():
        v = f.localsplus[j]
        if type(v) is Traced and all(isinstance(x, Constant) for x in graph_inputs([v.sym])):
            f.localsplus[j] = _like(number, v.value)


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
def _roll(interp, f, loop, p1, p2, g0):
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
    if flag is None and not loop.is_for:
        raise _CannotRoll  # a while loop whose end the graph cannot see (no traced test)
    rng = loop.plan.values if loop.is_for else _WHILE_STEPS
    body = state_outs + last_outs + ([flag] if flag is not None else [])
    I = p1.index._sym
    ordered = list(graph_inputs(body))  # in the graph's order: equal bodies give equal Scans
    inputs_used = set(ordered)
    invariant = [(ph, old) for ph, old in zip(placeholders, olds) if ph in inputs_used and ph not in state_ph]
    free = [v for v in ordered if v not in placeholders and v is not I and not isinstance(v, Constant)]
    values = _known_values(interp)
    # a local the body only reads stands for a placeholder now, but a value computed from it
    # before the loop (`for r in a * R`: the rows of a product no local names) still reads it
    values.update((old, t.value) for t, old, ph in p1.placed if ph not in state_ph and old not in values)
    try:
        free_values = [values[v] for v in free]
    except KeyError:
        raise _CannotRoll from None
    known = dict(zip(free, free_values))
    known.update((ph, t.value) for t, _, ph in p1.placed if ph in inputs_used and ph not in state_ph)
    writes = loop_scan.per_step_writes(state_ph, state_outs, body, I, rng, known) if loop.is_for else {}

    # concrete values of the iterations after the probes, from the body compiled once
    start = rng.index(p1.k)
    pos = start + 2
    state_vals = [f.localsplus[j].value for j in state_slots]
    inv_vals = [t.value for t, old, ph in p1.placed if (ph, old) in invariant]
    last_vals = [f.localsplus[j].value for j in last_slots]
    step_vals = None
    if writes:  # steps independent of each other: all at once
        step_vals = loop_values.all_at_once(state_ph, I, invariant, free, body, writes, state_vals, rng, pos,
                                            inv_vals, free_values, len(last_slots), flag is not None, last_vals)
    if step_vals is None:
        fn = loop_values.compile_body(state_ph, I, invariant, free, body, writes)
        step_vals = loop_values.sequential(fn, state_vals, rng, pos, inv_vals, free_values, len(state_slots),
                                           len(last_slots), flag is not None, writes, last_vals)
    stop, state_vals, last_vals = step_vals
    n_steps = stop - start
    if n_steps < 2 or (not loop.is_for and not _worth(n_steps, loop.ops)):
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
    for j, j0 in p1.aliases.items():
        f.localsplus[j] = f.localsplus[j0]
    for t, old, ph in p2.placed + p1.placed:  # restore invariants (latest probe first)
        if t._sym is ph:
            t._sym = old
    subs = {p1.index._sym: pt.constant(np.int64(p1.k)), p2.index._sym: pt.constant(np.int64(p2.k))}
    for t, old, ph in p1.placed:
        subs[ph] = old
    for t, old, ph in p2.placed:
        subs[ph] = old  # (in terms of the first probe's placeholders, substituted above)
    ctx.substitutions.update(subs)
    if loop.is_for:  # the loop variables: the last rolled step's item, as a plain iteration gives it
        item = loop.plan.concrete(rng[stop - 1])
        for j, k in enumerate(p1.kinds):
            if k == "index":
                f.localsplus[j] = item
            elif k == "item":
                f.localsplus[j] = _part(item, p1.paths[j])
        it = loop.it
        new_it = loop.plan.advance(f, stop - start - 2)  # the probes took two
        if new_it is not it:
            ctx.loop_plans[id(new_it)] = [new_it] + ctx.loop_plans[id(it)][1:]
    _count_rolled(interp, 1 + p1.inner_rolled)


def _part(item, path):
    for n in path:
        item = item[n]
    return item


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
    for fr in interp.frames:  # arrays a loop iterates over (rows of an expression: no local)
        for v in fr.stack:
            for t in loop_sources.arrays_of(v):
                note(t)
    for e in ctx.externals.values():
        if e.kind == "input":
            values.setdefault(e.box._sym, e.box.value)
    for t in ctx.promoted.values():
        note(t)
    for v in ctx.keepalive:
        note(v)
    return values
