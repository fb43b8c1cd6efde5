"""Complex numbers: inputs, outputs and derivatives in JAX's and autograd's convention.

For a real-valued f of complex z = x + iy, grad returns df/dx - i df/dy; tangents are
complex numbers as they are; vjp(u) differentiates Re(sum(u * f)); holomorphic=True
gives f'(z).  Every case is checked against a hand-written derivative or central
finite differences on the real and imaginary parts, and (where JAX is installed)
against JAX.
"""
from __future__ import annotations

import numpy as np
import pytest

import pyautodiff as ad

rng = np.random.default_rng(7)


def crandn(*shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def fd_grad(f, z, eps=1e-6):
    """df/dx - i df/dy by central differences (x, y: the parts of complex z)."""
    z = np.asarray(z, dtype=complex)
    g = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        parts = []
        for step in (eps, 1j * eps):
            zp, zm = z.copy(), z.copy()
            zp[idx] += step
            zm[idx] -= step
            parts.append((float(f(zp)) - float(f(zm))) / (2 * eps))
        g[idx] = parts[0] - 1j * parts[1]
    return g


def fd_real_grad(f, x, eps=1e-6):
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (float(f(xp)) - float(f(xm))) / (2 * eps)
    return g


# -- the cases of the issue, each against its hand-written derivative ----------------------

def test_abs_squared_gradient_is_twice_the_conjugate():
    z = crandn(4)
    g = ad.grad(lambda z: np.sum(np.abs(z) ** 2))(z)
    assert g.dtype == np.complex128 and g.shape == (4,)
    np.testing.assert_allclose(g, 2 * np.conj(z), rtol=1e-12)
    # a Python complex argument, and the same again through the cached fast path
    f = ad.grad(lambda z: abs(z) ** 2)
    for w in (1.5 - 0.5j, -0.25 + 2j):
        gw = f(w)
        assert isinstance(gw, np.complex128)
        assert gw == pytest.approx(2 * np.conj(w), rel=1e-12)


def test_fft_of_a_real_signal_then_a_real_loss():
    x, w = rng.normal(size=8), rng.uniform(0.5, 2.0, size=8)

    def loss(x):
        return np.sum(w * np.abs(np.fft.fft(x)) ** 2)

    g = ad.grad(loss)(x)
    assert g.dtype == np.float64
    # d/dx sum_k w_k |X_k|^2 with X = F x: 2 Re(F^H (w X)) = 2 n Re(ifft(w X))
    np.testing.assert_allclose(g, 2 * len(x) * np.real(np.fft.ifft(w * np.fft.fft(x))), rtol=1e-10)
    np.testing.assert_allclose(g, fd_real_grad(loss, x), rtol=1e-6)


def test_holomorphic_sine_has_derivative_cosine():
    z = crandn(3)
    np.testing.assert_allclose(ad.grad(np.sin, holomorphic=True)(0.3 + 0.8j), np.cos(0.3 + 0.8j), rtol=1e-12)
    np.testing.assert_allclose(ad.jacobian(np.sin, holomorphic=True)(z), np.diag(np.cos(z)), rtol=1e-12)
    value, d = ad.value_and_grad(lambda z: z ** 3 + 2j * z, holomorphic=True)(z[0])
    assert value == pytest.approx(z[0] ** 3 + 2j * z[0], rel=1e-12)
    assert d == pytest.approx(3 * z[0] ** 2 + 2j, rel=1e-12)


def test_real_loss_of_complex_matrix_ops():
    A, B, Z = crandn(4, 3), crandn(4, 2), crandn(3, 2)

    def loss(Z):
        R = A @ Z - B
        return np.real(np.sum(R * np.conj(R))) + np.sum(np.angle(Z.T @ Z.conj()))

    g = ad.grad(loss)(Z)
    np.testing.assert_allclose(g, fd_grad(loss, Z), rtol=1e-6, atol=1e-8)
    # the least-squares term alone: 2 conj(A^H (A Z - B))
    g_ls = ad.grad(lambda Z: np.sum(np.abs(A @ Z - B) ** 2))(Z)
    np.testing.assert_allclose(g_ls, 2 * np.conj(A.conj().T @ (A @ Z - B)), rtol=1e-10)


def _f(z):
    return np.sin(z) * np.conj(z)


def test_jvp_and_vjp_of_a_non_holomorphic_function():
    z, v, u = crandn(3), crandn(3), crandn(3)
    # f(z) = sin(z) conj(z): df/dz = cos(z) conj(z), df/dconj(z) = sin(z)
    a, b = np.cos(z) * np.conj(z), np.sin(z)
    value, tangent = ad.jvp(_f)(z, v)
    np.testing.assert_allclose(value, _f(z), rtol=1e-12)
    np.testing.assert_allclose(tangent, a * v + b * np.conj(v), rtol=1e-10)
    value, cot = ad.vjp(_f)(z, u)
    np.testing.assert_allclose(value, _f(z), rtol=1e-12)
    np.testing.assert_allclose(cot, u * a + np.conj(u * b), rtol=1e-10)
    # the vjp is the gradient of Re(sum(u * f))
    np.testing.assert_allclose(cot, fd_grad(lambda z: np.real(np.sum(u * _f(z))), z), rtol=1e-6)


def test_jvp_and_vjp_of_a_real_input_with_complex_output():
    x, v, u = rng.normal(size=5), rng.normal(size=5), crandn(5)
    value, tangent = ad.jvp(np.fft.fft)(x, v)
    np.testing.assert_allclose(tangent, np.fft.fft(v), rtol=1e-10, atol=1e-12)
    value, cot = ad.vjp(np.fft.fft)(x, u)
    assert cot.dtype == np.float64
    np.testing.assert_allclose(cot, fd_real_grad(lambda x: np.real(np.sum(u * np.fft.fft(x))), x), rtol=1e-6)
    J = ad.jacobian(np.fft.fft)(x)  # dp/dx + i dq/dx: the DFT matrix
    n = len(x)
    np.testing.assert_allclose(J, np.exp(-2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n), atol=1e-12)


@pytest.mark.parametrize("name", ["ifft", "rfft", "irfft", "fft_n"])
def test_fft_family_gradients_against_finite_differences(name):
    w = crandn(6)
    fns = {
        "ifft": lambda z: np.sum(np.abs(np.fft.ifft(z * w)) ** 3),
        "rfft": lambda x: np.sum(np.real(np.fft.rfft(x) * w[:4]) ** 2),
        "irfft": lambda z: np.sum(np.fft.irfft(z, n=6) ** 3),
        "fft_n": lambda z: np.sum(np.imag(np.fft.fft(z, n=4, norm="ortho")) ** 2),
    }
    f = fns[name]
    arg = rng.normal(size=6) if name == "rfft" else crandn(6 if name != "irfft" else 4)
    g = ad.grad(f)(arg)
    want = fd_real_grad(f, arg) if name == "rfft" else fd_grad(f, arg)
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-8)


