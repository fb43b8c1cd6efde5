"""The public transformations: function, grad, value_and_grad, hessian, ...

Each returns a ``Transformed`` callable.  A call builds the cache key from
the argument structure, runs the matching compiled specialization, and on a
miss (new structure, or a guard that does not hold) traces the function
again, compiles, stores and runs the new specialization.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> def f(x1, x2):
    ...     return np.log(x1) + x1 * x2 - np.sin(x2)
    >>> [round(float(g), 6) for g in ad.grad(f, wrt=(0, 1))(2.0, 5.0)]
    [5.5, 1.716338]
"""
from __future__ import annotations

import functools
import inspect
import time
import warnings

import numpy as np
import pytensor.tensor as pt

from . import aux as aux_outputs
from . import (
    complex_kinds,
    compose,
    concurrency,
    progress,
    result_layout,
    structure,
    trace_cache,
    transforms,
)
from . import static as static_args
from .backend import compile as _compile
from .backend import tier_memory, tiered
from .backend.compile import compile_graph
from .backend.pytensor_speedups import gc_paused
from .backend.rewrite import without_stack_traces
from .backend.tiered import Tiered
from .backend.tiered import enabled as tiered_enabled
from .cache import (
    MISS,
    Cache,
    Specialization,
    Stats,
    churn_message,
    fast_path,
    size_limit,
)
from .errors import AutodiffError, CacheSizeWarning, InternalError, UnsupportedError
from .trace import Trace
from .trace import trace as run_trace


def as_input(x):
    """An argument leaf as every compiled function takes it: an ndarray in native byte order
    (a float: a numpy float64).

    Example::

        as_input(2.0)   # np.float64(2.0)
    """
    # Python floats become numpy float64 scalars: the generated code computes
    # with them far faster than with 0-d arrays (compiled tiers convert back).
    t = type(x)
    if t is np.ndarray:
        return x if x.dtype.isnative else _native(x)
    if t is float:
        return np.float64(x)
    x = np.asarray(x)
    return x if x.dtype.isnative else _native(x)


def _native(a):
    """``a`` in the machine's byte order: compiled code reads raw memory (big-endian
    arrays, as many file formats store them, would be misread); numpy's own
    results of such arrays are native too."""
    return a.astype(a.dtype.newbyteorder("="))


