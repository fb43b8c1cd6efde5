"""PyTensor's rewrites, minus the ones that change results numpy would give.

Our contract is "the same numbers as numpy, or an error": a rewrite may make
a result more accurate (``log1p``, ``softplus``...), but never silently turn
numpy's NaN into a number.  Several of PyTensor's algebraic simplifications
assume real-number algebra, which IEEE floats break at 0, inf and NaN:

* ``x / x -> 1`` and ``x * y / y -> x`` (numpy: NaN where x or y is 0, inf, NaN);
* ``x - x -> 0`` and ``x + y - y -> x`` (NaN where x or y is inf or NaN);
* ``x * 0 -> 0``, ``0 / x -> 0``, ``zeros @ x -> 0`` (NaN where x is inf/NaN/0);
* ``x == x -> True``, ``x <= x -> True``, ``x != x -> False`` (NaN compares unequal);
* ``x / abs(x) -> sign(x)`` (NaN at 0 and inf);
* ``(a * x + x) / x -> a + 1`` (distributing so that the above can cancel);
* ``sign(1 / x) -> sign(x)``, ``sign(x**2) -> sign(x)**2`` (0 where numpy gives 1,
  1 where numpy's product underflows to 0).

Each such rewrite is either excluded outright (``_EXCLUDED``) or, when it
also does safe and useful work (removing ``* 1``, folding constants, merging
nested products), replaced by a copy that declines the unsafe cases
(``_GUARDED``, ``_SafeCanonizer``).  Integer and boolean arithmetic is exact,
so there the original rewrites run unchanged.  The replacements are
registered once, next to the originals, under the tag ``SAFE_TAG``, which no
PyTensor mode includes unless asked: other users of PyTensor in the same
process are unaffected.

The canonizers also leave alone a product or sum that nests one of another
dtype: flattening ``float64(ones) * (float32 sum / 6)`` would compute the
float32 quotient in float64, where numpy rounds it to float32 first.  On
floats the sum canonizer leaves alone a sum that nests another (flattening
reorders terms: compensated summation lost its compensation), and the
product canonizer keeps a constant divisor as a division unless it is a
power of two (``s / 3`` is not ``s * 0.333``).  Where a value depends on a
node (``value_ancestors.rounds_as_numpy``: derivative outputs are tagged by their builders,
everything else is a value), products are not reordered either, nor nested
sums flattened or constants folded, except powers of two, which move no bit.

The same table also guards rewrites that fail on inputs they were not
written for: on empty constants (they log a traceback and leave the graph
alone, which is noisy), or that build ops which then fail at run time; and
one that undoes common-subexpression merging (``local_dot22_to_dot22scalar``
turns ``-2 * (X @ v)`` into a second GEMM even when ``X @ v`` is computed
anyway: in the MLP Hessian-vector product, one GEMM in four).

Rewrites deliberately kept although they can change a NaN: the stabilizing
ones, which compute what numpy would compute if it did not overflow
(``log(exp(x)) -> x``, ``sqrt(x**2) -> abs(x)``), and ``local_mul_switch_sink``,
which makes gradients of ``where``/``abs``/``maximum`` finite where one
branch is inf (without it, ``d/dx where(x > 0, log(x), 0)`` is NaN at 0).
"""
from __future__ import annotations

import threading

import numpy as np

from . import dtype_guards
from .signed_zeros import keep_signed_zeros_apart
from .value_ancestors import (
    attach_value_ancestors,
    has_value_ancestors,
    rounds_as_numpy,
)

SAFE_TAG = "pyautodiff_ieee_safe"

