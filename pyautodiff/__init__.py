"""pyautodiff: differentiate ordinary numpy code.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> ad.grad(lambda x: np.sum(np.sin(x)))(np.zeros(2))
    array([1., 1.])
"""
from .api import function, grad, hessian, hvp, jacobian, jvp, trace, value_and_grad, vjp
from .errors import AutodiffError, InternalError, UnsupportedError, VerificationError
from .errors import CacheSizeWarning, CodeCacheWarning
from .trace import Trace
from .verify import Verify, VerificationWarning, check_grad
from .export import export_source
from .data_parallel import data_parallel
from .optimize import fmin_bfgs, fmin_cg, fmin_l_bfgs_b, fmin_ncg, minimize
from .optimize_constraints import Bounds
from .stop_gradient import stop_gradient
from .hessp import hessp
from .structure import register_pytree_node
from .custom_rules import custom_jvp, custom_vjp
from .vmap import vmap

__version__ = "0.1.0"

__all__ = [
    "function", "grad", "value_and_grad", "hessian", "hvp", "jacobian", "jvp", "vjp",
    "stop_gradient", "hessp", "register_pytree_node", "custom_vjp", "custom_jvp", "vmap",
    "minimize", "Bounds", "data_parallel", "fmin_l_bfgs_b", "fmin_cg", "fmin_ncg", "fmin_bfgs",
    "trace", "Trace", "export_source", "Verify", "VerificationWarning", "check_grad", "AutodiffError", "UnsupportedError", "VerificationError", "InternalError",
    "CodeCacheWarning", "CacheSizeWarning",
]
