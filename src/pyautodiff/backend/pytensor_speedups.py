"""Costs PyTensor pays per node that a first call need not pay, taken away without
changing any graph.

- ``ExternalCOp.load_c_code`` (PyTensor 3.0, where ``DimShuffle`` is one) reads and
  parses its C source file every time an Op is constructed: every transpose or
  broadcast the trace or the gradient builds resolved a path, read a file and
  split it into sections (about 8% of a first call on an unrolled loop).  The
  sections of a file are the same every time: they are parsed once per
  (class, files) and copied into each new Op.
- ``pytensor.scalar.basic.upcast`` (the result dtype of every scalar op built,
  by building numpy 0-d arrays and adding them) is a function of its dtype
  names and two config settings: memoized on exactly those.

- ``pytensor.tensor.basic.infer_static_shape`` (every ``Alloc``/``zeros`` built, e.g.
  seven times in the gradient of a ``Scan``) clones the whole ancestry of its shape
  expressions into a new graph with a ``ShapeFeature``: ``x.shape[0]`` clones all of
  ``x``'s graph, about 6 ms each on a small loop, three quarters of differentiating it.
  Each ``Shape``/``Shape_i`` of a variable whose type already fixes that shape is cut
  off first (replaced by the constant PyTensor's own shape inference would fold it to),
  and the original runs on what is left when that is small; otherwise on the original
  expression.  The result is the same.  A ``Shape``/``Shape_i`` of an output whose type
  leaves a length open (a ``Scan``'s outputs: the gradient of one rolled loop asked for
  the length of its outputs seven times, 5 ms each) is cut too, with the lengths the
  original found for all the outputs of that node at once, kept per node (a node's
  inputs are only ever replaced by equal values, so its outputs' shapes do not change;
  the memo is checked against them all the same).

- ``ScalarOp.output_types`` (every scalar node built: the scalar graph of each
  elementwise gradient and the shadow node ``Elemwise.make_node`` builds to learn its
  output dtypes) calls the op's ``output_types_preference`` on the input types, which
  upcasts dtypes by building numpy values.  The answer is a function of that preference
  (a function or an immutable object, kept alive by the memo so that its id is not
  reused), the input types and the two config settings ``upcast`` reads: memoized on
  exactly those.  Ops with their own ``output_types`` do not go through it.
- ``Elemwise.get_output_info`` (every elementwise node built) builds a "shadow" scalar
  node on fresh scalar inputs only to read its number of outputs and their dtypes, both
  functions of the scalar op, the input dtypes and the config settings: the shadow of
  a plain ``ScalarOp`` is kept per (op, dtypes, settings) and handed to that call again
  (no other caller of ``make_scalar_node`` gets a kept one).

- ``pytensor.graph.utils.add_tag_trace`` (every variable and constant made) reads two
  config settings, builds a list of path fragments and walks no frame at all when the
  traceback limit is 0, as it is while we build (``rewrite.without_stack_traces``):
  about 5% of differentiating a large graph.  ``tag_traces_off(True)``, called when that
  limit is set to 0, puts in its place a function setting the same empty trace
  directly; ``tag_traces_off(False)`` puts the original back (a wrapper left in place
  would show up as a frame of its own in the traces kept otherwise).

- ``TensorConstant.signature`` (how merging, ``equals`` and every hash of a constant
  compare it by value) builds a new signature object at each call, and each one computes
  the data's NaN mask and sum again through ``numpy.ma``: a constant compared ten times
  paid for ten masked arrays.  A constant's signature is kept (outside the constant, so
  that pickles do not carry it) while its ``type`` and ``data`` are the same objects; its
  data is never written in place (PyTensor keeps ``unique_value`` the same way).

- ``ShapeFeature`` (PyTensor before 3.3, which infers every node's shape when it enters
  the graph: half of rewriting a Hessian's graph) calls the node's ``infer_shape`` and then
  replaces every dimension the output's type fixes by a new constant, so for an output of
  fully static shape the inferred shape graph is built only to be thrown away.  For such
  nodes the constants are set directly, one per size and graph (1 is the feature's own
  ``lscalar_one``); other nodes go through the original.  ``shape_of`` holds the same
  values.

- ``TensorType.__init__`` (every variable, constant and type clone a rewrite builds:
  about 1500 for the rosen Hessian) normalizes its dtype through ``str(np.dtype(...))``,
  whose numpy 2 implementation is Python code, and checks it again in ``dtype_specs``.
  A dtype name it has accepted once as it is, with a shape of ints and Nones, sets the
  same attributes directly; anything else goes to the original.  It is installed only if
  both build identical types (a PyTensor that sets more attributes keeps its own).

- Python's cyclic garbage collector walks every live object at each full
  collection, and building a graph allocates millions of them: collections
  grow with the graph, so building grows faster than linearly (a 42 000-node
  gradient built and light-rewritten in 15.5 s of CPU, 8.7 s with the collector
  paused).  ``gc_paused()`` pauses it while a first call builds; it runs as
  usual afterwards and frees whatever cycles the build left.

``install()`` is idempotent and is called when the backend is imported.

Example::

    from pyautodiff.backend import pytensor_speedups
    pytensor_speedups.install()
"""
from __future__ import annotations

