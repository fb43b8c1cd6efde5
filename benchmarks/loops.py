"""Loops: the first call and the steady-state call of a gradient, as the trip count grows.

The issue's four loops (``x = x + 0.01*sin(x)*w[i % 16]``, explicit Euler
Lotka-Volterra on scalars, an RNN ``h = tanh(W @ h + x[t])``, a fill
``out[i] = tanh(a*x[i] + b)``) plus two nested loops (a fixed inner loop of 3 steps,
unrolled inside the rolled outer body; a double loop over all m*m pairs, N = m*m, whose
inner loop rolls inside the rolled outer body) and a ``while`` loop with a data-dependent
trip count (rolled: the trip count is decided at trace time and checked on every call).
Prints, per loop and N: pyautodiff's first call (trace + compile + run, on an empty code
cache) and steady-state call on the numpy tier (``mode="numpy"``: full rewrites at once),
the default mode's first call (a graph holding a loop: light rewrites first), the steady-state call of the default
mode once its tier decision is taken (a rolled loop's graph is upgraded to Numba in the
background after 0.25 s of numpy-tier time; the benchmark calls until then and waits for
the compile), autograd's call
and ``jax.lax.scan``'s first/steady call when those are installed, and the
log-log growth exponent of pyautodiff's times between the smallest and the
largest N >= 100.  Peak memory (``tracemalloc``, in a separate pass so it does not slow
the timed calls): pyautodiff's first call on an empty code cache and its steady call
(numpy tier), and one autograd call; numpy reports its buffers to ``tracemalloc``, XLA's
allocator does not, so JAX has no memory column.

Beside pyautodiff (when the ``bench`` extra is installed): autograd (it traces on
every call, so its first call is its steady call plus imports of the first use),
``jax.jit`` of the same loop unrolled (``jax.jit(jax.grad(f))`` of the numpy code with
``jax.numpy``; compiling it grows with N, so it runs up to ``--jax-unrolled-max-n``), and
``jax.lax.scan`` written by hand.  The last columns are ratios of pyautodiff to them:
per call / autograd's call, per call / lax.scan's call (numpy tier, then default mode),
first call / lax.scan's first call (numpy tier, then default mode).

Times are CPU time of this process (``time.process_time``): on a machine shared with
other work, wall-clock time of a long call is inflated by every other process's time
slices, a short call's is not, which would fake a superlinear growth.

The default mode and ``lax.scan`` are each measured in a fresh process of their own at
every N (``--same-process`` measures them here): their first calls compare the first
compile of a graph of its kind, with each library's one-time work of a process (lazy
imports, registries built on first use) in both.  Measured in this process, the default
mode's first call came after the numpy tier had compiled the same graph, and ``lax.scan``'s
paid JAX's one-time work only at the first N.

Run (2 cores shared with other work: ratios within one run are what count)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/loops.py [--max-n 10000] [--big] [--loops accumulate,rnn] [--ns 100,1000]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import tracemalloc

import numpy as np


def accumulate(xp):
    def f(x, w, n):
        for i in range(n):
            x = x + 0.01 * xp.sin(x) * w[i % 16]
        return x.sum()
    return f


def lotka_volterra(xp):
    def f(theta, n):
        a, b, c, d = theta[0], theta[1], theta[2], theta[3]
        x, y = 1.0, 0.5
        dt = 10.0 / n
        for i in range(n):
            dx = a * x - b * x * y
            dy = c * x * y - d * y
            x = x + dt * dx
            y = y + dt * dy
        return x + y
    return f


def rnn(xp):
    def f(W, x, h):
        for t in range(x.shape[0]):
            h = xp.tanh(W @ h + x[t])
        return h.sum()
    return f


def fill(xp):
    def f(a, x):
        out = np.zeros(x.shape[0]) if xp is np else None
        if out is None:  # autograd/jax cannot write in place: the same values, stacked
            return xp.sum(xp.stack([xp.tanh(a * x[i] + 0.1) for i in range(x.shape[0])]))
        for i in range(x.shape[0]):
            out[i] = np.tanh(a * x[i] + 0.1)
        return out.sum()
    return f


def nested(xp):
    def f(x, n):
        s = 0.0
        for i in range(n):
            for j in range(3):
                s = s + xp.sin(x[i] * (j + 1))
        return s
    return f


def double_loop(xp):
    """A double loop over all pairs, N = m * m steps in all: the inner loop rolls inside
    the rolled outer body (m >= 22; smaller loops unroll)."""
    def f(x):
        m = x.shape[0]
        s = 0.0
        for i in range(m):
            for j in range(m):
                s = s + xp.sin(x[i] * x[j])
        return s
    return f


def while_loop(xp):
    def f(x, n):
        k = 0
        while k < n and x.sum() < 1e6:  # a data-dependent trip count
            x = x * 1.01 + 0.001
            k += 1
        return x.sum()
    return f


def _args(name, n, rng):
    return {
        "accumulate": lambda: (rng.normal(size=8), rng.normal(size=16), n),
        "lotka_volterra": lambda: (np.array([1.0, 0.5, 0.3, 0.4]), n),
        "rnn": lambda: (rng.normal(size=(16, 16)) * 0.25, rng.normal(size=(n, 16)), np.zeros(16)),
        "fill": lambda: (0.7, rng.normal(size=n)),
        "nested": lambda: (rng.normal(size=n), n),
        "double_loop": lambda: (rng.normal(size=max(int(round(n ** 0.5)), 2)),),
        "while_loop": lambda: (rng.normal(size=4), n),
    }[name]()


LOOPS = {"accumulate": accumulate, "lotka_volterra": lotka_volterra, "rnn": rnn, "fill": fill,
         "nested": nested, "double_loop": double_loop, "while_loop": while_loop}
UNROLLED_MAX_N = 100  # loops that do not roll: larger N takes minutes (the issue measured it)
_ROLLS_LATER = {"double_loop"}  # small m unrolls (few steps), larger m rolls


def _time(fn, repeat=5):
    runs = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        runs.append(time.process_time() - t0)
    return statistics.median(runs)


def bench_pyautodiff(make, args):
    """The numpy tier (``mode="numpy"``): (first call, steady call, loops rolled)."""
    import pyautodiff as ad

    g = ad.grad(make(np), mode="numpy")
    t0 = time.process_time()
    g(*args)
    first = time.process_time() - t0
    steady = _time(lambda: g(*args), repeat=3 if first > 5 else 5)
    return first, steady, g.stats.loops_rolled


def _peak_mib(fn):
    """Peak of memory allocated while ``fn()`` runs, above what was allocated before (MiB)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        tracemalloc.stop()


