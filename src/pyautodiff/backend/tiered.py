"""Tiered execution: serve calls at once, switch to compiled code when it pays.

PyTensor's Numba backend runs many gradients faster than numpy but takes
seconds (tens of seconds on a cold cache) to compile a new graph.  The
default mode therefore starts every specialization on generated numpy code
(built in milliseconds) and times its calls.  Cheap calls (under
``MIN_SECONDS``, where Python overhead dominates either way) stop being timed
after ``MEASURE_CALLS``.  Once a specialization has spent
``UPGRADE_AFTER_SECONDS`` computing (so a compile of a few seconds can pay
for itself, and short scripts and notebooks never pay for it), the same graph
is compiled with Numba in a low-priority background thread, timed on recorded
inputs, and swapped in only if it is faster.  The swap is one attribute
assignment, so a call never waits for it.

Threads: the counters are updated without a lock (a lost sample only shifts
the moment of the decision); the decision itself takes ``self.lock``, so
however many threads cross the threshold together, one upgrade starts.  The
background compile takes ``concurrency.BUILD_LOCK`` in ``compile_graph``, like every build.

A graph holding a loop (``Scan``) upgrades after ``LOOP_UPGRADE_AFTER_SECONDS``
(``has_loop``), counted from its first call: a rolled loop of thousands of steps
reaches it on the first call or within a few, and its Numba code (scan_numba.py) is 4-50x faster.

A graph for which Numba won in an earlier process (``tier_memory``, notes beside the
code cache) upgrades at once: Numba's on-disk cache makes the compile quick, and the
build is still timed before it is installed.  A specialization served by the trace cache
has no graph; where its code's note says Numba, ``trace_cache.Served`` traces for it in
the background when its first call returns and runs ``upgrade_now`` there.  That warm
build costs about 0.5 s of CPU (Numba's import and type registries, PyTensor's rewrites
for Numba, loading the cached machine code); a cold one costs seconds to tens of seconds.

``PYAUTODIFF_TIERED=0`` disables the upgrade; an explicit ``mode=`` too.  The
*first tier* (``first_fn``, ``Tiered.first_tier``) is the generated numpy code.

Example::

    fn = Tiered(inputs, outputs, name, first_fn, install=lambda f: setattr(spec, "fn", f))
    spec.fn = fn            # measuring wrapper, replaced after MEASURE_CALLS calls
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from time import perf_counter  # a global: two calls on every measured call

from .. import concurrency

MEASURE_CALLS = 5
MIN_SECONDS = 5e-6  # below this per call, Python overhead dominates either way
UPGRADE_AFTER_SECONDS = 2.0  # time spent in the numpy tier before compiling
# A graph with a loop (a Scan: a rolled Python loop or a derivative of one) runs each
# step through Python on the numpy tier, some microseconds where Numba's compiled loop
# takes tens of nanoseconds: 4-50x per call, so its compile pays off sooner.
LOOP_UPGRADE_AFTER_SECONDS = 0.25
SECOND_TIER = "numba"
RETIME_MAX_SECONDS = 0.1  # a first tier's call shorter than this is timed again before the choice
_REQUIRED_SPEEDUP = 1.1
NO_RELOAD = "kept numpy (no build to reload)"  # a graph-less Tiered whose note's build was not usable
# A light first tier of more nodes than this keeps its light code: PyTensor's full
# rewrite grows faster than linearly (about 40 s of a background core at 10^4 nodes,
# minutes beyond), and on such unrolled graphs a call's cost is Python's per-statement
# overhead either way.  ``PYAUTODIFF_FULL_REWRITE_MAX`` sets it.
FULL_REWRITE_MAX_NODES = int(os.environ.get("PYAUTODIFF_FULL_REWRITE_MAX", "30000"))


def enabled() -> bool:
    return os.environ.get("PYAUTODIFF_TIERED", "1").strip().lower() not in ("0", "false", "no", "off")


class Tiered:
    """A measuring wrapper around the first-tier function of one specialization."""

    def __init__(self, inputs, outputs, name, first_fn, install, on_upgrade=None, fresh_outputs=False,
                 upgrade_after=None, recalled=None, recalled_build=None):
        self.inputs, self.outputs, self.name = inputs, outputs, name
        # (what, perf_counter, thread_time) of the second tier's build: started, built, installed
        # or kept numpy (benchmarks read it: when Numba started serving, the build's CPU time)
        self.timeline: list = []
        # seconds of computing on the first tier before compiling the second
        self.upgrade_after = UPGRADE_AFTER_SECONDS if upgrade_after is None else upgrade_after
        self.first_tier = first_fn
        self._install = install  # replaces the specialization's function
        self.installed = None  # what install() last put in place of this wrapper
        self.on_upgrade = on_upgrade
        self.samples: list[float] = []
        self.total = 0.0
        self.sample_args = None
        self.thread: threading.Thread | None = None
        self.outcome = "measuring"
        self.rewrite_thread: threading.Thread | None = None
        self.rewrite_outcome = None
        self._lock = threading.Lock()  # what is installed
        self.lock = threading.Lock()  # the upgrade decision
        self.note_key = None  # tier_memory: this graph's note of the tier that won before
        self.recalled = recalled  # given: the caller read the note already (trace_cache.Served)
        # (name, Numba cache key) of the build that won before: loaded without the graph
        self.recalled_build = recalled_build
        self.recall_thread: threading.Thread | None = None
        nodes = getattr(first_fn, "nodes", 0)
        if recalled is None and enabled() and _notes_enabled() and not getattr(first_fn, "light", False):
            code_key = getattr(first_fn, "code_key", None)
            if code_key is not None:  # the code cache fingerprinted this graph already: a file read
                self._recall(code_key)
            else:  # fingerprinting the graph costs a large one milliseconds: not on the caller's time
                self.recall_thread = threading.Thread(target=self._recall, daemon=True,
                                                      name=f"pyautodiff-recall-{name}")
                self.recall_thread.start()
        if getattr(first_fn, "light", False) and nodes > FULL_REWRITE_MAX_NODES:
            self.rewrite_outcome = f"kept light code (a graph of {nodes} nodes: the full rewrite would take minutes)"
        elif getattr(first_fn, "light", False):  # light rewrites only: the full ones in the background
            self.rewrite_outcome = "rewriting"
            # started when the first call returns (``_start_rewrite``): started now, it would
            # take turns with the first call's run for the interpreter lock
            self.rewrite_thread = threading.Thread(target=self._full_rewrite, args=(fresh_outputs,), daemon=True,
                                                   name=f"pyautodiff-rewrite-{name}")
        self._rewrite_pending = self.rewrite_thread is not None

    def _start_rewrite(self):
        """Start the background full rewrite once (the first call has returned, or someone waits)."""
        if self._rewrite_pending:
            with self._lock:
                if self._rewrite_pending:
                    self._rewrite_pending = False
                    self.rewrite_thread.start()

    def _recall(self, code_key=None):
        """If Numba won for this graph in an earlier process, compile it now (at the next
        call), not after ``upgrade_after`` seconds: its build is on disk (``tier_memory``).
        ``code_key``: the code cache's key of the first tier's code, if it has one."""
        from . import tier_memory

        try:
            self.note_key = (tier_memory.code_note_key(code_key) if code_key is not None
                             else tier_memory.note_key(self.inputs, self.outputs))
            self.recalled = tier_memory.recall(self.note_key)
            self.recalled_build = tier_memory.recall_build(self.note_key)
        except Exception:  # a hint only: without it, the usual schedule
            return
        if self.recalled == SECOND_TIER:
            self.upgrade_after = 0.0

    def _note(self, tier):
        from . import numba_reload, tier_memory

        if self.recall_thread is not None:
            self.recall_thread.join()
        # under the key of the numpy code on disk (what a process served by the trace cache
        # and a recall of that code read), and under the name the recall used if another
        by_code = tier_memory.code_note_key(getattr(self.first_tier, "code_key", None))
        if self.note_key is None and by_code is None and tier_memory.enabled():  # no key yet
            self.note_key = tier_memory.note_key(self.inputs, self.outputs)
        build = numba_reload.build_of(self.installed) if tier == SECOND_TIER else None
        for key in {self.note_key, by_code} - {None}:
            tier_memory.remember(key, tier, build)

    def _install_fast(self):
        with self._lock:  # not the light code if the full rewrite just replaced it
            self.installed = self.first_tier
            self._install(self.first_tier)

    def install(self, fn):
        with self._lock:
            self.installed = fn
            self._install(fn)

    def _full_rewrite(self, fresh_outputs):
        """Build the fully rewritten numpy code and put it in place of the light one."""
        from .compile import compile_graph

        _lower_priority()
        t0 = time.perf_counter()
        try:
            fn, _ = compile_graph(self.inputs, self.outputs, mode="numpy", name=self.name,
                                  fresh_outputs=fresh_outputs)
        except Exception as exc:  # keep serving the light code, which is correct
            self.rewrite_outcome = f"kept light code (full rewrite failed: {type(exc).__name__})"
            return
        with self._lock:
            light = self.first_tier
            self.first_tier = fn  # the measuring wrapper calls it from now on
            if self.installed is light:  # the wrapper was already replaced by the light code
                self.installed = fn
                self._install(fn)
        self.rewrite_outcome = f"full rewrite in {time.perf_counter() - t0:.2f} s"

    def __call__(self, *args):
        t0 = perf_counter()
        try:
            out = self.first_tier(*args)
        finally:
            if self._rewrite_pending:  # (checked here: a method call on every call cost 0.1 us)
                self._start_rewrite()
        dt = perf_counter() - t0
        self.total += dt
        if len(self.samples) < MEASURE_CALLS:
            self.samples.append(dt)
            if len(self.samples) == MEASURE_CALLS and (statistics.median(self.samples) < MIN_SECONDS
                                                       or not enabled()):
                self._install_fast()  # later calls go straight to the function
                self.outcome = "kept numpy (cheap calls)" if enabled() else "kept numpy (tiering off)"
                return out
        # a long call (a loop of many steps) may decide while still being measured
        if self.total >= self.upgrade_after and self.thread is None and enabled():
            concurrency.checkpoint("tier-decision")
            with self.lock:
                if self.thread is not None:  # another thread decided first
                    return out
                self._install_fast()
                self.sample_args = args
                self.outcome = "compiling"
                self.thread = threading.Thread(target=self._upgrade, daemon=True,
                                               name=f"pyautodiff-{SECOND_TIER}-{self.name}")
                self.thread.start()
        return out

    def _upgrade(self):
        from .compile import compile_graph

        if self.recalled != SECOND_TIER:  # a recalled build is short (on disk): not behind the caller
            _lower_priority()
        self._start_rewrite()
        if self.rewrite_thread is not None:  # compile the fully rewritten graph, not the light one
            self.rewrite_thread.join()
        self._event("start")
        fn = self._reload()
        if fn is None and self.outputs is None:  # (trace_cache.Served: no graph to build from)
            self.outcome = NO_RELOAD
            return
        if fn is None and _has_python_only_op(self.inputs, self.outputs):
            self.outcome = f"kept numpy (an op {SECOND_TIER} would run as Python, e.g. numpy.fft)"
            return
        if fn is None and _fuses_narrow_integers_unwrapped(self.inputs, self.outputs):
            self.outcome = f"kept numpy ({SECOND_TIER} on PyTensor < 3.3 would not wrap narrow integers)"
            return
        try:
            if fn is None:
                fn, _ = compile_graph(self.inputs, self.outputs, mode=SECOND_TIER, name=self.name)
                self._event("built")
                fn(*self.sample_args)  # first call: Numba may still JIT here
            first = min(self.samples, default=float("inf"))
            # The samples are the first calls: cold (an early, recalled upgrade), made on the
            # light code the full rewrite has replaced since, or sharing the interpreter with
            # that rewrite (a vectorized fill's 49 us calls measured 1.7-25 ms, and Numba's
            # 106 us was installed as "16x faster"); and this thread's calls share it with the
            # caller's (a log-linear gradient's Numba build measured 231 us here, 163 us
            # alone). Where that is cheap, both tiers are timed here in turn, on the same
            # arguments: the same conditions.
            if len(self.samples) < MEASURE_CALLS or first < RETIME_MAX_SECONDS:
                runs, first_runs = _timed_in_turn(fn, self.first_tier, self.sample_args, 5)
                first = min(first_runs)
            else:
                runs = _timed(fn, self.sample_args, 5)
        except Exception as exc:  # a graph Numba cannot compile stays on numpy
            self.outcome = f"kept numpy ({SECOND_TIER} failed: {type(exc).__name__})"
            return
        compiled = min(runs)
        if compiled * _REQUIRED_SPEEDUP < first:
            self.install(fn)
            self._event("installed")
            self.outcome = f"{SECOND_TIER} ({first / compiled:.2f}x faster)"
            if self.on_upgrade is not None:
                self.on_upgrade(SECOND_TIER)
            self._note(SECOND_TIER)
        else:
            self.outcome = f"kept numpy ({SECOND_TIER} not faster: {compiled * 1e6:.0f} us vs {first * 1e6:.0f} us)"
            self._event("kept numpy")
            self._note("numpy")
        self.sample_args = None

    def _reload(self):
        """The Numba build that won in an earlier process, from Numba's cache without the graph
        (``numba_reload``), if it is there and computes what the numpy code computes on the
        caller's arguments; else None (then it is built from the graph)."""
        if self.recalled_build is None:
            return None
        from . import numba_reload

        try:
            with concurrency.BUILD_LOCK:
                fn = numba_reload.load(*self.recalled_build, self.sample_args, self.first_tier)
            if fn is None:
                return None
            self._event("reloaded")
            if not numba_reload.agrees(fn(*self.sample_args), self.first_tier(*self.sample_args)):
                self._event("reload disagreed")
                return None
        except Exception:  # a hint only: build from the graph
            return None
        return fn

    def upgrade_now(self, args):
        """Build and time the second tier in this thread, on ``args`` (a caller already in the
        background: ``trace_cache.Served``'s early build); a no-op if an upgrade started."""
        with self.lock:
            if self.thread is not None:
                return
            self.thread = threading.current_thread()
            self.sample_args = args
            self.outcome = "compiling"
        self._upgrade()

    def _event(self, what):
        self.timeline.append((what, time.perf_counter(), time.thread_time()))

    def wait(self, timeout=None) -> str:
        """Wait for a background upgrade to finish (tests, benchmarks); returns the outcome."""
        self.wait_rewrite(timeout)
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        return self.outcome

    def wait_rewrite(self, timeout=None):
        """Wait for the background full rewrite of a light first tier; returns its outcome."""
        self._start_rewrite()
        if self.rewrite_thread is not None:
            self.rewrite_thread.join(timeout)
        return self.rewrite_outcome


