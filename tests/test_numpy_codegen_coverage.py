"""Every op the lowerings (and their derivatives) produce has a numpy rule.

An op without a rule in ``pyautodiff.backend.numpy_codegen`` silently falls
back to PyTensor's slow Python ``perform`` in the default mode and makes
``export_source`` refuse the function.  This test exports, for every case of
the lowering registry's table (``tests/test_registry.py``: each registry
entry called on arguments in its domain), the value and the gradient of the
case's loss.  ``export_source`` translates with ``fallback="error"``, so a
missing rule fails here with the op's name.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.backend import numpy_codegen
from pyautodiff.lowering import registry

from test_registry import CASES, _leaves, _loss, _weights

# Registry entries whose graphs keep an op without a numpy rule, and why.  The
# test expects these to fail (so an entry is removed once the rule exists).
_SCALAR_LOOP = ("its gradient is PyTensor's ScalarLoop (a per-element series or continued "
                "fraction run until convergence), which has no numpy rule yet: the default mode "
                "computes it with PyTensor's Python implementation")
KNOWN_WITHOUT_RULE: dict[str, str] = {
    "scipy.special.gammainc": _SCALAR_LOOP,
    "scipy.special.gammaincc": _SCALAR_LOOP,
    "scipy.special.betainc": _SCALAR_LOOP,
    # the distribution functions built on them (lowering/special_distributions.py): their
    # derivatives in the shape parameters are gammainc's / betainc's
    **{f"scipy.special.{name}": _SCALAR_LOOP
       for name in ("stdtr", "stdtrit", "chdtr", "chdtrc", "chdtri", "gammaincinv", "gammainccinv", "betaincc",
                    "betaincinv", "betainccinv", "_ufuncs._beta_ppf")},
}


def _transformation(c):
    if c.wrt:
        loss = _loss(c.fn, _weights(c.fn(*c.args)))
        return ad.value_and_grad(loss, wrt=c.wrt if len(c.wrt) > 1 else c.wrt[0])
    return ad.function(c.fn)


def _export(c):
    return ad.export_source(_transformation(c), *c.args)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_entry_exports_without_fallback(c):
    if c.entry in KNOWN_WITHOUT_RULE:
        with pytest.raises(ad.UnsupportedError, match="no numpy form"):
            _export(c)
        return
    g = _transformation(c)
    source = ad.export_source(g, *c.args)
    namespace: dict = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    exported = namespace[re.findall(r"^def (\w+)\(", source, re.M)[-1]]
    # the standalone code (helpers included) computes what the library computes
    for got, want in zip(_leaves(exported(*c.args)), _leaves(g(*c.args))):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_every_registry_entry_is_checked():
    # the same table test_registry keeps complete, so no entry escapes this check
    assert {e.name for e in registry.table()} <= {c.entry for c in CASES}


def test_known_exceptions_are_registry_entries():
    assert set(KNOWN_WITHOUT_RULE) <= {e.name for e in registry.table()}


def test_a_missing_rule_is_noticed(monkeypatch):
    """The check can fail: without the rule for ``CumOp`` the cumsum case does."""
    from pytensor.tensor.extra_ops import CumOp

    monkeypatch.delitem(numpy_codegen.OP_RULES, CumOp)
    case = next(c for c in CASES if c.entry == "numpy.cumsum")
    with pytest.raises(ad.AutodiffError, match="CumOp"):
        _export(case)


def test_rules_are_registered_on_import():
    """The decorators fill the tables where the rules are defined."""
    from pytensor.scalar.basic import Exp
    from pytensor.tensor.basic import Alloc

    assert numpy_codegen.lookup_rule(numpy_codegen.OP_RULES, Alloc()) is not None
    assert numpy_codegen.lookup_rule(numpy_codegen.SCALAR_RULES, Exp(None)) is not None
    assert numpy_codegen.registry.pytensor_class("pytensor.tensor.basic.NoSuchOp") is None
