"""Saying so when a first call takes long, and timing its phases.

A first call traces the function, differentiates the traced graph, rewrites
it (PyTensor's rewrites) and generates code; on a long unrolled loop that can
take minutes.  Each first call runs inside a ``Compile``: its phases are
timed (``g.stats.last_phase_seconds``) and, once the whole has taken more than
``AFTER_SECONDS``, one message goes to the ``"pyautodiff"`` logger at WARNING
level (shown by Python's default logging) naming the function, the phase it
is in and the graph size: from a timer thread while a single phase runs long,
or at the next phase boundary.

``AFTER_SECONDS`` is a setting (``pyautodiff.progress.AFTER_SECONDS = 0.5``;
the environment variable ``PYAUTODIFF_PROGRESS_AFTER`` sets it at import);
silence the message with ``logging.getLogger("pyautodiff").setLevel(logging.ERROR)``.

Example::

    import logging, numpy as np, pyautodiff as ad
    from pyautodiff import progress

    progress.AFTER_SECONDS = 0.0      # say so for every first call
    g = ad.grad(lambda x: np.sum(np.sin(x)))
    g(np.ones(3))                     # logs "pyautodiff: the first call of grad_<lambda> ..."
    sorted(g.stats.last_phase_seconds)   # ['differentiate', 'generate', 'rewrite', 'trace']
    progress.AFTER_SECONDS = 2.0
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

logger = logging.getLogger("pyautodiff")

AFTER_SECONDS = float(os.environ.get("PYAUTODIFF_PROGRESS_AFTER", "2.0"))

_CURRENT = threading.local()  # .compile: the Compile running in this thread


class Compile:
    """One first call of ``name``: its phase times, and the message once it runs long."""

    def __init__(self, name: str, after: float | None = None):
        self.name = name
        self.after = AFTER_SECONDS if after is None else after
        self.times: dict[str, float] = {}
        self.phase_name: str | None = None
        self.nodes: int | None = None  # graph size, once known
        self.said = False
        self._lock = threading.Lock()
        self._start = 0.0
        self._timer: threading.Timer | None = None
        self._outer = None

    def __enter__(self):
        self._start = time.perf_counter()
        self._outer = getattr(_CURRENT, "compile", None)
        _CURRENT.compile = self
        if self.after > 0:  # a phase that runs long on its own is reported while it runs
            self._timer = threading.Timer(self.after, self._say)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc):
        if self._timer is not None:
            self._timer.cancel()
        _CURRENT.compile = self._outer
        return False

    @contextlib.contextmanager
    def phase(self, name: str):
        self.phase_name = name
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0
            if time.perf_counter() - self._start >= self.after:
                self._say()

    def _say(self):
        with self._lock:
            if self.said:
                return
            self.said = True
        elapsed = time.perf_counter() - self._start
        size = f", a graph of {self.nodes} nodes" if self.nodes is not None else ""
        done = ", ".join(f"{k} {v:.1f} s" for k, v in self.times.items())
        logger.warning("pyautodiff: the first call of %s is taking long: %.1f s so far, now in %s%s%s",
                       self.name, elapsed, self.phase_name or "start", size,
                       f" (done: {done})" if done else "")


def phase(name: str):
    """Time a phase of the first call running in this thread (none: do nothing)."""
    current = getattr(_CURRENT, "compile", None)
    return current.phase(name) if current is not None else contextlib.nullcontext()


def graph_size(nodes: int) -> None:
    """Record the graph size for the message of the first call running in this thread."""
    current = getattr(_CURRENT, "compile", None)
    if current is not None:
        current.nodes = nodes


def current() -> Compile | None:
    """The first call running in this thread, if any (``backend.deep`` hands it to its worker)."""
    return getattr(_CURRENT, "compile", None)


@contextlib.contextmanager
def adopt(report: Compile | None):
    """Time phases in this thread as part of ``report``, a first call running in another
    thread that waits for this one."""
    outer = getattr(_CURRENT, "compile", None)
    _CURRENT.compile = report
    try:
        yield
    finally:
        _CURRENT.compile = outer