class Transformed:
    """A transformation of a user's function; call it like the function.

    Attributes: ``original`` (the user's function), ``stats`` (counters),
    ``kind``, ``wrt``, ``mode``.  Safe to call from many threads at once
    (``concurrency``); keeps at most ``cache_size`` specializations (``cache``);
    pickles by reference to ``original`` and the options.
    """

    def __init__(self, f, kind, wrt=0, mode=None, verify=None, loop_limit=100_000, has_aux=False, static=(),
                 cache_size=None, holomorphic=False):
        if not callable(f):
            raise AutodiffError(f"ad.{kind} expects a function, got {type(f).__name__}")
        for w in (wrt if isinstance(wrt, tuple) else (wrt,)):
            if w is not None and (not isinstance(w, (int, str)) or isinstance(w, bool)):
                raise AutodiffError(f"ad.{kind}: wrt takes a position, a parameter name or a tuple of them; "
                                    f"got {wrt!r}")
        self.original = f
        self.kind = kind
        self.wrt = wrt
        self.mode = mode
        self.loop_limit = loop_limit
        self.has_aux = bool(has_aux)
        if self.has_aux:
            aux_outputs.check_kind(kind)
        self.static = static
        complex_kinds.check_options(kind, holomorphic)
        self.holomorphic = bool(holomorphic)
        self._static = static_args.resolve(f, kind, static, wrt) if static else None
        self.stats = Stats()
        self._cache = Cache(limit=size_limit(cache_size))
        self._entries = self._cache.entries  # read on every call
        self._has_direction = transforms.KINDS[kind].direction is not None
        self._per_thread = concurrency.PerThread()  # _last_spec: each thread's own
        self._fast_path = None
        self._no_disk: set = set()  # keys whose disk-served trace was given up (trace_cache.Served)
        # functools.wraps semantics without its __dict__ update: the __dict__ of an
        # inner transformation (kind, cache, stats) must not replace this one's.
        functools.update_wrapper(self, f, updated=())
        from .verify import resolve_policy

        self._verify = resolve_policy(verify)
        self._verify_arg = verify  # as given: pickling ships the options, not their state
        if self._verify is not None and self._static:
            self._verify = static_args.VerifyUnboxed(self._verify)
        if self._verify is not None and self.has_aux:
            self._verify = aux_outputs.VerifyWithoutAux(self._verify, self)

    def __repr__(self):
        return f"<pyautodiff.{self.kind} of {getattr(self.original, '__qualname__', self.original)!r}>"

    @property
    def _last_spec(self):
        """The specialization that served this thread's last call."""
        return self._per_thread.spec

    @_last_spec.setter
    def _last_spec(self, spec):
        self._per_thread.spec = spec

    def __reduce__(self):
        """Pickle by reference to the original function and the options; the compiled
        specializations stay behind (the other side traces again, or loads the
        generated code from its disk cache).  A module-level ``@ad.grad`` function
        pickles by its name."""
        if global_named(self.original) is self:
            return self.original.__qualname__
        return _rebuild, (self.original, self.kind, self.wrt, self.mode, self._verify_arg, self.loop_limit,
                          self.has_aux, self.static, self._cache.limit, self.holomorphic)

    def __get__(self, obj, objtype=None):  # decorating methods
        return self if obj is None else functools.partial(self, obj)

    # -- the hot path ---------------------------------------------------------
    def __call__(self, *args, **kwargs):
        stats = self.stats
        fast = self._fast_path  # the last specialization's own entry (cache.fast_path)
        if fast is not None and not kwargs:
            out = fast(args)
            if out is not MISS:
                stats.calls += 1
                stats.cache_hits += 1
                if self._verify is not None and self._verify.due(stats.calls):
                    self._verify.check(self, args, kwargs, None, out)
                return out
        stats.calls += 1
        if self._static:  # boxed: keyed by value, never traced
            args, kwargs = static_args.mark(self._static, args, kwargs)
        direction = None
        dinputs: list = []
        if self._has_direction:
            if not args:
                raise AutodiffError(f"ad.{self.kind}: call as g(*args, v) with the direction last")
            args, direction = args[:-1], args[-1]
        inputs: list = []  # the leaves, converted as the compiled code takes them
        key = _args_key(args, inputs)
        if kwargs:
            key = (key, tuple((k, _flatten_inputs(v, inputs)) for k, v in kwargs.items()))
        if direction is not None:
            key = (key, _flatten_inputs(direction, dinputs))
        specs = self._entries.get(key)
        if specs is not None:
            for spec in specs:
                out = spec.run(inputs, dinputs)
                if out is not MISS:
                    self._last_spec = spec
                    self._cache.touch(spec)
                    self._fast_path = self._fast_path_of(spec, args, kwargs)
                    stats.cache_hits += 1
                    if self._verify is not None and self._verify.due(stats.calls):
                        self._verify.check(self, args, kwargs, direction, out)
                    return out
            stats.guard_failures += 1
        self._fast_path = None
        out = self._trace_and_run(key, args, kwargs, direction, inputs, dinputs)
        concurrency.checkpoint("traced")
        self._fast_path = self._fast_path_of(self._last_spec, args, kwargs)
        if self._verify is not None and self._verify.due(self.stats.calls):
            self._verify.check(self, args, kwargs, direction, out)
        return out

    def _fast_path_of(self, spec, args, kwargs):
        if kwargs or self._has_direction:
            return None
        if spec.fast_path is None:  # built once per specialization
            spec.fast_path = fast_path(args, spec)
        return spec.fast_path or None

    def n_nodes(self, *args, optimized: bool = True, **kwargs) -> int:
        """Apply nodes in this transformation's graph for these arguments.

        Example::

            ad.grad(f).n_nodes(2.0, 5.0, optimized=False)   # before PyTensor's rewrites
        """
        from pytensor.graph.fg import FunctionGraph

        from .backend.compile import optimized_fgraph

        spec = self.specialization_for(*args, **kwargs)
        inputs = spec.trace.all_inputs + spec.extra_inputs
        outputs = spec.outputs[:-1] if spec.has_guards else spec.outputs
        fg = optimized_fgraph(inputs, outputs) if optimized else FunctionGraph(inputs, outputs, clone=True)
        return len(fg.apply_nodes)

    def specialization_for(self, *args, **kwargs) -> Specialization:
        """The specialization (trace + compiled graph) that serves these arguments."""
        self(*args, **kwargs)
        spec = self._last_spec
        if spec.trace is None:  # served from disk without a trace: trace it now
            self._give_up_disk(self._key_of_spec(spec), spec)
            self(*args, **kwargs)
            spec = self._last_spec
        return spec

    def _key_of_spec(self, spec):
        return next((k for k, specs in self._entries.items() if any(s is spec for s in specs)), None)

    # -- a miss ---------------------------------------------------------------------
    def _trace_and_run(self, key, args, kwargs, direction, inputs, dinputs):
        """Trace, compile and store a specialization; run it on the call's converted
        leaves (``dinputs``: the direction's).

        One thread builds at a time (``concurrency.BUILD_LOCK``); a thread that
        waited first tries what the others built meanwhile."""
        if self._has_direction:
            _check_call_without_direction(self.original, self.kind, args, kwargs)
        with concurrency.BUILD_LOCK:
            for spec in self._entries.get(key, ()):
                out = spec.run(inputs, dinputs)
                if out is not MISS:
                    self._last_spec = spec
                    return out
            disk_key = trace_cache.key_of(self, key) if not kwargs and key not in self._no_disk else None
            out = self._run_from_disk(disk_key, key, args, direction, inputs, dinputs)
            if out is not MISS:
                return out
            # no creation stack trace on each node built (nothing shows them; ~12% of a first call),
            # no garbage collection walking the growing graph (superlinear; pytensor_speedups)
            with progress.Compile(f"{self.kind} of {getattr(self, '__qualname__', self.__name__)}") as compiling, \
                    without_stack_traces(), gc_paused(), trace_cache.WarningsSeen() as warned:
                with compiling.phase("trace"):
                    tr = run_trace(self.original, *args, _loop_limit=self.loop_limit, **kwargs)
                self.stats.traces += 1
                self.stats.last_trace_seconds = tr.seconds
                self.stats.loops_rolled = tr.loops_rolled
                spec = _specialize_deep(self._specialize, tr, args, kwargs, direction)
                trace_cache.remember(self, disk_key, tr, spec, warned.count)
                self.stats.last_phase_seconds = dict(compiling.times)
            evicted = self._cache.add(key, spec, label=_args_key(args, []))
            if evicted is not None:
                self._warn_evicting(key, args, evicted)
            self._last_spec = spec
            self.stats.specializations = len(self._cache)
        if spec.externals:
            inputs = spec.with_externals(inputs, as_traced=True)
            if inputs is None:
                raise InternalError(f"{self.__name__}: an outside value changed during its own trace")
        inputs = inputs + dinputs
        try:
            outs = spec.fn(*inputs)
        except Exception as exc:
            raise InternalError(f"the compiled {self.kind} of {self.__name__} failed on the inputs it was "
                                f"traced with: {type(exc).__name__}: {exc}") from exc
        if spec.has_guards:
            # The compiled guard may disagree with CPython's decision by rounding at a
            # near tie (sum * (1/n) vs sum / n); this call takes CPython's path, which
            # the trace followed. Later calls re-check the guards as usual.
            outs = outs[:-1]
        if spec.n_effect_outputs:  # the trace itself did this call's writes to the outside
            outs = outs[:len(outs) - spec.n_effect_outputs]
        return spec.fill(outs)

    def _run_from_disk(self, disk_key, key, args, direction, inputs, dinputs):
        """Serve a first call from the trace cache (``trace_cache``; under the build lock):
        the call's result, or MISS (no usable entry, or its guards fail: trace)."""
        def make_fill(stub):
            wrt_idx, wrt_tree = self._wrt_leaves(stub, args, {})
            return (self._filler(stub, wrt_idx, wrt_tree, args, {}, direction),
                    tuple(v for v, _ in wrt_tree or ()))

        if disk_key is None:
            return MISS
        t0 = time.perf_counter()
        spec = trace_cache.lookup(self, disk_key, args, {}, make_fill, _fname(self.original, self.kind),
                                  functools.partial(self._give_up_disk, key),
                                  functools.partial(self._early_second_tier, args, direction))
        out = MISS if spec is None else spec.run(inputs, dinputs)
        if out is MISS or key in self._no_disk:  # (a first call long enough to ask for a trace)
            return out
        evicted = self._cache.add(key, spec, label=_args_key(args, []))
        if evicted is not None:
            self._warn_evicting(key, args, evicted)
        self._last_spec = spec
        self.stats.disk_traces += 1
        self.stats.specializations = len(self._cache)
        self.stats.last_phase_seconds = {"load cached trace": time.perf_counter() - t0}
        return out

    def _early_second_tier(self, args, direction, served, inputs):
        """In a background thread: a disk-served specialization whose code won with Numba in an
        earlier process (a tier note) gets that Numba build, timed against the served code and
        put in its place.  The note names the build: it is loaded from Numba's cache without
        the graph (``numba_reload``).  Failing that, the function is traced again for its
        graph, used only if its numpy code is the served code (same fingerprint), and built
        (on disk, quick)."""
        wrapper = served.fn
        upgraded = False

        def install(f):
            served.fn = f

        def on_upgrade(backend):
            self.stats.upgrades += 1

        try:
            # the build that won, straight from Numba's cache: no trace, no rewrite
            build = tier_memory.recall_build(tier_memory.code_note_key(wrapper.first_tier.code_key))
            if build is not None:
                served.tiering = Tiered(None, None, _fname(self.original, self.kind), wrapper.first_tier,
                                        install, on_upgrade, recalled=tiered.SECOND_TIER, recalled_build=build)
                served.tiering.upgrade_now(inputs)
                upgraded = served.fn is not wrapper
                if upgraded or served.tiering.outcome != tiered.NO_RELOAD:  # it was timed and lost
                    return
            with concurrency.BUILD_LOCK, without_stack_traces(), gc_paused():
                tr = run_trace(self.original, *args, _loop_limit=self.loop_limit)
                spec = _specialize_deep(self._specialize, tr, args, {}, direction)
            first = spec.tiering.first_tier if spec.tiering is not None else None
            if first is not None and getattr(first, "code_key", None) == wrapper.first_tier.code_key:
                served.tiering = Tiered(spec.tiering.inputs, spec.tiering.outputs, spec.tiering.name,
                                        wrapper.first_tier, install, on_upgrade, recalled=tiered.SECOND_TIER)
                served.tiering.upgrade_now(inputs)
                upgraded = served.fn is not wrapper
        except Exception:  # a background hint: the served code keeps serving, the usual schedule
            pass
        finally:
            wrapper.early_done(upgraded)

    def _give_up_disk(self, key, spec):
        """A disk-served specialization computed long enough for the compiled tier, which
        needs its graph: drop it; the next call traces (once) and tiers as usual."""
        with concurrency.BUILD_LOCK:
            self._no_disk.add(key)
            self._cache.discard(spec)
            self._fast_path = None
            self.stats.specializations = len(self._cache)

    def _warn_evicting(self, key, args, evicted):
        if self._cache.warned:  # once per transformed function
            return
        self._cache.warned = True
        names = _positional_names(self.original, len(args))
        msg = churn_message(self.__name__, (key, _args_key(args, [])), (evicted[0], evicted[2]), names,
                            self._cache.limit)
        warnings.warn(msg, CacheSizeWarning, stacklevel=4)

    def _specialize(self, tr: Trace, args, kwargs, direction) -> Specialization:
        if self.has_aux:  # differentiate the first element of f's pair; compute the second beside
            tr, aux_outs, aux_template = aux_outputs.split(tr, getattr(self.original, "__name__", "f"))
        wrt_idx, wrt_tree = self._wrt_leaves(tr, args, kwargs)
        req = transforms.Request(self.kind, tr.outputs, tr.result, [tr.inputs[i] for i in wrt_idx],
                                 [tr.paths[i] for i in wrt_idx], getattr(self.original, "__name__", "f"),
                                 self.holomorphic)
        with progress.phase("differentiate"):
            outputs, extra = complex_kinds.build(req)
        n_main = len(outputs)
        if self.has_aux:
            outputs = [*outputs, *aux_outs]
        extra_inputs = []
        if direction is not None:
            extra_inputs = _direction_inputs(self.kind, extra, direction, tr, wrt_idx)
        guard_flag = _guard_flag(tr)
        compiled_outs = list(outputs) + tr.effect_outputs + ([guard_flag] if guard_flag is not None else [])
        # derivatives never hand back a caller's array (e.g. grad of x@x/2 is x)
        # default mode: a large graph gets light rewrites now, the full ones in the background
        light_above = _compile.LIGHT_ABOVE_NODES if self.mode is None and tiered_enabled() else None
        if light_above is not None and tr.loops_rolled and _compile.LIGHT_LOOPS:
            # a rolled loop, as for a graph holding a Scan, even when it was vectorized away
            # (no Scan left): its full rewrite, 0.07 s on a 15-node graph, goes to the background
            light_above = 0
        fresh = transforms.KINDS[self.kind].differentiates
        fn, seconds = compile_graph(tr.all_inputs + extra_inputs, compiled_outs, mode=self.mode,
                                    name=_fname(self.original, self.kind), fresh_outputs=fresh,
                                    light_above=light_above)
        self.stats.last_compile_seconds = seconds
        fill = self._filler(tr, wrt_idx, wrt_tree, args, kwargs, direction)
        if self.has_aux:
            fill = aux_outputs.wrap_fill(self.kind, fill, n_main, aux_template)
        spec = Specialization(fn, fill, guard_flag is not None, tr, compiled_outs, extra_inputs, seconds,
                              tuple(tr.externals), tuple(v for v, _ in wrt_tree or ()),
                              effects=tuple(tr.effects), n_effect_outputs=len(tr.effect_outputs))
        if self.mode is None:  # default: numpy code now, Numba later if it pays
            def install(f, spec=spec):
                spec.fn = f

            def upgraded(backend):
                self.stats.upgrades += 1

            loop = tiered.has_loop(compiled_outs)  # a Scan: Numba pays off sooner
            spec.tiering = Tiered(tr.all_inputs + extra_inputs, compiled_outs, _fname(self.original, self.kind),
                                  fn, install, upgraded, fresh_outputs=fresh,
                                  upgrade_after=tiered.LOOP_UPGRADE_AFTER_SECONDS if loop else None)
            spec.fn = spec.tiering
        return spec

    # -- which leaves are differentiated -------------------------------------------------
    def _wrt_leaves(self, tr: Trace, args, kwargs):
        """Leaf indices for ``wrt`` and, per wrt argument, (argument value, its leaf indices)."""
        if not transforms.KINDS[self.kind].differentiates:
            return [], None
        names = _positional_names(self.original, len(args))
        spans = {}
        pos = 0
        for i, a in enumerate(args):
            n = _count_leaves(a)
            spans[i] = spans[names[i]] = (a, list(range(pos, pos + n)))
            pos += n
        for k, v in kwargs.items():
            n = _count_leaves(v)
            spans[k] = (v, list(range(pos, pos + n)))
            pos += n
        wrts = self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)
        tree, idx = [], []
        for w in wrts:
            if w not in spans:
                raise AutodiffError(
                    f"ad.{self.kind}: wrt={w!r} does not name an argument of this call of "
                    f"{self.__name__} (arguments: {', '.join(str(n) for n in names[:len(args)])}"
                    f"{', ' if kwargs else ''}{', '.join(kwargs)})")
            value, leaf_ids = spans[w]
            for i in leaf_ids:
                if not tr.differentiable[i] and not np.iscomplexobj(tr.leaves[i]):
                    raise AutodiffError(
                        f"ad.{self.kind}: cannot differentiate with respect to {tr.paths[i]!r} of dtype "
                        f"{np.asarray(tr.leaves[i]).dtype}; only float arrays and floats are differentiable (and complex ones)")
            if not leaf_ids:
                kind = type(value)
                if (kind.__module__ or "").partition(".")[0] == "pandas":  # optree sees no leaves in a Series
                    raise AutodiffError(
                        f"ad.{self.kind}: argument {w!r} is a pandas {kind.__name__}; pyautodiff differentiates "
                        f"numpy arrays: pass it as .to_numpy() (the derivative comes back as a numpy array)")
                raise AutodiffError(f"ad.{self.kind}: argument {w!r} holds no float array or float")
            tree.append((value, leaf_ids))
            idx += leaf_ids
        return idx, tree

    def _filler(self, tr, wrt_idx, wrt_tree, args, kwargs, direction):
        """The function assembling the user's result from the compiled outputs
        (the parts of ``transforms.KINDS[kind]``, in order)."""
        parts = transforms.KINDS[self.kind].parts
        tuple_wrt = isinstance(self.wrt, tuple)
        leaf_kind = [result_layout.leaf_kind(tr.leaves[i]) for i in wrt_idx]
        simple = wrt_tree is not None and all(
            len(ids) == 1 and tr.paths[ids[0]].isidentifier() for _, ids in wrt_tree)
        if len(parts) == 1 and parts[0].layout == "wrt" and simple:
            # the common case (grad), kept lean: one converter per leaf
            convs = [result_layout.CONVERTERS[k] for k in leaf_kind]
            if tuple_wrt and len(set(convs)) == 1:
                conv = convs[0]
                return lambda outs: tuple(map(conv, outs))
            if tuple_wrt:
                return lambda outs: tuple([c(o) for c, o in zip(convs, outs)])
            conv = convs[0]

            def fill(outs):
                return conv(outs[0])
            # an array output is the result itself: cache.fast_path tests that inline
            fill.array_passes = conv is result_layout.CONVERTERS["array"]
            return fill
        fills = [result_layout.PART_FILLERS[p.layout](tr, wrt_idx, wrt_tree, tuple_wrt, leaf_kind) for p in parts]
        if len(fills) == 1:
            return fills[0][1]
        bounds, start = [], 0
        for n, _ in fills:
            bounds.append((start, start + n))
            start += n
        return lambda outs: tuple(fill(outs[a:b]) for (a, b), (_, fill) in zip(bounds, fills))


