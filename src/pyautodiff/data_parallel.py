"""data_parallel: objectives summed over row blocks, evaluated where the blocks live.

``ad.data_parallel(f, data=("X", "y"), reduce="sum")`` declares that ``f``,
written for one block of rows, is a sum (``"sum"``) or a row mean (``"mean"``)
over the rows of its ``data`` arguments.  Every transformation and
``ad.minimize`` accept the result.  With dask arrays as data, an evaluation
builds one task per row block: the task runs the transformation of ``f`` on
that block, on the worker that holds it (only the parameters travel), and a
tree reduction adds the blocks' results (weighted by rows for ``"mean"``).
With numpy arrays the transformation of ``f`` runs on the whole arrays in this
process: the same numbers, no dask needed.

On a worker, the block's transformation is rebuilt from ``f`` once per worker
(``_Job.transformed``) and cached there; like any transformation it compiles
once per block shape, so the shorter last block is one more specialization.

Decomposability is the user's claim, so it is checked (on the first call, and
as often as ``verify=`` asks): two blocks of rows are reduced and compared with
the transformation of ``f`` on their concatenation.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> def sse(w, X, y):
    ...     r = X @ w - y
    ...     return r @ r
    >>> obj = ad.data_parallel(sse, data=("X", "y"))
    >>> X, y = np.arange(6.0).reshape(3, 2), np.ones(3)
    >>> ad.grad(obj)(np.zeros(2), X, y)       # numpy data: one process, same numbers
    array([-12., -18.])
"""
from __future__ import annotations

import functools
import inspect
import itertools
import sys
import threading
import uuid
import warnings
from collections import OrderedDict

import numpy as np

from . import structure
from .cache import Stats
from .errors import AutodiffError, VerificationError
from .transforms import KINDS

# How each block's result is weighted before the blocks are added: by 1 for a
# sum over rows, by the block's share of the rows for a mean over rows.
_WEIGHTS = {
    "sum": lambda rows, total: [1.0] * len(rows),
    "mean": lambda rows, total: [r / total for r in rows],
}
_FAN_IN = 8           # blocks added per reduction task: log_8(blocks) levels
_CHECK_ROWS = 256     # rows per block in the decomposability check
_FIRST_CALL_ONLY = sys.maxsize


def data_parallel(f, data, reduce="sum"):
    """Declare ``f`` a sum (or row mean) over row blocks of its ``data`` arguments.

    ``data`` names the arguments (by name or position) that are split along
    axis 0: dask arrays chunked by rows (all with the same row chunks), or
    numpy arrays.  ``reduce="sum"`` adds the blocks' results; ``"mean"``
    weights each by its rows (``f`` is then a mean over its block's rows).
    Pass the result to any transformation or to ``ad.minimize``.

    Example::

        obj = ad.data_parallel(nll, data=("X", "y"), reduce="sum")
        g = ad.grad(obj)(w, X, y)                     # X, y: dask arrays
        res = ad.minimize(obj, w0, args=(X, y))
    """
    return DataParallel(f, data, reduce)


