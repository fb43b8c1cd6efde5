"""PyTensor ops for numpy/scipy functions PyTensor lacks, computed by numpy/scipy itself.

- ``ArgPartition``: ``np.argpartition``.  The arrangement numpy's introselect leaves
  around the ``kth`` elements is its own (no sort reproduces it), so the op calls numpy;
  its output is integer (no derivative) and ``np.partition`` gathers through it, so
  the gradient of a partition flows back through the same permutation.
- ``Y0``, ``Y1``, ``Yn``, ``Yv``: Bessel functions of the second kind (``scipy.special``),
  differentiated in ``x`` by the recurrences ``y0' = -y1``, ``y1' = y0 - y1 / x`` and
  ``y_v' = (y_{v-1} - y_{v+1}) / 2``; the order is not differentiable.
- ``ScipyValue``: a scipy function evaluated by scipy with a zero derivative, for
  integer-valued, piecewise-constant functions (derivative zero almost everywhere, as a
  finite difference sees it): the discrete quantiles ``_binom_ppf``/``_nbinom_ppf`` and
  ``scipy.stats.poisson.ppf`` (scipy_stats.py).
- ``FMod``: ``np.fmod``, exact as C's ``fmod`` (float ``//`` is built on it), with a C and
  a Numba form of its own.

The numpy code generator writes them as the same numpy/scipy calls
(``backend/numpy_codegen/host_rules.py``).

Example::

    idx = ArgPartition((2,), 0)(x)          # np.argpartition(x, 2, axis=0)
    k = scipy_value("scipy.special._ufuncs._binom_ppf", q, n, p)   # scipy's own quantile
    y = pt.elemwise.Elemwise(y0_scalar)(x)  # scipy.special.y0(x)
"""
from __future__ import annotations

import functools
import hashlib
import importlib

import numpy as np
import pytensor.tensor as pt
import scipy.special as sc
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.scalar import basic as ps
from pytensor.tensor.elemwise import Elemwise


class ArgPartition(Op):
    """``np.argpartition(x, kth, axis=axis)`` as int64 (``axis`` non-negative)."""

    __props__ = ("kth", "axis")

    def __init__(self, kth: tuple, axis: int):
        self.kth, self.axis = tuple(int(k) for k in kth), int(axis)

    def make_node(self, x):
        x = pt.as_tensor_variable(x)
        return Apply(self, [x], [pt.tensor(dtype="int64", shape=x.type.shape)])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.argpartition(inputs[0], self.kth, axis=self.axis).astype(np.int64, copy=False)

    def connection_pattern(self, node):
        return [[False]]

    def pullback(self, inputs, outputs, output_grads):
        return [DisconnectedType()()]

    L_op = pullback


class ScipyValue(Op):
    """``name(*inputs)`` (a dotted path: module, then attributes) on inputs of one shape, as
    float64, with a zero derivative (only for piecewise-constant functions)."""

    __props__ = ("name",)
    python_only = True  # no Numba form: the tiered backend keeps such graphs on numpy code

    def __init__(self, name: str):
        # names only: the op pickles (code cache) without scipy objects
        self.name, self.module = name, resolve(name)[1]

    def make_node(self, *xs):
        xs = [pt.as_tensor_variable(x) for x in xs]
        return Apply(self, xs, [pt.tensor(dtype="float64", shape=xs[0].type.shape)])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.asarray(resolve(self.name)[0](*inputs), dtype=np.float64)

    def pullback(self, inputs, outputs, output_grads):
        return [pt.zeros_like(x, dtype=x.dtype if x.dtype.startswith("float") else "float64") for x in inputs]

    L_op = pullback


