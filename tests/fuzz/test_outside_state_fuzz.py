"""Differential fuzz of outside state: programs that read and write globals, containers
and attributes, with the state changed between calls, against CPython.

A program is a module with outside state (a float, a tuple, a list, a dict holding a
float and an array, an object with a float and an array attribute, an output list) and a
function ``f(x)`` built from drawn statements that read that state and write to it.  The
same source is imported twice: one copy is run by ``ad.function`` (and ``ad.grad``), the
other by CPython.  Between calls the same drawn mutation (rebinding, item assignment,
append, in-place array writes, replacing the object) is applied to both copies; every
call's result and the written state (an attribute, a dict item, the output list) must
agree.
"""
from __future__ import annotations

import importlib.util
import itertools
import os
import tempfile

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import pyautodiff as ad

PRELUDE = """\
import numpy as np

G_F = 1.5
G_T = (2.0, -0.5)
G_L = [0.25, 1.0]
G_D = {"a": 3.0, "b": np.array([1.0, 2.0, 3.0])}
OUT = []


class Obj:
    def __init__(self, w):
        self.w = w
        self.arr = np.array([0.5, -1.0, 2.0])

    def scaled(self, x):
        return self.w * x


O = Obj(0.75)
"""

READS = [
    "acc = acc + G_F * x",
    "acc = acc + G_T[0] * x - G_T[1]",
    "acc = acc + len(G_L) * x",
    "for v in G_L:\n        acc = acc + v * x",
    "acc = acc + G_D['a'] * x",
    "acc = acc + np.sum(G_D['b']) * x",
    "acc = acc + O.w * x",
    "acc = acc + np.sum(O.arr) * x",
    "acc = acc + O.scaled(x)",
    "if G_D['a'] > 2.0:\n        acc = acc * 2.0",
]
WRITES = [
    "O.last = acc * 2.0",
    "G_D['out'] = acc + 1.0",
    "OUT.append(acc)",
    "O.arr_seen = O.arr * x",
]
MUTATIONS = [
    "G_F = G_F + 1.0",
    "G_T = (G_T[0] - 1.0, 4.0)",
    "G_L.append(0.5)",
    "G_L[0] = G_L[0] + 2.0",
    "G_D['a'] = G_D['a'] - 2.5",
    "G_D['b'] = G_D['b'] * 2.0",
    "G_D['b'][1] = 7.0",
    "O.w = O.w + 1.0",
    "O.arr[0] = -3.0",
    "O = Obj(O.w * -1.0)",
    "Obj.scaled = lambda self, x: self.w * x * x",
    "pass",
]

_COUNTER = itertools.count()
_DIR = tempfile.mkdtemp(prefix="pyad_outside_fuzz_")


def _load(source, name):
    path = os.path.join(_DIR, f"{name}.py")
    with open(path, "w") as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source(reads, writes):
    body = "\n    ".join(["acc = 0.0 * x", *reads, *writes, "return acc"])
    return PRELUDE + f"\n\ndef f(x):\n    {body}\n"


def _state(m):
    return (getattr(m.O, "last", None), getattr(m.O, "arr_seen", None), m.G_D.get("out"), list(m.OUT))


def _same(a, b, rtol=1e-12):
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, rtol) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    return np.shape(a) == np.shape(b) and np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                                      rtol=rtol, atol=rtol)


program = st.tuples(
    st.lists(st.sampled_from(READS), min_size=1, max_size=4, unique=True),
    st.lists(st.sampled_from(WRITES), max_size=2, unique=True),
    st.lists(st.tuples(st.sampled_from(MUTATIONS), st.floats(-2.0, 2.0)), min_size=2, max_size=4),
)


@settings(max_examples=int(os.environ.get("PYAUTODIFF_OUTSIDE_FUZZ_EXAMPLES", "40")), deadline=None,
          derandomize=True, database=None)
@given(program, st.sampled_from(["function", "grad"]))
def test_outside_state_against_cpython(prog, kind):
    reads, writes, steps = prog
    source = _source(reads, writes)
    n = next(_COUNTER)
    ours, theirs = _load(source, f"outside_ours_{n}"), _load(source, f"outside_cpython_{n}")
    g = getattr(ad, kind)(ours.f)
    x0 = 0.8
    for mutation, x in [("pass", x0), *steps]:
        exec(mutation, ours.__dict__)
        exec(mutation, theirs.__dict__)
        got = g(x)
        if kind == "function":
            expected = theirs.f(x)
        else:  # the derivative of f at x, by central differences of CPython's f, on a copy of
            # the state so that the writes happen exactly once, as in our call
            expected = _central_difference(theirs, source, x)
            theirs.f(x)
        assert _same(got, expected, 1e-12 if kind == "function" else 1e-6), f"{kind} after {mutation!r}: {got} != {expected}\n{source}"
        assert _same(_state(ours), _state(theirs)), f"state after {mutation!r}\n{source}"


def _central_difference(module, source, x, h=1e-6):
    # f is affine in x along each branch of these programs, except x * x from a replaced
    # method: a central difference is exact up to rounding for both
    def value(at):
        saved = _snapshot(module)
        try:
            return module.f(at)
        finally:
            _restore(module, saved)

    return (value(x + h) - value(x - h)) / (2 * h)


def _snapshot(m):
    o = m.O
    return (dict(o.__dict__), {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in m.G_D.items()},
            list(m.OUT), list(m.G_L))


def _restore(m, saved):
    attrs, d, out, lst = saved
    m.O.__dict__.clear()
    m.O.__dict__.update(attrs)
    m.G_D.clear()
    m.G_D.update(d)
    m.OUT[:] = out
    m.G_L[:] = lst
