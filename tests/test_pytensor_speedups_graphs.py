"""PyTensor's per-node costs taken away by ``backend.pytensor_speedups`` change no result.

The reference is PyTensor's own code: the originals the speedups keep as ``__wrapped__``
are put back, and the same graphs are rewritten again."""
import io
import pickle

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.optimize
from pytensor.graph.fg import FunctionGraph
from pytensor.tensor.basic import get_scalar_constant_value
from pytensor.tensor.rewriting.shape import ShapeFeature
from pytensor.tensor.type import TensorType
from pytensor.tensor.variable import TensorConstant

import pyautodiff as ad
from pyautodiff import transforms
from pyautodiff.backend import pytensor_speedups
from pyautodiff.backend.rewrite import rewrite_graph

pytensor_speedups.install()
EAGER_SHAPES = hasattr(ShapeFeature, "set_shape")  # PyTensor before 3.3


@pytest.fixture
def originals(monkeypatch):
    """Put PyTensor's own functions back while the test runs."""
    def restore():
        monkeypatch.setattr(TensorConstant, "signature", TensorConstant.signature.__wrapped__)
        monkeypatch.setattr(TensorType, "__init__", TensorType.__init__.__wrapped__)
        if EAGER_SHAPES:
            monkeypatch.setattr(ShapeFeature, "on_import", ShapeFeature.on_import.__wrapped__)
            monkeypatch.setattr(ShapeFeature, "shape_ir", ShapeFeature.shape_ir.__wrapped__)
    return restore


def test_equal_constants_compare_and_hash_equal_nan_and_inf_included():
    a = pt.constant(np.array([1.0, np.nan, np.inf, -0.0]))
    b = pt.constant(np.array([1.0, np.nan, np.inf, -0.0]))
    c = pt.constant(np.array([1.0, np.nan, -np.inf, -0.0]))
    for _ in range(2):  # the second time from the kept signatures
        assert a.equals(b) and b.equals(a)
        assert hash(a.signature()) == hash(b.signature())
        assert not a.equals(c)


def test_a_constant_given_new_data_gets_a_new_signature():
    a = pt.constant(np.array([1.0, 2.0]))
    b = pt.constant(np.array([1.0, 2.0]))
    assert a.equals(b)
    a.data = np.array([1.0, 3.0])
    assert not a.equals(b)
    assert a.signature()[1] is a.data


def test_the_kept_signature_is_not_part_of_the_constant():
    a = pt.constant(np.arange(3.0))
    before = pickle.dumps(a.data)
    a.signature()
    assert not any("signature" in k for k in vars(a))
    assert pickle.loads(pickle.dumps(a)).equals(a)
    assert pickle.dumps(a.data) == before


@pytest.mark.parametrize("dtype, shape", [
    ("float64", (3, None)), ("float32", ()), ("int64", (1, 1, None)), ("bool", (None,)),
    ("complex128", (2,)), ("float64", [True, False]), ("float64", (np.int64(4),)), ("floatX", (2,)),
])
def test_a_tensor_type_has_the_attributes_pytensor_gives_it(dtype, shape):
    original = TensorType.__init__.__wrapped__
    for _ in range(2):  # the second time the dtype name is known
        want = TensorType.__new__(TensorType)
        original(want, dtype, shape, "t")
        got = TensorType(dtype, shape=shape, name="t")
        assert vars(got) == vars(want)
        assert got == want and hash(got) == hash(want)


def test_a_bad_dtype_or_shape_is_still_refused():
    with pytest.raises(TypeError):
        TensorType("float65", shape=(2,))
    with pytest.raises(ValueError):
        TensorType("float64", shape=(2.5,))


def _hessian_graph(n):
    x = pt.vector("x", shape=(n,))
    cost = pt.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    req = transforms.Request("hessian", [cost], 0.0, [x], ["x"], "rosen")
    outs, _ = transforms.build_hessian(req)
    return [x], outs


def _rewritten_text(inputs, outputs):
    fg = rewrite_graph(FunctionGraph(inputs, outputs, clone=True))
    out = io.StringIO()
    pytensor.dprint(fg, file=out, print_type=True)
    return out.getvalue()


@pytest.mark.parametrize("n", [5, 40])
def test_a_hessian_graph_is_rewritten_exactly_as_with_pytensors_own_code(originals, n):
    fast = _rewritten_text(*_hessian_graph(n))
    originals()
    assert _rewritten_text(*_hessian_graph(n)) == fast


def test_a_graph_of_unknown_shapes_is_rewritten_exactly_as_with_pytensors_own_code(originals):
    def graph():
        x, w = pt.matrix("x"), pt.vector("w", shape=(3,))
        y = pt.tanh(x @ w) * pt.exp(x[:, 0]) + x.sum(axis=1)
        return [x, w], pytensor.grad(pt.sum(y ** 2), [x, w])
    fast = _rewritten_text(*graph())
    originals()
    assert _rewritten_text(*graph()) == fast


@pytest.mark.skipif(not EAGER_SHAPES, reason="PyTensor >= 3.3 infers shapes lazily")
def test_static_shapes_are_the_types_sizes():
    x = pt.vector("x", shape=(7,))
    y = pt.outer(pt.exp(x), x[:3])  # (7, 3)
    fg = FunctionGraph([x], [y, y[:, :1]], clone=False, features=[ShapeFeature()])
    for out, expect in zip(fg.outputs, [(7, 3), (7, 1)]):
        dims = fg.shape_feature.shape_of[out]
        assert [int(get_scalar_constant_value(d)) for d in dims] == list(expect)
    assert fg.shape_feature.shape_of[fg.outputs[1]][1] is fg.shape_feature.lscalar_one


def test_the_rosen_hessian_is_still_scipys():
    x = np.linspace(-1.2, 1.5, 30)
    np.testing.assert_allclose(ad.hessian(scipy.optimize.rosen)(x), scipy.optimize.rosen_hess(x),
                               rtol=1e-12, atol=1e-9)
