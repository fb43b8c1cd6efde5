"""The on-disk cache of generated numpy code (backend/code_cache.py, backend/cache_dir.py)."""
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytensor.tensor as pt
import pytest

import pyautodiff as ad
from pyautodiff.backend import code_cache, rewrite

from test_examples import nll, nll_grad_by_hand


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(tmp_path))
    return tmp_path


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=(20, 5)), rng.integers(0, 3, 20)


def _entries(d):
    return sorted(p for p in os.listdir(d) if p.endswith(".npz"))


def test_a_second_build_of_the_same_graph_skips_rewriting(cache_dir, monkeypatch):
    W, b, X, y = _data()
    first = ad.grad(nll, wrt=(0, 1))(W, b, X, y)
    assert len(_entries(cache_dir)) == 1

    def no_rewriting(fg):
        raise AssertionError("rewrote a graph the cache holds")

    monkeypatch.setattr(rewrite, "rewrite_graph", no_rewriting)
    g = ad.grad(nll, wrt=(0, 1))  # a new transformation: traces again, same graph
    W2, b2, X2, y2 = _data(1)
    for got, want in zip(g(W2, b2, X2, y2), nll_grad_by_hand(W2, b2, X2, y2)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    for got, want in zip(first, nll_grad_by_hand(W, b, X, y)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_other_shapes_constants_and_kinds_get_their_own_entries(cache_dir):
    x = np.linspace(0.1, 1.0, 4)
    ad.grad(lambda v: np.sum(np.sin(v) * 2.0))(x)
    ad.grad(lambda v: np.sum(np.sin(v) * 3.0))(x)  # another constant
    ad.grad(lambda v: np.sum(np.sin(v) * 2.0))(x[:3])  # another shape
    ad.function(lambda v: np.sum(np.sin(v) * 2.0))(x)  # another kind
    assert len(_entries(cache_dir)) == 4
    assert ad.grad(lambda v: np.sum(np.sin(v) * 3.0))(x) == pytest.approx(3.0 * np.cos(x), rel=1e-15)


def test_an_unreadable_entry_is_a_miss_and_is_replaced(cache_dir):
    x = np.linspace(0.1, 1.0, 4)
    ad.grad(lambda v: np.sum(v ** 3))(x)
    (name,) = _entries(cache_dir)
    (cache_dir / name).write_bytes(b"not an entry")
    with pytest.warns(ad.CodeCacheWarning, match="unreadable"):
        np.testing.assert_allclose(ad.grad(lambda v: np.sum(v ** 3))(x), 3 * x ** 2, rtol=1e-15)
    assert code_cache.load(name[:-4]) is not None  # written again, readable


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", "0")
    assert code_cache.directory() is None
    x = np.linspace(0.1, 1.0, 4)
    np.testing.assert_allclose(ad.grad(lambda v: np.sum(v ** 3))(x), 3 * x ** 2, rtol=1e-15)
    assert not code_cache.store("k", "", {})


def test_fingerprints_see_every_difference_that_changes_the_code():
    x = pt.dvector("x")
    base = code_cache.fingerprint([x], [pt.exp(x) * 2.0])
    assert base == code_cache.fingerprint([x], [pt.exp(x) * 2.0])  # a new, equal graph
    y = pt.dvector("y")
    assert base != code_cache.fingerprint([y], [pt.exp(y) * 2.0])  # names become identifiers
    assert base != code_cache.fingerprint([x], [pt.exp(x) * 2.5])
    assert base != code_cache.fingerprint([x], [pt.exp(x) * np.array([2.0, 2.0])])
    assert base != code_cache.fingerprint([x], [pt.log(x) * 2.0])
    assert base != code_cache.fingerprint([x], [x.sum(keepdims=True) * 2.0])
    assert base != code_cache.fingerprint([x], [pt.exp(x) * 2.0], extra="fresh")
    z = pt.tensor("x", shape=(3,), dtype="float64")
    assert base != code_cache.fingerprint([z], [pt.exp(z) * 2.0])  # static shape


def test_a_graph_with_a_free_variable_is_not_cacheable():
    x, free = pt.dvector("x"), pt.dvector("free")
    assert code_cache.fingerprint([x], [x + free]) is None


def test_fingerprints_are_the_same_in_another_process():
    # str hashes are salted per process: the digest must not depend on them
    script = textwrap.dedent("""
        import numpy as np, pyautodiff as ad
        from pyautodiff.backend import code_cache
        g = ad.grad(lambda w, X: np.mean(np.tanh(X @ w) ** 2) + 1e-3 * np.sum(w * w) + np.max(w))
        spec = g.specialization_for(np.ones(4), np.ones((6, 4)))
        print(code_cache.fingerprint(spec.trace.all_inputs, spec.outputs))
    """)
    digests = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYAUTODIFF_CODE_CACHE="0")
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1 and len(digests.pop()) == 64


def test_graphs_with_inner_graphs_are_cacheable_and_told_apart():
    from pytensor.compile.builders import OpFromGraph

    x, v = pt.dvector("x"), pt.dvector("v")
    double = OpFromGraph([v], [v * 2.0], inline=True)
    triple = OpFromGraph([v], [v * 3.0], inline=True)
    a = code_cache.fingerprint([x], [double(x)])
    assert a is not None and a == code_cache.fingerprint([x], [OpFromGraph([v], [v * 2.0], inline=True)(x)])
    assert a != code_cache.fingerprint([x], [triple(x)])
    assert a != code_cache.fingerprint([x], [OpFromGraph([v], [v * 2.0], inline=False)(x)])


# -- the cache never executes or serves what it did not write -------------------------------

def cube_sum(v):  # a constant big enough to be stored as an array, not written as a literal
    return np.sum(v ** 3 * np.arange(1.0, 501.0))


X = np.linspace(0.5, 1.5, 500)
WANT = 3 * X ** 2 * np.arange(1.0, 501.0)


def _one_entry(cache_dir):
    x = X
    np.testing.assert_allclose(ad.grad(cube_sum)(x), WANT, rtol=1e-15)
    (name,) = _entries(cache_dir)
    return x, cache_dir / name


def _members(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _rewrite(path, members):
    with open(path, "wb") as fh:
        np.savez(fh, **members)


def _served_again_correctly(cache_dir, x, match):
    with pytest.warns(ad.CodeCacheWarning, match=match):
        got = ad.grad(cube_sum)(x)  # a new transformation: looks in the cache
    np.testing.assert_allclose(got, WANT, rtol=1e-15)
    (name,) = _entries(cache_dir)
    assert code_cache.load(name[:-4]) is not None  # recompiled and written again


class _Plant:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # what a malicious pickle does on load
        return (os.mkdir, (self.marker,))


def test_a_planted_pickle_is_never_loaded(cache_dir, tmp_path_factory):
    x, path = _one_entry(cache_dir)
    marker = str(tmp_path_factory.mktemp("m") / "pwned")
    path.write_bytes(pickle.dumps(_Plant(marker)))
    path.with_suffix(".pkl").write_bytes(pickle.dumps(_Plant(marker)))  # the old format's name
    _served_again_correctly(cache_dir, x, "unreadable")
    assert not os.path.exists(marker)


def test_a_well_formed_entry_with_a_wrong_mac_is_not_served(cache_dir):
    x, path = _one_entry(cache_dir)
    members = _members(path)
    source = bytes(members["source"]).decode()
    # a planted entry computing [42, 42, 42], in the right format but not signed with our key
    members["source"] = np.frombuffer(source.replace("return", "return [np.full(3, 42.0)] or ", 1).encode(),
                                      dtype=np.uint8)
    _rewrite(path, members)
    _served_again_correctly(cache_dir, x, "authentication")


def test_an_edited_constant_is_not_served(cache_dir):
    x, path = _one_entry(cache_dir)
    members = _members(path)
    consts = [k for k, v in members.items() if k.startswith("c_") and v.dtype == np.float64 and v.size == 500]
    assert consts, list(members)
    for k in consts:
        members[k] = members[k] * 1.25  # 3.0 -> 3.75, ...
    _rewrite(path, members)
    _served_again_correctly(cache_dir, x, "authentication")


def test_a_truncated_entry_is_not_served(cache_dir):
    x, path = _one_entry(cache_dir)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _served_again_correctly(cache_dir, x, "unreadable")


def test_an_entry_moved_to_another_key_is_not_served(cache_dir):
    x, path = _one_entry(cache_dir)
    other = ad.grad(lambda v: np.sum(np.exp(v)))
    other(x)
    names = _entries(cache_dir)
    assert len(names) == 2
    (mine,) = [n for n in names if cache_dir / n == path]
    (theirs,) = [n for n in names if n != mine]
    os.replace(path, cache_dir / theirs)  # same secret, wrong key
    with pytest.warns(ad.CodeCacheWarning, match="authentication"):
        np.testing.assert_allclose(ad.grad(lambda v: np.sum(np.exp(v)))(x), np.exp(x), rtol=1e-15)


def test_the_directory_is_created_private_with_a_private_key(tmp_path, monkeypatch):
    where = tmp_path / "new" / "cache"
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(where))
    x = np.array([0.5, 1.0])
    ad.grad(lambda v: np.sum(v ** 3))(x)
    assert stat.S_IMODE(os.stat(where).st_mode) == 0o700
    keys = [p for p in os.listdir(where) if p.endswith(".key")]
    assert len(keys) == 1 and stat.S_IMODE(os.stat(where / keys[0]).st_mode) == 0o600
    assert len(_entries(where)) == 1


@pytest.mark.parametrize("how", ["writable by others", "owned by another user"])
def test_a_foreign_or_loose_directory_is_refused(how, tmp_path, monkeypatch):
    where = tmp_path / "shared"
    where.mkdir()
    if how == "writable by others":
        os.chmod(where, 0o777)
    else:
        if os.geteuid() != 0:
            pytest.skip("giving a directory to another user needs root")
        os.chmod(where, 0o700)
        os.chown(where, 65534, 65534)
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(where))
    x = np.array([0.5, 1.0])
    with pytest.warns(ad.CodeCacheWarning, match=how):
        np.testing.assert_allclose(ad.grad(lambda v: np.sum(v ** 3 * 7.0))(x), 21 * x ** 2, rtol=1e-15)
    assert os.listdir(where) == []  # nothing read or written there
    assert code_cache.directory() is None
    # the same process still skips rewriting a graph it built before (an in-memory fallback)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per directory
        np.testing.assert_allclose(ad.grad(lambda v: np.sum(v ** 3 * 7.0))(x), 21 * x ** 2, rtol=1e-15)


