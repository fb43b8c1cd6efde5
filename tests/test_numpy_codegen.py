"""Tests for pyautodiff.backend.numpy_codegen.

Every test compares the generated numpy code with PyTensor's own evaluation
of the *un-rewritten* graph on the Python linker: same values (rtol 1e-12 for
float64), same dtype, same shape.  Graphs are checked both as built (raw ops:
Second, Softmax, ...) and after `rewrite_graph` (fused Composites, BLAS ops,
shape checks...).
"""

import warnings

import numpy as np
import pytest

pytensor = pytest.importorskip("pytensor")

import pytensor.tensor as pt  # noqa: E402
from pytensor.compile.mode import Mode  # noqa: E402
from pytensor.gradient import grad, hessian, jacobian  # noqa: E402
from pytensor.graph.fg import FunctionGraph  # noqa: E402

from pyautodiff.backend.numpy_codegen import (  # noqa: E402
    compile_fgraph,
    fgraph_to_source,
    rewrite_graph,
)

warnings.filterwarnings("ignore", message=".*BLAS.*")

REF_MODE = Mode(linker="py", optimizer=None)
PYTENSOR_VERSION = tuple(int(p) for p in pytensor.__version__.split(".")[:2])
RNG = np.random.default_rng(1234)


def _reference(inputs, outputs, values):
    # No C compiler for the reference: the inner graphs of OpFromGraph/Scan would
    # otherwise be built with gcc, minutes of a cold CI run for no check it needs.
    with pytensor.config.change_flags(cxx=""):
        fn = pytensor.function(inputs, outputs, mode=REF_MODE, on_unused_input="ignore")
    with np.errstate(all="ignore"):
        return fn(*[np.copy(v) for v in values])


def _generated(inputs, outputs, rewrite, fallback="error"):
    fg = FunctionGraph(inputs, outputs, clone=True)
    if rewrite:
        rewrite_graph(fg)
    return compile_fgraph(fg, fallback=fallback)


def check(inputs, outputs, values, rewrite=True, rtol=None, fallback="error"):
    """Generated code == PyTensor (values, dtypes, shapes); inputs untouched."""
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    ref = _reference(inputs, outputs, values)
    fn = _generated(inputs, outputs, rewrite, fallback)
    before = [np.copy(v) for v in values]
    with np.errstate(all="ignore"):
        got = fn(*values)
    assert isinstance(got, tuple) and len(got) == len(outputs), fn.source
    for r, g, out in zip(ref, got, outputs):
        g = np.asarray(g)
        r = np.asarray(r)
        assert g.dtype == r.dtype == np.dtype(out.type.dtype), (g.dtype, r.dtype, fn.source)
        assert g.shape == r.shape, (g.shape, r.shape, fn.source)
        tol = rtol if rtol is not None else (1e-12 if r.dtype.itemsize >= 8 else 1e-5)
        if r.dtype.kind in "fc":
            np.testing.assert_allclose(g, r, rtol=tol, atol=tol * 1e-2, equal_nan=True,
                                       err_msg=fn.source)
        else:
            np.testing.assert_array_equal(g, r, err_msg=fn.source)
    for v, b in zip(values, before):
        np.testing.assert_array_equal(v, b, err_msg="an input was modified in place")
    return fn


REWRITE = pytest.mark.parametrize("rewrite", [False, True], ids=["raw", "rewritten"])


def vec(n=5, dtype="float64", low=-2.0, high=2.0):
    return RNG.uniform(low, high, size=n).astype(dtype)


def mat(r=4, c=3, dtype="float64", low=-2.0, high=2.0):
    return RNG.uniform(low, high, size=(r, c)).astype(dtype)


# ---------------------------------------------------------------------------
# Typical models and their gradients / Hessians
# ---------------------------------------------------------------------------


def model_loglinear():
    X, y, W, b = pt.matrix("X"), pt.lvector("y"), pt.matrix("W"), pt.vector("b")
    logits = X @ W + b
    logp = logits - pt.logsumexp(logits, axis=1, keepdims=True)
    loss = -logp[pt.arange(X.shape[0]), y].mean()
    vals = [mat(7, 4), RNG.integers(0, 3, 7), mat(4, 3), vec(3)]
    return [X, y, W, b], [loss, *grad(loss, [W, b])], vals


def model_mlp():
    X, y = pt.matrix("X"), pt.lvector("y")
    W1, b1, W2, b2 = pt.matrix("W1"), pt.vector("b1"), pt.matrix("W2"), pt.vector("b2")
    h = pt.tanh(X @ W1 + b1)
    p = pt.special.softmax(h @ W2 + b2, axis=-1)
    loss = -pt.log(p[pt.arange(X.shape[0]), y]).mean()
    vals = [mat(6, 4), RNG.integers(0, 3, 6), mat(4, 5), vec(5), mat(5, 3), vec(3)]
    return [X, y, W1, b1, W2, b2], [loss, *grad(loss, [W1, b1, W2, b2])], vals


def model_rosen():
    x = pt.vector("x")
    r = pt.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)
    g = grad(r, x)
    return [x], [r, g, jacobian(g, x, vectorize=True)], [vec(6)]


def model_normal_logp():
    x, mu, sigma = pt.vector("x"), pt.scalar("mu"), pt.scalar("sigma")
    lp = pt.sum(-0.5 * ((x - mu) / sigma) ** 2 - pt.log(sigma) - 0.5 * np.log(2 * np.pi))
    return [x, mu, sigma], [lp, *grad(lp, [mu, sigma])], [vec(8), np.array(0.3), np.array(1.7)]


def model_logistic():
    X, y, w = pt.matrix("X"), pt.vector("y"), pt.vector("w")
    z = X @ w
    ll = pt.sum(y * pt.log(pt.sigmoid(z)) + (1 - y) * pt.log(1 - pt.sigmoid(z)))
    g = grad(ll, w)
    H = jacobian(g, w, vectorize=True)
    return [X, y, w], [ll, g, H], [mat(9, 3), RNG.integers(0, 2, 9).astype(float), vec(3)]


