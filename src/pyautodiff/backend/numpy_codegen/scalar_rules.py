"""Scalar rules: the numpy form of each scalar op inside an Elemwise or Composite.

A scalar rule receives the generator, the scalar op, one `_Expr` per input
and the output dtypes, and returns one `_Expr` per output.  Most ops map to
a numpy operator or ufunc of the same meaning (the tables at the end);
special functions without a numpy equivalent come from ``scipy.special``.

Example::

    @scalar_rule("pytensor.scalar.basic.Clip")
    def _rule_clip(g, op, args, out_dtypes):
        return [apply_template(call_template("np.clip", 3), args, out_dtypes[0])]
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .expressions import (
    P_ADD,
    P_ATOM,
    P_BAND,
    P_BOR,
    P_BXOR,
    P_CMP,
    P_MUL,
    P_POW,
    POW,
    Tmpl,
    add_probe,
    apply_template,
    binop,
    call_template,
    cast_expr,
    dtype_matches,
    literal_expr,
    np_dtype,
    unop,
)
from .generator import too_deep
from .registry import NoForm, register_scalar_rule, scalar_rule
from .special_helpers import SIGMOID_HELPER, SIGMOID_TAIL_HELPER


def _tmpl_rule(tmpl_or_factory):
    """A rule applying a fixed template (or one built from the arg count)."""

    def rule(g, op, args, out_dtypes):
        tmpl = tmpl_or_factory(len(args)) if callable(tmpl_or_factory) else tmpl_or_factory
        return [apply_template(tmpl, args, out_dtypes[0])]

    return rule


def scipy_rule(func: str, nargs: int):
    tmpl = Tmpl(f"scipy.special.{func}(" + ", ".join(
        f"{{{i}}}" for i in range(nargs)) + ")")

    def rule(g, op, args, out_dtypes):
        g.need("scipy.special", func)
        return [apply_template(tmpl, args, out_dtypes[0])]

    return rule


@scalar_rule("pytensor.scalar.basic.Identity")
def _rule_identity(g, op, args, out_dtypes):
    return [cast_expr(args[0], out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.Second")
def _rule_second(g, op, args, out_dtypes):
    # fill(x, y): the value of y; the shape effect of x is restored (if
    # needed) by the Elemwise broadcasting check.
    return [cast_expr(args[1], out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.Cast")
def _rule_cast(g, op, args, out_dtypes):
    return [cast_expr(args[0], out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.Invert")
def _rule_invert(g, op, args, out_dtypes):
    (x,) = args
    # `~` on a Python bool is integer negation, so only use it on numpy values
    if np.dtype(out_dtypes[0]).kind == "b" and (x.weak or np_dtype(x.dtype).kind != "b"):
        return [apply_template(call_template("np.logical_not", 1), args, out_dtypes[0])]
    return [apply_template(unop("~"), args, out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.Switch")
def _rule_switch(g, op, args, out_dtypes):
    return [apply_template(call_template("np.where", 3), args, out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.Sqr")
def _rule_sqr(g, op, args, out_dtypes):
    return [apply_template(Tmpl("{0} ** 2", P_POW, (P_POW + 1,)), args, out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.Reciprocal")
def _rule_reciprocal(g, op, args, out_dtypes):
    return [apply_template(Tmpl("1 / {0}", P_MUL, (P_MUL + 1,)), args, out_dtypes[0])]


@scalar_rule("pytensor.scalar.math.Softplus")
def _rule_softplus(g, op, args, out_dtypes):
    # log(1 + exp(x)) without overflow, as np.logaddexp(0, x) computes it (max(x, 0) +
    # log1p(exp(-|x|))) but about 3x faster: logaddexp has no vectorized loop.
    x = g.atom(args[0])
    return [apply_template(Tmpl("np.maximum({0}, 0.0) + np.log1p(np.exp(-np.abs({0})))", P_ADD), [x], out_dtypes[0])]


@scalar_rule("pytensor.scalar.math.Sigmoid")
def _rule_sigmoid(g, op, args, out_dtypes):
    # Real floats: the helper (four passes, both tails accurate, see special_helpers).
    # Otherwise 1 / (1 + exp(-x)) without overflow: e = exp(-|x|) is in (0, 1],
    # sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below (the tanh form loses the
    # lower tail; exp(-logaddexp(0, -x)) is 5x slower and 10x less accurate there).
    if np.dtype(out_dtypes[0]).kind == "f" and (args[0].weak or np_dtype(args[0].dtype).kind == "f"):
        _need_sigmoid(g)
        return [apply_template(Tmpl("sigmoid({0})"), args, out_dtypes[0])]
    x = g.atom(args[0])
    e = g.atom(apply_template(Tmpl("np.exp(-np.abs({0}))"), [x], out_dtypes[0]))
    return [apply_template(Tmpl("np.where({0} >= 0, 1.0, {1}) / (1.0 + {1})", P_MUL), [x, e], out_dtypes[0])]


@scalar_rule("pytensor.scalar.math.Log1mexp")
def _rule_log1mexp(g, op, args, out_dtypes):
    x = g.atom(args[0])
    tmpl = Tmpl("np.where({0} < np.log(0.5), np.log1p(-np.exp({0})), np.log(-np.expm1({0})))")
    return [apply_template(tmpl, [x], out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.RoundHalfAwayFromZero")
def _rule_round_half_away(g, op, args, out_dtypes):
    x = g.atom(args[0])
    tmpl = Tmpl("np.where({0} > 0, np.floor({0} + 0.5), np.ceil({0} - 0.5))")
    return [apply_template(tmpl, [x], out_dtypes[0])]


@scalar_rule("pytensor.tensor.math.MulWithoutZeros")
def _rule_mul_without_zeros(g, op, args, out_dtypes):
    x, y = (g.atom(a) for a in args)
    tmpl = Tmpl("np.where({0} == 0, {1}, np.where({1} == 0, {0}, {0} * {1}))")
    return [apply_template(tmpl, [x, y], out_dtypes[0])]


@scalar_rule("pytensor.scalar.math.TriGamma")
def _rule_trigamma(g, op, args, out_dtypes):
    g.need("scipy.special", "polygamma")
    return [apply_template(Tmpl("scipy.special.polygamma(1, {0})"), args, out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.Complex")
def _rule_complex(g, op, args, out_dtypes):
    return [apply_template(Tmpl("{0} + 1j * {1}", P_ADD, (P_ADD, P_MUL + 1)), args, out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.ComplexFromPolar")
def _rule_complex_from_polar(g, op, args, out_dtypes):
    return [apply_template(Tmpl("{0} * np.exp(1j * {1})", P_MUL, (P_MUL, P_MUL + 1)), args,
                   out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.Clip")
def _rule_clip(g, op, args, out_dtypes):
    return [apply_template(call_template("np.clip", 3), args, out_dtypes[0])]


@scalar_rule("pytensor.scalar.basic.Composite")
def _rule_composite(g, op, args, out_dtypes):
    """A fused kernel: render the inner scalar graph as one numpy expression per
    output, with a temporary for every inner value used more than once."""
    from pytensor.graph.basic import Constant
    from pytensor.scalar.basic import Mul, Neg
    from pytensor.scalar.math import Sigmoid

    fg = op.fgraph
    nodes = fg.toposort()
    uses = Counter(inp for n in nodes for inp in n.inputs)
    uses.update(fg.outputs)
    # an input expression used more than once inside is computed once
    env = {v: g.atom(a) if uses[v] > 1 else a for v, a in zip(fg.inputs, args)}

    # a sigmoid whose one use is a product (or a negation) waits for it: sigmoid(u) * a
    # renders as one helper call (_scaled_sigmoid), or, where that does not fit, as before
    waiting = {}

    def get(v):
        if v in waiting:
            render(waiting.pop(v))
        if v not in env:
            if not isinstance(v, Constant):
                raise NoForm("composite inner variable without value")
            env[v] = literal_expr(v.data, v.type.dtype)
        return env[v]

    inputs = {v: i for i, v in enumerate(fg.inputs)}

    def in_place(op, operands, out_dtype):
        return _in_place(g, op, operands, out_dtype, get, uses, inputs)

    def render(node):
        outs = (_scaled_sigmoid(g, node, uses, get, waiting, in_place)
                or _sigmoid_of_negation(g, node, uses, get, in_place)
                or (len(node.outputs) == 1 and in_place(node.op, node.inputs, node.outputs[0].type.dtype))
                or g.scalar(node.op, [get(v) for v in node.inputs], [o.type.dtype for o in node.outputs]))
        for var, e in zip(node.outputs, outs):
            if (uses[var] > 1 and not (e.is_name or e.is_literal)) or too_deep(e):
                e = g.bind(e).replace(fresh=False)  # shared: never modify in place
            env[var] = e

    users = {v: n for n in nodes for v in n.inputs}
    for node in nodes:
        out = node.outputs[0]
        if isinstance(node.op, Sigmoid) and uses[out] == 1 and isinstance(getattr(users.get(out), "op", None),
                                                                           (Mul, Neg)):
            waiting[out] = node
        else:
            render(node)
    return [cast_expr(get(o), dt) for o, dt in zip(fg.outputs, out_dtypes)]


# Binary ops whose result may go into an operand's buffer as an augmented assignment:
# either operand of a commutative one (the same value to the last bit), the left of the others.
_IN_PLACE = {"Mul": ("*=", (0, 1)), "Add": ("+=", (0, 1)), "Sub": ("-=", (0,)), "TrueDiv": ("/=", (0,))}
# Only for buffers of a static size up to glibc's default mmap threshold (128 KiB): smaller
# blocks come from the heap, reused warm, so one allocation fewer is a gain (measured before
# backend/allocator.py raised glibc's thresholds at the first compile; not re-measured since,
# so the bound stays where it was measured safe).  A larger one
# is mapped or reused depending on the history of frees (a threshold that moves, a heap
# top that is trimmed), and on this machine a fresh 512 KiB block costs 128 page faults,
# 250 us: in the MLP's gradient (256 x 256) writing two products in place made later
# blocks fault and the call 2 ms slower (7.3 ms, 5.3 before); the pattern is not predictable.
_IN_PLACE_MAX_BYTES = 128 * 1024


def _in_place(g, op, operands, out_dtype, get, uses, inputs):
    """``a op b`` of a fused kernel as ``t = a; t op= b`` where ``a`` (the inner variable
    ``operands[k]``) is an input of the Elemwise used once in the kernel and a fresh
    temporary nobody else reads (``y * (X @ w)``: the product's result goes into the
    matrix product's buffer, one allocation fewer, 0.7-1.2 us of a 70 us logistic
    gradient), the result has its dtype and ``b`` broadcasts within its shape.  Returns
    ``[Expr]`` or None (then the usual form)."""
    sym, sides = _IN_PLACE.get(type(op).__name__, (None, ()))
    if len(operands) != 2:
        return None
    for k in sides:
        v, other = operands[k], operands[1 - k]
        pos = inputs.get(v)
        if pos is None or uses[v] != 1 or pos >= len(g.elemwise_inputs):
            continue
        var = g.elemwise_inputs[pos]
        shape = getattr(var.type, "shape", (None,))
        if None in shape or int(np.prod(shape)) * np.dtype(out_dtype).itemsize > _IN_PLACE_MAX_BYTES:
            continue
        buf = g.expr(var)
        # (get(v) is another text where the Elemwise named its inputs to take a shape from)
        if get(v).text != buf.text or not g.reusable(var, buf) or np_dtype(buf.dtype) != np.dtype(out_dtype):
            continue
        b = get(other)
        if not _within_shape(g, b.srcs, frozenset({pos})):
            continue
        value = g.scalar(op, [get(u) for u in operands], [out_dtype])[0]  # (its dtype: numpy's rules)
        if value.is_name:  # the same product is computed already
            return [value]
        if value.weak or not dtype_matches(value.dtype, out_dtype):
            continue
        if not buf.is_name:
            buf = g.bind(buf, g.name_for(var), cse=False)
        g.mutated(buf.text)
        g.emit(f"{buf.text} {sym} {b.text}", {buf.text}, buf.names | b.names)
        return [value.replace(text=buf.text, prec=P_ATOM, names={buf.text}, fresh=True)]
    return None


def _sigmoid_of_negation(g, node, uses, get, in_place):
    """``sigmoid(-1 * a * b)`` of a fused kernel as ``sigmoid(a * b, neg=True)``: the same
    value to the last bit (multiplying by -1 is exact, rounding symmetric in sign) in two
    passes fewer.  None where the pattern or the dtypes do not fit."""
    from pytensor.scalar.math import Sigmoid

    if not isinstance(node.op, Sigmoid):
        return None
    rest = _negated_argument(g, node, uses, get, in_place)
    if rest is None:
        return None
    return [_sigmoid_call(g, rest, True, None, node.outputs[0].dtype)]


def _negated_argument(g, node, uses, get, in_place):
    """``a * b`` where the argument of the Sigmoid ``node`` is ``-1 * a * b`` (used only
    there, of the sigmoid's float dtype), else None."""
    from pytensor.graph.basic import Constant
    from pytensor.scalar.basic import Mul

    arg = node.inputs[0]
    mul = arg.owner
    if mul is None or not isinstance(mul.op, Mul) or uses[arg] != 1 or np.dtype(arg.dtype).kind != "f":
        return None
    index = next((i for i, v in enumerate(mul.inputs) if isinstance(v, Constant) and v.data == -1), None)
    if index is None:
        return None
    factors = mul.inputs[:index] + mul.inputs[index + 1:]
    if len(factors) == 1:
        rest = get(factors[0])
    else:
        rest = ((len(factors) == 2 and in_place(mul.op, factors, arg.dtype))
                or g.scalar(mul.op, [get(v) for v in factors], [arg.dtype]))[0]
    if rest.weak or not dtype_matches(rest.dtype, arg.dtype):
        return None
    return rest


def _scaled_sigmoid(g, node, uses, get, waiting, in_place):
    """``sigmoid(u) * a`` of a fused kernel (the chain rule's product for the derivative
    of softplus or log-sigmoid) as ``sigmoid(u, scale=a)``: a / (1 + exp(-u)), one pass
    and one temporary fewer, one rounding fewer; a factor -1 or ``-sigmoid(u)`` as
    ``minus=True``, in no pass of its own.  Only where the product has the
    sigmoid's float dtype and ``a`` cannot broadcast the result beyond u's shape (the
    helper divides in place into u's buffer); None elsewhere."""
    from pytensor.scalar.basic import Mul, Neg

    if not isinstance(node.op, (Mul, Neg)):
        return None
    out_dt = np.dtype(node.outputs[0].dtype)
    pos = next((i for i, v in enumerate(node.inputs) if v in waiting), None)
    if pos is None or out_dt.kind != "f" or np.dtype(node.inputs[pos].dtype) != out_dt:
        return None
    sig = waiting[node.inputs[pos]]
    rest = _negated_argument(g, sig, uses, get, in_place)
    u = rest if rest is not None else get(sig.inputs[0])
    if not (u.weak or np_dtype(u.dtype).kind == "f"):
        return None
    others = node.inputs[:pos] + node.inputs[pos + 1:]
    # a -1 factor (a sign flip that negation_sink left here), or a negation, goes into the division
    factors = [v for v in others if not _is_minus_one(v)]
    minus = (len(others) - len(factors) + isinstance(node.op, Neg)) % 2 == 1
    if not factors:
        scale = None
    else:
        scale = get(factors[0]) if len(factors) == 1 else g.scalar(node.op, [get(v) for v in factors], [out_dt])[0]
        widens = not scale.weak and np.result_type(scale.dtype, out_dt) != out_dt  # (a Python scalar never does)
        if widens or not _within_shape(g, scale.srcs, u.srcs):
            return None
    del waiting[node.inputs[pos]]  # rendered here, never on its own
    return [_sigmoid_call(g, u, rest is not None, scale, out_dt, minus)]


def _is_minus_one(v) -> bool:
    from pytensor.graph.basic import Constant

    return isinstance(v, Constant) and np.ndim(v.data) == 0 and v.data == -1


def _within_shape(g, inner, outer) -> bool:
    """Whether values read from the Elemwise inputs ``inner`` broadcast to no larger shape
    than those read from ``outer`` (positions, as ``Expr.srcs``): every dimension some
    inner input may have longer than 1 is one some outer input may too (then both have
    its length: PyTensor never broadcasts a dimension at run time that is not statically 1)."""
    if inner <= outer:
        return True
    shapes = g.elemwise_shapes
    if not shapes or max(inner | outer) >= len(shapes):
        return False
    return all(any(shapes[i][d] != 1 for i in outer)
               for d in range(len(shapes[0])) if any(shapes[i][d] != 1 for i in inner))


def _need_sigmoid(g):
    g.helper("sigmoid", SIGMOID_HELPER)
    g.helper("_sigmoid_tail", SIGMOID_TAIL_HELPER)


def _sigmoid_call(g, x, neg, scale, out_dtype, minus=False):
    """The helper's call on ``x`` (negated if ``neg``, times ``scale`` if given, the result
    negated if ``minus``); it may overwrite a large x when x is an inline temporary (a fresh
    expression, not a name)."""
    _need_sigmoid(g)
    args, keywords = [x], ["neg=True"] if neg else []
    if scale is not None:
        keywords.append(f"scale={{{len(args)}}}")
        args.append(scale)
    if x.fresh and not x.weak and not x.is_name:
        keywords.append("scratch=True")
    if minus:
        keywords.append("minus=True")
    return apply_template(Tmpl("sigmoid(" + ", ".join(["{0}"] + keywords) + ")"), args, out_dtype)


# Python operators, by scalar op name: (symbol, precedence).
_BINOPS = {"Add": ("+", P_ADD), "Sub": ("-", P_ADD), "Mul": ("*", P_MUL),
           "TrueDiv": ("/", P_MUL), "IntDiv": ("//", P_MUL), "Mod": ("%", P_MUL),
           "EQ": ("==", P_CMP), "NEQ": ("!=", P_CMP), "LT": ("<", P_CMP),
           "GT": (">", P_CMP), "LE": ("<=", P_CMP), "GE": (">=", P_CMP),
           "AND": ("&", P_BAND), "OR": ("|", P_BOR), "XOR": ("^", P_BXOR)}
# numpy ufuncs of the same name and meaning, by scalar op name.
_UFUNCS = {"Abs": "abs", "Sign": "sign", "Floor": "floor", "Ceil": "ceil", "Trunc": "trunc",
           "RoundHalfToEven": "round", "Sqrt": "sqrt", "Exp": "exp", "Exp2": "exp2",
           "Expm1": "expm1", "Log": "log", "Log2": "log2", "Log10": "log10",
           "Log1p": "log1p", "Sin": "sin", "Cos": "cos", "Tan": "tan", "ArcSin": "arcsin",
           "ArcCos": "arccos", "ArcTan": "arctan", "ArcTan2": "arctan2", "Sinh": "sinh",
           "Cosh": "cosh", "Tanh": "tanh", "ArcSinh": "arcsinh", "ArcCosh": "arccosh",
           "ArcTanh": "arctanh", "Deg2Rad": "deg2rad", "Rad2Deg": "rad2deg",
           "Maximum": "maximum", "Minimum": "minimum", "IsNan": "isnan", "IsInf": "isinf",
           "Conj": "conj", "Angle": "angle"}
# Special functions without a numpy equivalent come from scipy.special:
# scalar op name (in pytensor.scalar.math) -> (scipy function, arity).
_SPECIAL = {"Erf": ("erf", 1), "Erfc": ("erfc", 1), "Erfcx": ("erfcx", 1),
            "Erfinv": ("erfinv", 1), "Erfcinv": ("erfcinv", 1), "Gamma": ("gamma", 1),
            "GammaLn": ("gammaln", 1), "Psi": ("psi", 1), "PolyGamma": ("polygamma", 2),
            "GammaInc": ("gammainc", 2), "GammaIncC": ("gammaincc", 2),
            "GammaIncInv": ("gammaincinv", 2), "GammaIncCInv": ("gammainccinv", 2),
            "Jv": ("jv", 2), "J0": ("j0", 1), "J1": ("j1", 1), "I0": ("i0", 1),
            "I1": ("i1", 1), "Ive": ("ive", 2), "Kve": ("kve", 2),
            "BetaInc": ("betainc", 3), "BetaIncInv": ("betaincinv", 3),
            "Hyp2F1": ("hyp2f1", 4), "Owens_t": ("owens_t", 2), "NdtriExp": ("ndtri_exp", 1)}

for _name, (_sym, _prec) in _BINOPS.items():
    register_scalar_rule(f"pytensor.scalar.basic.{_name}",
                         _tmpl_rule(lambda n, sym=_sym, prec=_prec: binop(sym, prec, n)))
for _name, _fn_name in _UFUNCS.items():
    register_scalar_rule(f"pytensor.scalar.basic.{_name}",
                         _tmpl_rule(lambda n, fn=_fn_name: call_template(f"np.{fn}", n)))


def _view_rule(fn_name):
    """np.real / np.imag of a complex array are views of it, not new arrays: never fresh
    (nothing may write into them in place, e.g. the sigmoid helper's ``scratch``)."""
    rule = _tmpl_rule(lambda n: call_template(f"np.{fn_name}", n))
    return lambda g, op, args, out_dtypes: [e.replace(fresh=False) for e in rule(g, op, args, out_dtypes)]


for _name, _fn_name in (("Real", "real"), ("Imag", "imag")):
    register_scalar_rule(f"pytensor.scalar.basic.{_name}", _view_rule(_fn_name))
for _name, (_fn_name, _nargs) in _SPECIAL.items():
    register_scalar_rule(f"pytensor.scalar.math.{_name}", scipy_rule(_fn_name, _nargs))
register_scalar_rule("pytensor.scalar.basic.Neg", _tmpl_rule(unop("-")))
add_probe("sigmoid", f"{SIGMOID_TAIL_HELPER}\n\n\n{SIGMOID_HELPER}")
register_scalar_rule("pytensor.scalar.basic.Pow", _tmpl_rule(POW))
