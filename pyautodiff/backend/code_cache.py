"""An on-disk cache of generated numpy code, keyed by a fingerprint of the graph.

PyTensor's rewrites take most of a first call's time (about 0.1 s for the
log-linear gradient); their result, the numpy source the code generator
writes, depends only on the graph handed to them and on the versions of the
code involved.  A new process that traces the same function on arguments of
the same structure builds the same graph, so it can skip rewriting and code
generation and ``exec`` the stored source.

The fingerprint is a SHA-256 over a canonical text of the graph: per node in
topological order, the op's class and its ``__props__`` (what PyTensor itself
compares ops by), its inputs by position, and every variable's type and name
(names become the generated code's identifiers); constants by the digest of
their bytes.  An op whose state cannot be written down exactly (no
``__props__``, a value of unknown kind) makes the graph uncacheable rather
than risking a collision.  The key also holds the versions of Python, numpy,
PyTensor and a digest of this package's backend sources, so an upgrade or an
edit never serves stale code.

Entries live in ``<PyTensor compiledir>/pyautodiff-code/`` (one pickle per
graph: the source and the arrays it needs); ``PYAUTODIFF_CODE_CACHE`` names
another directory, or ``0`` turns the cache off.

Example::

    key = fingerprint(inputs, outputs, extra="numpy")
    hit = load(key)           # (source, namespace) or None
    if hit is None:
        store(key, source, namespace)
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import os
import pickle
import sys
import tempfile
import types
from collections.abc import Mapping

import numpy as np

_DISABLED = ("0", "off", "false", "no")
MAX_CONSTANT_BYTES = 16 * 2**20


def directory() -> str | None:
    """Where entries live, or None when the cache is off."""
    env = os.environ.get("PYAUTODIFF_CODE_CACHE", "").strip()
    if env.lower() in _DISABLED:
        return None
    if env:
        return env
    import pytensor

    return os.path.join(pytensor.config.compiledir, "pyautodiff-code")


# -- the fingerprint ------------------------------------------------------------------------

class _Uncacheable(Exception):
    """A value in the graph that has no exact, stable text."""


def fingerprint(inputs, outputs, extra: str = "") -> str | None:
    """A stable digest of the graph ``inputs -> outputs`` (None: not cacheable)."""
    from pytensor.graph.basic import Constant

    try:
        from pytensor.graph.traversal import io_toposort
    except ImportError:  # PyTensor before 3.1
        from pytensor.graph.basic import io_toposort

    ids: dict = {}
    lines = [_environment(), extra]
    for v in inputs:
        ids[v] = len(ids)
        lines.append(f"in {_type_text(v)}")
    try:
        for node in io_toposort(inputs, outputs):
            args = []
            for v in node.inputs:
                if v not in ids:
                    if not isinstance(v, Constant):
                        return None  # a free variable: not a function of the inputs
                    ids[v] = len(ids)
                    lines.append(f"const {_type_text(v)} {_stable(v.data)}")
                args.append(str(ids[v]))
            for v in node.outputs:
                ids[v] = len(ids)
            lines.append(f"{_op_text(node.op)}({','.join(args)}) -> "
                         + ";".join(_type_text(v) for v in node.outputs))
        outs = []
        for v in outputs:
            if v not in ids:
                if not isinstance(v, Constant):
                    return None
                ids[v] = len(ids)
                lines.append(f"const {_type_text(v)} {_stable(v.data)}")
            outs.append(str(ids[v]))
    except _Uncacheable:
        return None
    lines.append("out " + ",".join(outs))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _type_text(v) -> str:
    return f"{type(v.type).__qualname__}:{v.type}:{v.name!r}"


def _op_text(op) -> str:
    cls = type(op)
    props = getattr(cls, "__props__", None)
    if props is None:
        return _inner_graph_text(op)
    return f"{cls.__module__}.{cls.__qualname__}{{" + ",".join(
        f"{p}={_stable(getattr(op, p))}" for p in props) + "}"


def _inner_graph_text(op) -> str:
    """An OpFromGraph (e.g. max/min with tie-splitting gradients) computes its inner
    graph; how it was differentiated is already spelled out in the outer graph."""
    from pytensor.compile.builders import OpFromGraph

    if not isinstance(op, OpFromGraph):
        raise _Uncacheable(type(op).__qualname__)
    inner = fingerprint(op.inner_inputs, op.inner_outputs)
    if inner is None:
        raise _Uncacheable("inner graph")
    cls = type(op)
    return f"{cls.__module__}.{cls.__qualname__}[inline={op.is_inline}]{{{inner}}}"


def _stable(value) -> str:
    """An exact text of a prop or constant value; raises _Uncacheable otherwise."""
    from pytensor.graph.op import Op
    from pytensor.graph.type import Type

    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return type(value).__name__ + "(" + ",".join(_stable(v) for v in value) + ")"
    if isinstance(value, Mapping):  # e.g. Elemwise's inplace_pattern, a frozendict
        return "{" + ",".join(f"{_stable(k)}:{_stable(v)}" for k, v in sorted(value.items(), key=repr)) + "}"
    if isinstance(value, slice):
        return f"slice({_stable(value.start)},{_stable(value.stop)},{_stable(value.step)})"
    if isinstance(value, np.dtype):
        return f"dtype({value.str})"
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise _Uncacheable("object array")
        data = np.ascontiguousarray(value)
        return f"array({data.dtype.str},{data.shape},{hashlib.sha256(data.view(np.uint8)).hexdigest()})"
    if isinstance(value, np.generic):
        return f"{value.dtype.str}:{value!r}"
    if isinstance(value, Op):
        return _scalar_op_text(value) if not hasattr(type(value), "__props__") else _op_text(value)
    if isinstance(value, Type):
        return f"{type(value).__qualname__}:{value}"
    if isinstance(value, (types.FunctionType, type)) and "<locals>" not in value.__qualname__:
        return f"{value.__module__}.{value.__qualname__}"
    raise _Uncacheable(type(value).__qualname__)


def _scalar_op_text(op) -> str:
    """Scalar ops compare by class and output type rule, not by ``__props__``."""
    from pytensor.scalar.basic import ScalarOp

    if not isinstance(op, ScalarOp) or type(op).__name__ == "Composite":
        raise _Uncacheable(type(op).__qualname__)
    rule = getattr(op, "output_types_preference", None)
    state = {k: v for k, v in vars(op).items() if k not in ("output_types_preference", "name")
             and not k.startswith("_")}
    return (f"{type(op).__module__}.{type(op).__qualname__}[{_rule_text(rule)}]"
            + _stable(state))


def _rule_text(rule) -> str:
    if rule is None:
        return "None"
    if isinstance(rule, (types.FunctionType, type)):
        return _stable(rule)
    # e.g. pytensor.scalar's ``transfer_type(0)`` / ``specific_out(float64)``: class plus state
    return f"{type(rule).__module__}.{type(rule).__qualname__}" + _stable(
        {k: v for k, v in vars(rule).items()})


@functools.lru_cache(maxsize=1)
def _environment() -> str:
    """Everything besides the graph that decides the generated code."""
    import pytensor

    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    # every source of the backend, its subpackages (the code generator) included
    for root, dirs, files in os.walk(here):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path, "rb") as fh:
                    digest.update(os.path.relpath(path, here).encode() + fh.read())
    return (f"python {sys.version}; numpy {np.__version__}; pytensor {pytensor.__version__}; "
            f"backend {digest.hexdigest()}; optimizer_excluding {pytensor.config.optimizer_excluding}")


# -- entries --------------------------------------------------------------------------------

def load(key: str | None):
    """``(source, namespace)`` stored under ``key``, or None (missing, unreadable, off)."""
    where = directory()
    if key is None or where is None:
        return None
    try:
        with open(os.path.join(where, key + ".pkl"), "rb") as fh:
            source, values = pickle.load(fh)
        namespace = {name: (importlib.import_module(v[1]) if v[0] == "module" else v[1])
                     for name, v in values.items()}
    except Exception:  # a missing, truncated or foreign file is simply a miss
        return None
    return source, namespace


def store(key: str | None, source: str, namespace: dict) -> bool:
    """Write an entry if every name the source needs can be stored; True if written."""
    where = directory()
    if key is None or where is None:
        return False
    values = {}
    if sum(v.nbytes for v in namespace.values() if isinstance(v, np.ndarray)) > MAX_CONSTANT_BYTES:
        return False  # big baked-in data: rewriting is cheap next to storing it again
    for name, v in namespace.items():
        if isinstance(v, types.ModuleType):
            values[name] = ("module", v.__name__)
        elif isinstance(v, (np.ndarray, np.generic, bool, int, float, complex, str)) and not (
                isinstance(v, np.ndarray) and v.dtype.hasobject):
            values[name] = ("value", v)
        else:
            return False  # e.g. a PyTensor op computing a node the generator cannot write
    try:
        os.makedirs(where, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump((source, values), fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, os.path.join(where, key + ".pkl"))  # atomic: readers see all or nothing
    except OSError:
        return False
    return True
