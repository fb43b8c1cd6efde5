"""The exception being handled (what a bare ``raise`` re-raises) is per generator,
as CPython's ``gi_exc_state``: the interpreter keeps its own state and each
emulated generator brings its own while it runs (vm/generator.py, vm/frame.ExcState).

Expected values come from CPython itself (the same function run natively) and
from hand-written derivatives.
"""
from __future__ import annotations

import numpy as np

import pyautodiff as ad

from helpers import assert_close

X = np.array([0.5, -1.25, 2.0])


def _suspended_in_handler(v):
    try:
        raise KeyError("the generator's")
    except KeyError:
        yield v * 2.0  # suspended inside its except block
        yield v * 3.0


def caller_reraises_its_own(v):
    g = _suspended_in_handler(v)
    try:
        raise ValueError("the caller's")
    except ValueError:
        a = next(g)
        try:
            raise  # the caller's ValueError: the generator's KeyError is not visible here
        except ValueError:
            a = a + 1.0
        except KeyError:
            a = a * 100.0
    return np.sum(a)


def _reraises_after_resume(v):
    try:
        raise KeyError("the generator's")
    except KeyError:
        yield v
        raise  # resumed from the caller's except block: still the generator's KeyError


def generator_reraises_its_own(v):
    g = _reraises_after_resume(v)
    out = next(g)
    try:
        raise ValueError("the caller's")
    except ValueError:
        try:
            next(g)
        except KeyError:
            out = out * 2.0
        except ValueError:
            out = out * 5.0
    return np.sum(out)


def _handles_nothing(v):
    yield v
    raise  # no exception of its own: CPython looks through to the caller's


def generator_sees_the_callers(v):
    g = _handles_nothing(v)
    out = next(g)
    try:
        raise KeyError("the caller's")
    except KeyError:
        try:
            next(g)
        except KeyError:
            out = out * 4.0
    return np.sum(out)


def test_a_generator_suspended_in_an_except_block_does_not_leak_its_exception():
    assert_close(ad.function(caller_reraises_its_own)(X), caller_reraises_its_own(X), rtol=1e-15)
    assert_close(ad.grad(caller_reraises_its_own)(X), np.full(3, 2.0), rtol=1e-15)  # d sum(2v + 1)


def test_a_resumed_generator_reraises_its_own_exception():
    assert_close(ad.function(generator_reraises_its_own)(X), generator_reraises_its_own(X), rtol=1e-15)
    assert_close(ad.grad(generator_reraises_its_own)(X), np.full(3, 2.0), rtol=1e-15)  # d sum(2v)


def test_a_generator_handling_nothing_reraises_the_callers_exception():
    assert_close(ad.function(generator_sees_the_callers)(X), generator_sees_the_callers(X), rtol=1e-15)
    assert_close(ad.grad(generator_sees_the_callers)(X), np.full(3, 4.0), rtol=1e-15)  # d sum(4v)
