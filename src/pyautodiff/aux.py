"""Auxiliary outputs (``has_aux=True``): ``f`` returns ``(differentiated, aux)``.

The trace of ``f`` is split in two: the first element of the pair is what the
transformation differentiates (its outputs and result structure form a view of
the trace handed to the builder), the second is computed by the same compiled
graph and returned beside the derivative, in its own structure.  Results follow
JAX's conventions (``RESULT``): ``grad -> (g, aux)``, ``value_and_grad ->
((value, aux), g)``, ``jvp``/``vjp -> (out, derivative, aux)``.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> g, aux = ad.grad(lambda a: (np.sum(a ** 2), a.max()), has_aux=True)(np.array([1.0, 3.0]))
    >>> g, aux
    (array([2., 6.]), np.float64(3.0))
"""
from __future__ import annotations

import dataclasses

from .errors import AutodiffError
from .transforms import KINDS

# How a transformation's result and the aux values are returned together.
RESULT = {
    "value_and_grad": lambda res, aux: ((res[0], aux), res[1]),
    "jvp": lambda res, aux: (res[0], res[1], aux),
    "vjp": lambda res, aux: (res[0], res[1], aux),
}


def _pair(res, aux):
    return res, aux


def check_kind(kind: str) -> None:
    if not KINDS[kind].differentiates:
        raise AutodiffError("ad.function: has_aux applies to the derivative transformations (grad, "
                            "value_and_grad, jacobian, hessian, hvp, jvp, vjp); ad.function returns "
                            "every output already")


def split(tr, fname: str):
    """``(view, aux_outputs, aux_template)``: the trace restricted to the first element
    of ``f``'s pair, and the graph outputs and structure of the second."""
    if type(tr.result) is not tuple or len(tr.result) != 2:
        got = (f"a tuple of {len(tr.result)} values" if type(tr.result) is tuple
               else f"a {type(tr.result).__name__}")
        raise AutodiffError(f"with has_aux=True, {fname} must return a pair (output, aux); it returned {got}")
    main, aux = tr.template.split()
    n_main = main.n
    view = dataclasses.replace(tr, outputs=tr.outputs[:n_main], result=tr.result[0], template=main)
    return view, tr.outputs[n_main:], aux


def wrap_fill(kind: str, fill, n_main: int, aux_template):
    """The result builder of a has_aux specialization: ``fill`` on the first ``n_main``
    compiled outputs, the aux structure filled from the rest."""
    combine = RESULT.get(kind, _pair)
    aux_fill = aux_template.fill

    def filled(outs):
        return combine(fill(outs[:n_main]), aux_fill(outs[n_main:]))

    return filled


def strip(kind: str, out):
    """The transformation's result without the aux values (what verification checks)."""
    parts = KINDS[kind].parts
    if len(parts) == 1:  # (result, aux)
        return out[0]
    if parts[0].layout == "cost":  # value_and_grad: the aux rides with the value
        return out[0][0], out[1]
    return out[0], out[1]  # (value, derivative, aux)


class VerifyWithoutAux:
    """Verification of a has_aux transformation: the original function's first element
    against the derivative, as if ``f`` returned only it."""

    def __init__(self, policy, transformed):
        self.policy = policy
        self.view = _View(transformed)

    def due(self, call_number: int) -> bool:
        return self.policy.due(call_number)

    def check(self, transformed, args, kwargs, direction, out) -> None:
        self.policy.check(self.view, args, kwargs, direction, strip(transformed.kind, out))


class _View:
    """What verify.py reads of a transformation, with ``original`` dropping the aux."""

    def __init__(self, transformed):
        f = transformed.original

        def first(*args, **kwargs):
            return f(*args, **kwargs)[0]

        first.__name__ = getattr(f, "__name__", "f")
        first.__qualname__ = getattr(f, "__qualname__", first.__name__)
        self.original = first
        self.transformation_class = type(transformed)  # verify builds the value function with it
        self.__name__ = first.__name__
        self.kind, self.wrt, self.mode, self.stats = (transformed.kind, transformed.wrt, transformed.mode,
                                                      transformed.stats)
