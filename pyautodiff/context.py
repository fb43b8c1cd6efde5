"""The state of one trace in progress: guards, in-place bookkeeping, locations.

Exactly one ``TraceContext`` is active while the emulator runs a user's
function; ``current()`` returns it.  ``Traced`` values and lowerings consult it
to record guards and to name the user's source line in errors.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import Location, UnsupportedError

_local = threading.local()


def current() -> "TraceContext | None":
    """The active trace context, or None outside tracing."""
    return getattr(_local, "ctx", None)


def require() -> "TraceContext":
    ctx = current()
    if ctx is None:  # a Traced escaped the trace it belongs to
        raise UnsupportedError("a traced value was used outside the trace that created it")
    return ctx


@dataclass
class Guard:
    """A decision the trace took on a value that depends on the inputs.

    ``expr`` is the symbolic value (bool or integer), ``outcome`` the concrete
    value the trace saw; a cached trace is valid for new inputs only while
    every guard's expression evaluates to its outcome.
    """

    expr: Any
    outcome: Any
    kind: str
    location: Location | None

    def __str__(self) -> str:
        where = f" at {self.location.filename}:{self.location.lineno}" if self.location else ""
        src = f"  ({self.location.source_line})" if self.location and self.location.source_line else ""
        return f"{self.kind} -> {self.outcome!r}{where}{src}"


@dataclass
class TraceContext:
    """Everything one trace accumulates besides the values themselves."""

    guards: list[Guard] = field(default_factory=list)
    frames: list = field(default_factory=list)  # emulator frames, innermost last
    # In-place writes of traced values into ordinary arrays: id(array) -> Traced.
    promoted: dict[int, Any] = field(default_factory=dict)
    # Ordinary arrays created while tracing (only those may be promoted),
    # and basic-index views of them: id(view) -> (parent, index).
    created: set[int] = field(default_factory=set)
    real_views: dict[int, tuple] = field(default_factory=dict)
    keepalive: list = field(default_factory=list)  # ids above stay valid
    input_traced: set[int] = field(default_factory=set)  # ids of argument Traced
    callee: str | None = None  # name of the callable being called, for errors
    interpreter: Any = None
    loop_limit: int = 100_000
    n_ops: int = 0  # lowerings performed; a cheap measure of graph size
    warned_size: bool = False
    impure_calls: list = field(default_factory=list)

    # -- locations -------------------------------------------------------
    def location(self) -> Location | None:
        for frame in reversed(self.frames):
            if frame.is_user_code:
                return frame.location()
        return self.frames[-1].location() if self.frames else None

    def unsupported(self, message: str) -> UnsupportedError:
        return UnsupportedError(message, self.location())

    # -- guards ----------------------------------------------------------
    def add_guard(self, expr, outcome, kind: str) -> None:
        self.guards.append(Guard(expr, outcome, kind, self.location()))

    # -- ordinary arrays that receive traced values ----------------------
    def note_created(self, value) -> None:
        """Remember an ndarray produced inside the trace (it may be written)."""
        if type(value) is np.ndarray:
            self.created.add(id(value))
            self.keepalive.append(value)

    def note_view(self, view, parent, index) -> None:
        if type(view) is np.ndarray and view.base is not None:
            self.real_views[id(view)] = (parent, index)
            self.keepalive.append(view)

    def resolve(self, value):
        """Map an ordinary ndarray that was written with traced values to its Traced."""
        if not self.promoted or type(value) is not np.ndarray:
            return value
        hit = self.promoted.get(id(value))
        if hit is not None:
            return hit
        origin = self.real_views.get(id(value))
        if origin is not None:
            parent = self.resolve(origin[0])
            if parent is not origin[0]:  # the parent was written: view it symbolically
                view = parent[origin[1]]
                self.promoted[id(value)] = view
                return view
        root = value
        while isinstance(root.base, np.ndarray):
            root = root.base
        if root is not value and id(root) in self.promoted:
            raise self.unsupported(
                "an array view taken before its base was written with traced values "
                "is used afterwards; take the view after the write, or copy it"
            )
        return value


def activate(ctx: TraceContext | None) -> "TraceContext | None":
    """Make ``ctx`` current; returns the previous one (tracing may nest)."""
    prev = current()
    _local.ctx = ctx
    return prev
