"""``ad.hessp(f)``: the Hessian-vector product in scipy's order, ``hessp(x, p, *args)``.

``ad.hvp(f)`` is called ``hvp(*args, v)`` (the direction last, like ``jvp`` and
``vjp``); ``scipy.optimize.minimize(hessp=...)`` calls ``hessp(x, p, *args)``.
``hessp`` reorders the call and differentiates with respect to the first
argument; the compiled code is ``hvp``'s.

Example::

    >>> import numpy as np, scipy.optimize, pyautodiff as ad
    >>> x, p = np.array([1.0, 2.0, 0.5]), np.array([1.0, 0.0, 0.0])
    >>> bool(np.allclose(ad.hessp(scipy.optimize.rosen)(x, p), scipy.optimize.rosen_hess_prod(x, p)))
    True
"""
from __future__ import annotations

import functools

from .api import Transformed


class HessP:
    """``hessp(x, p, *args)`` = the Hessian of ``f`` at ``x`` (w.r.t. its first argument) times ``p``."""

    def __init__(self, f, *, mode=None, verify=None, loop_limit=100_000, static=()):
        self.hvp = Transformed(f, "hvp", 0, mode, verify, loop_limit, static=static)
        self.original = f
        self.stats = self.hvp.stats
        functools.update_wrapper(self, f)

    def __call__(self, x, p, *args, **kwargs):
        return self.hvp(x, *args, p, **kwargs)

    def __repr__(self):
        return f"<pyautodiff.hessp of {getattr(self.original, '__qualname__', self.original)!r}>"


def hessp(f=None, *, mode=None, verify=None, loop_limit=100_000, static=()):
    """Hessian-vector product with scipy's signature ``hessp(x, p, *args)``.

    Example::

        scipy.optimize.minimize(nll, w0, args=(X, y), method="Newton-CG",
                                jac=ad.grad(nll), hessp=ad.hessp(nll))
    """
    if f is None:
        return lambda g: HessP(g, mode=mode, verify=verify, loop_limit=loop_limit, static=static)
    return HessP(f, mode=mode, verify=verify, loop_limit=loop_limit, static=static)