# Rewrites excluded by name (the names exist in PyTensor 3.0 and 3.3; a name
# missing from one version is simply not there to exclude), and why.
_EXCLUDED = {
    "local_elemwise_sub_zeros": "x - x -> 0",
    "local_zero_div": "0 / x -> 0",
    "local_mul_zero": "x * 0 -> 0 (registered in PyTensor 3.0 only)",
    "local_0_dot_x": "zeros @ x -> zeros",
    # it distributes only where the original canonizer then cancels a factor,
    # (a * x + x) / x -> a + 1 (numpy: NaN at x = 0): unsafe by design; and on a
    # 30-step loop of `s = s * y / (x + 1.5)` it took 90% of a 4 s rewrite
    "local_greedy_distributor": "(a * x + x) / x -> a + 1",
    # sign(1 / x) -> sign(x) (numpy: 1 at x = 0, not 0) and sign(a / b) -> sign(b)
    # for a provably positive a (numpy: 0 where a / b underflows)
    "local_sign_div": "sign(1 / x) -> sign(x)",
    # PyTensor 3.3 only (so 3.11 and 3.12 would disagree): sign(x**2) -> sign(x)**2 and
    # sign(prod(x)) -> prod(sign(x)) give 1 where numpy's product underflows to 0
    "local_sign_prod": "sign(x * x) -> sign(x) ** 2",
    # not about numbers: it moves a slice of batch dimensions into a Blockwise's
    # inputs and built a graph with a shape error for the gradient of
    # exp(flip(p, axis=0) @ w) (PyTensor 3.0 and 3.3; 3.0 also logs its failures)
    "local_subtensor_of_batch_dims": "flip(x @ y) -> flip(x) @ y, wrongly shaped",
    # det(X) -> prod(diag(U)) from an LU factorization of X elsewhere in the graph drops the
    # sign of the row permutation: the gradient of det (det * inv(X).T, solved through LU)
    # made the Hessian of np.linalg.det wrong in sign whenever LAPACK pivoted an odd number
    # of times (PyTensor 3.0 and 3.3)
    "det_of_matrix_factorized_elsewhere": "det(X) -> prod(diag(U)), permutation sign lost",
    # PyTensor's inverse pairs hold only on part of the domain: arccosh(cosh(x)) is |x|
    # (the rewrite gave -2 for x = -2), and cosh(arccosh(x)) and tanh(arctanh(x)) are NaN
    # in numpy for x < 1 and |x| > 1 (the rewrite gave x, and the gradient 1 there)
    "useless_Arccosh_of_Cosh": "arccosh(cosh(x)) -> x, wrong for x < 0",
    "useless_Cosh_of_Arccosh": "cosh(arccosh(x)) -> x, numpy NaN for x < 1",
    "useless_Tanh_of_Arctanh": "tanh(arctanh(x)) -> x, numpy NaN for |x| > 1",
}


def _is_exact(var) -> bool:
    """Integer and boolean values: no inf, no NaN, so algebra holds."""
    return var.type.dtype.startswith(("int", "uint", "bool"))


def _all_exact(node) -> bool:
    return all(_is_exact(v) for v in node.inputs + node.outputs)


def _has_zero_constant(node) -> bool:
    from pytensor.tensor.basic import get_underlying_scalar_constant_value

    return any(get_underlying_scalar_constant_value(
        v, only_process_constants=True, raise_not_constant=False) == 0 for v in node.inputs)


def _compares_with_itself(node) -> bool:
    """``x == x``, ``x <= x``... : False for NaN, so not constant on floats."""
    from pytensor.scalar import EQ, GE, LE, NEQ

    return (len(node.inputs) == 2 and node.inputs[0] is node.inputs[1]
            and isinstance(getattr(node.op, "scalar_op", None), EQ | NEQ | LE | GE))


def _has_empty_constant(node) -> bool:
    from pytensor.graph.basic import Constant

    return any(isinstance(v, Constant) and np.size(v.data) == 0 for v in node.inputs)


def _small_tridiagonal_solve(node) -> bool:
    """A tridiagonal ``solve`` of fewer than 3 rows (PyTensor >= 3.3 proves every
    2x2 constant matrix tridiagonal): scipy's ``?gttrf``, which the LU-reusing
    rewrite would call, rejects n = 2 ("unexpected array size")."""
    core = getattr(node.op, "core_op", None)
    n = node.inputs[0].type.shape[-1]
    return getattr(core, "assume_a", None) == "tridiagonal" and (n is None or n < 3)


def _squeeze_of_a_stepped_slice(node) -> bool:
    """``squeeze(x[a:b:s])`` of a length-1 slice, which the rewrite turns into
    ``x[a]`` (``x[0]`` for ``a = None``); with a negative or unknown step the
    element is another one (``x[::-1][:1]`` is the last element) or ``a`` is
    out of range (``x[9:0:-1]``)."""
    from pytensor.graph.basic import Constant
    from pytensor.tensor.subtensor import Subtensor, indices_from_subtensor

    owner = node.inputs[0].owner
    if owner is None or not isinstance(owner.op, Subtensor):
        return False
    for idx in indices_from_subtensor(owner.inputs[1:], owner.op.idx_list):
        if isinstance(idx, slice) and idx.step is not None:
            if not (isinstance(idx.step, Constant) and np.all(idx.step.data > 0)):
                return True
    return False


