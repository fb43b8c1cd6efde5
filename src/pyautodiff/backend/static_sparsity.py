"""Arrays that equal a broadcast background except at positions known when compiling.

Hessians and forward-mode Jacobians are built by pushing an identity basis
through the graph, so after fusion their elementwise kernels read big
constant matrices that are one value almost everywhere (``2 * eye(n)[:, :-1]``,
``-400 * eye(n)``...), and the result is assembled by adding such blocks into
``zeros``.  The Rosenbrock Hessian (N=100) ran a fused kernel over 100x99
elements reading four such constants, then added two 100x99 blocks into a
100x100 zero matrix: five dense passes to fill a tridiagonal matrix.

This pass follows such values through the graph in a compact *form*:

* a ``background``, broadcastable to the full shape, of small size (a row,
  a scalar): the value wherever nothing else is said;
* ``positions``, flat indices fixed at compile time, and ``exceptions``, a
  vector of the values there.

A constant's background is its most frequent value, bit for bit (so ``-0.0``
and NaN count as themselves); an ``Alloc`` is all background.  Through an
elementwise node, the result's background is the node's own scalar operation
on the operands' backgrounds, and its exceptions the same operation on the
operands' values gathered at the union of their positions.  Through
``x[slices] += y`` (or ``=``), the background is the same update applied to
the backgrounds, and the exceptions the same update at the union.  Every
element is thus computed by the same operation on the same operands as in the
dense graph, so the result is identical, NaN, inf and signed zeros included:
no ``0 * x -> 0`` is assumed anywhere.  A form is only built when both its
background and its exceptions are a small part of the full array, and it is
materialized as ``alloc(background)`` with the exceptions written in.

Where an update covers an axis only in part (``x[1:, :-1] += y``), the
background either varies along that axis, or stays compact and the elements
the update misses become exceptions, whichever is smaller.

The pass runs after elementwise fusion, where a fused kernel's constants are
its direct inputs.  It walks the graph from inputs to outputs, so a consumer
finds its operands' forms in a table of the variables it materialized.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Constant
from pytensor.graph.rewriting.basic import WalkingGraphRewriter, node_rewriter
from pytensor.tensor.basic import Alloc
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.subtensor import IncSubtensor, indices_from_subtensor
from pytensor.tensor.type import TensorType
from pytensor.tensor.variable import TensorConstant

NAME = "static_sparsity"
ENABLED = True  # tests compare against the dense graph by turning it off
POSITION = 49.2  # after elementwise fusion (49), before in-place rewrites (49.5+)
_MIN_ELEMENTS = 1024  # below this the extra nodes cost more than they save
_MAX_FRACTION = 1 / 8  # of the full array: what the background and exceptions may each cover
_MAX_CONSTANT = 4_000_000  # elements: finding a constant's background is a sort


@dataclass(frozen=True)
class Form:
    """``alloc(background, *shape)`` with ``exceptions`` at flat ``positions``."""
    background: object  # TensorVariable of ndim len(shape), dims 1 or shape's
    shape: tuple
    positions: np.ndarray  # int64, distinct, in the order of ``exceptions``
    exceptions: object  # 1-d TensorVariable

    @property
    def compact_shape(self):
        return tuple(self.background.type.shape)


_forms: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # materialized variable -> Form
_constant_forms: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # constant -> Form or None


class ExactConstant(TensorConstant):
    """A constant that PyTensor's merging keeps apart from any other whose bits
    differ: it merges constants by ``==``, so ``0.0`` with ``-0.0``, which
    would change the sign of zeros the dense graph computes."""

    def merge_signature(self):
        return (self.signature(), self.data.dtype.str, self.data.tobytes())


def _constant(array):
    array = np.ascontiguousarray(array)
    return ExactConstant(TensorType(array.dtype, shape=array.shape), array)


def _all_background(background, shape, dtype):
    """A form with no exceptions."""
    return Form(background, tuple(shape), np.zeros(0, np.int64), _constant(np.zeros(0, dtype)))


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _worth_it(form_shape, compact_shape, n_positions) -> bool:
    size = _size(form_shape)
    return (size >= _MIN_ELEMENTS and n_positions <= size * _MAX_FRACTION
            and _size(compact_shape) <= size * _MAX_FRACTION)


# ---------------------------------------------------------------------------
# Forms of the operands
# ---------------------------------------------------------------------------

def _constant_form(data, shape):
    """A constant as background (its most frequent value) and exceptions."""
    data = np.asarray(data)
    if data.dtype.itemsize not in (1, 2, 4, 8) or data.size > _MAX_CONSTANT:
        return None
    full = np.broadcast_to(data, shape)
    bits = np.ascontiguousarray(full).view(f"u{data.dtype.itemsize}").reshape(-1)
    values, counts = np.unique(bits, return_counts=True)
    common = values[np.argmax(counts)]
    positions = np.flatnonzero(bits != common)
    background = np.full((1,) * len(shape), common, dtype=bits.dtype).view(data.dtype)
    return Form(_constant(background), tuple(shape), positions,
                _constant(np.ascontiguousarray(full.reshape(-1)[positions])))


def _alloc_form(var, shape):
    value = var.owner.inputs[0]
    if None in value.type.shape:
        return None
    background = pt.shape_padleft(value, len(shape) - value.type.ndim)
    return _all_background(background, shape, var.dtype)


def _plain_form(var, shape):
    """Any variable as its own background, if its static shape promises ``shape``."""
    if var.type.ndim != len(shape):
        return None
    for dim, want in zip(var.type.shape, shape):
        if dim is None or (dim != 1 and dim != want):
            return None  # a run-time shape the static one does not promise
    return _all_background(var, shape, var.dtype)


def _in_graph(fgraph, var) -> bool:
    return isinstance(var, Constant) or var in fgraph.variables


def _form_of(fgraph, var, shape):
    """``(form, structured)``: ``structured`` if the form saves anything."""
    form = _forms.get(var)
    # a later pass may have rewritten what the form reads: then it is stale
    if (form is not None and form.shape == tuple(shape) and _in_graph(fgraph, form.background)
            and _in_graph(fgraph, form.exceptions)):
        return form, True
    if isinstance(var, TensorConstant) and var.data.shape == tuple(shape) and _size(shape) > 1:
        if var not in _constant_forms:  # one sort per constant, however many nodes read it
            form = _constant_form(var.data, shape)
            sparse = form is not None and len(form.positions) <= _size(shape) * _MAX_FRACTION
            _constant_forms[var] = form if sparse else None
        if _constant_forms[var] is not None:
            return _constant_forms[var], True
    if var.owner is not None and isinstance(var.owner.op, Alloc) and var.type.shape == tuple(shape):
        form = _alloc_form(var, shape)
        if form is not None:
            return form, True
    return _plain_form(var, shape), False


# ---------------------------------------------------------------------------
# Reading a form at given positions, and building the full array
# ---------------------------------------------------------------------------

def _compact_index(form, flat_positions):
    """Flat indices into the background for full-array positions."""
    index = np.unravel_index(flat_positions, form.shape)
    compact = form.compact_shape
    return np.ravel_multi_index(tuple(ix if n > 1 else 0 for ix, n in zip(index, compact)), compact)


def _values_at(form, flat_positions):
    """A 1-d variable: the form's values at ``flat_positions`` (full-array flat indices)."""
    flat_positions = np.asarray(flat_positions, dtype=np.int64)
    n_exceptions = len(form.positions)
    if n_exceptions and np.array_equal(flat_positions, form.positions):
        return form.exceptions
    # indices into concatenate([exceptions, background.ravel()])
    source = n_exceptions + _compact_index(form, flat_positions)
    hit = np.zeros(len(flat_positions), dtype=bool)
    if n_exceptions:
        order = np.argsort(form.positions, kind="stable")
        at = np.minimum(np.searchsorted(form.positions[order], flat_positions), n_exceptions - 1)
        hit = form.positions[order][at] == flat_positions
        source = np.where(hit, order[at], source)
    background, exceptions = form.background, form.exceptions
    if isinstance(background, TensorConstant) and isinstance(exceptions, TensorConstant):
        pool = np.concatenate([exceptions.data, background.data.reshape(-1)])
        return _constant(np.ascontiguousarray(pool[source]))
    if not hit.any():
        if _size(form.compact_shape) == 1:  # one value (exceptions always have one per position)
            return pt.alloc(background.reshape(()), len(flat_positions))
        return background.reshape((-1,))[_constant(source - n_exceptions)]
    pool = pt.concatenate([exceptions, background.reshape((-1,)).astype(exceptions.dtype)])
    return pool[_constant(source)]


