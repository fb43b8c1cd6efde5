"""Guards: a cached trace never serves inputs that take another path."""
import warnings

import numpy as np
import pytest

import pyautodiff as ad

from helpers import assert_close, numeric_grad


def huber(r, delta=1.0):
    total = 0.0
    for ri in r:
        if abs(ri) <= delta:
            total = total + 0.5 * ri ** 2
        else:
            total = total + delta * (abs(ri) - 0.5 * delta)
    return total


def huber_grad_by_hand(r, delta=1.0):
    return np.where(np.abs(r) <= delta, r, delta * np.sign(r))


def test_huber_branch_per_residual_is_right_on_every_call():
    g = ad.grad(huber)
    rng = np.random.default_rng(0)
    for _ in range(6):
        r = rng.normal(scale=1.5, size=5)  # residuals cross the threshold between calls
        assert_close(g(r), huber_grad_by_hand(r), rtol=1e-14)
    assert g.stats.guard_failures >= 1
    assert g.stats.specializations == g.stats.traces >= 2
    # the same pattern of branches again is served from the cache
    before = g.stats.traces
    r = np.array([0.1, -0.2, 2.0, -3.0, 0.5])
    g(r)
    g(r * 1.01)
    assert g.stats.traces <= before + 1


def newton_sqrt(a):
    x = a
    n = 0
    while abs(x * x - a) > 1e-12 * a:
        x = 0.5 * (x + a / x)
        n += 1
    return x


def halve_until_small(x):
    steps = 0
    while x > 1.0:
        x = x / 2.0
        steps += 1
    return x * (steps + 1)


def test_while_loop_with_data_dependent_trip_count():
    g = ad.grad(newton_sqrt)
    f = ad.function(newton_sqrt)
    for a in (2.0, 1e6, 3.0):  # different iteration counts
        assert f(a) == pytest.approx(np.sqrt(a), rel=1e-12)
        assert g(a) == pytest.approx(0.5 / np.sqrt(a), rel=1e-8)
    h = ad.grad(halve_until_small)
    assert h(6.0) == pytest.approx(4 / 8)   # 3 halvings
    assert h(200.0) == pytest.approx(9 / 256)  # 8 halvings
    assert h(6.5) == pytest.approx(4 / 8)   # back on the first path: cached
    assert h.stats.traces == 2


def test_int_of_traced_value_as_loop_bound():
    def f(x):
        n = int(x[0])
        total = 0.0
        for i in range(n):
            total = total + x[1] ** (i + 1)
        return total

    g = ad.grad(f)
    for x0 in (3.7, 5.2, 3.1):
        x = np.array([x0, 1.3])
        assert_close(g(x), numeric_grad(f, x), rtol=1e-6)
    assert g.stats.traces == 2


def test_guards_are_listed_with_source_lines():
    t = ad.trace(huber, np.array([0.5, 2.0]))
    assert len(t.guards) == 2
    assert all(g.location.filename == __file__ for g in t.guards)
    assert all("abs(ri) <= delta" in str(g) for g in t.guards)
    assert [g.outcome for g in t.guards] == [True, False]


def test_branch_on_static_string_argument():
    def f(x, kind):
        if kind == "l1":
            return np.sum(np.abs(x))
        return np.sum(x ** 2)

    g = ad.grad(f)
    x = np.array([1.0, -2.0])
    assert_close(g(x, "l1"), np.sign(x))
    assert_close(g(x, "l2"), 2 * x)
    assert_close(g(x, "l1"), np.sign(x))
    assert g.stats.traces == 2


WEIGHTS = np.array([1.0, 2.0, 3.0])
SCALE = 2.0
MODE = "sum"


def uses_globals(x):
    out = np.sum(WEIGHTS * x) * SCALE
    if MODE == "mean":
        out = out / len(x)
    return out


def test_module_level_array_mutated_between_calls():
    global SCALE, MODE
    g = ad.grad(uses_globals)
    x = np.ones(3)
    assert_close(g(x), 2.0 * WEIGHTS)
    WEIGHTS[0] = 10.0  # mutated in place: the array is an input of the graph
    try:
        assert_close(g(x), 2.0 * np.array([10.0, 2.0, 3.0]))
        SCALE = 3.0  # rebound float: also an input
        assert_close(g(x), 3.0 * np.array([10.0, 2.0, 3.0]))
        MODE = "mean"  # a string that changes the path: guarded by value
        assert_close(g(x), np.array([10.0, 2.0, 3.0]))
    finally:
        WEIGHTS[0], SCALE, MODE = 1.0, 2.0, "sum"
    assert_close(g(x), 2.0 * WEIGHTS)


def helper(v):
    return np.sum(v ** 2)


def calls_helper(x):
    return helper(x)


def test_redefined_helper_function_is_noticed():
    global helper
    g = ad.grad(calls_helper)
    x = np.array([1.0, 2.0])
    assert_close(g(x), 2 * x)
    original = helper
    helper = lambda v: np.sum(v ** 3)  # noqa: E731  (a notebook redefines a helper)
    try:
        assert_close(g(x), 3 * x ** 2)
    finally:
        helper = original