def _merged_alloc_would_assert_a_broadcast(node) -> bool:
    """``alloc(alloc(m, ..., k), ..., n)`` where the inner ``k`` is 1 but not a
    constant (``local_join_of_alloc`` builds it from the shapes it joins): the
    merge only lets a constant 1 broadcast and asserts ``n == k`` for the rest,
    an assertion that fails on a valid graph (PyTensor 3.0 and 3.3; found by the
    long fuzz: ``w = v[::-1]; w += np.hstack((v[:, 1:, -1:], v[:, :-2, :1]))``
    for ``v = b + np.zeros((2, 3, 3))``)."""
    from pytensor.graph.basic import Constant
    from pytensor.tensor.basic import Alloc

    inner = node.inputs[0]
    if inner.owner is None or not isinstance(inner.owner.op, Alloc):
        return False
    dims_inner, dims_outer = inner.owner.inputs[1:], node.inputs[1:]
    for i, dim in enumerate(reversed(dims_inner)):
        if dim is dims_outer[-1 - i] or (isinstance(dim, Constant) and dim.data == 1):
            continue
        if inner.type.shape[-1 - i] == 1:
            return True
    return False


def _shared_dot22(fgraph, node) -> bool:
    """``mul(s, dot22(a, b), ...)`` where the product also has other clients:
    folding ``s`` into a ``Dot22Scalar`` would compute the GEMM twice."""
    from pytensor.tensor.blas import _dot22

    dots = [x for x in node.inputs if x.owner is not None and x.owner.op == _dot22]
    return bool(dots) and len(fgraph.clients[dots[0]]) > 1


def _prod_over_a_broadcast_factor(node) -> bool:
    """``prod(a * b)`` (or ``a / b``) over an axis along which ``a`` broadcasts: PyTensor 3.3
    makes it ``a ** n * prod(b)`` with the count ``n`` computed in bool, so 1 (found by the
    long fuzz: ``prod(exp(ones((3, 2, 3)) * m) * mask, axis=(0, 2))`` gave exp(m) ** 3
    where numpy gives exp(m) ** 9)."""
    from pytensor.tensor.elemwise import Elemwise
    from pytensor.tensor.math import Prod

    if not isinstance(node.op, Prod):
        return False
    x = node.inputs[0]
    if x.owner is None or not isinstance(x.owner.op, Elemwise):
        return False
    axes = range(x.type.ndim) if node.op.axis is None else node.op.axis
    return any(v.type.broadcastable[ax] and not x.type.broadcastable[ax]
               for v in x.owner.inputs if v.type.ndim == x.type.ndim for ax in axes)


def _adds_a_broadcast_to_a_sparse_write(node) -> bool:
    """``x + zeros[idx].set(v)`` where ``x`` broadcasts against the write: PyTensor 3.0 makes
    it ``x[idx].inc(v)`` of ``x``'s shape, which fails the type check and logs a traceback
    per node (the gradient of a rolled double loop printed 84 of them); 3.3 allocs ``x`` up
    first.  Declined on both: the sum is computed as written."""
    out = node.outputs[0].type.broadcastable
    return any(v.type.broadcastable != out for v in node.inputs)


_CHAIN_LOOKAHEAD = dtype_guards.CHAIN_LOOKAHEAD  # how far the order checks below look


def _flattens_out_of_order(fgraph, node) -> bool:
    """``flatten_nested_add_mul`` on a float sum or product that nests another of its kind
    after its first input: ``x + (y + z)`` would become ``add(x, y, z)``, computed as
    ``(x + y) + z`` (one element in five differed from numpy's at mixed magnitudes). A
    nested node in the first place keeps the order (``(x + y) + z`` is ``add(x, y, z)``);
    the rewrite flattens that chain recursively, so the whole chain is checked."""
    from pytensor.tensor.elemwise import Elemwise

    op = node.op
    for _ in range(_CHAIN_LOOKAHEAD):
        if any(v.owner is not None and v.owner.op == op for v in node.inputs[1:]):
            return True
        first = node.inputs[0] if node.inputs else None
        if first is None or first.owner is None or first.owner.op != op or len(fgraph.clients[first]) != 1:
            return False
        node = first.owner
        if not isinstance(node.op, Elemwise):
            return False
    return True


def _folds_inexact_constants(node) -> bool:
    """``constant_fold_branches_of_add_mul`` on a float sum or product with two constants or
    more: it folds them into one and moves it first, so ``x + 1.5 + 2.5`` became
    ``4.0 + x`` and ``x * 3.0 * 5.0`` ``15.0 * x`` (one rounding where numpy makes two).
    Constant factors that are all powers of two fold without changing a bit."""
    import pytensor.tensor as pt
    from pytensor.tensor.variable import TensorConstant

    constants = [v for v in node.inputs if isinstance(v, TensorConstant)]
    if len(constants) <= 1:
        return False
    return node.op != pt.mul or not all(_scales_exactly(v) for v in constants)


def _on_node(predicate):
    return lambda fgraph, node: predicate(node)


def _unsafe_on_floats(predicate):
    return lambda fgraph, node: predicate(node) and not _all_exact(node)


def _adds_or_multiplies(node) -> bool:
    from pytensor.scalar import Add, Mul

    return isinstance(getattr(node.op, "scalar_op", None), (Add, Mul))