def _rebuild(f, kind, wrt, mode, verify, loop_limit, has_aux, static, cache_size, holomorphic=False):
    return Transformed(f, kind, wrt, mode, verify, loop_limit, has_aux, static, cache_size, holomorphic)


def global_named(f):
    """What ``f``'s module and qualified name lead to now (None if nothing)."""
    import sys

    obj = sys.modules.get(getattr(f, "__module__", None) or "")
    for part in getattr(f, "__qualname__", "<locals>").split("."):
        obj = getattr(obj, part, None)
    return obj


def _args_key(args, inputs):
    """The cache key of positional arguments; their leaves, converted, go to ``inputs``.

    Plain arrays and floats are handled inline: this runs on every call."""
    parts = []
    for a in args:
        t = type(a)
        if t is np.ndarray and a.dtype.kind in "biufc":
            inputs.append(a if a.dtype.isnative else _native(a))
            parts.append(("a", a.shape, a.dtype.char))
        elif t is float:
            inputs.append(np.float64(a))
            parts.append("f")
        else:
            parts.append(_flatten_inputs(a, inputs))
    return tuple(parts)


def _flatten_inputs(value, inputs):
    """``structure.flatten`` with the leaves converted by ``as_input``."""
    start = len(inputs)
    treedef = structure.flatten(value, inputs)
    inputs[start:] = [as_input(x) for x in inputs[start:]]
    return treedef


