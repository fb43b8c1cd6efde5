"""Turn an (optimized) PyTensor graph into plain, readable numpy source code.

PyTensor's compiled backends take seconds to compile a mid-size graph and its
Python linker is slow per call, so we render the rewritten graph as one Python
function built from numpy expressions, ``exec`` it and call it.  The same text
is what users see when they ask for the derived code, so it is kept readable:
one statement per line, named intermediates for values used more than once,
single-use elementwise values inlined into their consumer, no dead code.

Example::

    import pytensor.tensor as pt
    from pytensor.gradient import grad
    from pytensor.graph.fg import FunctionGraph
    from pyautodiff.backend.numpy_codegen import rewrite_graph, compile_fgraph

    x = pt.vector("x")
    y = pt.exp(x).sum()
    fg = rewrite_graph(FunctionGraph([x], [y, grad(y, x)]))
    f = compile_fgraph(fg, name="f")
    print(f.source)
    # import numpy as np
    #
    # def f(x):
    #     t0 = np.exp(x)
    #     t1 = t0.sum()
    #     return (t1, t0)
    value, gradient = f(np.arange(3.0))

Design: one small translation function per op family, found through
``_OP_RULES`` (keyed by op class, looked up along the MRO) and, for elementwise
ops, ``_SCALAR_RULES`` (keyed by scalar op class).  A rule receives the
generator and the node and returns one `_Expr` per output; the generator
decides whether an expression gets its own named statement or is inlined into
its single consumer, reuses identical expressions (CSE on the rendered text)
and drops unused statements.  Dtypes follow PyTensor exactly: every
elementwise operation's numpy result dtype is checked (by evaluating the same
expression on tiny dummy arrays, cached) against ``var.type.dtype`` and casts
are inserted only where they differ.

Semantics worth knowing:

* The generated code never modifies its arguments, constants or views; it
  updates arrays in place only when it allocated them itself and nothing else
  reads them (e.g. ``np.zeros`` followed by an indexed ``+=``).
* Outputs may alias arguments (``f(x) = x`` returns ``x`` itself) unless
  ``fresh_outputs`` asks for copies of every result not newly allocated, and
  0-d outputs may be numpy or Python scalars (``np.asarray`` gives the
  PyTensor dtype and shape).
* numpy floating-point warnings are not silenced (PyTensor's C code has none).
* ``SpecifyShape`` is not re-checked; ``CheckAndRaise``/``Assert`` are.
* Ops without a translation (e.g. ``Scan``) raise `NoNumpyForm`, or with
  ``fallback="perform"`` are computed by PyTensor's Python implementation.
"""

from __future__ import annotations

import builtins
import importlib
import keyword
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "NoNumpyForm",
    "compile_fgraph",
    "fgraph_to_source",
    "rewrite_graph",
]


class NoNumpyForm(Exception):
    """An op of the graph has no numpy translation (raised with ``fallback="error"``)."""


class _NoForm(Exception):
    """Internal: a rule cannot translate this particular node."""


# The rewrite pipeline lives in its own module; these names stay importable here.
from .rewrite import rewrite_graph, without_stack_traces  # noqa: E402,F401




# ---------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------

# Python operator precedence, low to high (only what we emit).
P_LOW = 0
P_CMP = 5
P_BOR = 6
P_BXOR = 7
P_BAND = 8
P_ADD = 10
P_MUL = 11
P_UNARY = 12
P_POW = 13
P_ATOM = 20

_NOVALUE = object()
_WEAK_DEFAULT = {bool: np.dtype(bool), int: np.dtype("int64"), float: np.dtype("float64"),
                 complex: np.dtype("complex128")}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Expr:
    """A rendered numpy expression.

    ``dtype`` is a numpy dtype, or a Python type (``int``, ``float``, ``bool``,
    ``complex``) when the runtime value is a plain Python scalar, which numpy
    treats as "weak" when mixing dtypes (NEP 50).  ``fresh`` means the value is
    a newly allocated array that nothing else references, so it may be
    modified in place.  ``srcs`` are the elementwise-input positions the value
    depends on (for the broadcasting check), ``value`` the Python value of a
    literal constant.
    """

    __slots__ = ("const_dtype", "dtype", "fresh", "names", "prec", "srcs", "text", "value")

    def __init__(self, text, prec=P_ATOM, names=frozenset(), dtype=None, fresh=False,
                 value=_NOVALUE, srcs=frozenset(), const_dtype=None):
        self.text = text
        self.prec = prec
        self.names = frozenset(names)
        self.dtype = dtype
        self.fresh = fresh
        self.value = value
        self.srcs = frozenset(srcs)
        self.const_dtype = const_dtype

    def replace(self, **kw):
        new = _Expr.__new__(_Expr)
        for k in _Expr.__slots__:
            setattr(new, k, kw.get(k, getattr(self, k)))
        return new

    @property
    def is_literal(self):
        return self.value is not _NOVALUE

    @property
    def is_name(self):
        return bool(_IDENT.match(self.text)) and not self.is_literal

    @property
    def weak(self):
        return isinstance(self.dtype, type)

    def wrap(self, min_prec):
        return self.text if self.prec >= min_prec else f"({self.text})"


def _dtype_name(dtype) -> str:
    """Source text for a dtype, e.g. ``np.float32`` or ``bool``."""
    dtype = np.dtype(dtype)
    return "bool" if dtype.kind == "b" else f"np.{dtype.name}"


def _np_dtype(dt):
    return _WEAK_DEFAULT[dt] if isinstance(dt, type) else np.dtype(dt)


def _dtype_matches(dt, target) -> bool:
    return _np_dtype(dt) == np.dtype(target)


def _float_text(v: float) -> str:
    if np.isnan(v):
        return "np.nan"
    if np.isinf(v):
        return "np.inf" if v > 0 else "-np.inf"
    return repr(float(v))


def _literal(value, dtype) -> _Expr:
    """A Python literal for a scalar constant of PyTensor dtype ``dtype``.

    Literals are "weak" for numpy; float32 constants whose short repr is not
    exact as a double are spelled ``np.float32(0.1)`` so the value is exact.
    """
    dtype = np.dtype(dtype)
    value = dtype.type(value).item()
    if dtype.kind == "b":
        return _Expr(repr(bool(value)), dtype=bool, value=bool(value), const_dtype=dtype)
    if dtype.kind in "iu":
        return _Expr(str(value), P_UNARY if value < 0 else P_ATOM, dtype=int, value=int(value),
                     const_dtype=dtype)
    if dtype.kind == "f":
        short = str(dtype.type(value)) if dtype.itemsize < 8 else repr(value)
        if np.isfinite(value) and float(short) != value:
            # e.g. float32(0.1): keep the exact value with an explicit dtype
            return _Expr(f"{_dtype_name(dtype)}({short})", dtype=dtype)
        text = _float_text(value)
        return _Expr(text, P_UNARY if text.startswith("-") else P_ATOM, dtype=float,
                     value=float(value), const_dtype=dtype)
    if dtype.kind == "c":
        return _Expr(repr(complex(value)), P_ATOM, dtype=complex, value=complex(value),
                     const_dtype=dtype)
    raise _NoForm(f"constant of dtype {dtype}")


def _strong(e: _Expr, dtype=None) -> _Expr:
    """Make a weak (Python scalar) expression a numpy value of ``dtype``."""
    if not e.weak:
        return e
    dtype = np.dtype(dtype if dtype is not None else (e.const_dtype or _np_dtype(e.dtype)))
    text = f"{_dtype_name(dtype)}({e.text})"
    return e.replace(text=text, prec=P_ATOM, dtype=dtype, value=_NOVALUE, fresh=False)


def _cast(e: _Expr, dtype) -> _Expr:
    """``e`` converted to ``dtype`` (no-op if it already has it)."""
    dtype = np.dtype(dtype)
    if not e.weak and e.dtype == dtype:
        return e
    if e.weak:
        if _dtype_matches(e.dtype, dtype):
            return e
        return _strong(e, dtype)
    return e.replace(text=f"{e.wrap(P_ATOM)}.astype({_dtype_name(dtype)})", prec=P_ATOM,
                     dtype=dtype, fresh=True, value=_NOVALUE)


# ---------------------------------------------------------------------------
# Templates: format strings whose numpy result dtype we can probe
# ---------------------------------------------------------------------------


class _Tmpl:
    """``fmt`` uses ``{0}``, ``{1}``...; ``arg_prec[i]`` is the minimum precedence
    argument i may have without parentheses; ``prec`` is the result's."""

    __slots__ = ("arg_prec", "fmt", "prec")

    def __init__(self, fmt, prec=P_ATOM, arg_prec=None):
        self.fmt = fmt
        self.prec = prec
        self.arg_prec = arg_prec

    def render(self, args: Sequence[_Expr]) -> str:
        texts = [a.wrap(self.arg_prec[i] if self.arg_prec else P_LOW) for i, a in enumerate(args)]
        return self.fmt.format(*texts)


def _fn(name: str, nargs: int) -> _Tmpl:
    inner = ", ".join(f"{{{i}}}" for i in range(nargs))
    return _Tmpl(f"{name}({inner})")


def _binop(sym: str, prec: int, nargs: int = 2) -> _Tmpl:
    # Left-associative: parenthesize the right operands at equal precedence,
    # which preserves PyTensor's evaluation order exactly (floats are not
    # associative).  Comparisons never chain.
    first = prec + 1 if prec == P_CMP else prec
    fmt = f" {sym} ".join(f"{{{i}}}" for i in range(nargs))
    return _Tmpl(fmt, prec, (first,) + (prec + 1,) * (nargs - 1))


def _unop(sym: str) -> _Tmpl:
    return _Tmpl(f"{sym}{{0}}", P_UNARY, (P_UNARY + 1,))


_POW = _Tmpl("{0} ** {1}", P_POW, (P_POW + 1, P_UNARY))

_PROBE_FNS: dict[str, Callable] = {}
_PROBE_CACHE: dict[tuple, object] = {}


_PROBE_NS: dict = {"np": np}


def _probe_namespace(fmt: str) -> dict:
    if "scipy." in fmt and "scipy" not in _PROBE_NS:
        importlib.import_module("scipy.special")
        importlib.import_module("scipy.linalg")
        _PROBE_NS["scipy"] = importlib.import_module("scipy")
    return _PROBE_NS


def _probe_key(e: _Expr):
    if e.is_literal:
        return ("lit", type(e.value), e.value)
    if e.weak:
        return ("weak", e.dtype)
    return ("arr", np.dtype(e.dtype).str)


def _dummy(e: _Expr):
    if e.is_literal:
        return e.value
    if e.weak:
        return e.dtype(1)
    return np.ones(1, dtype=e.dtype)


def _probe(fmt: str, args: Sequence[_Expr]):
    """The dtype numpy gives ``fmt`` on values like ``args`` (None if it fails)."""
    key = (fmt, tuple(_probe_key(a) for a in args))
    if key in _PROBE_CACHE:
        return _PROBE_CACHE[key]
    fn = _PROBE_FNS.get(fmt)
    if fn is None:
        params = [f"a{i}" for i in range(len(args))]
        fn = eval(f"lambda {', '.join(params)}: {fmt.format(*params)}", _probe_namespace(fmt))
        _PROBE_FNS[fmt] = fn
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fn(*[_dummy(a) for a in args])
        if isinstance(res, (np.ndarray, np.generic)):
            dt = res.dtype
        elif type(res) in _WEAK_DEFAULT:
            dt = type(res)
        else:
            dt = None
    except Exception:
        dt = None
    _PROBE_CACHE[key] = dt
    return dt


