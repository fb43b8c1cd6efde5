"""scipy.optimize with derived derivatives and structured parameters.

``minimize(f, x0, args=(), method=...)`` mirrors ``scipy.optimize.minimize``:
``jac`` is derived (one compiled value-and-gradient call per evaluation),
``hessp``/``hess`` too for the methods that use them.  ``x0`` may be an
ndarray or a tuple/list/dict of ndarrays: ``f`` receives that structure, the
optimizer sees one flat float64 vector, and ``result.x`` has the structure.

Example::

    res = ad.minimize(nll, (W0, b0), args=(X, y))       # f(params, X, y)
    W, b = res.x
"""
from __future__ import annotations

import inspect
import sys
import time

import numpy as np
import scipy.optimize as so

from . import api, structure
from .errors import AutodiffError
from .optimize_constraints import Constraints, flat_bounds

_USES_JAC = {"cg", "bfgs", "newton-cg", "l-bfgs-b", "tnc", "slsqp", "dogleg", "trust-ncg",
             "trust-krylov", "trust-exact", "trust-constr"}
_USES_HESSP = {"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"}
_NEEDS_HESS = {"dogleg", "trust-exact"}
_FIRST_CALL_ONLY = sys.maxsize  # verify="first": Verify(every=<never again>)


class Params:
    """The flat-vector view of a structure of arrays (ndarray, tuple, list or dict)."""

    def __init__(self, x0):
        leaves: list = []
        structure.flatten(x0, leaves)
        if not leaves or not all(structure.is_differentiable(l) for l in leaves):
            raise AutodiffError("x0 must be a float array, or a tuple/list/dict of float arrays")
        self.template = x0
        self.shapes = [np.shape(l) for l in leaves]
        self.dtypes = [np.asarray(l).dtype for l in leaves]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.x0 = np.concatenate([np.asarray(l, dtype=float).ravel() for l in leaves])

    def unflatten(self, z):
        """The structure with its leaves taken from the flat vector ``z``."""
        pieces = [z[a:b].reshape(shape) for a, b, shape in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]
        return structure.rebuild(self.template, iter(pieces))

    def flatten(self, tree) -> np.ndarray:
        leaves: list = []
        structure.flatten(tree, leaves)
        return np.concatenate([np.asarray(l, dtype=float).ravel() for l in leaves])

    def result_x(self, z):
        pieces = [np.asarray(z[a:b]).reshape(s).astype(dt) for a, b, s, dt
                  in zip(self.offsets[:-1], self.offsets[1:], self.shapes, self.dtypes)]
        it = iter(pieces)
        out = structure.rebuild(self.template, it)
        return out


_TRANSFORMS: dict = {}  # (f, structure, mode, verify) -> transformations of the flat objective
_MAX_CACHED = 64


def _transforms(f, params: "Params", mode, verify):
    """value_and_grad / hvp / hessian of ``f`` on the flat vector, reused across fits."""
    leaves: list = []
    try:
        key = (f, structure.flatten(params.template, leaves), mode, repr(verify))
        hash(key)
    except TypeError:  # unhashable objective: no reuse
        key = None
    hit = _TRANSFORMS.get(key) if key is not None else None
    if hit is None:
        f_flat = _flat_objective(f, params)
        hit = {
            "vg": api.value_and_grad(f_flat, wrt=0, mode=mode, verify=_verify_setting(verify)),
            "hvp": api.hvp(f_flat, wrt=0, mode=mode),
            "hessian": api.hessian(f_flat, wrt=0, mode=mode),
        }
        if key is not None:
            if len(_TRANSFORMS) >= _MAX_CACHED:
                _TRANSFORMS.pop(next(iter(_TRANSFORMS)))
            _TRANSFORMS[key] = hit
    return hit


def _flat_objective(f, params: Params):
    unflatten = params.unflatten
    if hasattr(f, "_pyautodiff_flat"):  # ad.data_parallel: flatten its per-block function
        return f._pyautodiff_flat(unflatten)

    def f_flat(z, *args):
        return f(unflatten(z), *args)

    f_flat.__name__ = getattr(f, "__name__", "f")
    f_flat.__qualname__ = getattr(f, "__qualname__", "f")
    return f_flat


