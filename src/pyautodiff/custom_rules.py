"""Custom derivative rules: ``ad.custom_vjp`` and ``ad.custom_jvp`` (JAX's signatures).

Outside a transformation a decorated ``f`` is the plain function.  Called on
traced values, ``f`` is replaced by its rule:

- ``custom_vjp``: ``f_fwd(*args) -> (out, residuals)`` is emulated like any
  traced code and ``f_bwd(residuals, g) -> cotangents`` (one per argument, in
  its structure; ``None`` for zero) is emulated on a placeholder ``g``.
- ``custom_jvp``: ``f_jvp(primals, tangents) -> (out, tangent_out)`` is
  emulated on placeholder tangents; the pullback is the transpose of the
  linear map ``tangents -> tangent_out`` (PyTensor's ``grad`` w.r.t. the
  placeholders), the pushforward substitutes the real tangents.

The outputs pass through ``_RuleOp``, an ``OpFromGraph`` whose inner graph is
the identity on ``out`` (so the generated numpy code inlines it to nothing)
and whose ``pullback`` returns the traced rule with the placeholders replaced
by the real cotangents.  Its connection pattern cuts the gradient through the
primal computation: only the rule differentiates.  The rule is itself a graph
of the inputs, so second derivatives differentiate the rule.

A call of ``f`` *inside its own rule* (``f_fwd`` computing ``f(x)``) is the
primal: emulated when the emulator can run it, and otherwise run for real by
``_PyCall`` on every evaluation (a C extension, a simulator), as a value with
no derivative of its own: the rule supplies it.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> @ad.custom_vjp
    ... def log1pexp(x):
    ...     return np.log1p(np.exp(x))
    >>> log1pexp.defvjp(lambda x: (log1pexp(x), x),
    ...                 lambda x, g: (g * (1 - 1 / (1 + np.exp(x))),))
    >>> float(ad.grad(log1pexp)(100.0))   # exp(100) / (1 + exp(100)) overflows nothing here
    1.0
"""
from __future__ import annotations

import functools

import numpy as np
import pytensor.tensor as pt
from pytensor.compile.builders import OpFromGraph
from pytensor.compile.ops import view_op
from pytensor.gradient import DisconnectedType, disconnected_type, grad_undefined
from pytensor.gradient import grad as pt_grad
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import ancestors

from . import context, structure
from .errors import AutodiffError, UnsupportedError
from .lowering.core import as_var, lift
from .traced import Traced, contains_traced, unwrap


class _Custom:
    """What custom_vjp and custom_jvp share: plain calls outside traces, the re-entrant primal."""

    kind = "custom"

    def __init__(self, fun):
        if not callable(fun):
            raise AutodiffError(f"ad.{self.kind} decorates a function, got {type(fun).__name__}")
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._depth = 0  # > 0 while this function's own rule is being traced

    def __call__(self, *args, **kwargs):
        ctx = context.current()
        if ctx is None or not contains_traced((args, kwargs)):
            return self.fun(*args, **kwargs)
        if kwargs:
            raise AutodiffError(f"{self.__name__}: a function with a custom rule takes positional "
                                "arguments when traced")
        if self._depth:  # f called inside its own rule: the primal computation
            return _primal(ctx, self.fun, args)
        self._check_defined()
        self._depth += 1
        try:
            return self._lower(ctx, args)
        finally:
            self._depth -= 1

    def __repr__(self):
        return f"<pyautodiff.{self.kind} of {getattr(self.fun, '__qualname__', self.fun)!r}>"


