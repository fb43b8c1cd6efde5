"""static=(...): arguments keyed by value and never traced."""
import numpy as np
import pytest

import pyautodiff as ad

from helpers import assert_close

X = np.array([0.5, -1.0, 2.0])


def test_a_static_float_steers_python_control_flow_and_is_keyed_by_value():
    def f(x, p):
        # p drives Python control (a loop count) and a branch: it cannot be traced usefully
        out = x
        for _ in range(int(p)):
            out = out * x
        return np.sum(out) if p > 0 else np.sum(np.sin(x))

    g = ad.grad(f, static=("p",))
    assert_close(g(X, 2.0), 3 * X ** 2, rtol=1e-15)
    assert_close(g(X, 3.0), 4 * X ** 3, rtol=1e-15)
    assert_close(g(X, 0.0), np.cos(X), rtol=1e-15)
    assert g.stats.traces == 3
    assert_close(g(X * 2, 2.0), 3 * (2 * X) ** 2, rtol=1e-15)  # same static value: no new trace
    assert g.stats.traces == 3


def test_static_by_position_and_keyword():
    def f(x, scale, shift=0.0):
        return np.sum((x * scale + shift) ** 2)

    g = ad.grad(f, static=(1, "shift"))
    assert_close(g(X, 3.0, shift=1.0), 2 * (3 * X + 1.0) * 3, rtol=1e-15)
    assert_close(g(X, 2.0, shift=1.0), 2 * (2 * X + 1.0) * 2, rtol=1e-15)
    assert g.stats.traces == 2


def test_a_static_array_goes_into_code_the_emulator_cannot_follow():
    import math

    def f(x, table):
        # math.fsum of the array cannot take traced values; the table is static
        c = math.fsum(table.tolist())
        return c * np.sum(x ** 2)

    t1, t2 = np.array([1.0, 2.0]), np.array([0.5, 0.5])
    g = ad.grad(f, static="table")
    assert_close(g(X, t1), 2 * 3.0 * X, rtol=1e-15)
    assert_close(g(X, t2), 2 * 1.0 * X, rtol=1e-15)  # new bytes: traced again, not stale
    assert_close(g(X, t1.copy()), 2 * 3.0 * X, rtol=1e-15)


def test_static_on_other_transformations():
    def f(x, k):
        return x ** k

    J = ad.jacobian(f, static="k")(X, 3)
    assert_close(J, np.diag(3 * X ** 2), rtol=1e-15)
    y, t = ad.jvp(f, static=("k",))(X, 2.0, np.ones(3))
    assert_close(t, 2 * X, rtol=1e-15)
    assert_close(ad.function(f, static=(1,))(X, 2.0), X ** 2, rtol=1e-15)
    assert_close(ad.hvp(lambda x, k: np.sum(x ** k), static="k")(X, 3.0, np.ones(3)), 6 * X, rtol=1e-15)


def test_static_with_verification():
    g = ad.grad(lambda x, n: np.sum(x ** n), static="n", verify=True)
    assert_close(g(X, 3.0), 3 * X ** 2, rtol=1e-15)


def test_static_errors():
    with pytest.raises(ad.AutodiffError, match="both static and differentiated"):
        ad.grad(lambda x, n: np.sum(x ** n), static="x")
    with pytest.raises(ad.AutodiffError, match="hashable"):
        ad.grad(lambda x, n: np.sum(x) * len(n), static="n")(X, [1, 2])
    with pytest.raises(ad.AutodiffError, match="static takes"):
        ad.grad(lambda x, n: np.sum(x), static=(1.5,))


def test_the_escape_error_points_to_static():
    import math

    def f(x, s):
        return np.sum(x) * math.fsum([s, 1.0])

    with pytest.raises(ad.AutodiffError, match="static="):
        ad.grad(f)(X, 2.0)
    assert_close(ad.grad(f, static="s")(X, 2.0), np.full(3, 3.0), rtol=1e-15)


def test_export_and_vmap_refuse_static_and_has_aux_clearly():
    g = ad.grad(lambda x, n: np.sum(x ** n), static="n")
    with pytest.raises(ad.AutodiffError, match="static"):
        ad.export_source(g, X, 2.0)
    with pytest.raises(ad.AutodiffError, match="has_aux"):
        ad.vmap(ad.grad(lambda x: (np.sum(x ** 2), x), has_aux=True))