def _verify_setting(verify):
    if verify == "first":
        return _FIRST_CALL_ONLY
    return verify


class _Progress:
    """Iteration count and objective, on one rewritten line where a terminal is attached."""

    def __init__(self, enabled, every=10):
        self.enabled = enabled and enabled is not None
        self.tty = enabled and sys.stderr.isatty()
        self.every = every
        self.it = 0
        self.last_f = None
        self.start = time.perf_counter()

    def step(self):
        if not self.enabled:
            return
        self.it += 1
        if self.tty or self.it % self.every == 0:
            end = "\r" if self.tty else "\n"
            sys.stderr.write(f"iter {self.it:5d}  f = {self.last_f:.10g}  ({time.perf_counter() - self.start:.1f} s){end}")
            sys.stderr.flush()

    def close(self):
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def minimize(f, x0, args=(), method="L-BFGS-B", *, bounds=None, constraints=(), tol=None,
             callback=None, options=None, progress=False, verify="first", mode=None, **kwargs):
    """``scipy.optimize.minimize`` with ``jac`` (and ``hess``/``hessp``) derived from ``f``.

    ``verify`` (default ``"first"``: the first evaluation is checked against the
    original code and finite differences) takes the values of ``ad.Verify``.
    ``progress=True`` shows iterations and the objective.

    Example::

        res = ad.minimize(scipy.optimize.rosen, np.zeros(5), method="trust-exact")
        res.x          # close to ones
    """
    if not isinstance(args, tuple):
        args = (args,)
    for key in ("jac", "hess", "hessp"):
        if kwargs.get(key) is not None:
            raise AutodiffError(f"ad.minimize derives {key}; call scipy.optimize.minimize to pass your own")
        kwargs.pop(key, None)
    params = Params(x0)
    _check_signature(f, x0, args)
    if hasattr(f, "_pyautodiff_persist"):  # ad.data_parallel: blocks stay in worker memory for the fit
        args = f._pyautodiff_persist(args)
    m = (method or "").lower() if isinstance(method, str) else method
    constraints = Constraints(constraints, params, method, mode).scipy
    bounds = flat_bounds(bounds, params)
    transforms = _transforms(f, params, mode, verify)
    vg = transforms["vg"]
    show = _Progress(progress)

    def fun(z, *a):
        value, g = vg(z, *a)
        show.last_f = float(value)
        return float(value), np.asarray(g, dtype=float)

    def fun_only(z, *a):
        return fun(z, *a)[0]

    extra = {}
    if m in _USES_JAC or callable(m):
        objective, extra["jac"] = fun, True
    else:
        objective = fun_only
    if m in _NEEDS_HESS:
        hess = transforms["hessian"]
        extra["hess"] = lambda z, *a: np.asarray(hess(z, *a), dtype=float)
    elif m in _USES_HESSP:
        hvp = transforms["hvp"]
        extra["hessp"] = lambda z, p, *a: np.asarray(hvp(z, *a, np.asarray(p, dtype=float)), dtype=float)

    def cb(*cb_args, **cb_kwargs):
        show.step()
        if callback is None:
            return None
        xk = cb_kwargs.get("intermediate_result", cb_args[0] if cb_args else None)
        xk = getattr(xk, "x", xk)
        return callback(params.result_x(xk))

    res = so.minimize(objective, params.x0, args=args, method=method, bounds=bounds,
                      constraints=constraints, tol=tol, callback=cb, options=options, **extra, **kwargs)
    show.close()
    res.x_flat = res.x
    res.x = params.result_x(res.x)
    # trust-constr: res.grad is the objective's gradient, res.jac the constraints' Jacobians
    key = "grad" if m == "trust-constr" else "jac"
    if key in res and res[key] is not None and np.ndim(res[key]) == 1:
        res[key] = params.result_x(res[key])
    return res


