"""numpy.fft: fft, ifft, rfft, irfft (one axis, any length, every ``norm``).

PyTensor's own FFT ops (``pytensor.tensor.fft``) carry complex numbers as a
trailing axis of two reals and cover only ``rfft``/``irfft`` of even length;
here every transform is one op, ``DFT``, on a pair of real arrays (the real
and imaginary parts), so its derivative stays in real arithmetic: the
pullback of the complex-linear map ``w = F z`` is ``F^H`` applied to the
cotangent pair, i.e. another DFT (``F`` is symmetric, ``F^H = n * ifft``).
The traced graph joins the pair back into a complex value (``pt.complex``),
which ``complex_split`` takes apart again when differentiating.

``rfft`` is ``fft`` of a real signal cut to its ``n // 2 + 1`` non-negative
frequencies; ``irfft`` is the real part of ``ifft`` of the Hermitian
extension of its input, which is numpy's irfft as a linear map (numpy also
ignores the imaginary parts of the zero and Nyquist terms).

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> x = np.array([1.0, 2.0, 0.5, -1.0])
    >>> g = ad.grad(lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2))(x)
    >>> bool(np.allclose(g, 2 * len(x) * x))     # Parseval
    True
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ..traced import unwrap
from .core import as_var, lift, refuse
from .registry import register

_NORMS = (None, "backward", "ortho", "forward")


class DFT(Op):
    """The discrete Fourier transform along ``axis`` of ``re + 1j * im``, as a pair
    of real arrays; ``inverse`` selects numpy's ``ifft`` (with its ``1/n``)."""

    __props__ = ("axis", "inverse")
    python_only = True  # no Numba form: the tiered backend keeps such graphs on numpy code

    def __init__(self, axis: int, inverse: bool):
        self.axis = int(axis)
        self.inverse = bool(inverse)

    def make_node(self, re, im):
        re, im = pt.as_tensor_variable(re), pt.as_tensor_variable(im)
        return Apply(self, [re, im], [re.type(), re.type()])

    def perform(self, node, inputs, outputs):
        re, im = inputs
        fn = np.fft.ifft if self.inverse else np.fft.fft
        c = fn(re + 1j * im, axis=self.axis)
        dtype = node.outputs[0].type.dtype
        outputs[0][0] = np.ascontiguousarray(c.real, dtype=dtype)
        outputs[1][0] = np.ascontiguousarray(c.imag, dtype=dtype)

    def infer_shape(self, *args):  # ([fgraph,] node, shapes): PyTensor >= 3.3 drops fgraph
        shapes = args[-1]
        return [shapes[0], shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        # Real-pair pullback of w = M z: (Re, Im) of M^H G with G = g_re + 1j g_im.
        # fft: M^H = n * ifft; ifft: M^H = fft / n.
        g_re, g_im = (_zeros_if_disconnected(g, x) for g, x in zip(cotangents, inputs))
        n = inputs[0].shape[self.axis]
        back_re, back_im = DFT(self.axis, not self.inverse)(g_re, g_im)
        scale = pt.cast(n, inputs[0].dtype)
        if self.inverse:
            return [back_re / scale, back_im / scale]
        return [back_re * scale, back_im * scale]

    def pushforward(self, inputs, outputs, tangents):
        return list(self(*(_zeros_if_disconnected(t, x) for t, x in zip(tangents, inputs))))

    # The names PyTensor before 3.0.7 calls (newer ones call pullback/pushforward).
    def L_op(self, inputs, outputs, grads):
        return self.pullback(inputs, outputs, grads)

    def R_op(self, inputs, eval_points):
        return self.pushforward(inputs, None, eval_points)


def _zeros_if_disconnected(g, x):
    from pytensor.gradient import DisconnectedType

    return pt.zeros_like(x) if g is None or isinstance(g.type, DisconnectedType) else g


# -- the lowerings ----------------------------------------------------------------------

def _parts(a):
    """The symbolic (real, imaginary) parts of traced or constant ``a`` (None: zero)."""
    var = as_var(a)
    if var.dtype.startswith("complex"):
        return pt.real(var), pt.imag(var)
    if not var.dtype.startswith("float"):
        var = pt.cast(var, "float64")
    return var, None


def _fit_length(part, axis, n):
    """Cut or zero-pad ``part`` to length ``n`` along ``axis`` (numpy's ``n=``)."""
    have = part.type.shape[axis]
    if have is None:
        raise refuse("numpy.fft needs the transformed axis to have a known length")
    if have == n:
        return part
    index = [slice(None)] * part.ndim
    if have > n:
        index[axis] = slice(0, n)
        return part[tuple(index)]
    shape = list(_static_shape(part))
    shape[axis] = n - have
    return pt.concatenate([part, pt.zeros(shape, dtype=part.dtype)], axis=axis)


def _static_shape(var):
    return [s if s is not None else var.shape[i] for i, s in enumerate(var.type.shape)]


def _scale(norm, n, inverse):
    """The factor turning numpy's default ("backward") result into ``norm``'s."""
    if norm in (None, "backward"):
        return 1.0
    if norm == "ortho":
        return float(np.sqrt(n)) if inverse else 1.0 / float(np.sqrt(n))
    return float(n) if inverse else 1.0 / float(n)  # "forward"


def _check(fname, norm, axis, ndim):
    if norm not in _NORMS:
        raise refuse(f"numpy.fft.{fname}: norm={norm!r} is not one of {_NORMS[1:]}")
    if not -ndim <= axis < ndim:
        raise refuse(f"numpy.fft.{fname}: axis {axis} is out of range for {ndim} dimensions")
    return axis % ndim


def _transform(a, n, axis, norm, inverse, fname):
    re, im = _parts(a)
    ax = _check(fname, norm, axis, re.ndim)
    length = re.type.shape[ax] if n is None else int(n)
    re = _fit_length(re, ax, length)
    if im is None:
        im = pt.zeros_like(re)
    else:
        im = _fit_length(im, ax, length)
    out_re, out_im = DFT(ax, inverse)(re, im)
    s = _scale(norm, length, inverse)
    if s != 1.0:
        out_re, out_im = out_re * s, out_im * s
    return out_re, out_im, ax


@register(np.fft.fft, group="fft")
def fft(a, n=None, axis=-1, norm=None, out=None):
    if out is not None:
        raise refuse("numpy.fft.fft: out= is not supported")
    value = np.fft.fft(unwrap(a), n=n, axis=axis, norm=norm)
    re, im, _ = _transform(a, n, axis, norm, False, "fft")
    return lift(value, pt.complex(re, im))


@register(np.fft.ifft, group="fft")
def ifft(a, n=None, axis=-1, norm=None, out=None):
    if out is not None:
        raise refuse("numpy.fft.ifft: out= is not supported")
    value = np.fft.ifft(unwrap(a), n=n, axis=axis, norm=norm)
    re, im, _ = _transform(a, n, axis, norm, True, "ifft")
    return lift(value, pt.complex(re, im))


@register(np.fft.rfft, group="fft")
def rfft(a, n=None, axis=-1, norm=None, out=None):
    if out is not None:
        raise refuse("numpy.fft.rfft: out= is not supported")
    if np.iscomplexobj(unwrap(a)):
        raise refuse("numpy.fft.rfft of a complex array (numpy discards the imaginary part with a warning); "
                     "take np.real first or use np.fft.fft")
    value = np.fft.rfft(unwrap(a), n=n, axis=axis, norm=norm)
    re, im, ax = _transform(a, n, axis, norm, False, "rfft")
    index = [slice(None)] * re.ndim
    index[ax] = slice(0, value.shape[ax])
    return lift(value, pt.complex(re[tuple(index)], im[tuple(index)]))


@register(np.fft.irfft, group="fft")
def irfft(a, n=None, axis=-1, norm=None, out=None):
    if out is not None:
        raise refuse("numpy.fft.irfft: out= is not supported")
    value = np.fft.irfft(unwrap(a), n=n, axis=axis, norm=norm)
    re, im = _parts(a)
    ax = _check("irfft", norm, axis, re.ndim)
    length = value.shape[ax]
    m = length // 2 + 1  # the half spectrum numpy reads (cut or zero-padded to it)
    re = _fit_length(re, ax, m)
    im = pt.zeros_like(re) if im is None else _fit_length(im, ax, m)
    # The Hermitian extension: X[k] = conj(X[n - k]) for k = m .. n-1.
    tail = [slice(None)] * re.ndim
    tail[ax] = slice(length - m, 0, -1)
    full_re = pt.concatenate([re, re[tuple(tail)]], axis=ax)
    full_im = pt.concatenate([im, -im[tuple(tail)]], axis=ax)
    out_re, _ = DFT(ax, True)(full_re, full_im)
    s = _scale(norm, length, True)
    return lift(value, out_re * s if s != 1.0 else out_re)
