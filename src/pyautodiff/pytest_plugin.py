"""pytest plugin: ``--autodiff-verify[=n]`` verifies every pyautodiff call of a test session.

Registered through the ``pytest11`` entry point, so installing pyautodiff is
enough.  ``--autodiff-verify`` checks every call, ``--autodiff-verify=n`` the
first and every n-th call of each transformed function (see ``ad.Verify``).

Example::

    python -m pytest --autodiff-verify=10
"""
from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # A bare --autodiff-verify must not swallow the next argument (a test path)
    # as its N: spell it --autodiff-verify=1 before pytest parses the line.
    for i, a in enumerate(args):
        if a == "--autodiff-verify":
            args[i] = "--autodiff-verify=1"


def pytest_addoption(parser):
    group = parser.getgroup("pyautodiff")
    group.addoption("--autodiff-verify", action="store", nargs="?", const="1", default=None,
                    metavar="N", help="verify pyautodiff values and derivatives on the first and every "
                                      "N-th call (default N=1: every call)")


def pytest_configure(config):
    setting = config.getoption("--autodiff-verify", default=None)
    if setting is not None:
        from pyautodiff import verify

        verify.set_default(setting)


def pytest_report_header(config):
    setting = config.getoption("--autodiff-verify", default=None)
    if setting is not None:
        return f"pyautodiff: verifying values and derivatives (every {setting} call(s))"