def _notes_enabled() -> bool:
    from . import tier_memory  # not at import: it brings the code cache's modules

    return tier_memory.enabled()


def _timed(fn, args, n):
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn(*args)
        runs.append(time.perf_counter() - t0)
    return runs


def _timed_in_turn(fn, other, args, n):
    """Wall seconds of ``n`` calls of ``fn`` and of ``other``, called alternately (whatever
    else runs meanwhile meets both alike)."""
    runs, other_runs = [], []
    for _ in range(n):
        runs.extend(_timed(fn, args, 1))
        other_runs.extend(_timed(other, args, 1))
    return runs, other_runs


def _has_python_only_op(inputs, outputs) -> bool:
    """Ops that mark themselves ``python_only`` (numpy.fft, numpy.linalg.eig: Numba would run
    their Python ``perform`` in object mode, with a warning, and no faster)."""
    from pytensor.graph.traversal import io_toposort

    return any(getattr(node.op, "python_only", False) for node in io_toposort(inputs, outputs))


_NARROW_INTEGERS = ("int8", "int16", "int32", "uint8", "uint16", "uint32")


def _fuses_narrow_integers_unwrapped(inputs, outputs) -> bool:
    """PyTensor < 3.3's Numba loops compute a fused integer step narrower than 64 bits
    in Numba's int64 without wrapping it (``(int8 a * 2) * x`` at ``a = 100``: 200 * x,
    numpy's -56 * x): such a graph keeps the numpy code rather than give another number.
    Any elementwise step with such an output but a cast counts (rare in what is
    differentiated; the price is speed only)."""
    import pytensor
    from pytensor.graph.traversal import io_toposort
    from pytensor.scalar.basic import Cast
    from pytensor.tensor.elemwise import Elemwise

    if tuple(int(p) for p in pytensor.__version__.split(".")[:2]) >= (3, 3):
        return False
    return any(isinstance(node.op, Elemwise) and not isinstance(node.op.scalar_op, Cast)
               and node.outputs[0].type.dtype in _NARROW_INTEGERS
               for node in io_toposort(inputs, outputs))


def _lower_priority():
    try:  # Linux: a thread's own nice value; the caller's work goes first
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def has_loop(outputs) -> bool:
    """Whether the graph of ``outputs`` holds a ``Scan`` (a rolled loop or its derivative).

    Example::

        Tiered(..., upgrade_after=LOOP_UPGRADE_AFTER_SECONDS if has_loop(outs) else None)
    """
    from pytensor.scan.op import Scan

    try:
        from pytensor.graph.traversal import ancestors
    except ImportError:  # pytensor < 3.3
        from pytensor.graph.basic import ancestors
    return any(v.owner is not None and isinstance(v.owner.op, Scan) for v in ancestors(outputs))
