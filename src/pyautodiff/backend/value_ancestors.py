"""Which nodes of a graph must round as numpy's code would: those a *value* depends on.

A value is an output the user's own code computes (a returned value, a write to the
outside, a guard); a derivative is an output numpy never computes, which its builder in
``transforms.py`` tags (``mark_derivatives``).  ``safe_rewrites`` keeps numpy's order of
sums and products in the nodes a value depends on, and lets the derivative-only rest be
reassociated (the logistic gradient's quotient becomes one sigmoid).  A FunctionGraph
feature holds those nodes, attached by a rewriter that runs first in our modes and kept
up to date as rewrites replace variables; a graph without tags (a loop's inner graph) is
all values.

Example::

    [g] = mark_derivatives([pt.grad(cost, x)], values=[cost])
    fg = FunctionGraph([x], [cost, g]); rounds_as_numpy(fg, g.owner)   # False
"""
from __future__ import annotations

import functools

DERIVATIVE_TAG = "pyautodiff_derivative"  # on an output variable: a derivative, not a value numpy computes


def mark_derivatives(outputs, values=()):
    """Tag ``outputs`` as derivatives (not among ``values``, the values the user's own code
    computes): rewrites of what only they need may reassociate products
    (``rounds_as_numpy``). Returns ``outputs``.

    >>> import pytensor.tensor as pt
    >>> x = pt.dvector("x"); [g] = mark_derivatives([2 * x])
    """
    values = {id(v) for v in values}
    for v in outputs:
        if id(v) not in values and v.owner is not None:  # an input is not rewritten anyway
            setattr(v.tag, DERIVATIVE_TAG, True)
    return outputs


@functools.cache
def _value_ancestors_type():
    from pytensor.graph.features import Feature

    class ValueAncestors(Feature):
        """A FunctionGraph feature: the variables a value output depends on (an output
        without the derivative tag: a returned value, a write to the outside, a guard),
        kept up to date as rewrites replace variables (what replaces such a variable joins,
        with its inputs). It only grows, so a variable that no longer feeds a value stays
        in: that only keeps numpy's order where it was not needed. Each variable is added
        once: linear in the graph and its rewrites."""

        def __init__(self, fgraph):
            self.vars: set = set()
            self.add([v for v in fgraph.outputs if not getattr(v.tag, DERIVATIVE_TAG, False)])

        def add(self, stack):
            while stack:
                v = stack.pop()
                if v not in self.vars:
                    self.vars.add(v)
                    if v.owner is not None:
                        stack.extend(v.owner.inputs)

        def on_change_input(self, fgraph, node, i, r, new_r, reason=None):
            if r in self.vars:
                self.add([new_r])

    return ValueAncestors


def _value_ancestors(fgraph):
    feature = getattr(fgraph, "_pyautodiff_values", None)
    if feature is None:
        feature = _value_ancestors_type()(fgraph)
        fgraph.attach_feature(feature)
        fgraph._pyautodiff_values = feature
    return feature


def has_value_ancestors(fgraph) -> bool:
    """Is ``fgraph`` one our modes rewrite (it carries the feature)?"""
    return getattr(fgraph, "_pyautodiff_values", None) is not None


def rounds_as_numpy(fgraph, node) -> bool:
    """Must ``node`` round as numpy would? Yes if a value output depends on it; in a graph
    without tags (a loop's inner graph) every output is a value. The feature is attached
    before any rewrite (``attach_value_ancestors``, first in our modes: a rewrite that
    replaced a tagged output first would lose its tag), else at the first question."""
    return any(out in _value_ancestors(fgraph).vars for out in node.outputs)


def attach_value_ancestors():
    """A graph rewriter that only attaches the feature; registered first in our modes."""
    from pytensor.graph.rewriting.basic import GraphRewriter

    class AttachValueAncestors(GraphRewriter):
        def apply(self, fgraph):
            _value_ancestors(fgraph)

    return AttachValueAncestors()
