"""The README's promises: its test command is CI's, and its coverage table is generated."""
import os
import re
import textwrap

from pyautodiff.coverage import markdown_table, readme_section

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(ROOT, name)) as fh:
        return fh.read()


def _resolves(dotted: str) -> bool:
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def _without_absent(section: str) -> str:
    """The README's table is generated with the newest scipy; an older one (CI's minimum)
    lacks a few private functions, which the registry then does not list either."""
    absent = [n for n in set(re.findall(r"`(scipy\.[\w.]+)`", section)) if not _resolves(n)]
    for name in absent:
        section = section.replace(f"`{name}`, ", "").replace(f", `{name}`", "")
    if absent:
        section = re.sub(r"(\d+) entries", lambda m: f"{int(m.group(1)) - len(absent)} entries", section, count=1)
    return section


def test_coverage_table_in_readme_is_generated_from_the_registry():
    section = _without_absent(readme_section(read("README.md")))
    assert section == markdown_table().strip(), \
        "run: python -m pyautodiff coverage --update-readme README.md"


def test_ci_runs_the_readme_test_command():
    readme, ci = read("README.md"), read(".ci/run")
    command = re.search(r"TEST_COMMAND='([^']+)'", ci).group(1)
    assert command in readme


def _python_blocks(text):
    # a snippet inside a list item is indented as a whole
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", text, re.S)]


def test_readme_snippets_run_as_shown(capsys):
    """Every complete snippet (one that imports pyautodiff) runs in a fresh namespace; the
    others continue one, and the export listing is output (below)."""
    blocks = [b for b in _python_blocks(read("README.md")) if "import pyautodiff" in b]
    assert len(blocks) >= 2 and _python_blocks(read("README.md"))[0] in blocks
    for block in blocks:
        exec(compile(block, "<README.md>", "exec"), {})


def test_readme_export_listing_is_what_export_writes():
    import numpy as np
    import pytensor

    import pyautodiff as ad

    text = read("README.md")
    first = _python_blocks(text)[0]
    namespace: dict = {}
    exec(compile(first, "<README.md>", "exec"), namespace)  # defines nll and the data
    source = ad.export_source(ad.grad(namespace["nll"], wrt=("W", "b")),
                              *(namespace[k] for k in ("W", "b", "X", "y")))
    listing = next(b for b in _python_blocks(text) if b.startswith("def grad_nll"))
    body = source[source.index("def grad_nll"):].splitlines()
    got = [ln for ln in body if not ln.strip().startswith(("if np.shape(", 'raise ValueError(f"'))]
    got = [re.sub(r"raise ValueError\('.*'\)$", "raise ValueError(...)", ln) for ln in got]
    want = [re.sub(r"\)  # names the guard.*$", ")", ln) for ln in listing.strip().splitlines()
            if ln.strip() != "...  # shape checks"]
    assert np.asarray(namespace["X"]).shape == (1000, 100)
    if pytensor.__version__.startswith("3.3."):  # the version the README's listing was made with
        assert got == want, "update the README's export listing:\n" + "\n".join(got)
    else:  # other PyTensor versions order the same terms differently; the README's claims hold
        assert sum("np.exp(" in ln for ln in got) == 1
        assert got[-1].strip() == "return (grad_W, grad_b)" and any("path_ok" in ln for ln in got)