def test_hessian_of_a_real_function_through_complex_values():
    x = rng.normal(size=4)
    f = lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2)  # noqa: E731  n |x|^2 (Parseval)
    np.testing.assert_allclose(ad.hessian(f)(x), 2 * len(x) * np.eye(4), atol=1e-10)
    v = rng.normal(size=4)
    np.testing.assert_allclose(ad.hvp(f)(x, v), 2 * len(x) * v, rtol=1e-10)


def test_single_precision_stays_single():
    z = crandn(3).astype(np.complex64)
    g = ad.grad(lambda z: np.sum(np.abs(z) ** 2))(z)
    assert g.dtype == np.complex64
    np.testing.assert_allclose(g, 2 * np.conj(z), rtol=1e-6)


def spectral_power(z):
    return np.sum(np.abs(np.fft.fft(z) * np.exp(1j * np.real(z))) ** 2)


def test_export_of_a_complex_gradient_runs_under_numpy_alone():
    z = crandn(5)
    source = ad.export_source(ad.grad(spectral_power), z)
    assert "import pytensor" not in source and "import pyautodiff" not in source
    namespace: dict = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    got = namespace["grad_spectral_power"](z)
    np.testing.assert_allclose(got, fd_grad(spectral_power, z), rtol=1e-6)


def test_eigenvalues_of_a_general_matrix():
    real = np.array([[3.0, 1.0, 0.2], [0.1, 2.0, 0.5], [0.05, 0.1, 1.0]])
    pair = np.array([[0.1, -1.0, 0.2], [1.0, 0.0, 0.3], [0.1, 0.2, 2.0]])
    # the sum of squared eigenvalues is tr(A^2), whose gradient is 2 A^T
    f = ad.grad(lambda a: np.real(np.sum(np.linalg.eigvals(a) ** 2)))
    np.testing.assert_allclose(f(real), 2 * real.T, rtol=1e-10, atol=1e-13)
    assert np.iscomplexobj(np.linalg.eigvals(pair))  # the other type of result: traced again (a guard)
    np.testing.assert_allclose(f(pair), 2 * pair.T, rtol=1e-10, atol=1e-13)
    with pytest.raises(ad.AutodiffError, match="real value"):  # a complex sum is not a real loss
        ad.grad(lambda a: np.sum(np.linalg.eigvals(a) ** 2))(pair)

    def spectral_radius(a):
        return np.max(np.abs(np.linalg.eig(a).eigenvalues))

    g = ad.grad(spectral_radius)(pair)
    np.testing.assert_allclose(g, fd_real_grad(spectral_radius, pair), rtol=1e-6)
    w, v = ad.function(np.linalg.eig)(pair)
    np.testing.assert_allclose(w, np.linalg.eig(pair).eigenvalues, rtol=1e-12)
    with pytest.raises(ad.AutodiffError, match="eigenvectors is not implemented"):
        ad.grad(lambda a: np.sum(np.abs(np.linalg.eig(a).eigenvectors)))(pair)


