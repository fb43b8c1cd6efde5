"""Costs PyTensor pays per node that a first call need not pay, taken away without
changing any graph.

- ``ExternalCOp.load_c_code`` (PyTensor 3.0, where ``DimShuffle`` is one) reads and
  parses its C source file every time an Op is constructed: every transpose or
  broadcast the trace or the gradient builds resolved a path, read a file and
  split it into sections (about 8% of a first call on an unrolled loop).  The
  sections of a file are the same every time: they are parsed once per
  (class, files) and copied into each new Op.
- ``pytensor.scalar.basic.upcast`` (the result dtype of every scalar op built,
  by building numpy 0-d arrays and adding them) is a function of its dtype
  names and two config settings: memoized on exactly those.

- Python's cyclic garbage collector walks every live object at each full
  collection, and building a graph allocates millions of them: collections
  grow with the graph, so building grows faster than linearly (a 42 000-node
  gradient built and light-rewritten in 15.5 s of CPU, 8.7 s with the collector
  paused).  ``gc_paused()`` pauses it while a first call builds; it runs as
  usual afterwards and frees whatever cycles the build left.

``install()`` is idempotent and is called when the backend is imported.

Example::

    from pyautodiff.backend import pytensor_speedups
    pytensor_speedups.install()
"""
from __future__ import annotations

import contextlib
import gc
import threading

_LOCK = threading.Lock()
_installed = False
_paused = [0, False]  # builds running with the collector paused, whether it was enabled


@contextlib.contextmanager
def gc_paused():
    """No cyclic garbage collection while building a graph (nested and concurrent uses
    share one pause; the collector is enabled again when the last one ends, if it was)."""
    with _LOCK:
        if _paused[0] == 0:
            _paused[1] = gc.isenabled()
            gc.disable()
        _paused[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _paused[0] -= 1
            if _paused[0] == 0 and _paused[1]:
                gc.enable()


def install() -> None:
    """Apply the speedups above (once per process)."""
    global _installed
    with _LOCK:
        if _installed:
            return
        _installed = True
        _memoize_c_code()
        _memoize_upcast()


def _memoize_c_code():
    try:
        from pytensor.link.c.op import ExternalCOp
    except ImportError:  # a PyTensor without it: nothing to speed up
        return
    original = ExternalCOp.load_c_code
    parsed: dict = {}  # (class, files) -> (func_codes, code_sections)

    def load_c_code(self, func_files):
        files = tuple(func_files)
        key = (type(self), tuple(str(f) for f in files))
        fresh = not self.func_codes and not self.code_sections
        hit = parsed.get(key) if fresh else None
        if hit is not None:
            self.func_codes.extend(hit[0])
            self.code_sections.update(hit[1])
            return
        original(self, files)
        if fresh:
            parsed[key] = (list(self.func_codes), dict(self.code_sections))

    load_c_code.__doc__ = original.__doc__
    ExternalCOp.load_c_code = load_c_code


def _memoize_upcast():
    from pytensor import config
    from pytensor.scalar import basic

    original = basic.upcast
    known: dict = {}

    def upcast(dtype, *dtypes):
        key = (config.cast_policy, config.floatX, str(dtype), *map(str, dtypes))
        hit = known.get(key)
        if hit is None:
            hit = known[key] = original(dtype, *dtypes)
        return hit

    upcast.__doc__ = original.__doc__
    upcast.__wrapped__ = original
    basic.upcast = upcast  # ScalarType.upcast and upcast_out look it up here at each call
    import pytensor.scalar

    if pytensor.scalar.upcast is original:
        pytensor.scalar.upcast = upcast
