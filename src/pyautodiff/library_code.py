"""Which code is "library" code: called for real unless it receives a traced value.

A function from one of these top-level packages (the standard library, numpy,
scipy, PyTensor, pyautodiff itself) is run natively when its arguments hold no
traced value; everything else (the user's code) is emulated, and its reads of
outside state are recorded.

Example::

    is_library(np.sum)      # True: run for real unless given a traced value
    is_library(my_loss)     # False: the user's code, always emulated
"""
from __future__ import annotations

import sys

LIBRARY_ROOTS = frozenset(sys.stdlib_module_names) | {"numpy", "scipy", "pytensor", "pyautodiff"}


def is_library(func) -> bool:
    """True if ``func`` (or a class, or any object with ``__module__``) comes from a library."""
    module = getattr(func, "__module__", None) or ""
    return module.partition(".")[0] in LIBRARY_ROOTS
