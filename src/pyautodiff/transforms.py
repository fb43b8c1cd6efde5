"""Transformations: from a trace's graph to the graph of what the user asked for.

Each builder takes the traced cost/outputs and the input variables chosen by
``wrt``, and returns the output variables to compile plus the extra inputs
(direction vectors for ``jvp``/``vjp``/``hvp``).  Differentiation itself is
PyTensor's (reverse mode via ``grad``; forward mode via ``Rop``).

``KINDS`` is the one table of transformation kinds: per kind its builder,
the structure of its result, its direction argument, what verification
checks and how export names it; the rest of the library reads it rather
than branching on the kind's name.

Example::

    outs, extra = KINDS["grad"].build(req)   # req: a Request
    KINDS["vjp"].direction_param             # 'u'

"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import grad as pt_grad
from pytensor.gradient import jacobian as pt_jacobian
from pytensor.gradient import pushforward

from . import shift_invariance, zero_cotangents
from .backend.value_ancestors import mark_derivatives
from .errors import AutodiffError


@dataclass
class Request:
    kind: str
    outputs: list  # traced result variables (PyTensor)
    result: object  # the concrete result (for error messages)
    wrt: list  # input variables to differentiate with respect to
    wrt_names: list
    fname: str
    holomorphic: bool = False  # complex_kinds: f is holomorphic, the derivative is f'(z)


def scalar_cost(req: Request):
    if isinstance(req.result, (tuple, list, dict)):
        raise AutodiffError(
            f"{req.kind} needs {req.fname} to return one scalar; it returned {_describe(req.result)}. "
            f"If the values after the first are auxiliary outputs, pass has_aux=True "
            f"(then {req.fname} returns a pair (scalar, aux))")
    if not req.outputs and isinstance(req.result, (float, np.floating)):
        return pt.constant(np.float64(req.result))  # does not depend on the inputs: zero gradient
    if len(req.outputs) != 1:
        raise AutodiffError(
            f"{req.kind} needs {req.fname} to return one scalar; it returned "
            f"{_describe(req.result)}")
    cost = req.outputs[0]
    if cost.ndim != 0 and np.size(req.result) == 1:  # a (1, 1) result: its one value (as autograd)
        return cost.reshape(())
    if cost.ndim != 0:
        raise AutodiffError(
            f"{req.kind} needs {req.fname} to return a scalar; it returned an array of shape "
            f"{np.shape(req.result)}. Reduce it (e.g. .sum()) or use ad.jacobian / ad.vjp")
    if cost.dtype.startswith("int") or cost.dtype == "bool":
        raise AutodiffError(f"{req.kind}: {req.fname} returned an integer/bool value; nothing to differentiate")
    return cost


def _describe(result) -> str:
    if isinstance(result, (tuple, list)):
        return f"a {type(result).__name__} of {len(result)} values"
    return f"a value of shape {np.shape(result)}" if hasattr(result, "shape") else repr(type(result))


def gradients_of(cost, wrt):
    from pytensor.gradient import NullTypeGradError

    # the gradient skips what the cost cannot see (the max-shift of a stable log-softmax)
    cost_for_grad = shift_invariance.detach_invariant_shifts(cost)
    try:
        grads = pt_grad(cost_for_grad, wrt, disconnected_inputs="ignore", return_disconnected="zero")
    except (NullTypeGradError, NotImplementedError) as exc:
        raise AutodiffError(f"no derivative is defined along this path: {exc}") from exc
    # a gradient has its input's dtype (as autograd and JAX): a float32 input read through
    # astype("float64") gets float32 back, not the float64 of the cast
    grads = [g if g.dtype == x.dtype or not x.dtype.startswith("float") else g.astype(x.dtype)
             for g, x in zip(grads, wrt)]
    return zero_cotangents.prune(grads, [cost_for_grad])


def build_function(req):
    return list(req.outputs), []


def _derivatives(outs, req):
    """``outs`` marked as derivatives: only what the values need rounds as numpy's code."""
    return mark_derivatives(outs, values=req.outputs)


