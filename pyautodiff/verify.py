"""Verification policy (placeholder until the verification issue lands)."""
from __future__ import annotations


def resolve_policy(verify):
    return None
