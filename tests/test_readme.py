"""The README's promises: its test command is CI's, and its coverage table is generated."""
import os
import re

from pyautodiff.coverage import markdown_table, readme_section

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(ROOT, name)) as fh:
        return fh.read()


def test_coverage_table_in_readme_is_generated_from_the_registry():
    section = readme_section(read("README.md"))
    assert section == markdown_table().strip(), \
        "run: python -m pyautodiff coverage --update-readme README.md"


def test_ci_runs_the_readme_test_command():
    readme, ci = read("README.md"), read(".ci/run")
    command = re.search(r"TEST_COMMAND='([^']+)'", ci).group(1)
    assert command in readme
