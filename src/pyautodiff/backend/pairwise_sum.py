"""Sums in the Numba tier, added in numpy's order.

``np.sum`` of a contiguous run of floats adds pairwise: runs of at most 128
elements are summed by eight interleaved accumulators combined as a tree,
longer runs are split in two (at a multiple of eight) and the halves added.
PyTensor's Numba ``Sum`` adds one element after another.  So a function the
default mode moved to Numba summed in a different order: its results changed
in the last bits partway through a run (``x - x.mean()`` of a constant
column was 1e-17, not 0), and without fast-math (``compile.numpy_arithmetic``)
the one long chain of dependent additions ran at a quarter of numpy's speed.

In our Numba builds only (the rewrite carries ``TAG``, which only the
``"numba"`` mode includes), a float ``Sum`` whose result numpy computes
pairwise becomes a ``PairwiseSum``: a full reduction, or a reduction over the
trailing axes of a C-contiguous array (one run per output element), summed
as numpy's ``pairwise_sum`` does; a vector of any stride is summed so too,
in its logical order, as numpy does.  Any other layout at run time (a
strided view of a matrix, a reduction over leading axes) calls PyTensor's own
reducer: its order for a reduction over leading axes (row after row) is
numpy's too; for a strided view of a matrix numpy's order follows its
iterator, and ours may differ from it in the last bits.  Measured on 10^5
float64 (one thread): 22 us against numpy's 20 us and the sequential loop's
82 us, bit-for-bit equal to ``np.sum``.

The rewrite runs late (``POSITION``): after PyTensor's Sum rewrites have
matched, and before PyTensor 3.3's ``FusedElemwise`` would fold the sum into
an elementwise loop, which adds in sequence.  A rolled loop's body compiled by
``scan_numba`` (numpy code that Numba jits, where ``x.sum()`` is Numba's own
in-order sum) gets the same rewrite (``rewrite_fgraph``) and calls the same
helpers, as text (``CODE_HELPERS_SOURCE``).

Example::

    mode = get_mode("NUMBA").including(pairwise_sum.TAG)   # after register(optdb)
"""
from __future__ import annotations

import functools
import hashlib
import inspect

import numpy as np
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import WalkingGraphRewriter, node_rewriter
from pytensor.scalar.basic import Add
from pytensor.tensor.elemwise import CAReduce
from pytensor.tensor.type import TensorType

NAME = "numpy_pairwise_sum"
TAG = "pyautodiff_numba"
POSITION = 99  # after in-place (50.5), before PyTensor 3.3's fuse_indexed_into_elemwise (100)
VERSION = 1  # part of the Numba cache key (with the helpers' source): bump when its meaning changes
BLOCK = 128  # numpy's PW_BLOCKSIZE
_FLOATS = ("float32", "float64")


