"""Benchmarks: pyautodiff against hand-written numpy, bare PyTensor, autograd and JAX.

Usage (figures in the README were made with one BLAS thread)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/run.py [--json out.json] [--quick]

Per problem, measured in this one run: steady-state time per call (median of
repeated batches) of the hand-written numpy derivative, pyautodiff (default
mode, after its background upgrade settled), its first tier (generated numpy
code), a bare ``pytensor.function`` of the same traced graph in PyTensor's
default (Numba) mode, and, when installed (``pip install .[bench]``),
autograd and ``jax.jit`` with float64; ratios to hand-written; the
gradient/value cost ratio; first-call latency in a new process with a cold
and a warm PyTensor cache; and a full L-BFGS-B fit of the log-linear model.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from problems import problems  # noqa: E402

import pyautodiff as ad  # noqa: E402


def per_call(fn, args, min_time=0.2, repeats=7):
    """Median seconds per call over ``repeats`` batches."""
    fn(*args)
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(*args)
        if time.perf_counter() - t0 > min_time / repeats or n > 100_000:
            break
        n *= 4
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(*args)
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def _transform(p, **kw):
    f = p["make"](np)
    return getattr(ad, p["kind"])(f, wrt=p["wrt"], **kw)


def _call_args(p):
    return p["args"] + ((p["direction"],) if "direction" in p else ())


def ours(p):
    """Steady state of the default mode: call until its tier decision settled."""
    g = _transform(p)
    args = _call_args(p)
    g(*args)
    tiering = g._last_spec.tiering
    deadline = time.perf_counter() + 10.0
    while tiering.outcome == "measuring" and time.perf_counter() < deadline:
        g(*args)  # a user's loop: the upgrade starts after 2 s spent computing
    tiering.wait(timeout=900)
    return per_call(g, args), tiering.outcome


def exported(p):
    """The code export_source writes, exec'd and timed like the hand-written gradient."""
    g = _transform(p, mode="numpy")
    source = ad.export_source(g, *_call_args(p))
    namespace: dict = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    fn = next(v for k, v in namespace.items() if callable(v) and getattr(v, "__code__", None) is not None
              and v.__code__.co_filename == "<exported>" and not k.startswith("_"))
    return per_call(fn, _call_args(p))


def ours_numpy_tier(p):
    g = _transform(p, mode="numpy")
    return per_call(g, _call_args(p))


def bare_pytensor(p):
    """The traced graph, differentiated by PyTensor, compiled in its default mode, no input checks."""
    import pytensor

    g = _transform(p, mode="numpy")
    spec = g.specialization_for(*_call_args(p))
    fn = pytensor.function(spec.trace.all_inputs + spec.extra_inputs, spec.outputs)
    fn.trust_input = True
    inputs = [np.asarray(a) for a in _call_args(p) if not isinstance(a, (int, str))]
    leaves: list = []
    from pyautodiff import structure

    for a in _call_args(p):
        structure.flatten(a, leaves)
    inputs = [np.asarray(x) for x in leaves]
    return per_call(fn, inputs)


def value_only(p):
    g = ad.function(p["make"](np))
    return per_call(g, p["args"])


def autograd_time(p):
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None
    f = p["make"](anp)
    wrt = p["wrt"]
    if p["kind"] == "grad":
        g = autograd.grad(f, wrt) if not isinstance(wrt, tuple) else _multi(autograd.grad, f, wrt)
        return per_call(g, p["args"])
    if p["kind"] == "hvp":
        hvp = autograd.hessian_vector_product(f, wrt)
        return per_call(hvp, _call_args(p))
    if p["kind"] == "hessian":
        return per_call(autograd.hessian(f, wrt), p["args"])
    return None


def _multi(grad, f, wrt):
    gs = [grad(f, i) for i in wrt]
    return lambda *a: tuple(g(*a) for g in gs)