class custom_vjp(_Custom):
    """A function with a hand-written reverse-mode rule (JAX's ``jax.custom_vjp``).

    Example::

        @ad.custom_vjp
        def f(x): return np.sin(x)
        f.defvjp(lambda x: (f(x), np.cos(x)),          # fwd: (out, residuals)
                 lambda cos_x, g: (g * cos_x,))        # bwd: one cotangent per argument
    """

    kind = "custom_vjp"

    def __init__(self, fun):
        super().__init__(fun)
        self.fwd = self.bwd = None

    def defvjp(self, fwd, bwd):
        """Set the rule: ``fwd(*args) -> (out, residuals)``, ``bwd(residuals, g) -> tuple of
        cotangents`` (one per argument of ``f``, shaped like it, ``None`` for zero)."""
        if not callable(fwd) or not callable(bwd):
            raise AutodiffError("defvjp(fwd, bwd) takes two functions")
        self.fwd, self.bwd = fwd, bwd
        return self

    def _check_defined(self):
        if self.fwd is None:
            raise AutodiffError(f"{self.__name__} has no rule yet: call {self.__name__}.defvjp(f_fwd, f_bwd)")

    def _lower(self, ctx, args):
        pair = _emulate(ctx, self.fwd, args, f"{self.__name__}'s fwd rule")
        if type(pair) is not tuple or len(pair) != 2:
            raise AutodiffError(f"{self.__name__}'s fwd rule must return a pair (out, residuals); "
                                f"it returned a {type(pair).__name__}")
        out, residuals = pair
        out_leaves, out_spec = structure.tree_flatten(out)
        holes = [i for i, l in enumerate(out_leaves) if type(l) is Traced]
        gs = [_placeholder(out_leaves[i], "g") for i in holes]
        g = out_spec.unflatten(_fill(out_leaves, holes, gs, zeros=True))
        n_guards = len(ctx.guards)
        cts = _emulate(ctx, self.bwd, (residuals, g), f"{self.__name__}'s bwd rule")
        _no_guard_on(ctx, n_guards, gs, f"{self.__name__}'s bwd rule", "the cotangent g")
        if not isinstance(cts, (tuple, list)) or len(cts) != len(args):
            raise AutodiffError(f"{self.__name__}'s bwd rule must return a tuple of {len(args)} cotangent(s), "
                                f"one per argument; it returned {_describe(cts)}")
        xs, ct_vars = _cotangents(args, cts, self.__name__)
        if not xs or not holes:
            return out
        placeholders = [p.sym for p in gs]

        def pullback(inputs, outputs, output_grads):
            repl = {p: _as_type(og, p, o) for p, og, o in zip(placeholders, output_grads, outputs)}
            repl.update(_renamed(xs, inputs[:len(xs)]))
            return [*graph_replace(ct_vars, repl, strict=False), *[disconnected_type() for _ in holes]]

        new = _through_rule(xs, [out_leaves[i] for i in holes], pullback, None)
        return out_spec.unflatten(_fill(out_leaves, holes, new))


