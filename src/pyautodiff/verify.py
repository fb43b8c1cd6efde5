"""Verification: re-run the original code and check derivatives numerically.

The two errors users of an autodiff tool fear are a wrong *function* (the
trace does not compute what the code computes) and a wrong *derivative*.
``verify=`` on any transformation checks both, on the first call and then
periodically:

- ``"value"``: the user's original function runs under real CPython on the
  same inputs; its result must equal the compiled value.
- ``"grad"``: along a random direction ``d`` (scaled like the inputs), the
  derivative the transformation claims is compared with a central finite
  difference of the *original* function, Richardson-extrapolated, with the
  step chosen from machine epsilon.  Every transformation is reduced to a
  scalar probe ``phi(t) = w . f(x + t d)``: grad, jacobian, jvp and vjp
  predict ``phi'(0)``; hessian and hvp predict ``phi''(0)``.

The tolerance is ``rtol * |derivative| + atol`` plus the finite difference's
own round-off estimate (``eps * |phi| / h``), so objectives of any scale pass
when right and fail when wrong.

Example::

    g = ad.grad(loss, verify=ad.Verify(every=100, rtol=1e-5, on_fail="warn"))
    report = ad.check_grad(loss, W, X, y)      # .ok, .value_error, .grad_error
"""
from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import structure
from .errors import VerificationError
from .transforms import KINDS

_DEFAULT = {"policy": None}  # set by the pytest plugin or PYAUTODIFF_VERIFY


@dataclass(frozen=True)
class Verify:
    """How to verify: every n-th call (and the first), tolerances, checks, and what to do on failure."""

    every: int = 1
    rtol: float = 1e-5
    atol: float = 0.0
    checks: tuple = ("value", "grad")
    on_fail: str = "raise"
    seed: int = 0

    def __post_init__(self):
        if self.every < 1:
            raise ValueError("Verify(every=n) needs n >= 1")
        if self.on_fail not in ("raise", "warn"):
            raise ValueError("on_fail must be 'raise' or 'warn'")
        bad = set(self.checks) - {"value", "grad"}
        if bad:
            raise ValueError(f"unknown checks {sorted(bad)}; use 'value' and/or 'grad'")


class VerificationWarning(UserWarning):
    """A verification check failed with on_fail="warn"."""


def _from_setting(setting) -> Verify | None:
    if setting is None or setting is False:
        return None
    if isinstance(setting, Verify):
        return setting
    if setting is True:
        return Verify()
    if isinstance(setting, str):
        setting = setting.strip().lower()
        if setting in ("", "0", "false", "no", "off"):
            return None
        if setting in ("1", "true", "yes", "on"):
            return Verify()
        return Verify(every=int(setting))
    if isinstance(setting, int):
        return None if setting <= 0 else Verify(every=setting)
    raise TypeError(f"verify= takes False, True, an int n, or ad.Verify(...); got {setting!r}")


def set_default(setting) -> None:
    """Set the process-wide default (what PYAUTODIFF_VERIFY and --autodiff-verify do)."""
    _DEFAULT["policy"] = _from_setting(setting)


def resolve_policy(verify) -> "Policy | None":
    """The policy for a transformation created with ``verify=`` (None: the process default)."""
    if verify is None:
        if _DEFAULT["policy"] is not None:
            return Policy(_DEFAULT["policy"])
        env = os.environ.get("PYAUTODIFF_VERIFY")
        setting = _from_setting(env) if env is not None else None
        return Policy(setting) if setting is not None else None
    setting = _from_setting(verify)
    return Policy(setting) if setting is not None else None


@dataclass
class CheckResult:
    check: str
    ok: bool
    abs_error: float
    rel_error: float
    tolerance: float
    detail: str = ""


@dataclass
class Report:
    """What ``check_grad`` found; raises nothing.  ``ok`` is True when both checks passed."""

    function: str
    value: CheckResult | None
    grad: CheckResult | None
    shapes: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in (self.value, self.grad) if c is not None)

    @property
    def value_error(self) -> float:
        return self.value.abs_error if self.value else 0.0

    @property
    def grad_error(self) -> float:
        return self.grad.rel_error if self.grad else 0.0

    def __repr__(self):
        lines = [f"check_grad({self.function}): {'ok' if self.ok else 'FAILED'}"]
        for c in (self.value, self.grad):
            if c is not None:
                lines.append(f"  {c.check:5s} {'ok ' if c.ok else 'BAD'}  abs err {c.abs_error:.3g}, "
                             f"rel err {c.rel_error:.3g}, tolerance {c.tolerance:.3g}{'  ' + c.detail if c.detail else ''}")
        lines.append("  inputs: " + ", ".join(f"{k} {v}" for k, v in self.shapes.items()))
        return "\n".join(lines)