def _apply(tmpl: _Tmpl, args: Sequence[_Expr], out_dtype) -> _Expr:
    """Render ``tmpl`` on ``args`` so that the result has exactly ``out_dtype``.

    Tries, in order: the plain rendering; literal constants with an explicit
    dtype (e.g. float32 array * float64 constant computes in float64 in
    PyTensor); inputs upcast to the output dtype (when numpy would compute in
    lower precision, e.g. exp(int8) -> float16); finally a cast of the result.
    """
    out_dtype = np.dtype(out_dtype)
    names = frozenset().union(*[a.names for a in args]) if args else frozenset()
    srcs = frozenset().union(*[a.srcs for a in args]) if args else frozenset()

    def make(argv, dt):
        return _Expr(tmpl.render(argv), tmpl.prec, names, dt, fresh=True, srcs=srcs)

    dt = _probe(tmpl.fmt, args)
    if dt is not None and _dtype_matches(dt, out_dtype):
        return make(args, dt)
    if any(a.is_literal for a in args):
        strong_args = [_strong(a) if a.is_literal else a for a in args]
        dt2 = _probe(tmpl.fmt, strong_args)
        if dt2 is not None and _dtype_matches(dt2, out_dtype):
            return make(strong_args, dt2)
        if dt is None:
            args, dt = strong_args, dt2
    if out_dtype.kind in "fc" and (dt is None or (_np_dtype(dt).kind in "biuf" and np.can_cast(
            _np_dtype(dt), out_dtype, "safe"))):
        up_args = [a if a.weak or _np_dtype(a.dtype).kind == "b" or
                   _dtype_matches(a.dtype, out_dtype) else _cast(a, out_dtype) for a in args]
        dt3 = _probe(tmpl.fmt, up_args)
        if dt3 is not None and _dtype_matches(dt3, out_dtype):
            return make(up_args, dt3)
    if dt is None:
        raise _NoForm(f"numpy cannot evaluate {tmpl.fmt!r} for these dtypes")
    return _cast(make(args, dt), out_dtype)


# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------


class _Stmt:
    __slots__ = ("defines", "effect", "text", "uses")

    def __init__(self, text, defines=(), uses=(), effect=False):
        self.text = text
        self.defines = frozenset(defines)
        self.uses = frozenset(uses)
        self.effect = effect


_MAX_INLINE = 88  # longer single-use expressions still get their own line
# Deeper expressions get their own line too, even inside a fused kernel (a
# long scalar loop fuses into one Composite): CPython refuses 200 nested
# parentheses ("too many nested parentheses") and its compiler a few thousand
# nested operators (RecursionError).  Measured by `_depth`, which overestimates.
_MAX_DEPTH = 100
_DEPTH_TOKENS = re.compile(r"[-+*/%@&|^<>=~()\[\]{}]")
# Builtins, keywords, module names and the helper functions we may define.
_RESERVED = set(dir(builtins)) | set(keyword.kwlist) | {
    "np", "scipy", "self", "solve", "solve_triangular", "cholesky", "pivots_to_permutation"}


def _depth(text: str) -> int:
    """An upper bound on the nesting of an expression's syntax tree: its
    bracket nesting plus its number of operator characters."""
    nesting = deepest = operators = 0
    for c in _DEPTH_TOKENS.findall(text):
        if c in "([{":
            nesting += 1
            deepest = max(deepest, nesting)
        elif c in ")]}":
            nesting -= 1
        else:
            operators += 1
    return deepest + operators


def _too_deep(e: _Expr) -> bool:
    return not (e.is_name or e.is_literal) and _depth(e.text) > _MAX_DEPTH


def _sanitize(name: str | None) -> str | None:
    if not name:
        return None
    s = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")
    if not s:
        return None
    if s[0].isdigit():
        s = "v" + s
    return s


