"""glibc's thresholds for large blocks, fixed at the values glibc itself grows them to.

glibc's ``malloc`` serves a block larger than ``M_MMAP_THRESHOLD`` (128 KiB at start) with
a fresh ``mmap``, and gives the top of the heap back to the system when more than
``M_TRIM_THRESHOLD`` (128 KiB) is free there.  Each time a large mmapped block is freed it
raises both (up to 32 MiB and 64 MiB on 64-bit Linux), so how fast array code runs depends
on the process's history.  A rolled loop's gradient allocates its step buffers at every
call (3.5 MiB at 10 000 steps of ``x = x + 0.01*np.sin(x)*w[i % 16]``); where the heap
was trimmed after each call, the next one faulted the pages in again: 872 minor page
faults and 4.0 ms a call, against 0 faults and 2.55 ms in a process whose thresholds had
grown (Python 3.11, one BLAS thread, ``benchmarks/loops.py``).

``tune_once`` sets the two thresholds, at pyautodiff's first compile, to those maxima:
a state glibc reaches on its own in many numpy processes, chosen once instead of by
chance.  The cost is memory: up to 64 MiB freed at the top of the heap stays with the
process.  Nothing is changed off glibc, when the user chose the allocator's settings
(``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES``), or with
``PYAUTODIFF_MALLOC_TUNING=0``.

Example::

    allocator.tune_once()   # True if the thresholds were set now or before
"""
from __future__ import annotations

import os
import threading

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc sets beside a raised mmap threshold

_USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")
_lock = threading.Lock()
_state: list = []  # [result] once decided


def enabled() -> bool:
    """Whether pyautodiff may set glibc's thresholds in this process."""
    if os.environ.get("PYAUTODIFF_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if any(k in os.environ for k in _USER_SETTINGS) or "malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    return True


def tune_once() -> bool:
    """Set glibc's mmap and trim thresholds once per process (see the module's docstring);
    returns whether they are set."""
    if _state:
        return _state[0]
    with _lock:
        if not _state:
            _state.append(enabled() and _set_thresholds())
    return _state[0]


def _set_thresholds() -> bool:
    import ctypes

    try:  # "glibc 2.36" on glibc; musl and other systems have no such name
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