class Policy:
    """A Verify setting attached to one transformed function."""

    def __init__(self, setting: Verify):
        self.setting = setting
        self._value_fn = None

    def due(self, call_number: int) -> bool:
        return (call_number - 1) % self.setting.every == 0

    def check(self, transformed, args, kwargs, direction, out) -> None:
        transformed.stats.verifications += 1
        report = run_checks(transformed, args, kwargs, direction, out, self.setting, self)
        if report.ok:
            return
        msg = _message(transformed, report)
        if self.setting.on_fail == "warn":
            warnings.warn(msg, VerificationWarning, stacklevel=3)
        else:
            raise VerificationError(msg)


def _message(transformed, report: Report) -> str:
    failed = [c for c in (report.value, report.grad) if c is not None and not c.ok]
    parts = [f"pyautodiff verification of {transformed.kind}({report.function}) failed:"]
    for c in failed:
        what = ("the compiled value differs from the original function's"
                if c.check == "value" else "the derivative differs from a finite difference of the original function")
        parts.append(f"  check '{c.check}': {what}; largest abs error {c.abs_error:.3g}, "
                     f"rel error {c.rel_error:.3g}, tolerance {c.tolerance:.3g}" + (f" ({c.detail})" if c.detail else ""))
    parts.append("  inputs: " + ", ".join(f"{k} {v}" for k, v in report.shapes.items()))
    if report.value is not None and not report.value.ok:
        parts.append("  A function whose result changes between calls with equal inputs (hidden state such "
                     "as a counter, random numbers, or a mutable object that pyautodiff did not see) "
                     "cannot be cached.")
    return "\n".join(parts)


# -- the checks ---------------------------------------------------------------------

def run_checks(transformed, args, kwargs, direction, out, setting: Verify, policy=None) -> Report:
    from .trace import flatten_call

    f = transformed.original
    fname = getattr(f, "__qualname__", repr(f))
    leaves, paths, _ = flatten_call(f, args, kwargs)
    shapes = {p: f"{np.shape(l)} {np.asarray(l).dtype}" for p, l in zip(paths, leaves)}
    value_res = grad_res = None
    kind = transformed.kind
    if "value" in setting.checks:
        compiled = _compiled_value(transformed, args, kwargs, direction, out, policy)
        expected = f(*_copy(args), **_copy(kwargs))
        value_res = _compare_values(compiled, expected, setting)
    if "grad" in setting.checks and KINDS[kind].differentiates:
        grad_res = _check_derivative(transformed, args, kwargs, direction, out, setting)
    return Report(fname, value_res, grad_res, shapes)


def _copy(x):
    return copy.deepcopy(x)


def _compiled_value(transformed, args, kwargs, direction, out, policy):
    parts = KINDS[transformed.kind].parts
    if parts[0].layout in ("outputs", "cost"):  # the call returns the value (first)
        return out if len(parts) == 1 else out[0]
    # grad, hessian, hvp, jacobian: the value comes from the same trace, compiled as a function
    # (api imports this module: no import back; a has_aux view names the class)
    Transformed = getattr(transformed, "transformation_class", type(transformed))
    holder = policy if policy is not None else transformed
    fn = getattr(holder, "_value_fn", None)
    if fn is None:
        fn = Transformed(transformed.original, "function", mode=transformed.mode, verify=False)
        holder._value_fn = fn
    return fn(*args, **kwargs)


def _float_leaves(x):
    leaves: list = []
    _walk_numbers(x, leaves)
    return leaves


def _input_leaves(x):
    """The leaves ``structure.rebuild`` replaces (arrays and floats), as arrays."""
    return [np.asarray(v) for v in structure.leaves_of(x) if structure.is_input(v)]


def _walk_numbers(x, out):
    # the leaves in structure's order (dicts by sorted key), so that rebuild() lines up
    for v in structure.leaves_of(x):
        if isinstance(v, (np.ndarray, np.generic, float, int, bool)):
            out.append(np.asarray(v))
        else:
            out.append(v)


