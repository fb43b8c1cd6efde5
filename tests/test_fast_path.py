"""The generated entry of the last specialization (cache.fast_path) serves only
calls the general path would serve with the same specialization."""
import numpy as np

import pyautodiff as ad
from pyautodiff.cache import MISS


def loss(mu, sigma, data):
    z = (data - mu) / sigma
    if mu > 0:  # a guard: the other sign is another specialization
        return np.sum(-0.5 * z ** 2 - np.log(sigma))
    return np.sum(-0.5 * z ** 2 - 2.0 * np.log(sigma))


def expected(mu, sigma, data):
    z = (data - mu) / sigma
    c = 1.0 if mu > 0 else 2.0
    return np.sum(z) / sigma, np.sum(z ** 2) / sigma - c * len(data) / sigma


def test_fast_path_agrees_with_the_general_one_across_guards_shapes_and_dtypes():
    rng = np.random.default_rng(0)
    data = rng.normal(size=50)
    g = ad.grad(loss, wrt=(0, 1))
    calls = [(0.3, 1.5, data), (0.4, 1.2, data), (-0.3, 1.5, data), (0.2, 1.1, data),
             (0.3, 1.5, data[:20]), (0.3, 1.5, data), (0.3, 1.5, data.astype(np.float32)),
             (0.3, 1.5, data), (np.float64(0.3), 1.5, data), (0.3, 1.5, data)]
    for args in calls:
        got = g(*args)
        want = expected(args[0], args[1], np.asarray(args[2], dtype=np.float64))
        rtol = 1e-5 if args[2].dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol)
        assert all(type(v) is np.float64 for v in got)
    # every call was counted once, as a hit or a trace
    assert g.stats.calls == len(calls)
    assert g.stats.cache_hits + g.stats.traces == len(calls)
    assert g.stats.traces == 5  # mu > 0, mu <= 0, 20 samples, float32 data, a numpy scalar mu


def test_fast_path_declines_what_it_does_not_check():
    data = np.linspace(0.0, 1.0, 7)
    g = ad.grad(loss, wrt=(0, 1))
    g(0.3, 1.5, data)
    fast = g._fast_path
    assert fast is not None and fast((0.5, 1.2, data)) is not MISS
    assert fast((0.5, 1.2, data[:3])) is MISS          # another shape
    assert fast((0.5, 1.2, list(data))) is MISS        # another kind of argument
    assert fast((0.5, 1.2)) is MISS                    # another arity
    assert fast((-0.5, 1.2, data)) is MISS             # a guard that does not hold
    assert fast((0.5, 1, data)) is MISS                # an int where a float was


def test_fast_path_of_a_gradient_of_one_array_returns_arrays_as_the_general_path_does():
    # the array output is returned inline; anything else (a numpy scalar for a 0-d
    # argument) still goes through the converter
    g = ad.grad(lambda w: np.sum(w ** 3))
    for w in (np.array([1.0, -2.0, 0.5]), np.array(3.0)):
        first = g(w)  # traces; the second call takes the fast path
        assert g._fast_path is not None
        second = g._fast_path((w,))
        for got in (first, second):
            assert type(got) is np.ndarray and got.shape == w.shape
            np.testing.assert_allclose(got, 3 * w ** 2, rtol=1e-15)
