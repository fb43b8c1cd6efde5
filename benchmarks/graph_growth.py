"""First-call time against graph size: is compiling linear in the number of nodes?

The default mode serves a graph of more than ``LIGHT_ABOVE_NODES`` nodes with
light rewrites at once and rewrites it fully in a background thread; that
thread is waited for after each first call and its time printed apart
(``PYAUTODIFF_TIERED=0`` measures the full rewrite inside the first call).

Usage (one BLAS thread, code cache off so every size is a true first call)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYAUTODIFF_CODE_CACHE=0 \\
        python benchmarks/graph_growth.py [--max-nodes 10000] [--budget 120] \\
        [--only irregular,fill,straight] [--profile irregular:200]

``--max-nodes 100000 --only straight`` goes up to the 10^5-node straight-line program
(about 10^5 nodes at n = 9000; several minutes on a loaded machine).  Graphs over
``tiered.FULL_REWRITE_MAX_NODES`` keep their light code (no background full rewrite);
``PYAUTODIFF_FULL_REWRITE_MAX=0`` makes every light graph keep it, which skips the wait
for the background rewrite (minutes at 10^4 nodes) without changing the first calls.

Three programs whose traced gradient graph grows with a size ``n``:

* ``irregular``: ``x = x + c[i] * sin(x)`` / ``cos`` / ``x * c[i]`` by ``i % 3``,
  a loop whose body differs per iteration (it cannot roll into a Scan);
* ``fill``: ``out[i] = tanh(a * x[i] + b)``, the fill loop (unrolled: the
  loop-rolling of other work is switched off where available, see ``_no_rolling``);
* ``straight``: a long generated straight-line program, no loop at all.

For each size: nodes of the traced gradient graph (before rewriting), the
first-call time (trace + differentiate + rewrite + generate code + run) and
its split into trace and compile, CPU time per node, and per program the
log-log growth exponent of CPU time fitted over the sizes measured (CPU time of
this process, so that other work on a loaded machine counts less).  A size is skipped once the
previous one took more than ``--budget`` seconds.  ``--profile prog:n`` runs
cProfile on one first call and prints the rewrites that took the most time.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import pyautodiff as ad  # noqa: E402


def irregular(n):
    def f(x, c):
        for i in range(n):
            if i % 3 == 0:
                x = x + c[i] * np.sin(x)
            elif i % 3 == 1:
                x = x + c[i] * np.cos(x)
            else:
                x = x * c[i]
        return np.sum(x)

    rng = np.random.default_rng(0)
    return ad.grad(f), (rng.normal(size=8), rng.uniform(0.1, 0.3, size=n))


def fill(n):
    def f(a, b, x):
        out = np.zeros(len(x))
        for i in range(len(x)):
            out[i] = np.tanh(a * x[i] + b)
        return np.sum(out ** 2)

    return ad.grad(f, wrt=(0, 1)), (0.7, -0.2, np.linspace(-1.0, 1.0, n))


def straight(n):
    """A generated program of ``n`` statements mixing the previous two values."""
    ops = ["np.sin({a}) * 0.9 + {b}", "{a} * {b} * 0.5", "np.exp(-{a} ** 2) + 0.1 * {b}",
           "np.tanh({a} - {b})", "np.log1p({a} ** 2) + {b} / 3.0"]
    lines = ["def f(x):", "    t0 = x", "    t1 = x * 0.5"]
    for i in range(2, n + 2):
        lines.append(f"    t{i} = " + ops[i % len(ops)].format(a=f"t{i - 1}", b=f"t{i - 2}"))
    lines.append(f"    return np.sum(t{n + 1})")
    namespace = {"np": np}
    exec(compile("\n".join(lines), f"<straight {n}>", "exec"), namespace)
    return ad.grad(namespace["f"]), (np.linspace(-0.5, 0.5, 8),)


PROGRAMS = {"irregular": irregular, "fill": fill, "straight": straight}
# loop sizes per program; their graphs span about 10^2 .. 10^5 nodes
SIZES = {"irregular": [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
         "fill": [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
         "straight": [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 9000]}  # 9000: ~10^5 nodes


def _no_rolling():
    """Keep loops unrolled where the tracer can roll them (a setting of later versions)."""
    os.environ.setdefault("PYAUTODIFF_ROLL_LOOPS", "0")


def first_call(make, n):
    g, args = make(n)
    t0, c0 = time.perf_counter(), time.process_time()
    g(*args)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    phases = dict(getattr(g.stats, "last_phase_seconds", None) or
                  {k[len("last_"):-len("_seconds")]: v for k, v in vars(g.stats).items()
                   if k.startswith("last_") and k.endswith("_seconds")})
    tiering = getattr(g._last_spec, "tiering", None)
    if tiering is not None and hasattr(tiering, "wait_rewrite"):  # a light first tier: the full one
        outcome = tiering.wait_rewrite()  # (not part of the first call, but it competes for the CPU)
        if outcome:
            phases["background"] = outcome
    nodes = g.n_nodes(*args, optimized=False)
    return nodes, total, cpu, phases


def exponent(points):
    """Least-squares slope of log(time) against log(nodes)."""
    if len(points) < 2:
        return float("nan")
    x = np.log([p[0] for p in points])
    y = np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def profile(name, n, top=25):
    g, args = PROGRAMS[name](n)
    pr = cProfile.Profile()
    pr.enable()
    g(*args)
    pr.disable()
    out = io.StringIO()
    st = pstats.Stats(pr, stream=out)
    st.sort_stats("cumulative").print_stats(r"rewriting|rewrite|canonic|blas|shape_feature|ShapeFeature|fg\.py",
                                            top)
    print(out.getvalue())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-nodes", type=int, default=10_000)
    ap.add_argument("--budget", type=float, default=120.0, help="stop growing a program past this many s")
    ap.add_argument("--only", default=",".join(PROGRAMS))
    ap.add_argument("--profile", default=None, help="prog:n, cProfile of one first call")
    a = ap.parse_args()
    _no_rolling()
    if a.profile:
        name, n = a.profile.split(":")
        profile(name, int(n))
        return
    print("machine: %d cores; code cache %s" % (os.cpu_count(), os.environ.get("PYAUTODIFF_CODE_CACHE", "on")))
    summary = []
    for name in a.only.split(","):
        points = []
        print(f"\n{name}: {'n':>6} {'nodes':>8} {'first call s':>13} {'cpu s':>8} {'cpu ms/node':>11}  phases (s)")
        for n in SIZES[name]:
            nodes, total, cpu, phases = first_call(PROGRAMS[name], n)
            points.append((nodes, cpu))
            ph = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}: {v}" for k, v in phases.items())
            print(f"{name}: {n:>6} {nodes:>8} {total:>13.3f} {cpu:>8.3f} {1e3 * cpu / nodes:>11.3f}  {ph}",
                  flush=True)
            if total > a.budget or nodes * 2 > a.max_nodes * 1.5:
                break
        big = [p for p in points if p[0] >= 300] or points
        summary.append((name, exponent(big), points[-1]))
    print("\nprogram     growth exponent of CPU time (nodes >= 300)   largest: nodes, CPU ms/node")
    for name, k, (nodes, total) in summary:
        print(f"{name:<11} {k:>6.2f}                           {nodes:>8} {1e3 * total / nodes:>8.3f}")


if __name__ == "__main__":
    # no thread of our own with a large stack: the library builds deep graphs on one itself
    main()
