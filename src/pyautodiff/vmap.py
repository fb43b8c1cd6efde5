"""``ad.vmap``: a function mapped over a batch axis, compiled as one batched graph.

``vmap(f, in_axes, out_axes)(*args)`` computes ``f`` on each slice of the
mapped arguments along their batch axis and stacks the results, as JAX's
``vmap`` does.  ``f`` may be any transformation (``ad.grad(loss)`` gives
per-example gradients) or a plain function (compiled as ``ad.function``).

How: the transformation is specialized on the first example (the usual trace,
with its guards), and its compiled graph is vectorized over the batch with
PyTensor's ``vectorize_graph``; the batched graph computes every example's
guard flag as well.  A batch in which some example takes another path through
``f``, or a graph that cannot be vectorized, runs example by example through
the transformation instead (its own cache and guards): slower, never another
path's numbers.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> def loss(w, x, y):
    ...     return (x @ w - y) ** 2
    >>> w, X, Y = np.ones(2), np.arange(6.0).reshape(3, 2), np.zeros(3)
    >>> ad.vmap(ad.grad(loss), in_axes=(None, 0, 0))(w, X, Y).shape   # one gradient per row
    (3, 2)
"""
from __future__ import annotations

import functools

import numpy as np

from . import compose, structure
from .api import as_input  # the same conversion (native byte order) as every call
from .errors import AutodiffError, UnsupportedError
from .transforms import KINDS

__all__ = ["vmap", "Vmapped"]


def _check_axis_spec(spec, what):
    def ok(a):
        return a is None or (isinstance(a, int) and not isinstance(a, bool))

    if ok(spec) or (isinstance(spec, (tuple, list)) and all(ok(a) for a in spec)):
        return tuple(spec) if isinstance(spec, list) else spec
    raise AutodiffError(f"ad.vmap: {what} takes an int, None, or a tuple of them (one per argument); got {spec!r}")


class _Batched:
    """One batched compilation: a vectorized graph and how to read its outputs."""

    __slots__ = ("fn", "fill", "has_guards", "spec")

    def __init__(self, fn, fill, has_guards, spec):
        self.fn, self.fill, self.has_guards, self.spec = fn, fill, has_guards, spec


