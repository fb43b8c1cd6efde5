"""The generator: one function's statements, names and common subexpressions.

`CodeGen` walks the graph in topological order, asks each node's rule (see
`registry`) for one expression per output, and decides whether a value gets
its own named statement (used more than once, an output, too long or too
deeply nested) or is inlined into its single consumer.  Identical
expressions are reused (CSE on the rendered text), statements nobody reads
are dropped, and a rule that gives up (`NoForm`) has its statements rolled
back (`checkpoint`/`restore`).  Nodes without a rule raise `NoNumpyForm` or,
with ``fallback="perform"``, call PyTensor's Python implementation
(`_PerformRunner`).

Example (what `assembly.fgraph_to_source` does)::

    gen = CodeGen("error")
    text = gen.function_source(fgraph, "f", ["x"])   # "def f(x):\n    ..."
"""
from __future__ import annotations

import builtins
import importlib
import keyword
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .expressions import (
    NOVALUE,
    P_ATOM,
    Expr,
    dtype_matches,
    dtype_name,
    literal_expr,
    strong,
)
from .registry import OP_RULES, SCALAR_RULES, NoForm, NoNumpyForm, lookup_rule


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
RESERVED_NAMES = set(dir(builtins)) | set(keyword.kwlist) | {
    "np", "scipy", "self", "solve", "solve_triangular", "cholesky", "pivots_to_permutation",
    "sigmoid", "_sigmoid_tail", "_sigmoid_exp"}


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


def too_deep(e: Expr) -> bool:
    return not (e.is_name or e.is_literal) and _depth(e.text) > _MAX_DEPTH


def static_shape(var):
    return getattr(var.type, "shape", ())


def sanitize(name: str | None) -> str | None:
    if not name:
        return None
    s = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")
    if not s:
        return None
    if s[0].isdigit():
        s = "v" + s
    return s


