"""Bad input and unsupported code get clear errors of ours, naming the user's line."""
import inspect

import numpy as np
import pytest

import pyautodiff as ad

X = np.array([0.5, 1.5, 2.5])


def _line_of(func, text):
    lines, start = inspect.getsourcelines(func)
    for i, line in enumerate(lines):
        if text in line:
            return start + i
    raise AssertionError(text)


def uses_unlowered_numpy(x):
    y = np.exp(x)
    z = np.frexp(y)[0]  # no lowering: must name this line
    return np.sum(z)


def test_unsupported_numpy_function_names_file_line_and_callee():
    with pytest.raises(ad.UnsupportedError) as info:
        ad.grad(uses_unlowered_numpy)(X)
    err = info.value
    assert err.location.filename == __file__
    assert err.location.lineno == _line_of(uses_unlowered_numpy, "np.frexp(y)")
    assert "np.frexp(y)" in str(err)
    assert isinstance(err, ad.AutodiffError)


def calls_c_extension(x):
    import struct
    return struct.pack("d", np.sum(x))  # a traced value into C code


def test_traced_value_passed_to_unknown_c_code():
    with pytest.raises(ad.UnsupportedError) as info:
        ad.function(calls_c_extension)(X)
    assert info.value.location.lineno == _line_of(calls_c_extension, "struct.pack")
    assert "struct.pack" in str(info.value)


def test_unsupported_opcode_names_its_line():
    def f(x):
        total = np.sum(x)
        try:
            raise ExceptionGroup("group", [ValueError("inner")])
        except* ValueError:  # CHECK_EG_MATCH (exception groups) is not emulated
            total = total * 2.0
        return total

    with pytest.raises(ad.UnsupportedError, match="bytecode CHECK_EG_MATCH") as info:
        ad.grad(f)(X)
    assert info.value.location.lineno == _line_of(f, "except* ValueError")


def test_grad_of_non_scalar_result_is_a_clear_error():
    with pytest.raises(ad.AutodiffError, match="scalar"):
        ad.grad(lambda x: x * 2)(X)


def test_grad_wrt_unknown_argument():
    with pytest.raises(ad.AutodiffError, match="wrt='w'"):
        ad.grad(lambda x: np.sum(x), wrt="w")(X)


def test_grad_wrt_integer_argument():
    with pytest.raises(ad.AutodiffError, match="int"):
        ad.grad(lambda n, x: np.sum(x) * n, wrt=0)(np.arange(3), X)


def test_writing_into_an_argument_is_refused():
    def f(x):
        x[0] = 0.0
        return np.sum(x)

    with pytest.raises(ad.UnsupportedError, match="argument 'x'"):
        ad.grad(f)(X.copy())


def test_writing_traced_values_into_a_global_array_is_refused():
    def f(x):
        BUFFER[:] = x
        return np.sum(BUFFER)

    with pytest.raises(ad.UnsupportedError, match="global 'BUFFER'"):
        ad.grad(f)(X)


BUFFER = np.zeros(3)


def test_implicit_float_conversion_in_c_code_is_refused_not_wrong():
    import math

    def f(x):
        return math.fsum([np.sum(x), 1.0])  # fsum converts with __float__

    with pytest.raises(ad.UnsupportedError, match="Python float"):
        ad.grad(f)(X)


def test_not_a_function():
    with pytest.raises(ad.AutodiffError):
        ad.grad(3)


def test_missing_gradient_is_our_error():
    import scipy.special as sc

    with pytest.raises(ad.AutodiffError, match="no derivative"):
        ad.grad(lambda v: sc.jv(v, 2.0))(1.5)  # no gradient w.r.t. the Bessel order


def test_named_tuple_results_are_unwrapped():
    res = ad.function(lambda a: np.linalg.eigh(a))(np.diag([2.0, 3.0]))
    assert type(res).__name__ == "EighResult"
    np.testing.assert_allclose(res.eigenvalues, [2.0, 3.0])
    assert type(res.eigenvectors) is np.ndarray


def test_module_constants_stay_constants():
    t = ad.trace(lambda x: x * np.pi + np.linalg.norm(x, ord=np.inf), np.ones(2))
    assert len(t.all_inputs) == 1


def test_user_function_named_like_a_generated_helper():
    assert np.allclose(ad.function(np.linalg.solve)(2 * np.eye(2), np.ones(2)), [0.5, 0.5])


def test_regressions_from_fuzzing():
    a = np.array([0.5, 0.7])
    # comparison functions with a float operand compare in the operands' dtype
    np.testing.assert_array_equal(ad.function(lambda a: a * np.less(1.0, np.sum(a)))(a),
                                  a * np.less(1.0, np.sum(a)))
    assert ad.function(lambda a, b: np.greater(b[0], a + a))(0.3, np.array([0.5])) == np.greater(0.5, 0.6)
    # a negative index repeating a non-negative one accumulates its gradient
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(x[[0, 1, -1]]))(np.ones(2)), [1.0, 2.0])
    # np.size / np.shape of a traced Python float
    assert ad.grad(lambda a: np.size(a) * a * np.shape(a).__len__() + a)(2.0) == pytest.approx(1.0)
    # grad of a constant is zero
    np.testing.assert_array_equal(ad.grad(lambda x: np.float64(2.0))(np.ones(3)), np.zeros(3))


def test_wrt_list_and_float128_are_our_errors():
    with pytest.raises(ad.AutodiffError, match="wrt"):
        ad.grad(lambda x: np.sum(x), wrt=[0])
    with pytest.raises(ad.AutodiffError, match="float128"):
        ad.grad(lambda x: np.sum(x))(np.ones(2, dtype=np.longdouble))


def checks_its_input(x):
    if x[0] < 0:
        raise ValueError("x[0] must be >= 0")  # CPython's message, and this line in a note
    return np.sum(x)


def test_user_exception_keeps_its_message_and_names_the_users_line():
    with pytest.raises(ValueError) as info:
        ad.grad(checks_its_input)(np.array([-1.0, 2.0]))
    assert str(info.value) == "x[0] must be >= 0"
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1
    assert f'"{__file__}", line {_line_of(checks_its_input, "raise ValueError")}' in notes[0]
    assert "raise ValueError" in notes[0]


def test_user_exception_caught_in_the_traced_code_gets_no_note():
    def f(x):
        try:
            checks_its_input(x)
        except ValueError as err:
            return np.sum(x) + len(getattr(err, "__notes__", []))
        return np.sum(x)

    assert ad.function(f)(np.array([-1.0, 2.0])) == 1.0