def _broadcast(var, shape):
    return var if var.type.shape == tuple(shape) else pt.alloc(var, *shape)


def _materialize(form, dtype):
    full = pt.alloc(form.background.astype(dtype), *form.shape)
    if len(form.positions):
        flat = full.reshape((-1,))
        full = pt.set_subtensor(flat[_constant(form.positions)], form.exceptions.astype(dtype))
        full = full.reshape(form.shape)
    _forms[full] = form
    return full


# ---------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------

def _elemwise(fgraph, node):
    """``f(A, B, ...)`` of forms: ``f`` of the backgrounds, and of the values at the union."""
    shape = node.outputs[0].type.shape
    if None in shape or node.outputs[0].type.ndim == 0:
        return None
    forms, structured = [], False
    for inp in node.inputs:
        form, is_structured = _form_of(fgraph, inp, shape)
        if form is None:
            return None
        forms.append(form)
        structured |= is_structured
    if not structured:
        return None
    positions = np.unique(np.concatenate([f.positions for f in forms]))
    compact = tuple(max(dims) for dims in zip(*(f.compact_shape for f in forms)))
    if not _worth_it(shape, compact, len(positions)):
        return None
    op = Elemwise(node.op.scalar_op)
    backgrounds = op.make_node(*(f.background for f in forms)).outputs
    if not len(positions):
        return [_materialize(_all_background(b, shape, out.dtype), out.dtype)
                for out, b in zip(node.outputs, backgrounds)]
    values = op.make_node(*(_values_at(f, positions) for f in forms)).outputs
    return [_materialize(Form(b, tuple(shape), positions, v), out.dtype)
            for out, b, v in zip(node.outputs, backgrounds, values)]


