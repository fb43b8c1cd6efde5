"""Derivatives with complex inputs or outputs, in JAX's and autograd's convention.

For a complex input ``z = x + iy`` and a real-valued ``f``, ``grad`` returns
``df/dx - i df/dy`` (the conjugate of the direction of steepest ascent, i.e.
``2 df/dz`` in Wirtinger terms: ``grad(abs(z)**2) == 2 * conj(z)``).  The same
rule defines every derivative here, on the real-pair picture of a complex
number:

- tangents are complex numbers as they are: ``jvp`` along ``v = vx + i vy``
  returns ``dp + i dq`` for an output ``w = p + iq``;
- cotangents are conjugated: ``vjp(u)`` pulls back the real cotangent pair
  ``(Re u, -Im u)``, i.e. differentiates ``Re(sum(u * w))``, and returns
  ``gx - i gy``; so for a holomorphic ``f``, ``vjp(u) = u * f'(z)``;
- ``holomorphic=True`` (grad, value_and_grad, jacobian) takes a holomorphic
  ``f: C -> C`` and returns ``f'(z)`` (``grad``: the vjp with ``u = 1``;
  ``jacobian``: ``dp/dx + i dq/dx``);
- a real input with a complex output has the Jacobian ``dp/dx + i dq/dx``.

``grad`` of a complex output without ``holomorphic=True`` is an error, as in
JAX; so are ``hessian``/``hvp`` with respect to a complex argument (JAX
refuses them too).  The derivative graph itself is real: ``complex_split``
rewrites the traced graph on (real, imaginary) pairs first.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> complex(ad.grad(lambda z: np.abs(z) ** 2)(1.0 + 2.0j))
    (2-4j)
    >>> complex(ad.grad(np.sin, holomorphic=True)(0.5 + 0.0j)) == complex(np.cos(0.5))
    True
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import pushforward
from pytensor.graph.replace import graph_replace

from . import transforms, zero_cotangents
from .complex_split import PART_DTYPE, complex_on_path, is_complex, split
from .errors import AutodiffError

HOLOMORPHIC_KINDS = ("grad", "value_and_grad", "jacobian")
_SCALAR_KINDS = ("grad", "value_and_grad", "hessian", "hvp")


def check_options(kind: str, holomorphic: bool) -> None:
    """``holomorphic=True`` is for grad, value_and_grad and jacobian (JAX's meaning)."""
    if holomorphic and kind not in HOLOMORPHIC_KINDS:
        raise AutodiffError(f"ad.{kind}: holomorphic=True applies to grad, value_and_grad and jacobian; "
                            "jvp and vjp take complex directions as they are")


def build(req: transforms.Request):
    """The graph of ``req``'s transformation, complex-aware (see the module docstring)."""
    kind = transforms.KINDS[req.kind]
    if not kind.differentiates:
        return kind.build(req)
    _check(req)
    if not complex_on_path(req.wrt, req.outputs):
        return kind.build(req)
    seeds, fresh, back = _seeds(req.wrt)
    outs = split(seeds, req.outputs)
    built, extra = _BUILDERS[req.kind](req, outs, fresh)
    return graph_replace(built, back, strict=True), extra


def _check(req):
    outputs_complex = [is_complex(o) for o in req.outputs]
    complex_wrt = [n for x, n in zip(req.wrt, req.wrt_names) if is_complex(x)]
    if req.holomorphic:
        real_wrt = [n for x, n in zip(req.wrt, req.wrt_names) if not is_complex(x)]
        if real_wrt:
            raise AutodiffError(f"ad.{req.kind}: holomorphic=True needs complex inputs; {real_wrt[0]!r} is real "
                                "(pass it as a complex array, e.g. x.astype(complex))")
        if not any(outputs_complex):
            raise AutodiffError(f"ad.{req.kind}: holomorphic=True needs {req.fname} to return complex values; "
                                f"it returned a real value (drop holomorphic=True)")
    if req.kind in _SCALAR_KINDS:
        transforms.scalar_cost(req)  # one scalar: its own clear errors first
        if outputs_complex and outputs_complex[0] and not req.holomorphic:
            raise AutodiffError(
                f"ad.{req.kind} needs {req.fname} to return a real value; it returned "
                f"{req.outputs[0].dtype}. For a holomorphic function pass holomorphic=True (the result "
                f"is f'(z)); to differentiate a real part, return np.real(...) or np.abs(...) ** 2; "
                f"for other complex outputs use ad.vjp")
    row = transforms.KINDS[req.kind]
    if row.order == 2 and complex_wrt:  # hessian, hvp
        raise AutodiffError(
            f"ad.{req.kind} with respect to the complex argument {complex_wrt[0]!r} is not supported (JAX "
            "refuses it too): pass the real and imaginary parts as two float arguments")
    if row.parts[0].layout == "outputs x wrt" and complex_wrt and not req.holomorphic:  # jacobian
        raise AutodiffError(
            f"ad.jacobian with respect to the complex argument {complex_wrt[0]!r} needs holomorphic=True "
            f"(then it is df/dz of a holomorphic {req.fname}); a non-holomorphic function has no complex "
            "Jacobian: use ad.jvp / ad.vjp, or pass real and imaginary parts as float arguments")


def _seeds(wrt):
    """Fresh real inputs for the differentiated ones (a pair per complex input), and the
    replacement that puts the originals back once the derivative is built."""
    seeds, fresh, back = {}, [], {}
    for x in wrt:
        if is_complex(x):
            dt = PART_DTYPE[x.dtype]
            pair = (pt.tensor(dtype=dt, shape=x.type.shape, name=f"{x.name}_re"),
                    pt.tensor(dtype=dt, shape=x.type.shape, name=f"{x.name}_im"))
            seeds[x] = pair
            fresh.append(pair)
            back[pair[0]], back[pair[1]] = pt.real(x), pt.imag(x)
        else:
            y = x.type(name=x.name)
            seeds[x] = y
            fresh.append(y)
            back[y] = x
    return seeds, fresh, back


def _flat(fresh):
    return [v for f in fresh for v in (f if isinstance(f, tuple) else (f,))]


def _join(out):
    """The complex (or real) variable of an output's parts."""
    if not isinstance(out, tuple):
        return out
    re, im = out
    return pt.complex(re, im if im is not None else pt.zeros_like(re))


def _cotangents(fresh, grads):
    """Per differentiated input: ``gx`` (real) or ``gx - i gy`` (complex)."""
    it = iter(grads)
    return [pt.complex(next(it), -next(it)) if isinstance(f, tuple) else next(it) for f in fresh]


def _real_part(out):
    return out[0] if isinstance(out, tuple) else out


def _grad(req, outs, fresh):
    cost = _real_part(outs[0])  # holomorphic: d Re(f) gives f'(z)
    return _cotangents(fresh, transforms.gradients_of(cost, _flat(fresh))), []


def _value_and_grad(req, outs, fresh):
    grads, _ = _grad(req, outs, fresh)
    return [_join(outs[0]), *grads], []


def _real_request(req, outs, fresh):
    return transforms.Request(req.kind, [_real_part(o) for o in outs], req.result, _flat(fresh),
                              req.wrt_names, req.fname)


def _hessian(req, outs, fresh):  # real inputs only (checked): PyTensor's builder on the real graph
    return transforms.KINDS["hessian"].build(_real_request(req, outs, fresh))


def _hvp(req, outs, fresh):
    return transforms.KINDS["hvp"].build(_real_request(req, outs, fresh))


def _jacobian(req, outs, fresh):
    # d/dx of each part (complex inputs: their real part only; holomorphic, checked)
    wrt = [f[0] if isinstance(f, tuple) else f for f in fresh]
    parts = [p for o in outs for p in ((o[0], _im0(o)) if isinstance(o, tuple) else (o,))]
    sub = transforms.Request("jacobian", parts, req.result, wrt, req.wrt_names, req.fname)
    blocks, _ = transforms.KINDS["jacobian"].build(sub)
    n, k, result = len(wrt), 0, []
    for o in outs:
        if isinstance(o, tuple):
            re_rows, im_rows = blocks[k * n:(k + 1) * n], blocks[(k + 1) * n:(k + 2) * n]
            result += [pt.complex(r, i) for r, i in zip(re_rows, im_rows)]
            k += 2
        else:
            result += blocks[k * n:(k + 1) * n]
            k += 1
    return result, []


def _im0(out):
    re, im = out
    return im if im is not None else pt.zeros_like(re)


def _jvp(req, outs, fresh):
    vs = [x.type(name=f"v_{x.name}") for x in req.wrt]
    seeds = []  # (real input, its tangent)
    for f, v in zip(fresh, vs):
        seeds += [(f[0], pt.real(v)), (f[1], pt.imag(v))] if isinstance(f, tuple) else [(f, v)]

    def tangent(part):
        terms = [pushforward(part, x, t, disconnected_outputs="ignore", return_disconnected="zero")
                 for x, t in seeds]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total

    values = [_join(o) for o in outs]
    tangents = [pt.complex(tangent(o[0]), tangent(_im0(o))) if isinstance(o, tuple) else tangent(o)
                for o in outs]
    return [*values, *zero_cotangents.prune(tangents, values)], vs


def _vjp(req, outs, fresh):
    us = [o.type(name=f"u{i}") for i, o in enumerate(req.outputs)]
    terms = []
    for u, o, parts in zip(us, req.outputs, outs):
        if is_complex(o):  # Re(u * w): the cotangent pair (Re u, -Im u)
            re, im = parts
            terms.append(pt.sum(pt.real(u) * re) - (pt.sum(pt.imag(u) * im) if im is not None else 0))
        elif o.dtype.startswith("float"):
            terms.append(pt.sum(u * parts))
    if not terms:
        raise AutodiffError(f"vjp: {req.fname} returned no float or complex values to differentiate")
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return [*(_join(o) for o in outs), *_cotangents(fresh, transforms.gradients_of(total, _flat(fresh)))], us


_BUILDERS = {"grad": _grad, "value_and_grad": _value_and_grad, "hessian": _hessian, "hvp": _hvp,
             "jacobian": _jacobian, "jvp": _jvp, "vjp": _vjp}


def direction_dtype_error(kind: str, leaf, var) -> str | None:
    """The message for a complex direction given where the graph expects a real one."""
    if np.iscomplexobj(leaf) and not is_complex(var):
        target = "output" if transforms.KINDS[kind].direction == "outputs" else "argument"
        return (f"ad.{kind}: a complex direction was given for the real {target} {var.name or ''}; "
                "directions of real values are real")
    return None