def bench_memory(make, args, autograd_too):
    """Peak MiB: (our first call on an empty code cache, our steady call, an autograd call)."""
    import pyautodiff as ad

    os.environ["PYAUTODIFF_CODE_CACHE"] = tempfile.mkdtemp(prefix="pyad-bench-")
    g = ad.grad(make(np), mode="numpy")
    first = _peak_mib(lambda: g(*args))
    call = _peak_mib(lambda: g(*args))
    ag = None
    if autograd_too:
        try:
            import autograd
            import autograd.numpy as anp
        except ImportError:
            pass
        else:
            ga = autograd.grad(make(anp))
            ag = _peak_mib(lambda: ga(*args))
    return first, call, ag


def bench_default(make, args, max_seconds=30.0):
    """The default mode (tiered): calls until the tier decision is taken (at most
    ``max_seconds`` of wall time: a loop upgrades after ``LOOP_UPGRADE_AFTER_SECONDS`` of
    compute, 3 600 calls of a 70 us double loop; a cap of 2 000 calls measured such a loop
    before its decision) and its background compile has finished, then the steady call of
    what is installed.

    Returns (first call's CPU seconds, steady call, wall seconds from the first call to
    the decision, outcome).  The default mode serves the first calls of a graph holding a
    loop with light rewrites and swaps the fully rewritten numpy code in from a background
    thread started when the first call returns (``compile.LIGHT_LOOPS``)."""
    import pyautodiff as ad

    # an empty code cache of its own: the numpy tier's run stored this graph's code
    os.environ["PYAUTODIFF_CODE_CACHE"] = tempfile.mkdtemp(prefix="pyad-bench-")
    g = ad.grad(make(np))
    w0, c0 = time.perf_counter(), time.process_time()
    g(*args)
    first = time.process_time() - c0
    tiering = g._last_spec.tiering
    while tiering.thread is None and tiering.outcome == "measuring" and \
            time.perf_counter() - w0 < max_seconds:
        g(*args)
    outcome = tiering.wait(timeout=600)
    ready = time.perf_counter() - w0
    return first, _time(lambda: g(*args)), ready, outcome


def _child(queue, fn, name, args):
    try:
        queue.put(("ok", fn(name, args)))
    except BaseException as exc:  # the parent raises it: a failed measurement is no number
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def in_fresh_process(fn, name, args):
    """``fn(name, args)`` run in a new Python process (spawned: imports, nothing compiled)."""
    import multiprocessing
    import queue as queues

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_child, args=(results, fn, name, args))
    child.start()
    while True:  # read before join: a large result would block the child's exit
        try:
            status, result = results.get(timeout=1.0)
            break
        except queues.Empty:
            if not child.is_alive():
                raise RuntimeError(f"{fn.__name__}({name}) in a fresh process died: exit code {child.exitcode}")
    child.join()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__}({name}) in a fresh process: {result}")
    return result


def bench_default_of(name, args):
    return bench_default(LOOPS[name], args)


