"""A cached call raises what CPython raises on Python-float arithmetic (issue 19):
the trace guards the condition, a call that breaks it traces again, and the
trace raises CPython's own exception."""
import math

import numpy as np
import pytest

import pyautodiff as ad


def _cpython(f, *args):
    """The exception type CPython raises for f(*args), or None."""
    try:
        f(*args)
    except Exception as exc:  # noqa: BLE001
        return type(exc)
    return None


CASES = [
    ("truediv", lambda x: 1.0 / x + x, 2.0, 0.0),
    ("rtruediv by traced", lambda x: x / (x - 1.0), 2.0, 1.0),
    ("floordiv", lambda x: 7.0 // x + x, 2.0, 0.0),
    ("mod", lambda x: 7.5 % x + x, 2.0, 0.0),
    ("pow overflow", lambda x: x ** 1000.0, 1.5, 10.0),
    ("pow traced exponent", lambda x: 10.0 ** x, 2.0, 400.0),
    ("zero to a negative power", lambda x: x ** -1.5, 2.0, 0.0),
    ("inplace div", lambda x: _idiv(x), 2.0, 0.0),
    ("math.exp", lambda x: math.exp(x), 1.0, 1000.0),
]


def _idiv(x):
    y = 3.0
    y /= x
    return y


@pytest.mark.parametrize("name,f,good,bad", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("kind", ["function", "grad"])
def test_cached_call_raises_what_cpython_raises(name, f, good, bad, kind):
    expected = _cpython(f, bad)
    assert expected is not None  # the case is one where CPython raises
    g = getattr(ad, kind)(f)
    g(good)  # traced and cached at a good point
    with pytest.raises(expected):
        g(bad)
    if kind == "function":  # the good point still gives CPython's value
        assert g(good) == pytest.approx(f(good), rel=1e-12)


def test_good_values_keep_using_the_cache():
    g = ad.function(lambda x: 1.0 / x)
    g(2.0)
    for x in (3.0, -1.0, 1e-300):
        assert g(x) == 1.0 / x
    assert g.stats.traces == 1


def test_numpy_scalars_keep_numpy_semantics():
    g = ad.function(lambda x: 1.0 / x)
    assert g(np.float64(2.0)) == 0.5
    with np.errstate(divide="ignore"):
        assert g(np.float64(0.0)) == np.inf  # numpy's answer, as CPython gives for numpy scalars
