"""Constraints and bounds of ``ad.minimize``, written on the structured ``x0``.

scipy sees one flat float64 vector; the user writes constraint functions on
the structure ``f`` receives (a tuple/dict of arrays) and bounds shaped like it.
Each constraint function becomes a function of the flat vector, its Jacobian
(shape ``(m, n)``) is derived with ``ad.jacobian``, and for ``trust-constr`` the
Hessian of ``v @ c(x)`` with ``ad.hessian`` (unless the user gave their own).
``LinearConstraint`` objects act on the flat vector and pass through.

Example::

    con = {"type": "eq", "fun": lambda p: np.sum(p["w"]) - 1.0}    # p has x0's structure
    res = ad.minimize(loss, {"w": w0, "b": 0.0}, method="SLSQP", constraints=[con],
                      bounds=ad.Bounds({"w": 0.0, "b": -np.inf}, np.inf))
"""
from __future__ import annotations

import numpy as np
import scipy.optimize as so

from . import api
from .errors import AutodiffError


class Bounds:
    """Bounds on a structured ``x0``: ``lb`` and ``ub`` are scalars (for every element) or
    structures like ``x0`` whose leaves broadcast to the matching array (``None``: unbounded).

    Example::

        ad.Bounds({"w": 0.0, "s": np.array([0.0, -1.0])}, {"w": 1.0, "s": np.inf})
    """

    def __init__(self, lb=-np.inf, ub=np.inf, keep_feasible=False):
        self.lb, self.ub, self.keep_feasible = lb, ub, keep_feasible

    def __repr__(self):
        return f"ad.Bounds({self.lb!r}, {self.ub!r})"


def flat_bounds(bounds, params):
    """scipy's form of ``bounds``: ``ad.Bounds`` flattened along ``x0``; others pass through."""
    if not isinstance(bounds, Bounds):
        return bounds  # scipy.optimize.Bounds or (min, max) pairs, on the flat vector
    lb = _flat_side(bounds.lb, params.template, -np.inf, "lb")
    ub = _flat_side(bounds.ub, params.template, np.inf, "ub")
    return so.Bounds(lb, ub, keep_feasible=bounds.keep_feasible)


def _flat_side(side, template, default, name):
    from . import structure

    if side is None:
        side = default
    shapes = [np.shape(l) for l in structure.leaves_of(template)]
    if not isinstance(side, (tuple, list, dict)) and np.ndim(side) == 0:  # one number for every element
        return np.full(sum(int(np.prod(s)) for s in shapes), float(side))
    try:
        parts = structure.treespec(template).flatten_up_to(side)
    except (ValueError, TypeError) as exc:
        raise AutodiffError(f"bounds {name} must be a number or have x0's structure "
                            f"({structure.treespec(template)}): {exc}") from None
    out = []
    for part, shape in zip(parts, shapes):
        try:
            out.append(np.broadcast_to(np.asarray(np.inf if part is None and default > 0 else
                                                  -np.inf if part is None else part, dtype=float), shape).ravel())
        except ValueError:
            raise AutodiffError(f"bounds {name}: shape {np.shape(part)} does not broadcast to the "
                                f"matching x0 leaf's shape {shape}") from None
    return np.concatenate(out) if out else np.zeros(0)


class Constraints:
    """``constraints`` as scipy takes them (``.scipy``), on the flat vector."""

    def __init__(self, constraints, params, method, mode):
        self.params, self.mode = params, mode
        self.second_order = isinstance(method, str) and method.lower() == "trust-constr"
        if isinstance(constraints, (dict, so.NonlinearConstraint, so.LinearConstraint)):
            constraints = [constraints]
        self.scipy = [self._one(c) for c in (constraints or ())]

    def _one(self, c):
        if isinstance(c, so.LinearConstraint):
            return c
        if isinstance(c, dict):
            fun, jac = self._flat_fun(c["fun"]), c.get("jac")
            out = dict(c, fun=fun)
            out["jac"] = self._jacobian(fun) if jac is None else self._on_structure(jac)
            return out
        if isinstance(c, so.NonlinearConstraint):
            fun = self._flat_fun(c.fun)
            jac = self._jacobian(fun) if isinstance(c.jac, str) or c.jac is None else self._on_structure(c.jac)
            hess = c.hess  # scipy puts a quasi-Newton BFGS() where none was given
            if self.second_order and (hess is None or isinstance(hess, so.HessianUpdateStrategy)):
                hess = self._hessian(fun)
            return so.NonlinearConstraint(fun, c.lb, c.ub, jac=jac, hess=hess, keep_feasible=c.keep_feasible)
        raise AutodiffError(f"ad.minimize: a constraint must be a dict, a NonlinearConstraint or a "
                            f"LinearConstraint; got {type(c).__name__}")

    def _flat_fun(self, fun):
        unflatten = self.params.unflatten

        def flat(z, *args):
            return np.reshape(fun(unflatten(z), *args), (-1,))

        flat.__name__ = getattr(fun, "__name__", "constraint")
        flat.__qualname__ = getattr(fun, "__qualname__", flat.__name__)
        return flat

    def _on_structure(self, user_fn):
        """A user's own derivative, called with the structure like the constraint."""
        unflatten = self.params.unflatten
        return lambda z, *args: np.asarray(user_fn(unflatten(z), *args), dtype=float)

    def _jacobian(self, flat):
        jac = api.jacobian(flat, wrt=0, mode=self.mode)
        return lambda z, *args: np.asarray(jac(z, *args), dtype=float)

    def _hessian(self, flat):
        def weighted(z, v, *args):
            return np.sum(v * flat(z, *args))

        weighted.__name__ = f"{flat.__name__}_weighted"
        hess = api.hessian(weighted, wrt=0, mode=self.mode)
        return lambda z, v, *args: np.asarray(hess(z, np.asarray(v, dtype=float), *args), dtype=float)
