"""The supported-numpy table, generated from the lowering registry.

Example::

    >>> from pyautodiff.coverage import markdown_table
    >>> "numpy.exp" in markdown_table()
    True
"""
from __future__ import annotations

from itertools import groupby

from . import lowering  # noqa: F401  (fills the registry)
from .lowering.registry import table


def markdown_table() -> str:
    entries = table()
    lines = [f"{len(entries)} entries in the lowering registry.", "", "| group | supported |", "|---|---|"]
    for group, items in groupby(entries, key=lambda e: e.group):
        names = ", ".join(f"`{e.name}`" for e in items)
        lines.append(f"| {group} | {names} |")
    return "\n".join(lines)
