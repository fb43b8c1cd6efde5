"""autograd's complex-number and FFT test cases (tests/test_complex.py, tests/test_fft.py of
HIPS/autograd), rewritten for pyautodiff: the same functions on inputs of the same shapes,
checked by reverse mode (``ad.vjp`` along a random complex cotangent) against central
finite differences of ``Re(sum(u * f))``.

autograd's convention is JAX's (and ours): for a complex input ``z = x + iy`` the
cotangent is ``d/dx - i d/dy``.  Its cases of ``fft2``/``fftn``/``rfftn`` with ``s=`` and
``axes=`` run numpy's own Python code, which calls the one-axis lowerings.
"""
from __future__ import annotations

import numpy as np
import pytest

import pyautodiff as ad

rng = np.random.default_rng(1)


def randn(*shape):
    return rng.normal(size=shape)


def fd_cotangent(f, x, u, eps=1e-6):
    """Finite differences of Re(sum(u * f(x))) w.r.t. x, as a cotangent (d/dx - i d/dy)."""
    x = np.asarray(x)
    scalar = lambda x: float(np.real(np.sum(u * f(x))))  # noqa: E731
    steps = (eps, 1j * eps) if np.iscomplexobj(x) else (eps,)
    out = np.zeros(x.shape, dtype=x.dtype)
    for idx in np.ndindex(x.shape):
        d = []
        for step in steps:
            xp, xm = x.copy(), x.copy()
            xp[idx] += step
            xm[idx] -= step
            d.append((scalar(xp) - scalar(xm)) / (2 * eps))
        out[idx] = d[0] - 1j * d[1] if len(d) == 2 else d[0]
    return out


def _hermitian(fn_name, mat):
    # autograd's inverse real transforms take the spectrum of a real array
    return getattr(np.fft, fn_name[1:])(mat) if fn_name.startswith("ir") else mat


def _s_case(fn_name, d):
    fn = getattr(np.fft, fn_name)
    return (lambda x: fn(x, s=[d + 2, d - 2], axes=[0, 2])), _hermitian(fn_name, randn(d, d, d) / 10)


def _n_case(fn_name, d, n):
    fn = getattr(np.fft, fn_name)
    return (lambda x: fn(x, d + n)), _hermitian(fn_name, randn(d, d))


CASES = {
    # tests/test_complex.py
    "angle_real": (np.angle, rng.uniform()),
    "angle_complex": (np.angle, rng.uniform() + 1j * rng.uniform()),
    "abs_real": (np.abs, 1.1),
    "abs_complex": (np.abs, 1.1 + 1.2j),
    "real_sum_real": (lambda x: np.sum(np.real(x)), 2.0),
    "real_sum_complex": (lambda x: np.sum(np.real(x)), 1.0j),
    # tests/test_fft.py
    "fft": (np.fft.fft, randn(5, 5)),
    "fft_ortho": (lambda x: np.fft.fft(x, norm="ortho"), randn(5, 5)),
    "fft_axis": (lambda x: np.fft.fft(x, axis=0), randn(5, 5)),
    **{f"{name}_n_{'smaller' if n < 0 else 'bigger'}": _n_case(name, d, n)
       for name, d in (("fft", 5), ("ifft", 5), ("rfft", 4), ("irfft", 4)) for n in (-2, 2)},
    **{f"{name}_s": _s_case(name, d)
       for name, d in (("fft2", 5), ("ifft2", 5), ("fftn", 5), ("ifftn", 5), ("rfft2", 4), ("irfft2", 4),
                       ("rfftn", 4), ("irfftn", 4))},
    "ifft": (np.fft.ifft, randn(5, 5)),
    "fft2": (np.fft.fft2, randn(5, 5) / 10),
    "ifft2": (np.fft.ifft2, randn(5, 5)),
    "fftn": (np.fft.fftn, randn(5, 5) / 10),
    "ifftn": (np.fft.ifftn, randn(5, 5)),
    "rfft": (np.fft.rfft, randn(4, 4) / 10),
    "rfft_ortho": (lambda x: np.fft.rfft(x, norm="ortho"), randn(4, 4) / 10),
    "rfft_axes": (lambda x: np.fft.rfft(x, axis=0), randn(4, 4) / 10),
    "irfft": (np.fft.irfft, np.fft.rfft(randn(4, 4) / 10)),
    "irfft_ortho": (lambda x: np.fft.irfft(x, norm="ortho"), np.fft.rfft(randn(4, 4) / 10)),
    "rfft2": (np.fft.rfft2, randn(4, 4) / 10),
    "irfft2": (np.fft.irfft2, np.fft.rfft2(randn(4, 4) / 10)),
    "rfftn": (np.fft.rfftn, randn(4, 4, 4) / 10),
    "rfftn_odd": (np.fft.rfftn, randn(5, 5, 5) / 10),  # autograd: NotImplementedError
    "rfftn_subset": (lambda x: np.fft.rfftn(x)[(0, 1, 0), (3, 3, 2)], randn(4, 4, 4) / 10),
    "rfftn_axes": (lambda x: np.fft.rfftn(x, axes=(0, 2)), randn(4, 4, 4) / 10),
    "irfftn": (np.fft.irfftn, np.fft.rfftn(randn(4, 4, 4) / 10)),
    "irfftn_subset": (lambda x: np.fft.irfftn(x)[(0, 1, 0), (3, 3, 2)], np.fft.rfftn(randn(4, 4, 4) / 10)),
    "fftshift": (np.fft.fftshift, randn(5, 5) / 10),
    "fftshift_even": (np.fft.fftshift, randn(4, 4) / 10),
    "fftshift_axes": (lambda x: np.fft.fftshift(x, axes=1), randn(5, 5) / 10),
    "ifftshift": (np.fft.ifftshift, randn(5, 5)),
    "ifftshift_even": (np.fft.ifftshift, randn(4, 4)),
    "ifftshift_axes": (lambda x: np.fft.ifftshift(x, axes=1), randn(5, 5)),
}


def _cotangent_like(y):
    y = np.asarray(y)
    u = rng.normal(size=y.shape)
    return u + 1j * rng.normal(size=y.shape) if np.iscomplexobj(y) else u


@pytest.mark.parametrize("name", list(CASES))
def test_autograd_case(name):
    f, x = CASES[name]
    y = f(x)
    u = _cotangent_like(y)
    value, cot = ad.vjp(f)(x, u)
    np.testing.assert_allclose(value, y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cot, fd_cotangent(f, x, u), rtol=1e-6, atol=1e-8)


def test_autograd_gradient_types():
    # autograd's test_real_type: the gradient of a real part is real for a real argument,
    # complex for a complex one
    df = ad.grad(lambda x: np.sum(np.real(x)))
    assert np.isrealobj(df(2.0)) and np.iscomplexobj(df(1.0j))


@pytest.mark.parametrize("name", ["angle_real", "angle_complex", "abs_real", "abs_complex"])
def test_autograd_second_order_case(name):
    # autograd checks its gradient of these again (d_fun = grad(fun)): reverse over reverse
    f, x = CASES[name]
    df = ad.grad(f)
    u = 0.7 + 0.2j if np.iscomplexobj(x) else 0.7
    _, cot = ad.vjp(df)(x, u)
    np.testing.assert_allclose(cot, fd_cotangent(df, x, u), rtol=1e-5, atol=1e-8)
