"""ad.minimize: trust-constr, constraints and bounds on the structured x0, and the signature check."""
import numpy as np
import pytest
import scipy.optimize as so

import pyautodiff as ad

from helpers import assert_close


def test_trust_constr_returns_the_structured_result():
    res = ad.minimize(so.rosen, np.zeros(4), method="trust-constr", options={"gtol": 1e-10, "maxiter": 2000})
    assert_close(res.x, np.ones(4), rtol=1e-5, atol=1e-6)
    assert_close(res.grad, so.rosen_der(res.x), atol=1e-6)


def test_trust_constr_with_structured_params_and_nonlinear_constraint():
    # maximize the area x*y of a rectangle with perimeter 2(x+y) <= 4: x = y = 1
    def neg_area(p):
        return -p["x"][0] * p["y"]

    def perimeter(p):
        return 2 * (p["x"][0] + p["y"])

    x0 = {"x": np.array([0.3]), "y": 0.2}
    opts = {"gtol": 1e-10, "xtol": 1e-12, "maxiter": 3000}
    con = so.NonlinearConstraint(perimeter, -np.inf, 4.0)
    res = ad.minimize(neg_area, x0, method="trust-constr", constraints=[con], options=opts)
    # scipy with hand-written derivatives on the flat vector (x, y) takes the same steps
    hand = so.NonlinearConstraint(lambda z: 2 * (z[0] + z[1]), -np.inf, 4.0, jac=lambda z: np.array([[2.0, 2.0]]),
                                  hess=lambda z, v: np.zeros((2, 2)))
    ref = so.minimize(lambda z: -z[0] * z[1], [0.3, 0.2], method="trust-constr", constraints=[hand],
                      jac=lambda z: np.array([-z[1], -z[0]]), hess=lambda z: np.array([[0.0, -1.0], [-1.0, 0.0]]),
                      options=opts)
    assert set(res.x) == {"x", "y"}
    assert_close(res.x["x"], [ref.x[0]], rtol=1e-10)
    assert_close(res.x["y"], ref.x[1], rtol=1e-10)
    assert_close(res.x["x"], [1.0], rtol=1e-3)
    assert res.x["x"].shape == (1,)


def test_slsqp_constraints_written_on_the_structure_get_derived_jacobians():
    # min |a|^2 + |b|^2  s.t.  sum(a) + 2 b0 = 3 (eq),  a0 >= 0.5 (ineq)
    def obj(params):
        a, b = params
        return np.sum(a ** 2) + np.sum(b ** 2)

    def eq(params):
        a, b = params
        return np.sum(a) + 2 * b[0] - 3.0

    x0 = (np.zeros(2), np.zeros(1))
    res = ad.minimize(obj, x0, method="SLSQP",
                      constraints=[{"type": "eq", "fun": eq},
                                   {"type": "ineq", "fun": lambda p: p[0][0] - 0.5}],
                      options={"ftol": 1e-12})
    # Lagrange by hand: a = (l/2, l/2), b0 = l; 2*(l/2)*... : sum(a)+2b0 = l + 2l = 3 -> l = 1
    a, b = res.x
    assert_close(a, [0.5, 0.5], rtol=1e-6)
    assert_close(b, [1.0], rtol=1e-6)


def test_constraint_jacobian_is_derived_and_correct():
    from pyautodiff.optimize import Params
    from pyautodiff.optimize_constraints import Constraints

    params = Params((np.zeros(2), 0.0))

    def c(p):
        a, s = p
        return np.array([a[0] * a[1], np.sin(s) + a[0] ** 2])

    z = np.array([0.3, -0.7, 1.1])
    (con,) = Constraints([{"type": "ineq", "fun": c}], params, "SLSQP", None).scipy
    assert_close(con["fun"](z), [0.3 * -0.7, np.sin(1.1) + 0.09], rtol=1e-15)
    expected = np.array([[-0.7, 0.3, 0.0], [0.6, 0.0, np.cos(1.1)]])
    assert_close(con["jac"](z), expected, rtol=1e-14)


def test_nonlinear_constraint_hessian_is_derived_for_trust_constr():
    from pyautodiff.optimize import Params
    from pyautodiff.optimize_constraints import Constraints

    params = Params(np.zeros(2))
    con = so.NonlinearConstraint(lambda x: np.array([x[0] ** 2 * x[1], np.exp(x[1])]), 0.0, 1.0)
    (out,) = Constraints([con], params, "trust-constr", None).scipy
    z, v = np.array([0.5, -0.2]), np.array([2.0, 3.0])
    # sum_i v_i Hess(c_i): c0 = x0^2 x1 -> [[2 x1, 2 x0], [2 x0, 0]]; c1 = exp(x1) -> [[0,0],[0,exp(x1)]]
    expected = 2.0 * np.array([[2 * z[1], 2 * z[0]], [2 * z[0], 0.0]]) + 3.0 * np.diag([0.0, np.exp(z[1])])
    assert_close(np.asarray(out.hess(z, v)), expected, rtol=1e-14)
    assert_close(out.jac(z), [[2 * z[0] * z[1], z[0] ** 2], [0.0, np.exp(z[1])]], rtol=1e-14)


def test_bounds_written_on_the_structure():
    def obj(p):
        return np.sum((p["w"] - 3.0) ** 2) + (p["s"] + 2.0) ** 2

    x0 = {"w": np.zeros(3), "s": 0.5}
    bounds = ad.Bounds({"w": np.array([0.0, 0.0, 4.0]), "s": 0.0}, {"w": np.array([1.0, 1.0, 5.0]), "s": np.inf})
    res = ad.minimize(obj, x0, method="L-BFGS-B", bounds=bounds)
    assert_close(res.x["w"], [1.0, 1.0, 4.0], rtol=1e-7)
    assert_close(res.x["s"], 0.0, atol=1e-8)
    res2 = ad.minimize(obj, x0, method="trust-constr", bounds=bounds, options={"gtol": 1e-10, "xtol": 1e-12})
    assert_close(res2.x["w"], [1.0, 1.0, 4.0], rtol=1e-4, atol=1e-4)


def test_misshaped_structured_bounds_are_refused():
    with pytest.raises(ad.AutodiffError, match="bounds"):
        ad.minimize(lambda p: np.sum(p[0] ** 2), (np.zeros(2), np.zeros(1)),
                    bounds=ad.Bounds((np.zeros(3), 0.0), np.inf))


def test_flat_bounds_pass_through():
    res = ad.minimize(lambda x: np.sum((x - 2.0) ** 2), np.zeros(2), method="trust-constr",
                      bounds=so.Bounds([0, 0], [1, 5]), options={"gtol": 1e-10, "xtol": 1e-12})
    assert_close(res.x, [1.0, 2.0], rtol=1e-4)


def test_signature_that_cannot_take_x0_is_explained_with_the_fix():
    def nll(W, b, X, y):
        return np.sum((X @ W + b - y) ** 2)

    X, y = np.ones((4, 2)), np.zeros(4)
    with pytest.raises(ad.AutodiffError, match=r"one argument.*nll\(\*params"):
        ad.minimize(nll, (np.zeros(2), 0.0), args=(X, y))
    # the suggested fix works
    res = ad.minimize(lambda params, X, y: nll(*params, X, y), (np.zeros(2), 0.0), args=(X, y))
    assert res.fun < 1e-10
