"""The state of one trace in progress: guards, in-place bookkeeping, locations.

Exactly one ``TraceContext`` is active while the emulator runs a user's
function; ``current()`` returns it (``active.py``).  ``Traced`` values and
lowerings consult it to record guards and to name the user's source line in
errors.  The emulator of the trace is reached through ``ctx.emulator`` (the
``emulator.Emulator`` interface), which owns the emulated frames.
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .active import activate, current, require
from .emulator import Emulator
from .errors import Location, UnsupportedError
from .library_code import is_installed_package, is_library
from .traced import Traced

__all__ = ["TraceContext", "Guard", "External", "MISSING", "activate", "current", "require"]


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


MISSING = object()
_VALUE_TYPES = (int, bool, str, bytes, type(None), complex)
# An outside integer or bool array up to this size is a constant of the trace, guarded on
# its contents (labels, indices, masks: library code may need them concrete, e.g.
# scikit-learn's label encoding); a larger one is a graph input (no per-call comparison).
# Measured per cached call (benchmarks/outside_content_guard.py): 0.5 us at 100 int64
# elements, 73 us at 10^5, 0.23 ms at the limit (2^19), a tenth of a gradient over them.
CONTENT_GUARD_BYTES = 1 << 22
_BYTES_COMPARE = 1 << 20  # up to here comparing bytes objects beats np.array_equal


class Contents:
    """The contents of an outside integer/bool array as the trace read them.

    Example::

        c = Contents(labels); labels[0] = 7; c.matches(labels)   # False: traced again
    """

    __slots__ = ("shape", "dtype", "saved", "as_bytes")

    def __init__(self, a: np.ndarray):
        self.shape, self.dtype = a.shape, a.dtype
        self.as_bytes = a.nbytes <= _BYTES_COMPARE
        self.saved = a.tobytes() if self.as_bytes else a.copy()

    def matches(self, v) -> bool:
        if type(v) is not np.ndarray or v.shape != self.shape or v.dtype != self.dtype:
            return False
        return v.tobytes() == self.saved if self.as_bytes else bool(np.array_equal(v, self.saved))


@dataclass
class External:
    """A value the trace read from outside its arguments (a global, a closure
    cell, an attribute or item of an outside object).

    ``kind`` says how a cached trace stays exact when it changes: ``"input"``
    (numeric arrays and floats become graph inputs, fetched on every call),
    ``"equal"`` (ints, strings, ... are guarded by value), ``"contents"`` (an
    integer/bool array up to ``CONTENT_GUARD_BYTES``, a constant guarded by a ``Contents``), ``"identity"``
    (other objects, e.g. a helper function that may be redefined) or
    ``"identities"`` (a tuple of objects, e.g. a function's code and defaults).
    ``fetch`` repeats the whole chain of reads from its root (outside.py).
    """

    fetch: Any  # () -> the current value
    kind: str
    expected: Any  # "input": (type, shape, dtype); otherwise the value read
    what: str
    box: Any = None  # the Traced standing for an "input"
    fresh: bool = False  # a random draw: the trace's own value serves its first call only
    owner: Any = None  # "identities" of a function's state: the function (cache.fast_path inlines it)

    def current(self):
        """The value to pass for an input, or MISSING if the trace does not apply."""
        try:
            value = self.fetch()
        except Exception:
            return MISSING
        if self.kind == "input":
            t, shape, dtype = self.expected
            if type(value) is not t or (t is not float and (value.shape != shape or value.dtype != dtype)):
                return MISSING
            return value
        if self.kind == "identity":
            return value if value is self.expected else MISSING
        if self.kind == "contents":
            return value if self.expected.matches(value) else MISSING
        if self.kind == "identities":  # a tuple of objects, each the same as when traced
            if len(value) != len(self.expected):
                return MISSING
            for a, b in zip(value, self.expected):
                if a is not b:
                    return MISSING
            return value
        return value if (value is self.expected or (type(value) is type(self.expected)
                                                    and value == self.expected)) else MISSING


@dataclass
class TraceContext:
    """Everything one trace accumulates besides the values themselves."""

    guards: list[Guard] = field(default_factory=list)
    # In-place writes of traced values into ordinary arrays: id(array) -> Traced.
    promoted: dict[int, Any] = field(default_factory=dict)
    # Ordinary arrays created while tracing (only those may be promoted),
    # and basic-index views of them: id(view) -> (parent, index).
    created: set[int] = field(default_factory=set)
    real_views: dict[int, tuple] = field(default_factory=dict)
    keepalive: list = field(default_factory=list)  # ids above stay valid
    # Traced that must not be written in place: id -> what it is (for the message)
    readonly: dict[int, str] = field(default_factory=dict)
    callee: str | None = None  # name of the callable being called, for errors
    emulator: Emulator | None = None  # the emulator running the traced code (it owns the frames)
    loop_limit: int = 100_000
    n_ops: int = 0  # lowerings performed; a cheap measure of graph size
    warned_size: bool = False
    externals: dict = field(default_factory=dict)  # key -> External
    # Root graph variables -> their concrete values (arguments, outside inputs, the
    # fresh inputs of a transformation traced through): what compose.py evaluates with.
    root_values: dict = field(default_factory=dict)
    # outside.py: id(obj) -> fetch repeating the chain of reads that reached it;
    # ids of objects the trace created (instances of classes it called)
    sources: dict = field(default_factory=dict)
    inside: set = field(default_factory=set)
    # writes.py: writes to the outside in trace order; slots written ((kind, id, key));
    # ids of outside containers whose length this call changed
    effects: list = field(default_factory=list)
    written: set = field(default_factory=set)
    mutated: set = field(default_factory=set)
    internal_cells: set[int] = field(default_factory=set)
    # loop rolling (vm/rolling.py): per range iterator [iterator, next probe at, attempts],
    # placeholders of abandoned probes -> what they stood for, loops made into a Scan
    loop_plans: dict = field(default_factory=dict)
    substitutions: dict = field(default_factory=dict)
    loops_rolled: int = 0
    plain_loops: set = field(default_factory=set)  # (code, header): Python numbers stay Python (rolling)
    raised: tuple | None = None  # (exception, Location): the innermost user frame it left
    # key -> library module/function/class read from a global or cell: not guarded in this
    # process (rebinding np is not followed), but checked by name before a new process
    # reuses the trace from disk (trace_cache.py)
    library_reads: dict = field(default_factory=dict)
    wrote_outside: bool = False  # a global or an outside closure cell stored by the trace itself

    # -- exceptions of the user's code -----------------------------------
    def note_raise(self, exc: Exception, frame) -> None:
        """``exc`` leaves ``frame`` (user code) unhandled; remember the innermost such frame."""
        if self.raised is None or self.raised[0] is not exc:
            self.raised = (exc, frame.location())

    def name_raise_site(self, exc: Exception) -> None:
        """``exc`` escapes the traced function: name the user's line in a note (Python's
        traceback shows only the emulator's frames; ``str(exc)`` stays CPython's)."""
        if self.raised is not None and self.raised[0] is exc:
            note = f"raised in the traced function: {self.raised[1]}"
            if note not in getattr(exc, "__notes__", ()):  # (an exception object raised again)
                exc.add_note(note)

    # -- locations -------------------------------------------------------
    def location(self) -> Location | None:
        """The user's line being run (the innermost frame of user code)."""
        frames = self.emulator.frames if self.emulator is not None else ()
        for frame in reversed(frames):
            if frame.is_user_code:
                return frame.location()
        return frames[-1].location() if frames else None

    def unsupported(self, message: str) -> UnsupportedError:
        entry, caller = self._library_entry()
        if entry is not None and not message.startswith(entry):
            # the failing step is deep inside a library function: name the one the user called
            message = f"in {entry} (its code cannot follow traced values here): {message}"
        where = self.location()
        if caller is not None:  # an installed package's function: the user's call, and its line too
            if where is not None:
                message = f"{message} (at {where.filename}:{where.lineno})"
            where = caller
        return UnsupportedError(message, where)

    def _library_entry(self):
        """The public name of the outermost numpy/scipy (or installed package's) function being
        emulated, if any, and for an installed package the location of the user's call."""
        frames = self.emulator.frames if self.emulator is not None else ()
        for i, frame in enumerate(frames):
            if not frame.is_user_code:
                return public_name(frame.func), None
            if is_installed_package(frame.func):
                return public_name(frame.func), (frames[i - 1].location() if i else None)
        return None, None

    # -- guards ----------------------------------------------------------
    def add_guard(self, expr, outcome, kind: str) -> None:
        self.guards.append(Guard(expr, outcome, kind, self.location()))

    # -- values read from outside the arguments ---------------------------
    def read_external(self, key, fetch, value, what, stored=True, kind=None):
        """Record a read of ``value`` from outside; returns what the trace should use.

        ``stored``: ``fetch`` returns a stored object (an identity guard is stable);
        otherwise (a property) an object is followed through its chain only.
        ``kind``: force an External kind (``"identities"``)."""
        known = self.externals.get(key)
        if known is not None:
            return known.box if known.kind == "input" else value
        if kind is not None:
            self.externals[key] = External(fetch, kind, value, what)
            return value
        t = type(value)
        random = key[0] == "random"  # any numeric draw is an input; ints too
        if random and t is int:  # random.randint: an int64 input, fetched as such
            value, t = np.int64(value), np.int64
            fetch = (lambda f: lambda: np.int64(f()))(fetch)
        numeric_array = t is np.ndarray and value.dtype.kind in "biufc" and (random or id(value) not in self.created)
        if numeric_array and not random and value.dtype.kind in "biu" and value.nbytes <= CONTENT_GUARD_BYTES:
            # never differentiated: a constant, so library code sees a concrete array
            self.externals[key] = External(fetch, "contents", Contents(value), what)
            return value
        numeric_scalar = t is float or (isinstance(value, np.generic) and value.dtype.kind in ("biufc" if random else "fc"))
        if numeric_array or numeric_scalar:
            import pytensor.tensor as pt

            arr = np.asarray(value)
            name = "".join(c if c.isalnum() else "_" for c in what.split("'")[1] if c) if "'" in what else "ext"
            var = pt.tensor(dtype=arr.dtype.name, shape=arr.shape, name=name)
            box = Traced(value, var)
            self.readonly[id(box)] = what
            self.keepalive.append(box)
            expected = (t, getattr(value, "shape", ()), getattr(value, "dtype", None))
            self.externals[key] = External(fetch, "input", expected, what, box)
            self.root_values[var] = value
            return box
        if t in _VALUE_TYPES or isinstance(value, (np.integer, np.bool_)):
            self.externals[key] = External(fetch, "equal", value, what)
        elif not _is_library_object(value):
            if stored:
                self.externals[key] = External(fetch, "identity", value, what)
            self.sources.setdefault(id(value), fetch)  # reads through it repeat this chain
            self.keepalive.append(value)
        else:
            self.library_reads[key] = value
        return value

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


def _is_library_object(value) -> bool:
    if isinstance(value, types.ModuleType):
        return True
    if isinstance(value, type):
        return is_library(value)
    if callable(value) and not hasattr(value, "__code__") and not hasattr(value, "__func__"):
        return is_library(value) or is_library(type(value))
    # library *instances* (containers, generators, os.environ) are outside state
    return is_library(value) if hasattr(value, "__code__") else False


def public_name(func) -> str | None:
    """``scipy.signal.lfilter`` for the function defined in ``scipy.signal._signaltools``: the
    shortest module path that exports it (the name users write)."""
    import sys

    module, name = getattr(func, "__module__", None), getattr(func, "__name__", None)
    if not module or not name:
        return None
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        home = ".".join(parts[:i])
        found = getattr(sys.modules.get(home), name, None)
        if found is func or getattr(found, "_implementation", None) is func:  # numpy's dispatched functions
            return f"{home}.{name}"
    return f"{module}.{getattr(func, '__qualname__', name)}"