def bench_autograd(make, args):
    """autograd.grad: (first call, steady call); it re-traces on every call."""
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None
    g = autograd.grad(make(anp))
    t0 = time.process_time()
    g(*args)
    first = time.process_time() - t0
    return first, _time(lambda: g(*args), repeat=1 if first > 1 else 3)


def _jax():
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)  # float64, like numpy and pyautodiff
    jax.devices()  # the CPU backend's start, like our imports: not part of a first call
    return jax


# Arguments that are Python ints (trip counts) are static under jax.jit; the while loop's
# condition is a traced value, which jax.jit cannot branch on in Python: no unrolled column.
_JAX_STATIC = {"accumulate": (2,), "lotka_volterra": (1,), "rnn": (), "fill": (), "nested": (1,),
               "double_loop": ()}


def _jax_unrolled_child(name, args, queue):
    queue.put(_jax_unrolled(name, LOOPS[name], args))


def bench_jax_unrolled(name, args, timeout):
    """jax.jit of the unrolled loop, in a child process given ``timeout`` seconds.

    XLA's compile time of an unrolled loop grows fast with N (the Lotka-Volterra scalar
    chain did not compile within minutes at N=100), and a compile cannot be interrupted
    from Python: the child is killed instead, and the result is ``("timeout", timeout)``.
    """
    if name not in _JAX_STATIC or _jax() is None:
        return None
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_jax_unrolled_child, args=(name, args, queue))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return "timeout", timeout
    return queue.get() if not queue.empty() else None


def _jax_unrolled(name, make, args):
    """jax.jit(jax.grad(f)) of the loop written with jax.numpy, unrolled by the trace."""
    jax = _jax()
    if jax is None or name not in _JAX_STATIC:
        return None
    import jax.numpy as jnp

    g = jax.jit(jax.grad(make(jnp)), static_argnums=_JAX_STATIC[name])
    t0 = time.process_time()
    jax.block_until_ready(g(*args))
    first = time.process_time() - t0
    return first, _time(lambda: jax.block_until_ready(g(*args)))


def bench_jax_scan(name, args):
    """jax.lax.scan written by hand for the loops it fits (first call, steady call)."""
    jax = _jax()
    if jax is None:
        return None
    import jax.numpy as jnp

    if name == "accumulate":
        def f(x, w, n):
            def step(x, i):
                return x + 0.01 * jnp.sin(x) * w[i % 16], None
            return jax.lax.scan(step, x, jnp.arange(n))[0].sum()
        g = jax.jit(jax.grad(f), static_argnums=2)
    elif name == "rnn":
        def f(W, x, h):
            return jax.lax.scan(lambda h, xt: (jnp.tanh(W @ h + xt), None), h, x)[0].sum()
        g = jax.jit(jax.grad(f))
    elif name == "fill":
        def f(a, x):
            return jax.lax.map(lambda xi: jnp.tanh(a * xi + 0.1), x).sum()
        g = jax.jit(jax.grad(f))
    elif name == "lotka_volterra":
        def f(theta, n):
            a, b, c, d = theta
            dt = 10.0 / n

            def step(s, _):
                x, y = s
                return (x + dt * (a * x - b * x * y), y + dt * (c * x * y - d * y)), None
            x, y = jax.lax.scan(step, (1.0, 0.5), None, length=n)[0]
            return x + y
        g = jax.jit(jax.grad(f), static_argnums=1)
    elif name == "double_loop":
        def f(x):
            def outer(s, xi):
                return jax.lax.scan(lambda s, xj: (s + jnp.sin(xi * xj), None), s, x)[0], None
            return jax.lax.scan(outer, 0.0, x)[0]
        g = jax.jit(jax.grad(f))
    else:
        return None
    t0 = time.process_time()
    jax.block_until_ready(g(*args))
    first = time.process_time() - t0
    return first, _time(lambda: jax.block_until_ready(g(*args)))


def _exponent(ns, ts):
    pts = [(n, t) for n, t in zip(ns, ts) if n >= 100 and t > 0]
    if len(pts) < 2:
        return float("nan")
    (n0, t0), (n1, t1) = pts[0], pts[-1]
    return math.log(t1 / t0) / math.log(n1 / n0)


def _ms(pair, k):
    return "-" if pair is None or pair[0] == "timeout" else f"{pair[k] * 1e3:.2f}"


def _s(pair, k):
    if pair is not None and pair[0] == "timeout":
        return f">{pair[1]:.0f} wall" if k == 0 else "-"
    return "-" if pair is None else f"{pair[k]:.2f}"