def _compare_values(compiled, expected, setting) -> CheckResult:
    a, b = _float_leaves(compiled), _float_leaves(expected)
    if len(a) != len(b):
        return CheckResult("value", False, math.inf, math.inf, setting.rtol, "the results have different structure")
    worst_abs = worst_rel = 0.0
    ok = True
    for x, y in zip(a, b):
        if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            same = x == y
            ok &= bool(same)
            continue
        if x.shape != y.shape:
            return CheckResult("value", False, math.inf, math.inf, setting.rtol,
                               f"shape {x.shape} instead of {y.shape}")
        if x.size == 0:
            continue
        xf, yf = x.astype(float), y.astype(float)
        both_nan = np.isnan(xf) & np.isnan(yf)
        diff = np.where(both_nan, 0.0, np.abs(xf - yf))
        diff = np.where(np.isinf(xf) & (xf == yf), 0.0, diff)
        eps = np.finfo(np.result_type(x.dtype, np.float32) if x.dtype.kind == "f" else np.float64).eps
        rtol = max(setting.rtol, 1e3 * eps)  # the graph may reassociate sums
        tol = setting.atol + rtol * np.abs(yf)
        with np.errstate(invalid="ignore"):
            bad = ~(diff <= tol)
        ok &= not bool(bad.any())
        worst_abs = max(worst_abs, float(np.nanmax(diff)))
        worst_rel = max(worst_rel, float(np.nanmax(diff / np.maximum(np.abs(yf), 1e-300))))
    return CheckResult("value", ok, worst_abs, worst_rel, setting.rtol)


def _check_derivative(transformed, args, kwargs, direction, out, setting) -> CheckResult:
    """Compare the transformation's claim along a random direction with finite differences."""
    kind = transformed.kind
    f = transformed.original
    wrt_args = _wrt_positions(transformed, args, kwargs)
    rng = np.random.default_rng(setting.seed)
    xs = [_get_arg(args, kwargs, w) for w in wrt_args]
    x_leaves = [_input_leaves(x) for x in xs]
    flat_x = [l for leaves in x_leaves for l in leaves]
    eps = max(np.finfo(l.dtype).eps if l.dtype.kind == "f" else np.finfo(float).eps for l in flat_x)
    row = KINDS[kind]
    second_order = row.order == 2
    if row.direction == "wrt":  # the caller's direction (hvp, jvp)
        d_flat = [np.asarray(v, dtype=float) for v in _input_leaves(direction)]
    else:
        d_flat = [_random_direction(l, rng) for l in flat_x]
    # the output weights w (for array-valued f; None: f is scalar) and the claimed derivative
    claim = Claim(out, d_flat, direction, isinstance(transformed.wrt, tuple) or len(xs) > 1,
                  isinstance(transformed.wrt, tuple), rng,
                  lambda: _float_leaves(f(*_copy(args), **_copy(kwargs))))
    w, claimed = _CLAIMS[row.claim](claim, row.parts)

    def phi(t):
        moved = _moved(args, kwargs, wrt_args, x_leaves, d_flat, t)
        with np.errstate(all="ignore"):
            result = f(*moved[0], **moved[1])
        vals = _float_leaves(result)
        if w is None:
            return float(np.asarray(vals[0], dtype=float))
        return float(sum(np.sum(np.asarray(v, dtype=float) * wi) for v, wi in zip(vals, w)))

    if second_order:
        h = eps ** (1 / 6)
        p0 = phi(0.0)

        def second(hh):
            return (phi(hh) - 2 * p0 + phi(-hh)) / hh ** 2

        d1, d2 = second(h), second(h / 2)
        fd = (4 * d2 - d1) / 3
        noise = 16 * eps * (abs(p0) + abs(phi(h)) + abs(phi(-h))) / (h / 2) ** 2
    else:
        h = eps ** (1 / 5)

        def first(hh):
            return (phi(hh) - phi(-hh)) / (2 * hh)

        d1, d2 = first(h), first(h / 2)
        fd = (4 * d2 - d1) / 3
        noise = 8 * eps * (abs(phi(h)) + abs(phi(-h))) / h
    err = abs(claimed - fd)
    scale = max(abs(claimed), abs(fd))
    tol = setting.rtol * scale + setting.atol + noise + 0.1 * abs(d2 - d1)
    ok = bool(err <= tol) and math.isfinite(claimed) == math.isfinite(fd)
    detail = f"along a random direction: claimed {claimed:.10g}, finite difference {fd:.10g}"
    return CheckResult("grad", ok, err, err / scale if scale else 0.0, tol, detail)


@dataclass
class Claim:
    """What a derivative check knows: the transformation's result ``out``, the
    direction ``d_flat`` (flat, float) and the call's direction argument."""

    out: object
    d_flat: list
    direction: object
    wrt_tuple: bool  # the wrt result is a tuple (several wrt arguments)
    tuple_wrt: bool  # wrt was given as a tuple
    rng: object
    value: Callable  # the function's value (flat float leaves), computed when needed


def _wrt_part(c: Claim, parts):
    """The result part laid out like the wrt arguments, flat."""
    i = next(k for k, p in enumerate(parts) if p.layout == "wrt")
    g = c.out if len(parts) == 1 else c.out[i]
    return _input_leaves(g if c.wrt_tuple else (g,))