def model_loglinear_hessian():
    X, y, w = pt.matrix("X"), pt.lvector("y"), pt.vector("w")
    W = w.reshape((3, 2))
    logits = X @ W
    logp = logits - pt.logsumexp(logits, axis=1, keepdims=True)
    loss = -logp[pt.arange(X.shape[0]), y].sum()
    g = grad(loss, w)
    return [X, y, w], [loss, g, jacobian(g, w, vectorize=True)], [mat(5, 3), RNG.integers(0, 2, 5),
                                                                  vec(6)]


MODELS = [model_loglinear, model_mlp, model_rosen, model_normal_logp, model_logistic,
          model_loglinear_hessian]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__[6:])
@REWRITE
def test_models(model, rewrite):
    inputs, outputs, values = model()
    check(inputs, outputs, values, rewrite=rewrite)


def test_scan_hessian_runs_as_a_python_loop():
    """A Scan (PyTensor's hessian is one) has a numpy form since loops roll into Scans:
    a Python loop over its generated body (backend/scan_numpy.py), with PyTensor's values."""
    from pyautodiff.backend import scan_numpy

    scan_numpy.register()
    x = pt.vector("x")
    r = pt.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)
    fg = rewrite_graph(FunctionGraph([x], [hessian(r, x)], clone=True))
    source, _ = fgraph_to_source(fg, fallback="error")
    assert "def scan_loop(" in source and "for i in range(n_steps)" in source
    check([x], [hessian(r, x)], [vec(5)], rewrite=True, fallback="error")


# ---------------------------------------------------------------------------
# Elementwise ops
# ---------------------------------------------------------------------------

POS = (0.1, 3.0)
UNIT = (-0.9, 0.9)
UNARY = {
    "neg": (pt.neg, None), "abs": (pt.abs, None), "sign": (pt.sign, None),
    "floor": (pt.floor, None), "ceil": (pt.ceil, None), "trunc": (pt.trunc, None),
    "round_even": (lambda x: pt.round(x, mode="half_to_even"), None),
    "round_away": (lambda x: pt.round(x, mode="half_away_from_zero"), None),
    "sqrt": (pt.sqrt, POS), "sqr": (pt.sqr, None), "exp": (pt.exp, None),
    "exp2": (pt.exp2, None), "expm1": (pt.expm1, None), "log": (pt.log, POS),
    "log2": (pt.log2, POS), "log10": (pt.log10, POS), "log1p": (pt.log1p, POS),
    "sin": (pt.sin, None), "cos": (pt.cos, None), "tan": (pt.tan, UNIT),
    "arcsin": (pt.arcsin, UNIT), "arccos": (pt.arccos, UNIT), "arctan": (pt.arctan, None),
    "sinh": (pt.sinh, None), "cosh": (pt.cosh, None), "tanh": (pt.tanh, None),
    "arcsinh": (pt.arcsinh, None), "arccosh": (pt.arccosh, (1.1, 3.0)),
    "arctanh": (pt.arctanh, UNIT), "deg2rad": (pt.deg2rad, None),
    "rad2deg": (pt.rad2deg, None), "reciprocal": (pt.reciprocal, POS),
    "erf": (pt.erf, None), "erfc": (pt.erfc, None), "erfcx": (pt.erfcx, None),
    "erfinv": (pt.erfinv, UNIT), "erfcinv": (pt.erfcinv, (0.1, 1.9)),
    "gamma": (pt.gamma, POS), "gammaln": (pt.gammaln, POS), "psi": (pt.psi, POS),
    "tri_gamma": (pt.tri_gamma, POS), "sigmoid": (pt.sigmoid, None),
    "softplus": (pt.softplus, (-40.0, 40.0)), "log1mexp": (pt.log1mexp, (-3.0, -0.01)),
    "j0": (pt.j0, None), "j1": (pt.j1, None), "i0": (pt.i0, None), "i1": (pt.i1, None),
    "isnan": (pt.isnan, None), "isinf": (pt.isinf, None),
    "xlogx": (lambda x: pt.special.xlogy(x, x), (0.0, 2.0)),
    "identity": (lambda x: pt.tensor_copy(x) if hasattr(pt, "tensor_copy") else x + 0, None),
    "cast_int": (lambda x: pt.cast(x, "int32"), None),
    "cast_bool": (lambda x: pt.cast(x, "bool"), None),
    "invert": (lambda x: pt.invert(x > 0), None),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unary(name, dtype):
    fn, dom = UNARY[name]
    x = pt.vector("x", dtype=dtype)
    lo, hi = dom or (-3.0, 3.0)
    vals = np.append(RNG.uniform(lo, hi, 7), [lo, hi]).astype(dtype)
    if name == "round_even" or name == "round_away":
        vals = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3, -0.7], dtype=dtype)
    check([x], [fn(x)], [vals], rewrite=False)


