"""The trace in progress on this thread (one ``context.TraceContext`` or None).

A module of its own, below everything that consults it: ``Traced`` values and
the lowerings ask it for the active trace (to record guards, to name the
user's line in errors) without importing the trace machinery above them.

Example::

    prev = activate(ctx)       # tracing may nest: restore ``prev`` afterwards
    assert current() is ctx
    activate(prev)
"""
from __future__ import annotations

import threading

from .errors import UnsupportedError

_local = threading.local()


def current():
    """The active trace context (``context.TraceContext``), or None outside tracing."""
    return getattr(_local, "ctx", None)


def require():
    """The active trace context; a clear error if a traced value escaped its trace."""
    ctx = current()
    if ctx is None:  # a Traced escaped the trace it belongs to
        raise UnsupportedError("a traced value was used outside the trace that created it")
    return ctx


def activate(ctx):
    """Make ``ctx`` current; returns the previous one (tracing may nest)."""
    prev = current()
    _local.ctx = ctx
    return prev
