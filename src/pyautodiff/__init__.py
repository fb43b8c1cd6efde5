"""pyautodiff: differentiate ordinary numpy code.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> ad.grad(lambda x: np.sum(np.sin(x)))(np.zeros(2))
    array([1., 1.])
"""
from .api import (
    check_grad,
    function,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    trace,
    value_and_grad,
    vjp,
)
from .custom_rules import custom_jvp, custom_vjp
from .data_parallel import data_parallel
from .errors import (
    AutodiffError,
    CacheSizeWarning,
    CodeCacheWarning,
    InternalError,
    UnsupportedError,
    VerificationError,
)
from .export import export_source
from .hessp import hessp
from .optimize import fmin_bfgs, fmin_cg, fmin_l_bfgs_b, fmin_ncg, minimize
from .optimize_constraints import Bounds
from .stop_gradient import stop_gradient
from .structure import register_pytree_node
from .trace import Trace
from .verify import VerificationWarning, Verify
from .vmap import vmap

__version__ = "0.1.0"

__all__ = [
    "function", "grad", "value_and_grad", "hessian", "hvp", "jacobian", "jvp", "vjp",
    "stop_gradient", "hessp", "register_pytree_node", "custom_vjp", "custom_jvp", "vmap",
    "minimize", "Bounds", "data_parallel", "fmin_l_bfgs_b", "fmin_cg", "fmin_ncg", "fmin_bfgs",
    "trace", "Trace", "export_source", "Verify", "VerificationWarning", "check_grad", "AutodiffError", "UnsupportedError", "VerificationError", "InternalError",
    "CodeCacheWarning", "CacheSizeWarning",
]
