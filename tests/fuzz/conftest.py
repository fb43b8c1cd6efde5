"""Hypothesis profiles of the differential fuzz suite.

- ``ci`` (used by these tests unless another profile is selected): a few hundred
  programs in total, reproducible (``derandomize``), no example database.
- ``long``: thousands of programs, random seeds; run by hand::

      python -m pytest tests/fuzz --hypothesis-profile=long

  (give the tests/fuzz path: this conftest registers the profile before hypothesis loads
  it; from the repository root use PYAUTODIFF_FUZZ_PROFILE=long instead).

Known library bugs the fuzzer found are kept out of the grammar (programs.KNOWN_BUGS);
PYAUTODIFF_FUZZ_KNOWN_BUGS=1 (or a comma-separated list of their names) puts them back.

Every test here runs twice, without and with the default mode's tiers (``tiers``).

The profile applies only to the tests of this directory (through their own
``@settings``), not to the rest of the test suite.  At the end of a run the number
of programs each test checked is printed.
"""
import os

import pytest
from hypothesis import HealthCheck, Phase, settings

import programs

_COMMON = dict(
    deadline=None,
    database=None,
    print_blob=True,
    # no "explain" phase: it traces every line run by PyTensor's rewrites, which made
    # reporting one failure take tens of minutes and gigabytes
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
)

# max_examples is the count of the values test; the others run a fraction of it
settings.register_profile("ci", max_examples=160, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=2500, **_COMMON)


def pytest_terminal_summary(terminalreporter):
    if programs.STATS:
        terminalreporter.section("pyautodiff fuzz")
        for key, n in sorted(programs.STATS.items()):
            terminalreporter.write_line(f"{key}: {n}")
        if programs.FEATURES:
            feats = ", ".join(f"{k} {n}" for k, n in sorted(programs.FEATURES.items()))
            terminalreporter.write_line(f"constructs generated: {feats}")


@pytest.fixture(autouse=True, scope="module", params=["numpy-code", "default-tiers"])
def tiers(request):
    """Each fuzz module runs twice: on the numpy code alone, as the rest of the suite runs
    (tests/conftest.py), and in the default mode's tiers (``PYAUTODIFF_TIERED=1``), which
    every user gets: a loop's or a large graph's light first tier, its full rewrite in a
    background thread, the Numba upgrade.  The light tier once kept a node whose generated
    code failed, and a background rewrite hid the caller's warnings; neither showed in a
    suite that ran without tiers."""
    old = os.environ.get("PYAUTODIFF_TIERED")
    os.environ["PYAUTODIFF_TIERED"] = "1" if request.param == "default-tiers" else "0"
    yield request.param
    if old is None:
        os.environ.pop("PYAUTODIFF_TIERED", None)
    else:
        os.environ["PYAUTODIFF_TIERED"] = old