def _constant_slices(node):
    """The update's slices as Python slices, or None (an integer index, a symbolic bound)."""
    def value(v):
        if v is None:
            return None
        if isinstance(v, Constant):
            return int(v.data)
        raise ValueError

    slices = []
    try:
        for entry in indices_from_subtensor(node.inputs[2:], node.op.idx_list):
            if not isinstance(entry, slice):
                return None
            slices.append(slice(value(entry.start), value(entry.stop), value(entry.step)))
    except ValueError:
        return None
    return tuple(slices)


def _update(fgraph, node):
    """``x[slices] += y`` / ``x[slices] = y`` of forms."""
    x, y = node.inputs[:2]
    shape = node.outputs[0].type.shape
    slices = _constant_slices(node)
    if None in shape or slices is None or x.dtype != y.dtype:
        return None
    slices = slices + (slice(None),) * (len(shape) - len(slices))
    region_shape = tuple(len(range(*s.indices(n))) for s, n in zip(slices, shape))
    if _size(region_shape) == 0 or y.type.ndim != len(region_shape):
        return None
    fx, sx = _form_of(fgraph, x, shape)
    fy, sy = _form_of(fgraph, y, region_shape)
    if fx is None or fy is None or not (sx or sy):
        return None
    region = np.arange(_size(shape), dtype=np.int64).reshape(shape)[slices]  # flat index per element
    operands_vary = [nx > 1 or ny > 1 for nx, ny in zip(fx.compact_shape, fy.compact_shape)]
    partial = [len(range(*s.indices(n))) != n for s, n in zip(slices, shape)]
    y_positions = region.reshape(-1)[fy.positions]
    changed = np.union1d(fx.positions, y_positions)
    # Along an axis the update covers only in part, the background either
    # varies, or stays compact and the elements outside the update become
    # exceptions (one row, say, rather than a full-size background).
    candidates = []
    for vary_partial in (True, False):
        varying = [v or (p and vary_partial) for v, p in zip(operands_vary, partial)]
        compact = tuple(n if v else 1 for n, v in zip(shape, varying))
        positions = changed
        if not vary_partial and any(p and not v for p, v in zip(partial, operands_vary)):
            outside = np.ones(shape, dtype=bool)
            outside[tuple(s if p and not v else slice(None)
                          for s, p, v in zip(slices, partial, operands_vary))] = False
            positions = np.union1d(changed, np.flatnonzero(outside))
        if _worth_it(shape, compact, len(positions)):
            candidates.append((_size(compact) + len(positions), varying, compact, positions))
    if not candidates:
        return None
    _, varying, compact, positions = min(candidates, key=lambda c: c[0])
    compact_slices = tuple(s if v else slice(None) for s, v in zip(slices, varying))
    compact_region = tuple(len(range(*s.indices(n))) for s, n in zip(compact_slices, compact))
    base = _broadcast(fx.background, compact)
    patch = _broadcast(fy.background, compact_region)
    update = pt.set_subtensor if node.op.set_instead_of_inc else pt.inc_subtensor
    background = update(base[compact_slices], patch)
    inside = np.isin(positions, region)
    at_inside, at_outside = positions[inside], positions[~inside]
    parts, order = [], []
    if len(at_inside):
        region_index = np.full(_size(shape), -1, dtype=np.int64)
        region_index[region.reshape(-1)] = np.arange(region.size)
        y_values = _values_at(fy, region_index[at_inside])
        if node.op.set_instead_of_inc:
            parts.append(y_values)
        else:
            parts.append(_values_at(fx, at_inside) + y_values)
        order.append(at_inside)
    if len(at_outside):
        parts.append(_values_at(fx, at_outside))
        order.append(at_outside)
    out = node.outputs[0]
    if not parts:
        return [_materialize(_all_background(background, shape, x.dtype), out.dtype)]
    exceptions = parts[0] if len(parts) == 1 else pt.concatenate(parts)
    return [_materialize(Form(background, tuple(shape), np.concatenate(order), exceptions), out.dtype)]


def rewrite_static_sparsity(fgraph, node):
    """Node rewriter: see the module docstring."""
    if not ENABLED:
        return False
    if isinstance(node.op, Elemwise):
        replacement = _elemwise(fgraph, node)
    elif isinstance(node.op, IncSubtensor):
        replacement = _update(fgraph, node)
    else:
        return False
    if replacement is None:
        return False
    return [new if new.type == old.type else _retype(new, old) for new, old in zip(replacement, node.outputs)]


def _retype(new, old):
    retyped = pt.specify_shape(new, old.type.shape) if new.dtype == old.dtype else new.astype(old.dtype)
    if retyped.type != old.type:
        retyped = old.type.filter_variable(retyped)
    if new in _forms:
        _forms[retyped] = _forms[new]
    return retyped


def register(optdb, tag):
    """Register the pass in ``optdb`` under ``tag`` only."""
    rewriter = node_rewriter([Elemwise, IncSubtensor])(rewrite_static_sparsity)
    optdb.register(NAME, WalkingGraphRewriter(rewriter, order="in_to_out"), tag, position=POSITION)
