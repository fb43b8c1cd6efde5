"""Structures (pytrees, walked by optree): namedtuples, OrderedDicts, defaultdicts,
dataclasses and registered types; gradients come back in the argument's structure."""
import collections
import dataclasses

import numpy as np

import pyautodiff as ad

from helpers import assert_close

Params = collections.namedtuple("Params", "W b")
rng = np.random.default_rng(0)
W0, b0 = rng.normal(size=(3, 2)), rng.normal(size=2)
X = rng.normal(size=(5, 3))


def _grads_by_hand(W, b):
    # loss = sum(tanh(X W + b)^2) / 2
    h = np.tanh(X @ W + b)
    d = h * (1 - h ** 2)
    return X.T @ d, d.sum(0)


def loss_of(W, b):
    return 0.5 * np.sum(np.tanh(X @ W + b) ** 2)


def test_namedtuple_argument_and_gradient():
    g = ad.grad(lambda p: loss_of(p.W, p.b))(Params(W0, b0))
    assert type(g) is Params
    gW, gb = _grads_by_hand(W0, b0)
    assert_close(g.W, gW, rtol=1e-12)
    assert_close(g.b, gb, rtol=1e-12)


def test_ordered_dict_and_defaultdict_arguments():
    od = collections.OrderedDict([("b", b0), ("W", W0)])
    g = ad.grad(lambda p: loss_of(p["W"], p["b"]))(od)
    assert type(g) is collections.OrderedDict and list(g) == ["b", "W"]
    gW, gb = _grads_by_hand(W0, b0)
    assert_close(g["W"], gW, rtol=1e-12)
    dd = collections.defaultdict(float, {"W": W0, "b": b0})
    g = ad.grad(lambda p: loss_of(p["W"], p["b"]))(dd)
    assert type(g) is collections.defaultdict and g.default_factory is float
    assert_close(g["b"], gb, rtol=1e-12)


@dataclasses.dataclass
class Layer:
    W: np.ndarray
    b: np.ndarray
    name: str = "layer"


@dataclasses.dataclass(frozen=True)
class Frozen:
    W: np.ndarray
    scale: float


def test_dataclass_argument_gradient_and_static_field():
    layer = Layer(W0, b0, "hidden")
    g = ad.grad(lambda l: loss_of(l.W, l.b) * (2.0 if l.name == "hidden" else 1.0))(layer)
    assert type(g) is Layer and g.name == "hidden"
    gW, gb = _grads_by_hand(W0, b0)
    assert_close(g.W, 2 * gW, rtol=1e-12)
    assert_close(g.b, 2 * gb, rtol=1e-12)
    # the string field is static: another value is another trace, not a stale one
    g2 = ad.grad(lambda l: loss_of(l.W, l.b) * (2.0 if l.name == "hidden" else 1.0))(Layer(W0, b0, "out"))
    assert_close(g2.W, gW, rtol=1e-12)


def test_frozen_dataclass_with_a_float_field():
    def f(p):
        return p.scale * np.sum(p.W ** 2)

    g = ad.grad(f)(Frozen(W0, 3.0))
    assert type(g) is Frozen
    assert_close(g.W, 6 * W0, rtol=1e-15)
    assert_close(g.scale, np.sum(W0 ** 2), rtol=1e-14)


def test_dataclass_and_namedtuple_results_and_aux():
    def f(W):
        return Layer(np.sin(W), np.cos(W).sum(0), "res")

    out = ad.function(f)(W0)
    assert type(out) is Layer and out.name == "res"
    assert_close(out.W, np.sin(W0), rtol=1e-15)
    J = ad.jacobian(lambda w: Params(w * 2, np.sum(w)))(b0)
    assert_close(J[0][0], 2 * np.eye(2), rtol=1e-15)
    g, aux = ad.grad(lambda w: (np.sum(w ** 2), Params(w, w.sum())), has_aux=True)(b0)
    assert type(aux) is Params and aux.b == b0.sum()


class Pair:
    """A user's own container, registered below."""

    def __init__(self, first, second, label):
        self.first, self.second, self.label = first, second, label


ad.register_pytree_node(Pair, lambda p: ((p.first, p.second), p.label),
                        lambda label, children: Pair(children[0], children[1], label))


def test_registered_node_argument_and_gradient():
    def f(p):
        return np.sum(p.first * p.second) * (3.0 if p.label == "x3" else 1.0)

    a, b = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    g = ad.grad(f)(Pair(a, b, "x3"))
    assert type(g) is Pair and g.label == "x3"
    assert_close(g.first, 3 * b, rtol=1e-15)
    assert_close(g.second, 3 * a, rtol=1e-15)
    assert_close(ad.grad(f)(Pair(a, b, "plain")).first, b, rtol=1e-15)


def test_aux_data_is_part_of_the_cache_key_even_when_unhashable():
    class Bag:
        def __init__(self, x, meta):
            self.x, self.meta = x, meta

    ad.register_pytree_node(Bag, lambda b: ((b.x,), b.meta), lambda meta, ch: Bag(ch[0], meta))

    def f(b):
        return np.sum(b.x ** 2) * len(b.meta)

    g = ad.grad(f)
    assert_close(g(Bag(np.ones(2), ["a"])).x, 2 * np.ones(2), rtol=1e-15)
    assert_close(g(Bag(np.ones(2), ["a"])).x, 2 * np.ones(2), rtol=1e-15)
    assert g.stats.traces == 1  # equal aux_data: the same specialization
    assert_close(g(Bag(np.ones(2), ["a", "b"])).x, 4 * np.ones(2), rtol=1e-15)
    assert g.stats.traces == 2


def test_nested_structures_with_verification():
    def f(p):
        return loss_of(p["layer"].W, p["layer"].b) + np.sum(p["extra"][0] ** 2)

    p = {"layer": Layer(W0, b0), "extra": [np.ones(2)]}
    g = ad.grad(f, verify=True)(p)
    gW, _ = _grads_by_hand(W0, b0)
    assert_close(g["layer"].W, gW, rtol=1e-12)
    assert_close(g["extra"][0], 2 * np.ones(2), rtol=1e-15)


def test_minimize_over_a_dataclass():
    @dataclasses.dataclass
    class Line:
        slope: np.ndarray
        intercept: float

    t = np.linspace(0, 1, 20)
    y = 2.0 * t - 0.5

    def sse(p):
        return np.sum((p.slope[0] * t + p.intercept - y) ** 2)

    res = ad.minimize(sse, Line(np.zeros(1), 0.0))
    assert type(res.x) is Line
    assert_close(res.x.slope, [2.0], rtol=1e-5)
    assert_close(res.x.intercept, -0.5, rtol=1e-5)


def test_dict_key_order_does_not_change_the_gradient():
    g = ad.grad(lambda p: np.sum(p["a"] * 2.0) + np.sum(p["z"] ** 2))
    r1 = g({"z": np.ones(2), "a": np.ones(3)})
    r2 = g({"a": np.ones(3), "z": np.ones(2)})
    assert_close(r1["a"], 2 * np.ones(3), rtol=1e-15)
    assert_close(r2["z"], 2 * np.ones(2), rtol=1e-15)
    assert r2["a"].shape == (3,) and r1["z"].shape == (2,)