def _count_leaves(x) -> int:
    leaves: list = []
    structure.flatten(x, leaves)
    return len(leaves)


def _positional_names(f, n):
    from .trace import param_names

    return param_names(f, n)


def _direction_inputs(kind, extra, direction, tr, wrt_idx):
    """Check the direction's structure against what the graph expects."""
    leaves: list = []
    structure.flatten(direction, leaves)
    if len(leaves) != len(extra):
        raise AutodiffError(f"ad.{kind}: the direction has {len(leaves)} array(s); expected {len(extra)} "
                            f"(shaped like the {'outputs' if transforms.KINDS[kind].direction == 'outputs' else 'wrt argument(s)'})")
    # a direction for the outputs: where PyTensor left an output's length unknown (svd), the
    # length the traced run produced
    known = _output_shapes(tr) if transforms.KINDS[kind].direction == "outputs" else [v.type.shape for v in extra]
    for leaf, var, concrete in zip(leaves, extra, known):
        want = tuple(c if s is None else s for s, c in zip(var.type.shape, concrete))
        if np.shape(leaf) != want:
            raise AutodiffError(f"ad.{kind}: direction of shape {np.shape(leaf)} does not match "
                                f"{var.name or 'its target'} of shape {want}")
        message = complex_kinds.direction_dtype_error(kind, leaf, var)
        if message:
            raise AutodiffError(message)
    return list(extra)


