"""The VM boundary: what the rest of the library may ask of the bytecode emulator.

The trace's state (``context.TraceContext``) holds an ``Emulator``; lowerings
and custom rules call back into the emulator only through it, never through
the ``vm.interpreter.Interpreter`` that implements it (which sits above them).

Example (inside a lowering, a numpy function written in Python)::

    emulator.call(np.linalg.norm._implementation, (x,), {})   # its numpy calls are traced
"""
from __future__ import annotations

from typing import Any, Protocol

from . import active


class Emulator(Protocol):
    """The emulator of one trace."""

    frames: list  # the emulated frames (``vm.frame.Frame``), innermost last

    def call(self, fn, args: tuple, kwargs: dict) -> Any:
        """Call ``fn`` as the traced code would: emulate, lower or run for real."""


def call(fn, args: tuple, kwargs: dict) -> Any:
    """Call ``fn`` through the active trace's emulator (its numpy calls are traced)."""
    ctx = active.require()
    if ctx.emulator is None:
        raise ctx.unsupported(f"{getattr(fn, '__qualname__', fn)} needs the emulator, "
                              "which this trace does not have")
    return ctx.emulator.call(fn, args, kwargs)


def available() -> bool:
    """True if a trace with an emulator is active."""
    ctx = active.current()
    return ctx is not None and ctx.emulator is not None
