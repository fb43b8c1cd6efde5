"""Opcode coverage as a number: every opcode of this CPython is handled, aliased or refused.

``vm.code.emulated_opnames()`` is this CPython's ``dis.opmap`` minus the
specialized and instrumented opcodes; each must have an ``op_<NAME>`` method
on the interpreter, an entry in ``vm.code.ALIASES``, or a reason in
``vm.code.REFUSED``.  Runs on every CI Python (3.11, 3.12, 3.13).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.vm import code as vmcode
from pyautodiff.vm.interpreter import Interpreter


def _status(name):
    if hasattr(Interpreter, "op_" + name):
        return "handled"
    if name in vmcode.ALIASES:
        return "aliased"
    if name in vmcode.REFUSED:
        return "refused"
    return "missing"


def test_every_opcode_is_handled_aliased_or_refused():
    names = vmcode.emulated_opnames()
    status = {n: _status(n) for n in names}
    missing = sorted(n for n, s in status.items() if s == "missing")
    assert not missing, f"CPython {sys.version_info[:2]}: opcodes with neither handler nor reason: {missing}"
    counts = {s: sum(v == s for v in status.values()) for s in ("handled", "aliased", "refused")}
    # the number: most of the instruction set is emulated
    assert counts["handled"] + counts["aliased"] >= 0.75 * len(names), counts


def test_refusals_are_not_also_handled():
    both = sorted(n for n in vmcode.REFUSED if hasattr(Interpreter, "op_" + n) or n in vmcode.ALIASES)
    assert not both, both
    assert all(isinstance(r, str) and len(r) > 10 for r in vmcode.REFUSED.values())


def test_aliases_lead_to_handlers():
    for name, target in vmcode.ALIASES.items():
        assert hasattr(Interpreter, "op_" + target), (name, target)


def test_specialized_opcodes_are_excluded():
    names = set(vmcode.emulated_opnames())
    assert "BINARY_OP" in names and not any(n.startswith("INSTRUMENTED_") for n in names)
    assert "BINARY_OP_ADD_FLOAT" not in names or sys.version_info < (3, 12)


def test_a_refused_opcode_names_its_reason():
    def f(x):
        y = np.sum(x ** 2)
        try:
            raise ExceptionGroup("several", [ValueError("bad")])
        except* ValueError:
            y = y + 1.0
        return y

    assert f(np.ones(2)) == 3.0  # plain CPython
    with pytest.raises(ad.UnsupportedError, match=r"CHECK_EG_MATCH.*except\* \(exception groups\)"):
        ad.grad(f)(np.ones(2))


def test_operand_constants_agree_with_dis():
    import dis

    # BINARY_OP operands of % and %=, from dis's own table
    assert vmcode.REMAINDER_OPS == {i for i, (_, sym) in enumerate(dis._nb_ops) if sym in ("%", "%=")}

    def f(a, b):
        return a + b

    pairs = [ins for ins in dis.get_instructions(f) if ins.opname == "LOAD_FAST_LOAD_FAST"]
    for ins in pairs:  # 3.13+: both names decoded from one operand
        i, j = vmcode.local_pair(ins.arg)
        assert (f.__code__.co_varnames[i], f.__code__.co_varnames[j]) == ins.argval
    assert bool(pairs) == (sys.version_info >= (3, 13))
