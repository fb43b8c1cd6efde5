"""The emulator runs the Python people write in numeric code, on 3.11-3.13.

Each test differentiates a function using one language feature and compares
with a hand-written derivative or a finite difference of the original.
"""
import math
from dataclasses import dataclass

import numpy as np
import pytest

import pyautodiff as ad

from helpers import assert_close, numeric_grad

X = np.array([0.5, -1.25, 2.0, 0.75])


def check(f, x=X, **kw):
    """ad.function equals f, and ad.grad matches a finite difference of f."""
    assert_close(ad.function(f)(x, **kw), f(x, **kw), rtol=1e-13, atol=1e-13)
    g = ad.grad(f)(x, **kw)
    assert_close(g, numeric_grad(lambda z: f(z, **kw), x), rtol=1e-6, atol=1e-7)
    return g


def _square_sum(v):
    return np.sum(v * v)


def test_module_level_helper_and_nested_helper():
    def f(x):
        def inner(v, scale=2.0):
            return scale * _square_sum(v)
        return inner(x) + inner(x, scale=0.5)

    assert_close(check(f), 5.0 * X)


def test_closure_and_nonlocal():
    def f(x):
        total = 0.0

        def add(v):
            nonlocal total
            total = total + np.sum(np.sin(v))

        for _ in range(3):
            add(x)
        return total

    assert_close(check(f), 3 * np.cos(X))


def test_comprehensions_and_generator_expression():
    def f(x):
        squares = [v ** 2 for v in x]
        weights = {i: float(i + 1) for i in range(len(x))}
        distinct = {1.0, 2.0}
        gen = sum(w * s for w, s in zip(weights.values(), squares))
        return gen + sum(distinct) * x[0]

    want = 2 * X * np.arange(1, 5)
    want[0] += 3.0
    assert_close(check(f), want)


def _powers(v, n):
    for k in range(1, n + 1):
        yield v ** k
    return float(n)


def _checked(v):
    yield np.sin(v)
    if np.sum(v) > 0:
        raise ValueError("positive")
    yield v


def test_generator_functions_yield_and_send():
    def running(v):
        total = 0.0
        while True:
            step = yield total
            total = total + step * v

    def f(x):
        acc = running(x)
        next(acc)
        for w in (1.0, 2.0, 0.5):
            out = acc.send(w)
        return np.sum(out) + sum(np.sum(p) for p in _powers(x, 3))

    assert_close(check(f), 3.5 + 1.0 + 2 * X + 3 * X ** 2)


def test_yield_from_passes_values_return_values_and_exceptions():
    def chained(v):
        n = yield from _powers(v, 2)  # the sub-generator's return value
        try:
            yield from _checked(v)
        except ValueError:
            yield 10.0 * v
        yield from [n * v, v[::-1]]  # any iterable

    def f(x):
        return sum(np.sum(p) for p in chained(x))

    assert_close(check(f), 1.0 + 2 * X + np.cos(X) + 10.0 + 2.0 + 1.0)  # sum(X) > 0: raised
    assert_close(check(f, -X), 1.0 - 2 * X + np.cos(-X) + 1.0 + 2.0 + 1.0)


@dataclass
class _Scaled:
    k: float
    shift: float = 0.0


class _Power:  # no __match_args__: matched by keyword only
    def __init__(self, p):
        self.p = p


def _matched(x, spec):
    match spec:
        case "square":
            return np.sum(x ** 2)
        case ("scale", k):
            return k * np.sum(x)
        case [first, *rest] if len(rest) == 2:
            return first * np.sum(x) + sum(rest)
        case {"kind": "sin", **others}:
            return np.sum(np.sin(x)) * len(others)
        case _Scaled(k, shift=s):
            return k * np.sum(x ** 3) + s
        case _Power(p=p):
            return np.sum(x ** p)
        case float(v) | int(v):
            return v * np.sum(np.cos(x))
        case _:
            return np.sum(x)