def test_verification_checks_complex_derivatives():
    z, v = crandn(3), crandn(3)
    f = lambda z: np.sum(np.abs(np.sin(z)) ** 2)  # noqa: E731
    assert ad.check_grad(f, z).ok
    # a gradient in the other convention (conjugated) is caught
    wrong = ad.check_grad(f, z, grad=lambda z: np.conj(ad.grad(f)(z)))
    assert not wrong.ok and "finite difference" in str(wrong)
    # every kind verifies against finite differences along complex directions
    ad.jvp(np.sin, verify=True)(z, v)
    ad.vjp(_f, verify=True)(z, v)
    ad.grad(np.sin, holomorphic=True, verify=True)(0.3 + 0.2j)
    ad.jacobian(np.sin, holomorphic=True, verify=True)(z)
    ad.jacobian(np.fft.fft, verify=True)(rng.normal(size=4))


# -- clear errors -------------------------------------------------------------------------------

def test_complex_output_without_holomorphic_is_a_clear_error():
    with pytest.raises(ad.AutodiffError, match="holomorphic=True"):
        ad.grad(np.sin)(0.3 + 0.2j)
    with pytest.raises(ad.AutodiffError, match="return a real value"):
        ad.grad(lambda x: np.sum(np.fft.fft(x)))(rng.normal(size=4))


def test_misuses_of_holomorphic_and_complex_arguments_are_clear_errors():
    z = crandn(3)
    with pytest.raises(ad.AutodiffError, match="needs complex inputs"):
        ad.grad(lambda x: np.sin(x) + 0j, holomorphic=True)(0.5)
    with pytest.raises(ad.AutodiffError, match="needs .* to return complex values"):
        ad.grad(lambda z: np.abs(z), holomorphic=True)(0.5 + 1j)
    with pytest.raises(ad.AutodiffError, match="holomorphic=True applies to"):
        ad.vjp(np.sin, holomorphic=True)
    with pytest.raises(ad.AutodiffError, match="not supported .*JAX refuses it too"):
        ad.hessian(lambda z: np.sum(np.abs(z) ** 2))(z)
    with pytest.raises(ad.AutodiffError, match="needs holomorphic=True"):
        ad.jacobian(np.conj)(z)
    with pytest.raises(ad.AutodiffError, match="complex direction"):
        ad.jvp(np.sin)(rng.normal(size=3), z)


