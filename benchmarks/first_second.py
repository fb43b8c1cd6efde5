"""Steady state of the default mode in the first second of use, against hand-written numpy
and bare PyTensor (issue #18: a short script never reaches the Numba upgrade).

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/first_second.py [--only rosen,mlp]

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
    """A bare ``pytensor.function`` (default mode: Numba) of the traced graph, and its inputs."""
    import pytensor

    from pyautodiff import structure

    g = getattr(ad, p["kind"])(p["make"](np), wrt=p["wrt"], mode="numpy")
    args = p["args"] + ((p["direction"],) if "direction" in p else ())
    spec = g.specialization_for(*args)
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
    tiering = g._last_spec.tiering  # None: served from the trace cache on disk (numpy code)
    light = tiering is not None and getattr(tiering.first_tier, "light", False)
    shares = {t: served.count(t) / len(served) for t in set(served)}
    tier = " ".join(f"{'numpy (light)' if t == 'numpy' and light else t} {share:.0%}"
                     for t, share in sorted(shares.items()))
    medians = {k: statistics.median(v) for k, v in times.items()}
    cpu_medians = {k: statistics.median(v) for k, v in cpu.items()}
    return medians, cpu_medians, tier, len(times["ours"])


def _tier_serving(g):
    from pyautodiff.backend.tiered import Tiered

    spec = g._last_spec
    if spec.tiering is None:  # served from the trace cache on disk: its generated code, measured
        return "numpy"
    return "numpy" if isinstance(spec.fn, Tiered) or spec.fn is spec.tiering.first_tier else "numba"


def _child(key, what):
    """In a fresh process: ``prime`` calls the default mode until its upgrade is decided
    (leaving Numba's cache and the tier note on disk); ``switch`` prints the seconds from
    the first call until the Numba tier served a call, and the CPU seconds of the process
    (both threads) by then (or "-")."""
    p = next(p for p in problems() if p["key"] == key)
    g = getattr(ad, p["kind"])(p["make"](np), wrt=p["wrt"])
    args = p["args"] + ((p["direction"],) if "direction" in p else ())
    t0, c0 = time.perf_counter(), time.process_time()
    g(*args)
    tiering = g._last_spec.tiering
    while time.perf_counter() - t0 < (60 if what == "prime" else 30):
        g(*args)
        if what == "switch" and _tier_serving(g) == "numba":
            print(f"{time.perf_counter() - t0:.2f} s ({time.process_time() - c0:.2f} s CPU)")
            return
        if what == "prime" and tiering.thread is not None:
            break
    print(tiering.wait(300) if what == "prime" else "-")


def _in_child(key, what):
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--child", key, what], capture_output=True, text=True,
                         timeout=600)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr.strip()[-200:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=None)
    ap.add_argument("--cpu", action="store_true", help="medians of the calling thread's CPU time")
    ap.add_argument("--prime", action="store_true",
                    help="first run each problem in a process until its Numba upgrade is decided (a warm "
                         "process: Numba's cache and the tier note on disk), and time the switch to Numba "
                         "in a fresh process")
    ap.add_argument("--child", nargs=2, metavar=("KEY", "WHAT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return _child(*a.child)
    only = a.only.split(",") if a.only else None
    print(f"{'problem':<44} {'hand us':>9} {'ours 1st s us':>13} {'tier (share of calls)':<22} {'calls':>6} "
          f"{'bare PT us':>10} {'/hand':>6} {'/bare PT':>8}" + ("  numba after (fresh process)" if a.prime else ""))
    for p in problems():
        if p["hand"] is None or (only and p["key"] not in only):
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