def _output_shapes(tr) -> list:
    """The shapes of the traced run's computed outputs (the template's holes), in order."""
    return [np.shape(leaf) for leaf in tr.template.hole_values(tr.result)]


def _check_call_without_direction(f, kind, args, kwargs):
    """The arguments before the direction must fit ``f``'s signature: a forgotten ``v``
    would otherwise turn the last argument into the direction."""
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):  # a builtin without a signature: the trace will tell
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        name = getattr(f, "__name__", "f")
        raise AutodiffError(
            f"ad.{kind}({name}) is called as g(*args, v) with the direction v last; without its "
            f"last argument the call does not fit {name}{sig} ({exc}). Did you forget the direction?"
        ) from None


def _guard_flag(tr: Trace):
    if not tr.guards:
        return None
    checks = []
    for g in tr.guards:
        outcome = g.outcome
        if isinstance(outcome, bool):
            holds = g.expr if g.expr.dtype == "bool" else pt.neq(g.expr, 0)
            checks.append(holds if outcome else pt.invert(holds))
        else:
            checks.append(pt.eq(g.expr, np.asarray(outcome, dtype=g.expr.dtype)))
    return pt.all(pt.stack(checks)) if len(checks) > 1 else checks[0]


def _specialize_deep(specialize, *args):
    """``specialize(*args)``; a graph too deep for Python's recursion limit (PyTensor's grad
    recurses once per dependent step, e.g. of an unrolled loop) is differentiated and
    compiled again on a deep stack (``backend.deep``)."""
    from .backend.deep import call_deep, graph_depth

    try:  # args[0] is the trace: a graph known to be deep goes to the deep stack at once
        return call_deep(specialize, *args, depth=graph_depth(args[0].outputs))
    except RecursionError as exc:
        raise UnsupportedError(
            "the graph is too deep to differentiate even on a deep stack (a loop of about a million "
            "dependent steps?); vectorize the loop or let it roll into a Scan") from exc