def jax_time(p):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    f = p["make"](jnp)
    wrt = p["wrt"]
    args = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in _call_args(p))
    if p["kind"] == "grad":
        g = jax.jit(jax.grad(f, argnums=wrt))
    elif p["kind"] == "hvp":
        grad = jax.grad(f, argnums=wrt)

        def hvp(*a):
            *xs, v = a
            return jax.jvp(lambda w: grad(*([w] + list(xs[1:]))), (xs[0],), (v,))[1]

        g = jax.jit(hvp)
    else:
        g = jax.jit(jax.hessian(f, argnums=wrt))

    def run(*a):
        out = g(*a)
        jax.block_until_ready(out)
        return out

    return per_call(run, args)


_FIRST_CALL_SCRIPT = """
import sys, time, os
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import numpy as np, pyautodiff as ad
from problems import problems
p = [q for q in problems() if q["key"] == {key!r}][0]
g = getattr(ad, p["kind"])(p["make"](np), wrt=p["wrt"])
args = p["args"] + ((p["direction"],) if "direction" in p else ())
t0 = time.perf_counter(); g(*args); print(time.perf_counter() - t0)
"""


def first_call(key, compiledir):
    env = dict(os.environ, PYTENSOR_FLAGS=f"compiledir={compiledir}",
               PYAUTODIFF_CODE_CACHE=os.path.join(compiledir, "pyautodiff-code"))
    script = _FIRST_CALL_SCRIPT.format(root=os.path.join(HERE, ".."), here=HERE, key=key)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


def lbfgs_fit():
    import scipy.optimize as so

    from pyautodiff.demo import loglinear_data

    W, b, X, y = loglinear_data()
    nll = problems()[2]["make"](np)
    hand = problems()[2]["hand"]
    K, D = W.shape

    def loss(params, X, y):
        return nll(params[0], params[1], X, y)

    t0 = time.perf_counter()
    res = ad.minimize(loss, (W, b), args=(X, y), method="L-BFGS-B", verify=False)
    first_t = time.perf_counter() - t0  # includes tracing and building
    t0 = time.perf_counter()
    res = ad.minimize(loss, (W, b), args=(X, y), method="L-BFGS-B", verify=False)
    ours_t = time.perf_counter() - t0  # a refit: compiled code reused

    def fg(z):
        Wz, bz = z[:K * D].reshape(K, D), z[K * D:]
        gW, gb = hand(Wz, bz, X, y)
        return nll(Wz, bz, X, y), np.concatenate([gW.ravel(), gb])

    t0 = time.perf_counter()
    ref = so.minimize(fg, np.concatenate([W.ravel(), b]), jac=True, method="L-BFGS-B")
    hand_t = time.perf_counter() - t0
    return {"ours_s": ours_t, "first_fit_s": first_t, "hand_s": hand_t, "ratio": ours_t / hand_t,
            "nit": res.nit, "nit_hand": ref.nit,
            "fun": float(res.fun), "fun_hand": float(ref.fun)}


def overheads():
    """Guards and verification on the hot path, as ratios (issues: guards, verification)."""
    p = problems()[2]  # log-linear
    nll = p["make"](np)

    def guarded(W, b, X, y):
        if b[0] > -1e300:  # a data-dependent branch: one guard, always true
            return nll(W, b, X, y)
        return 0.0 * nll(W, b, X, y)

    plain = ad.grad(nll, wrt=(0, 1), mode="numpy")
    with_guard = ad.grad(guarded, wrt=(0, 1), mode="numpy")
    t_plain = per_call(plain, p["args"], min_time=1.0, repeats=11)
    t_guard = per_call(with_guard, p["args"], min_time=1.0, repeats=11)
    seed = problems()[0]
    f = seed["make"](np)
    off = ad.grad(f, wrt=(0, 1), mode="numpy")
    t_off = per_call(off, seed["args"], min_time=1.0, repeats=11)
    off._verify = None  # the hook removed entirely: what "off" is compared with
    t_none = per_call(off, seed["args"], min_time=1.0, repeats=11)
    return {"guarded_us": t_guard * 1e6, "unguarded_us": t_plain * 1e6, "guard_ratio": t_guard / t_plain,
            "verify_off_us": t_off * 1e6, "no_hook_us": t_none * 1e6, "verify_off_ratio": t_off / t_none}