class PairwiseSum(Op):
    """``np.add.reduce(x, axis=axis)`` of floats, in numpy's order (``axis``: a sorted tuple)."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = tuple(axis)

    def make_node(self, x):
        kept = tuple(s for d, s in enumerate(x.type.shape) if d not in self.axis)
        return Apply(self, [x], [TensorType(x.type.dtype, shape=kept)()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.asarray(np.add.reduce(inputs[0], axis=self.axis), dtype=node.outputs[0].type.dtype)

    def infer_shape(self, *args):  # ([fgraph,] node, shapes): PyTensor >= 3.3 drops fgraph
        shapes = args[-1]
        return [tuple(s for d, s in enumerate(shapes[0]) if d not in self.axis)]


def _eligible_axes(node):
    """The reduced axes of a float sum numpy adds pairwise, or None."""
    op = node.op
    if not isinstance(op, CAReduce) or not isinstance(op.scalar_op, Add):
        return None
    (x,), (out,) = node.inputs, node.outputs
    dtype = x.type.dtype
    acc = getattr(op, "acc_dtype", None)
    if dtype not in _FLOATS or out.type.dtype != dtype or (acc is not None and acc != dtype) or x.type.ndim == 0:
        return None
    axes = tuple(range(x.type.ndim)) if op.axis is None else tuple(sorted(op.axis))
    if axes != tuple(range(x.type.ndim - len(axes), x.type.ndim)):
        return None  # leading or inner axes: numpy adds row after row, as PyTensor's loop does
    return axes


def rewrite_pairwise_sum(fgraph, node):
    """Node rewriter: a float Sum numpy adds pairwise becomes a ``PairwiseSum``."""
    axes = _eligible_axes(node)
    if axes is None:
        return False
    return [PairwiseSum(axes)(node.inputs[0])]


def _rewriter():
    return WalkingGraphRewriter(node_rewriter([CAReduce])(rewrite_pairwise_sum))


def register(optdb):
    """Register the rewrite in ``optdb`` under ``TAG`` only."""
    optdb.register(NAME, _rewriter(), TAG, position=POSITION)


def rewrite_fgraph(fgraph):
    """Turn ``fgraph``'s eligible sums into ``PairwiseSum`` in place (``scan_numba``: a
    loop body written as numpy code and jitted, where ``x.sum()`` would be Numba's own
    in-order sum); returns ``fgraph``."""
    _rewriter().rewrite(fgraph)
    return fgraph


# --- the Numba form -------------------------------------------------------------------------

def _block(a, lo, n, zero):
    """numpy's sum of ``a[lo:lo + n]``, ``n <= BLOCK``: eight accumulators, then the rest."""
    if n < 8:
        res = zero
        for i in range(n):
            res += a[np.uint64(lo + i)]  # unsigned indices: no wraparound test, so LLVM vectorizes
        return res
    b = a[lo:lo + n]
    r0, r1, r2, r3 = b[0], b[1], b[2], b[3]
    r4, r5, r6, r7 = b[4], b[5], b[6], b[7]
    m = n - n % 8
    for k in range(1, m // 8):
        i = np.uint64(8 * k)
        r0 += b[i]
        r1 += b[i + np.uint64(1)]
        r2 += b[i + np.uint64(2)]
        r3 += b[i + np.uint64(3)]
        r4 += b[i + np.uint64(4)]
        r5 += b[i + np.uint64(5)]
        r6 += b[i + np.uint64(6)]
        r7 += b[i + np.uint64(7)]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(m, n):
        res += b[np.uint64(i)]
    return res


def _pairwise(a, lo, n, zero):
    """numpy's ``pairwise_sum`` of ``a[lo:lo + n]`` (``a`` 1-D contiguous), its recursion
    unrolled onto a stack: a frame is (start, length, whether its left half is done)."""
    if n <= BLOCK:
        return _block(a, lo, n, zero)
    starts = np.empty(64, np.int64)
    lengths = np.empty(64, np.int64)
    left_done = np.zeros(64, np.bool_)
    lefts = np.empty(64, a.dtype)
    sp = 0
    starts[0], lengths[0], left_done[0] = lo, n, False
    while True:
        m = lengths[sp]
        if m > BLOCK:  # split as numpy does, at a multiple of eight: go left first
            half = m // 2
            half -= half % 8
            sp += 1
            starts[sp], lengths[sp], left_done[sp] = starts[sp - 1], half, False
            continue
        v = _block(a, starts[sp], m, zero)
        while True:  # hand v to the parent frames
            if sp == 0:
                return v
            sp -= 1
            if left_done[sp]:
                v = lefts[sp] + v  # both halves done: the parent's sum goes up
                continue
            lefts[sp] = v
            left_done[sp] = True
            half = lengths[sp] // 2
            half -= half % 8
            sp += 1
            starts[sp], lengths[sp], left_done[sp] = starts[sp - 1] + half, lengths[sp - 1] - half, False
            break


_helpers: dict = {}


def _jitted_helpers():
    """``_pw_block`` and ``_pw_run`` jitted, from the same text a loop body gets
    (``CODE_HELPERS_SOURCE``): one form of the helpers for both uses."""
    if not _helpers:
        import numba

        jit = dict(boundscheck=False, fastmath=False, error_model="numpy")
        env = {"np": np, "__name__": __name__}
        exec(compile(CODE_HELPERS_SOURCE, "<pyautodiff pairwise sum>", "exec"), env)
        env["_pw_block"] = numba.njit(**jit)(env["_pw_block"])  # resolved by _pw_run when it compiles
        _helpers["pairwise"] = numba.njit(**jit)(env["_pw_run"])
    return _helpers


def reducer_source(ndim: int, axes: tuple, dtype: str) -> str:
    """The source of the jitted reducer of ``PairwiseSum(axes)`` on ``ndim``-d ``dtype`` arrays.

    Example (``axes=(1,)`` on a matrix)::

        def pairwise_sum(x):
            if not x.flags.c_contiguous:
                return fallback(x)
            flat = np.ascontiguousarray(x).ravel()
            inner = x.shape[1]
            out = np.empty((x.shape[0],), dtype=np.float64)
            ...
    """
    kept = [d for d in range(ndim) if d not in axes]
    lines = ["def pairwise_sum(x):"]
    if not kept and ndim == 1:  # numpy adds a strided vector pairwise too, in its logical order
        lines += [
            "    flat = np.ascontiguousarray(x)",
            f"    return np.array(ZERO + pairwise(flat, 0, flat.size, ZERO), dtype=np.{dtype})",
        ]
    elif not kept:
        lines += [
            "    if x.flags.c_contiguous:",
            "        flat = np.ascontiguousarray(x).ravel()",
            "    elif x.flags.f_contiguous:",  # numpy adds in memory order
            "        flat = np.ascontiguousarray(x.T).ravel()",
            "    else:",
            "        return fallback(x)",
            f"    return np.array(ZERO + pairwise(flat, 0, flat.size, ZERO), dtype=np.{dtype})",
        ]
    else:
        inner = " * ".join(f"x.shape[{d}]" for d in axes)
        shape = "".join(f"x.shape[{d}], " for d in kept)
        lines += [
            "    if not x.flags.c_contiguous:",
            "        return fallback(x)",
            "    flat = np.ascontiguousarray(x).ravel()",
            f"    inner = {inner}",
            f"    out = np.empty(({shape}), dtype=np.{dtype})",
            "    res = out.ravel()",
            "    for o in range(res.size):",
            "        res[o] = ZERO + pairwise(flat, o * inner, inner, ZERO)",
            "    return out",
        ]
    return "\n".join(lines) + "\n"


def _code_helpers_source() -> str:
    """The helpers as module-level text for generated numpy code that Numba jits (a
    ``scan_numba`` body): ``_pw_block``, ``_pw_run``, and the two entry points
    ``_pairwise_total(x)`` (all of ``x``, C order) and ``_pairwise_rows(x, outer, inner)``
    (each run of ``inner`` elements)."""
    text = (inspect.getsource(_block) + "\n\n" + inspect.getsource(_pairwise)).replace(
        "_block(", "_pw_block(").replace("_pairwise(", "_pw_run(").replace("BLOCK", str(BLOCK))
    return text + '''

def _pairwise_total(x):
    """np.sum(x) in numpy's pairwise order (x in C order)."""
    flat = np.ascontiguousarray(x).ravel()
    zero = np.zeros(1, dtype=flat.dtype)[0]
    return zero + _pw_run(flat, 0, flat.size, zero)


def _pairwise_rows(x, outer, inner):
    """numpy's pairwise sum of each run of inner elements of x (C order): outer values."""
    flat = np.ascontiguousarray(x).ravel()
    zero = np.zeros(1, dtype=flat.dtype)[0]
    out = np.empty(outer, dtype=flat.dtype)
    for o in range(outer):
        out[o] = zero + _pw_run(flat, o * inner, inner, zero)
    return out'''


CODE_HELPERS_NAME = "_pairwise_total"  # the numpy code's helper chunk, named by its first entry point
CODE_HELPERS_SOURCE = _code_helpers_source()


@functools.cache  # once per process: a second registration would only repeat it
def install() -> None:
    """Teach PyTensor's Numba linker ``PairwiseSum`` (idempotent; imports Numba)."""
    from pytensor.link.numba.dispatch import basic

    @basic.register_funcify_and_cache_key(PairwiseSum)
    def funcify_pairwise_sum(op, node=None, **kwargs):
        from pytensor.link.numba.cache import compile_numba_function_src
        from pytensor.tensor.math import Sum

        (x,), dtype = node.inputs, node.outputs[0].type.dtype
        # PyTensor's reducer for the layouts numpy does not add pairwise
        sum_node = Sum(axis=op.axis, dtype=dtype, acc_dtype=dtype).make_node(x)
        fallback, fallback_key = basic.numba_funcify_and_cache_key(sum_node.op, node=sum_node)
        source = reducer_source(x.type.ndim, op.axis, dtype)
        helpers = _jitted_helpers()
        env = {"np": np, "fallback": fallback, "pairwise": helpers["pairwise"],
               "ZERO": np.dtype(dtype).type(0), "__name__": __name__}
        key = None
        if fallback_key is not None:  # the helpers are compiled into the reducer: their text is keyed too
            text = f"pyautodiff pairwise sum v{VERSION}\n{CODE_HELPERS_SOURCE}\n{source}\n{fallback_key}"
            key = hashlib.sha256(text.encode()).hexdigest()
        fn = compile_numba_function_src(source, "pairwise_sum", env, cache_key=key)
        return basic.numba_njit(fn, boundscheck=False, fastmath=False), key
