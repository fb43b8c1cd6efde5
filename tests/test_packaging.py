"""Packaging: one source of metadata (pyproject.toml), minimums CI really tests, a LICENSE."""
from __future__ import annotations

import os
import re
import tomllib

import pyautodiff

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name):
    with open(os.path.join(ROOT, name)) as fh:
        return fh.read()


PROJECT = tomllib.loads(_read("pyproject.toml"))["project"]


def test_one_source_of_metadata():
    assert not os.path.exists(os.path.join(ROOT, "setup.cfg"))
    assert PROJECT["license"] == "BSD-3-Clause"
    assert "BSD 3-Clause License" in _read("LICENSE") and "the pyautodiff developers" in _read("LICENSE")
    assert PROJECT["scripts"]["pyautodiff"] == "pyautodiff.__main__:main"
    assert re.fullmatch(r"\d+\.\d+\.\d+", pyautodiff.__version__)  # the dynamic version


def test_ci_installs_exactly_the_minimum_versions():
    minimums = dict(re.findall(r"([a-z]+)>=([\d.]+)", " ".join(PROJECT["dependencies"])))
    pinned = re.search(r'MINIMUMS="([^"]+)"', _read(".ci/run")).group(1).split()
    pinned = dict(p.split("==") for p in pinned)
    assert set(pinned) == set(minimums)
    for name, version in pinned.items():  # 2.2.0 pins the bound 2.2
        assert version == minimums[name] or version.startswith(minimums[name] + "."), (name, version)


def test_pytensor_has_an_upper_bound_below_an_untested_minor():
    (spec,) = [d for d in PROJECT["dependencies"] if d.startswith("pytensor")]
    assert re.search(r"<\d+\.\d+", spec), spec


def test_extras():
    extras = PROJECT["optional-dependencies"]
    assert {"test", "notebooks", "jax", "bench", "dask"} <= set(extras)
    assert "pyautodiff[notebooks]" in extras["test"]  # tests/test_notebooks.py runs them