def _ratio(a, b):
    return "-" if b is None or b <= 0 else f"{a / b:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=int, default=10_000)
    ap.add_argument("--big", action="store_true", help="also N=100,000 for the first three loops")
    ap.add_argument("--loops", default=",".join(LOOPS))
    ap.add_argument("--jax-unrolled-max-n", type=int, default=1_000,
                    help="largest N for jax.jit of the unrolled loop (its compile time grows with N)")
    ap.add_argument("--jax-timeout", type=float, default=60.0,
                    help="seconds (wall) for jax.jit of the unrolled loop, first call and steady calls")
    ap.add_argument("--autograd-max-n", type=int, default=10_000)
    ap.add_argument("--ns", default="10,100,1000,10000", help="trip counts, comma-separated (up to --max-n)")
    ap.add_argument("--same-process", action="store_true",
                    help="measure the default mode and lax.scan in this process, not each in a fresh one")
    opts = ap.parse_args()
    os.environ.setdefault("PYAUTODIFF_CODE_CACHE", tempfile.mkdtemp(prefix="pyad-bench-"))  # empty cache
    os.environ.setdefault("PYAUTODIFF_TIERED", "1")  # the default mode's column: tiering on
    rng = np.random.default_rng(0)
    print("CPU seconds of this process (first call) and CPU ms per call (steady state); "
          "'ours' is the numpy tier, 'default' the default mode once its tier is decided "
          "('ready s': wall seconds from its first call until then)")
    print(f"{'loop':15s} {'N':>6s} {'rolled':>6s} {'ours 1st s':>10s} {'ours ms':>9s} "
          f"{'default 1st s':>13s} {'default ms':>10s} {'ready s':>7s} {'tier':>10s} "
          f"{'autograd ms':>11s} {'jit-unrolled 1st s':>18s} {'jit-unrolled ms':>15s} "
          f"{'scan 1st s':>10s} {'scan ms':>8s} "
          f"{'ours/autograd':>13s} {'ours/scan':>9s} {'default/scan':>12s} {'1st ours/scan':>13s} "
          f"{'1st default/scan':>16s} {'MiB ours 1st':>12s} {'MiB ours call':>13s} {'MiB autograd':>12s}")
    for name in opts.loops.split(","):
        make = LOOPS[name]
        ns = [n for n in map(int, opts.ns.split(",")) if n <= opts.max_n]
        if opts.big and name in ("accumulate", "lotka_volterra", "rnn"):
            ns.append(100_000)
        firsts, steadies, done, mems = [], [], [], []
        jax_gave_up = False  # a timeout at some N: larger N would time out too
        for n in ns:
            args = _args(name, n, rng)
            first, steady, rolled = bench_pyautodiff(make, args)
            if not rolled and n > UNROLLED_MAX_N and name not in _ROLLS_LATER:
                break
            fresh = (lambda fn: fn(name, args)) if opts.same_process else \
                (lambda fn: in_fresh_process(fn, name, args))
            default_first, default, ready, outcome = (fresh(bench_default_of) if rolled
                                                      else (first, steady, 0.0, "numpy"))
            tier = outcome.split(" ")[0] if outcome.startswith("numba") else "numpy"
            ag = bench_autograd(make, args) if n <= opts.autograd_max_n else None
            ju = (bench_jax_unrolled(name, args, opts.jax_timeout)
                  if n <= opts.jax_unrolled_max_n and not jax_gave_up else None)
            jax_gave_up = jax_gave_up or (ju is not None and ju[0] == "timeout")
            js = fresh(bench_jax_scan)
            mem_first, mem_call, mem_ag = bench_memory(make, args, n <= opts.autograd_max_n)
            mems.append(mem_call)
            firsts.append(first)
            steadies.append(steady)
            done.append(n)
            print(f"{name:15s} {n:6d} {rolled:6d} {first:10.2f} {steady * 1e3:9.2f} "
                  f"{default_first:13.2f} {default * 1e3:10.2f} {ready:7.1f} {tier:>10s} "
                  f"{_ms(ag, 1):>11s} {_s(ju, 0):>18s} {_ms(ju, 1):>15s} {_s(js, 0):>10s} {_ms(js, 1):>8s} "
                  f"{_ratio(steady, ag and ag[1]):>13s} {_ratio(steady, js and js[1]):>9s} "
                  f"{_ratio(default, js and js[1]):>12s} "
                  f"{_ratio(first, js and js[0]):>13s} {_ratio(default_first, js and js[0]):>16s} "
                  f"{mem_first:12.1f} {mem_call:13.2f} {'-' if mem_ag is None else f'{mem_ag:.2f}':>12s}", flush=True)
            if not rolled and n >= UNROLLED_MAX_N and name not in _ROLLS_LATER:
                break
        print(f"{name:15s} growth exponent (N={done[0] if done else '-'}..{done[-1] if done else '-'}, N>=100): "
              f"first call {_exponent(done, firsts):.2f}, steady state {_exponent(done, steadies):.2f}, "
              f"memory of a steady call {_exponent(done, mems):.2f}")


if __name__ == "__main__":
    main()
