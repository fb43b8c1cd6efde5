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

Design: one small translation function per op family, registered where it
is defined (``@op_rule("pytensor.tensor.basic.Alloc")``, see `registry`) in
``OP_RULES`` (keyed by op class, looked up along the MRO) and, for elementwise
ops, ``SCALAR_RULES`` (keyed by scalar op class).  A rule receives the
generator and the node and returns one `_Expr` per output; the generator
decides whether an expression gets its own named statement or is inlined into
its single consumer, reuses identical expressions (CSE on the rendered text)
and drops unused statements.  Dtypes follow PyTensor exactly: every
elementwise operation's numpy result dtype is checked (by evaluating the same
expression on tiny dummy arrays, cached) against ``var.type.dtype`` and casts
are inserted only where they differ.

Modules:

* `registry`: the rule tables, ``op_rule``/``scalar_rule``, `NoNumpyForm`;
* `expressions`: rendered expressions with their dtypes, templates, probing;
* `generator`: naming, inlining, CSE, dead-code removal, the perform fallback;
* rules by op family: `scalar_rules`, `elemwise_rules`, `shape_rules`,
  `indexing_rules`, `reduction_rules`, `blas_rules`, `linalg_rules` (with the
  helper sources in `linalg_helpers`), `wrapper_rules` (Blockwise, OpFromGraph);
* `assembly`: `fgraph_to_source`, `compile_fgraph`, `exec_source`.

A new op gets its rule in the module of its family (or a new one listed in
``registry.RULE_MODULES``); ``tests/test_numpy_codegen_coverage.py`` fails
while an op the lowerings produce has none.

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

# ``X as X``: re-exported names (the rest of the backend and the rule modules
# of other features use the tables and `lookup_rule` directly).
from ..rewrite import rewrite_graph
from ..rewrite import without_stack_traces as without_stack_traces
from . import registry as registry
from .assembly import compile_fgraph, exec_source, fgraph_to_source, unique_names
from .registry import OP_RULES as OP_RULES
from .registry import SCALAR_RULES as SCALAR_RULES
from .registry import NoForm as NoForm
from .registry import (
    NoNumpyForm,
    op_rule,
    register_op_rule,
    register_scalar_rule,
    scalar_rule,
)
from .registry import ensure_rules as ensure_rules
from .registry import lookup_rule as lookup_rule
from .wrapper_rules import rule_op_from_graph as rule_op_from_graph

ensure_rules()  # importing the package registers every rule

__all__ = [
    "NoNumpyForm",
    "compile_fgraph",
    "exec_source",
    "fgraph_to_source",
    "op_rule",
    "register_op_rule",
    "register_scalar_rule",
    "rewrite_graph",
    "scalar_rule",
    "unique_names",
]
