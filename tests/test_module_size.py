"""House rule: no library module over 800 lines (new work goes in new modules)."""
from __future__ import annotations

import pathlib

import pyautodiff

ROOT = pathlib.Path(pyautodiff.__file__).parent
LIMIT = 800


def test_no_library_module_is_over_800_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in ROOT.rglob("*.py")}
    assert sizes, "no modules found"
    over = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not over, f"modules over {LIMIT} lines (split them by concept): {over}"