# -- every case against JAX (skipped where JAX is not installed) ---------------------------

Z3, W3, X6 = crandn(3), crandn(3), rng.normal(size=6)


def _jax_cases(jnp):
    """(name, transformation, its JAX counterpart, arguments)."""
    def both(expr):  # the same code for numpy and jax.numpy
        return (lambda z: expr(np, z)), (lambda z: expr(jnp, z))

    real_losses = {
        "abs2": lambda m, z: m.sum(m.abs(z) ** 2),
        "mul": lambda m, z: m.real(m.sum(z * z * W3)),
        "exp_log": lambda m, z: m.sum(m.imag(m.exp(z)) + m.angle(m.log(z))),
        "trig": lambda m, z: m.sum(m.abs(m.sin(z) * m.cos(z) + m.tanh(z))),
        "div_conj": lambda m, z: m.sum(m.real(W3 / z) + m.imag(m.conj(z) * W3)),
        "sqrt_pow": lambda m, z: m.sum(m.real(m.sqrt(z)) + m.imag(z ** 3)),
        "matrix": lambda m, z: m.real(m.trace(m.outer(z, W3) @ m.outer(m.conj(z), z))),
        "fft": lambda m, z: m.sum(m.abs(m.fft.fft(z)) ** 2 * m.arange(3)),
        "ifft": lambda m, z: m.sum(m.real(m.fft.ifft(z * W3)) ** 2),
    }
    cases = []
    for name, expr in real_losses.items():
        ours, theirs = both(expr)
        cases.append((name, ad.grad(ours), ("grad", theirs), (Z3,)))
    real_signal = {
        "fft_real": lambda m, x: m.sum(m.abs(m.fft.fft(x)) ** 2 * m.arange(6)),
        "rfft_irfft": lambda m, x: m.sum(m.fft.irfft(m.fft.rfft(x) * (1 + 2j), 6) ** 2 * x),
    }
    for name, expr in real_signal.items():
        ours, theirs = both(expr)
        cases.append((name, ad.grad(ours), ("grad", theirs), (X6,)))
    cases.append(("holomorphic_sin", ad.grad(np.sin, holomorphic=True),
                  ("holomorphic", jnp.sin), (0.3 + 0.8j,)))
    f_np, f_jax = both(lambda m, z: m.sin(z) * m.conj(z))
    cases.append(("jvp", ad.jvp(f_np), ("jvp", f_jax), (Z3, W3)))
    cases.append(("vjp", ad.vjp(f_np), ("vjp", f_jax), (Z3, W3)))
    return cases


def test_every_case_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    for name, ours, (how, theirs), args in _jax_cases(jnp):
        if how == "grad":
            want = jax.grad(theirs)(*args)
        elif how == "holomorphic":
            want = jax.grad(theirs, holomorphic=True)(*args)
        elif how == "jvp":
            want = jax.jvp(theirs, (args[0],), (args[1],))[1]
        else:
            want = jax.vjp(theirs, args[0])[1](args[1])[0]
        got = ours(*args)
        got = got[1] if how in ("jvp", "vjp") else got
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-9, atol=1e-12, err_msg=name)


def test_complex_linear_algebra_values_and_clear_errors():
    M, b = crandn(3, 3), crandn(3)
    np.testing.assert_allclose(ad.function(lambda m: np.linalg.solve(m, b))(M), np.linalg.solve(M, b), rtol=1e-12)
    np.testing.assert_allclose(ad.function(np.linalg.det)(M), np.linalg.det(M), rtol=1e-12)
    with pytest.raises(ad.UnsupportedError, match="derivative through .*Det.* on complex values"):
        ad.grad(lambda m: np.abs(np.linalg.det(m)))(M)
    with pytest.raises(ad.UnsupportedError, match="complex traced matrix"):
        ad.function(np.linalg.norm)(M)
    with pytest.raises(ad.UnsupportedError, match="derivative through .*Prod"):
        ad.grad(lambda z: np.abs(np.prod(z)))(b)