class CodeGen:
    """Holds the state of one generated module (main function + helpers)."""

    # ``export_source`` is read by people: speed-only helpers that replace a plain numpy
    # call (short_axis, dot_sum) are left out there, numpy's own call written instead
    readable = False

    def __init__(self, fallback: str):
        if fallback not in ("error", "perform"):
            raise ValueError("fallback must be 'error' or 'perform'")
        self.fallback = fallback
        self.namespace: dict = {"np": np}
        self.imports: dict[str, str] = {}  # module -> comment
        self.helpers: dict[str, str] = {}  # helper name -> source
        self.globals_taken: set[str] = set(RESERVED_NAMES)
        self.env: dict = {}
        self.uses: Counter = Counter()
        self.outputs: set = set()
        self.stmts: list[_Stmt] = []
        self.taken: set[str] = set()
        self.taken_log: list[str] = []  # undo log for `taken` (see checkpoint)
        # Common-subexpression reuse on the rendered text: expression -> the
        # name it is bound to (and the names it reads).  Names handed out twice
        # are "shared" and never modified in place.
        self.cse: dict[str, tuple[Expr, frozenset]] = {}
        self.cse_log: list[tuple[str, object]] = []
        # name -> keys of `cse` whose entry is bound to or reads that name (a superset:
        # `mutated` checks each), so that a write in place does not scan the whole table
        self.cse_readers: dict[str, set[str]] = {}
        self.shared: set[str] = set()
        self.counter = 0
        # static shapes of the inputs of the Elemwise being rendered, by position (an
        # Expr's ``srcs``): which inputs can set an output dimension (PyTensor allows no
        # broadcasting at run time of a dimension not statically 1)
        self.elemwise_shapes: list[tuple] = []
        self.elemwise_inputs: list = []  # and the input variables themselves

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
        base = sanitize(getattr(var, "name", None))
        return self._free(base) if base else self.temp_name()

    def global_name(self, base: str, obj) -> str:
        """Put ``obj`` in the namespace under a readable, unused name."""
        for name, val in self.namespace.items():
            if val is obj and name.startswith(base):
                return name
        name, k = base, 1
        while name in self.namespace or name in self.taken or name in RESERVED_NAMES:
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

    def bind(self, e: Expr, name: str | None = None, cse: bool = True) -> Expr:
        """Emit ``name = e`` and return the name as an expression (or the name
        already holding the same expression)."""
        if cse:
            hit = self.cse_lookup(e)
            if hit is not None:
                return hit
        if name is None:
            name = self.temp_name()
        self.emit(f"{name} = {e.text}", {name}, e.names)
        res = e.replace(text=name, prec=P_ATOM, names={name}, value=NOVALUE)
        if cse:
            self._cse_set(e.text, (res, e.names))
        return res

    def cse_lookup(self, e: Expr) -> Expr | None:
        entry = self.cse.get(e.text)
        if entry is None:
            return None
        self.shared.add(entry[0].text)
        self.cse_log.append(("shared", entry[0].text))
        return entry[0].replace(fresh=False, srcs=e.srcs)

    def _cse_set(self, key: str, value) -> None:
        self.cse_log.append((key, self.cse.get(key)))
        self._cse_put(key, value)

    def _cse_put(self, key: str, value) -> None:
        self.cse[key] = value
        if value is not None:
            res, uses = value
            for name in (res.text, *uses):
                self.cse_readers.setdefault(name, set()).add(key)

    def mutated(self, name: str) -> None:
        """``name`` is about to be modified in place: forget expressions that
        read it or are bound to it."""
        for key in self.cse_readers.pop(name, ()):
            entry = self.cse.get(key)
            if entry is not None and (entry[0].text == name or name in entry[1]):
                self._cse_set(key, None)
                del self.cse[key]

    def atom(self, e: Expr) -> Expr:
        """``e`` as something cheap to repeat (a name or a literal)."""
        return e if (e.is_name or e.is_literal) else self.bind(e)

    # -- variables -----------------------------------------------------------
    def expr(self, var) -> Expr:
        e = self.env.get(var)
        if e is None:
            e = self.constant(var)
            self.env[var] = e
        return e

    def constant(self, var) -> Expr:
        from pytensor.graph.basic import Constant

        if not isinstance(var, Constant):
            raise KeyError(f"variable {var} is not computed before use")
        data = var.data
        if data is None:  # NoneConst
            return Expr("None")
        if not hasattr(var.type, "dtype"):  # e.g. a slice constant
            return Expr(self.global_name("const", data))
        arr = np.asarray(data)
        dtype = var.type.dtype
        if arr.ndim == 0:
            return literal_expr(arr.item(), dtype)
        if arr.size == 0:  # a nested list would lose the shape: (0, 1) -> []
            return Expr(f"np.empty({arr.shape}, dtype={dtype_name(dtype)})", dtype=np.dtype(dtype))
        if arr.size <= 8 and arr.dtype.kind in "biuf":
            body = repr(arr.tolist()).replace("inf", "np.inf").replace("nan", "np.nan")
            text = f"np.array({body}, dtype={dtype_name(dtype)})"
            return Expr(text, dtype=np.dtype(dtype))
        frozen = np.array(arr, dtype=dtype)
        frozen.setflags(write=False)
        base = f"{sanitize(var.name)}_const" if sanitize(var.name) else "const"
        return Expr(self.global_name(base, frozen), dtype=np.dtype(dtype))

    def elemwise_arg(self, var, pos: int) -> Expr:
        """Input ``pos`` of an Elemwise: size-1 constants (also behind a
        DimShuffle that only adds axes) become scalar literals; their dims are
        broadcastable, so they never set the output shape."""
        from pytensor.graph.basic import Constant
        from pytensor.tensor.elemwise import DimShuffle

        const = var
        while const.owner is not None and isinstance(const.owner.op, DimShuffle) and all(
                s == 1 for s in static_shape(const)):
            const = const.owner.inputs[0]
        if isinstance(const, Constant) and const.data is not None and np.size(const.data) == 1:
            arr = np.asarray(const.data)
            if arr.dtype.kind in "biufc":
                return literal_expr(arr.reshape(()).item(), const.type.dtype)
        # An input is never "fresh" from the point of view of the output: an
        # identity-like scalar op must not hand out someone else's array.
        return self.expr(var).replace(srcs={pos}, fresh=False)

    def assign(self, var, e: Expr) -> None:
        """Record the expression of ``var``, giving it a statement if needed."""
        n = self.uses[var]
        is_out = var in self.outputs
        if n == 0 and not is_out:
            self.env[var] = e
            return
        simple = e.is_name or (e.is_literal and not is_out)
        if not simple and (n > 1 or is_out or len(e.text) > _MAX_INLINE or too_deep(e)):
            e = self.bind(e, self.name_for(var))
        self.env[var] = e

    def reusable(self, var, e: Expr) -> bool:
        """Whether ``e``, the value of ``var``, is an array this code allocated that
        nothing else reads (not an argument, constant, view, output or shared name):
        its buffer may take a result in place."""
        return (e.fresh and not e.weak and getattr(var.type, "ndim", 0) > 0 and self.uses[var] == 1
                and var not in self.outputs and e.text not in self.shared)

    def writable(self, var, e: Expr, out_var) -> Expr:
        """A name bound to an array with the value of ``var`` that may be modified
        in place: ``var`` itself if it is a fresh temporary nobody else uses,
        otherwise a copy."""
        if self.reusable(var, e):
            buf = e if e.is_name else self.bind(e, self.name_for(out_var), cse=False)
        else:
            if e.weak:
                text = f"np.array({e.text}, dtype={dtype_name(var.type.dtype)})"
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
                self._cse_put(key, old)
        # shared with helper generators: update in place
        self.imports.clear()
        self.imports.update(imports)
        self.helpers.clear()
        self.helpers.update(helpers)

    # -- translation ---------------------------------------------------------
    def scalar(self, op, args: list[Expr], out_dtypes: list) -> list[Expr]:
        rule = lookup_rule(SCALAR_RULES, op)
        if rule is None:
            raise NoForm(f"scalar op {op}")
        outs = rule(self, op, args, out_dtypes)
        # reuse a value already computed under a name (PyTensor's merge pass
        # cannot see inside fused Composites)
        return [self.cse_lookup(e) or e for e in outs]

    def translate_nodes(self, nodes) -> None:
        for node in nodes:
            rule = lookup_rule(OP_RULES, node.op)
            outs = None
            if rule is not None:
                mark = self.checkpoint()
                try:
                    outs = rule(self, node)
                except NoForm:
                    self.restore(mark)  # forget what the rule emitted before giving up
                    outs = None
            if outs is None:
                outs = self.fallback_node(node)
            else:  # an identical expression may already have a name
                outs = [self.cse_lookup(e) or e for e in outs]
            for var, e in zip(node.outputs, outs):
                self.assign(var, e)

    def fallback_node(self, node) -> list[Expr]:
        op = node.op
        if self.fallback == "error":
            raise NoNumpyForm(f"no numpy form for op {type(op).__name__} ({op})")
        runner = _PerformRunner(node)
        base = sanitize(type(op).__name__.lower()) or "op"
        fname = self.global_name(f"{base}_perform", runner)
        args = [self.expr(v) for v in node.inputs]
        call = f"{fname}({', '.join(a.text for a in args)})"
        names = frozenset().union(*[a.names for a in args]) if args else frozenset()
        outs = [self.name_for(v) for v in node.outputs]
        lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
        # effect=True: PyTensor ops may check their inputs (and raise)
        self.emit(f"# no numpy form for {type(op).__name__}: PyTensor's Python implementation\n"
                  f"{lhs} = {call}", outs, names, effect=True)
        return [Expr(n, names={n}, dtype=out_dtype_of(v)) for n, v in zip(outs, node.outputs)]

    def function_source(self, fgraph, name: str, input_names: Sequence[str],
                         tuple_return: bool = True, fresh_outputs: bool = False) -> str:
        """Translate ``fgraph`` into the text of ``def name(...)`` (helpers and
        imports are collected on ``self``).  ``fresh_outputs``: every array
        returned is newly allocated (no argument, constant, view or other
        output is handed out)."""
        for n in (*input_names, name):
            self._take(n)
        for var, n in zip(fgraph.inputs, input_names):
            dt = out_dtype_of(var)
            self.env[var] = Expr(n, names={n}, dtype=dt if dt is not None else None)
        nodes = fgraph.toposort()
        self.outputs = set(fgraph.outputs)
        self.count_uses(nodes, fgraph.outputs)
        self.translate_nodes(nodes)

        results = []
        for out in fgraph.outputs:
            e = self.expr(out)
            dt = out_dtype_of(out)
            if dt is not None and e.weak and not dtype_matches(e.dtype, dt):
                e = strong(e, dt)
            if e.is_literal:
                e = strong(e, dt)
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


def out_dtype_of(var):
    dt = getattr(var.type, "dtype", None)
    try:
        return np.dtype(dt)
    except TypeError:
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