@pytest.mark.parametrize("spec, expected", [
    ("square", lambda x: 2 * x),
    (("scale", 3.0), lambda x: 3.0 + 0 * x),
    ([2.0, 1.0, 1.0], lambda x: 2.0 + 0 * x),
    ({"kind": "sin", "a": 1, "b": 2}, lambda x: 2 * np.cos(x)),
    (_Scaled(2.0, 1.0), lambda x: 6.0 * x ** 2),
    (_Power(3), lambda x: 3.0 * x ** 2),
    (2.5, lambda x: -2.5 * np.sin(x)),
    (7, lambda x: -7 * np.sin(x)),
    (None, lambda x: 1.0 + 0 * x),
    ({"kind": "cos"}, lambda x: 1.0 + 0 * x),
], ids=["literal", "sequence", "star", "mapping", "class-positional", "class-keyword", "float-self",
        "int-self", "wildcard", "mapping-mismatch"])
def test_match_statements(spec, expected):
    assert_close(check(_matched, spec=spec), expected(X))


def test_match_class_pattern_errors_are_pythons():
    def f(x):
        match x[0]:
            case float(a, b):  # noqa: F841  (b: the pattern binds it)
                return a
        return 0.0

    with pytest.raises(TypeError, match=r"float\(\) accepts 1 positional sub-pattern \(2 given\)"):
        ad.function(f)(X)


def test_comparing_a_traced_number_with_a_string_or_none_is_numpys_answer():
    def f(x, mode):
        if mode == "square":  # mode is a traced float here
            return np.sum(x ** 2)
        return np.sum(x * (x != None)) * mode  # noqa: E711  (elementwise, as numpy)

    assert_close(check(f, mode=2.5), 2.5 + 0 * X)


def test_keyword_only_defaults_varargs_and_varkw():
    def f(x, *extra, power=2, bias=0.0, **opts):
        out = np.sum(x ** power) + bias
        for e in extra:
            out = out + e
        return out * opts.get("scale", 1.0)

    g = ad.grad(f)(X, 1.0, 2.0, power=3, scale=2.0)
    assert_close(g, 2.0 * 3 * X ** 2)
    assert ad.function(f)(X, 1.0, power=3, bias=0.5) == pytest.approx(f(X, 1.0, power=3, bias=0.5))


def test_while_loop_with_break_and_continue():
    def f(x):
        acc = 0.0
        i = 0
        while True:
            i += 1
            if i == 2:
                continue
            acc = acc + np.sum(x) * i
            if i >= 4:
                break
        return acc

    assert_close(check(f), np.full(4, 1 + 3 + 4.0))


def test_for_over_rows_enumerate_zip_and_tuple_unpacking():
    A = np.arange(12.0).reshape(4, 3) / 10

    def f(x):
        M = np.outer(x, np.ones(3)) * A
        total = 0.0
        for i, (row, xi) in enumerate(zip(M, x)):
            first, *rest = row
            total = total + first * i + sum(rest) * xi
        return total

    check(f)


def test_lambda_and_user_class_methods():
    class Model:
        def __init__(self, scale):
            self.scale = scale

        def predict(self, x):
            return self.scale * np.tanh(x)

        def loss(self, x):
            act = lambda z: z ** 2  # noqa: E731
            return np.sum(act(self.predict(x)))

    m = Model(1.5)
    g = ad.grad(m.loss)(X)
    t = np.tanh(X)
    assert_close(g, 2 * 1.5 ** 2 * t * (1 - t ** 2))


def test_objects_built_inside_the_trace_can_hold_traced_values():
    class Box:
        def __init__(self, v):
            self.v = v

    def f(x):
        b = Box(x * 2)
        return np.sum(b.v ** 2)

    assert_close(check(f), 8 * X)


def test_try_except_finally_and_with_errstate():
    def f(x):
        log = []
        try:
            with np.errstate(divide="ignore"):
                y = np.log(np.abs(x))
            if y.shape[0] > 10:
                raise KeyError("never")
        except KeyError:
            y = x
        finally:
            log.append("done")
        assert log == ["done"], "finally ran"
        return np.sum(y)

    assert_close(check(f), 1 / X)


class PlanError(Exception):
    pass