@functools.lru_cache(maxsize=None)
def resolve(name: str):
    """The object at dotted path ``name`` (``scipy.stats.poisson.ppf``) and its module's name."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        module = obj.__name__
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj, module
    raise ImportError(name)


def scipy_value(name: str, *xs):
    """``name(*xs)`` computed by scipy on broadcast float64 operands, with a zero derivative."""
    xs = pt.broadcast_arrays(*[pt.cast(pt.as_tensor_variable(x), "float64") for x in xs])
    return ScipyValue(name)(*xs)


class _BesselY(ps.ScalarOp):
    """A scipy.special Bessel function of the second kind; the subclass names it."""

    def impl(self, *args):
        return getattr(sc, self.scipy_name)(*args)

    def c_code(self, *args, **kwargs):  # PyTensor's C backend runs ``impl`` (as for its own Jv)
        raise NotImplementedError()


class Y0(_BesselY):
    nin, scipy_name = 1, "y0"
    nfunc_spec = ("scipy.special.y0", 1, 1)

    def pullback(self, inputs, outputs, grads):
        (x,), (gz,) = inputs, grads
        return [gz * -y1_scalar(x)]

    L_op = pullback


class Y1(_BesselY):
    nin, scipy_name = 1, "y1"
    nfunc_spec = ("scipy.special.y1", 1, 1)

    def pullback(self, inputs, outputs, grads):
        (x,), (gz,) = inputs, grads
        return [gz * (y0_scalar(x) - outputs[0] / x)]

    L_op = pullback


class Yn(_BesselY):
    """``yn(n, x)``, integer order ``n``."""

    nin, scipy_name = 2, "yn"
    nfunc_spec = ("scipy.special.yn", 2, 1)

    def pullback(self, inputs, outputs, grads):
        (n, x), (gz,) = inputs, grads
        return [grad_not_implemented(self, 0, n), gz * (yn_scalar(n - 1, x) - yn_scalar(n + 1, x)) / 2.0]

    L_op = pullback


class Yv(_BesselY):
    """``yv(v, x)``, real order ``v``."""

    nin, scipy_name = 2, "yv"
    nfunc_spec = ("scipy.special.yv", 2, 1)

    def pullback(self, inputs, outputs, grads):
        (v, x), (gz,) = inputs, grads
        return [grad_not_implemented(self, 0, v), gz * (yv_scalar(v - 1, x) - yv_scalar(v + 1, x)) / 2.0]

    L_op = pullback


y0_scalar, y1_scalar = Y0(ps.upgrade_to_float, name="y0"), Y1(ps.upgrade_to_float, name="y1")
yn_scalar, yv_scalar = Yn(ps.upgrade_to_float, name="yn"), Yv(ps.upgrade_to_float, name="yv")
BESSEL_Y = {"y0": Elemwise(y0_scalar), "y1": Elemwise(y1_scalar), "yn": Elemwise(yn_scalar),
            "yv": Elemwise(yv_scalar)}


class FMod(ps.BinaryScalarOp):
    """``np.fmod``: C's ``fmod`` (exact, the dividend's sign); for integers a zero divisor
    gives 0, numpy's convention.  PyTensor has no such op, and ``a - trunc(a / b) * b``
    is not it: ``a / b`` rounds (``fmod(1.0, 0.1)`` is 0.0999..., not 0.0) and loses
    integers above 2**53.  Its Numba form is ``register_numba_fmod``."""

    nfunc_spec = ("fmod", 2, 1)

    def impl(self, x, y):
        return np.fmod(x, y)

    def c_support_code(self, **kwargs):
        # a macro: c_code's text goes through another %-formatting
        return "#define PYAUTODIFF_FMOD_INT(x, y) (x % y)"

    def c_code(self, node, name, inputs, outputs, sub):
        (x, y), (z,) = inputs, outputs
        dtype = node.outputs[0].type.dtype
        if dtype.startswith("float"):
            return f"{z} = fmod({x}, {y});"
        if dtype.startswith("int"):  # y == -1: 0, where INT_MIN % -1 would trap
            return f"{z} = ({y} == 0 || {y} == -1) ? 0 : PYAUTODIFF_FMOD_INT({x}, {y});"
        if dtype.startswith("uint"):
            return f"{z} = {y} == 0 ? 0 : PYAUTODIFF_FMOD_INT({x}, {y});"
        raise NotImplementedError(dtype)

    def c_code_cache_version(self):
        return (1,)

    def pullback(self, inputs, outputs, grads):
        (x, y), (z,), (gz,) = inputs, outputs, grads
        if z.type in ps.discrete_types:
            return [x.zeros_like(dtype="float64"), y.zeros_like(dtype="float64")]
        # fmod(x, y) = x - n * y, n the truncated exact quotient: (x - z) / y is n up to rounding
        # (-trunc(x / y) is not: 1.0 / 0.1 rounds to 10, n is 9)
        return [gz, -gz * ps.round_half_to_even((x - z) / y)]

    L_op = pullback


fmod_scalar = FMod(ps.upcast_out_no_complex, name="fmod")
fmod = Elemwise(fmod_scalar)

_NUMBA_FMOD = {
    "f": """def fmod_(x, y):
    return out(np.fmod(x, y))  # LLVM's frem: C's fmod (Numba has no math.fmod)
""",
    "i": """def fmod_(x, y):
    if y == 0 or y == -1:  # numpy: 0 (and INT_MIN % -1 would overflow)
        return out(0)
    r = x % y  # Python's floored remainder, with the divisor's sign
    return out(r - y if r != 0 and (r < 0) != (x < 0) else r)
""",
    "u": """def fmod_(x, y):
    return out(0) if y == 0 else out(x % y)
""",
}


@functools.cache  # once per process: a second registration would only repeat it
def register_numba_fmod() -> None:
    """Teach PyTensor's Numba linker ``FMod`` (idempotent; imports Numba)."""
    from pytensor.link.numba.dispatch import basic

    @basic.register_funcify_and_cache_key(FMod)
    def _numba_fmod(op, node=None, **kwargs):
        from pytensor.link.numba.cache import compile_numba_function_src

        dtype = np.dtype(node.outputs[0].type.dtype)
        source = _NUMBA_FMOD[dtype.kind if dtype.kind in "iu" else "f"]
        key = hashlib.sha256(f"pyautodiff fmod v1 {dtype.name}\n{source}".encode()).hexdigest()
        env = {"np": np, "out": dtype.type, "__name__": __name__}
        fn = compile_numba_function_src(source, "fmod_", env, cache_key=key)
        return basic.numba_njit(fn), key