def _fname(f, kind):
    name = getattr(f, "__name__", "f")
    return transforms.KINDS[kind].function_name(name if name.isidentifier() else "f")


# -- the public constructors ------------------------------------------------------------

_OPTIONS_DOC = """
    Options of every transformation: ``mode=`` (backend), ``verify=`` (checks against the
    original), ``loop_limit=``, ``static=("name", ...)`` (arguments keyed by value, never
    traced) and, on the derivatives, ``has_aux=True`` (``f`` returns ``(out, aux)``; e.g.
    ``g, aux = ad.grad(loss, has_aux=True)(w)``); on grad, value_and_grad and jacobian,
    ``holomorphic=True`` (``f`` is holomorphic in its complex inputs: the result is ``f'(z)``).
    """


def _transformation(kind, doc):
    def make(f=None, wrt=0, *, mode=None, verify=None, loop_limit=100_000, has_aux=False, static=(),
             cache_size=None, holomorphic=False):
        if f is None:  # @ad.grad(wrt=1)
            return lambda g: make(g, wrt, mode=mode, verify=verify, loop_limit=loop_limit, has_aux=has_aux,
                                  static=static, cache_size=cache_size, holomorphic=holomorphic)
        hook = getattr(f, "_pyautodiff_transform", None)
        if hook is not None:  # an ad.data_parallel objective evaluates its blocks where they live
            if has_aux or static:
                raise AutodiffError(f"ad.{kind}: has_aux= and static= are not supported on an "
                                    "ad.data_parallel objective yet")
            return hook(kind, wrt, mode, verify, loop_limit)
        return Transformed(f, kind, wrt, mode, verify, loop_limit, has_aux, static, cache_size, holomorphic)

    make.__name__ = make.__qualname__ = kind
    make.__doc__ = doc + _OPTIONS_DOC
    return make


