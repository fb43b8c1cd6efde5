"""Test-session settings.

Background Numba compiles of the tiered default mode would compete with the
tests for CI's two cores; tests/test_tiered.py turns tiering on explicitly.
"""
import os

os.environ.setdefault("PYAUTODIFF_TIERED", "0")
# notes of which tier won (backend.tier_memory) would carry one run's outcomes into the next
os.environ.setdefault("PYAUTODIFF_TIER_NOTES", "0")
# The trace cache would serve a function traced by an earlier test (or an earlier run, from
# the user's cache directory) without tracing, and tests count traces and expect the warnings
# tracing shows; tests/test_trace_cache.py turns it on explicitly (in subprocesses).
os.environ.setdefault("PYAUTODIFF_TRACE_CACHE", "0")
