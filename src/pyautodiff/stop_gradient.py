"""``stop_gradient(x)``: the value of ``x``, a constant to every derivative.

Outside a trace (or on values that do not depend on the differentiated inputs)
it returns ``x`` itself.  In traced code it is a lowering: each traced leaf of
``x`` (an array, a float, or a tuple/list/dict of them) gets PyTensor's
``disconnected_grad`` around its variable, an identity whose connection
pattern says the output does not depend on the input, so reverse mode, forward
mode and every second derivative see a constant (and the generated numpy code
sees an identity: ``ViewOp`` is a pass-through there).

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> ad.grad(lambda x: np.sum(x * ad.stop_gradient(x)))(np.array([1.0, 2.0]))
    array([1., 2.])
"""
from __future__ import annotations

import numpy as np
from pytensor.gradient import disconnected_grad

from .lowering.core import lift
from .lowering.registry import OWN_GROUP, register_fn
from .traced import Traced


def stop_gradient(x):
    """The value of ``x``, treated as a constant by every derivative (JAX's ``stop_gradient``,
    torch's ``detach``).  ``x`` may be an array, a float or a tuple/list/dict of them.

    Example::

        target = r + ad.stop_gradient(s_next @ theta)   # a TD target is not differentiated
    """
    return x


def _stop(x):
    t = type(x)
    if t is Traced:
        value = x.value
        # a copy of an array: writing into the result must not reach x's value
        value = np.array(value, copy=True) if isinstance(value, np.ndarray) else value
        return lift(value, disconnected_grad(x.sym))
    if t in (tuple, list):
        return t(_stop(v) for v in x)
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # a named tuple
        return t(*(_stop(v) for v in x))
    if t is dict:
        return {k: _stop(v) for k, v in x.items()}
    return x


register_fn(stop_gradient, _stop, OWN_GROUP, name="pyautodiff.stop_gradient")