function = _transformation("function", """Compile ``f``: same values, computed by the optimized graph.

    Example::

        fast = ad.function(nll)
        fast(W, b, X, y)            # == nll(W, b, X, y)
    """)
grad = _transformation("grad", """Gradient of scalar ``f`` with respect to argument(s) ``wrt``.

    ``wrt`` is a position, a parameter name, or a tuple of them (then a tuple
    of gradients is returned).  Gradients have the argument's structure.

    Example::

        gW, gb = ad.grad(nll, wrt=("W", "b"))(W, b, X, y)
    """)
value_and_grad = _transformation("value_and_grad", """``(f(*args), grad)`` from one compiled function.

    Example::

        value, g = ad.value_and_grad(nll)(W, b, X, y)
    """)
hessian = _transformation("hessian", """Dense Hessian of scalar ``f``: shape ``arg.shape + arg.shape``.

    For a tuple ``wrt``, the nested tuple of blocks ``H[i][j]``.

    Example::

        H = ad.hessian(lambda x: 0.5 * x @ A @ x)(x)   # (A + A.T) / 2
    """)
jacobian = _transformation("jacobian", """Jacobian of array-valued ``f``: shape ``out.shape + arg.shape``.

    Example::

        J = ad.jacobian(np.tanh)(x)          # diag(1 - tanh(x)**2)
    """)
