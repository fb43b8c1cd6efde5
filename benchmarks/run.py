"""Benchmarks: pyautodiff's gradients against hand-written numpy and bare PyTensor.

Usage (one BLAS thread, as the README's figures)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/run.py [--json out.json]
        [--problems seed,loglinear] [--modes numpy,c,numba]

For each problem it reports, measured in this one run: the steady-state time
per gradient call (median of repeats) of the hand-written numpy gradient, of
pyautodiff in each backend mode, and of a bare ``pytensor.function`` of the
same traced graph (C backend, inputs passed without checks); the ratios to
hand-written; and the first-call latency (trace + rewrite + build).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pyautodiff as ad  # noqa: E402
from pyautodiff.demo import loglinear_data, nll, nll_grad_by_hand, seed_function  # noqa: E402


def _seed_problem():
    args = (2.0, 5.0)

    def hand(x1, x2):
        return 1.0 / x1 + x2, x1 - np.cos(x2)

    return dict(name="seed f(x1,x2)", f=seed_function, wrt=(0, 1), args=args, hand=hand)


def _loglinear_problem():
    W, b, X, y = loglinear_data()
    return dict(name="log-linear N=1000 D=100 K=10", f=nll, wrt=(0, 1), args=(W, b, X, y),
                hand=nll_grad_by_hand)


PROBLEMS = {"seed": _seed_problem, "loglinear": _loglinear_problem}


def per_call(fn, args, min_time=0.3, repeats=7):
    """Median seconds per call over ``repeats`` batches of at least ``min_time`` total."""
    fn(*args)
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(*args)
        dt = time.perf_counter() - t0
        if dt > min_time / repeats or n > 1_000_000:
            break
        n *= 4
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(*args)
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def bare_pytensor(problem, mode="c"):
    """A pytensor.function of the very graph pyautodiff traced, called without checks."""
    import pytensor

    from pyautodiff.backend.compile import _PYTENSOR_MODES

    tr = ad.trace(problem["f"], *problem["args"])
    wrt = [tr.inputs[i] for i in problem["wrt"]]
    grads = pytensor.grad(tr.outputs[0], wrt)
    fn = pytensor.function(tr.inputs, grads, mode=_PYTENSOR_MODES[mode]())
    fn.trust_input = True
    inputs = [np.asarray(x) for x in problem["args"]]
    return fn, inputs


def run(problems, modes):
    rows = []
    for key in problems:
        p = PROBLEMS[key]()
        hand = per_call(p["hand"], p["args"])
        row = {"problem": p["name"], "hand_us": hand * 1e6}
        for mode in modes:
            g = ad.grad(p["f"], wrt=p["wrt"], mode=mode)
            t0 = time.perf_counter()
            g(*p["args"])
            row[f"first_call_s[{mode}]"] = time.perf_counter() - t0
            t = per_call(g, p["args"])
            row[f"ad_us[{mode}]"] = t * 1e6
            row[f"ratio_to_hand[{mode}]"] = t / hand
        fn, inputs = bare_pytensor(p, "c")
        bare = per_call(fn, inputs)
        row["bare_pytensor_c_us"] = bare * 1e6
        row["bare_ratio_to_hand"] = bare / hand
        rows.append(row)
    return rows


def markdown(rows, modes):
    head = ["problem", "hand-written", *[f"pyautodiff {m}" for m in modes], "bare PyTensor (C)",
            *[f"first call {m}" for m in modes]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["problem"], f"{r['hand_us']:.1f} us"]
        cells += [f"{r[f'ad_us[{m}]']:.1f} us ({r[f'ratio_to_hand[{m}]']:.2f}x)" for m in modes]
        cells += [f"{r['bare_pytensor_c_us']:.1f} us ({r['bare_ratio_to_hand']:.2f}x)"]
        cells += [f"{r[f'first_call_s[{m}]']:.2f} s" for m in modes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--modes", default="numpy,c")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    problems, modes = a.problems.split(","), a.modes.split(",")
    rows = run(problems, modes)
    import pytensor

    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}, numpy {np.__version__}, pytensor {pytensor.__version__}, "
               f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"Machine: {machine}\n")
    print(markdown(rows, modes))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"machine": machine, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
