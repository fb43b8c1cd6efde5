"""Each memo of ``backend.pytensor_speedups`` answers what PyTensor's original answers:
compared against the original (``__wrapped__``) on the same arguments."""
import itertools

import pytest

pytensor = pytest.importorskip("pytensor")

import pytensor.scalar as ps  # noqa: E402
from pytensor import config  # noqa: E402
from pytensor.scalar.basic import ScalarOp  # noqa: E402
from pytensor.tensor.elemwise import Elemwise  # noqa: E402
from pytensor.tensor.type import TensorType  # noqa: E402

from pyautodiff.backend import pytensor_speedups  # noqa: E402

pytensor_speedups.install()

# PyTensor 3.0.3 (our minimum) builds Elemwise's shadow node inline, without make_scalar_node:
# that memo is not installed there
SHADOW_MEMO = hasattr(Elemwise.get_output_info, "__wrapped__")
needs_shadow_memo = pytest.mark.skipif(not SHADOW_MEMO, reason="this PyTensor builds the shadow node inline")

DTYPES = ["float64", "float32", "int64", "int8", "uint8", "bool", "complex128"]


def _original_tensor_type(dtype, shape):
    t = TensorType.__new__(TensorType)
    TensorType.__init__.__wrapped__(t, dtype, shape)
    return t


@pytest.mark.parametrize("shape", [(), (None,), (1,), (3, None), (None, 1, 2), (0,)])
def test_tensor_types_have_the_originals_attributes(shape):
    for dtype in DTYPES:
        for _ in range(2):  # the first builds the memo, the second copies from it
            t = TensorType(dtype, shape)
            assert vars(t) == vars(_original_tensor_type(dtype, shape))
            assert t == _original_tensor_type(dtype, shape)
            assert hash(t) == hash(_original_tensor_type(dtype, shape))


def test_tensor_type_bools_and_ints_are_not_confused():
    assert TensorType("float64", (False, True)).shape == (None, 1)  # bools: broadcastable flags
    assert TensorType("float64", (0, 1)).shape == (0, 1)  # equal to (False, True) as a key
    assert TensorType("float64", (False,)).shape == (None,)
    assert TensorType("float64", shape=(2,), name="n").name == "n"


def test_tensor_type_bad_arguments_raise_each_time():
    for _ in range(2):
        with pytest.raises(TypeError):
            TensorType("no such dtype", (None,))
        with pytest.raises(ValueError):
            TensorType("float64", ("x",))


OPS = [ps.add, ps.mul, ps.sub, ps.true_div, ps.int_div, ps.sin, ps.exp, ps.neg, ps.abs,
       ps.maximum, ps.sqr, ps.log1p, ps.switch, ps.gt, ps.pow]


def _original_output_types(op, types):
    """``op.output_types(types)`` with PyTensor's own ``ScalarOp.output_types`` in place
    (an op's override, e.g. ``TrueDiv``'s, may call it)."""
    memo = ScalarOp.output_types
    ScalarOp.output_types = memo.__wrapped__
    try:
        return op.output_types(types)
    finally:
        ScalarOp.output_types = memo


def test_scalar_output_types_are_the_originals():
    checked = 0
    for op in OPS:
        for dtypes in itertools.product(DTYPES, repeat=op.nin if op.nin > 0 else 2):
            types = [ps.get_scalar_type(d) for d in dtypes]
            try:
                expected = _original_output_types(op, types)
            except Exception as exc:  # the memo raises the same
                with pytest.raises(type(exc)):
                    op.output_types(types)
                continue
            for _ in range(2):
                got = op.output_types(types)
                assert got == expected and type(got) is type(expected)
            checked += 1
    assert checked > 200


def test_scalar_output_types_follow_the_config():
    """Types memoized under the default settings are not served under others."""
    cases = [(op, [ps.get_scalar_type(d) for d in dtypes]) for op in OPS
             for dtypes in itertools.product(["int8", "int64", "float32"], repeat=op.nin if op.nin > 0 else 2)]
    default = [op.output_types(types) for op, types in cases]
    changed = 0
    with config.change_flags(cast_policy="numpy+floatX", floatX="float32"):
        for (op, types), before in zip(cases, default):
            got = op.output_types(types)
            assert got == _original_output_types(op, types)
            changed += got != before
    assert changed > 0  # the settings matter for some of them
    assert [op.output_types(types) for op, types in cases] == default


@needs_shadow_memo
def test_elemwise_output_info_is_the_originals():
    import pytensor.tensor as pt
    from pytensor.tensor.elemwise import Elemwise

    checked = 0
    for op in [pt.add, pt.mul, pt.true_div, pt.sin, pt.gt, pt.switch, pt.maximum, pt.int_div]:
        nin = op.scalar_op.nin if op.scalar_op.nin > 0 else 2
        for dtypes in itertools.product(["float64", "float32", "int8", "bool"], repeat=nin):
            inputs = [pt.tensor(dtype=d, shape=(None,) * (k % 2 + 1)) for k, d in enumerate(dtypes)]
            try:
                dtypes_out, shapes, _ = Elemwise.get_output_info.__wrapped__(op, *inputs)
            except Exception as exc:
                with pytest.raises(type(exc)):
                    op.get_output_info(*inputs)
                continue
            for _ in range(2):
                got = op.get_output_info(*inputs)
                assert got[0] == dtypes_out and got[1] == shapes
                assert [o.type for o in op(*inputs, return_list=True)] == \
                    [TensorType(d, s) for d, s in zip(dtypes_out, shapes)]
            checked += 1
    assert checked > 40


@needs_shadow_memo
def test_other_callers_of_make_scalar_node_get_a_new_node():
    import pytensor.tensor as pt

    x = pt.vector("x")
    pt.exp(x)  # its shadow is memoized now
    a, b = pt.exp.make_scalar_node(x), pt.exp.make_scalar_node(x)
    assert a is not b and a.op == b.op and a.outputs[0].type == b.outputs[0].type