class DataParallel:
    """The callable ``ad.data_parallel`` returns; calling it gives the reduced value of ``f``."""

    def __init__(self, f, data, reduce="sum", _names=None):
        if not callable(f):
            raise AutodiffError(f"ad.data_parallel expects a function, got {type(f).__name__}")
        if reduce not in _WEIGHTS:
            raise AutodiffError(f"ad.data_parallel: reduce must be one of {sorted(_WEIGHTS)}, got {reduce!r}")
        self.f = f
        self.reduce = reduce
        self.data = _data_positions(f, data)
        self.names = _names or _arg_names(f, self.data)  # position -> name, for messages
        functools.update_wrapper(self, f)
        self._function = None
        self._shared: dict = {}  # (kind, wrt, mode, ...) -> (local transformation, worker job)

    def __repr__(self):
        return f"<pyautodiff.data_parallel of {_name(self.f)!r}, data={self.data}, reduce={self.reduce!r}>"

    def __call__(self, *args, **kwargs):
        if self._function is None:
            self._function = DataParallelTransformed(self, "function", 0, None, None, 100_000)
        return self._function(*args, **kwargs)

    # -- the hooks the transformations and ad.minimize call (duck-typed: no import cycle) --
    def _pyautodiff_transform(self, kind, wrt, mode, verify, loop_limit):
        return DataParallelTransformed(self, kind, wrt, mode, verify, loop_limit)

    def _pyautodiff_flat(self, unflatten):
        """This objective with its first argument a flat vector (what ``ad.minimize`` optimizes)."""
        f = self.f

        def f_flat(z, *args, **kwargs):
            return f(unflatten(z), *args, **kwargs)

        f_flat.__name__ = getattr(f, "__name__", "f")
        return DataParallel(f_flat, self.data, self.reduce, _names=self.names)

    def _pyautodiff_persist(self, args, offset=1):
        """``args`` (``f``'s arguments after the first ``offset``) with the dask data persisted.

        A fit evaluates many times: persisting once keeps every block in worker
        memory, instead of recomputing it from its source at each evaluation.
        """
        args = list(args)
        idx = [p - offset for p in self.data if 0 <= p - offset < len(args) and _is_dask_array(args[p - offset])]
        if idx:
            import dask

            persisted = dask.persist(*[args[i] for i in idx])
            for i, a in zip(idx, persisted):
                args[i] = a
        return tuple(args)