def test_users_own_exception_reaches_the_caller_unchanged():
    def f(x):
        if x.shape[0] == 4:
            raise PlanError("bad plan", 42)
        return np.sum(x)

    with pytest.raises(PlanError) as info:
        ad.grad(f)(X)
    assert info.value.args == ("bad plan", 42)


def test_exception_caught_inside_the_function():
    def f(x):
        try:
            {}["missing"]
        except KeyError as e:
            scale = 2.0 if str(e) == "'missing'" else 0.0
        return scale * np.sum(x)

    assert_close(check(f), np.full(4, 2.0))


def test_assert_false_raises_assertion_error():
    def f(x):
        assert x.ndim == 2, "needs a matrix"
        return np.sum(x)

    with pytest.raises(AssertionError, match="needs a matrix"):
        ad.grad(f)(X)


def test_in_place_writes_into_a_fresh_array():
    def f(x):
        out = np.zeros(len(x))
        for i in range(len(x)):
            out[i] = x[i] ** 2 + (out[i - 1] if i else 0.0)
        out[::2] *= 3.0
        return np.sum(out)

    check(f)


def test_augmented_assignment_on_traced_array_and_alias():
    def f(x):
        y = x * 1.0
        alias = y
        y += 2.0 * x
        y[1:] -= x[:-1]
        return np.sum(alias * x)  # the alias sees the in-place changes

    check(f)


def test_write_through_basic_view_is_exact():
    def f(x):
        M = np.zeros((2, 4))
        row = M[1]
        row[:] = x
        M[0, :2] = x[2:] * 3
        return np.sum(M ** 2) + np.sum(row)

    check(f)


def test_math_module_and_float_builtin():
    def f(x):
        s = float(np.sum(x ** 2))
        return math.sqrt(s) + math.exp(-s / 10) + abs(math.tanh(x[0]))

    check(f)


def test_reading_module_globals():
    def f(x):
        return np.sum(GLOBAL_WEIGHTS * x) + OFFSET

    assert_close(check(f), GLOBAL_WEIGHTS)


GLOBAL_WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0])
OFFSET = 0.25


def test_string_formatting_of_traced_values():
    def f(x):
        s = np.sum(x)
        msg = f"loss={s:.3f}" + " %.2f" % s
        assert msg.startswith("loss=")
        return s

    check(f)


def test_scalar_inputs_and_python_float_results():
    def f(a, b):
        return a ** 2 * b + math.sin(b)

    ga, gb = ad.grad(f, wrt=("a", "b"))(1.5, 0.3)
    assert ga == pytest.approx(2 * 1.5 * 0.3)
    assert gb == pytest.approx(1.5 ** 2 + math.cos(0.3))
    assert isinstance(ad.function(f)(1.5, 0.3), float)


def test_decorator_forms_keep_metadata():
    @ad.grad
    def loss(x):
        """Docstring."""
        return np.sum(x ** 3)

    @ad.grad(wrt=1)
    def loss2(a, x):
        return a * np.sum(x ** 2)

    assert loss.__name__ == "loss" and loss.__doc__ == "Docstring." and loss.__wrapped__ is loss.original
    assert_close(loss(X), 3 * X ** 2)
    assert_close(loss2(2.0, X), 4 * X)


def test_ndarray_var_method_and_fancy_copies():
    def f(x):
        tmp = np.zeros(4)[[0, 1, 2]]  # an advanced-index copy: a fresh array
        tmp += x[:3]
        return x.var(ddof=1) + np.sum(tmp ** 2)

    check(f)


def test_a_python_float_result_is_a_python_float_as_in_cpython():
    def f(x):
        return float(np.sum(x)), np.sum(x), [x.mean() * 2.0]

    x = np.array([0.5, 1.5])
    for _ in range(2):  # traced call and cached call
        got, want = ad.function(f)(x), f(x)
        assert type(got[0]) is float and type(got[1]) is np.float64 and type(got[2][0]) is np.float64
        assert got == want
    value, grad = ad.value_and_grad(lambda x: float(np.sum(x * x)))(x)
    assert type(value) is float and value == 2.5
    np.testing.assert_array_equal(grad, 2 * x)