def test_closure_array_and_static_object_attributes():
    data = np.array([1.0, 2.0])

    def f(x):
        return np.sum(data * x)

    g = ad.grad(f)
    assert_close(g(np.zeros(2)), data)
    data[1] = 5.0
    assert_close(g(np.zeros(2)), [1.0, 5.0])

    class Model:
        def __init__(self):
            self.W = np.array([1.0, 1.0])
            self.power = 2

        def loss(self, x):
            return np.sum(self.W * x ** self.power)

    m = Model()
    gl = ad.grad(m.loss)
    x = np.array([1.0, 3.0])
    assert_close(gl(x), 2 * x)
    m.W[:] = [2.0, 0.0]
    assert_close(gl(x), [4.0, 0.0])
    m.power = 3
    assert_close(gl(x), [6.0, 0.0])


def test_compiled_function_raising_on_new_inputs_leads_to_a_retrace():
    def f(x):
        k = int(np.argmax(x))
        return x[k] * 2.0

    g = ad.grad(f)
    assert_close(g(np.array([1.0, 3.0, 2.0])), [0, 2, 0])
    assert_close(g(np.array([5.0, 3.0, 2.0])), [2, 0, 0])


def test_data_dependent_boolean_mask():
    def f(x):
        pos = x[x > 0]
        return np.sum(pos ** 2) + len(pos)

    g = ad.grad(f)
    for x in (np.array([1.0, -2.0, 3.0]), np.array([-1.0, 2.0, 0.5]), np.array([1.0, 2.0, 3.0])):
        assert_close(g(x), np.where(x > 0, 2 * x, 0.0))
        assert ad.function(f)(x) == pytest.approx(f(x))


def test_large_unrolled_loop_warns_with_the_loop_line():
    def f(x):
        s = 0.0
        for i in list(range(300)):  # the loop (over a list: unrolled, a range would roll)
            s = s + x[i % 3] * 0.5
        return s

    with pytest.warns(UserWarning, match="the loop") as rec:
        ad.grad(f, loop_limit=200)(np.ones(3))
    assert "for i in list(range(300))" in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ad.grad(f)(np.ones(3))  # default limit: no warning


def test_math_domain_error_on_a_cached_call_is_raised_as_cpython_does():
    import math

    def f(x):
        return math.sqrt(float(np.sum(x)) - 1.0)

    g = ad.function(f)
    assert g(np.array([2.0, 1.0])) == pytest.approx(math.sqrt(2.0))
    with pytest.raises(ValueError, match="math domain"):
        g(np.array([0.1, 0.2]))


def test_branch_decided_at_a_near_tie_follows_cpython():
    def f(a):
        if a[0] < np.mean(a):  # a tie up to rounding for equal entries
            return np.sum(a ** 2)
        return np.sum(a)

    a = np.array([0.1, 0.1, 0.1])
    assert ad.function(f)(a) == pytest.approx(f(a))


def test_a_guard_on_python_floats_alone_in_a_derivative():
    # the guard flag is then a Python bool at run time (once broke the output copying)
    def f(a):
        if a > a:
            return a * a
        return 3.0 * a

    g = ad.grad(f)
    assert g(0.0) == 3.0 and g(2.5) == 3.0
    assert g.stats.traces == 1


# -- integer indices from the inputs stay in bounds on cached calls (#11, "dead-index-error") ----


def _numpy_error(fn, *args):
    with pytest.raises(Exception) as info:
        fn(*args)
    return info.type, str(info.value)


def _raises_like_numpy(g, fn, *args):
    """``g(*args)`` raises what ``fn(*args)`` raises in CPython: same type and message, and
    a note naming the user's line."""
    kind, message = _numpy_error(fn, *args)
    with pytest.raises(kind) as info:
        g(*args)
    assert str(info.value) == message
    assert any(__file__ in note for note in getattr(info.value, "__notes__", ()))


def unused_index(a, idx):
    _e = a[idx]  # never used: the indexing is optimized out of the compiled graph
    return np.sum(a)


def test_out_of_bounds_index_whose_result_is_unused_raises_on_a_cached_call():
    a = np.array([1.0, 2.0])
    f = ad.function(unused_index)
    assert f(a, np.array([0])) == 3.0
    _raises_like_numpy(f, unused_index, a, np.array([2]))
    _raises_like_numpy(f, unused_index, a, np.array([-3]))
    assert f.stats.traces == 1
    hits = f.stats.cache_hits
    assert f(a, np.array([1])) == 3.0  # a valid call after the error: served from the cache
    assert f(a, np.array([-2])) == 3.0  # a negative in-bounds index too
    assert f.stats.cache_hits == hits + 2 and f.stats.traces == 1
    g = ad.grad(unused_index)
    assert_close(g(a, np.array([0])), [1.0, 1.0])
    _raises_like_numpy(g, unused_index, a, np.array([7]))


def gathers(a, idx):
    return np.sum(a[idx] * np.arange(1.0, 1.0 + len(idx)))


