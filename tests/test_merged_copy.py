"""backend/merged_copy.py: the light tier's copy of a graph with equal nodes merged in one
walk (issue #18).  It must reach the graph PyTensor's MergeOptimizer reaches, compute
what numpy computes, and leave the original graph alone."""
import numpy as np
import pytensor.tensor as pt
import pytest
from pytensor.graph.fg import FunctionGraph
from pytensor.graph.rewriting.basic import MergeOptimizer

from pyautodiff.backend.merged_copy import merged_copy
from pyautodiff.backend.numpy_codegen import exec_source, fgraph_to_source

try:
    from pytensor.graph.traversal import ancestors
except ImportError:  # PyTensor before 3.1
    from pytensor.graph.basic import ancestors


def _program(x, n):
    """A straight program whose steps reuse the constants 0.5 and 0.9 and recompute
    ``sin(x)`` each time: many equal nodes, each constant a separate object."""
    t = [x, x * 0.5]
    for i in range(n):
        a, b = t[-1], t[-2]
        t.append(pt.sin(x) * pt.constant(0.9) + a * pt.constant(0.5) - b / pt.constant(3.0))
    return t[-1].sum()


def _numpy_program(x, n):
    t = [x, x * 0.5]
    for _ in range(n):
        t.append(np.sin(x) * 0.9 + t[-1] * 0.5 - t[-2] / 3.0)
    return t[-1].sum()


def test_reaches_the_merge_optimizers_graph_and_values():
    x = pt.vector("x")
    out = _program(x, 30)
    ours = merged_copy([x], [out])
    theirs = FunctionGraph([x], [out], clone=True)
    before = len(theirs.apply_nodes)
    MergeOptimizer().rewrite(theirs)
    assert len(ours.apply_nodes) == len(theirs.apply_nodes) < before
    sins = [n for n in ours.apply_nodes if getattr(n.op, "scalar_op", None).__class__.__name__ == "Sin"]
    assert len(sins) == 1  # thirty sin(x) are one
    xv = np.linspace(-1.0, 2.0, 5)
    fn = exec_source(*fgraph_to_source(ours, name="f"), name="f")
    np.testing.assert_allclose(fn(xv)[0], _numpy_program(xv, 30), rtol=1e-13)


def test_constants_equal_in_type_and_value_are_one():
    x = pt.vector("x")
    out = (x * pt.constant(2.0)) + (x * pt.constant(2.0)) + x * pt.constant(3.0)
    fg = merged_copy([x], [out])
    consts = {id(v) for n in fg.apply_nodes for v in n.inputs if isinstance(v, pt.TensorConstant)}
    muls = [n for n in fg.apply_nodes if "Mul" in str(n.op)]
    # 2.0 twice -> one constant and one product; 3.0 stays apart
    assert len(muls) == 2 and len(consts) == 2


def test_leaves_the_original_graph_alone():
    x = pt.vector("x")
    y = pt.exp(x) + pt.exp(x)
    nodes_before = list(ancestors([y]))
    fg = merged_copy([x], [y])
    assert fg.inputs[0] is not x and fg.outputs[0] is not y
    assert list(ancestors([y])) == nodes_before
    assert y.owner.inputs[0] is not y.owner.inputs[1]  # still two exp nodes in the original
    assert getattr(x, "fgraph", None) is None


def test_outputs_that_are_inputs_or_constants():
    x = pt.vector("x")
    c = pt.constant(np.array([1.0, 2.0]))
    fg = merged_copy([x], [x, c, x + c])
    fn = exec_source(*fgraph_to_source(fg, name="f"), name="f")
    xv = np.array([3.0, 4.0])
    got = fn(xv)
    np.testing.assert_array_equal(got[0], xv)
    np.testing.assert_array_equal(got[1], [1.0, 2.0])
    np.testing.assert_array_equal(got[2], [4.0, 6.0])


def test_a_free_variable_is_refused_as_by_function_graph():
    x, y = pt.vector("x"), pt.vector("y")
    with pytest.raises(Exception) as theirs:
        FunctionGraph([x], [x + y], clone=True)
    with pytest.raises(type(theirs.value)):
        merged_copy([x], [x + y])


def test_constant_key_groups_constants_as_merge_signature_does():
    import numpy as np
    import pytensor.tensor as pt

    from pyautodiff.backend.merged_copy import constant_key
    from pyautodiff.backend.signed_zeros import keep_signed_zeros_apart

    keep_signed_zeros_apart()  # as merged_copy does: 0.0 and -0.0 are two constants

    values = [0.0, -0.0, 1.0, 0.5, np.nan, np.inf, -np.inf, 3, 2**40]
    arrays = [np.asarray(v, dtype=d) for v in values for d in ["float64", "float32", "complex128"]]
    arrays += [np.asarray(v, dtype=d) for v in [0, 1, 3, 2] for d in ["int64", "int8", "uint8", "bool"]]
    arrays += [np.array([0.0, -0.0]), np.array([-0.0, 0.0]), np.array([1.0, np.nan]), np.array([1.0, 2.0]),
               np.array([[1.0, 2.0]]), np.array([1.0, 2.0])[::-1],
               np.array([2.0, 1.0]), np.array([0.0, -0.0], dtype=np.complex64)]
    consts = [pt.constant(a) for a in arrays] + [pt.constant(a.copy()) for a in arrays]
    for a in consts:
        for b in consts:
            same = a.merge_signature() == b.merge_signature()
            assert (constant_key(a) == constant_key(b)) == same, (a.data, b.data)
            if same:
                assert hash(constant_key(a)) == hash(constant_key(b))