class Vmapped:
    """``f`` mapped over a batch axis of its arguments; call it like ``f``.

    Attributes: ``original`` (``f``), ``in_axes``, ``out_axes``, ``stats``
    (``calls``, ``batched``: calls served by one batched graph, ``looped``:
    calls run example by example).
    """

    def __init__(self, f, in_axes=0, out_axes=0, mode=None):
        from .api import Transformed

        if not callable(f):
            raise AutodiffError(f"ad.vmap expects a function, got {type(f).__name__}")
        self.original = f
        self.in_axes = _check_axis_spec(in_axes, "in_axes")
        self.out_axes = _check_axis_spec(out_axes, "out_axes")
        if isinstance(f, Transformed) and (f.has_aux or f.static):
            raise AutodiffError("ad.vmap of a transformation with has_aux= or static= is not supported yet")
        self._inner = f if isinstance(f, Transformed) else Transformed(f, "function", mode=mode)
        self._compiled: dict = {}  # key -> _Batched, or None where the batch runs example by example
        self.stats = {"calls": 0, "batched": 0, "looped": 0}
        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            try:
                setattr(self, attr, getattr(f, attr))
            except AttributeError:
                pass
        self.__wrapped__ = f

    def __repr__(self):
        return f"<pyautodiff.vmap of {getattr(self.original, '__qualname__', self.original)!r}>"

    def __reduce__(self):
        """Pickle by reference, like ``Transformed``: the compiled batches stay behind."""
        from .api import global_named

        if global_named(self.original) is self:
            return self.__qualname__
        return Vmapped, (self.original, self.in_axes, self.out_axes, self._inner.mode)

    def __get__(self, obj, objtype=None):  # decorating methods
        return self if obj is None else functools.partial(self, obj)

    # -- a call ---------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        from .trace import holds_traced

        if any(holds_traced(a) for a in (*args, *kwargs.values())):
            raise UnsupportedError("ad.vmap inside a traced function (a transformation of a vmap) is not "
                                   "supported yet; apply ad.vmap outside, e.g. ad.vmap(ad.grad(f))")
        self.stats["calls"] += 1
        axes = self._axes_of(args)
        mapped_args = [self._mapped_leaves(a, ax, i) for i, (a, ax) in enumerate(zip(args, axes))]
        mapped_kw = {k: self._mapped_leaves(v, 0, k) for k, v in kwargs.items()}  # JAX: kwargs map on 0
        sizes = {n for m in (*mapped_args, *mapped_kw.values()) if m is not None for n in m[1]}
        if not sizes:
            raise AutodiffError("ad.vmap: no argument is mapped (every in_axes is None)")
        if len(sizes) > 1:
            raise AutodiffError(f"ad.vmap: the mapped axes have different sizes {sorted(sizes)}")
        (batch,) = sizes
        # batch axis first: the graph's batched inputs take it there
        args = [a if m is None else m[0] for a, m in zip(args, mapped_args)]
        kwargs = {k: mapped_kw[k][0] for k in kwargs}
        key = self._key(args, kwargs, axes, batch)
        entry = self._compiled.get(key, False)
        if entry is False:
            entry = self._compile(args, kwargs, axes, batch)
            self._compiled[key] = entry
        if entry is not None:
            out = self._run(entry, args, kwargs, axes)
            if out is not None:
                self.stats["batched"] += 1
                return self._move_out_axes(out)
        self.stats["looped"] += 1
        return self._move_out_axes(self._loop(args, kwargs, axes, batch))

    def _axes_of(self, args):
        ax = self.in_axes
        if not isinstance(ax, tuple):
            return (ax,) * len(args)
        if len(ax) != len(args):
            raise AutodiffError(f"ad.vmap: in_axes has {len(ax)} entries for a call with {len(args)} "
                                "positional arguments")
        return ax

    @staticmethod
    def _mapped_leaves(a, axis, where):
        """(the argument with its batch axis moved first, the batch sizes) or None if unmapped."""
        if axis is None:
            return None
        leaves: list = []
        structure.flatten(a, leaves)
        if not leaves:
            raise AutodiffError(f"ad.vmap: argument {where!r} is mapped (axis {axis}) but holds no array")
        moved, sizes = [], set()
        for leaf in leaves:
            arr = np.asarray(leaf)
            if arr.ndim == 0:
                raise AutodiffError(f"ad.vmap: argument {where!r} is mapped along axis {axis}, which needs "
                                    "arrays of rank at least 1; pass in_axes=None for it")
            if not -arr.ndim <= axis < arr.ndim:
                raise AutodiffError(f"ad.vmap: axis {axis} is out of range for argument {where!r} of shape "
                                    f"{arr.shape}")
            arr = np.moveaxis(arr, axis, 0)
            sizes.add(arr.shape[0])
            moved.append(arr)
        return structure.rebuild(a, iter(moved)), sizes

    @staticmethod
    def _example(x, i):
        leaves: list = []
        structure.flatten(x, leaves)
        # a 0-d array, not a numpy int scalar, which would be a static (keyed) value
        return structure.rebuild(x, iter([leaf[i] if np.ndim(leaf) > 1 or leaf.dtype.kind in "fc"
                                          else np.asarray(leaf[i]) for leaf in leaves]))

    def _examples(self, args, kwargs, axes, i):
        ex_args = [a if ax is None else self._example(a, i) for a, ax in zip(args, axes)]
        ex_kw = {k: self._example(v, i) for k, v in kwargs.items()}
        return ex_args, ex_kw

    @staticmethod
    def _key(args, kwargs, axes, batch):
        leaves: list = []
        return (structure.flatten(tuple(args), leaves), structure.flatten(kwargs, leaves), axes, batch)

    # -- the batched graph ---------------------------------------------------------
    def _compile(self, args, kwargs, axes, batch):
        """Vectorize the transformation's graph for the first example; None if it cannot be."""
        import pytensor.tensor as pt
        from pytensor.graph.replace import vectorize_graph

        from .backend.compile import compile_graph

        ex_args, ex_kw = self._examples(args, kwargs, axes, 0)
        spec = self._inner.specialization_for(*ex_args, **ex_kw)
        if spec.effects:  # writes to the outside happen once per example, in order: loop
            return None
        inner = self._inner
        tr = spec.trace
        per_arg, per_kw = self._leaf_flags(args, kwargs, axes)
        dir_flags = per_arg.pop() if inner._has_direction else []  # the direction comes last
        leaf_flags = [m for f in per_arg + per_kw for m in f]
        if len(leaf_flags) != len(tr.inputs) or len(dir_flags) != len(spec.extra_inputs):
            return None
        replace, new_inputs = {}, []
        externals = tr.all_inputs[len(tr.inputs):]
        for var, m in zip(list(tr.inputs) + externals + list(spec.extra_inputs),
                          leaf_flags + [False] * len(externals) + dir_flags):
            if m:
                b = pt.tensor(dtype=var.type.dtype, shape=(batch, *var.type.shape), name=var.name)
                replace[var] = b
                var = b
            new_inputs.append(var)
        try:
            outs = vectorize_graph(list(spec.outputs), replace=replace)
        except Exception:  # an op PyTensor cannot vectorize: example by example
            return None
        batched = []
        for old, new in zip(spec.outputs, outs):
            if new.type.ndim == old.type.ndim:  # depends on no mapped input
                new = pt.broadcast_to(new, (batch, *new.shape))
            batched.append(new)
        if spec.has_guards:
            batched[-1] = pt.all(batched[-1])
        fn, _ = compile_graph(new_inputs, batched, mode=inner.mode, name=f"vmap_{_name(self.original)}",
                              fresh_outputs=True)
        return _Batched(fn, self._fill_of(spec), spec.has_guards, spec)

    @staticmethod
    def _leaf_flags(args, kwargs, axes):
        """Per argument, per leaf: is it mapped?"""
        per_arg = []
        for a, ax in zip(args, axes):
            leaves: list = []
            structure.flatten(a, leaves)
            per_arg.append([ax is not None] * len(leaves))
        per_kw = []
        for v in kwargs.values():
            leaves = []
            structure.flatten(v, leaves)
            per_kw.append([True] * len(leaves))
        return per_arg, per_kw

    def _fill_of(self, spec):
        """Read the batched outputs into the transformation's result structure.  Python
        floats in a result become arrays (a batch of them)."""
        parts = KINDS[self._inner.kind].parts
        tmpl = spec.trace.template
        arrays = tmpl.with_kinds(tuple("array" if k == "float" else k for k in tmpl.kinds))
        value_like = [p.layout in ("outputs", "cost") for p in parts]
        if not any(value_like):  # derivatives only: the transformation's own structure
            return spec.fill
        if parts == (parts[0],):
            return arrays.fill
        counts = [tmpl.n if p.layout == "outputs" else 1 for p in parts]

        def fill(outs):
            full = spec.fill(outs) if not all(value_like) else None
            result, start = [], 0
            for i, (is_value, n) in enumerate(zip(value_like, counts)):
                if is_value:  # values: arrays (a batch of Python floats is an array)
                    result.append(arrays.fill(outs[start:start + n]))
                    start += n
                else:  # a derivative part: as the transformation structures it
                    result.append(full[i])
            return tuple(result)

        return fill

    def _run(self, entry, args, kwargs, axes):
        inner = self._inner
        pos = list(args)
        direction = []
        if inner._has_direction:
            *pos, d = pos
            structure.flatten(d, direction)
        inputs: list = []
        for a in pos:
            structure.flatten(a, inputs)
        for v in kwargs.values():
            structure.flatten(v, inputs)
        inputs = [as_input(x) for x in inputs]
        spec = entry.spec
        if spec.externals:
            inputs = spec.with_externals(inputs)
            if inputs is None:
                return None
        outs = entry.fn(*inputs, *[as_input(x) for x in direction])
        if entry.has_guards:
            if not outs[-1]:
                return None  # some example takes another path
            outs = outs[:-1]
        return entry.fill(list(outs))

    # -- example by example --------------------------------------------------------
    def _loop(self, args, kwargs, axes, batch):
        results = []
        for i in range(batch):
            ex_args, ex_kw = self._examples(args, kwargs, axes, i)
            results.append(self._inner(*ex_args, **ex_kw))
        first = results[0]
        columns = []
        for r in results:
            leaves: list = []
            structure.flatten(r, leaves)
            columns.append(leaves)
        stacked = [np.stack([np.asarray(c[j]) for c in columns]) for j in range(len(columns[0]))]
        return structure.rebuild(first, iter(stacked))

    def _move_out_axes(self, out):
        spec = self.out_axes
        if spec == 0:
            return out
        if isinstance(spec, tuple):
            if not isinstance(out, tuple) or len(out) != len(spec):
                raise AutodiffError(f"ad.vmap: out_axes has {len(spec)} entries; the result is not a tuple "
                                    "of that length")
            return tuple(_move_leaves(o, a) for o, a in zip(out, spec))
        return _move_leaves(out, spec)