hvp = _transformation("hvp", """Hessian-vector product, without forming the Hessian: ``hvp(*args, v)``.

    Example::

        Hv = ad.hvp(rosen)(x, v)
    """)
jvp = _transformation("jvp", """Forward mode: ``jvp(*args, v)`` returns ``(f(*args), J @ v)``.

    Example::

        y, tangent = ad.jvp(f)(x, v)
    """)
vjp = _transformation("vjp", """Reverse mode: ``vjp(*args, u)`` returns ``(f(*args), u @ J)``.

    Example::

        y, cotangent = ad.vjp(f)(x, u)
    """)

compose.register(Transformed, compose.call_inside)  # a transformation called in traced code is traced through


def trace(f, *args, **kwargs) -> Trace:
    """Run ``f`` in the emulator on these arguments and return the ``Trace``.

    Example::

        t = ad.trace(f, 2.0, 5.0)
        t.guards, t.n_nodes(optimized=False), t.dprint()
    """
    with concurrency.BUILD_LOCK:
        return run_trace(f, *args, **kwargs)


def check_grad(f, *args, wrt=0, grad=None, rtol=1e-5, atol=0.0, seed=0, **kwargs):
    """Run the value and gradient checks once; return a ``Report`` (never raises).

    ``grad``, if given, is a user's own gradient function (same signature as
    ``f``, returning what ``ad.grad(f, wrt)`` would) to check instead of ours.

    Example::

        report = ad.check_grad(nll, W, b, X, y, wrt=("W", "b"))
        assert report.ok, report
    """
    import math

    from .verify import CheckResult, Report, Verify, run_checks

    setting = Verify(rtol=rtol, atol=atol, seed=seed)
    g = Transformed(f, "grad", wrt, verify=False)
    try:
        out = grad(*args, **kwargs) if grad is not None else g(*args, **kwargs)
        return run_checks(g, args, kwargs, None, out, setting)
    except Exception as exc:  # a report, not an exception
        fname = getattr(f, "__qualname__", repr(f))
        bad = CheckResult("grad", False, math.inf, math.inf, rtol, f"{type(exc).__name__}: {exc}")
        return Report(fname, None, bad)
