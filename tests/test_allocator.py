"""glibc's thresholds (backend/allocator.py): a rolled loop's buffers reuse the heap's pages.

Each case runs in a fresh process: the thresholds are process-wide, set once.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

_FAULTS = """
import resource
import numpy as np
import pyautodiff as ad
from pyautodiff.backend import allocator

def f(x, w, n):
    for i in range(n):
        x = x + 0.01 * np.sin(x) * w[i % 16]
    return x.sum()

rng = np.random.default_rng(0)
args = (rng.normal(size=8), rng.normal(size=16), 10_000)
g = ad.grad(f, wrt=(0, 1), mode="numpy")
for _ in range(3):
    g(*args)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    g(*args)
print(allocator.tune_once(), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def _run(code, **env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYAUTODIFF_CODE_CACHE": "0", **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="the thresholds are glibc's")
def test_a_rolled_loops_buffers_are_not_faulted_in_at_every_call():
    # 10 000 steps: about 4 MiB of step buffers a call (about 1 000 pages); untuned, glibc
    # trimmed them off the heap after each call and the next one faulted them in again
    tuned, faults = _run(_FAULTS, PYAUTODIFF_MALLOC_TUNING="1")
    assert tuned == "True"
    assert float(faults) < 20


@pytest.mark.parametrize("env", [{"PYAUTODIFF_MALLOC_TUNING": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"}])
def test_the_users_choice_is_left_alone(env):
    code = "from pyautodiff.backend import allocator; print(allocator.tune_once())"
    assert _run(code, **env) == ["False"]
