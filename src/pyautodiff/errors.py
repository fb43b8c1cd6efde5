"""The library's exceptions, and source locations that name the user's code.

Every error a user sees from pyautodiff derives from ``AutodiffError``.  Errors
raised while tracing carry the location of the user's instruction that caused
them (file, line and the source line itself), so a message reads like a
traceback entry pointing into *their* code, not ours.

Example::

    >>> import pyautodiff as ad
    >>> issubclass(ad.UnsupportedError, ad.AutodiffError)
    True
"""
from __future__ import annotations

import linecache
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A point in the user's source: file, line and function name."""

    filename: str
    lineno: int | None
    function: str

    @property
    def source_line(self) -> str:
        if self.lineno is None:
            return ""
        return linecache.getline(self.filename, self.lineno).strip()

    def __str__(self) -> str:
        text = f'File "{self.filename}", line {self.lineno}, in {self.function}'
        src = self.source_line
        return f"{text}\n    {src}" if src else text


class AutodiffError(Exception):
    """Base class of every error pyautodiff raises on its own account."""

    def __init__(self, message: str, location: Location | None = None):
        self.message = message
        self.location = location
        super().__init__(self._render())

    def _render(self) -> str:
        if self.location is None:
            return self.message
        return f"{self.message}\n  {self.location}"


class UnsupportedError(AutodiffError):
    """The traced code did something pyautodiff cannot follow exactly.

    Raised for an unsupported opcode, a numpy function with no lowering that
    receives a traced value, or a traced value that would leave the traced
    world (e.g. passed to an unknown C extension).  Never a wrong number.
    """


class VerificationError(AutodiffError, AssertionError):
    """A verification check found the compiled result or derivative wrong."""


class InternalError(AutodiffError):
    """pyautodiff broke one of its own invariants (a bug: please report it)."""


class TraceSizeWarning(UserWarning):
    """An unrolled loop made the traced graph very large (see ``loop_limit=``)."""


class CodeCacheWarning(UserWarning):
    """The on-disk code cache ignored a directory, key or entry it cannot trust
    (the code is rebuilt instead; see README "The code cache")."""


class CacheSizeWarning(UserWarning):
    """A transformed function keeps being specialized anew (an argument's shape or
    static value keeps changing) and its in-memory cache is evicting."""