class custom_jvp(_Custom):
    """A function with a hand-written forward-mode rule (JAX's ``jax.custom_jvp``); reverse mode
    transposes it, so the rule must be linear in the tangents (as every JVP is).

    Example::

        @ad.custom_jvp
        def f(x): return np.sin(x)
        f.defjvp(lambda primals, tangents: (f(primals[0]), np.cos(primals[0]) * tangents[0]))
    """

    kind = "custom_jvp"

    def __init__(self, fun):
        super().__init__(fun)
        self.jvp = None

    def defjvp(self, jvp):
        """Set the rule: ``jvp(primals, tangents) -> (out, tangent_out)``; ``primals`` and
        ``tangents`` are tuples shaped like ``f``'s arguments."""
        if not callable(jvp):
            raise AutodiffError("defjvp(jvp) takes a function")
        self.jvp = jvp
        return jvp

    def _check_defined(self):
        if self.jvp is None:
            raise AutodiffError(f"{self.__name__} has no rule yet: call {self.__name__}.defjvp(f_jvp)")

    def _lower(self, ctx, args):
        leaves, spec = structure.tree_flatten(args)
        traced = [i for i, l in enumerate(leaves) if type(l) is Traced]
        ts = [_placeholder(leaves[i], "t", zero=True) for i in traced]
        tangents = spec.unflatten(_fill(leaves, traced, ts, zeros=True))
        n_guards = len(ctx.guards)
        pair = _emulate(ctx, self.jvp, (tuple(args), tangents), f"{self.__name__}'s jvp rule")
        _no_guard_on(ctx, n_guards, ts, f"{self.__name__}'s jvp rule", "the tangents")
        if type(pair) is not tuple or len(pair) != 2:
            raise AutodiffError(f"{self.__name__}'s jvp rule must return a pair (out, tangent_out); "
                                f"it returned {_describe(pair)}")
        out, tout = pair
        out_leaves, out_spec = structure.tree_flatten(out)
        holes = [i for i, l in enumerate(out_leaves) if type(l) is Traced]
        try:
            tout_leaves = out_spec.flatten_up_to(tout)
        except (ValueError, TypeError) as exc:
            raise AutodiffError(f"{self.__name__}'s jvp rule: tangent_out must have out's structure ({exc})") from None
        tout_vars = [_tangent_var(tout_leaves[i], out_leaves[i]) for i in holes]
        xs = [leaves[i].sym for i in traced]
        t_vars = [p.sym for p in ts]
        if not xs or not holes:
            return out

        def pullback(inputs, outputs, output_grads):
            terms = [pt.sum(_as_type(og, tv, o) * tv) for og, tv, o in zip(output_grads, tout_vars, outputs)]
            cost = pt.add(*terms) if len(terms) > 1 else terms[0]
            cts = pt_grad(cost, t_vars, disconnected_inputs="ignore", return_disconnected="zero")
            repl = {t: _zeros(t) for t in t_vars}  # linear in t: no t is left but in zero terms
            repl.update(_renamed(xs, inputs[:len(xs)]))
            return [*graph_replace(cts, repl, strict=False), *[disconnected_type() for _ in holes]]

        def pushforward(inputs, outputs, eval_points):
            repl = {t: (_zeros(t) if e is None or isinstance(e.type, DisconnectedType) else _as_type(e, t, x))
                    for t, e, x in zip(t_vars, eval_points, inputs)}
            repl.update(_renamed(xs, inputs[:len(xs)]))
            return graph_replace(tout_vars, repl, strict=False)

        new = _through_rule(xs, [out_leaves[i] for i in holes], pullback, pushforward)
        return out_spec.unflatten(_fill(out_leaves, holes, new))


# -- the op that carries a rule ---------------------------------------------------------------

class _RuleOp(OpFromGraph):
    """Identity on the primal outputs; the derivative comes from the traced rule."""

    def __init__(self, inputs, outputs, n_x, pull, push):
        super().__init__(inputs, outputs, inline=False, name="custom_rule", on_unused_input="ignore")
        self._n_x, self._pull, self._push = n_x, pull, push

    def connection_pattern(self, node):
        n_out = len(node.outputs)
        return [[i < self._n_x] * n_out for i in range(len(node.inputs))]

    def pullback(self, inputs, outputs, output_grads):
        return self._pull(inputs, outputs, output_grads)

    def L_op(self, inputs, outputs, output_grads):  # older PyTensor name
        return self._pull(inputs, outputs, output_grads)

    def pushforward(self, inputs, outputs, eval_points):
        if self._push is None:  # custom_vjp: PyTensor transposes the pullback
            return super().pushforward(inputs, outputs, eval_points)
        return self._push(inputs, outputs, eval_points)


def _through_rule(xs, outs, pull, push):
    """The traced outputs ``outs`` passed through a ``_RuleOp`` whose inputs are ``xs``."""
    inner_x = [x.type() for x in xs]
    inner_out = [o.sym.type() for o in outs]
    op = _RuleOp([*inner_x, *inner_out], [view_op(v) for v in inner_out], len(xs), pull, push)
    new_vars = op(*xs, *[o.sym for o in outs], return_list=True)
    return [lift(_copy(o.value), v) for o, v in zip(outs, new_vars)]