class DataParallelTransformed:
    """A transformation (``kind``) of a data-parallel objective; call it like ``f``.

    Attributes as for every transformation: ``original``, ``stats``, ``kind``, ``wrt``, ``mode``.
    """

    def __init__(self, dp: DataParallel, kind, wrt, mode, verify, loop_limit):
        from .api import Transformed
        from .verify import Verify, resolve_policy

        self.dp = dp
        self.original = dp.f
        self.kind, self.wrt, self.mode, self.loop_limit = kind, wrt, mode, loop_limit
        self.stats = Stats()
        # Blocks of a numpy call and of the decomposability check run here, and
        # the workers' compiled functions are found by the job's token: both are
        # shared by every transformation of ``dp`` with these settings, so that
        # ``ad.grad(obj)(...)`` written inline does not compile again.
        key = (kind, repr(wrt), mode, loop_limit, repr(verify))
        shared = dp._shared.get(key)
        if shared is None:
            shared = dp._shared[key] = (Transformed(dp.f, kind, wrt, mode, verify, loop_limit),
                                        _Job(dp.f, kind, wrt, mode, loop_limit, uuid.uuid4().hex))
        self._local, self._job = shared
        if verify is False:
            self._policy = None
        else:  # by default, the decomposability check runs on the first call
            self._policy = resolve_policy(verify) or resolve_policy(Verify(every=_FIRST_CALL_ONLY))
        self._signature = _signature(dp.f)
        self._evaluations = itertools.count()
        functools.update_wrapper(self, dp.f)

    def __repr__(self):
        return f"<pyautodiff.{self.kind} of data_parallel({_name(self.dp.f)!r})>"

    def __get__(self, obj, objtype=None):  # decorating methods
        return self if obj is None else functools.partial(self, obj)

    def _pyautodiff_transform(self, kind, wrt, mode, verify, loop_limit):
        raise AutodiffError(f"ad.{kind} of ad.{self.kind}(data_parallel({_name(self.dp.f)})): a transformation of a "
                            "data-parallel objective cannot be transformed again; transform the objective "
                            f"itself (ad.hessian(obj) for the Hessian, ad.hvp(obj) for Hessian-vector products)")

    def __call__(self, *args, **kwargs):
        from .context import current

        if current() is not None:  # reached from inside a traced function: its blocks cannot be traced
            raise AutodiffError(
                f"ad.data_parallel: {_name(self.dp.f)} is called inside a function being traced; transform "
                "the data-parallel objective itself (ad.grad(obj), ad.hessian(obj), ...) and add terms that do "
                "not depend on the data outside it, e.g. ad.grad(obj)(w, X, y) + ad.grad(penalty)(w)")
        self.stats.calls += 1
        direction = ()
        if KINDS[self.kind].direction:
            if not args:
                raise AutodiffError(f"ad.{self.kind}: call as g(*args, v) with the direction last")
            args, direction = args[:-1], args[-1:]
        args, kwargs = self._bind(args, kwargs)
        data = self._data_of(args)
        rows = _rows_of(data, self.dp.names, self.dp.f)
        if self._policy is not None and self._policy.due(self.stats.calls):
            self._check_decomposable(args, kwargs, direction, data)
        if isinstance(data[0], np.ndarray):
            return self._local(*args, *direction, **kwargs)
        return self._on_dask(args, kwargs, direction, data, rows)

    # -- arguments ------------------------------------------------------------------
    def _bind(self, args, kwargs):
        """Positional ``args`` with data passed by keyword moved into place."""
        if self._signature is None or not kwargs:
            return list(args), kwargs
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise AutodiffError(f"ad.{self.kind}: {_name(self.dp.f)}: {exc}") from None
        return list(bound.args), bound.kwargs

    def _data_of(self, args):
        names = self.dp.names
        for p in self.dp.data:
            if p >= len(args):
                raise AutodiffError(f"ad.data_parallel: the data argument {names[p]!r} of {_name(self.dp.f)} "
                                    f"was not passed (the call has {len(args)} positional arguments)")
        for w in (self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)):
            p = w if isinstance(w, int) else next((q for q, n in names.items() if n == w), None)
            if p in self.dp.data:
                raise AutodiffError(f"ad.{self.kind}: wrt={w!r} is a data argument of {_name(self.dp.f)}; "
                                    "data are split into blocks, parameters are not: differentiate "
                                    "with respect to a parameter")
        return [args[p] for p in self.dp.data]

    # -- the evaluation on dask -----------------------------------------------------
    def _on_dask(self, args, kwargs, direction, data, rows):
        from dask import compute, delayed

        blocks = [a.to_delayed().ravel() for a in data]
        weights = _WEIGHTS[self.dp.reduce](rows, sum(rows))
        tag = f"pyautodiff-{self.kind}-{self._job.token[:8]}-{next(self._evaluations)}"
        parts = []
        for i, w in enumerate(weights):
            block_args = list(args)
            for p, b in zip(self.dp.data, blocks):
                block_args[p] = b[i]
            parts.append(delayed(_run_block, pure=True)(self._job, block_args, kwargs, direction, w,
                                                        dask_key_name=f"{tag}-block-{i}"))
        level = 0
        while len(parts) > 1:  # tree reduction: no single task receives every block's result
            parts = [delayed(_add, pure=True)(*parts[i:i + _FAN_IN], dask_key_name=f"{tag}-sum{level}-{i}")
                     for i in range(0, len(parts), _FAN_IN)]
            level += 1
        (out,) = compute(parts[0])
        return out

    # -- the decomposability check ----------------------------------------------------
    def _check_decomposable(self, args, kwargs, direction, data):
        self.stats.verifications += 1
        n = min(len(data[0]) // 2, _CHECK_ROWS)
        if n < 1:
            return
        head = [d[:2 * n] for d in data]
        if not isinstance(data[0], np.ndarray):
            import dask

            head = list(dask.compute(*head))

        def run(lo, hi):
            block_args = list(args)
            for p, h in zip(self.dp.data, head):
                block_args[p] = h[lo:hi]
            return self._local(*block_args, *direction, **kwargs)

        a, b, both = run(0, n), run(n, 2 * n), run(0, 2 * n)
        wa, wb = _WEIGHTS[self.dp.reduce]([n, n], 2 * n)
        reduced = _add(_scaled(a, wa), _scaled(b, wb))
        setting = self._policy.setting
        leaves = [_leaves(x) for x in (reduced, both, a, b)]
        worst = (0.0, 0.0)
        ok = True
        for r, c, la, lb in zip(*leaves):
            r, c = np.asarray(r), np.asarray(c)
            err = float(np.max(np.abs(r - c), initial=0.0))
            scale = float(max(np.max(np.abs(c), initial=0.0),
                              np.max(np.abs(wa * np.asarray(la)) + np.abs(wb * np.asarray(lb)), initial=0.0)))
            ok &= err <= setting.rtol * scale + setting.atol
            worst = max(worst, (err, err / scale if scale else 0.0))
        if ok:
            return
        f = self.dp.f
        msg = (f"pyautodiff verification of data_parallel {self.kind}({_name(f)}) failed{_where(f)}: "
               f"{_name(f)} does not decompose over row blocks with reduce={self.dp.reduce!r}. On two blocks of "
               f"{n} rows, the {'sum' if self.dp.reduce == 'sum' else 'row-weighted mean'} of its results "
               f"differs from its result on their concatenation (largest abs error {worst[0]:.3g}, rel error "
               f"{worst[1]:.3g}). With reduce='sum' {_name(f)} must be a sum over its block's rows, with "
               "reduce='mean' a mean over them; a normalization by the block's own size, or a statistic of "
               "the whole block (its mean, maximum, ...), breaks this.")
        if setting.on_fail == "warn":
            from .verify import VerificationWarning

            warnings.warn(msg, VerificationWarning, stacklevel=3)
        else:
            raise VerificationError(msg)


# -- on the worker ------------------------------------------------------------------

_WORKER_FUNCTIONS: OrderedDict = OrderedDict()  # (token, thread) -> Transformed, per process
_WORKER_CACHED = 64


class _Job:
    """What a worker needs to rebuild a block's transformation: small, picklable (``f`` by cloudpickle)."""

    __slots__ = ("f", "kind", "wrt", "mode", "loop_limit", "token")

    def __init__(self, f, kind, wrt, mode, loop_limit, token):
        self.f, self.kind, self.wrt, self.mode, self.loop_limit, self.token = f, kind, wrt, mode, loop_limit, token

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)

    def transformed(self):
        # One per thread: the threaded local scheduler may run two blocks of
        # the same objective at once, and a transformation's cache is not locked.
        key = (self.token, threading.get_ident())
        g = _WORKER_FUNCTIONS.get(key)
        if g is None:
            from .api import Transformed

            g = Transformed(self.f, self.kind, self.wrt, self.mode, False, self.loop_limit)
            _WORKER_FUNCTIONS[key] = g
            if len(_WORKER_FUNCTIONS) > _WORKER_CACHED:
                _WORKER_FUNCTIONS.popitem(last=False)
        return g