def test_a_planted_entry_in_a_foreign_directory_is_never_looked_at(tmp_path, monkeypatch):
    where = tmp_path / "shared"
    where.mkdir()
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE", str(where))
    x = X
    ad.grad(cube_sum)(x)
    (name,) = _entries(where)
    marker = str(tmp_path / "pwned")
    (where / name).write_bytes(pickle.dumps(_Plant(marker)))
    os.chmod(where, 0o777)
    with pytest.warns(ad.CodeCacheWarning, match="writable by others"):
        np.testing.assert_allclose(ad.grad(cube_sum)(x), WANT, rtol=1e-15)
    assert not os.path.exists(marker)


def test_a_key_file_others_can_read_is_refused(cache_dir):
    x = np.array([0.5, 1.0])
    ad.grad(lambda v: np.sum(v ** 3))(x)
    (key,) = [p for p in os.listdir(cache_dir) if p.endswith(".key")]
    os.chmod(cache_dir / key, 0o644)
    code_cache.forget_secrets()  # as a new process would
    with pytest.warns(ad.CodeCacheWarning, match="key"):
        np.testing.assert_allclose(ad.grad(lambda v: np.sum(v ** 3 * 2.0))(x), 6 * x ** 2, rtol=1e-15)


def test_least_recently_used_entries_are_evicted_at_the_cap(cache_dir, monkeypatch):
    x = np.array([0.5, 1.0])
    fns = [lambda v, c=c: np.sum(v ** 3 * c) for c in (2.0, 3.0, 4.0)]
    ad.grad(fns[0])(x)
    (a,) = _entries(cache_dir)
    size = os.path.getsize(cache_dir / a)
    ad.grad(fns[1])(x)
    (b,) = set(_entries(cache_dir)) - {a}
    os.utime(cache_dir / a, (1000, 1000))  # a was written first
    os.utime(cache_dir / b, (2000, 2000))
    assert code_cache.load(a[:-4]) is not None  # ... but used last
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE_MB", str(2.5 * size / 2**20))  # room for two entries
    ad.grad(fns[2])(x)
    left = _entries(cache_dir)
    assert len(left) == 2 and a in left and b not in left
    total = sum(os.path.getsize(cache_dir / n) for n in left)
    assert total <= 2.5 * size