def _dot(a_flat, b_flat) -> float:
    return sum(float(np.sum(a * b)) for a, b in zip(a_flat, b_flat))


def _claim_gradient(c: Claim, parts):
    """grad, value_and_grad, hvp: <g, d> against d/dt f(x + t d)."""
    return None, _dot(_wrt_part(c, parts), c.d_flat)


def _claim_hessian(c: Claim, parts):
    return None, _hessian_quadratic(c.out, c.d_flat, c.tuple_wrt)


def _claim_jvp(c: Claim, parts):
    w = [c.rng.standard_normal(np.shape(v)) for v in _float_leaves(c.out[0])]
    return w, _dot(w, _float_leaves(c.out[1]))


def _claim_vjp(c: Claim, parts):
    w = [np.asarray(u, dtype=float) for u in _float_leaves(c.direction)]
    return w, _dot(_wrt_part(c, parts), c.d_flat)


def _claim_jacobian(c: Claim, parts):
    value0 = c.value()
    w = [c.rng.standard_normal(np.shape(v)) for v in value0]
    return w, _jacobian_projection(c.out, w, c.d_flat, len(value0), len(c.d_flat), c.tuple_wrt)


# transforms.Kind.claim -> (output weights w, the claimed directional derivative of w . f)
_CLAIMS = {"gradient": _claim_gradient, "hessian": _claim_hessian, "jvp": _claim_jvp,
           "vjp": _claim_vjp, "jacobian": _claim_jacobian}


def _random_direction(x, rng):
    """A direction scaled like x, element by element, so steps stay in x's domain."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return np.zeros_like(x)
    rms = float(np.sqrt(np.mean(x ** 2)))
    scale = np.maximum(np.abs(x), 0.1 * rms)
    scale = np.where(scale > 0, scale, 1.0)
    return np.clip(rng.standard_normal(x.shape), -2.5, 2.5) * scale


def _moved(args, kwargs, wrt_args, x_leaves, d_flat, t):
    args, kwargs = list(_copy(args)), dict(_copy(kwargs))
    k = 0
    for w, leaves in zip(wrt_args, x_leaves):
        n = len(leaves)
        new = [np.asarray(l, dtype=float) + t * d if np.asarray(l).dtype.kind == "f" else l
               for l, d in zip(leaves, d_flat[k:k + n])]
        k += n
        orig = _get_arg(args, kwargs, w)
        it = iter(new)
        moved = structure.rebuild(orig, (_like(o, v) for o, v in zip(_input_leaves(orig), it)))
        if isinstance(w, int):
            args[w] = moved
        else:
            kwargs[w] = moved
    return args, kwargs


def _like(orig, value):
    if isinstance(orig, np.ndarray) and orig.ndim == 0 and not isinstance(orig, float):
        return np.asarray(value, dtype=orig.dtype if orig.dtype.kind == "f" else float)
    if isinstance(orig, np.ndarray):
        return np.asarray(value, dtype=orig.dtype if orig.dtype.kind == "f" else float)
    return value


def _wrt_positions(transformed, args, kwargs):
    from .trace import param_names

    names = param_names(transformed.original, len(args))
    wrts = transformed.wrt if isinstance(transformed.wrt, tuple) else (transformed.wrt,)
    out = []
    for w in wrts:
        if isinstance(w, int):
            out.append(w)
        elif w in names:
            out.append(names.index(w))
        else:
            out.append(w)  # a keyword argument
    return out


def _get_arg(args, kwargs, w):
    return args[w] if isinstance(w, int) else kwargs[w]


def _hessian_quadratic(out, d_flat, tuple_wrt):
    if not tuple_wrt and len(d_flat) == 1:
        H = np.asarray(out, dtype=float)
        d = d_flat[0]
        return float(d.ravel() @ H.reshape(d.size, d.size) @ d.ravel())
    total = 0.0
    for i, di in enumerate(d_flat):
        for j, dj in enumerate(d_flat):
            H = np.asarray(out[i][j], dtype=float).reshape(di.size, dj.size)
            total += float(di.ravel() @ H @ dj.ravel())
    return total


def _jacobian_projection(out, w, d_flat, n_out, n_in, tuple_wrt):
    if n_out == 1 and n_in == 1 and not tuple_wrt:
        blocks = [[out]]
    else:
        blocks = out
    total = 0.0
    for i in range(n_out):
        for j in range(n_in):
            J = np.asarray(blocks[i][j], dtype=float)
            total += float(w[i].ravel() @ J.reshape(w[i].size, d_flat[j].size) @ d_flat[j].ravel())
    return total
