"""Test-session settings.

Background Numba compiles of the tiered default mode would compete with the
tests for CI's two cores; tests/test_tiered.py turns tiering on explicitly.
"""
import os

os.environ.setdefault("PYAUTODIFF_TIERED", "0")
# notes of which tier won (backend.tier_memory) would carry one run's outcomes into the next
os.environ.setdefault("PYAUTODIFF_TIER_NOTES", "0")