BINARY = {
    "add": (pt.add, None), "sub": (pt.sub, None), "mul": (pt.mul, None),
    "true_div": (pt.true_div, POS), "int_div": (pt.int_div, POS), "mod": (pt.mod, POS),
    "pow": (pt.pow, POS), "maximum": (pt.maximum, None), "minimum": (pt.minimum, None),
    "arctan2": (pt.arctan2, None), "eq": (pt.eq, None), "neq": (pt.neq, None),
    "lt": (pt.lt, None), "gt": (pt.gt, None), "le": (pt.le, None), "ge": (pt.ge, None),
    "xlogy": (pt.special.xlogy, POS), "gammainc": (pt.gammainc, POS),
    "gammaincc": (pt.gammaincc, POS), "jv": (pt.jv, POS),
    "and": (lambda a, b: pt.and_(a > 0, b > 0), None),
    "or": (lambda a, b: pt.or_(a > 0, b > 0), None),
    "xor": (lambda a, b: pt.xor(a > 0, b > 0), None),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasting(name):
    fn, dom = BINARY[name]
    x, y = pt.matrix("x"), pt.row("y")
    lo, hi = dom or (-3.0, 3.0)
    vals = [RNG.uniform(lo, hi, (4, 3)), RNG.uniform(lo, hi, (1, 3))]
    check([x, y], [fn(x, y)], vals, rewrite=False)


@pytest.mark.parametrize(
    "xdt,ydt", [("int64", "int64"), ("int8", "int8"), ("int32", "float32"), ("int8", "float64"),
                ("float32", "float64"), ("uint8", "int16"), ("bool", "int8")])
@pytest.mark.parametrize("op", ["add", "mul", "true_div", "int_div", "mod", "maximum", "lt"])
def test_binary_dtypes(xdt, ydt, op):
    x, y = pt.vector("x", dtype=xdt), pt.vector("y", dtype=ydt)
    xv = RNG.integers(1, 5, 6).astype(xdt)
    yv = RNG.integers(1, 5, 6).astype(ydt)
    check([x, y], [getattr(pt, op)(x, y)], [xv, yv], rewrite=False)


@pytest.mark.parametrize("dtype", ["int8", "int64", "float32", "uint8"])
def test_mixed_with_constants(dtype):
    x = pt.vector("x", dtype=dtype)
    outs = [x * 2, x + 300, x * np.float64(0.1), x / 3, pt.exp(x), x * np.float32(0.1),
            pt.switch(x > 2, x, 0.5), x ** 2, pt.sqrt(x), pt.clip(x, 1, 3)]
    check([x], outs, [np.array([1, 2, 3, 4], dtype=dtype)], rewrite=False)


@REWRITE
def test_switch_clip_second_fill(rewrite):
    x, y = pt.matrix("x"), pt.vector("y")
    outs = [pt.switch(x > 0, x, y), pt.clip(x, -0.5, y), pt.second(x, y), pt.fill(x, 3.0),
            pt.zeros_like(x) + y, pt.ones_like(y, dtype="int32")]
    check([x, y], outs, [mat(), vec(3)], rewrite=rewrite)


def test_composite_fusion_readable():
    x, y = pt.vector("x"), pt.vector("y")
    z = pt.exp(x - y)
    out = z * pt.log1p(z) + pt.sqr(x) * 2.0
    fn = check([x, y], [out, z.sum()], [vec(), vec()], rewrite=True)
    # shared subexpressions are computed once, under a name
    # (log1p(exp(x - y)) becomes softplus(x - y), whose numpy form has an exp of its own)
    assert fn.source.count("np.exp(t0)") == 1 and fn.source.count("x - y") == 1


def test_scalar_ops_on_scalars():
    x, i = pt.scalar("x"), pt.lscalar("i")
    outs = [x * 2.0 + 1, pt.exp(x), i + 1, i // 2, pt.cast(i, "float32") / 3,
            pt.as_tensor(3.0) * i]
    check([x, i], outs, [np.array(0.7), np.array(5)], rewrite=True)


# ---------------------------------------------------------------------------
# Reductions, shapes, indexing
# ---------------------------------------------------------------------------

REDUCTIONS = {
    "sum": lambda x, a: pt.sum(x, axis=a), "prod": lambda x, a: pt.prod(x, axis=a),
    "max": lambda x, a: pt.max(x, axis=a), "min": lambda x, a: pt.min(x, axis=a),
    "all": lambda x, a: pt.all(x > 0, axis=a), "any": lambda x, a: pt.any(x > 1, axis=a),
    "mean": lambda x, a: pt.mean(x, axis=a), "argmax": lambda x, a: pt.argmax(x, axis=a),
    "argmin": lambda x, a: pt.argmin(x, axis=a),
    "logsumexp": lambda x, a: pt.logsumexp(x, axis=a),
    "sum_kd": lambda x, a: pt.sum(x, axis=a, keepdims=True),
    "prod_nz": lambda x, a: pt.prod(x, axis=a, no_zeros_in_input=True),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=str)
@REWRITE
def test_reductions(name, axis, rewrite):
    if name in ("argmax", "argmin") and isinstance(axis, tuple):
        axis = 1
    x = pt.tensor3("x")
    check([x], [REDUCTIONS[name](x, axis)], [RNG.uniform(-2, 2, (2, 3, 4))], rewrite=rewrite)


@pytest.mark.parametrize("dtype,kw", [("int8", {}), ("int8", {"dtype": "int8"}),
                                      ("float32", {}), ("float32", {"acc_dtype": "float64"}),
                                      ("bool", {}), ("uint8", {"dtype": "float64"})])
def test_reduction_dtypes(dtype, kw):
    x = pt.matrix("x", dtype=dtype)
    xv = RNG.integers(0, 3, (3, 4)).astype(dtype)
    check([x], [pt.sum(x, axis=0, **kw), pt.prod(x, **kw), pt.max(x, axis=1)], [xv],
          rewrite=False)


@REWRITE
def test_dimshuffle(rewrite):
    x, c = pt.tensor3("x"), pt.col("c")
    s = pt.scalar("s")
    outs = [x.dimshuffle(2, 0, 1), x.dimshuffle("x", 0, 1, 2), x.dimshuffle(0, "x", 2, 1),
            c.dimshuffle(0), c.dimshuffle(1, 0), c.dimshuffle("x", 1, 0), s.dimshuffle("x", "x"),
            x.T, x[:, None, :, None]]
    check([x, c, s], outs, [RNG.normal(size=(2, 3, 4)), RNG.normal(size=(3, 1)), np.array(2.0)],
          rewrite=rewrite)


@REWRITE
def test_shape_reshape(rewrite):
    x = pt.matrix("x")
    n = pt.lscalar("n")
    outs = [x.reshape((-1,)), x.reshape((2, n)), x.shape, x.shape[1] * 2, x.flatten(),
            pt.specify_shape(x, (4, None)) * 2, pt.shape_padleft(x), x.reshape((x.shape[1], -1))]
    check([x, n], outs, [mat(4, 3), np.array(6)], rewrite=rewrite)


@REWRITE
def test_subtensor(rewrite):
    x = pt.matrix("x")
    i, j = pt.lscalar("i"), pt.lscalar("j")
    outs = [x[1:], x[::-1, 2], x[-2:, :-1], x[i], x[i, j], x[i:j:2], x[:, ::2], x[1, -1],
            x[::-2, i:], x[j, -i]]
    check([x, i, j], outs, [mat(5, 4), np.array(1), np.array(3)], rewrite=rewrite)


@REWRITE
def test_advanced_subtensor(rewrite):
    x = pt.matrix("x")
    idx, idx2 = pt.lvector("idx"), pt.lvector("idx2")
    outs = [x[idx], x[idx, idx2], x[:, idx], x[idx, 1:], x[x > 0], x[pt.arange(3), idx2]]
    check([x, idx, idx2], outs, [mat(5, 4), np.array([0, 2, 2]), np.array([1, 3, 1])],
          rewrite=rewrite)


@REWRITE
def test_inc_subtensor(rewrite):
    x, y, v = pt.matrix("x"), pt.vector("y"), pt.scalar("v")
    idx = pt.lvector("idx")
    outs = [pt.set_subtensor(x[1:3], y), pt.inc_subtensor(x[1:3], y), pt.inc_subtensor(x[0, 1], v),
            pt.set_subtensor(x[:, -1], v), pt.inc_subtensor(x[idx], y),  # repeated rows
            pt.set_subtensor(x[idx], y), pt.inc_subtensor(x[idx, idx], v),
            pt.inc_subtensor(x[pt.arange(3), idx], 2.0),
            pt.inc_subtensor(x[idx], y, ignore_duplicates=True),
            pt.inc_subtensor(x[:, idx], y[:3]), pt.inc_subtensor(x[x > 0], v)]
    vals = [mat(5, 4), vec(4), np.array(0.5), np.array([0, 2, 0])]
    check([x, y, v, idx], outs, vals, rewrite=rewrite)


def test_add_at_semantics_in_source():
    x, y, idx = pt.vector("x"), pt.vector("y"), pt.lvector("idx")
    fn = check([x, y, idx], [pt.inc_subtensor(x[idx], y)], [vec(4), vec(3), np.array([1, 1, 2])])
    assert "np.add.at" in fn.source


@REWRITE
def test_alloc_join_split_arange_eye(rewrite):
    x, y, n = pt.matrix("x"), pt.vector("y"), pt.lscalar("n")
    a, b, c = pt.split(x, [1, 2, 1], n_splits=3, axis=0)
    outs = [pt.alloc(y, 4, 3), pt.zeros((n, 2)), pt.full((2, n), 7, dtype="int16"),
            pt.join(0, x, x * 2), pt.concatenate([x, y[None, :]], axis=0),
            pt.stack([y, y]), a, b, c, pt.arange(n), pt.arange(1, n, 2),
            pt.arange(0.5, 3.0, 0.5), pt.eye(n), pt.eye(n, 3, 1, dtype="int32"),
            pt.tri(n, 3, -1), pt.tril(x), pt.triu(x, 1), pt.zeros_like(x, dtype="bool"),
            pt.empty((2, 0)).shape]
    check([x, y, n], outs, [mat(4, 3), vec(3), np.array(3)], rewrite=rewrite)


def test_alloc_of_negative_zero_keeps_its_sign():
    # np.full(n, -0.0) is -0.0 everywhere; the generated code must not emit np.zeros
    n = pt.lscalar("n")
    out = pt.alloc(np.float64(-0.0), n)
    fn = _generated([n], [out], rewrite=False)
    assert np.signbit(fn(np.array(3))[0]).all(), fn.source


@REWRITE
def test_dot_and_blas(rewrite):
    A, B, C = pt.matrix("A"), pt.matrix("B"), pt.matrix("C")
    u, v, a = pt.vector("u"), pt.vector("v"), pt.scalar("a")
    outs = [A @ B, A @ u, u @ B, u @ u, 2.0 * (A @ B), C + a * (A @ B), C - A @ B,
            a * (A @ u) + 3.0 * v[:4], A + pt.outer(v[:4], u), pt.dot(u, A.T),
            pt.tensordot(A, B, axes=[[1], [0]])]
    vals = [mat(4, 3), mat(3, 5), mat(4, 5), vec(3), vec(5), np.array(0.7)]
    check([A, B, C, u, v, a], outs, vals, rewrite=rewrite)


@REWRITE
def test_batched_matmul(rewrite):
    x, y, m = pt.tensor3("x"), pt.tensor3("y"), pt.matrix("m")
    outs = [x @ y, x @ m, pt.matmul(m, y), pt.einsum("bij,bjk->bik", x, y)]
    vals = [RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 4, 5)), RNG.normal(size=(4, 5))]
    vals[2] = RNG.normal(size=(4, 4))
    vals[1] = RNG.normal(size=(2, 4, 4))
    check([x, y, m], outs, vals, rewrite=rewrite)


