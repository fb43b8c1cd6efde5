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

An entry is one ``<key>.npz`` file, read with ``allow_pickle=False`` (so
reading it cannot run code): the source as UTF-8 bytes, a JSON description of
the names it needs (modules by name, Python scalars by value, arrays as
members), the arrays, and an HMAC-SHA256 over all of them and the key, made
with this user's secret (``cache_dir.secret``).  An entry whose MAC does not
check out (planted, edited, copied to another key), that cannot be read
(truncated, a pickle, anything else) or that is too big is never executed:
a ``CodeCacheWarning``, the file is removed and the code is built again.
Where the directory lives, who may own it, its key and its size cap:
``cache_dir``.  Without a usable directory, entries are kept in memory.

Example::

    key = fingerprint(inputs, outputs, extra="numpy")
    hit = load(key)           # (source, namespace) or None
    if hit is None:
        store(key, source, namespace)
"""
from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import importlib
import io
import json
import os
import sys
import tempfile
import types
from collections.abc import Mapping

import numpy as np

from . import cache_dir
from .cache_dir import directory, forget_secrets  # noqa: F401  (the cache's public face)

MAX_CONSTANT_BYTES = 16 * 2**20
_MAX_ENTRY_BYTES = MAX_CONSTANT_BYTES + 4 * 2**20  # a bigger file is not one we wrote
_FORMAT = 2
_MEMORY_ENTRIES = 256
_memory: collections.OrderedDict = collections.OrderedDict()  # key -> (source, values): no usable disk


# -- the fingerprint ------------------------------------------------------------------------

class _Uncacheable(Exception):
    """A value in the graph that has no exact, stable text."""


def fingerprint(inputs, outputs, extra: str = "") -> str | None:
    """A stable digest of the graph ``inputs -> outputs`` (None: not cacheable)."""
    from pytensor.graph.basic import Constant

    from .value_ancestors import DERIVATIVE_TAG

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
            # a derivative output may be rewritten with reordered products, a value may not
            outs.append(str(ids[v]) + ("d" if getattr(v.tag, DERIVATIVE_TAG, False) else ""))
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
    """``(source, namespace)`` stored under ``key``, or None (missing, refused, off)."""
    if key is None or cache_dir.configured() is None:
        return None
    where = directory()
    secret = cache_dir.secret(where) if where is not None else None
    if secret is None:
        hit = _memory.get(key)
        if hit is None:
            return None
        _memory.move_to_end(key)
        source, values = hit
        return source, dict(values)
    path = os.path.join(where, key + cache_dir.ENTRY_SUFFIX)
    try:
        if os.path.getsize(path) > _MAX_ENTRY_BYTES:
            return _reject(path, "larger than any entry pyautodiff writes")
        with np.load(path, allow_pickle=False) as z:
            members = {name: z[name] for name in z.files}
    except FileNotFoundError:
        return None
    except Exception as exc:  # truncated, a pickle, not a zip, an object array...
        return _reject(path, f"unreadable ({type(exc).__name__})")
    try:
        tag = members.pop("mac").tobytes()
        ok = hmac.compare_digest(tag, _mac(secret, key, members))
    except Exception:
        ok = False
    if not ok:
        return _reject(path, "failing authentication (not written by this user's pyautodiff, or edited)")
    try:  # authenticated: what we wrote ourselves
        meta = json.loads(members["meta"].tobytes().decode())
        source = members["source"].tobytes().decode()
        namespace = {name: _value(spec, members) for name, spec in meta["names"].items()}
    except Exception as exc:
        return _reject(path, f"unreadable ({type(exc).__name__})")
    try:
        os.utime(path)  # recently used: evicted last
    except OSError:
        pass
    return source, namespace


def _value(spec, members):
    kind, v = spec
    if kind == "module":
        return importlib.import_module(v)
    if kind == "array":
        return members[v]
    if kind == "scalar":  # a numpy scalar, stored as a 0-d array
        return members[v][()]
    if kind == "complex":
        return complex(*v)
    return {"bool": bool, "int": int, "float": float, "str": str}[kind](v)


def _reject(path, why):
    cache_dir.warn_once(("entry", path), f"pyautodiff: ignored the code cache entry {path}: {why}; "
                                         "rebuilding it")
    try:
        os.unlink(path)
    except OSError:
        pass
    return None


def _mac(secret: bytes, key: str, members: dict) -> bytes:
    """HMAC-SHA256 over the key and every member (name, dtype, shape, bytes), length-prefixed."""
    mac = hmac.new(secret, digestmod=hashlib.sha256)

    def part(b: bytes):
        mac.update(len(b).to_bytes(8, "little") + b)

    part(f"pyautodiff code cache {_FORMAT}".encode())
    part(key.encode())
    for name in sorted(members):
        a = np.ascontiguousarray(members[name])
        part(name.encode())
        part(f"{a.dtype.str}{a.shape}".encode())
        part(a.tobytes())
    return mac.digest()


def store(key: str | None, source: str, namespace: dict) -> bool:
    """Write an entry if every name the source needs can be stored; True if written."""
    if key is None or cache_dir.configured() is None:
        return False
    if sum(v.nbytes for v in namespace.values() if isinstance(v, np.ndarray)) > MAX_CONSTANT_BYTES:
        return False  # big baked-in data: rewriting is cheap next to storing it again
    names, members = {}, {}
    for name, v in namespace.items():
        spec = _describe(v, members)
        if spec is None:
            return False  # e.g. a PyTensor op computing a node the generator cannot write
        names[name] = spec
    where = directory()
    secret = cache_dir.secret(where) if where is not None else None
    if secret is None:  # no disk we may use: this process still reuses it
        _memory[key] = (source, dict(namespace))
        while len(_memory) > _MEMORY_ENTRIES:
            _memory.popitem(last=False)
        return True
    members["source"] = np.frombuffer(source.encode(), dtype=np.uint8)
    members["meta"] = np.frombuffer(json.dumps({"format": _FORMAT, "names": names}).encode(), dtype=np.uint8)
    members["mac"] = np.frombuffer(_mac(secret, key, members), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **members)
    try:
        fd, tmp = tempfile.mkstemp(dir=where, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.getvalue())
            os.replace(tmp, os.path.join(where, key + cache_dir.ENTRY_SUFFIX))  # readers see all or nothing
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    cache_dir.evict(where, len(buf.getvalue()))
    return True


_PLAIN = {bool: "bool", int: "int", float: "float", str: "str"}


def _describe(v, members):
    """The JSON description of one namespace value (arrays go to ``members``), or None."""
    if isinstance(v, types.ModuleType):
        return ["module", v.__name__]
    if type(v) in _PLAIN:
        return [_PLAIN[type(v)], v]
    if type(v) is complex:
        return ["complex", [v.real, v.imag]]
    if isinstance(v, (np.ndarray, np.generic)) and not v.dtype.hasobject:
        name = f"c_{len(members)}"
        members[name] = np.asarray(v)
        return ["array" if isinstance(v, np.ndarray) else "scalar", name]
    return None