# -- the primal, inside its own rule ----------------------------------------------------------

def _primal(ctx, fun, args):
    """``fun(*args)`` inside its rule: emulated if possible, else run for real by ``_PyCall``."""
    snapshot = _Snapshot(ctx)
    try:
        return ctx.emulator.call(fun, args, {})
    except UnsupportedError:
        snapshot.restore()  # the partial trace leaves no guards or outside reads behind
    return _run_for_real(fun, args)


class _PyCall(Op):
    """``fun`` run by CPython on the inputs' values at every evaluation (no derivative)."""

    def __init__(self, fun, spec, slots, out_spec, out_types):
        self.fun, self.spec, self.slots = fun, spec, slots
        self.out_spec, self.out_types = out_spec, out_types

    def make_node(self, *inputs):
        return Apply(self, list(inputs), [t() for t in self.out_types])

    def perform(self, node, inputs, output_storage):
        it = iter(inputs)
        leaves = [(float(next(it)) if s is float else next(it)) if s in (_SLOT, float) else s for s in self.slots]
        result = self.fun(*self.spec.unflatten(leaves))
        values = self.out_spec.flatten_up_to(result)
        for store, v, t in zip(output_storage, values, self.out_types):
            arr = np.asarray(v, dtype=t.dtype)
            if arr.shape != t.shape:
                raise ValueError(f"{getattr(self.fun, '__name__', 'f')} returned shape {arr.shape}; "
                                 f"it returned {t.shape} when traced")
            store[0] = arr

    def pullback(self, inputs, outputs, output_grads):
        why = f"{getattr(self.fun, '__name__', 'f')} ran for real (not traced); only its rule has a derivative"
        return [grad_undefined(self, i, x, why) for i, x in enumerate(inputs)]

    L_op = pullback

    def __str__(self):
        return f"PyCall{{{getattr(self.fun, '__name__', 'f')}}}"


_SLOT = object()


def _run_for_real(fun, args):
    leaves, spec = structure.tree_flatten(tuple(args))
    slots = [(float if type(l.value) is float else _SLOT) if type(l) is Traced else l for l in leaves]
    result = fun(*unwrap(tuple(args)))
    out_leaves, out_spec = structure.tree_flatten(result)
    arrays = [np.asarray(v) for v in out_leaves]
    for a in arrays:
        if a.dtype.kind not in "biufc":
            raise AutodiffError(f"{getattr(fun, '__name__', 'f')} returned a {a.dtype} value; a function run for "
                                "real inside its rule must return numbers")
    types = [pt.TensorType(a.dtype.name, shape=a.shape) for a in arrays]
    op = _PyCall(fun, spec, slots, out_spec, types)
    outs = op(*[l.sym for l in leaves if type(l) is Traced], return_list=True)
    return out_spec.unflatten([lift(v if isinstance(v, (float, np.generic)) else np.asarray(v), o)
                               for v, o in zip(out_leaves, outs)])


# -- helpers ------------------------------------------------------------------------------------

class _Snapshot:
    def __init__(self, ctx):
        self.ctx, self.n_guards, self.externals = ctx, len(ctx.guards), set(ctx.externals)
        self.n_effects = len(ctx.effects)  # writes to the outside recorded by an abandoned attempt

    def restore(self):
        del self.ctx.guards[self.n_guards:]
        del self.ctx.effects[self.n_effects:]
        for key in set(self.ctx.externals) - self.externals:
            del self.ctx.externals[key]


def _emulate(ctx, fn, args, what):
    try:
        return ctx.emulator.call(fn, tuple(args), {})
    except UnsupportedError as exc:
        raise UnsupportedError(f"{what} could not be traced: {exc}. A rule must be code the emulator "
                               "runs; code it cannot run (a C extension) goes inside the decorated "
                               "function, which the rule may call") from exc