def _run_block(job: _Job, args, kwargs, direction, weight):
    out = job.transformed()(*args, *direction, **kwargs)
    return out if weight == 1.0 else _scaled(out, weight)


def _leaves(x) -> list:
    leaves: list = []
    structure.flatten(x, leaves)
    return leaves


def _scaled(x, weight):
    return structure.rebuild(x, iter([leaf * weight for leaf in _leaves(x)]))


def _add(*parts):
    """The leaf-by-leaf sum of results of the same structure."""
    summed = [functools.reduce(np.add, leaves) for leaves in zip(*map(_leaves, parts))]
    return structure.rebuild(parts[0], iter(summed))


# -- checking what the user passed ----------------------------------------------------

def _is_dask_array(x) -> bool:
    mod = type(x).__module__ or ""
    if not mod.startswith("dask"):
        return False
    import dask.array as da

    return isinstance(x, da.Array)


def _rows_of(data, names, f) -> list:
    """The row counts of the blocks; every data argument must be split the same way."""
    where = f" of {_name(f)}"
    kinds = []
    for p, d in zip(names, data):
        if isinstance(d, np.ndarray):
            kinds.append("numpy")
        elif _is_dask_array(d):
            kinds.append("dask")
        else:
            raise AutodiffError(f"ad.data_parallel: the data argument {names[p]!r}{where} must be a numpy or dask "
                                f"array split along axis 0; got {type(d).__name__}"
                                + (" (a dask DataFrame: use .to_dask_array(lengths=True))"
                                   if "DataFrame" in type(d).__name__ or "Series" in type(d).__name__ else ""))
        if np.ndim(d) == 0:
            raise AutodiffError(f"ad.data_parallel: the data argument {names[p]!r}{where} is 0-dimensional; "
                                "data are split along axis 0")
    if len(set(kinds)) > 1:
        raise AutodiffError(f"ad.data_parallel: the data arguments{where} mix numpy and dask arrays "
                            f"({', '.join(f'{names[p]}: {k}' for p, k in zip(names, kinds))}); "
                            "pass all of them as dask arrays with the same row chunks (da.from_array(x, chunks=...))")
    first = next(iter(names.values()))
    if kinds[0] == "numpy":
        for p, d in zip(names, data):
            if len(d) != len(data[0]):
                raise AutodiffError(f"ad.data_parallel: the data arguments{where} have different numbers of rows: "
                                    f"{first!r} has {len(data[0])}, {names[p]!r} has {len(d)}")
        return [len(data[0])]
    for p, d in zip(names, data):
        if any(len(c) > 1 for c in d.chunks[1:]):
            raise AutodiffError(f"ad.data_parallel: the data argument {names[p]!r}{where} is split along an axis "
                                f"other than 0 (chunks {d.chunks}); rechunk it to whole rows: "
                                f"{names[p]}.rechunk({{{', '.join(f'{i}: -1' for i in range(1, d.ndim))}}})")
        if any(np.isnan(c) for c in d.chunks[0]):
            raise AutodiffError(f"ad.data_parallel: the row chunks of {names[p]!r}{where} are unknown (nan); "
                                f"call {names[p]}.compute_chunk_sizes() first")
        if d.chunks[0] != data[0].chunks[0]:
            raise AutodiffError(f"ad.data_parallel: the data arguments{where} are split into different row blocks: "
                                f"{first!r} has row chunks {data[0].chunks[0]}, {names[p]!r} has {d.chunks[0]}; "
                                f"rechunk to match: {names[p]}.rechunk({{0: {first}.chunks[0]}})")
    return list(data[0].chunks[0])