def _unsafe_on_floats_for_values(fgraph, node) -> bool:
    return not _all_exact(node) and rounds_as_numpy(fgraph, node)


# Rewrites replaced by a copy that declines the nodes for which the predicate
# ``(fgraph, node) -> bool`` holds (it would rewrite them wrongly, crash, or
# duplicate work); the rest they do as before.
_GUARDED = {
    # mul(1, x) -> x and mul(-1, x) -> -x stay; mul(0, x) -> 0 does not, nor
    # mul(-uint8 a, x) -> mul(-1.0, a, x) (see dtype_guards.NEGATION_SITES)
    "local_mul_specialize": lambda fgraph, node: (_unsafe_on_floats(_has_zero_constant)(fgraph, node)
                                                  or dtype_guards.moves_an_integer_negation("local_mul_specialize")(node)
                                                  or dtype_guards.drops_a_unit_that_sets_the_dtype(node)),
    **{name: _on_node(dtype_guards.moves_an_integer_negation(name))
       for name in dtype_guards.NEGATION_SITES if name != "local_mul_specialize"},
    # x ** 2.0 -> sqr(x), x ** 0.5 -> sqrt(x)...: not in the base's dtype when it is not the power's
    "local_pow_specialize": _on_node(dtype_guards.pow_in_another_dtype),
    "local_pow_to_nested_squaring": _on_node(dtype_guards.pow_in_another_dtype),
    # neg(a) -> mul(-1, a) fails for unsigned a (-1 out of bounds) and logs a traceback
    "local_neg_to_mul": _on_node(lambda node: node.inputs[0].type.dtype.startswith("uint")),
    # eq(x, x) -> True; mul(x) -> x and the boolean and/or rules stay
    "local_useless_elemwise": _unsafe_on_floats(_compares_with_itself),
    # le(x, x) -> True; lt(x, x) -> False and maximum(x, x) -> x stay
    "local_useless_elemwise_comparison": _unsafe_on_floats(_compares_with_itself),
    # PyTensor 3.0/3.3: np.argmax on an empty one-hot constant raises
    "selection_dot_to_indexing": _on_node(_has_empty_constant),
    # PyTensor 3.3: solve(A, b) twice with one A -> LU factor once; scipy's gttrf fails at n = 2
    "reuse_decomposition_multiple_solves": _on_node(_small_tridiagonal_solve),
    # s * (a @ b) -> one GEMM with alpha = s; not when a @ b is needed anyway
    "local_dot22_to_dot22scalar": _shared_dot22,
    # PyTensor 3.0/3.3: squeeze(x[::-1][:1]) -> x[0] (numpy: the last element)
    "local_dimshuffle_subtensor": _on_node(_squeeze_of_a_stepped_slice),
    # PyTensor 3.0/3.3: a computed 1 that broadcasts becomes a failing shape assertion
    "local_merge_alloc": _on_node(_merged_alloc_would_assert_a_broadcast),
    # PyTensor 3.3: prod(a * b) -> a ** n * prod(b) with n = 1 where a broadcasts; sums stay
    # and, on floats where a value depends on it: sum(3.0 * x) -> 3.0 * sum(x), sum(x / 3.0)
    # -> sum(x) / 3.0 (numpy multiplies each term, then adds: another rounding)
    # and sum(-1 * int8 a) -> -1 * sum(a) (the int8 product wraps, the int64 sum does not)
    "local_sum_prod_of_mul_or_div": lambda fgraph, node: (_prod_over_a_broadcast_factor(node)
                                                          or _unsafe_on_floats_for_values(fgraph, node)
                                                          or node.inputs[0].type.dtype != node.outputs[0].type.dtype),
    # sum(sum(a, axis=0)) -> sum(a): one reduction adds in another order than numpy's two;
    # max(max(a, axis=0)) -> max(a) stays (exact)
    "local_reduce_chain": lambda fgraph, node: _adds_or_multiplies(node) and _unsafe_on_floats_for_values(fgraph, node),
    # PyTensor 3.0: x + zeros[idx].set(v) -> x[idx].inc(v) fails where x broadcasts
    "local_add_of_sparse_write": _on_node(_adds_a_broadcast_to_a_sparse_write),
    # x + (y + z) -> add(x, y, z), computed as (x + y) + z; (x + y) + z -> add(x, y, z) stays;
    # nor across dtypes: (int8 a * 2) * x -> mul(a, 2, x)
    "flatten_nested_add_mul": lambda fgraph, node: ((_unsafe_on_floats_for_values(fgraph, node)
                                                     and _flattens_out_of_order(fgraph, node))
                                                    or dtype_guards.flattens_another_dtype(fgraph, node)),
    # 1 / (1 / x) -> x and the degree/radian round trips: x's bits, not numpy's (1 / (1 / 49.0)
    # is 49.00000000000001, and 1 / (1 / x) of a subnormal x is 0); kept in derivatives
    "useless_Reciprocal_of_Reciprocal": _unsafe_on_floats_for_values,
    "useless_Deg2rad_of_Rad2deg": _unsafe_on_floats_for_values,
    "useless_Rad2deg_of_Deg2rad": _unsafe_on_floats_for_values,
    # x + 1.5 + 2.5 -> 4.0 + x; 2 * x * 0.5 -> 1.0 * x stays
    "constant_fold_branches_of_add_mul": lambda fgraph, node: (_folds_inexact_constants(node)
                                                               and _unsafe_on_floats_for_values(fgraph, node)),
}