def _placeholder(like: Traced, prefix, zero=False):
    v = like.value
    value = (0.0 if zero else 1.0) if type(v) is float else (np.zeros_like(v) if zero else np.ones_like(v))
    return Traced(value, like.sym.type(name=f"{prefix}_{like.sym.name or 'x'}"))


def _zeros(var):
    """Zeros of ``var``'s type that do not refer to ``var`` (a placeholder must vanish)."""
    if None in var.type.shape:
        raise AutodiffError("a custom rule's placeholder has an unknown shape")
    return pt.constant(np.zeros(var.type.shape, dtype=var.dtype))


def _fill(leaves, holes, values, zeros=False):
    """``leaves`` with ``values`` at positions ``holes`` (and zeros elsewhere if asked)."""
    out = list(leaves)
    if zeros:
        out = [_zero_like(l) for l in out]
    for i, v in zip(holes, values):
        out[i] = v
    return out


def _zero_like(leaf):
    if type(leaf) is float:
        return 0.0
    if isinstance(leaf, (np.ndarray, np.generic)) and leaf.dtype.kind in "fc":
        return np.zeros_like(leaf)
    return leaf


def _copy(v):
    return np.array(v, copy=True) if isinstance(v, np.ndarray) else v


def _as_type(g, like, out):
    """A cotangent/tangent as a replacement for placeholder ``like`` (``out``'s zeros if disconnected)."""
    if g is None or isinstance(g.type, DisconnectedType):
        return _zeros(like)
    if g.dtype != like.dtype:
        g = pt.cast(g, like.dtype)
    return like.type.filter_variable(g, allow_convert=True)


def _renamed(old, new):
    return {o: n for o, n in zip(old, new) if o is not n}


def _tangent_var(t, out):
    var = as_var(t) if type(t) is Traced or t is not None else pt.zeros_like(out.sym)
    if np.shape(unwrap(t)) != np.shape(out.value):
        raise AutodiffError(f"a jvp rule's tangent_out has shape {np.shape(unwrap(t))}; out has {np.shape(out.value)}")
    return pt.cast(var, out.sym.dtype) if var.dtype != out.sym.dtype else var


def _cotangents(args, cts, name):
    """The traced input variables of ``args`` and, aligned, the rule's cotangent variables."""
    xs, ct_vars = [], []
    for i, (a, ct) in enumerate(zip(args, cts)):
        leaves, spec = structure.tree_flatten(a)
        if not any(type(l) is Traced for l in leaves):
            continue
        if ct is None:
            parts = [None] * len(leaves)
        else:
            try:
                parts = spec.flatten_up_to(ct)
            except (ValueError, TypeError) as exc:
                raise AutodiffError(f"{name}'s bwd rule: cotangent {i} must have argument {i}'s structure "
                                    f"({exc})") from None
        for leaf, part in zip(leaves, parts):
            if type(leaf) is not Traced:
                continue
            xs.append(leaf.sym)
            if part is None:
                ct_vars.append(pt.zeros_like(leaf.sym))
                continue
            if np.shape(unwrap(part)) != np.shape(leaf.value):
                raise AutodiffError(f"{name}'s bwd rule: cotangent {i} has shape {np.shape(unwrap(part))}; "
                                    f"the argument has shape {np.shape(leaf.value)}")
            var = as_var(part)
            ct_vars.append(pt.cast(var, leaf.sym.dtype) if var.dtype != leaf.sym.dtype else var)
    return xs, ct_vars


def _no_guard_on(ctx, n_guards, placeholders, what, whose):
    vars_ = {p.sym for p in placeholders}
    for guard in ctx.guards[n_guards:]:
        if vars_ & set(ancestors([guard.expr])):
            raise AutodiffError(f"{what} branches on the value of {whose} ({guard}); a rule must be the same "
                                "computation for every direction")


def _describe(x):
    return f"a {type(x).__name__} of {len(x)} values" if isinstance(x, (tuple, list)) else f"a {type(x).__name__}"