def test_the_default_location_is_the_users_cache_directory(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("PYAUTODIFF_CODE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    where = code_cache.directory()
    assert where is not None and where.startswith(platformdirs.user_cache_dir("pyautodiff"))
    assert where.startswith(str(tmp_path / "xdg"))


def test_a_store_counts_the_entries_once_per_share_of_the_cap_it_writes(cache_dir, monkeypatch):
    # counting stats every entry: with tens of thousands of them, doing it at every
    # store made each first call slow; a process counts at its first store, then again
    # only after writing cap / SCAN_FRACTION bytes
    from pyautodiff.backend import cache_dir as cd

    scans = []
    real = cd.os.scandir
    monkeypatch.setattr(cd.os, "scandir", lambda p: (os.path.samefile(p, cache_dir) and scans.append(p)) or real(p))
    cd._written.clear()
    x = np.array([0.5, 1.0])
    for c in (2.0, 3.0, 4.0, 5.0):
        np.testing.assert_allclose(ad.grad(lambda v, c=c: np.sum(v ** 3 * c))(x), 3 * c * x ** 2, rtol=1e-15)
    assert len(_entries(cache_dir)) == 4 and len(scans) == 1  # the first store only
    size = os.path.getsize(cache_dir / _entries(cache_dir)[0])
    monkeypatch.setenv("PYAUTODIFF_CODE_CACHE_MB", str(cd.SCAN_FRACTION * 1.5 * size / 2**20))
    ad.grad(lambda v: np.sum(v ** 3 * 6.0))(x)  # the bytes written since pass cap / SCAN_FRACTION
    assert len(scans) == 2