def build_grad(req):
    return _derivatives(gradients_of(scalar_cost(req), req.wrt), req), []


def build_value_and_grad(req):
    cost = scalar_cost(req)
    value = req.outputs[0] if req.outputs else cost  # a size-1 array keeps its shape
    return [value, *_derivatives(gradients_of(cost, req.wrt), req)], []


def build_hessian(req):
    cost = scalar_cost(req)
    grads = gradients_of(cost, req.wrt)
    blocks = []
    for g in grads:
        for x in req.wrt:
            jac = pt_jacobian(g.flatten(), x, disconnected_inputs="ignore", vectorize=True)
            blocks.append(jac.reshape((*_shape(g), *_shape(x))))
    return _derivatives(zero_cotangents.prune(blocks, [cost]), req), []


def build_jacobian(req):
    blocks = []
    for out in req.outputs:
        for x in req.wrt:
            if out.ndim == 0:
                jac = pt_grad(out, x, disconnected_inputs="ignore")
            elif _forward_is_cheaper(out, x):
                jac = _forward_jacobian(out, x)
            else:
                jac = pt_jacobian(out.flatten(), x, disconnected_inputs="ignore", vectorize=True)
                jac = jac.reshape((*_shape(out), *_shape(x)))
            blocks.append(jac)
    return _derivatives(zero_cotangents.prune(blocks, req.outputs), req), []


def _forward_is_cheaper(out, x) -> bool:
    # One sweep per input element (forward) or per output element (reverse):
    # measured on tanh(A @ x) * |x|^2, forward is ~7x faster for a 400x5
    # Jacobian and reverse ~8x faster for 5x400 (benchmarks in the README).
    if None in out.type.shape or None in x.type.shape:
        return False
    return int(np.prod(x.type.shape)) < int(np.prod(out.type.shape))


def _forward_jacobian(out, x):
    """Jacobian by forward mode: the pushforward vectorized over the identity tangents."""
    from pytensor.graph.replace import vectorize_graph

    n = int(np.prod(x.type.shape))
    tangent = x.type()
    jv = pushforward(out, x, tangent, disconnected_outputs="ignore", return_disconnected="zero")
    basis = pt.eye(n, dtype=x.dtype).reshape((n, *x.type.shape))
    batched = vectorize_graph(jv, replace={tangent: basis})  # (n, *out.shape)
    return pt.moveaxis(batched, 0, -1).reshape((*out.type.shape, *x.type.shape))


def _directions(wrt):
    return [x.type(name=f"v_{x.name}") for x in wrt]


def build_hvp(req):
    cost = scalar_cost(req)
    vs = _directions(req.wrt)
    grads = gradients_of(cost, req.wrt)
    # Reverse-over-reverse: d/dx (g . v); PyTensor's rewrites keep it O(gradient).
    gv = pt.add(*[pt.sum(g * v) for g, v in zip(grads, vs)]) if len(grads) > 1 else pt.sum(grads[0] * vs[0])
    return _derivatives(gradients_of(gv, req.wrt), req), vs


def build_jvp(req):
    vs = _directions(req.wrt)
    # One output at a time: PyTensor's multi-output pushforward is wrong when
    # one output is computed from another (e.g. (a, 2 * a)).
    # And one input at a time, summed: given lists, pushforward kept only the last input's
    # term (jvp(a + b, wrt=(0, 1)) along (1, 5) gave 5, not 6).
    tangents = [_sum_terms([pushforward(o, x, v, disconnected_outputs="ignore", return_disconnected="zero")
                            for x, v in zip(req.wrt, vs)])
                for o in req.outputs]
    return [*req.outputs, *_derivatives(zero_cotangents.prune(tangents, req.outputs), req)], vs