# The canonizers, replaced by `_safe_canonizer` copies.
_CANONIZERS = ("local_mul_canonizer", "local_add_canonizer")


def _guarded_rewriter(inner, declines):
    from pytensor.graph.rewriting.basic import NodeRewriter, WalkingGraphRewriter

    if isinstance(inner, WalkingGraphRewriter):  # registered in a SequenceDB: guard its node rewriter
        return WalkingGraphRewriter(_guarded_rewriter(inner.node_rewriter, declines),
                                    order=inner.order, ignore_newtrees=inner.ignore_newtrees,
                                    failure_callback=inner.failure_callback)

    class Guarded(NodeRewriter):
        def tracks(self):
            return inner.tracks()

        def transform(self, fgraph, node, *args, **kwargs):
            if declines(fgraph, node):
                return False
            return inner.transform(fgraph, node, *args, **kwargs)

        def __str__(self):
            return f"safe_{inner}"

    return Guarded()


def _reciprocal_of_dimshuffle(canonizer, node) -> bool:
    """``-expand_dims(a + b)`` (``1 / expand_dims(a * b)``): the canonizer reads
    through the DimShuffle, rebuilds ``-(a + b)`` at the smaller rank and
    broadcasts it back with a ``fill``, which ``local_useless_fill`` and
    ``local_dimshuffle_lift`` turn into the same node again: an endless cycle
    that grew the graph by the minute (found by the long fuzz).  The lift alone
    canonizes it: ``expand_dims(-(a + b))``."""
    from pytensor.tensor.elemwise import DimShuffle

    x = node.inputs[0]
    return (node.op == canonizer.reciprocal and x.owner is not None
            and isinstance(x.owner.op, DimShuffle))


def _nests_another_dtype(canonizer, node) -> bool:
    """A product (sum) with a nested product or quotient (sum or difference) of
    another dtype: ``float64(ones) * (float32 sum / 6)``.  The canonizer flattens
    them into one list of factors (terms) and rebuilds it in the outer dtype, so
    the float32 quotient would be computed in float64 (numpy rounds it to
    float32 first), and an int32 product would no longer wrap.  Found by the
    long fuzz: ``np.ptp(np.ones((2, 2)) * np.mean(a))`` of a float32 ``a`` came
    out negative, its max and min rounded differently."""
    from pytensor.tensor.elemwise import DimShuffle

    dtype = node.outputs[0].type.dtype
    flattened = (canonizer.main, canonizer.inverse, canonizer.reciprocal)
    stack = list(node.inputs)
    seen = set()  # a shared subexpression is walked once: the walk was exponential in a DAG
    while stack:
        var = stack.pop()
        owner = var.owner
        if owner is None or var in seen:
            continue
        seen.add(var)
        if isinstance(owner.op, DimShuffle):  # the canonizer looks through these too
            stack.extend(owner.inputs)
        elif owner.op in flattened:
            if var.type.dtype != dtype:
                return True
            stack.extend(owner.inputs)
    return False


def _is_unique_constant(var) -> bool:
    from pytensor.tensor.variable import TensorConstant

    return isinstance(var, TensorConstant) and var.unique_value is not None


def _kept_divisors(canonizer, denum, out_type):
    """The constant divisors of a float quotient as one divisor (a list of one variable) where
    its reciprocal is inexact (not a power of two); else None. PyTensor folds ``s / 3`` into
    ``0.3333333333333333 * s``, which differs from numpy's ``s / 3`` in the last bit: a
    ``np.mean`` of three equal numbers came out one ulp above them, and a comparison of an
    element with its mean went the other way (long fuzz, 3.13, seed 82). A single divisor
    is returned as the same variable, so that the canonizer sees nothing to change."""
    import pytensor.tensor as pt
    from pytensor.tensor.basic import constant

    if canonizer.main is not pt.mul or out_type is None or not str(out_type.dtype).startswith("float"):
        return None
    found = [v for v in denum if _is_unique_constant(v)]
    if not found:
        return None
    divisor = np.multiply.reduce(np.asarray([v.unique_value for v in found], dtype=out_type.dtype))
    if not np.isfinite(divisor) or divisor == 0 or _powers_of_two(divisor):
        return None  # a power of two: its reciprocal is exact, so multiplying gives the same bits
    if len(found) == 1 and found[0].type.dtype == out_type.dtype:
        return found
    return [constant(divisor, dtype=out_type.dtype)]


