"""What makes a transformed function safe to call from many threads at once.

The hot path (a cache hit) takes no lock: it reads immutable objects and
swaps single attributes.  Three pieces of shared state need more:

- *Building* (tracing, PyTensor's rewrites, every backend's compile) runs
  under one process-wide re-entrant lock, ``BUILD_LOCK``.  PyTensor
  initialises parts of its global configuration lazily (``compiledir``,
  ``gcc_version_str``, ...) and raises "Can't change the value of ... after
  initialization!" when two threads do it at once; our own lowering tables
  are filled lazily too.  A miss is slow anyway (milliseconds to seconds), so
  serialising misses costs little, and a thread that waited re-checks the
  cache first: the specialization it needs may have just been built.
- *The last specialization a call used* is per thread (``PerThread``): a
  call builds its fast path from the specialization that served *it*, never
  from one another thread set in between (that race attached a float32
  graph to float64 calls for good).
- *A compiled function with internal storage* (PyTensor's ``Function``, used
  by ``mode="c"``/``"py"``) is called under its own lock (``serialized``).
- *Warnings*: ``warnings.catch_warnings`` swaps process-wide state, so a background
  rewrite under it hid the caller's own numpy warnings for seconds and, on leaving,
  restored the filters a ``catch_warnings`` of the main thread had set meanwhile (a
  ``pytest.warns`` saw nothing).  Our builds silence their own warnings with
  ``quiet_warnings``, which in our background threads drops what that thread shows
  and nothing else.

``checkpoint(name)`` is a no-op unless a test installed a hook with
``hook(...)``: tests use it to force one interleaving deterministically
(e.g. let another thread finish a whole call between a trace and the fast
path that follows it) instead of hoping a race shows up.

Example::

    with BUILD_LOCK:          # trace and compile, one thread at a time
        ...
    last = PerThread()
    last.spec = spec          # seen by this thread only
"""
from __future__ import annotations

import contextlib
import threading

BUILD_LOCK = threading.RLock()

_hook = None  # tests: called as _hook(name) at each checkpoint


class PerThread(threading.local):
    """Attributes each thread sees its own value of (default None)."""

    spec = None


def checkpoint(name: str) -> None:
    """A point where a test may stop this thread (see ``hook``)."""
    if _hook is not None:
        _hook(name)


@contextlib.contextmanager
def hook(fn):
    """Install ``fn(name)`` to run at every ``checkpoint(name)`` inside the block.

    Example::

        def pause(name):
            if name == "traced" and threading.current_thread().name == "A":
                b_done.wait()
        with hook(pause):
            ...
    """
    global _hook
    previous, _hook = _hook, fn
    try:
        yield
    finally:
        _hook = previous


def serialized(fn):
    """``fn`` behind a lock of its own: for callables that keep state between calls."""
    lock = threading.Lock()

    def call(*args):
        with lock:
            return fn(*args)

    call.__wrapped__ = fn
    return call


_quiet = threading.local()  # .depth: quiet_warnings blocks this thread is inside
_quiet_lock = threading.Lock()
_quiet_installed = False


def _install_quiet() -> None:
    """Route every shown warning through a check of the showing thread (once per process).
    ``warnings._showwarnmsg`` is what both Python's ``warnings.warn`` and C code (numpy's
    floating-point warnings) call to show a warning that passed the filters, and what
    ``catch_warnings(record=True)`` and pytest leave in place (they swap what it calls)."""
    global _quiet_installed
    import warnings

    with _quiet_lock:
        if _quiet_installed:
            return
        shown = warnings._showwarnmsg

        def _showwarnmsg(msg):
            if getattr(_quiet, "depth", 0):
                return  # shown inside quiet_warnings, by this thread: dropped
            return shown(msg)

        warnings._showwarnmsg = _showwarnmsg
        _quiet_installed = True


BACKGROUND_PREFIX = "pyautodiff-"  # the names of the threads we start


@contextlib.contextmanager
def quiet_warnings():
    """Within this block numpy's floating-point errors are ignored and the warnings this
    thread shows are dropped.

    In a thread of ours (a background build: its name starts with ``BACKGROUND_PREFIX``)
    only this thread's warnings are dropped, and the process's filters are left alone:
    the caller's warnings still show, and a ``catch_warnings`` of the caller is not undone.
    A warning that a filter turns into an error (``-W error``) still raises there, and
    the build keeps what it had (a background rewrite keeps the light code); numpy's
    floating-point warnings, the common case (constant folding), never get that far
    (``np.errstate`` is per thread).  In the caller's own thread, whose call waits for
    the build anyway, ``catch_warnings`` ignores every warning, errors included.

    Example::

        with quiet_warnings():
            rewriter.rewrite(fgraph)
    """
    import warnings

    import numpy as np

    if not threading.current_thread().name.startswith(BACKGROUND_PREFIX):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            yield
        return
    _install_quiet()
    _quiet.depth = getattr(_quiet, "depth", 0) + 1
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        _quiet.depth -= 1
