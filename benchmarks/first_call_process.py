"""First call in a new process, cold and warm on-disk caches (issue #18: <= 0.3 s / 0.05 s).

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/first_call_process.py [--repeat 3]

Per problem of ``problems.py``: a fresh process imports pyautodiff (not timed), builds
the transformation and times its first call (trace, differentiate, rewrite, generate
code, run).  "cold": empty PyTensor compiledir and code cache (a private temporary
directory); "warm": a second process on the same directory, so the first call is served
by the trace cache (no tracing; ``PYAUTODIFF_TRACE_CACHE=0``: only the generated code
comes from the code cache).  The median over ``--repeat`` fresh directories is printed
(wall time; the machine may be loaded), with the CPU time of the first call beside it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from problems import problems  # noqa: E402

_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import numpy as np, pyautodiff as ad
from problems import problems
p = [q for q in problems() if q["key"] == {key!r}][0]
g = getattr(ad, p["kind"])(p["make"](np), wrt=p["wrt"])
args = p["args"] + ((p["direction"],) if "direction" in p else ())
t0, c0 = time.perf_counter(), time.process_time()
g(*args)
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def first_call(key, directory):
    """(wall s, CPU s) of the first call in a new process whose caches live in ``directory``."""
    env = dict(os.environ, PYTENSOR_FLAGS=f"compiledir={directory}",
               PYAUTODIFF_CODE_CACHE=os.path.join(directory, "pyautodiff-code"))
    script = _SCRIPT.format(root=os.path.join(HERE, "..", "src"), here=HERE, key=key)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900)
    try:
        wall, cpu = out.stdout.strip().splitlines()[-1].split()
        return float(wall), float(cpu)
    except (ValueError, IndexError):
        print(out.stderr[-2000:], file=sys.stderr)
        return float("nan"), float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    only = a.only.split(",") if a.only else None
    print(f"{'problem':<44} {'cold s':>8} {'(cpu)':>7} {'warm s':>8} {'(cpu)':>7}   targets 0.3 / 0.05 s")
    for p in problems():
        if only and p["key"] not in only:
            continue
        cold, warm = [], []
        for _ in range(a.repeat):
            with tempfile.TemporaryDirectory() as d:
                cold.append(first_call(p["key"], d))
                warm.append(first_call(p["key"], d))
        c = [statistics.median(x) for x in zip(*cold)]
        w = [statistics.median(x) for x in zip(*warm)]
        ok = "met" if c[0] <= 0.3 and w[0] <= 0.05 else "missed"
        print(f"{p['name']:<44} {c[0]:>8.3f} {c[1]:>7.3f} {w[0]:>8.3f} {w[1]:>7.3f}   {ok}", flush=True)


if __name__ == "__main__":
    main()