def _reorders_float_sums(canonizer, node) -> bool:
    """The sum canonizer on a float sum that nests another sum or difference: it would
    flatten ``(t - s) - y`` with ``t = s + y`` into one list of terms, reorder them
    (subtracted terms last) and fold their constants, so the sum would round in another
    order than numpy's. Kahan's compensated sum lost its compensation (``1.0`` where numpy
    gives ``1.0000000000000002``), ``(x + 1.5 * 2**52) - 1.5 * 2**52`` no longer rounded
    ``x``, and 15 unrolled compensated steps grew exponentially (every term list copied
    into the next). A sum of plain terms is still canonicalized (its zero terms removed,
    which gradients rely on). Products: ``_reorders_float_products``."""
    import pytensor.tensor as pt

    if canonizer.main is not pt.add:
        return False
    nested = (canonizer.main, canonizer.inverse, canonizer.reciprocal)
    for var in node.inputs:
        var = _through_dimshuffles(var)
        if var.owner is not None and var.owner.op in nested:
            return True
    return False


def _scales_exactly(var) -> bool:
    """A constant whose every entry is a power of two (``-1``, ``2``, ``0.5``): multiplying
    by it only moves the exponent, so it commutes with rounding (barring over- and
    underflow) and may be folded or moved among a product's factors."""
    from pytensor.tensor.variable import TensorConstant

    if not isinstance(var, TensorConstant):
        return False
    values = np.asarray(var.data)
    return values.dtype.kind in "biuf" and values.size > 0 and _powers_of_two(values)


def _powers_of_two(values) -> bool:
    """Every entry is +-2**k (0, inf and NaN are not): its frexp mantissa is +-0.5."""
    mantissas = np.frexp(np.asarray(values, dtype=np.float64))[0]
    return bool(np.all(np.abs(mantissas) == 0.5))


def _through_dimshuffles(var):
    from pytensor.tensor.elemwise import DimShuffle

    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        var = var.owner.inputs[0]  # the canonizer looks through these too
    return var


def _flattenable(canonizer, var) -> bool:
    owner = var.owner
    return owner is not None and owner.op in (canonizer.main, canonizer.inverse, canonizer.reciprocal)


def _product_chain(canonizer, var, most=None):
    """The factors of the product ``var`` in the order numpy multiplies them, powers of two
    left out (they commute with rounding), if it is one chain ``((f1 * f2) * f3) * ...``
    that the canonizer's flat ``mul(f1, f2, f3, ...)`` computes in the same order; else
    None (also where there are more than ``most`` factors). ``-1 * (a * b)`` is the chain
    ``[a, b]``; ``a * (b * c)`` and ``x * (1 / y)`` (not ``x / y``) are none. Walks down
    the first factors, at most ``_CHAIN_LOOKAHEAD`` of them."""
    later = []  # the factors after the first, innermost product's last
    for _ in range(_CHAIN_LOOKAHEAD):
        var = _through_dimshuffles(var)
        if not _flattenable(canonizer, var):
            chain = [var, *reversed(later)]
            return None if most is not None and len(chain) > most else chain
        owner = var.owner
        if owner.op == canonizer.reciprocal:
            return None
        if owner.op == canonizer.inverse:  # only x / 2**k
            if not _scales_exactly(owner.inputs[1]):
                return None
            var = owner.inputs[0]
            continue
        factors = [v for v in owner.inputs if not _scales_exactly(v)]
        if not factors:
            return list(reversed(later))
        for v in reversed(factors[1:]):
            inner = _product_chain(canonizer, v, most=1)
            if inner is None:
                return None  # a product nested after the first factor: x * (y * z)
            later.extend(inner)
            if most is not None and len(later) > most:
                return None
        var = factors[0]
    return None