@REWRITE
def test_softmax_family(rewrite):
    x, gz = pt.matrix("x"), pt.matrix("gz")
    sm = pt.special.softmax(x, axis=1)
    lsm = pt.special.log_softmax(x, axis=0)
    outs = [sm, lsm, pt.special.softmax(x, axis=None), grad((sm * gz).sum(), x),
            grad((lsm * gz).sum(), x), pt.logsumexp(x, axis=1)]
    check([x, gz], outs, [mat(3, 4), mat(3, 4)], rewrite=rewrite)


@REWRITE
def test_extra_ops(rewrite):
    x, r = pt.matrix("x"), pt.lvector("r")
    outs = [pt.cumsum(x, axis=0), pt.cumprod(x, axis=1), pt.cumsum(x), pt.sort(x, axis=1),
            pt.argsort(x, axis=0), pt.repeat(x, r, axis=0), pt.repeat(x, 2, axis=1),
            pt.diagonal(x), pt.diagonal(x, 1), pt.diag(x[0]), pt.diag(x[:, 0], k=-1),
            pt.argmax(x, axis=0), pt.max(x, axis=1), pt.searchsorted(pt.sort(x[0]), x[1])]
    check([x, r], outs, [mat(4, 4), np.array([1, 0, 2, 1])], rewrite=rewrite)


@REWRITE
def test_assert_raises(rewrite):
    from pytensor.raise_op import Assert

    x = pt.vector("x")
    out = Assert("x must be positive")(x * 2, pt.all(x > 0))
    fn = _generated([x], [out], rewrite)
    np.testing.assert_allclose(fn(np.array([1.0, 2.0]))[0], [2.0, 4.0])
    with pytest.raises(AssertionError, match="x must be positive"):
        fn(np.array([1.0, -2.0]))


def test_broadcast_check_raises_like_pytensor():
    x, y = pt.vector("x"), pt.vector("y")
    fn = _generated([x, y], [(x + y).sum(), grad((x * y).sum(), x)], rewrite=True)
    fn(vec(3), vec(3))
    with pytest.raises((AssertionError, ValueError)):
        fn(vec(3), vec(4))


# ---------------------------------------------------------------------------
# Linear algebra (plain and Blockwise-batched)
# ---------------------------------------------------------------------------


