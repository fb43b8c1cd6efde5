"""The rule tables of the numpy code generator, and the decorators filling them.

A rule is registered where it is defined, for one or more op classes::

    @op_rule("pytensor.tensor.extra_ops.Repeat")
    def _rule_repeat(g, node):
        ...                                  # returns one `_Expr` per output

    @scalar_rule("pytensor.scalar.basic.Clip")
    def _rule_clip(g, op, args, out_dtypes):
        ...

Ops are named by dotted path (or given as classes) because PyTensor moves and
adds classes between releases: a name missing from the installed PyTensor
is skipped (``tests/test_numpy_codegen_coverage.py`` checks that every op the
lowerings and their derivatives produce still has a rule).  Lookup follows
the MRO, so a rule for a base class (``ScalarOp``, ``CAReduce``) covers its
subclasses unless they have their own.

The tables are plain dicts keyed by class: code elsewhere may read them
(``lookup_rule(OP_RULES, op)``) or add to them directly.
"""
from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

__all__ = ["NoNumpyForm", "op_rule", "pytensor_class", "register_op_rule",
           "register_scalar_rule", "scalar_rule"]


class NoNumpyForm(Exception):
    """An op of the graph has no numpy translation (raised with ``fallback="error"``)."""


class NoForm(Exception):
    """Internal: a rule cannot translate this particular node."""


# op class -> rule(g, node) -> list of _Expr (one per output)
OP_RULES: dict[type, Callable] = {}
# scalar op class -> rule(g, op, args, out_dtypes) -> list of _Expr
SCALAR_RULES: dict[type, Callable] = {}

# Newer PyTensor (3.x) keeps the linear-algebra ops in ``pytensor.tensor.linalg``
# and only re-exports them from slinalg/nlinalg with a DeprecationWarning;
# older ones lack it.
_RELOCATED = {"pytensor.tensor.slinalg": "pytensor.tensor.linalg",
              "pytensor.tensor.nlinalg": "pytensor.tensor.linalg"}


def pytensor_class(path: str) -> type | None:
    """The class at dotted ``path``, or None if this PyTensor has none there.

    Example::

        >>> pytensor_class("pytensor.tensor.basic.Alloc").__name__
        'Alloc'
        >>> pytensor_class("pytensor.tensor.basic.NoSuchOp") is None
        True
    """
    module, _, name = path.rpartition(".")
    for modname in filter(None, (_RELOCATED.get(module), module)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                mod = importlib.import_module(modname)
            except ImportError:
                continue
            cls = getattr(mod, name, None)
        if isinstance(cls, type):
            return cls
    return None


def _classes(ops) -> list[type]:
    found = [pytensor_class(op) if isinstance(op, str) else op for op in ops]
    return [cls for cls in found if cls is not None]


def register_op_rule(op, rule: Callable) -> None:
    """``rule`` translates nodes of ``op`` (a class or dotted path; skipped if absent)."""
    for cls in _classes([op]):
        OP_RULES[cls] = rule


def register_scalar_rule(op, rule: Callable) -> None:
    """``rule`` translates the scalar op ``op`` inside Elemwise/Composite nodes."""
    for cls in _classes([op]):
        SCALAR_RULES[cls] = rule


def op_rule(*ops):
    """Decorator: the function is the numpy rule of each of ``ops``."""

    def deco(rule):
        for op in ops:
            register_op_rule(op, rule)
        return rule

    return deco


def scalar_rule(*ops):
    """Decorator: the function is the numpy rule of each scalar op of ``ops``."""

    def deco(rule):
        for op in ops:
            register_scalar_rule(op, rule)
        return rule

    return deco


def lookup_rule(registry: dict, op):
    """The rule for ``op``: its class's, else its nearest base class's (or None)."""
    for cls in type(op).__mro__:
        rule = registry.get(cls)
        if rule is not None:
            return rule
    return None


# The modules that define (and so register) the rules, by op family.
RULE_MODULES = ("scalar_rules", "elemwise_rules", "shape_rules", "indexing_rules",
                "reduction_rules", "blas_rules", "linalg_rules", "wrapper_rules", "complex_rules",
                "host_rules")


def ensure_rules() -> None:
    """Make sure every rule module has registered its rules (idempotent)."""
    for name in RULE_MODULES:
        importlib.import_module(f"{__package__}.{name}")