def _reorders_float_products(canonizer, node) -> bool:
    """The product canonizer on a float product whose flattening would round in another order
    than numpy's. It flattens ``x * (y * z)`` into ``x * y * z`` (``(x * y) * z``), moves
    constants to the front (``x * y * 3.0`` as ``3.0 * x * y``) and folds them
    (``x * 0.1 * 3.0`` as ``x * 0.30000000000000004``, ``x * 3 * 5`` as ``15 * x``), each
    an ulp off numpy in a third to a half of the elements; quotients alike
    (``(c / a) / (b * -8.0)`` as ``(-0.125 * c) / (a * b)``). It still flattens and folds
    where only powers of two move (``-1 * (a * b)``, ``2 * x * (0.5 * y)``,
    ``x / (-8.0 * y)``: gradients are full of them), which changes no bit (barring over-
    and underflow). A constant divisor is kept apart (``_kept_divisors``)."""
    import pytensor.tensor as pt
    from pytensor.tensor.variable import TensorConstant

    if canonizer.main is not pt.mul:
        return False
    if node.op != canonizer.main:  # a quotient: each side one factor, up to powers of two
        return any(_product_chain(canonizer, v, most=1) is None for v in node.inputs)
    chain = _product_chain(canonizer, node.outputs[0])
    if chain is None:
        return True
    constants = [i for i, v in enumerate(chain) if isinstance(v, TensorConstant)]
    # the canonizer puts one folded constant first: the same product if it was among the first two
    return len(constants) > 1 or (len(constants) == 1 and constants[0] > 1)


def _gemm_reorders(fgraph, node) -> bool:
    """PyTensor's ``GemmOptimizer`` on a float sum with a matrix product would round in another
    order than numpy's: it flattens the whole tree of sums below the node (``(b / 2) +
    (0.1 - X @ Y)`` ran as ``0.1 + (0.5 * b - X @ Y)``) and multiplies the scalars of a
    term together (``a + (X @ Y) * 0.3 * 7.0`` as ``a + 2.1 * (X @ Y)``). One sum of terms,
    each one matrix or vector times at most one scalar (powers of two aside), keeps its
    order: ``c + 0.3 * (X @ Y)`` is numpy's ``c + (X @ Y) * 0.3``. Follows the walk of its
    ``_gemm_canonicalize`` (a variable with other users ends it)."""
    import pytensor.tensor as pt

    stack = [(node.outputs[0], 0, True)]  # variable, scalars on its path, at the top sum
    while stack:
        var, scalars, top = stack.pop()
        owner = var.owner
        if (owner is None or var.type.ndim not in (1, 2) or not str(var.type.dtype).startswith(("float", "complex"))
                or (not top and len(fgraph.clients[var]) > 1)):
            continue
        if owner.op in (pt.add, pt.sub):
            if not top:
                return True  # a nested sum: flattened
            stack.extend((v, scalars, False) for v in owner.inputs)
        elif owner.op == pt.neg:
            stack.append((owner.inputs[0], scalars, top))  # negation is exact
        elif owner.op == pt.mul:
            broadcast = [v for v in owner.inputs if all(d == 1 for d in v.type.shape)]
            scalars += sum(not _scales_exactly(_through_dimshuffles(v)) for v in broadcast)
            if scalars > 1:
                return True  # scalars multiplied together
            rest = [v for v in owner.inputs if not all(d == 1 for d in v.type.shape)]
            if len(rest) == 1:
                stack.append((rest[0], scalars, False))
    return False


def _gemm_from_node_in_order(original):
    """``blas._gemm_from_node2`` declining what ``_gemm_reorders`` finds, in graphs our modes
    rewrite (which carry the value feature); PyTensor's other users get the original."""
    def gemm_from_node(fgraph, node):
        if (has_value_ancestors(fgraph)
                and _unsafe_on_floats_for_values(fgraph, node) and _gemm_reorders(fgraph, node)):
            return None, 0, 0, 0
        return original(fgraph, node)

    gemm_from_node.original = original
    return gemm_from_node


def _safe_canonizer(inner):
    """A copy of an `AlgebraicCanonizer` (``local_mul_canonizer``,
    ``local_add_canonizer``) that still flattens nested products and folds
    constants, but on floats cancels no factor (``x / x``, ``x - x``), lets no
    zero absorb the others (``0 * x``), skips the external simplifiers
    (``x / abs(x) -> sign(x)``), flattens no nested sum (``_reorders_float_sums``),
    reorders no product a value depends on (``_reorders_float_products``) and keeps an
    inexact constant divisor (``_kept_divisors``)."""
    from pytensor.tensor.rewriting.math import AlgebraicCanonizer

    class SafeCanonizer(AlgebraicCanonizer):
        def simplify(self, num, denum, out_type):
            return self.simplify_constants(num, denum, out_type=out_type)

        def simplify_constants(self, orig_num, orig_denum, out_type=None):
            divisor = _kept_divisors(self, orig_denum, out_type)
            if divisor is None:
                return super().simplify_constants(orig_num, orig_denum, out_type=out_type)
            rest = [v for v in orig_denum if not _is_unique_constant(v)]
            num, denum = super().simplify_constants(orig_num, rest, out_type=out_type)
            if num == orig_num and divisor == [v for v in orig_denum if _is_unique_constant(v)]:
                return orig_num, orig_denum  # nothing to fold: the same lists, or it loops
            return num, [*divisor, *denum]

        def transform(self, fgraph, node, *args, **kwargs):
            if not _all_exact(node) and _reorders_float_sums(self, node):
                return False
            if not _all_exact(node) and rounds_as_numpy(fgraph, node) and _reorders_float_products(self, node):
                return False
            if _nests_another_dtype(self, node):
                return False
            if _all_exact(node):
                return inner.transform(fgraph, node, *args, **kwargs)
            if _reciprocal_of_dimshuffle(self, node):
                return False
            return super().transform(fgraph, node, *args, **kwargs)

        def __str__(self):
            return f"safe_{inner}"

    safe = SafeCanonizer(inner.main, inner.inverse, inner.reciprocal, inner.calculate,
                         inner.use_reciprocal)
    safe.absorbing_element = None  # PyTensor >= 3.3 folds mul(0, x) to 0 with it
    return safe