def _check_signature(f, x0, args):
    """``f`` is called ``f(x0, *args)`` with ``x0`` as one argument; say so (and how to
    unpack it) when ``f``'s signature cannot take that."""
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(x0, *args)
        return
    except TypeError as exc:
        problem = str(exc)
    name = getattr(f, "__name__", "f")
    what = f"a {type(x0).__name__} of {len(x0)} values" if isinstance(x0, (tuple, list, dict)) else "an array"
    msg = (f"ad.minimize calls {name}(x0, *args) with x0 as one argument (here {what}); "
           f"{name}{sig} cannot be called that way ({problem}).")
    if isinstance(x0, (tuple, list)):
        try:
            sig.bind(*x0, *args)
            msg += (f" Unpack the parameters: ad.minimize(lambda params, *args: {name}(*params, *args), x0, "
                    f"args=...), or write {name}(params, ...) and unpack inside.")
        except TypeError:
            pass
    raise AutodiffError(msg)


class _Memo:
    """f and fprime at the same point from one value-and-gradient call."""

    def __init__(self, f, x0, mode, verify):
        self.params = Params(x0)
        transforms = _transforms(f, self.params, mode, verify)
        self.vg, self.hvp = transforms["vg"], transforms["hvp"]
        self._x = None

    def _eval(self, z, args):
        if self._x is None or not np.array_equal(z, self._x) or self._args is not args:
            value, g = self.vg(z, *args)
            self._x, self._args, self._f, self._g = np.array(z, copy=True), args, float(value), np.asarray(g, float)

    def f(self, z, *args):
        self._eval(z, args)
        return self._f

    def fprime(self, z, *args):
        self._eval(z, args)
        return self._g

    def f_and_g(self, z, *args):
        self._eval(z, args)
        return self._f, self._g

    def fhess_p(self, z, p, *args):
        return np.asarray(self.hvp(z, *args, np.asarray(p, float)), float)


def fmin_l_bfgs_b(func, x0, args=(), *, mode=None, verify="first", **kwargs):
    """``scipy.optimize.fmin_l_bfgs_b`` without ``fprime``: returns ``(x, f, d)``.

    Example::

        x, fx, info = ad.fmin_l_bfgs_b(scipy.optimize.rosen, np.zeros(4))
    """
    for k in ("fprime", "approx_grad"):
        if kwargs.pop(k, None):
            raise AutodiffError(f"ad.fmin_l_bfgs_b derives the gradient; {k}= is not accepted")
    memo = _Memo(func, x0, mode, verify)
    x, fx, d = so.fmin_l_bfgs_b(memo.f_and_g, memo.params.x0, args=args, **kwargs)
    return memo.params.result_x(x), fx, d


def _fmin_with_fprime(scipy_fn, uses_hessp=False):
    """Wrap a scipy fmin_* function: fprime (and fhess_p) derived, x in x0's structure."""

    def fmin(f, x0, args=(), *, mode=None, verify="first", **kwargs):
        memo = _Memo(f, x0, mode, verify)
        extra = {"fhess_p": memo.fhess_p} if uses_hessp else {}
        out = scipy_fn(memo.f, memo.params.x0, memo.fprime, args=args, **extra, **kwargs)
        if isinstance(out, tuple):
            return (memo.params.result_x(out[0]), *out[1:])
        return memo.params.result_x(out)

    name = scipy_fn.__name__
    fmin.__name__ = fmin.__qualname__ = name
    fmin.__doc__ = (f"``scipy.optimize.{name}`` without ``fprime``{'/``fhess_p``' if uses_hessp else ''} "
                    f"(same return values).\n\n    Example::\n\n        xopt = ad.{name}(scipy.optimize.rosen, "
                    "np.zeros(3), disp=False)\n    ")
    return fmin


fmin_cg = _fmin_with_fprime(so.fmin_cg)
fmin_bfgs = _fmin_with_fprime(so.fmin_bfgs)
fmin_ncg = _fmin_with_fprime(so.fmin_ncg, uses_hessp=True)
