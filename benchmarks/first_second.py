"""Steady state of the default mode in the first second of use, against hand-written numpy
and bare PyTensor (issue #18: a short script never reaches the Numba upgrade).

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/first_second.py [--only rosen,mlp]
        [--cpu] [--caches cold|warm] [--bare-arithmetic fast-math|numpy]

Per problem of ``problems.py`` with a hand-written derivative: the first call is made,
then the transformed function is called in a loop for one second (as a script or a
fit would) and the median time of those calls is taken (the tier serving them is
printed: the first tier is generated numpy code, the Numba upgrade comes only after
``tiered.UPGRADE_AFTER_SECONDS`` spent computing); hand-written numpy and a bare
``pytensor.function`` of the same traced graph in PyTensor's default (Numba) mode
(compiled beforehand) are called in turn with it in that second, so that the three
medians meet the same load.  Ratios < 1 mean faster.  Each call is timed twice: wall time and the CPU
time of the calling thread (``time.thread_time``: on a loaded machine it is not inflated
by waiting for a core, and a background compile thread is not counted); ``--cpu``
prints ratios of the latter.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from problems import problems  # noqa: E402

import pyautodiff as ad  # noqa: E402


def bare_function(p):
    """A bare ``pytensor.function`` (default mode: Numba) of the traced graph, and its inputs.

    PyTensor's defaults: fast-math Numba (``numba__fastmath``). ``--bare-arithmetic numpy``
    (``BENCH_BARE_ARITHMETIC=numpy`` in the children) builds it as our Numba tier is built,
    rounding as numpy (``compile.numpy_arithmetic``)."""
    import contextlib

    import pytensor

    from pyautodiff import structure
    from pyautodiff.backend.compile import numpy_arithmetic

    g = getattr(ad, p["kind"])(p["make"](np), wrt=p["wrt"], mode="numpy")
    args = p["args"] + ((p["direction"],) if "direction" in p else ())
    spec = g.specialization_for(*args)
    ieee = os.environ.get("BENCH_BARE_ARITHMETIC") == "numpy"
    with numpy_arithmetic() if ieee else contextlib.nullcontext():
        fn = pytensor.function(spec.trace.all_inputs + spec.extra_inputs, spec.outputs)
    fn.trust_input = True
    leaves: list = []
    for a in args:
        structure.flatten(a, leaves)
    inputs = [np.asarray(x) for x in leaves]
    fn(*inputs)
    return fn, inputs


def first_second(p, window=1.0):
    """Median seconds per call over the first ``window`` s after the first call of the default
    mode, of it, hand-written numpy and bare PyTensor called in turn (so that all three meet
    the same load), and the tier that served ours."""
    bare, bare_inputs = bare_function(p)
    hand = p["hand"]
    g = getattr(ad, p["kind"])(p["make"](np), wrt=p["wrt"])
    args = p["args"] + ((p["direction"],) if "direction" in p else ())
    g(*args)
    times: dict = {"ours": [], "hand": [], "bare": []}
    cpu: dict = {"ours": [], "hand": [], "bare": []}
    runs = (("ours", g, args), ("hand", hand, p["args"]), ("bare", bare, bare_inputs))
    served: list = []
    end = time.perf_counter() + window
    while time.perf_counter() < end:
        for name, fn, a in runs:
            # each timed call follows an untimed call of the same function, as in a fit's
            # loop: a call right after another function's (bare PyTensor's especially)
            # ran up to 1.2x slower (caches), which always penalised whichever came next
            fn(*a)
            t0, c0 = time.perf_counter(), time.thread_time()
            fn(*a)
            cpu[name].append(time.thread_time() - c0)
            times[name].append(time.perf_counter() - t0)
            if name == "ours":
                served.append(_tier_serving(g))
    shares = {t: served.count(t) / len(served) for t in set(served)}
    tier = " ".join(f"{t} {share:.0%}" for t, share in sorted(shares.items()))
    medians = {k: statistics.median(v) for k, v in times.items()}
    cpu_medians = {k: statistics.median(v) for k, v in cpu.items()}
    return medians, cpu_medians, tier, len(times["ours"])


def _tier_serving(g):
    """Which tier the last specialization's calls go to now: "numba" (a compiled function
    installed by the upgrade), "numpy (light)" (the light rewrites only) or "numpy"
    (generated code, behind the measuring wrapper or not, traced or served from disk)."""
    fn = g._last_spec.fn
    if hasattr(fn, "pytensor_function") or hasattr(fn, "numba_build"):  # compile._direct_call, numba_reload
        return "numba"
    first = getattr(fn, "first_tier", fn)  # tiered.Tiered / trace_cache.Served wrap the code
    return "numpy (light)" if getattr(first, "light", False) else "numpy"


def _alone(p, window=1.0):
    """``--caches``, in a process of its own: our first call, then ours and hand-written numpy
    in turn for ``window`` s (nothing else has imported Numba: our upgrade pays for its own
    import, as in a user's script), then bare PyTensor (built only now) and hand-written numpy
    in turn for ``window`` s.  Returns the medians (wall and CPU), the tier shares, the
    number of our calls and the second tier's timeline in seconds from the start of the
    first call."""
    hand = p["hand"]
    g = getattr(ad, p["kind"])(p["make"](np), wrt=p["wrt"])
    args = p["args"] + ((p["direction"],) if "direction" in p else ())
    t0 = time.perf_counter()
    g(*args)
    first = time.perf_counter() - t0
    times: dict = {"ours": [], "hand": [], "bare": []}
    cpu: dict = {"ours": [], "hand": [], "bare": []}
    served: list = []

    def turns(runs, end):
        while time.perf_counter() < end:
            for name, fn, a in runs:
                fn(*a)  # untimed first, as in first_second
                w0, c0 = time.perf_counter(), time.thread_time()
                fn(*a)
                cpu[name].append(time.thread_time() - c0)
                times[name].append(time.perf_counter() - w0)
                if name == "ours":
                    served.append((_tier_serving(g), w0 - t0))

    turns((("ours", g, args), ("hand", hand, p["args"])), time.perf_counter() + window)
    _join_background()  # before bare PyTensor's Numba compile: see there
    bare, bare_inputs = bare_function(p)
    turns((("bare", bare, bare_inputs), ("hand", hand, p["args"])), time.perf_counter() + window)
    tiers = [t for t, _ in served]
    shares = {t: tiers.count(t) / len(tiers) for t in set(tiers)}
    tiering = getattr(g._last_spec, "tiering", None)
    timeline = getattr(tiering, "timeline", ())
    # (what, seconds from the first call, CPU seconds of the building thread since it started)
    events = [(what, at - t0, cpu - timeline[0][2]) for what, at, cpu in timeline]
    numba_at = next((at for t, at in served if t == "numba"), None)
    return {"wall": {k: statistics.median(v) for k, v in times.items()},
            "cpu": {k: statistics.median(v) for k, v in cpu.items()},
            "tier": " ".join(f"{t} {share:.0%}" for t, share in sorted(shares.items())),
            "calls": len(tiers), "first": first, "events": events, "numba_at": numba_at,
            "outcome": None if tiering is None else tiering.outcome}


def _join_background(timeout=120.0):
    """Wait for our background threads (the second tier's build, its trace, the full rewrite).

    ``_alone`` builds bare PyTensor after our window: its cold Numba compile holds Numba's
    process-wide compiler lock for 10-15 s, and our build's first call of its Numba function
    (loading its machine code from Numba's cache) takes that lock too: when the compile got
    it first, the timeline read "built 1.1, installed 14.8" for 0.1 s of our CPU."""
    import threading

    end = time.perf_counter() + timeout
    for t in threading.enumerate():
        if t.name.startswith("pyautodiff-") and t is not threading.current_thread():
            t.join(max(0.0, end - time.perf_counter()))


def _prime(p):
    """Call the default mode until its upgrade is decided (leaving the code cache, the trace
    cache, Numba's cache and the tier note on disk); returns the outcome."""
    g = getattr(ad, p["kind"])(p["make"](np), wrt=p["wrt"])
    args = p["args"] + ((p["direction"],) if "direction" in p else ())
    t0 = time.perf_counter()
    g(*args)
    while time.perf_counter() - t0 < 120:
        g(*args)
        spec = g._last_spec
        tiering = getattr(spec, "tiering", None)
        if tiering is not None and tiering.thread is not None:
            return tiering.wait(600)
        if not hasattr(spec.fn, "first_tier"):  # no longer measured: cheap calls stay numpy
            return "kept numpy (cheap calls)"
    return "undecided"


def _child(key, what):
    """In a fresh process: ``prime`` (``_prime``), ``alone`` (``_alone``, as JSON) or ``switch``:
    the seconds from the first call until the Numba tier served a call, and the CPU seconds
    of the process (all threads) by then (or "-")."""
    import json

    p = next(p for p in problems() if p["key"] == key)
    if what == "prime":
        return print(_prime(p))
    if what == "alone":
        return print(json.dumps(_alone(p)))
    g = getattr(ad, p["kind"])(p["make"](np), wrt=p["wrt"])
    args = p["args"] + ((p["direction"],) if "direction" in p else ())
    t0, c0 = time.perf_counter(), time.process_time()
    g(*args)
    while time.perf_counter() - t0 < 30:
        g(*args)
        if _tier_serving(g) == "numba":
            return print(f"{time.perf_counter() - t0:.2f} s ({time.process_time() - c0:.2f} s CPU)")
    print("-")


def _in_child(key, what, env=None):
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--child", key, what], capture_output=True, text=True,
                         timeout=900, env=env)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr.strip()[-300:]


def _with_caches(p, caches, cpu):
    """One problem in new processes with private cache directories (the code and trace caches,
    PyTensor's compile directory, which holds Numba's cache): ``cold`` measures the first
    process; ``warm`` primes a process until its upgrade is decided, then measures a second."""
    import json
    import tempfile

    env = dict(os.environ, PYAUTODIFF_CODE_CACHE=tempfile.mkdtemp(prefix="fs-code-"),
               PYTENSOR_FLAGS=f"base_compiledir={tempfile.mkdtemp(prefix='fs-pytensor-')}")
    primed = _in_child(p["key"], "prime", env) if caches == "warm" else ""
    out = _in_child(p["key"], "alone", env)
    try:
        r = json.loads(out)
    except ValueError:
        return print(f"{p['name']:<44} failed: {out}")
    t = r["cpu"] if cpu else r["wall"]
    ours, hand, bare = t["ours"], t["hand"], t["bare"]
    events = ", ".join(f"{what} {at:.2f}" + (f" ({cpu:.2f} CPU)" if cpu else "") for what, at, cpu in r["events"])
    numba = "-" if r["numba_at"] is None else f"{r['numba_at']:.2f} s"
    print(f"{p['name']:<44} {hand * 1e6:>9.1f} {ours * 1e6:>13.1f} {r['tier']:<22} {r['calls']:>6} "
          f"{bare * 1e6:>10.1f} {ours / hand:>6.2f} {ours / bare:>8.2f}  first call {r['first']:.3f} s, "
          f"numba serving from {numba} (second tier: {events or 'not started'})"
          + (f"; primed: {primed}" if primed else ""), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=None)
    ap.add_argument("--cpu", action="store_true", help="medians of the calling thread's CPU time")
    ap.add_argument("--prime", action="store_true",
                    help="first run each problem in a process until its Numba upgrade is decided (a warm "
                         "process: Numba's cache and the tier note on disk), and time the switch to Numba "
                         "in a fresh process")
    ap.add_argument("--caches", choices=("cold", "warm"),
                    help="each problem in new processes with private cache directories: the first "
                         "process (cold) or a second one after a first ran until its upgrade was "
                         "decided (warm); our first second is measured before bare PyTensor is built")
    ap.add_argument("--bare-arithmetic", choices=("fast-math", "numpy"), default="fast-math",
                    help="bare PyTensor as PyTensor builds it (fast-math Numba, the default) or rounding "
                         "as numpy, as our Numba tier is built")
    ap.add_argument("--child", nargs=2, metavar=("KEY", "WHAT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.bare_arithmetic == "numpy":
        os.environ["BENCH_BARE_ARITHMETIC"] = "numpy"  # read by bare_function, here and in children
    if a.child:
        return _child(*a.child)
    only = a.only.split(",") if a.only else None
    print(f"{'problem':<44} {'hand us':>9} {'ours 1st s us':>13} {'tier (share of calls)':<22} {'calls':>6} "
          f"{'bare PT us':>10} {'/hand':>6} {'/bare PT':>8}" + ("  numba after (fresh process)" if a.prime else ""))
    for p in problems():
        if p["hand"] is None or (only and p["key"] not in only):
            continue
        if a.caches:
            _with_caches(p, a.caches, a.cpu)
            continue
        switch = ""
        if a.prime:
            primed = _in_child(p["key"], "prime")  # the upgrade's outcome
            switch = f"  {_in_child(p['key'], 'switch')}" if primed.startswith("numba") else f"  ({primed})"
        wall, cpu, tier, n = first_second(p)
        t = cpu if a.cpu else wall
        ours, hand, bare = t["ours"], t["hand"], t["bare"]
        print(f"{p['name']:<44} {hand * 1e6:>9.1f} {ours * 1e6:>13.1f} {tier:<22} {n:>6} {bare * 1e6:>10.1f} "
              f"{ours / hand:>6.2f} {ours / bare:>8.2f}{switch}", flush=True)


if __name__ == "__main__":
    main()
