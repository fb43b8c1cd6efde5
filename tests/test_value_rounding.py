"""Values round as numpy rounds them: products, nested sums and reductions keep its order.

PyTensor's product canonizer and its ``flatten_nested_add_mul`` flatten a nested product or
sum into one list (``x * (y * z)`` and ``x + (y + z)`` were computed as ``(x * y) * z`` and
``(x + y) + z``), move constants first (``x * y * 3.0`` as ``3.0 * x * y``) and fold them
(``x * 0.1 * 3.0`` as ``x * 0.30000000000000004``, ``x + 1.5 + 2.5`` as ``4.0 + x``), and
its reduction rewrites take constants out of sums (``sum(3.0 * x)`` as ``3.0 * sum(x)``)
and merge chained sums: one rounding where numpy makes two, an ulp off in a fifth to a
half of the elements. Derivatives, which numpy does not compute, are still rewritten
freely. Expected values are numpy's own, compared bit for bit.
"""
import numpy as np
import pytest

import pyautodiff as ad

rng = np.random.default_rng(7)
# mixed magnitudes, so that reassociated sums and products round differently
X, Y, Z, W = (rng.standard_normal(500) * 10.0 ** rng.integers(-6, 7, 500) for _ in range(4))

CASES = {
    "x * (y * z)": lambda x, y, z, w: x * (y * z),
    "(x * y) * (z * w)": lambda x, y, z, w: (x * y) * (z * w),
    "x * y * 3.0": lambda x, y, z, w: x * y * 3.0,
    "x * 0.1 * 3.0": lambda x, y, z, w: x * 0.1 * 3.0,
    "0.1 * x * y * 3.0": lambda x, y, z, w: 0.1 * x * y * 3.0,
    "x * 3.0 * 5.0": lambda x, y, z, w: x * 3.0 * 5.0,
    "x * (1 / y)": lambda x, y, z, w: x * (1 / y),
    "x * (2 * (y * z))": lambda x, y, z, w: x * (2 * (y * z)),
    "broadcast x * (y * z)": lambda x, y, z, w: x[:20, None] * (y[:30] * z[:30]),
    "x + (y + z)": lambda x, y, z, w: x + (y + z),
    "(x + y) + (z + w)": lambda x, y, z, w: (x + y) + (z + w),
    "x + 1.5 + 2.5": lambda x, y, z, w: x + 1.5 + 2.5,
    "x * (y + (z * w))": lambda x, y, z, w: x * (y + (z * w)),
    "sum(x * 3.0)": lambda x, y, z, w: np.sum(x * 3.0),
    "sum(x / 3.0)": lambda x, y, z, w: np.sum(x / 3.0),
    "sum(exp(x) * 3.0)": lambda x, y, z, w: np.sum(np.exp(x * 1e-6) * 3.0),
    "sum(a * 3.0, axis=1)": lambda x, y, z, w: np.sum(x.reshape(50, 10) * 3.0, axis=1),
    "sum(sum(a, axis=0))": lambda x, y, z, w: np.sum(x.reshape(50, 10).sum(axis=0)),
    "sum(sum(a, axis=1))": lambda x, y, z, w: np.sum(x.reshape(50, 10).sum(axis=1)),
    "sum(sum(a, axis=0), axis=0)": lambda x, y, z, w: x.reshape(5, 10, 10).sum(axis=0).sum(axis=0),
    # PyTensor's GemmOptimizer flattened the sum around a matrix product, or folded its scalars
    "a + X @ Y * 0.3 * 7.0": lambda x, y, z, w: x.reshape(50, 10) + x.reshape(50, 10) @ y[:100].reshape(10, 10) * 0.3 * 7.0,
    "b / 2 + (0.1 - X @ Y * 0.3)": lambda x, y, z, w: (x.reshape(50, 10) / 2.0
                                                        + (0.1 - z.reshape(50, 10) @ y[:100].reshape(10, 10) * 0.3)),
    "(a + b) + X @ Y": lambda x, y, z, w: (x.reshape(50, 10) + w.reshape(50, 10)) + z.reshape(50, 10) @ y[:100].reshape(10, 10),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_nested_products_and_sums_round_as_numpy(name, mode):
    f = CASES[name]
    want = f(X, Y, Z, W)
    np.testing.assert_array_equal(ad.function(f, mode=mode)(X, Y, Z, W), want)


def test_these_cases_are_not_all_order_free():
    # the cases would pass on any order if reassociating changed nothing here
    assert np.sum(X * (Y * Z) != (X * Y) * Z) > 50
    assert np.sum(X + (Y + Z) != (X + Y) + Z) > 50
    assert np.sum(X * 0.1 * 3.0 != X * (0.1 * 3.0)) > 50
    assert np.sum(X * 3.0) != 3.0 * np.sum(X)
    assert np.sum(X.reshape(50, 10).sum(axis=0)) != np.sum(X)


def _random_expression(rng, depth):
    """Python source of a random expression over a, b, c, d and a few constants."""
    if depth == 0 or rng.random() < 0.2:
        return str(rng.choice(["a", "b", "c", "d", "3.0", "0.1", "2.0", "0.5", "-1.0", "7.0"]))
    op = rng.choice(["+", "-", "*", "/"])
    return f"({_random_expression(rng, depth - 1)} {op} {_random_expression(rng, depth - 1)})"


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_random_expressions_round_as_numpy(mode):
    gen = np.random.default_rng(2024)
    exprs = [_random_expression(gen, 4) for _ in range(40)]
    namespace: dict = {}
    exec(f"def f(a, b, c, d):\n    return ({', '.join(exprs)},)\n", namespace)  # noqa: S102
    f = namespace["f"]
    with np.errstate(all="ignore"):
        want = f(X, Y, Z, W)
        got = ad.function(f, mode=mode)(X, Y, Z, W)
    for expr, g, w in zip(exprs, got, want):
        np.testing.assert_array_equal(g, w, err_msg=expr)


def test_gradients_still_fold_their_powers_of_two():
    # exact scalings (-1, 2, 0.5) are still flattened and folded: the gradient of
    # 0.5 * sum(x**2) needs no multiplication by 0.5 * 2
    def f(x):
        return 0.5 * np.sum(x ** 2)

    x = np.linspace(-1.0, 1.0, 7)
    g = ad.grad(f)
    np.testing.assert_array_equal(g(x), x)
    assert "0.5" not in ad.export_source(g, x)


def test_a_value_rounds_as_numpy_beside_its_gradient():
    # value_and_grad: the value is held to numpy's order, the gradient beside it is not
    def f(x, y, z):
        return np.sum(x * (y * z) * 0.1 * 3.0)

    value, grad = ad.value_and_grad(f)(X, Y, Z)
    assert value == f(X, Y, Z)
    np.testing.assert_allclose(grad, Y * Z * 0.1 * 3.0, rtol=1e-14)


def test_a_gradient_still_simplifies_its_quotients():
    # the gradient of log1p(exp(-y * z)) is flattened into a quotient that becomes one
    # sigmoid: the derivative tag lets its products be reassociated
    def nll(w, X, y):
        return np.sum(np.log1p(np.exp(-y * (X @ w))))

    gen = np.random.default_rng(3)
    Xl, w, y = gen.normal(size=(40, 3)), gen.normal(size=3), np.sign(gen.normal(size=40))
    g = ad.grad(nll, mode="numpy")
    np.testing.assert_allclose(g(w, Xl, y), Xl.T @ (-y / (1.0 + np.exp(y * (Xl @ w)))), rtol=1e-12)
    assert "sigmoid" in ad.export_source(g, w, Xl, y)


def test_the_code_cache_tells_a_derivative_from_a_value():
    import pytensor.tensor as pt

    from pyautodiff.backend import code_cache
    from pyautodiff.backend.value_ancestors import mark_derivatives

    x = pt.dvector("x")
    y = x * (x * 3.0)
    as_value = code_cache.fingerprint([x], [y])
    mark_derivatives([y])
    assert code_cache.fingerprint([x], [y]) not in (None, as_value)
