"""numpy.linalg.eig and eigvals of a real (possibly stacked) square matrix.

numpy's result type depends on the values: real arrays when every eigenvalue
is real (numpy 2.4; 2.5 returns complex ones for some real spectra too),
complex ones otherwise.  The op reports numpy's own choice and the trace
records it as a guard (the other case traces again).  ``EigPairs`` computes the decomposition
once and returns the eigenvalues, the right eigenvectors ``V`` and the left
ones ``U = V^-1`` as (real, imaginary) pairs.  Its pullback is that of the
eigenvalues: to first order ``dλ_i = (U dA V)_ii`` (distinct eigenvalues), so
for the cotangent ``G = g_re + 1j g_im`` of λ the real matrix gets
``Re(U^T diag(conj G) V^T)``.  A derivative through the eigenvectors is not
implemented: it is a clear error, never a silent zero.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> a = np.array([[2.0, 1.0], [0.5, 3.0]])
    >>> g = ad.grad(lambda a: np.sum(np.linalg.eigvals(a) ** 2))(a)   # d tr(A^2) = 2 A^T
    >>> bool(np.allclose(g, 2 * a.T))
    True
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ..traced import unwrap
from .core import as_var, guard, lift, refuse
from .registry import register


class EigPairs(Op):
    """``a -> (w_re, w_im, V_re, V_im, U_re, U_im, real)`` with ``a V = V diag(w)``, ``U = V^-1``;
    ``real``: whether numpy returned real arrays (its rule differs between numpy versions)."""

    __props__ = ()
    python_only = True  # no Numba form: the tiered backend keeps such graphs on numpy code

    def make_node(self, a):
        a = pt.as_tensor_variable(a)
        vec = pt.tensor(dtype=a.dtype, shape=a.type.shape[:-1])
        outs = [vec, vec.type()] + [a.type() for _ in range(4)] + [pt.tensor(dtype="bool", shape=())]
        return Apply(self, [a], outs)

    def perform(self, node, inputs, outputs):
        w, v = np.linalg.eig(inputs[0])
        u = np.linalg.inv(v)
        dtype = node.outputs[0].type.dtype
        for slot, part in zip(outputs, (w.real, w.imag, v.real, v.imag, u.real, u.imag)):
            slot[0] = np.ascontiguousarray(part, dtype=dtype)
        outputs[6][0] = np.asarray(not np.iscomplexobj(w))

    def infer_shape(self, *args):  # ([fgraph,] node, shapes): PyTensor >= 3.3 drops fgraph
        shapes = args[-1]
        (s,) = shapes
        return [s[:-1], s[:-1], s, s, s, s, ()]

    def pullback(self, inputs, outputs, cotangents):
        from pytensor.gradient import DisconnectedType, grad_not_implemented

        (a,) = inputs
        connected = [not isinstance(c.type, DisconnectedType) for c in cotangents]
        if any(connected[2:6]):
            return [grad_not_implemented(self, 0, a, "the derivative of numpy.linalg.eig's eigenvectors "
                                                     "is not implemented (its eigenvalues' is)")]
        if not any(connected[:2]):
            return [pt.zeros_like(a)]
        g_re, g_im = (c if ok else pt.zeros_like(o) for c, ok, o in zip(cotangents[:2], connected[:2], outputs[:2]))
        _, _, v_re, v_im, u_re, u_im, _ = outputs
        vt_re, vt_im = pt.swapaxes(v_re, -1, -2), pt.swapaxes(v_im, -1, -2)
        # D = conj(G)[:, None] * V^T, then Re(U^T D)
        gr, gi = g_re[..., :, None], g_im[..., :, None]
        d_re, d_im = gr * vt_re + gi * vt_im, gr * vt_im - gi * vt_re
        return [pt.matmul(pt.swapaxes(u_re, -1, -2), d_re) - pt.matmul(pt.swapaxes(u_im, -1, -2), d_im)]

    def L_op(self, inputs, outputs, grads):  # the name PyTensor before 3.0.7 calls
        return self.pullback(inputs, outputs, grads)


def _decompose(a, fname):
    value = unwrap(a)
    if np.iscomplexobj(value):
        raise refuse(f"numpy.linalg.{fname} of a complex traced matrix is not supported (real matrices are)")
    var = as_var(a)
    if not var.dtype.startswith("float"):
        var = pt.cast(var, "float64")
    parts = EigPairs()(var)
    real = not np.iscomplexobj(np.linalg.eigvals(value))
    # numpy returns real arrays for (some) real spectra: the result type is data-dependent
    guard(parts[6], real, "eigenvalues returned as real")
    return parts[:6], real


def _join(re, im, real):
    return re if real else pt.complex(re, im)


@register(np.linalg.eig, group="linalg")
def eig(a):
    value = np.linalg.eig(unwrap(a))
    (w_re, w_im, v_re, v_im, _, _), real = _decompose(a, "eig")
    w = lift(value.eigenvalues, _join(w_re, w_im, real))
    v = lift(value.eigenvectors, _join(v_re, v_im, real))
    return type(value)(w, v)


@register(np.linalg.eigvals, group="linalg")
def eigvals(a):
    value = np.linalg.eigvals(unwrap(a))
    (w_re, w_im, *_), real = _decompose(a, "eigvals")
    return lift(value, _join(w_re, w_im, real))
