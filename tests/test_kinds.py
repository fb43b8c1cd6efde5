"""The table of transformation kinds (transforms.KINDS) drives every kind-specific step.

For each kind: the call returns the structure its row describes (checked
against hand-written derivatives of a small function), export_source writes
code computing the same result, and verification checks its claim.  A
static check keeps string comparisons of kind names out of the library.
"""
from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.transforms import BUILDERS, KINDS


def f(x, y):
    return np.sum(np.sin(x) * y[0]) + y[1] ** 2


X, Y = np.array([0.3, -1.2]), np.array([0.7, 1.5])


def _hessian():
    # f = sum(sin(x)) * y0 + y1^2
    hxx = np.diag(-np.sin(X) * Y[0])
    hxy = np.zeros((2, 2))
    hxy[:, 0] = np.cos(X)
    hyy = np.array([[0.0, 0.0], [0.0, 2.0]])
    return ((hxx, hxy), (hxy.T, hyy))


GX = np.cos(X) * Y[0]
GY = np.array([np.sum(np.sin(X)), 2 * Y[1]])
VALUE = np.sum(np.sin(X)) * Y[0] + Y[1] ** 2
V = (np.array([1.0, -2.0]), np.array([0.5, 3.0]))

# kind -> (extra call arguments, expected result), all with wrt=(0, 1)
EXPECTED = {
    "function": ((), VALUE),
    "grad": ((), (GX, GY)),
    "value_and_grad": ((), (VALUE, (GX, GY))),
    "hessian": ((), _hessian()),
    "jacobian": ((), ((GX, GY),)),
    "hvp": ((V,), tuple(row[0] @ V[0] + row[1] @ V[1] for row in _hessian())),
    "jvp": ((V,), (VALUE, GX @ V[0] + GY @ V[1])),
    "vjp": ((2.0,), (VALUE, (2 * GX, 2 * GY))),
}


def _close(got, want):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            _close(g, w)
    else:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


def test_every_public_transformation_has_a_row():
    assert set(KINDS) == set(EXPECTED)
    assert {k: getattr(ad, k).__name__ for k in KINDS} == {k: k for k in KINDS}
    assert BUILDERS == {k: row.build for k, row in KINDS.items()}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_result_export_and_verification_follow_the_row(kind):
    extra, want = EXPECTED[kind]
    wrt = (0, 1) if KINDS[kind].differentiates else 0
    g = getattr(ad, kind)(f, wrt=wrt, verify=True)  # every call verified: raises if the claim is off
    _close(g(X, Y, *extra), want)
    source = ad.export_source(g, X, Y, *extra)
    namespace: dict = {}
    exec(source, namespace)
    name = re.findall(r"^def (\w+)\(", source, re.M)[-1]
    assert name == KINDS[kind].function_name("f")
    _close(namespace[name](X, Y, *extra), want)
    if KINDS[kind].direction:
        assert f", {KINDS[kind].direction_param}):" in source


def test_no_kind_name_chains_outside_the_table():
    root = pathlib.Path(ad.__file__).parent
    pattern = re.compile(r"""kind\s*(==|!=|in)\s*[({]?\s*["'](%s)["']""" % "|".join(KINDS))
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.name != "transforms.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
