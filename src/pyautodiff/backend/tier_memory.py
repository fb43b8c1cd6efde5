"""Which tier won for a graph, remembered across processes: a warm process compiles Numba at once.

The default mode serves numpy code first and compiles Numba only after
``tiered.UPGRADE_AFTER_SECONDS`` of computing, so a script of a few seconds never
gets the fused loops that make memory-bound gradients 2x faster.  Once a process
has compiled Numba for a graph and measured it faster, that outcome is written
here; the next process that builds the same graph (same fingerprint as the code
cache's: ops, types, constants, versions) starts the Numba compile in the
background at its first call, and Numba's own on-disk cache makes that compile a
fraction of a second.  The new build is still timed against the numpy code before
it is installed, so a stale or planted note costs a background compile, never a
slower or different result: a note is a hint, read as words, never executed.  A
Numba note also names the build that won (its function name and Numba cache key),
so the next process loads it from Numba's cache without tracing or rewriting
(``numba_reload``); that build is compared with the numpy code before it serves.

Notes live in ``<code cache>/tiers/<key>`` (the code cache's directory, so off
when it is off); at most ``MAX_NOTES``, the oldest removed beyond that.  A graph whose
numpy code the code cache keeps is named ``code-<key of that code>`` (``code_note_key``:
the code cache fingerprinted the graph already, and it is all a specialization served
by the trace cache knows); any other by its own fingerprint (``note_key``).
``PYAUTODIFF_TIER_NOTES=0`` turns them off (the test suite does: a note left by one
test run would change the schedule another run's tests expect).

Example::

    key = code_note_key(fn.code_key) or note_key(inputs, outputs)
    if recall(key) == "numba":
        ...                     # compile the second tier now
    remember(key, "numba", numba_reload.build_of(fn))   # after it was measured faster
    recall_build(key)           # -> (name, Numba cache key): numba_reload.load skips the graph
"""
from __future__ import annotations

import os
import tempfile

from . import cache_dir, code_cache

SUBDIR = "tiers"
MAX_NOTES = 2000
TIERS = ("numba", "numpy")


def note_key(inputs, outputs) -> str | None:
    """The note's name for this graph (None: the graph cannot be fingerprinted)."""
    return code_cache.fingerprint(inputs, outputs, extra="tier note")


def code_note_key(code_key: str | None) -> str | None:
    """The note's name under the key of a graph's generated numpy code (``code_cache``): what a
    process served by the trace cache knows of the graph (its code, not the graph itself)."""
    return None if code_key is None else f"code-{code_key}"


def enabled() -> bool:
    return os.environ.get("PYAUTODIFF_TIER_NOTES", "1").strip().lower() not in ("0", "false", "no", "off")


def _folder() -> str | None:
    where = cache_dir.directory() if enabled() else None
    if where is None:
        return None
    folder = os.path.join(where, SUBDIR)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder


def _read(key: str | None) -> list[str]:
    folder = _folder() if key else None
    if folder is None:
        return []
    try:
        with open(os.path.join(folder, key), encoding="ascii") as f:
            return f.read(512).split()
    except (OSError, ValueError):
        return []


def recall(key: str | None) -> str | None:
    """The tier that won for this graph before, or None (no note, unreadable, not a tier)."""
    words = _read(key)
    return words[0] if words and words[0] in TIERS else None


def recall_build(key: str | None) -> tuple[str, str] | None:
    """The (function name, Numba cache key) of the Numba build that won for this graph
    (``numba_reload``), or None: two words, checked by the loader, never executed."""
    words = _read(key)
    return (words[1], words[2]) if len(words) == 3 and words[0] == "numba" else None


def remember(key: str | None, tier: str, build: tuple[str, str] | None = None) -> None:
    """Note that ``tier`` won for this graph (atomically; errors are ignored: a hint), and for
    Numba the name and cache key of its build, if it has them (``numba_reload.build_of``)."""
    folder = _folder() if key else None
    if folder is None or tier not in TIERS:
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".note-")
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(tier if build is None or tier != "numba" else f"{tier}\n{build[0]} {build[1]}\n")
        os.replace(tmp, os.path.join(folder, key))
        _prune(folder)
    except OSError:
        pass


def _prune(folder: str) -> None:
    names = [n for n in os.listdir(folder) if not n.startswith(".")]
    if len(names) <= MAX_NOTES:
        return
    paths = sorted((os.path.join(folder, n) for n in names), key=os.path.getmtime)
    for path in paths[:len(paths) - MAX_NOTES // 2]:
        try:
            os.remove(path)
        except OSError:
            pass