def run(quick=False):
    rows = []
    for p in problems():
        row = {"key": p["key"], "problem": p["name"]}
        row["hand_us"] = per_call(p["hand"], p["args"]) * 1e6 if p["hand"] else None
        t, outcome = ours(p)
        row["ours_us"], row["tier"] = t * 1e6, outcome
        row["numpy_tier_us"] = ours_numpy_tier(p) * 1e6
        row["exported_us"] = exported(p) * 1e6
        row["bare_pytensor_us"] = bare_pytensor(p) * 1e6
        if p["kind"] == "grad":
            row["grad_over_value"] = row["ours_us"] / (value_only(p) * 1e6)
        a = autograd_time(p)
        row["autograd_us"] = a * 1e6 if a else None
        j = jax_time(p)
        row["jax_us"] = j * 1e6 if j else None
        if not quick:
            with tempfile.TemporaryDirectory() as d:
                row["first_cold_s"] = first_call(p["key"], d)
                row["first_warm_s"] = first_call(p["key"], d)
        rows.append(row)
        print(f"  measured {p['name']}", file=sys.stderr)
    return rows


def _fmt(us, hand):
    if us is None:
        return "—"
    text = f"{us:.1f} µs" if us < 1000 else f"{us / 1000:.2f} ms"
    return f"{text} ({us / hand:.2f}x)" if hand else text


def markdown(rows, fit):
    head = ["problem", "hand-written", "pyautodiff", "(numpy tier)", "exported code", "bare PyTensor", "autograd",
            "jax.jit", "grad/value", "first call cold / warm"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        hand = r["hand_us"]
        first = (f"{r['first_cold_s']:.2f} s / {r['first_warm_s']:.2f} s" if "first_cold_s" in r else "—")
        gv = f"{r['grad_over_value']:.2f}" if r.get("grad_over_value") else "—"
        out.append("| " + " | ".join([r["problem"], _fmt(hand, None), _fmt(r["ours_us"], hand),
                                      _fmt(r["numpy_tier_us"], hand), _fmt(r["exported_us"], hand),
                                      _fmt(r["bare_pytensor_us"], hand),
                                      _fmt(r["autograd_us"], hand), _fmt(r["jax_us"], hand), gv, first]) + " |")
    if fit:
        out.append("")
        out.append(f"Full L-BFGS-B fit of the log-linear model: pyautodiff {fit['ours_s'] * 1e3:.0f} ms "
                   f"({fit['nit']} iterations; the first fit, including tracing and building, "
                   f"{fit['first_fit_s'] * 1e3:.0f} ms) vs scipy with the hand-written gradient "
                   f"{fit['hand_s'] * 1e3:.0f} ms ({fit['nit_hand']} iterations): ratio {fit['ratio']:.2f}.")
    return "\n".join(out)


def openblas_core() -> str:
    """The kernel family numpy's OpenBLAS chose at load time (it can misjudge new CPUs:
    ``OPENBLAS_CORETYPE`` overrides it)."""
    import ctypes
    import glob

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "unknown"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true", help="skip first-call subprocess measurements")
    a = ap.parse_args(argv)
    import pytensor

    rows = run(a.quick)
    fit = lbfgs_fit()
    over = overheads()
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"numpy {np.__version__}, pytensor {pytensor.__version__}, "
               f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
               f"OpenBLAS kernels {openblas_core()}")
    print(f"Machine: {machine}\n")
    print(markdown(rows, fit))
    tiers = ", ".join(f"{r['key']}: {r['tier']}" for r in rows)
    print(f"\nTier reached by pyautodiff's default mode: {tiers}")
    print(f"\nGuards: log-linear gradient with one data-dependent branch {over['guarded_us']:.1f} µs vs "
          f"{over['unguarded_us']:.1f} µs without (ratio {over['guard_ratio']:.3f}).")
    print(f"Verification off: seed gradient {over['verify_off_us']:.2f} µs vs {over['no_hook_us']:.2f} µs with "
          f"the hook removed (ratio {over['verify_off_ratio']:.3f}).")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"machine": machine, "rows": rows, "lbfgs_fit": fit, "overheads": over}, fh, indent=2)


if __name__ == "__main__":
    main()