import contextlib
import gc
import threading

_LOCK = threading.Lock()
_installed = False
_paused = [0, False]  # builds running with the collector paused, whether it was enabled


@contextlib.contextmanager
def gc_paused():
    """No cyclic garbage collection while building a graph (nested and concurrent uses
    share one pause; the collector is enabled again when the last one ends, if it was)."""
    with _LOCK:
        if _paused[0] == 0:
            _paused[1] = gc.isenabled()
            gc.disable()
        _paused[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _paused[0] -= 1
            if _paused[0] == 0 and _paused[1]:
                gc.enable()


def install() -> None:
    """Apply the speedups above (once per process)."""
    global _installed
    with _LOCK:
        if _installed:
            return
        _installed = True
        _memoize_c_code()
        _memoize_upcast()
        _cut_static_shapes()
        _memoize_scalar_output_types()
        _memoize_elemwise_shadow()
        _memoize_constant_signature()
        _static_shapes_known()
        _quick_tensor_types()


def _memoize_c_code():
    try:
        from pytensor.link.c.op import ExternalCOp
    except ImportError:  # a PyTensor without it: nothing to speed up
        return
    original = ExternalCOp.load_c_code
    parsed: dict = {}  # (class, files) -> (func_codes, code_sections)

    def load_c_code(self, func_files):
        files = tuple(func_files)
        key = (type(self), tuple(str(f) for f in files))
        fresh = not self.func_codes and not self.code_sections
        hit = parsed.get(key) if fresh else None
        if hit is not None:
            self.func_codes.extend(hit[0])
            self.code_sections.update(hit[1])
            return
        original(self, files)
        if fresh:
            parsed[key] = (list(self.func_codes), dict(self.code_sections))

    load_c_code.__doc__ = original.__doc__
    ExternalCOp.load_c_code = load_c_code


def _memoize_upcast():
    from pytensor import config
    from pytensor.scalar import basic

    original = basic.upcast
    known: dict = {}

    def upcast(dtype, *dtypes):
        key = (config.cast_policy, config.floatX, str(dtype), *map(str, dtypes))
        hit = known.get(key)
        if hit is None:
            hit = known[key] = original(dtype, *dtypes)
        return hit

    upcast.__doc__ = original.__doc__
    upcast.__wrapped__ = original
    basic.upcast = upcast  # ScalarType.upcast and upcast_out look it up here at each call
    import pytensor.scalar

    if pytensor.scalar.upcast is original:
        pytensor.scalar.upcast = upcast


def _memoize_scalar_output_types():
    from pytensor import config
    from pytensor.scalar.basic import ScalarOp, ScalarType

    original = ScalarOp.output_types
    known: dict = {}  # id(preference) -> (preference, {(settings, types): output types})

    def output_types(self, types):
        preference = self.output_types_preference
        if preference is None:
            return original(self, types)
        entry = known.get(id(preference))
        if entry is None or entry[0] is not preference:
            entry = known[id(preference)] = (preference, {})
        if not all(type(t) is ScalarType for t in types):  # equal plain ScalarTypes: equal dtypes
            return original(self, types)
        key = (self.nout, config.cast_policy, config.floatX, *[t.dtype for t in types])
        hit = entry[1].get(key)
        if hit is None:
            hit = original(self, types)  # raises as the original would
            entry[1][key] = list(hit) if type(hit) is list else hit  # a copy the caller cannot change
            return hit
        return list(hit) if type(hit) is list else hit  # a list or tuple, as the preference gave

    output_types.__doc__ = original.__doc__
    output_types.__wrapped__ = original
    ScalarOp.output_types = output_types


_SHADOWS_MAX = 4096  # (op, dtypes) shadows kept; past it the memo starts again


def _memoize_elemwise_shadow():
    from pytensor import config
    from pytensor.scalar.basic import ScalarOp
    from pytensor.tensor.elemwise import Elemwise

    if "make_scalar_node" not in Elemwise.__dict__:  # a PyTensor building its shadow inline
        return
    original_info, original_shadow = Elemwise.get_output_info, Elemwise.make_scalar_node
    wanted = threading.local()  # .on: the next make_scalar_node is get_output_info's shadow
    shadows: dict = {}  # (id(scalar op), settings, dtypes) -> (scalar op, shadow node)

    def make_scalar_node(self, *inputs):
        if not getattr(wanted, "on", False):
            return original_shadow(self, *inputs)
        wanted.on = False  # only get_output_info's own call, not one nested in it
        op = self.scalar_op
        if type(op).make_node is not ScalarOp.make_node:  # e.g. a Composite: not memoized
            return original_shadow(self, *inputs)
        key = (id(op), config.cast_policy, config.floatX, *[i.type.dtype for i in inputs])
        hit = shadows.get(key)
        if hit is None or hit[0] is not op:
            if len(shadows) >= _SHADOWS_MAX:
                shadows.clear()
            hit = shadows[key] = (op, original_shadow(self, *inputs))  # raises as ever
        return hit[1]

    def get_output_info(self, *inputs):
        wanted.on = True
        try:
            return original_info(self, *inputs)
        finally:
            wanted.on = False

    make_scalar_node.__doc__, get_output_info.__doc__ = original_shadow.__doc__, original_info.__doc__
    make_scalar_node.__wrapped__, get_output_info.__wrapped__ = original_shadow, original_info
    Elemwise.make_scalar_node, Elemwise.get_output_info = make_scalar_node, get_output_info


# at most this many nodes of a shape expression are rebuilt with static shapes cut off;
# a larger one (a shape that depends on a long computation) goes to the original whole
_CUT_MAX_NODES = 200


class _TooLarge(Exception):
    pass


def _static_shapes_cut(shape, original):
    """``shape`` (scalar integer variables) with every ``Shape``/``Shape_i`` of a variable of
    static shape replaced by its constant, or None when that would rebuild too many nodes.
    ``original``: PyTensor's ``infer_static_shape``, for the lengths a type leaves open."""
    import numpy as np
    from pytensor.tensor import constant
    from pytensor.tensor.shape import Shape, Shape_i

    memo: dict = {}
    rebuilt = [0]

    def static_of(node):
        if isinstance(node.op, Shape):
            shape = _static_shape_of(node.inputs[0], original)
            return shape if None not in shape else None
        if isinstance(node.op, Shape_i):
            return _static_shape_of(node.inputs[0], original)[node.op.i]
        return None

    def walk(v):  # depth at most _CUT_MAX_NODES: each level rebuilds one more node
        if v in memo:
            return memo[v]
        node = v.owner
        if node is None:
            new = v
        elif (known := static_of(node)) is not None:
            new = constant(np.asarray(known, dtype=v.type.dtype))
        else:
            rebuilt[0] += 1
            if rebuilt[0] > _CUT_MAX_NODES:
                raise _TooLarge
            inputs = [walk(i) for i in node.inputs]
            new = v if all(a is b for a, b in zip(inputs, node.inputs)) else \
                node.clone_with_new_inputs(inputs).outputs[v.index]
        memo[v] = new
        return new

    try:
        return [walk(s) for s in shape]
    except _TooLarge:
        return None


_NODE_SHAPES_LOCK = threading.Lock()
_node_shapes = None  # WeakKeyDictionary: Apply -> (its inputs, static shape of each output)


def _static_shape_of(v, original):
    """``v``'s shape, an int or None per dimension: its type's, with the dimensions the type
    leaves open filled in by ``original`` (PyTensor's shape inference and constant folding)
    run once on the shapes of all the outputs of ``v``'s node."""
    import weakref

    global _node_shapes
    shape = getattr(v.type, "shape", None)
    node = v.owner
    if shape is None or None not in shape or node is None:
        return shape if shape is not None else (None,) * v.type.ndim
    with _NODE_SHAPES_LOCK:
        if _node_shapes is None:
            _node_shapes = weakref.WeakKeyDictionary()
        hit = _node_shapes.get(node)
    if hit is None or len(hit[0]) != len(node.inputs) or any(a is not b for a, b in zip(hit[0], node.inputs)):
        with _NODE_SHAPES_LOCK:  # while it is worked out (the original may build an Alloc): open
            _node_shapes[node] = hit = (tuple(node.inputs), None)
        hit = (hit[0], _infer_node_shapes(node, original))
        with _NODE_SHAPES_LOCK:
            _node_shapes[node] = hit
    learned = hit[1]
    if learned is None:
        return shape
    return tuple(a if a is not None else b for a, b in zip(shape, learned[node.outputs.index(v)]))


def _infer_node_shapes(node, original):
    """The static shape of each output of ``node`` as ``original`` infers it from the
    shapes of all of them together (None where it leaves a length open), or None if it fails."""
    dims = [(k, d) for k, out in enumerate(node.outputs) if hasattr(out.type, "shape")
            for d, known in enumerate(out.type.shape) if known is None]
    try:  # ``x.shape[d]``: PyTensor 3.0 folds it where it leaves a bare ``Shape_i`` open
        static = original([node.outputs[k].shape[d] for k, d in dims])[1]
    except Exception:  # e.g. an op without infer_shape: the original will say so where it matters
        return None
    shapes = [list(getattr(out.type, "shape", ())) for out in node.outputs]
    for (k, d), n in zip(dims, static):
        shapes[k][d] = n
    return [tuple(s) for s in shapes]


def _evaluate_constant(outputs):
    """The values of scalar integer ``outputs`` computed from constants alone (each node's
    ``perform``, as constant folding does), or None if they depend on anything else."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import io_toposort

    values = {}
    try:
        for node in io_toposort([], outputs):
            if not all(isinstance(i, Constant) or i in values for i in node.inputs):
                return None
            storage = [[None] for _ in node.outputs]
            node.op.perform(node, [i.data if isinstance(i, Constant) else values[i] for i in node.inputs],
                            storage)
            values.update((o, cell[0]) for o, cell in zip(node.outputs, storage))
        return tuple(int((o.data if isinstance(o, Constant) else values[o]).item()) for o in outputs)
    except Exception:  # let the original decide (and raise its own error)
        return None


def _cut_static_shapes():
    from pytensor.tensor import as_tensor_variable, basic
    from pytensor.tensor.type import integer_dtypes

    original = basic.infer_static_shape

    def infer_static_shape(shape):
        if not isinstance(shape, (list, tuple)):
            return original(shape)
        sh = [as_tensor_variable(s, ndim=0) for s in shape]
        cut = _static_shapes_cut(sh, original) if all(s.type.dtype in integer_dtypes for s in sh) else None
        if cut is None:  # also a bad dtype: the original's error
            return original(shape)
        known = _evaluate_constant(cut)
        return sh, known if known is not None else original(cut)[1]

    infer_static_shape.__doc__ = original.__doc__
    infer_static_shape.__wrapped__ = original
    basic.infer_static_shape = infer_static_shape  # Alloc, Eye... look it up here at each call
    import importlib

    for name in ("pytensor.tensor.random.op", "pytensor.tensor.reshape"):  # imported by name there
        module = importlib.import_module(name)
        if getattr(module, "infer_static_shape", None) is original:
            module.infer_static_shape = infer_static_shape


def _memoize_constant_signature():
    import weakref

    from pytensor.tensor.variable import TensorConstant

    original = TensorConstant.signature
    kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # constant -> (type, data, signature)

    def signature(self):
        hit = kept.get(self)
        if hit is not None and hit[0] is self.type and hit[1] is self.data:
            return hit[2]
        sig = original(self)
        kept[self] = (self.type, self.data, sig)
        return sig

    signature.__doc__ = original.__doc__
    signature.__wrapped__ = original
    TensorConstant.signature = signature


def _static_shapes_known():
    from pytensor.tensor.rewriting.shape import ShapeFeature
    from pytensor.tensor.type import TensorType

    if not hasattr(ShapeFeature, "set_shape") or not hasattr(ShapeFeature, "shape_ir"):
        return  # PyTensor >= 3.3: shapes are inferred lazily, on demand
    original_import, original_shape_ir = ShapeFeature.on_import, ShapeFeature.shape_ir

    def on_import(self, fgraph, node, reason):
        outs = node.outputs
        if outs[0] in self.shape_of or not all(
                type(r.type) is TensorType and None not in r.type.shape for r in outs):
            return original_import(self, fgraph, node, reason)
        for r in node.inputs:  # as the original: every input has its shape first
            self.init_r(r)
        for r in outs:
            shape = tuple(_static_dim(self, k) for k in r.type.shape)
            self.shape_of[r] = shape
            for sv in shape:
                self.shape_of_reverse_index.setdefault(sv, set()).add(r)

    def shape_ir(self, i, r):
        k = getattr(r.type, "shape", None)
        if k is not None and k[i] is not None:
            return _static_dim(self, k[i])
        return original_shape_ir(self, i, r)

    on_import.__wrapped__, shape_ir.__wrapped__ = original_import, original_shape_ir
    ShapeFeature.on_import, ShapeFeature.shape_ir = on_import, shape_ir


def _static_dim(feature, k):
    """The int64 constant ``k`` of ``feature``'s graph, one per size (1: ``lscalar_one``)."""
    from pytensor.tensor import constant

    if k == 1:
        return feature.lscalar_one
    dims = feature.__dict__.get("_pyautodiff_static_dims")
    if dims is None or dims[0] is not feature.lscalar_one:  # attached (again) since
        dims = feature._pyautodiff_static_dims = (feature.lscalar_one, {})
    c = dims[1].get(k)
    if c is None:
        c = dims[1][k] = constant(k, dtype="int64")
    return c


def _quick_tensor_types():
    from pytensor.tensor.type import TensorType

    original = TensorType.__init__
    known: dict = {}  # a dtype name the original kept as it is -> its numpy dtype

    def __init__(self, dtype, shape=None, name=None, broadcastable=None):
        np_dtype = known.get(dtype) if type(dtype) is str else None
        if (np_dtype is None or broadcastable is not None or type(self) is not TensorType
                or type(shape) is not tuple or len(shape) > 64
                or not all(s is None or type(s) is int for s in shape)):
            original(self, dtype, shape, name, broadcastable)
            if type(dtype) is str and self.dtype == dtype:
                known[dtype] = self.numpy_dtype
            return
        self.dtype = dtype
        self.shape = shape
        self.broadcastable = tuple(s == 1 for s in shape)
        self.ndim = len(shape)
        self.name = name
        self.numpy_dtype = np_dtype

    __init__.__doc__ = original.__doc__
    __init__.__wrapped__ = original
    # installed only if it builds what the original builds
    for dtype, shape in (("float64", (3, None, 1)), ("int8", ())):
        want, got = TensorType.__new__(TensorType), TensorType.__new__(TensorType)
        original(want, dtype, shape, "t")
        known[dtype] = want.numpy_dtype
        __init__(got, dtype, shape, "t")
        if vars(want) != vars(got):
            return
    TensorType.__init__ = __init__


_tag_trace = {}  # "original", "short": the two versions of add_tag_trace


def tag_traces_off(off: bool) -> None:
    """Put the short ``add_tag_trace`` (``off``) or PyTensor's own in place.

    Example::

        config.traceback__limit = 0
        tag_traces_off(True)
    """
    from pytensor import config
    from pytensor.graph import basic, op, utils

    if not _tag_trace:
        original = utils.add_tag_trace

        def add_tag_trace(thing, user_line=None):
            if (config.traceback__limit if user_line is None else user_line) == 0:
                thing.tag.trace = []  # what the original sets when it keeps no frame
                return thing
            return original(thing, user_line)

        add_tag_trace.__doc__ = original.__doc__
        add_tag_trace.__wrapped__ = original
        _tag_trace.update(original=original, short=add_tag_trace)
    new, old = (_tag_trace["short"], _tag_trace["original"]) if off else \
        (_tag_trace["original"], _tag_trace["short"])
    utils.add_tag_trace = new  # Type.__call__ looks it up here at each call
    if basic.add_tag_trace is old:  # imported by name: Constant
        basic.add_tag_trace = new
    if op.Op.__dict__.get("add_tag_trace") is not None and op.Op.add_tag_trace is old:
        op.Op.add_tag_trace = staticmethod(new)