def _containers(db, found=None):
    """name -> the rewrite databases under ``db`` in which it is registered, outermost
    first; one walk for all names (a walk per name was a third of registering)."""
    from pytensor.graph.rewriting.db import RewriteDatabase

    found = {} if found is None else found
    for name in db._names:
        found.setdefault(name, []).append(db)
    for sub_name in db._names:
        for sub in db.__db__[sub_name]:
            if isinstance(sub, RewriteDatabase):
                _containers(sub, found)
    return found


def _register(containers, name, make_replacement):
    """Register a replacement for rewrite ``name`` wherever it is registered
    (canonicalize, stabilize, specialize; ``containers``: ``_containers(optdb)``),
    under our tag only."""
    from pytensor.graph.rewriting.db import SequenceDB

    for db in containers.get(name, ()):
        original = next(iter(db.__db__[name]))
        # in a sequence, at the original's place (e.g. after the GEMM rewrites)
        where = {"position": db.__position__[name]} if isinstance(db, SequenceDB) else {}
        db.register(f"safe_{name}", make_replacement(original), SAFE_TAG, **where)


_registered = False
_register_lock = threading.Lock()  # the second tier compiles in a background thread


def _ensure_registered():
    global _registered
    with _register_lock:
        if _registered:
            return
        import pytensor.tensor.rewriting  # noqa: F401  (registers PyTensor's own rewrites first)
        from pytensor.compile.mode import optdb

        containers = _containers(optdb)  # what we register below is no database: still true after
        optdb.register("pyautodiff_value_ancestors", attach_value_ancestors(), SAFE_TAG, position=-1)
        keep_signed_zeros_apart()
        from pytensor.tensor.rewriting import blas
        if not hasattr(blas._gemm_from_node2, "original"):  # its caller reads the module's name
            blas._gemm_from_node2 = _gemm_from_node_in_order(blas._gemm_from_node2)
        for name, declines in _GUARDED.items():
            _register(containers, name, lambda original, declines=declines: _guarded_rewriter(original, declines))
        for name in _CANONIZERS:
            _register(containers, name, _safe_canonizer)

        from . import blas_layout, negation_sink, one_hot_rows, static_sparsity
        from .pairwise_sum import register as register_pairwise_sum
        register_pairwise_sum(optdb)  # under its own tag: the Numba mode's alone
        from .mode_fixes import register_numba
        from .pairwise_sum import TAG as NUMBA_TAG
        register_numba(optdb, NUMBA_TAG)
        static_sparsity.register(optdb, SAFE_TAG)
        blas_layout.register(optdb, SAFE_TAG)
        negation_sink.register(optdb, SAFE_TAG)
        one_hot_rows.register(optdb, SAFE_TAG)
        _registered = True


def excluded_names() -> tuple[str, ...]:
    """Every rewrite name our modes exclude (the replaced ones included)."""
    return (*_EXCLUDED, *_GUARDED, *_CANONIZERS)


def safe_query(query):
    """``query`` (a `RewriteDatabaseQuery`) with the unsafe rewrites swapped
    for their safe replacements.

    Our tag is included *first*: a database lists the rewrites of its first
    included tag first, and node rewriters are tried in that order; the
    canonizers run first among their neighbours, as the originals do."""
    from pytensor.graph.rewriting.db import RewriteDatabaseQuery

    _ensure_registered()
    return RewriteDatabaseQuery(
        include=[SAFE_TAG, *query.include], require=query.require,
        exclude=[*query.exclude, *excluded_names()], subquery=query.subquery,
        position_cutoff=query.position_cutoff, extra_rewrites=query.extra_rewrites)


def safe_mode(mode):
    """The same for a `pytensor.compile.mode.Mode`."""
    linker, query = mode.get_linker_optimizer(mode.provided_linker, mode.provided_optimizer)
    return mode.clone(optimizer=safe_query(query), linker=linker)