def _spd(n, batch=()):
    a = RNG.normal(size=(*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


LINALG = {
    "inv": lambda a, b: pt.linalg.inv(a),
    "det": lambda a, b: pt.linalg.det(a),
    "slogdet": lambda a, b: list(pt.linalg.slogdet(a)),
    "eigh": lambda a, b: list(pt.linalg.eigh(a)),
    "eig": lambda a, b: list(pt.linalg.eig(a)),
    "svd": lambda a, b: list(pt.linalg.svd(a)),
    "svd_vals": lambda a, b: pt.linalg.svd(a, compute_uv=False),
    "qr": lambda a, b: list(pt.linalg.qr(a)),
    "cholesky": lambda a, b: pt.linalg.cholesky(a),
    "solve": lambda a, b: pt.linalg.solve(a, b),
    "solve_pos": lambda a, b: pt.linalg.solve(a, b, assume_a="pos"),
    "solve_triangular": lambda a, b: pt.linalg.solve_triangular(pt.tril(a), b, lower=True),
    "pinv": lambda a, b: pt.linalg.pinv(a),
    "grad_logdet": lambda a, b: grad(pt.log(pt.linalg.det(a)).sum(), a),
    "grad_solve": lambda a, b: grad(pt.linalg.solve(a, b).sum(), [a, b]),
}


@pytest.mark.parametrize("name", sorted(LINALG))
@pytest.mark.parametrize("batched", [False, True], ids=["core", "batched"])
def test_linalg(name, batched):
    batch = (2,) if batched else ()
    if name == "slogdet" and batched and PYTENSOR_VERSION < (3, 3):
        # PyTensor 3.0's own rewrites crash on a batched SLogDet, so compare the
        # code generated from the un-rewritten graph with numpy directly.
        a = pt.tensor("a", shape=(None,) * 3)
        fn = _generated([a], list(LINALG[name](a, a)), False, "error")
        val = _spd(3, batch)
        sign, logdet = fn(val)
        want_sign, want_logdet = np.linalg.slogdet(val)
        np.testing.assert_allclose(sign, want_sign)
        np.testing.assert_allclose(logdet, want_logdet, rtol=1e-12)
        return
    a = pt.tensor("a", shape=(None,) * (len(batch) + 2))
    b = pt.tensor("b", shape=(None,) * (len(batch) + 2))
    out = LINALG[name](a, b)
    outs = out if isinstance(out, list) else [out]
    vals = [_spd(3, batch), RNG.normal(size=(*batch, 3, 2))]
    # same LAPACK routines as PyTensor, so even signs of eigenvectors agree
    check([a, b], outs, vals, rewrite=True, rtol=1e-9)


def test_solve_vector_rhs():
    a, b = pt.matrix("a"), pt.vector("b")
    outs = [pt.linalg.solve(a, b), *grad(pt.linalg.solve(a, b).sum(), [a, b])]
    check([a, b], outs, [_spd(3), vec(3)], rewrite=True, rtol=1e-9)


def test_linalg_failure_gives_nan_like_pytensor():
    a = pt.matrix("a")
    check([a], [pt.linalg.cholesky(a)], [-np.eye(3)], rewrite=False)


# ---------------------------------------------------------------------------
# Generated code properties
# ---------------------------------------------------------------------------


def test_deterministic_and_named_inputs():
    inputs, outputs, _ = model_loglinear()
    fg1 = rewrite_graph(FunctionGraph(inputs, outputs, clone=True))
    fg2 = rewrite_graph(FunctionGraph(inputs, outputs, clone=True))
    s1, ns1 = fgraph_to_source(fg1, name="loss_and_grad")
    s2, _ = fgraph_to_source(fg2, name="loss_and_grad")
    assert s1 == s2
    assert "def loss_and_grad(X, y, W, b):" in s1
    assert ns1["np"] is np
    s3, _ = fgraph_to_source(fg1, input_names=["a", "b", "c", "d"], header="generated")
    assert s3.startswith("# generated\n") and "def f(a, b, c, d):" in s3


def test_input_name_sanitizing():
    x, y, z = pt.vector("x.1"), pt.vector("x.1"), pt.vector()
    src, _ = fgraph_to_source(FunctionGraph([x, y, z], [x + y + z], clone=True))
    assert "def f(x_1, x_1_1, x2):" in src


def test_no_dead_code_and_single_output_tuple():
    A, x = pt.matrix("A"), pt.vector("x")
    fg = rewrite_graph(FunctionGraph([A, x], [A @ x], clone=True))
    fn = compile_fgraph(fg)
    assert "np.empty" not in fn.source  # Gemv's output buffer is ignored when beta == 0
    out = fn(mat(3, 2), vec(2))
    assert isinstance(out, tuple) and len(out) == 1


def test_large_constants_go_to_namespace():
    x = pt.vector("x")
    c = pt.constant(np.arange(100.0), name="weights")
    src, ns = fgraph_to_source(FunctionGraph([x], [x * c + pt.constant(np.array([1.0, 2.0]))[0]],
                                             clone=True))
    name = next(k for k, v in ns.items() if isinstance(v, np.ndarray))
    assert name in src and ns[name].shape == (100,)
    check([x], [x * c], [vec(100)], rewrite=False)


@REWRITE
def test_edge_outputs(rewrite):
    from pytensor.compile.ops import deep_copy_op

    x, f32, unused = pt.vector("x"), pt.vector("f32", dtype="float32"), pt.scalar("unused")
    outs = [x, deep_copy_op(x), pt.constant(2.5), pt.constant(np.arange(3, dtype="int8")),
            x.shape[0], x.shape[0] * f32, f32.sum(), pt.cast(x.shape[0], "float32") * 0.5,
            x.shape[0] > 2]
    check([x, f32, unused], outs, [vec(4), vec(4, "float32"), np.array(1.0)], rewrite=rewrite)


def test_no_inputs():
    fn = compile_fgraph(FunctionGraph([], [pt.arange(3) * 2.0]))
    np.testing.assert_array_equal(fn()[0], [0.0, 2.0, 4.0])


def test_docstring_example():
    x = pt.vector("x")
    y = pt.exp(x).sum()
    fg = rewrite_graph(FunctionGraph([x], [y, grad(y, x)]))
    f = compile_fgraph(fg, name="f")
    assert f.source.count("np.exp(") == 1
    value, g = f(np.arange(3.0))
    np.testing.assert_allclose(g, np.exp(np.arange(3.0)))
    np.testing.assert_allclose(value, np.exp(np.arange(3.0)).sum())


def test_products_are_computed_once():
    A, B, C = pt.matrix("A"), pt.matrix("B"), pt.matrix("C")
    fn = check([A, B, C], [A @ B, C + 0.5 * (A @ B), (A @ B).sum()],
               [mat(3, 4), mat(4, 2), mat(3, 2)])
    assert fn.source.count("A @ B") == 1


@REWRITE
def test_operator_precedence(rewrite):
    x, y, z = pt.vector("x"), pt.vector("y"), pt.vector("z")
    outs = [-(x ** 2), (-x) ** 2, x - (y - z), (x - y) - z, x / (y * z), (x / y) * z,
            pt.eq(x < y, y < z), 2.0 ** (-x), x ** (y ** 2), (x ** y) ** 2, -(-x),
            pt.invert(pt.and_(x > 0, pt.or_(y > 0, z > 0))), x % (y + 3.0), (x + 1.0) // (y + 3.0),
            pt.sqr(x - y) * pt.neg(z), 1.0 / (1.0 + pt.exp(-x)), x * -1.0 - -y]
    vals = [vec(6, low=0.5, high=2.0), vec(6, low=0.5, high=2.0), vec(6)]
    check([x, y, z], outs, vals, rewrite=rewrite)


def test_sigmoid_of_an_expression_is_numpy_only_and_accurate_in_both_tails():
    # regression: the sigmoid template once negated only the first term of its argument
    x, y = pt.vector("x"), pt.vector("y")
    out = pt.sigmoid(x * 2.0 + y)
    fn = check([x, y], [out], [np.array([-40.0, -3.0, 0.0, 3.0, 40.0]), np.full(5, 0.5)])
    assert "scipy" not in fn.source
    got = fn(np.array([-40.0]), np.array([0.0]))[0]
    np.testing.assert_allclose(got, 1 / (1 + np.exp(80.0)), rtol=1e-13)


def test_empty_constants_keep_their_shape():
    # regression: an empty constant was written as a nested list, np.array([]) of
    # shape (0,), so (0, 1) * (0, 3) failed to broadcast
    x = pt.tensor("x", shape=(0, 3), dtype="float64")
    fn = check([x], [pt.constant(np.zeros((0, 1))) * x, pt.constant(np.zeros((2, 0))) @ x],
               [np.zeros((0, 3))], rewrite=False)
    assert "np.empty((0, 1)" in fn.source


@pytest.mark.parametrize("n", [300, 2000])
def test_deep_fused_kernel_is_split_into_statements(n):
    # regression: a long scalar recurrence fuses into one Composite, rendered as one
    # expression nested n levels deep: "too many nested parentheses" (200 is the limit)
    s = pt.scalar("s", dtype="float64")
    y = s
    for _ in range(n):
        y = y * 1.0001 + 1.0
    fn = _generated([s], [y], rewrite=True)
    want = 1.0
    for _ in range(n):
        want = want * 1.0001 + 1.0
    assert float(fn(np.float64(1.0))[0]) == want  # same operations in the same order
    assert max(line.count("(") for line in fn.source.splitlines()) < 100


def test_deep_elementwise_graph_without_fusion():
    # the same recurrence on arrays, before any rewrite (no Composite): one node per step
    x = pt.vector("x", dtype="float64")
    y = x
    for _ in range(300):
        y = pt.tanh(y) * 0.5 + x
    check([x], [y], [vec(4)], rewrite=False)


@pytest.mark.parametrize("batch_shape", [(2,), (4, 2)])
def test_blockwise_op_from_graph_output_independent_of_the_batch_keeps_its_batch_shape(batch_shape):
    # Inlining vectorizes the inner graph; an output that reads only the
    # unbatched input came out with the padding 1s instead of the batch shape.
    from pytensor.compile.builders import OpFromGraph
    from pytensor.tensor.blockwise import Blockwise

    a, b = pt.dvector("a"), pt.dvector("b")
    op = Blockwise(OpFromGraph([a, b], [a * b, b * 2.0]), signature="(n),(n)->(n),(n)")
    A = pt.tensor("A", dtype="float64", shape=(None,) * (len(batch_shape) + 1))
    B = pt.dvector("B")
    check([A, B], list(op(A, B)), [RNG.normal(size=(*batch_shape, 3)), RNG.normal(size=3)])


def test_a_matrix_product_used_twice_is_computed_once():
    # local_dot22_to_dot22scalar folded the -2 of `-2 * (X @ v) * t` into a
    # second GEMM although X @ v was computed for the other output anyway
    # (found in the MLP Hessian-vector product: 4 large GEMMs instead of 3).
    X = pt.tensor("X", dtype="float64", shape=(30, 40))
    v = pt.tensor("v", dtype="float64", shape=(40, 20))
    t = pt.tensor("t", dtype="float64", shape=(30, 20))
    xv = X @ v
    outputs = [xv * t + 1.0, (-2.0 * xv) * pt.exp(t)]
    check([X, v, t], outputs, [RNG.normal(size=(30, 40)), RNG.normal(size=(40, 20)), RNG.normal(size=(30, 20))])
    source = _generated([X, v, t], outputs, rewrite=True).source
    assert source.count("@") == 1, source


def test_a_scalar_times_a_matrix_product_used_once_still_becomes_one_gemm():
    X = pt.tensor("X", dtype="float64", shape=(30, 40))
    v = pt.tensor("v", dtype="float64", shape=(40, 20))
    fg = FunctionGraph([X, v], [(-2.0 * (X @ v)) * pt.exp(X[:, :20])], clone=True)
    rewrite_graph(fg)
    assert any(type(n.op).__name__ == "Dot22Scalar" for n in fg.apply_nodes), fg.toposort()


def test_negated_broadcast_sum_does_not_send_the_rewrites_around_a_cycle():
    # -expand_dims(a + b): the IEEE-safe add canonizer rebuilt it as a fill that two
    # other rewrites turned back into the same node, forever (the graph grew by the
    # minute; found by the long fuzz). An alarm turns a regression into a failure.
    import math
    import signal

    import scipy.special

    import pyautodiff as ad

    W = np.cos(np.arange(8) * 0.7 + 0.3).reshape(4, 2, 1) + 1.5

    def f(a):
        v = a * 1.1 + math.atanh(0.72 * math.tanh(a))
        return np.sum(np.fmin(v + np.zeros((4, 2, 1)), scipy.special.ndtr(v + np.zeros((2, 1)))) * W)

    a = 1.955656746421865
    v = a * 1.1 + math.atanh(0.72 * math.tanh(a))  # > ndtr(v): fmin takes ndtr everywhere
    dv = 1.1 + 0.72 * (1 - math.tanh(a) ** 2) / (1 - (0.72 * math.tanh(a)) ** 2)
    expected = W.sum() * math.exp(-v * v / 2) / math.sqrt(2 * math.pi) * dv

    def hung(signum, frame):
        raise AssertionError("rewriting did not terminate")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        got = ad.grad(f, mode="numpy")(a)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("mode", ["numpy", "py"])
def test_squeezed_length_one_slice_of_a_reversed_vector_is_its_last_element(mode):
    # PyTensor's local_dimshuffle_subtensor turned squeeze(a[::-1][:1]) into a[0],
    # ignoring the negative step (found by the long fuzz as a[0:1] @ flip(a)[0:1]).
    import pyautodiff as ad

    def f(a):
        r = a[::-1]
        return a[0:1] @ r[0:1], np.sum(a[1:2] * a[2:0:-1][:1]), a[::-2][0:1].sum()

    a = np.array([1.0, 2.0, 3.0])
    got = ad.function(f, mode=mode)(a)
    assert got == f(a) == (3.0, 6.0, 3.0)
    assert_grad = ad.grad(lambda a: f(a)[0] + f(a)[1], mode=mode)(a)
    np.testing.assert_array_equal(assert_grad, [3.0, 3.0, 3.0])  # a0*a2 + a1*a2


@pytest.mark.parametrize("mode", ["numpy", "py"])
def test_gradient_through_a_flipped_batched_matmul_has_no_shape_error(mode):
    # PyTensor's local_subtensor_of_batch_dims built a wrongly shaped graph here (found
    # by the long fuzz); by hand: every entry of the product is 3 a^2, four of them
    import pyautodiff as ad

    def f(a):
        p0 = a + np.zeros((2, 2, 1))
        return np.sum(np.exp(np.flip(p0 + np.zeros((2, 2, 3)), axis=0) @ (np.ones((3, 1)) * np.mean(p0))))

    a = np.array([-0.001])
    np.testing.assert_allclose(ad.grad(f, mode=mode)(a), 24 * a * np.exp(3 * a ** 2), rtol=1e-13)


@pytest.mark.parametrize("mode", ["numpy", "py"])
def test_a_float32_mean_broadcast_into_float64_keeps_its_rounding(mode):
    # The canonizer flattened float64(ones) * (float32 sum / 6) into one float64
    # product, so max and min of the array rounded differently and np.ptp came out
    # negative (found by the long fuzz); numpy rounds the mean to float32 first.
    import pyautodiff as ad

    def f(a):
        v = np.ones((2, 2)) * np.mean(a)
        return np.min(v), np.max(v), np.ptp(v), np.where(np.ptp(v) < 0.0, 0.0, v[0, 0])

    a = np.array([[[0.5, -1.0, 0.0], [0.0, 0.0, 0.0]]], dtype=np.float32)
    got = ad.function(f, mode=mode)(a)
    assert [float(g) for g in got] == [float(e) for e in f(a)]
    assert float(got[2]) == 0.0


@pytest.mark.parametrize("mode", ["numpy", "py"])
def test_nanvar_of_float32_data_is_computed_in_float32_like_var(mode):
    # an int64 count made np.nanvar's steps float64, so np.nanvar(a) > np.var(a)
    # held where numpy has them equal (found by the long fuzz)
    import pyautodiff as ad

    def f(a):
        return np.nanvar(a), np.var(a), np.nanvar(a) > np.var(a)

    a = np.array([2.21875, 1.7910206317901611], dtype=np.float32)
    got = ad.function(f, mode=mode)(a)
    assert got[0].dtype == np.float32 and got[0] == f(a)[0] and not got[2]
    # float16 data: more elements than a float16 count can hold
    h = np.linspace(0.0, 1.0, 70_000).astype(np.float16)
    assert ad.function(np.nanvar, mode=mode)(h) == pytest.approx(float(np.nanvar(h)), rel=2e-3)


@pytest.mark.parametrize("mode", ["numpy", "py"])
def test_alloc_of_a_computed_broadcast_dimension_is_no_shape_error(mode):
    # local_merge_alloc asserted n == 1 for a computed (non-constant) 1 that
    # broadcasts, which made a valid program raise (found by the long fuzz)
    import pyautodiff as ad

    def f(b):
        v = b + np.zeros((2, 3, 3))
        w = v[::-1]
        w += np.hstack((v[:, 1:, -1:], v[:, :-2, :1]))
        return v, v[:, 2]

    b = np.array([[1.8]])
    got = ad.function(f, mode=mode)(b)
    for g, e in zip(got, f(b)):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("mode", ["numpy", "py"])
def test_prod_over_an_axis_a_factor_broadcasts_along(mode):
    # PyTensor 3.3's local_sum_prod_of_mul_or_div made prod(a * b) over an axis along which
    # a broadcasts a ** 1 * prod(b) instead of a ** n * prod(b) (found by the long fuzz)
    import pyautodiff as ad

    def f(m, p):
        return np.prod(np.exp(np.ones((3, 2, 3)) * m) * (p > 0.24), axis=(0, 2))

    p = np.full((1, 3), 0.5)
    np.testing.assert_allclose(ad.function(f, mode=mode)(0.1, p), np.full(2, np.exp(0.9)), rtol=1e-14)
    # d/dm of exp(9 m), by hand
    np.testing.assert_allclose(ad.grad(lambda m, p: f(m, p).sum(), mode=mode)(0.1, p),
                               2 * 9 * np.exp(0.9), rtol=1e-12)


def test_sigmoid_and_softplus_accurate_in_both_tails_without_warnings():
    # references: the textbook forms where they neither overflow nor underflow (|x| < 700),
    # the asymptotes exp(x) (lower tail) and 1 / x beyond
    x = pt.vector("x")
    xs = np.array([-800.0, -745.0, -740.0, -700.0, -30.0, -1e-8, -0.0, 0.0, 2.5, 30.0, 40.0, 800.0,
                   np.inf, -np.inf, np.nan])
    fn = _generated([x], [pt.sigmoid(x), pt.softplus(x)], True, "error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sig, sp = fn(xs)
    mid = np.abs(xs) < 700
    np.testing.assert_allclose(sig[mid], 1 / (1 + np.exp(-xs[mid])), rtol=1e-15)
    np.testing.assert_allclose(sp[mid], np.log1p(np.exp(xs[mid])), rtol=1e-15)
    # lower tail: sigmoid(x) = exp(x) (1 - exp(x) + ...), softplus(x) = exp(x) too, down to subnormals
    low = xs[:3]
    np.testing.assert_allclose(sig[:3], np.exp(low), rtol=1e-13)
    np.testing.assert_allclose(sp[:3], np.exp(low), rtol=1e-13)
    assert sig[11] == 1.0 and sp[11] == 800.0
    np.testing.assert_array_equal(sig[-3:], [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(sp[-3:], [np.inf, 0.0, np.nan])


def test_each_replaced_rewrite_has_its_safe_twin_wherever_it_is_registered():
    # safe_rewrites registers, beside every rewrite it replaces, a "safe_" twin in each
    # database holding the original (a sequence: at the original's position)
    from pytensor.compile.mode import optdb
    from pytensor.graph.rewriting.db import RewriteDatabase, SequenceDB

    from pyautodiff.backend import safe_rewrites

    safe_rewrites._ensure_registered()

    def holders(db, name):  # an independent walk: every database naming ``name``
        found = [db] if name in db._names else []
        for sub_name in db._names:
            for sub in db.__db__[sub_name]:
                if isinstance(sub, RewriteDatabase):
                    found += holders(sub, name)
        return found

    replaced = [*safe_rewrites._GUARDED, *safe_rewrites._CANONIZERS]
    assert replaced
    checked = 0
    for name in replaced:
        dbs = holders(optdb, name)
        if not dbs:  # not in this PyTensor (selection_dot_to_indexing came after 3.0.3): no twin
            assert not holders(optdb, f"safe_{name}"), name
            continue
        checked += 1
        assert [id(d) for d in holders(optdb, f"safe_{name}")] == [id(d) for d in dbs], name
        for db in dbs:
            if isinstance(db, SequenceDB):
                assert db.__position__[f"safe_{name}"] == db.__position__[name]
    assert checked >= len(replaced) - 2  # nearly all are in every PyTensor we support


def _in_place_cases():
    A, w = pt.matrix("A", shape=(6, 3)), pt.vector("w", shape=(3,))
    y, c, c1 = pt.vector("y", shape=(6,)), pt.matrix("c", shape=(6, 4)), pt.matrix("c1", shape=(6, 1))
    a, b = pt.matrix("a", shape=(3, 1)), pt.matrix("b", shape=(3, 1))
    AL, yL = pt.matrix("AL", shape=(20_000, 3)), pt.vector("yL", shape=(20_000,))
    y32 = pt.vector("y32", shape=(6,), dtype="float32")
    A32 = pt.matrix("A32", shape=(6, 3), dtype="float32")
    w32 = pt.vector("w32", shape=(3,), dtype="float32")
    Aw = pt.dot(A, w)
    return {
        # the matrix product's buffer takes the product and the quotient
        "mul": ([A, w, y], [pt.exp(y * Aw)], "*= y"),
        "div, left": ([A, w, y], [pt.exp(Aw / y)], "/= y"),
        # not where the other operand is on the left of a non-commutative op
        "div, right": ([A, w, y], [pt.exp(y / Aw)], None),
        # nor where its buffer is read elsewhere, or would widen or grow
        "read twice": ([A, w, y], [pt.exp(y * Aw), Aw], None),
        "wider dtype": ([A32, w32, y], [pt.exp(y * pt.dot(A32, w32))], None),
        "larger shape": ([a, b, c], [pt.exp(c * pt.concatenate([a, b], axis=0))], None),  # (6, 1) with (6, 4)
        "same shape": ([a, b, c1], [pt.exp(c1 * pt.concatenate([a, b], axis=0))], "*= c1"),
        "narrower other": ([A32, w32, y32], [pt.exp(y32 * pt.dot(A32, w32))], "*= y32"),
        # nor into a block above 128 KiB (which allocation then faults pages is not predictable)
        "large block": ([AL, w, yL], [pt.exp(yL * pt.dot(AL, w))], None),
    }


@pytest.mark.parametrize("case", list(_in_place_cases()))
def test_a_fused_kernel_writes_into_a_fresh_operand_only_where_nothing_changes(case):
    inputs, outputs, op = _in_place_cases()[case]
    fn = check(inputs, outputs, [RNG.uniform(-2.0, 2.0, size=v.type.shape).astype(v.type.dtype) for v in inputs])
    if op is None:
        assert not any(f" {s}= " in fn.source for s in "*+-/"), fn.source
    else:
        assert op in fn.source, fn.source


def test_a_sparse_write_added_to_a_broadcast_logs_no_rewrite_failure(caplog):
    # PyTensor 3.0's local_add_of_sparse_write made x + zeros[idx].set(v) with a broadcasting x
    # an increment of x's (smaller) shape: a failed type check logged as a traceback, per node
    # (84 of them for the gradient of a rolled double loop)
    import logging

    import pyautodiff as ad

    def f(x):
        m = x.shape[0]
        s = 0.0
        for i in range(m):
            for j in range(m):
                s = s + np.sin(x[i] * x[j])
        return s

    x = np.random.default_rng(0).normal(size=24)
    with caplog.at_level(logging.ERROR, logger="pytensor"):
        got = ad.grad(f)(x)
    assert not [r for r in caplog.records if r.name.startswith("pytensor")]
    hand = np.array([2 * np.sum(np.cos(x[i] * x) * x) for i in range(24)])  # by hand
    np.testing.assert_allclose(got, hand, rtol=1e-12, atol=1e-12)