def test_used_index_in_bounds_negative_and_out_of_bounds():
    a = np.array([1.0, 2.0, 4.0])
    f = ad.value_and_grad(gathers)
    value, grad = f(a, np.array([0, 2]))
    assert value == 9.0
    assert_close(grad, [1.0, 0.0, 2.0])
    value, grad = f(a, np.array([-1, -3]))  # cached: a[-1] = 4, a[-3] = 1
    assert value == 6.0
    assert_close(grad, [2.0, 0.0, 1.0])
    assert f.stats.traces == 1
    _raises_like_numpy(f, gathers, a, np.array([0, 3]))
    _raises_like_numpy(f, gathers, a, np.array([-4, 0]))


def test_index_arrays_on_several_axes_are_checked_against_their_own_axis():
    def f(m, i, j):
        return np.sum(m[i, j]) + np.sum(m[..., j]) + np.sum(m[None, :, j[0]])

    m = np.arange(15.0).reshape(3, 5)
    g = ad.function(f)
    assert g(m, np.array([0, 2]), np.array([4, 1])) == pytest.approx(f(m, np.array([0, 2]), np.array([4, 1])))
    assert g(m, np.array([1, 1]), np.array([3, -5])) == pytest.approx(f(m, np.array([1, 1]), np.array([3, -5])))
    _raises_like_numpy(g, f, m, np.array([3, 0]), np.array([0, 0]))  # axis 0 has 3 rows
    _raises_like_numpy(g, f, m, np.array([0, 0]), np.array([0, 5]))  # axis 1 has 5 columns
    assert g.stats.traces == 1


def test_traced_integer_scalar_index():
    def f(a, x):
        k = np.sum(x > 0)  # an integer computed from the data: 0 .. len(x)
        return a[k] * 2.0

    a = np.array([1.0, 2.0, 3.0])
    g = ad.function(f)
    assert g(a, np.array([1.0, -1.0, -1.0])) == 4.0
    assert g(a, np.array([1.0, 1.0, -1.0])) == 6.0  # cached
    _raises_like_numpy(g, f, np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    assert g.stats.traces == 1


def test_out_of_bounds_write_take_and_at_raise_like_numpy():
    def write(a, idx):
        out = np.zeros(2)
        out[idx] = a[:1]
        return out

    def take(a, idx):
        np.take(a, idx)  # unused
        return np.sum(np.take(a, idx[:1]))

    def take_along(a, idx):
        return np.take_along_axis(a, idx, axis=0)

    def add_at(a, idx):
        out = np.zeros(2)
        np.add.at(out, idx, a[:1])
        return out

    def choose(a, idx):
        return np.choose(idx, [a, 2.0 * a])  # numpy raises a ValueError for a bad choice

    a = np.array([1.0, 2.0])
    for fn, good, bad in [(write, [1], [2]), (take, [0, 1], [0, 2]), (take_along, [1], [-3]),
                          (add_at, [1, 1], [0, 2]), (choose, [0, 1], [0, 2])]:
        g = ad.function(fn)
        assert_close(g(a, np.array(good)), fn(a, np.array(good)))
        _raises_like_numpy(g, fn, a, np.array(bad))
        assert_close(g(a, np.array(good[::-1])), fn(a, np.array(good[::-1])))
        assert g.stats.traces == 1, fn.__name__


def test_a_traced_value_used_as_a_dict_or_set_key_is_guarded():
    # dicts and sets decide by the key's value, out of the graph's sight: each value
    # seen must trace again rather than reuse another value's lookup
    table = {1.0: 10.0, 2.0: 20.0}

    def member(x):
        return (2.0 in {x}) * x

    def built(x):
        return {x: 5.0}.get(2.0, 1.0) * x

    def lookup(x):
        return table.get(x, 0.5) * x

    # each is c(x) * x with c constant on the branch x takes: the derivative is c(x)
    slopes = {member: lambda x: float(x == 2.0), built: lambda x: 5.0 if x == 2.0 else 1.0,
              lookup: lambda x: table.get(x, 0.5)}
    for f, slope in slopes.items():
        fn, g = ad.function(f), ad.grad(f)
        for x in (1.0, 2.0, 3.0, 1.0):
            assert fn(x) == f(x)
            assert g(x) == slope(x)
        assert fn.stats.traces == 3


def test_an_empty_selection_by_a_traced_mask_is_guarded_to_stay_empty():
    # found by the long fuzz run: b[a >= 0] with no a >= 0 is empty, and an empty result
    # becomes a constant of the trace; a later call selecting something must not reuse it
    def f(a, b):
        return np.sum(b[a >= 0.0] * 2.0) + np.sum(b)

    b = np.array([1.0, 2.0, 3.0])
    g, fn = ad.grad(f, wrt=1), ad.function(f)
    for a in (np.array([-1.0, -2.0, -3.0]), np.array([1.0, -2.0, 3.0]), np.array([-1.0, -2.0, -3.0]),
              np.array([1.0, 1.0, 1.0])):
        assert fn(a, b) == f(a, b)
        assert_close(g(a, b), np.where(a >= 0.0, 3.0, 1.0))  # by hand: 2 where selected, + 1
    assert g.stats.traces == 2  # empty and not empty; the non-empty selections share one trace