class _Gen:
    """Holds the state of one generated module (main function + helpers)."""

    def __init__(self, fallback: str):
        if fallback not in ("error", "perform"):
            raise ValueError("fallback must be 'error' or 'perform'")
        self.fallback = fallback
        self.namespace: dict = {"np": np}
        self.imports: dict[str, str] = {}  # module -> comment
        self.helpers: dict[str, str] = {}  # helper name -> source
        self.globals_taken: set[str] = set(_RESERVED)
        self.env: dict = {}
        self.uses: Counter = Counter()
        self.outputs: set = set()
        self.stmts: list[_Stmt] = []
        self.taken: set[str] = set()
        self.taken_log: list[str] = []  # undo log for `taken` (see checkpoint)
        # Common-subexpression reuse on the rendered text: expression -> the
        # name it is bound to (and the names it reads).  Names handed out twice
        # are "shared" and never modified in place.
        self.cse: dict[str, tuple[_Expr, frozenset]] = {}
        self.cse_log: list[tuple[str, object]] = []
        self.shared: set[str] = set()
        self.counter = 0
        self.const_count = 0

    # -- names ---------------------------------------------------------------
    def _free(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken or name in self.globals_taken or keyword.iskeyword(name):
            name = f"{base}_{k}"
            k += 1
        self._take(name)
        return name

    def _take(self, name: str) -> None:
        self.taken.add(name)
        self.taken_log.append(name)

    def temp_name(self) -> str:
        while True:
            name = f"t{self.counter}"
            self.counter += 1
            if name not in self.taken and name not in self.globals_taken:
                self._take(name)
                return name

    def name_for(self, var) -> str:
        base = _sanitize(getattr(var, "name", None))
        return self._free(base) if base else self.temp_name()

    def global_name(self, base: str, obj) -> str:
        """Put ``obj`` in the namespace under a readable, unused name."""
        for name, val in self.namespace.items():
            if val is obj and name.startswith(base):
                return name
        name, k = base, 1
        while name in self.namespace or name in self.taken or name in _RESERVED:
            name = f"{base}_{k}"
            k += 1
        self.namespace[name] = obj
        self.globals_taken.add(name)
        return name

    def need(self, module: str, why: str = "") -> None:
        """Import ``module`` (``scipy.special``, ``scipy.linalg``) in the source."""
        if module not in self.imports:
            self.imports[module] = why
            importlib.import_module(module)
            self.namespace[module.split(".")[0]] = importlib.import_module(module.split(".")[0])
        elif why and why not in self.imports[module]:
            self.imports[module] = ", ".join(filter(None, [self.imports[module], why]))

    def helper(self, name: str, source: str) -> str:
        """Add a small helper function (defined in the source itself)."""
        self.helpers.setdefault(name, source)
        self.globals_taken.add(name)
        return name

    # -- statements ----------------------------------------------------------
    def emit(self, text, defines=(), uses=(), effect=False):
        self.stmts.append(_Stmt(text, defines, uses, effect))

    def bind(self, e: _Expr, name: str | None = None, cse: bool = True) -> _Expr:
        """Emit ``name = e`` and return the name as an expression (or the name
        already holding the same expression)."""
        if cse:
            hit = self.cse_lookup(e)
            if hit is not None:
                return hit
        if name is None:
            name = self.temp_name()
        self.emit(f"{name} = {e.text}", {name}, e.names)
        res = e.replace(text=name, prec=P_ATOM, names={name}, value=_NOVALUE)
        if cse:
            self._cse_set(e.text, (res, e.names))
        return res

    def cse_lookup(self, e: _Expr) -> _Expr | None:
        entry = self.cse.get(e.text)
        if entry is None:
            return None
        self.shared.add(entry[0].text)
        self.cse_log.append(("shared", entry[0].text))
        return entry[0].replace(fresh=False, srcs=e.srcs)

    def _cse_set(self, key: str, value) -> None:
        self.cse_log.append((key, self.cse.get(key)))
        self.cse[key] = value

    def mutated(self, name: str) -> None:
        """``name`` is about to be modified in place: forget expressions that
        read it or are bound to it."""
        for key, (res, uses) in list(self.cse.items()):
            if res.text == name or name in uses:
                self._cse_set(key, None)
                del self.cse[key]

    def atom(self, e: _Expr) -> _Expr:
        """``e`` as something cheap to repeat (a name or a literal)."""
        return e if (e.is_name or e.is_literal) else self.bind(e)

    # -- variables -----------------------------------------------------------
    def expr(self, var) -> _Expr:
        e = self.env.get(var)
        if e is None:
            e = self.constant(var)
            self.env[var] = e
        return e

    def constant(self, var) -> _Expr:
        from pytensor.graph.basic import Constant

        if not isinstance(var, Constant):
            raise KeyError(f"variable {var} is not computed before use")
        data = var.data
        if data is None:  # NoneConst
            return _Expr("None")
        if not hasattr(var.type, "dtype"):  # e.g. a slice constant
            return _Expr(self.global_name("const", data))
        arr = np.asarray(data)
        dtype = var.type.dtype
        if arr.ndim == 0:
            return _literal(arr.item(), dtype)
        if arr.size == 0:  # a nested list would lose the shape: (0, 1) -> []
            return _Expr(f"np.empty({arr.shape}, dtype={_dtype_name(dtype)})", dtype=np.dtype(dtype))
        if arr.size <= 8 and arr.dtype.kind in "biuf":
            body = repr(arr.tolist()).replace("inf", "np.inf").replace("nan", "np.nan")
            text = f"np.array({body}, dtype={_dtype_name(dtype)})"
            return _Expr(text, dtype=np.dtype(dtype))
        frozen = np.array(arr, dtype=dtype)
        frozen.setflags(write=False)
        base = f"{_sanitize(var.name)}_const" if _sanitize(var.name) else "const"
        return _Expr(self.global_name(base, frozen), dtype=np.dtype(dtype))

    def elemwise_arg(self, var, pos: int) -> _Expr:
        """Input ``pos`` of an Elemwise: size-1 constants (also behind a
        DimShuffle that only adds axes) become scalar literals; their dims are
        broadcastable, so they never set the output shape."""
        from pytensor.graph.basic import Constant
        from pytensor.tensor.elemwise import DimShuffle

        const = var
        while const.owner is not None and isinstance(const.owner.op, DimShuffle) and all(
                s == 1 for s in _static_shape(const)):
            const = const.owner.inputs[0]
        if isinstance(const, Constant) and const.data is not None and np.size(const.data) == 1:
            arr = np.asarray(const.data)
            if arr.dtype.kind in "biufc":
                return _literal(arr.reshape(()).item(), const.type.dtype)
        # An input is never "fresh" from the point of view of the output: an
        # identity-like scalar op must not hand out someone else's array.
        return self.expr(var).replace(srcs={pos}, fresh=False)

    def assign(self, var, e: _Expr) -> None:
        """Record the expression of ``var``, giving it a statement if needed."""
        n = self.uses[var]
        is_out = var in self.outputs
        if n == 0 and not is_out:
            self.env[var] = e
            return
        simple = e.is_name or (e.is_literal and not is_out)
        if not simple and (n > 1 or is_out or len(e.text) > _MAX_INLINE or _too_deep(e)):
            e = self.bind(e, self.name_for(var))
        self.env[var] = e

    def writable(self, var, e: _Expr, out_var) -> _Expr:
        """A name bound to an array with the value of ``var`` that may be modified
        in place: ``var`` itself if it is a fresh temporary nobody else uses,
        otherwise a copy."""
        ndim = getattr(var.type, "ndim", 0)
        if (e.fresh and not e.weak and ndim > 0 and self.uses[var] == 1
                and var not in self.outputs and e.text not in self.shared):
            buf = e if e.is_name else self.bind(e, self.name_for(out_var), cse=False)
        else:
            if e.weak:
                text = f"np.array({e.text}, dtype={_dtype_name(var.type.dtype)})"
            else:
                text = f"{e.wrap(P_ATOM)}.copy()"
            copy = e.replace(text=text, prec=P_ATOM, fresh=True)
            buf = self.bind(copy, self.name_for(out_var), cse=False)
        self.mutated(buf.text)
        return buf

    def checkpoint(self):
        return (len(self.stmts), self.counter, len(self.taken_log), len(self.cse_log),
                dict(self.imports), dict(self.helpers))

    def restore(self, mark) -> None:
        """Forget the statements (and names) emitted since ``mark``."""
        n, self.counter, n_taken, n_cse, imports, helpers = mark
        del self.stmts[n:]
        while len(self.taken_log) > n_taken:
            self.taken.discard(self.taken_log.pop())
        while len(self.cse_log) > n_cse:
            key, old = self.cse_log.pop()
            if key == "shared":
                self.shared.discard(old)
            elif old is None:
                self.cse.pop(key, None)
            else:
                self.cse[key] = old
        # shared with helper generators: update in place
        self.imports.clear()
        self.imports.update(imports)
        self.helpers.clear()
        self.helpers.update(helpers)

    # -- translation ---------------------------------------------------------
    def scalar(self, op, args: list[_Expr], out_dtypes: list) -> list[_Expr]:
        rule = _lookup(_SCALAR_RULES, op)
        if rule is None:
            raise _NoForm(f"scalar op {op}")
        outs = rule(self, op, args, out_dtypes)
        # reuse a value already computed under a name (PyTensor's merge pass
        # cannot see inside fused Composites)
        return [self.cse_lookup(e) or e for e in outs]

    def translate_nodes(self, nodes) -> None:
        for node in nodes:
            rule = _lookup(_OP_RULES, node.op)
            outs = None
            if rule is not None:
                mark = self.checkpoint()
                try:
                    outs = rule(self, node)
                except _NoForm:
                    self.restore(mark)  # forget what the rule emitted before giving up
                    outs = None
            if outs is None:
                outs = self.fallback_node(node)
            else:  # an identical expression may already have a name
                outs = [self.cse_lookup(e) or e for e in outs]
            for var, e in zip(node.outputs, outs):
                self.assign(var, e)

    def fallback_node(self, node) -> list[_Expr]:
        op = node.op
        if self.fallback == "error":
            raise NoNumpyForm(f"no numpy form for op {type(op).__name__} ({op})")
        runner = _PerformRunner(node)
        base = _sanitize(type(op).__name__.lower()) or "op"
        fname = self.global_name(f"{base}_perform", runner)
        args = [self.expr(v) for v in node.inputs]
        call = f"{fname}({', '.join(a.text for a in args)})"
        names = frozenset().union(*[a.names for a in args]) if args else frozenset()
        outs = [self.name_for(v) for v in node.outputs]
        lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
        # effect=True: PyTensor ops may check their inputs (and raise)
        self.emit(f"# no numpy form for {type(op).__name__}: PyTensor's Python implementation\n"
                  f"{lhs} = {call}", outs, names, effect=True)
        return [_Expr(n, names={n}, dtype=_out_dtype(v)) for n, v in zip(outs, node.outputs)]

    def function_source(self, fgraph, name: str, input_names: Sequence[str],
                         tuple_return: bool = True, fresh_outputs: bool = False) -> str:
        """Translate ``fgraph`` into the text of ``def name(...)`` (helpers and
        imports are collected on ``self``).  ``fresh_outputs``: every array
        returned is newly allocated (no argument, constant, view or other
        output is handed out)."""
        for n in (*input_names, name):
            self._take(n)
        for var, n in zip(fgraph.inputs, input_names):
            dt = _out_dtype(var)
            self.env[var] = _Expr(n, names={n}, dtype=dt if dt is not None else None)
        nodes = fgraph.toposort()
        self.outputs = set(fgraph.outputs)
        self.count_uses(nodes, fgraph.outputs)
        self.translate_nodes(nodes)

        results = []
        for out in fgraph.outputs:
            e = self.expr(out)
            dt = _out_dtype(out)
            if dt is not None and e.weak and not _dtype_matches(e.dtype, dt):
                e = _strong(e, dt)
            if e.is_literal:
                e = _strong(e, dt)
            if fresh_outputs and not e.weak and (not e.fresh or e.text in [r.text for r in results]):
                # a 0-d value may be a numpy or Python scalar at run time: np.array copies either
                text = f"{e.wrap(P_ATOM)}.copy()" if getattr(out.type, "ndim", 0) else f"np.array({e.text})"
                e = e.replace(text=text, prec=P_ATOM, fresh=True)
            results.append(e)

        # dead-code elimination (e.g. an AllocEmpty whose Gemv ignores it)
        needed = set().union(*[e.names for e in results]) if results else set()
        kept = []
        for st in reversed(self.stmts):
            if st.effect or (st.defines & needed):
                kept.append(st)
                needed |= st.uses
        kept.reverse()
        lines = [ln for st in kept for ln in st.text.split("\n")]
        if tuple_return:
            ret = "return (" + ", ".join(e.text for e in results) + ("," if len(results) == 1 else "") + ")"
        else:
            ret = "return " + results[0].text
        body = [f"    {ln}" for ln in lines] + [f"    {ret}"]
        return f"def {name}({', '.join(input_names)}):\n" + "\n".join(body)

    def count_uses(self, nodes, outputs) -> None:
        for node in nodes:
            for inp in node.inputs:
                self.uses[inp] += 1
        for out in outputs:
            self.uses[out] += 1


def _out_dtype(var):
    dt = getattr(var.type, "dtype", None)
    try:
        return np.dtype(dt)
    except TypeError:
        return None


def _lookup(registry: dict, op):
    for cls in type(op).__mro__:
        rule = registry.get(cls)
        if rule is not None:
            return rule
    return None


class _PerformRunner:
    """Computes one node with its op's Python implementation (the fallback)."""

    def __init__(self, node):
        self.node = node
        self.op = node.op
        self._thunk = None

    def _prepare(self):
        from pytensor.graph.basic import Constant

        node = self.node
        self._ins = [[None] for _ in node.inputs]
        self._outs = [[None] for _ in node.outputs]
        storage = dict(zip(node.inputs, self._ins))
        storage.update(zip(node.outputs, self._outs))
        compute = {v: [True] for v in node.inputs}
        compute.update({v: [False] for v in node.outputs})
        for v, cell in zip(node.inputs, self._ins):
            if isinstance(v, Constant):
                cell[0] = v.data
        self._thunk = node.op.make_thunk(node, storage, compute, [], impl="py")

    def __call__(self, *args):
        if self._thunk is None:
            self._prepare()
        for v, cell, a in zip(self.node.inputs, self._ins, args):
            cell[0] = v.type.filter(a, allow_downcast=True) if hasattr(v.type, "filter") else a
        for cell in self._outs:
            cell[0] = None
        self._thunk()
        return tuple(cell[0] for cell in self._outs)

    def __repr__(self):
        return f"<perform fallback for {self.op}>"


# ---------------------------------------------------------------------------
# Scalar (elementwise) rules
# ---------------------------------------------------------------------------

_SCALAR_RULES: dict[type, Callable] = {}
_OP_RULES: dict[type, Callable] = {}


def _tmpl_rule(tmpl_or_factory):
    """A rule applying a fixed template (or one built from the arg count)."""

    def rule(g, op, args, out_dtypes):
        tmpl = tmpl_or_factory(len(args)) if callable(tmpl_or_factory) else tmpl_or_factory
        return [_apply(tmpl, args, out_dtypes[0])]

    return rule


def _scipy_rule(func: str, nargs: int):
    tmpl = _Tmpl(f"scipy.special.{func}(" + ", ".join(
        f"{{{i}}}" for i in range(nargs)) + ")")

    def rule(g, op, args, out_dtypes):
        g.need("scipy.special", func)
        return [_apply(tmpl, args, out_dtypes[0])]

    return rule


def _rule_identity(g, op, args, out_dtypes):
    return [_cast(args[0], out_dtypes[0])]


def _rule_second(g, op, args, out_dtypes):
    # fill(x, y): the value of y; the shape effect of x is restored (if
    # needed) by the Elemwise broadcasting check.
    return [_cast(args[1], out_dtypes[0])]


def _rule_cast(g, op, args, out_dtypes):
    return [_cast(args[0], out_dtypes[0])]


def _rule_invert(g, op, args, out_dtypes):
    (x,) = args
    # `~` on a Python bool is integer negation, so only use it on numpy values
    if np.dtype(out_dtypes[0]).kind == "b" and (x.weak or _np_dtype(x.dtype).kind != "b"):
        return [_apply(_fn("np.logical_not", 1), args, out_dtypes[0])]
    return [_apply(_unop("~"), args, out_dtypes[0])]


def _rule_switch(g, op, args, out_dtypes):
    return [_apply(_fn("np.where", 3), args, out_dtypes[0])]


def _rule_sqr(g, op, args, out_dtypes):
    return [_apply(_Tmpl("{0} ** 2", P_POW, (P_POW + 1,)), args, out_dtypes[0])]


def _rule_reciprocal(g, op, args, out_dtypes):
    return [_apply(_Tmpl("1 / {0}", P_MUL, (P_MUL + 1,)), args, out_dtypes[0])]


def _rule_softplus(g, op, args, out_dtypes):
    # log(1 + exp(x)) without overflow; agrees with PyTensor's piecewise form
    # to within an ulp.
    return [_apply(_Tmpl("np.logaddexp(0, {0})"), args, out_dtypes[0])]


def _rule_sigmoid(g, op, args, out_dtypes):
    # 1 / (1 + exp(-x)) in numpy only, with full relative accuracy in both tails
    # (the tanh form loses it for large negative x).
    return [_apply(_Tmpl("np.exp(-np.logaddexp(0, np.negative({0})))"), args, out_dtypes[0])]


def _rule_log1mexp(g, op, args, out_dtypes):
    x = g.atom(args[0])
    tmpl = _Tmpl("np.where({0} < np.log(0.5), np.log1p(-np.exp({0})), np.log(-np.expm1({0})))")
    return [_apply(tmpl, [x], out_dtypes[0])]


def _rule_round_half_away(g, op, args, out_dtypes):
    x = g.atom(args[0])
    tmpl = _Tmpl("np.where({0} > 0, np.floor({0} + 0.5), np.ceil({0} - 0.5))")
    return [_apply(tmpl, [x], out_dtypes[0])]


def _rule_mul_without_zeros(g, op, args, out_dtypes):
    x, y = (g.atom(a) for a in args)
    tmpl = _Tmpl("np.where({0} == 0, {1}, np.where({1} == 0, {0}, {0} * {1}))")
    return [_apply(tmpl, [x, y], out_dtypes[0])]


def _rule_trigamma(g, op, args, out_dtypes):
    g.need("scipy.special", "polygamma")
    return [_apply(_Tmpl("scipy.special.polygamma(1, {0})"), args, out_dtypes[0])]


def _rule_complex(g, op, args, out_dtypes):
    return [_apply(_Tmpl("{0} + 1j * {1}", P_ADD, (P_ADD, P_MUL + 1)), args, out_dtypes[0])]


def _rule_complex_from_polar(g, op, args, out_dtypes):
    return [_apply(_Tmpl("{0} * np.exp(1j * {1})", P_MUL, (P_MUL, P_MUL + 1)), args,
                   out_dtypes[0])]


def _rule_clip(g, op, args, out_dtypes):
    return [_apply(_fn("np.clip", 3), args, out_dtypes[0])]


def _rule_composite(g, op, args, out_dtypes):
    """A fused kernel: render the inner scalar graph as one numpy expression per
    output, with a temporary for every inner value used more than once."""
    from pytensor.graph.basic import Constant

    fg = op.fgraph
    nodes = fg.toposort()
    uses = Counter(inp for n in nodes for inp in n.inputs)
    uses.update(fg.outputs)
    # an input expression used more than once inside is computed once
    env = {v: g.atom(a) if uses[v] > 1 else a for v, a in zip(fg.inputs, args)}

    def get(v):
        if v not in env:
            if not isinstance(v, Constant):
                raise _NoForm("composite inner variable without value")
            env[v] = _literal(v.data, v.type.dtype)
        return env[v]

    for node in nodes:
        outs = g.scalar(node.op, [get(v) for v in node.inputs],
                        [o.type.dtype for o in node.outputs])
        for var, e in zip(node.outputs, outs):
            if (uses[var] > 1 and not (e.is_name or e.is_literal)) or _too_deep(e):
                e = g.bind(e).replace(fresh=False)  # shared: never modify in place
            env[var] = e
    return [_cast(get(o), dt) for o, dt in zip(fg.outputs, out_dtypes)]


def _register_scalar_rules() -> None:
    import pytensor.scalar.basic as ps
    import pytensor.scalar.math as psm

    def reg(mod, name, rule):
        cls = getattr(mod, name, None)
        if cls is not None:
            _SCALAR_RULES[cls] = rule

    binops = {"Add": ("+", P_ADD), "Sub": ("-", P_ADD), "Mul": ("*", P_MUL),
              "TrueDiv": ("/", P_MUL), "IntDiv": ("//", P_MUL), "Mod": ("%", P_MUL),
              "EQ": ("==", P_CMP), "NEQ": ("!=", P_CMP), "LT": ("<", P_CMP),
              "GT": (">", P_CMP), "LE": ("<=", P_CMP), "GE": (">=", P_CMP),
              "AND": ("&", P_BAND), "OR": ("|", P_BOR), "XOR": ("^", P_BXOR)}
    for name, (sym, prec) in binops.items():
        reg(ps, name, _tmpl_rule(lambda n, sym=sym, prec=prec: _binop(sym, prec, n)))
    reg(ps, "Neg", _tmpl_rule(_unop("-")))
    reg(ps, "Pow", _tmpl_rule(_POW))
    ufuncs = {"Abs": "abs", "Sign": "sign", "Floor": "floor", "Ceil": "ceil", "Trunc": "trunc",
              "RoundHalfToEven": "round", "Sqrt": "sqrt", "Exp": "exp", "Exp2": "exp2",
              "Expm1": "expm1", "Log": "log", "Log2": "log2", "Log10": "log10",
              "Log1p": "log1p", "Sin": "sin", "Cos": "cos", "Tan": "tan", "ArcSin": "arcsin",
              "ArcCos": "arccos", "ArcTan": "arctan", "ArcTan2": "arctan2", "Sinh": "sinh",
              "Cosh": "cosh", "Tanh": "tanh", "ArcSinh": "arcsinh", "ArcCosh": "arccosh",
              "ArcTanh": "arctanh", "Deg2Rad": "deg2rad", "Rad2Deg": "rad2deg",
              "Maximum": "maximum", "Minimum": "minimum", "IsNan": "isnan", "IsInf": "isinf",
              "Conj": "conj", "Real": "real", "Imag": "imag", "Angle": "angle"}
    for name, fn in ufuncs.items():
        cls = getattr(ps, name, None)
        if cls is not None:
            _SCALAR_RULES[cls] = _tmpl_rule(lambda n, fn=fn: _fn(f"np.{fn}", n))
    for name, rule in {"Identity": _rule_identity, "Second": _rule_second, "Cast": _rule_cast,
                       "Invert": _rule_invert, "Switch": _rule_switch, "Sqr": _rule_sqr,
                       "Reciprocal": _rule_reciprocal, "Clip": _rule_clip,
                       "RoundHalfAwayFromZero": _rule_round_half_away,
                       "Complex": _rule_complex, "ComplexFromPolar": _rule_complex_from_polar,
                       "Composite": _rule_composite}.items():
        reg(ps, name, rule)
    # Special functions without a numpy equivalent come from scipy.special.
    special = {"Erf": ("erf", 1), "Erfc": ("erfc", 1), "Erfcx": ("erfcx", 1),
               "Erfinv": ("erfinv", 1), "Erfcinv": ("erfcinv", 1), "Gamma": ("gamma", 1),
               "GammaLn": ("gammaln", 1), "Psi": ("psi", 1), "PolyGamma": ("polygamma", 2),
               "GammaInc": ("gammainc", 2), "GammaIncC": ("gammaincc", 2),
               "GammaIncInv": ("gammaincinv", 2), "GammaIncCInv": ("gammainccinv", 2),
               "Jv": ("jv", 2), "J0": ("j0", 1), "J1": ("j1", 1), "I0": ("i0", 1),
               "I1": ("i1", 1), "Ive": ("ive", 2), "Kve": ("kve", 2),
               "BetaInc": ("betainc", 3),
               "BetaIncInv": ("betaincinv", 3), "Hyp2F1": ("hyp2f1", 4),
               "Owens_t": ("owens_t", 2), "NdtriExp": ("ndtri_exp", 1)}
    for name, (fn, n) in special.items():
        reg(psm, name, _scipy_rule(fn, n))
    reg(psm, "TriGamma", _rule_trigamma)
    reg(psm, "Softplus", _rule_softplus)
    reg(psm, "Sigmoid", _rule_sigmoid)
    reg(psm, "Log1mexp", _rule_log1mexp)
    try:
        from pytensor.tensor.math import MulWithoutZeros

        _SCALAR_RULES[MulWithoutZeros] = _rule_mul_without_zeros
    except ImportError:  # pragma: no cover
        pass


# ---------------------------------------------------------------------------
# Op rules
# ---------------------------------------------------------------------------


def _static_shape(var):
    return getattr(var.type, "shape", ())


def _rule_elemwise(g, node):
    op = node.op
    args = [g.elemwise_arg(v, i) for i, v in enumerate(node.inputs)]
    out_dtypes = [o.type.dtype for o in node.outputs]
    mark = g.checkpoint()
    outs = g.scalar(op.scalar_op, args, out_dtypes)
    plans = [_broadcast_plan(node, e) for e in outs]
    needed = {i for plan in plans if plan for i in plan if i is not None}
    if any(not (args[i].is_name or args[i].is_literal) for i in needed):
        # the shape sources are needed twice: name them, then render again
        g.restore(mark)
        args = [g.atom(a).replace(srcs=a.srcs) if i in needed else a
                for i, a in enumerate(args)]
        outs = g.scalar(op.scalar_op, args, out_dtypes)
    return [_broadcast(node, out, e, plan, args)
            for out, e, plan in zip(node.outputs, outs, plans)]


def _broadcast_plan(node, e: _Expr):
    """An Elemwise output has the broadcast shape of *all* inputs, but its numpy
    expression only broadcasts the inputs it references (``fill(x, y)`` drops
    ``x``).  If some unreferenced input can set a dim, return for each output
    dim the input to take its length from (None: length 1); else None."""
    ndim = node.outputs[0].type.ndim
    if ndim == 0:
        return None
    shapes = [_static_shape(v) for v in node.inputs]
    refs = sorted(e.srcs)
    plan, fix = [], not refs
    for d in range(ndim):
        covered = next((i for i in refs if shapes[i][d] != 1), None)
        forced = next((i for i in range(len(shapes)) if shapes[i][d] != 1), None)
        if covered is None and forced is not None:
            fix = True
        plan.append(covered if covered is not None else forced)
    return plan if fix else None


def _broadcast(node, out, e: _Expr, plan, args) -> _Expr:
    if plan is None:
        return e if out.type.ndim else e.replace(srcs=frozenset())
    dims = [f"{args[i].wrap(P_ATOM)}.shape[{d}]" if i is not None else "1"
            for d, i in enumerate(plan)]
    names = e.names.union(*[args[i].names for i in plan if i is not None])
    dt = out.type.dtype
    if not e.names:  # a constant, e.g. zeros_like(x): a new array
        kw = "" if np.dtype(dt) == np.float64 else f", dtype={_dtype_name(dt)}"
        return _Expr(f"np.full({_shape_tuple(dims)}, {e.text}{kw})", names=names,
                     dtype=np.dtype(dt), fresh=True)
    val = _strong(e, dt)
    return val.replace(text=f"np.broadcast_to({val.text}, {_shape_tuple(dims)})", prec=P_ATOM,
                       names=names, fresh=False, srcs=frozenset())


def _rule_scalar_node(g, node):
    """A bare scalar op applied to ScalarType values (index arithmetic)."""
    args = [g.expr(v) for v in node.inputs]
    return g.scalar(node.op, args, [o.type.dtype for o in node.outputs])


def _passthrough(g, node):
    var = node.inputs[0]
    e = g.expr(var)
    return [e.replace(fresh=e.fresh and g.uses[var] == 1)]


def _rule_deep_copy(g, node):
    e = g.expr(node.inputs[0])
    if e.weak:
        return [e]
    return [e.replace(text=f"{e.wrap(P_ATOM)}.copy()", prec=P_ATOM, fresh=True)]


def _rule_c_contiguous(g, node):
    e = g.expr(node.inputs[0])
    return [e.replace(text=f"np.ascontiguousarray({e.text})", prec=P_ATOM, fresh=False)]


def _rule_check_and_raise(g, node):
    op = node.op
    val, *conds = node.inputs
    cond_exprs = [g.expr(c) for c in conds]
    exc = op.exc_type
    exc_name = exc.__name__ if getattr(builtins, exc.__name__, None) is exc else \
        g.global_name(exc.__name__, exc)
    if len(cond_exprs) == 1:
        test = f"not {cond_exprs[0].text}"
    else:
        test = "not (" + " and ".join(c.wrap(P_CMP) for c in cond_exprs) + ")"
    names = frozenset().union(*[c.names for c in cond_exprs]) if cond_exprs else frozenset()
    if cond_exprs:
        g.emit(f"if {test}:\n    raise {exc_name}({op.msg!r})", (), names, effect=True)
    e = g.expr(val)
    return [e.replace(fresh=e.fresh and g.uses[val] == 1)]


def _shape_tuple(items: Sequence[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _shape_arg(g, var) -> _Expr:
    """A shape vector as something numpy accepts as a shape (a tuple if known)."""
    from pytensor.graph.basic import Constant
    from pytensor.tensor.basic import MakeVector
    from pytensor.tensor.shape import Shape

    if isinstance(var, Constant):
        return _Expr(_shape_tuple([str(int(s)) for s in np.asarray(var.data).ravel()]))
    owner = var.owner
    if owner is not None and isinstance(owner.op, MakeVector):
        items = [g.expr(v) for v in owner.inputs]
        return _Expr(_shape_tuple([i.text for i in items]),
                     names=frozenset().union(*[i.names for i in items]) if items else ())
    if owner is not None and isinstance(owner.op, Shape) and owner.inputs[0] in g.env:
        x = g.expr(owner.inputs[0])
        return _Expr(f"{x.wrap(P_ATOM)}.shape" if not x.weak else "()", names=x.names)
    return g.expr(var)


def _dims_arg(g, vars_) -> _Expr:
    items = [g.expr(v) for v in vars_]
    return _Expr(_shape_tuple([i.text for i in items]),
                 names=frozenset().union(*[i.names for i in items]) if items else ())


def _rule_shape(g, node):
    x = g.expr(node.inputs[0])
    if x.weak:
        return [_Expr("np.zeros(0, dtype=np.int64)", dtype=np.dtype("int64"), fresh=True)]
    return [_Expr(f"np.array({x.wrap(P_ATOM)}.shape)", names=x.names, dtype=np.dtype("int64"),
                  fresh=True)]


def _rule_shape_i(g, node):
    x = g.expr(node.inputs[0])
    # a Python int: numpy treats it as a weak int64
    return [_Expr(f"{x.wrap(P_ATOM)}.shape[{node.op.i}]", names=x.names, dtype=int)]


def _rule_make_vector(g, node):
    items = [g.expr(v) for v in node.inputs]
    dt = node.outputs[0].type.dtype
    names = frozenset().union(*[i.names for i in items]) if items else frozenset()
    text = f"np.array([{', '.join(i.text for i in items)}], dtype={_dtype_name(dt)})"
    return [_Expr(text, names=names, dtype=np.dtype(dt), fresh=True)]


def _rule_reshape(g, node):
    x, shp = node.inputs
    xe, se = g.expr(x), _shape_arg(g, shp)
    if xe.weak:
        xe = _strong(xe, x.type.dtype)
    text = f"{xe.wrap(P_ATOM)}.reshape({se.text})"
    return [_Expr(text, names=xe.names | se.names, dtype=xe.dtype)]


def _rule_dimshuffle(g, node):
    """Drop broadcastable dims (``squeeze``), transpose (``.T``/``transpose``),
    then add new axes by indexing with ``None``."""
    op = node.op
    x = g.expr(node.inputs[0])
    in_ndim = node.inputs[0].type.ndim
    order = list(op.new_order)
    if x.weak:
        xe = _strong(x, node.inputs[0].type.dtype)
        if not order:
            return [xe]
        shape = _shape_tuple(["1"] * len(order))
        return [xe.replace(text=f"np.reshape({xe.text}, {shape})", fresh=False)]
    kept = [d for d in order if d != "x"]
    dropped = [d for d in range(in_ndim) if d not in kept]
    cur = x.wrap(P_ATOM)
    if dropped:
        axes = dropped[0] if len(dropped) == 1 else tuple(dropped)
        cur = f"{cur}.squeeze({axes})"
    remaining = [d for d in range(in_ndim) if d not in dropped]
    perm = [remaining.index(d) for d in kept]
    if perm != sorted(perm):
        cur = f"{cur}.T" if len(perm) == 2 else f"{cur}.transpose({', '.join(map(str, perm))})"
    if "x" in order:
        items = ["None" if d == "x" else ":" for d in order]
        while items[-1] == ":":
            items.pop()
        cur = f"{cur}[{', '.join(items)}]"
    return [x.replace(text=cur, prec=P_ATOM, fresh=False)]


def _axis_text(axis) -> str:
    if axis is None:
        return ""
    axis = tuple(axis)
    return f"axis={axis[0]}" if len(axis) == 1 else f"axis={axis}"


_REDUCE_METHODS = {"Add": "sum", "Mul": "prod", "Maximum": "max", "Minimum": "min",
                   "AND": "all", "OR": "any"}
_REDUCE_UFUNCS = {"XOR": "np.bitwise_xor", "Add": "np.add", "Mul": "np.multiply",
                  "Maximum": "np.maximum", "Minimum": "np.minimum", "AND": "np.bitwise_and",
                  "OR": "np.bitwise_or"}


def _rule_careduce(g, node):
    op = node.op
    (x,) = node.inputs
    src = _strong(g.expr(x), x.type.dtype)
    out_dt = np.dtype(node.outputs[0].type.dtype)
    scalar_name = type(op.scalar_op).__name__
    axis = op.axis
    if axis is not None and len(axis) == x.type.ndim:
        axis = None
    if axis is not None and len(axis) == 0:
        return [_cast(src.replace(fresh=False), out_dt)]
    acc = np.dtype(op.acc_dtype) if getattr(op, "acc_dtype", None) else out_dt
    if type(op).__name__ == "ProdWithoutZeros":
        src = g.atom(src)
        src = src.replace(text=f"np.where({src.text} == 0, 1, {src.text})", fresh=True)
    method = _REDUCE_METHODS.get(scalar_name)
    ufunc = _REDUCE_UFUNCS.get(scalar_name)
    if method is None and ufunc is None:
        raise _NoForm(f"reduction with {op.scalar_op}")
    # numpy's result dtype without a dtype= argument (it does not depend on axis)
    probe_fmt = f"{{0}}.{method}()" if method else f"{ufunc}.reduce({{0}}, axis=None)"
    res_dt = _probe(probe_fmt, [src])
    kwargs = [_axis_text(axis)] if axis is not None else []
    if scalar_name in ("Add", "Mul") and (res_dt is None or _np_dtype(res_dt) != acc):
        kwargs.append(f"dtype={_dtype_name(acc)}")  # accumulate like PyTensor
        res_dt = acc
    if res_dt is None:
        raise _NoForm(f"reduction with {op.scalar_op} of {x.type.dtype}")
    if getattr(op, "initial", False) and hasattr(op, "initial_value"):
        kwargs.append(f"initial={_literal(op.initial_value(x.type.dtype), x.type.dtype).text}")
    if method is not None:
        text = f"{src.wrap(P_ATOM)}.{method}({', '.join(kwargs)})"
    else:  # ufunc.reduce defaults to axis=0, so always spell the axis
        kwargs = kwargs if axis is not None else ["axis=None", *kwargs]
        text = f"{ufunc}.reduce({src.text}, {', '.join(kwargs)})"
    return [_cast(_Expr(text, names=src.names, dtype=_np_dtype(res_dt), fresh=True), out_dt)]


def _rule_argmax(g, node):
    (x,) = node.inputs
    xe = _strong(g.expr(x), x.type.dtype)
    axis = node.op.axis
    ndim = x.type.ndim
    if axis is None or len(axis) == ndim:
        text = f"np.argmax({xe.text})"
    elif len(axis) == 1:
        text = f"np.argmax({xe.text}, axis={axis[0]})"
    else:
        keep = [d for d in range(ndim) if d not in axis]
        xt = g.atom(xe.replace(text=f"{xe.wrap(P_ATOM)}.transpose({', '.join(map(str, keep + list(axis)))})"))
        shape = ", ".join(f"{xt.text}.shape[{i}]" for i in range(len(keep)))
        text = f"np.argmax({xt.text}.reshape({shape}, -1), axis=-1)"
        xe = xt
    return [_cast(_Expr(text, names=xe.names, dtype=np.dtype("int64"), fresh=True), "int64")]


def _index_tuple(g, node, idx_vars, idx_list, for_call=False):
    """Render the index of a (Inc)Subtensor: ``1:, i`` (or a tuple expression
    with ``slice(...)`` objects when ``for_call``)."""
    from pytensor.graph.basic import Constant

    items, names = [], set()

    def piece(var):
        if var is None:
            return None
        if isinstance(var, Constant) and getattr(var, "data", None) is None:
            return None
        e = g.expr(var)
        names.update(e.names)
        return e.text

    for entry in idx_list:
        if isinstance(entry, slice):
            start, stop, step = (piece(idx_vars[p]) if isinstance(p, int) else None
                                 for p in (entry.start, entry.stop, entry.step))
            if for_call:
                items.append(f"slice({start}, {stop}, {step})" if step is not None else
                             f"slice({start}, {stop})")
            else:
                s = f"{start or ''}:{stop or ''}"
                if step is not None:
                    s += f":{step}"
                items.append(s)
        else:
            items.append(piece(idx_vars[entry]))
    if for_call:
        return (items[0] if len(items) == 1 else _shape_tuple(items)), names
    return (", ".join(items) if items else "()"), names


def _idx_list(op, n_idx):
    idx_list = getattr(op, "idx_list", None)
    if idx_list is None:  # AdvancedSubtensor1 / AdvancedIncSubtensor1
        idx_list = tuple(range(n_idx))
    return idx_list


def _rule_subtensor(g, node):
    x, *idx = node.inputs
    xe = _strong(g.expr(x), x.type.dtype)
    index, names = _index_tuple(g, node, idx, _idx_list(node.op, len(idx)))
    advanced = any(getattr(v.type, "ndim", 0) > 0 for v in idx)
    return [_Expr(f"{xe.wrap(P_ATOM)}[{index}]", names=xe.names | names,
                  dtype=np.dtype(x.type.dtype), fresh=advanced)]


def _unique_rows(idx_vars) -> bool:
    """True if the advanced indices provably select distinct positions: boolean
    masks, or 1-d indices one of which is an ``arange`` or a constant without
    repeats."""
    from pytensor.tensor.basic import ARange

    from pytensor.graph.basic import Constant

    arrays = [v for v in idx_vars if getattr(v.type, "ndim", 0) > 0]
    if arrays and all(v.type.dtype == "bool" for v in arrays):
        return True  # boolean masks select each position at most once
    if not arrays or any(v.type.ndim != 1 for v in arrays):
        return False
    for v in arrays:
        # Distinct values are distinct positions only without mixed signs: with
        # length 2, -1 and 1 name the same element.
        if isinstance(v, Constant) and len(np.unique(v.data)) == len(v.data) and \
                (np.all(v.data >= 0) or np.all(v.data < 0)):
            return True
        if v.owner is not None and isinstance(v.owner.op, ARange):
            start, step = (getattr(i, "data", None) for i in (v.owner.inputs[0], v.owner.inputs[2]))
            if start is not None and step is not None and np.all(np.asarray(start) >= 0) \
                    and np.all(np.asarray(step) > 0):
                return True
    return False


def _rule_inc_subtensor(g, node):
    op = node.op
    x, y, *idx = node.inputs
    out = node.outputs[0]
    idx_list = _idx_list(op, len(idx))
    advanced = any(getattr(v.type, "ndim", 0) > 0 for v in idx)
    ye = g.expr(y)
    buf = g.writable(x, g.expr(x), out)
    index, names = _index_tuple(g, node, idx, idx_list)
    uses = buf.names | ye.names | names
    if op.set_instead_of_inc:
        g.emit(f"{buf.text}[{index}] = {ye.text}", {buf.text}, uses)
    elif not advanced or getattr(op, "ignore_duplicates", False) or _unique_rows(idx):
        g.emit(f"{buf.text}[{index}] += {ye.text}", {buf.text}, uses)
    else:
        # repeated indices accumulate, exactly like PyTensor
        cidx, _ = _index_tuple(g, node, idx, idx_list, for_call=True)
        g.emit(f"np.add.at({buf.text}, {cidx}, {ye.text})", {buf.text}, uses)
    return [buf.replace(fresh=True)]


def _rule_alloc(g, node):
    from pytensor.graph.basic import Constant

    val, *shape = node.inputs
    out_dt = np.dtype(node.outputs[0].type.dtype)
    dims = _dims_arg(g, shape)
    dt_kw = "" if out_dt == np.float64 else f", dtype={_dtype_name(out_dt)}"
    data = np.asarray(val.data) if isinstance(val, Constant) else None
    # one value, to the bit: np.full(n, -0.0) keeps the sign of its zeros
    if (data is not None and data.size > 0 and np.all(data == data.flat[0])
            and (data.dtype.kind != "f" or np.all(np.signbit(data) == np.signbit(data.flat[0])))):
        v = data.flat[0]
        if v == 0 and out_dt.kind != "c" and not (data.dtype.kind == "f" and np.signbit(v)):
            return [_Expr(f"np.zeros({dims.text}{dt_kw})", names=dims.names, dtype=out_dt,
                          fresh=True)]
        if v == 1 and out_dt.kind != "c":
            return [_Expr(f"np.ones({dims.text}{dt_kw})", names=dims.names, dtype=out_dt,
                          fresh=True)]
        lit = _literal(v, out_dt)
        return [_Expr(f"np.full({dims.text}, {lit.text}{dt_kw})", names=dims.names,
                      dtype=out_dt, fresh=True)]
    ve = g.expr(val)
    kw = "" if (not ve.weak and ve.dtype == out_dt) else f", dtype={_dtype_name(out_dt)}"
    return [_Expr(f"np.full({dims.text}, {ve.text}{kw})", names=dims.names | ve.names,
                  dtype=out_dt, fresh=True)]


def _rule_alloc_empty(g, node):
    out_dt = np.dtype(node.outputs[0].type.dtype)
    dims = _dims_arg(g, node.inputs)
    dt_kw = "" if out_dt == np.float64 else f", dtype={_dtype_name(out_dt)}"
    return [_Expr(f"np.empty({dims.text}{dt_kw})", names=dims.names, dtype=out_dt, fresh=True)]


def _const_int(var):
    data = getattr(var, "data", None)
    if data is None:
        return None
    return int(np.asarray(data))


def _rule_join(g, node):
    op = node.op
    names = frozenset()
    if hasattr(op, "axis"):  # pytensor >= 3.3: the axis is a property
        axis, tensors = op.axis, node.inputs
    else:
        axis_var, *tensors = node.inputs
        axis = _const_int(axis_var)
        if axis is None:
            ae = g.expr(axis_var)
            axis, names = ae.text, ae.names
    out_dt = np.dtype(node.outputs[0].type.dtype)
    items = [_strong(g.expr(t), t.type.dtype) for t in tensors]
    names = names.union(*[i.names for i in items])
    kw = "" if all(i.dtype == out_dt for i in items) else f", dtype={_dtype_name(out_dt)}"
    text = f"np.concatenate([{', '.join(i.text for i in items)}], axis={axis}{kw})"
    return [_Expr(text, names=names, dtype=out_dt, fresh=True)]


def _rule_split(g, node):
    op = node.op
    if hasattr(op, "axis"):
        x, splits = node.inputs
        axis = op.axis
    else:
        x, axis_var, splits = node.inputs
        axis = _const_int(axis_var)
        if axis is None:
            raise _NoForm("symbolic split axis")
    xe = _strong(g.expr(x), x.type.dtype)
    data = getattr(splits, "data", None)
    if data is not None:
        cuts = np.cumsum(np.asarray(data))[:-1].tolist()
        cut_text, names = repr(cuts), frozenset()
    else:
        se = g.atom(g.expr(splits))
        cut_text, names = f"np.cumsum({se.text}[:-1])", se.names
    outs = [g.temp_name() for _ in node.outputs]
    lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
    g.emit(f"{lhs} = np.split({xe.text}, {cut_text}, axis={axis})", outs, xe.names | names)
    return [_Expr(n, names={n}, dtype=np.dtype(x.type.dtype)) for n in outs]


def _rule_arange(g, node):
    start, stop, step = (g.expr(v) for v in node.inputs)
    out_dt = np.dtype(node.outputs[0].type.dtype)
    args = []
    if not (start.is_literal and start.value == 0 and step.is_literal and step.value == 1):
        args.append(start.text)
    args.append(stop.text)
    if not (step.is_literal and step.value == 1):
        args.append(step.text)
    all_int = all(e.dtype is int or (not e.weak and e.dtype == np.int64)
                  for e in (start, stop, step))
    if not (out_dt == np.int64 and all_int):
        args.append(f"dtype={_dtype_name(out_dt)}")
    names = start.names | stop.names | step.names
    return [_Expr(f"np.arange({', '.join(args)})", names=names, dtype=out_dt, fresh=True)]


def _rule_eye(g, node):
    n, m, k = (g.expr(v) for v in node.inputs)
    out_dt = np.dtype(node.outputs[0].type.dtype)
    args = [n.text]
    if m.text != n.text or not (k.is_literal and k.value == 0):
        args.append(m.text)
    if not (k.is_literal and k.value == 0):
        args.append(f"k={k.text}")
    if out_dt != np.float64:
        args.append(f"dtype={_dtype_name(out_dt)}")
    return [_Expr(f"np.eye({', '.join(args)})", names=n.names | m.names | k.names,
                  dtype=out_dt, fresh=True)]


def _matmul_expr(g, a_var, b_var, out_dt) -> _Expr:
    a = _strong(g.expr(a_var), a_var.type.dtype)
    b = _strong(g.expr(b_var), b_var.type.dtype)
    e = _apply(_binop("@", P_MUL), [a, b], out_dt)
    return g.cse_lookup(e) or e  # e.g. a Gemm reusing a product computed by a Dot22


def _rule_dot(g, node):
    return [_matmul_expr(g, *node.inputs, node.outputs[0].type.dtype)]


def _scaled(alpha: _Expr, term: _Expr, dtype) -> _Expr:
    if alpha.is_literal and alpha.value == 1:
        return term
    if alpha.is_literal and alpha.value == -1:
        return _apply(_unop("-"), [term], dtype)
    return _apply(_binop("*", P_MUL), [alpha, term], dtype)


def _rule_dot22scalar(g, node):
    x, y, a = node.inputs
    dt = node.outputs[0].type.dtype
    return [_scaled(g.elemwise_arg(a, -1), _matmul_expr(g, x, y, dt), dt)]


def _axpby(g, node, z_var, a_var, prod: _Expr, b_var):
    """``b * z + a * prod`` with the usual simplifications; ``b == 0`` ignores z
    entirely (BLAS semantics: z may be uninitialized memory)."""
    dt = node.outputs[0].type.dtype
    a = g.elemwise_arg(a_var, -1)
    b = g.elemwise_arg(b_var, -1)
    term = _scaled(a, prod, dt)
    if b.is_literal and b.value == 0:
        return term
    z = _scaled(b, _strong(g.expr(z_var), z_var.type.dtype), dt)
    return _apply(_binop("+", P_ADD), [z, term], dt)


def _rule_gemm(g, node):
    z, a, x, y, b = node.inputs
    return [_axpby(g, node, z, a, _matmul_expr(g, x, y, node.outputs[0].type.dtype), b)]


def _rule_gemv(g, node):
    y, alpha, A, x, beta = node.inputs
    return [_axpby(g, node, y, alpha, _matmul_expr(g, A, x, node.outputs[0].type.dtype), beta)]


def _rule_ger(g, node):
    A, alpha, x, y = node.inputs
    dt = node.outputs[0].type.dtype
    xe, ye = (_strong(g.expr(v), v.type.dtype) for v in (x, y))
    outer = _apply(_fn("np.outer", 2), [xe, ye], dt)
    term = _scaled(g.elemwise_arg(alpha, -1), outer, dt)
    return [_apply(_binop("+", P_ADD), [_strong(g.expr(A), A.type.dtype), term], dt)]


def _rule_cumop(g, node):
    (x,) = node.inputs
    xe = _strong(g.expr(x), x.type.dtype)
    fn = "np.cumsum" if node.op.mode == "add" else "np.cumprod"
    axis = node.op.axis
    text = f"{fn}({xe.text})" if axis is None else f"{fn}({xe.text}, axis={axis})"
    return [_cast(_Expr(text, names=xe.names, dtype=_probe(f"{fn}({{0}})", [xe]), fresh=True),
                  node.outputs[0].type.dtype)]


def _rule_repeat(g, node):
    x, reps = node.inputs
    xe, re_ = _strong(g.expr(x), x.type.dtype), g.expr(reps)
    text = f"np.repeat({xe.text}, {re_.text}, axis={node.op.axis})"
    return [_Expr(text, names=xe.names | re_.names, dtype=xe.dtype, fresh=True)]


def _sort_axis(g, node):
    if hasattr(node.op, "axis"):
        return node.op.axis, node.inputs[0]
    x, axis_var = node.inputs
    if getattr(axis_var, "data", 0) is None:
        return None, x
    ax = _const_int(axis_var)
    if ax is None:
        raise _NoForm("symbolic sort axis")
    return ax, x


def _rule_sort(g, node, fn="np.sort"):
    axis, x = _sort_axis(g, node)
    xe = _strong(g.expr(x), x.type.dtype)
    kind = node.op.kind
    args = [xe.text, f"axis={axis}"]
    if kind != "quicksort":
        args.append(f"kind={kind!r}")
    return [_cast(_Expr(f"{fn}({', '.join(args)})", names=xe.names,
                        dtype=xe.dtype if fn == "np.sort" else np.dtype(np.intp), fresh=True),
                  node.outputs[0].type.dtype)]


def _rule_argsort(g, node):
    return _rule_sort(g, node, "np.argsort")


def _rule_extract_diag(g, node):
    op = node.op
    xe = _strong(g.expr(node.inputs[0]), node.inputs[0].type.dtype)
    args = [xe.text]
    if (op.offset, op.axis1, op.axis2) != (0, 0, 1):
        args += [str(op.offset), str(op.axis1), str(op.axis2)]
    # np.diagonal returns a read-only view
    return [_Expr(f"np.diagonal({', '.join(args)})", names=xe.names, dtype=xe.dtype)]


def _rule_nonzero(g, node):
    xe = _strong(g.expr(node.inputs[0]), node.inputs[0].type.dtype)
    outs = [g.temp_name() for _ in node.outputs]
    lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
    g.emit(f"{lhs} = np.nonzero({xe.text})", outs, xe.names)
    return [_Expr(n, names={n}, dtype=np.dtype(np.intp)) for n in outs]


def _rule_searchsorted(g, node):
    args = [_strong(g.expr(v), v.type.dtype) for v in node.inputs]
    text = f"np.searchsorted({args[0].text}, {args[1].text}, side={node.op.side!r}"
    if len(args) == 3:
        text += f", sorter={args[2].text}"
    names = frozenset().union(*[a.names for a in args])
    return [_cast(_Expr(text + ")", names=names, dtype=np.dtype(np.intp), fresh=True),
                  node.outputs[0].type.dtype)]


def _rule_join_dims(g, node):
    op = node.op
    xe = g.atom(_strong(g.expr(node.inputs[0]), node.inputs[0].type.dtype))
    s, n = op.start_axis, op.n_axes
    text = (f"{xe.text}.reshape({xe.text}.shape[:{s}] + (-1,) + "
            f"{xe.text}.shape[{s + n}:])")
    return [xe.replace(text=text, fresh=False)]


def _rule_split_dims(g, node):
    x, shape = node.inputs
    xe = g.atom(_strong(g.expr(x), x.type.dtype))
    se = _shape_arg(g, shape)
    a = node.op.axis
    stext = se.text if se.text.startswith("(") else f"tuple({se.text})"
    text = f"{xe.text}.reshape({xe.text}.shape[:{a}] + {stext} + {xe.text}.shape[{a + 1}:])"
    return [xe.replace(text=text, names=xe.names | se.names, fresh=False)]


# -- linear algebra ----------------------------------------------------------

_SOLVE_HELPER = '''def solve(a, b, assume_a="gen", lower=False):
    """scipy.linalg.solve, NaN-filled (like PyTensor) if `a` is singular."""
    try:
        return scipy.linalg.solve(a, b, assume_a=assume_a, lower=lower, check_finite=False)
    except np.linalg.LinAlgError:
        return np.full(np.shape(b), np.nan)'''

_SOLVE_TRI_HELPER = '''def solve_triangular(a, b, lower=False, unit_diagonal=False):
    """scipy.linalg.solve_triangular, NaN-filled (like PyTensor) if `a` is singular."""
    try:
        return scipy.linalg.solve_triangular(
            a, b, lower=lower, unit_diagonal=unit_diagonal, check_finite=False
        )
    except np.linalg.LinAlgError:
        return np.full(np.shape(b), np.nan)'''

_CHOLESKY_HELPER = '''def cholesky(a, lower=True):
    """Cholesky factor, NaN-filled (like PyTensor) if `a` is not positive definite."""
    try:
        return scipy.linalg.cholesky(a, lower=lower, check_finite=False)
    except np.linalg.LinAlgError:
        return np.full_like(a, np.nan)'''


_PIVOTS_HELPER = '''def pivots_to_permutation(pivots, inverse=False):
    """The row permutation done by LAPACK's sequence of row swaps `pivots`."""
    p_inv = np.arange(len(pivots))
    for i, j in enumerate(pivots):
        p_inv[i], p_inv[j] = p_inv[j], p_inv[i]
    return p_inv if inverse else np.argsort(p_inv)'''


def _core_op(node):
    """The op whose parameters a linalg rule reads (also for Blockwise nodes)."""
    return getattr(node.op, "core_op", node.op)


def _linalg_call(g, node, call: str):
    """Emit ``call`` (with ``{0}``... for the inputs) and cast the outputs to
    PyTensor's dtypes."""
    args = [_strong(g.expr(v), v.type.dtype) for v in node.inputs]
    names = frozenset().union(*[a.names for a in args]) if args else frozenset()
    text = call.format(*[a.text for a in args])
    outs = node.outputs
    if len(outs) == 1:
        e = _Expr(text, names=names, dtype=None, fresh=True)
        return [_cast_unknown(e, outs[0].type.dtype)]
    tmp = [g.temp_name() for _ in outs]
    g.emit(f"{', '.join(tmp)} = {text}", tmp, names)
    return [_cast_unknown(_Expr(n, names={n}), o.type.dtype) for n, o in zip(tmp, outs)]


def _cast_unknown(e: _Expr, dtype) -> _Expr:
    """Cast a value whose numpy dtype we did not track (``copy=False``: a no-op
    when it already has the right dtype)."""
    if e.dtype is not None:
        return _cast(e, dtype)
    return e.replace(text=f"{e.wrap(P_ATOM)}.astype({_dtype_name(dtype)}, copy=False)",
                     prec=P_ATOM, dtype=np.dtype(dtype))


def _rule_inv(g, node):
    return _linalg_call(g, node, "np.linalg.inv({0})")


def _rule_det(g, node):
    return _linalg_call(g, node, "np.linalg.det({0})")


def _rule_slogdet(g, node):
    return _linalg_call(g, node, "np.linalg.slogdet({0})")


def _rule_eig(g, node):
    return _linalg_call(g, node, "np.linalg.eig({0})")


def _rule_eigh(g, node):
    op = _core_op(node)
    g.need("scipy.linalg")
    extra = f", lower={op.lower}"
    if len(node.inputs) == 1:
        driver = getattr(op, "driver", None)
        if driver:
            extra += f", driver={driver!r}"
        return _linalg_call(g, node, "scipy.linalg.eigh({0}" + extra + ")")
    return _linalg_call(g, node, "scipy.linalg.eigh({0}, {1}" + extra + ")")


def _rule_eigvalsh(g, node):
    g.need("scipy.linalg")
    extra = f", lower={_core_op(node).lower}"
    if len(node.inputs) == 1:
        return _linalg_call(g, node, "scipy.linalg.eigvalsh({0}" + extra + ")")
    return _linalg_call(g, node, "scipy.linalg.eigvalsh({0}, {1}" + extra + ")")


def _rule_svd(g, node):
    op = _core_op(node)
    return _linalg_call(g, node, f"np.linalg.svd({{0}}, full_matrices={op.full_matrices}, "
                                 f"compute_uv={op.compute_uv})")


def _rule_qr(g, node):
    op = _core_op(node)
    if op.mode == "raw":
        raise _NoForm("QR mode='raw'")
    g.need("scipy.linalg")
    piv = ", pivoting=True" if op.pivoting else ""
    first = "[0]" if op.mode == "r" and not op.pivoting else ""  # scipy returns (R,) for mode="r"
    return _linalg_call(g, node, f"scipy.linalg.qr({{0}}, mode={op.mode!r}{piv}){first}")


def _rule_cholesky(g, node):
    g.need("scipy.linalg")
    g.helper("cholesky", _CHOLESKY_HELPER)
    return _linalg_call(g, node, f"cholesky({{0}}, lower={_core_op(node).lower})")


def _rule_solve(g, node):
    op = _core_op(node)
    if op.assume_a not in ("gen", "sym", "her", "pos"):
        raise _NoForm(f"Solve assume_a={op.assume_a}")
    g.need("scipy.linalg")
    g.helper("solve", _SOLVE_HELPER)
    args = "{0}, {1}"
    if op.assume_a != "gen":
        args += f", assume_a={op.assume_a!r}"
    if op.lower:
        args += ", lower=True"
    return _linalg_call(g, node, f"solve({args})")


def _rule_solve_triangular(g, node):
    op = _core_op(node)
    g.need("scipy.linalg")
    g.helper("solve_triangular", _SOLVE_TRI_HELPER)
    args = "{0}, {1}" + f", lower={op.lower}"
    if op.unit_diagonal:
        args += ", unit_diagonal=True"
    return _linalg_call(g, node, f"solve_triangular({args})")


def _rule_cholesky_solve(g, node):
    g.need("scipy.linalg")
    return _linalg_call(g, node, f"scipy.linalg.cho_solve(({{0}}, {_core_op(node).lower}), {{1}}, "
                                 f"check_finite=False)")


def _rule_pinv(g, node):
    herm = ", hermitian=True" if _core_op(node).hermitian else ""
    return _linalg_call(g, node, f"np.linalg.pinv({{0}}{herm})")


def _rule_lu_factor(g, node):
    g.need("scipy.linalg")
    return _linalg_call(g, node, "scipy.linalg.lu_factor({0}, check_finite=False)")


def _rule_pivots_to_permutation(g, node):
    g.helper("pivots_to_permutation", _PIVOTS_HELPER)
    inv = ", inverse=True" if _core_op(node).inverse else ""
    return _linalg_call(g, node, f"pivots_to_permutation({{0}}{inv})")


def _rule_expm(g, node):
    g.need("scipy.linalg")
    return _linalg_call(g, node, "scipy.linalg.expm({0})")


def _rule_tensorinv(g, node):
    return _linalg_call(g, node, f"np.linalg.tensorinv({{0}}, ind={_core_op(node).ind})")


def _rule_tensorsolve(g, node):
    axes = _core_op(node).axes
    return _linalg_call(g, node, "np.linalg.tensorsolve({0}, {1}" +
                        (f", axes={tuple(axes)!r})" if axes is not None else ")"))


# Core ops whose numpy function already broadcasts over leading (batch) dims.
_NATIVE_BATCHED = ("MatrixInverse", "Det", "SLogDet", "Eig", "SVD", "MatrixPinv")


def _rule_blockwise(g, node):
    op = node.op
    core = op.core_op
    name = type(core).__name__
    if name in _NATIVE_BATCHED:
        rule = _lookup(_OP_RULES, core)
        return rule(g, node)
    if name in ("Dot", "Dot22") and all(len(s) == 2 for s in op.inputs_sig):
        return [_matmul_expr(g, *node.inputs, node.outputs[0].type.dtype)]
    # Generic: a helper function for the core op, vectorized with its signature.
    core_node, batched = _core_node(op, node)
    helper = _core_helper(g, core_node)
    args = [_strong(g.expr(v), v.type.dtype) for v in batched]
    names = frozenset().union(*[a.names for a in args]) if args else frozenset()
    otypes = ", ".join(_dtype_name(o.type.dtype) for o in node.outputs)
    in_sig, out_sig = op.signature.split("->")
    sigs = re.findall(r"\([^)]*\)", in_sig)
    sig = ",".join(sg for sg, v in zip(sigs, node.inputs) if v in batched) + "->" + out_sig
    call = (f"np.vectorize({helper}, signature={sig!r}, otypes=[{otypes}])"
            f"({', '.join(a.text for a in args)})")
    if len(node.outputs) == 1:
        return [_Expr(call, names=names, dtype=np.dtype(node.outputs[0].type.dtype), fresh=True)]
    tmp = [g.temp_name() for _ in node.outputs]
    g.emit(f"{', '.join(tmp)} = {call}", tmp, names)
    return [_Expr(n, names={n}, dtype=np.dtype(o.type.dtype)) for n, o in zip(tmp, node.outputs)]


def _core_node(op, node):
    """The core op applied to dummy core-shaped inputs; constant inputs (e.g. an
    axis) stay constants, folded into the helper.  Also returns the inputs
    that remain arguments."""
    import pytensor.tensor as pt
    from pytensor.graph.basic import Constant

    core_inputs, batched = [], []
    for inp, sig in zip(node.inputs, op.inputs_sig):
        core_ndim = len(sig)
        bdims = inp.type.ndim - core_ndim
        if isinstance(inp, Constant) and all(s == 1 for s in inp.type.shape[:bdims]):
            data = np.asarray(inp.data)
            core_inputs.append(pt.constant(data.reshape(data.shape[bdims:]), dtype=inp.type.dtype))
        else:
            core_inputs.append(pt.tensor(dtype=inp.type.dtype, shape=inp.type.shape[bdims:]))
            batched.append(inp)
    return op.core_op.make_node(*core_inputs), batched


def _core_helper(g, core_node) -> str:
    """Generate ``def <op>_core(...)`` computing one core node (for np.vectorize)."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.fg import FunctionGraph

    ins = [v for v in core_node.inputs if not isinstance(v, Constant)]
    fg = FunctionGraph(ins, core_node.outputs, clone=True)
    base = _sanitize(type(core_node.op).__name__.lower()) + "_core"
    fname = base
    k = 1
    while fname in g.helpers or fname in g.namespace:
        fname = f"{base}_{k}"
        k += 1
    sub = _Gen(g.fallback)
    # share module-level state; local names are kept unique module-wide too
    sub.namespace, sub.globals_taken, sub.taken = g.namespace, g.globals_taken, g.taken
    sub.imports, sub.helpers = g.imports, g.helpers
    src = sub.function_source(fg, fname, [f"a{i}" for i in range(len(ins))],
                              tuple_return=len(core_node.outputs) > 1)
    g.helpers[fname] = src
    g.globals_taken.add(fname)
    return fname


def _keepdims_kw(axis) -> str:
    return "keepdims=True" if axis is None else f"{_axis_text(axis)}, keepdims=True"


def _rule_softmax(g, node):
    # same formula as PyTensor's Softmax inner graph
    (x,) = node.inputs
    xe = g.atom(_strong(g.expr(x), x.type.dtype))
    kw = _keepdims_kw(node.op.axis)
    e = g.bind(_Expr(f"np.exp({xe.text} - {xe.text}.max({kw}))", names=xe.names,
                     dtype=xe.dtype, fresh=True))
    return [_Expr(f"{e.text} / {e.text}.sum({kw})", P_MUL, e.names, e.dtype, fresh=True)]


def _rule_log_softmax(g, node):
    (x,) = node.inputs
    xe = g.atom(_strong(g.expr(x), x.type.dtype))
    kw = _keepdims_kw(node.op.axis)
    s = g.bind(_Expr(f"{xe.text} - {xe.text}.max({kw})", P_ADD, xe.names, xe.dtype, fresh=True))
    return [_Expr(f"{s.text} - np.log(np.exp({s.text}).sum({kw}))", P_ADD, s.names, s.dtype,
                  fresh=True)]


def _rule_op_from_graph(g, node):
    """An OpFromGraph left in the graph: inline its body."""
    from pytensor.graph.traversal import io_toposort

    op = node.op
    ins, outs = list(op.inner_inputs), list(op.inner_outputs)
    for inner, outer in zip(ins, node.inputs):
        g.env[inner] = g.expr(outer)
    nodes = io_toposort(ins, outs)
    g.count_uses(nodes, outs)
    g.translate_nodes(nodes)
    return [g.expr(o) for o in outs]


def _register_op_rules() -> None:
    def reg(module: str, name: str, rule):
        # Newer PyTensor (3.x) keeps the linear-algebra ops in
        # ``pytensor.tensor.linalg`` and only re-exports them from
        # slinalg/nlinalg with a DeprecationWarning; older ones lack it.
        modules = [module]
        if module in ("pytensor.tensor.slinalg", "pytensor.tensor.nlinalg"):
            modules.insert(0, "pytensor.tensor.linalg")
        for modname in modules:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    mod = importlib.import_module(modname)
                except ImportError:
                    continue
                cls = getattr(mod, name, None)
            if isinstance(cls, type):
                _OP_RULES[cls] = rule
                return

    for mod, name, rule in [
        ("pytensor.tensor.elemwise", "Elemwise", _rule_elemwise),
        ("pytensor.tensor.elemwise", "DimShuffle", _rule_dimshuffle),
        ("pytensor.tensor.elemwise", "CAReduce", _rule_careduce),
        ("pytensor.scalar.basic", "ScalarOp", _rule_scalar_node),
        ("pytensor.tensor.math", "Argmax", _rule_argmax),
        ("pytensor.tensor.math", "Dot", _rule_dot),
        ("pytensor.tensor.basic", "ScalarFromTensor", _passthrough),
        ("pytensor.tensor.basic", "TensorFromScalar", _passthrough),
        ("pytensor.tensor.basic", "Alloc", _rule_alloc),
        ("pytensor.tensor.basic", "AllocEmpty", _rule_alloc_empty),
        ("pytensor.tensor.basic", "MakeVector", _rule_make_vector),
        ("pytensor.tensor.basic", "Join", _rule_join),
        ("pytensor.tensor.basic", "Split", _rule_split),
        ("pytensor.tensor.basic", "ARange", _rule_arange),
        ("pytensor.tensor.basic", "Eye", _rule_eye),
        ("pytensor.tensor.basic", "ExtractDiag", _rule_extract_diag),
        ("pytensor.tensor.basic", "Nonzero", _rule_nonzero),
        ("pytensor.tensor.shape", "Shape", _rule_shape),
        ("pytensor.tensor.shape", "Shape_i", _rule_shape_i),
        ("pytensor.tensor.shape", "Reshape", _rule_reshape),
        # SpecifyShape only asserts a shape PyTensor already relied on.
        ("pytensor.tensor.shape", "SpecifyShape", _passthrough),
        ("pytensor.tensor.reshape", "JoinDims", _rule_join_dims),
        ("pytensor.tensor.reshape", "SplitDims", _rule_split_dims),
        ("pytensor.tensor.subtensor", "Subtensor", _rule_subtensor),
        ("pytensor.tensor.subtensor", "AdvancedSubtensor", _rule_subtensor),
        ("pytensor.tensor.subtensor", "AdvancedSubtensor1", _rule_subtensor),
        ("pytensor.tensor.subtensor", "IncSubtensor", _rule_inc_subtensor),
        ("pytensor.tensor.subtensor", "AdvancedIncSubtensor", _rule_inc_subtensor),
        ("pytensor.tensor.subtensor", "AdvancedIncSubtensor1", _rule_inc_subtensor),
        ("pytensor.tensor.extra_ops", "CumOp", _rule_cumop),
        ("pytensor.tensor.extra_ops", "Repeat", _rule_repeat),
        ("pytensor.tensor.extra_ops", "SearchsortedOp", _rule_searchsorted),
        ("pytensor.tensor.sort", "SortOp", _rule_sort),
        ("pytensor.tensor.sort", "ArgSortOp", _rule_argsort),
        ("pytensor.tensor.blas", "Dot22", _rule_dot),
        ("pytensor.tensor.blas", "Dot22Scalar", _rule_dot22scalar),
        ("pytensor.tensor.blas", "Gemm", _rule_gemm),
        ("pytensor.tensor.blas", "Gemv", _rule_gemv),
        ("pytensor.tensor.blas", "Ger", _rule_ger),
        ("pytensor.tensor.blas", "BatchedDot", _rule_dot),
        ("pytensor.tensor.blockwise", "Blockwise", _rule_blockwise),
        ("pytensor.raise_op", "CheckAndRaise", _rule_check_and_raise),
        ("pytensor.compile.ops", "DeepCopyOp", _rule_deep_copy),
        ("pytensor.compile.ops", "ViewOp", _passthrough),
        ("pyautodiff.backend.blas_layout", "CContiguous", _rule_c_contiguous),
        ("pytensor.compile.ops", "OutputGuard", _passthrough),
        ("pytensor.compile.builders", "OpFromGraph", _rule_op_from_graph),
        ("pytensor.tensor.special", "Softmax", _rule_softmax),
        ("pytensor.tensor.special", "LogSoftmax", _rule_log_softmax),
        ("pytensor.tensor.nlinalg", "MatrixInverse", _rule_inv),
        ("pytensor.tensor.nlinalg", "Det", _rule_det),
        ("pytensor.tensor.nlinalg", "SLogDet", _rule_slogdet),
        ("pytensor.tensor.nlinalg", "Eig", _rule_eig),
        ("pytensor.tensor.nlinalg", "Eigh", _rule_eigh),
        ("pytensor.tensor.slinalg", "Eigvalsh", _rule_eigvalsh),
        ("pytensor.tensor.nlinalg", "SVD", _rule_svd),
        ("pytensor.tensor.nlinalg", "QR", _rule_qr),
        ("pytensor.tensor.slinalg", "QR", _rule_qr),
        ("pytensor.tensor.nlinalg", "MatrixPinv", _rule_pinv),
        ("pytensor.tensor.nlinalg", "TensorInv", _rule_tensorinv),
        ("pytensor.tensor.nlinalg", "TensorSolve", _rule_tensorsolve),
        ("pytensor.tensor.slinalg", "Cholesky", _rule_cholesky),
        ("pytensor.tensor.slinalg", "Solve", _rule_solve),
        ("pytensor.tensor.slinalg", "SolveTriangular", _rule_solve_triangular),
        ("pytensor.tensor.slinalg", "CholeskySolve", _rule_cholesky_solve),
        ("pytensor.tensor.slinalg", "Expm", _rule_expm),
        ("pytensor.tensor.slinalg", "LUFactor", _rule_lu_factor),
        ("pytensor.tensor.slinalg", "PivotToPermutations", _rule_pivots_to_permutation),
    ]:
        reg(mod, name, rule)


def _ensure_rules() -> None:
    if not _OP_RULES:
        _register_scalar_rules()
        _register_op_rules()


# ---------------------------------------------------------------------------
# Function assembly
# ---------------------------------------------------------------------------




def _input_names(fgraph, input_names) -> list[str]:
    if input_names is not None:
        names = list(input_names)
        if len(names) != len(fgraph.inputs):
            raise ValueError("input_names must have one name per graph input")
        for n in names:
            if not _IDENT.match(n) or keyword.iskeyword(n):
                raise ValueError(f"invalid input name {n!r}")
        if len(set(names)) != len(names):
            raise ValueError("input names must be unique")
        return names
    bases = []
    for i, var in enumerate(fgraph.inputs):
        base = _sanitize(var.name) or f"x{i}"
        bases.append(f"{base}_" if base in _RESERVED else base)
    return unique_names(bases)


def unique_names(names, taken=()):
    """``names`` made distinct (and distinct from ``taken``) by numbered suffixes."""
    seen = set(taken)
    out = []
    for n in names:
        base, k = n, 1
        while n in seen:
            n = f"{base}_{k}"
            k += 1
        seen.add(n)
        out.append(n)
    return out


def fgraph_to_source(fgraph, name: str = "f", input_names: Sequence[str] | None = None,
                     header: str = "", fallback: str = "error",
                     fresh_outputs: bool = False) -> tuple[str, dict]:
    """Python source of ``def name(<inputs>)`` computing all outputs of the
    (already rewritten) ``fgraph`` and returning them as a tuple.

    Returns ``(source, namespace)``: the globals the source needs (``np``,
    large constants, and with ``fallback="perform"`` the objects computing
    untranslatable nodes through PyTensor's Python implementation).  With
    ``fallback="error"`` such a node raises `NoNumpyForm`.  ``fresh_outputs``
    copies results that could alias an argument, a constant or each other
    (derivatives must not hand out a caller's array).  The result is
    deterministic: the same graph gives the same text.
    """
    _ensure_rules()
    names = _input_names(fgraph, input_names)
    gen = _Gen(fallback)
    gen.globals_taken.add(name)
    main = gen.function_source(fgraph, name, names, fresh_outputs=fresh_outputs)
    if name in gen.helpers or name in gen.namespace:  # e.g. a user's function named "solve"
        return fgraph_to_source(fgraph, name + "_", input_names, header, fallback, fresh_outputs)
    parts = []
    if header:
        parts.append("\n".join(ln if ln.startswith("#") else f"# {ln}".rstrip()
                               for ln in header.splitlines()))
    imports = ["import numpy as np"]
    for mod, why in sorted(gen.imports.items()):
        imports.append(f"import {mod}" + (f"  # {why}: no numpy equivalent" if why else ""))
    parts.append("\n".join(imports))
    parts.extend(gen.helpers.values())
    parts.append(main)
    source = "\n\n\n".join(parts) + "\n"
    gen.namespace["__generated_name__"] = name  # the name actually defined (see the rename above)
    return source, gen.namespace


def compile_fgraph(fgraph, name: str = "f", fallback: str = "perform",
                   input_names: Sequence[str] | None = None, header: str = "",
                   fresh_outputs: bool = False):
    """``fgraph_to_source`` + ``exec``: the generated function, with the text
    on ``fn.source``."""
    source, namespace = fgraph_to_source(fgraph, name=name, input_names=input_names,
                                         header=header, fallback=fallback, fresh_outputs=fresh_outputs)
    return exec_source(source, namespace, name)


def exec_source(source: str, namespace: dict, name: str = "f"):
    """The function ``fgraph_to_source`` wrote (``namespace`` is executed into)."""
    code = compile(source, f"<numpy_codegen {name}>", "exec")
    exec(code, namespace)
    fn = namespace[namespace.get("__generated_name__", name)]
    fn.source = source
    return fn