def _move_leaves(x, axis):
    leaves: list = []
    structure.flatten(x, leaves)
    if axis is None:  # JAX: the result must not vary over the batch; return one copy
        moved = []
        for leaf in leaves:
            arr = np.asarray(leaf)
            if not np.array_equal(arr, np.broadcast_to(arr[:1], arr.shape), equal_nan=True):
                raise AutodiffError("ad.vmap: out_axes=None for a result that varies over the batch")
            moved.append(arr[0])
        return structure.rebuild(x, iter(moved))
    return structure.rebuild(x, iter(np.moveaxis(np.asarray(leaf), 0, axis) for leaf in leaves))


def _name(f):
    name = getattr(f, "__name__", "f")
    return name if name.isidentifier() else "f"


def vmap(f=None, in_axes=0, out_axes=0, *, mode=None):
    """Map ``f`` over a batch axis of its arguments (JAX's ``vmap``).

    ``in_axes``: the batch axis of every positional argument (an int), ``None``
    (not mapped), or a tuple with one entry per positional argument; keyword
    arguments are mapped along axis 0.  ``out_axes``: where the batch axis goes
    in the results (an int, ``None`` for a result that does not vary, or a tuple
    per element of a tuple result).  ``f`` may be any transformation.

    Example::

        per_example = ad.vmap(ad.grad(loss), in_axes=(None, 0, 0))(w, X, y)
        # per_example[i] == ad.grad(loss)(w, X[i], y[i])
    """
    if f is None:  # @ad.vmap(in_axes=...)
        return lambda g: Vmapped(g, in_axes, out_axes, mode)
    return Vmapped(f, in_axes, out_axes, mode)


compose.register(Vmapped, compose.call_vmapped)  # ad.vmap(g) called in traced code is traced through