def _signature(f):
    try:
        return inspect.signature(f)
    except (TypeError, ValueError):
        return None


def _arg_names(f, positions) -> dict:
    sig = _signature(f)
    params = [p.name for p in sig.parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)] if sig is not None else []
    return {p: (params[p] if p < len(params) else f"argument {p}") for p in positions}


def _data_positions(f, data) -> tuple:
    """``data`` (names or positions) as positions of ``f``'s positional parameters."""
    items = data if isinstance(data, (tuple, list)) else (data,)
    if not items:
        raise AutodiffError("ad.data_parallel: data names no argument; give the names or positions of the "
                            "arguments split into row blocks, e.g. data=('X', 'y')")
    sig = _signature(f)
    params = list(sig.parameters.values()) if sig is not None else []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var_args = any(p.kind is p.VAR_POSITIONAL for p in params)
    names = ", ".join(p.name for p in params)
    out = []
    for d in items:
        if isinstance(d, str):
            if d not in positional:
                raise AutodiffError(f"ad.data_parallel: data={d!r} is not a positional argument of "
                                    f"{_name(f)}{_where(f)} (arguments: {names})")
            out.append(positional.index(d))
        elif isinstance(d, int) and not isinstance(d, bool) and d >= 0:
            if d >= len(positional) and not var_args and sig is not None:
                raise AutodiffError(f"ad.data_parallel: data={d!r} is past the last positional argument of "
                                    f"{_name(f)}{_where(f)} (arguments: {names})")
            out.append(d)
        else:
            raise AutodiffError(f"ad.data_parallel: data takes argument names or positions; got {d!r}")
    if len(set(out)) != len(out):
        raise AutodiffError(f"ad.data_parallel: data={data!r} names an argument twice")
    return tuple(out)


def _name(f) -> str:
    return getattr(f, "__name__", type(f).__name__)


def _where(f) -> str:
    code = getattr(f, "__code__", None)
    return f" (defined at {code.co_filename}:{code.co_firstlineno})" if code is not None else ""
