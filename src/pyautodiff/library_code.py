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

import os
import site
import sys
import sysconfig

LIBRARY_ROOTS = frozenset(sys.stdlib_module_names) | {"numpy", "scipy", "pytensor", "pyautodiff"}


def is_library(func) -> bool:
    """True if ``func`` (or a class, or any object with ``__module__``) comes from a library."""
    module = getattr(func, "__module__", None) or ""
    return module.partition(".")[0] in LIBRARY_ROOTS


def _site_dirs() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    try:
        paths.update(site.getsitepackages())
    except AttributeError:  # a virtualenv's old site.py
        pass
    return tuple(os.path.join(p, "") for p in paths if p)


_SITE_DIRS = _site_dirs()


def is_installed_package(func) -> bool:
    """True for code of an installed third-party package (scikit-learn, statsmodels): emulated
    like the user's code, but named in errors as the function the user called.

    Example::

        is_installed_package(sklearn.metrics.log_loss)   # True
        is_installed_package(my_loss)                    # False (not under site-packages)
    """
    code = getattr(func, "__code__", None)
    if code is None or is_library(func):
        return False
    return code.co_filename.startswith(_SITE_DIRS)