def _sum_terms(terms):
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def build_vjp(req):
    us = [o.type(name=f"u{i}") for i, o in enumerate(req.outputs)]
    # u . J as the gradient of sum_i <u_i, o_i>: exact when outputs share subgraphs.
    terms = [pt.sum(u * o) for u, o in zip(us, req.outputs) if o.dtype.startswith(("float", "complex"))]
    if not terms:
        raise AutodiffError(f"vjp: {req.fname} returned no float values to differentiate")
    cots = gradients_of(pt.add(*terms) if len(terms) > 1 else terms[0], req.wrt)
    return [*req.outputs, *_derivatives(cots, req)], us


def _shape(x):
    return tuple(s if s is not None else x.shape[i] for i, s in enumerate(x.type.shape))


def _no_derivative_is_an_autodiff_error(build):
    """Second derivatives and forward mode call PyTensor directly: the same clear error as ``gradients_of``."""
    from pytensor.gradient import NullTypeGradError

    def checked(req):
        try:
            return build(req)
        except NullTypeGradError as exc:
            raise AutodiffError(f"no derivative is defined along this path: {exc}") from exc

    checked.__name__ = build.__name__
    return checked


@dataclass(frozen=True)
class Part:
    """One piece of what a transformation returns.

    ``layout`` says how compiled outputs make it: ``"outputs"`` (one per
    traced output, in the function's result structure), ``"cost"`` (the one
    scalar result), ``"wrt"`` (one per differentiated leaf, in the structure
    of the ``wrt`` arguments), ``"wrt x wrt"`` / ``"outputs x wrt"`` (blocks,
    row-major).  ``name`` is how export calls these results (``grad`` ->
    ``grad_W``; None: generated names).
    """

    layout: str
    name: str | None = None


@dataclass(frozen=True)
class Kind:
    """Everything that differs between transformations, in one row.

    ``build`` makes the graph (above); ``parts`` is the returned structure (a
    single part is returned bare, several as a tuple); ``direction`` is
    ``"wrt"`` or ``"outputs"`` when the call takes a direction last, shaped
    like those (export names it ``direction_param``); ``claim`` is what
    verification compares with finite differences (a key of
    ``verify._CLAIMS``; None: nothing to differentiate); ``order`` the
    derivative order; ``phrase`` how export describes the result.
    """

    name: str
    build: Callable
    parts: tuple[Part, ...]
    phrase: str
    claim: str | None = None
    direction: str | None = None
    order: int = 1

    @property
    def differentiates(self) -> bool:
        return self.claim is not None

    @property
    def direction_param(self) -> str | None:
        return {"wrt": "v", "outputs": "u", None: None}[self.direction]

    def function_name(self, fname: str) -> str:
        """The name of the generated/exported function for user function ``fname``."""
        return f"{self.name}_{fname}" if self.differentiates else fname


KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("function", build_function, (Part("outputs", "value"),), "value"),
    Kind("grad", build_grad, (Part("wrt", "grad"),), "gradient", claim="gradient"),
    Kind("value_and_grad", build_value_and_grad, (Part("cost", "value"), Part("wrt", "grad")),
         "value and gradient", claim="gradient"),
    Kind("hessian", _no_derivative_is_an_autodiff_error(build_hessian), (Part("wrt x wrt"),), "Hessian", claim="hessian", order=2),
    Kind("jacobian", _no_derivative_is_an_autodiff_error(build_jacobian), (Part("outputs x wrt"),), "Jacobian", claim="jacobian"),
    Kind("hvp", build_hvp, (Part("wrt", "hvp"),), "Hessian-vector product", claim="gradient",
         direction="wrt", order=2),
    Kind("jvp", _no_derivative_is_an_autodiff_error(build_jvp), (Part("outputs", "value"), Part("outputs", "tangent")),
         "value and Jacobian-vector product", claim="jvp", direction="wrt"),
    Kind("vjp", build_vjp, (Part("outputs", "value"), Part("wrt", "cotangent")),
         "value and vector-Jacobian product", claim="vjp", direction="outputs"),
]}

BUILDERS = {name: kind.build for name, kind in KINDS.items()}
