"""How a transformation's compiled outputs become the result the user gets.

A result is made of parts (``transforms.Part``), each with a layout: the function's own
outputs, a cost, one value per ``wrt`` leaf put back into the ``wrt`` arguments'
structures, or blocks (``wrt x wrt`` for a Hessian, ``outputs x wrt`` for a Jacobian).
``PART_FILLERS[layout]`` gives how many compiled outputs a part takes and the function
that builds it from them; ``CONVERTERS`` turn a leaf's output into the type its input
had (a float stays a numpy float64, a numpy scalar a scalar).

Example::

    n, build = PART_FILLERS["wrt"](tr, wrt_idx, wrt_tree, tuple_wrt, kinds)
    grads = build(outs[:n])
"""
from __future__ import annotations

import numpy as np

from . import structure


def _as_float64(v):
    """A float64 result as np.float64 (a float): indexing a 0-d array with ``()``
    costs a quarter of ``np.float64(v)``."""
    try:
        return v[()]
    except TypeError:  # a Python float
        return np.float64(v)


CONVERTERS = {
    "array": lambda v: v if type(v) is np.ndarray else np.asarray(v),
    "float": _as_float64,
    "scalar": lambda v: np.asarray(v)[()],
}


def leaf_kind(leaf):
    if type(leaf) is float:
        return "float"
    if isinstance(leaf, (np.generic, complex)):
        return "scalar"
    return "array"


def _convert_all(outs, kinds):
    return [structure.convert_leaf(o, k) for o, k in zip(outs, kinds)]


# Per layout of a result part (transforms.Part): (how many compiled outputs it
# takes, the function making it from them).
def _fill_outputs(tr, wrt_idx, wrt_tree, tuple_wrt, leaf_kind):
    return len(tr.outputs), tr.template.fill


def _fill_cost(tr, wrt_idx, wrt_tree, tuple_wrt, leaf_kind):
    return 1, tr.template.fill


def _fill_wrt(tr, wrt_idx, wrt_tree, tuple_wrt, leaf_kind):
    shape = _shape_like(wrt_tree, tuple_wrt)
    return len(wrt_idx), lambda outs: shape(_convert_all(outs, leaf_kind))


def _blocks(n_rows, n_cols, bare):
    if bare:
        return 1, lambda outs: np.asarray(outs[0])
    return n_rows * n_cols, lambda outs: tuple(
        tuple(np.asarray(outs[i * n_cols + j]) for j in range(n_cols)) for i in range(n_rows))


def _fill_wrt_by_wrt(tr, wrt_idx, wrt_tree, tuple_wrt, leaf_kind):
    n = len(wrt_idx)
    return _blocks(n, n, n == 1 and not tuple_wrt)


def _fill_outputs_by_wrt(tr, wrt_idx, wrt_tree, tuple_wrt, leaf_kind):
    n_out, n_in = len(tr.outputs), len(wrt_idx)
    return _blocks(n_out, n_in, n_out == 1 and n_in == 1 and not tuple_wrt)


PART_FILLERS = {"outputs": _fill_outputs, "cost": _fill_cost, "wrt": _fill_wrt,
                 "wrt x wrt": _fill_wrt_by_wrt, "outputs x wrt": _fill_outputs_by_wrt}


def _shape_like(wrt_tree, tuple_wrt):
    """Put a flat list of per-leaf results back into the wrt arguments' structures."""
    counts = [len(ids) for _, ids in wrt_tree]
    builders = [structure.rebuilder(v) for v, _ in wrt_tree]  # each argument's walk, done once

    def shape(flat):
        parts, pos = [], 0
        for build, n in zip(builders, counts):
            parts.append(build(iter(flat[pos:pos + n])))
            pos += n
        return tuple(parts) if tuple_wrt else parts[0]

    return shape
