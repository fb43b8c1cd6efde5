"""Running graph work that recurses once per dependent step, on graphs of any depth.

PyTensor's ``grad`` recurses once per dependent step of the graph (and some
rewrites and traversals do too), so a loop of a few thousand dependent steps
unrolled into the graph passes Python's recursion limit (1000 by default).
``call_deep(fn, *args)`` runs ``fn`` as usual; only if that raises
``RecursionError`` does it run ``fn`` again, from the start, in a worker thread
with a large stack (``STACK_BYTES``, reserved, touched only as deep as the
recursion goes) under a recursion limit of ``RECURSION_LIMIT``, while the caller
waits.  Shallow graphs, nearly every graph, pay nothing.  ``fn`` must be
repeatable: building a gradient or rewriting a cloned graph is.

Every caller holds ``concurrency.BUILD_LOCK``; the worker, for which it waits, builds
under that lock without taking it (``in_worker``), or the two would wait for each
other.  The recursion limit is one setting of the whole interpreter: it is raised
while a deep call runs and restored when the last one ends.  The worker
runs in a copy of the caller's context variables and under the caller's
progress report (``progress``), so that phases keep being timed.

Example::

    from pytensor.gradient import grad
    from pyautodiff.backend.deep import call_deep

    g = call_deep(grad, cost, wrt)   # a cost over 10^5 dependent steps: fine
"""
from __future__ import annotations

import contextvars
import sys
import threading

from .. import progress

__all__ = ["call_deep", "graph_depth", "in_worker", "RECURSION_LIMIT", "STACK_BYTES"]

STACK_BYTES = 1 << 30  # virtual: the pages are committed only as deep as the recursion goes
RECURSION_LIMIT = 1_000_000

# Python frames PyTensor's grad uses per level of graph depth: measured 1-1.5 (a loop of
# 300 two-node steps fits the default limit of 1000, one of 500 does not); with margin.
_FRAMES_PER_LEVEL = 4

_LOCK = threading.Lock()
_STATE = threading.local()  # .inside: a call_deep runs in this thread; .worker: this is a deep worker
_raised = [0, None]  # deep calls running, the limit to restore


def call_deep(fn, *args, depth=None, **kwargs):
    """``fn(*args, **kwargs)``, retried with a deep stack if it passes the recursion limit.

    ``depth``: the depth of the graph ``fn`` works on, if known (``graph_depth``): one
    deeper than a quarter of the recursion limit goes to the deep worker at once, so that
    the failing first attempt is not paid for.  Inside another ``call_deep`` it just
    calls ``fn``: the outermost one retries the whole, so that work after the deep part
    is not done twice.  Raises the ``RecursionError`` of the deep run if even that is not
    deep enough."""
    if getattr(_STATE, "inside", False):
        return fn(*args, **kwargs)
    if depth is not None and depth * _FRAMES_PER_LEVEL > sys.getrecursionlimit():
        return _in_deep_thread(fn, args, kwargs)
    _STATE.inside = True
    try:
        return fn(*args, **kwargs)
    except RecursionError:
        pass
    finally:
        _STATE.inside = False
    return _in_deep_thread(fn, args, kwargs)


def graph_depth(outputs) -> int:
    """The number of Apply nodes on the longest path into ``outputs`` (without recursion).

    Example::

        graph_depth([pt.exp(pt.sin(x))])   # 2
    """
    depth: dict = {}
    stack = [o.owner for o in outputs if o.owner is not None]
    while stack:
        node = stack[-1]
        if node in depth:
            stack.pop()
            continue
        pending = [i.owner for i in node.inputs if i.owner is not None and i.owner not in depth]
        if pending:
            stack.extend(pending)
            continue
        depth[node] = 1 + max((depth[i.owner] for i in node.inputs if i.owner is not None), default=0)
        stack.pop()
    return max(depth.values(), default=0)


def in_worker() -> bool:
    """Whether this thread is a deep worker.  Its caller waits for it, holding what it
    held (``concurrency.BUILD_LOCK`` in every use here): the worker must not wait for
    those locks itself."""
    return getattr(_STATE, "worker", False)


def _in_deep_thread(fn, args, kwargs):
    result: dict = {}
    context = contextvars.copy_context()
    report = progress.current()

    def work():
        _STATE.inside = _STATE.worker = True
        try:
            with progress.adopt(report):
                result["value"] = context.run(fn, *args, **kwargs)
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    _raise_limit()
    try:
        with _LOCK:  # stack_size is a process-wide setting for threads started after it
            old = threading.stack_size(STACK_BYTES)
            try:
                worker = threading.Thread(target=work, name="pyautodiff-deep", daemon=True)
                worker.start()
            finally:
                threading.stack_size(old)
        worker.join()
    finally:
        _restore_limit()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _raise_limit():
    with _LOCK:
        if _raised[0] == 0:
            _raised[1] = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_raised[1], RECURSION_LIMIT))
        _raised[0] += 1


def _restore_limit():
    with _LOCK:
        _raised[0] -= 1
        if _raised[0] == 0:
            sys.setrecursionlimit(_raised[1])
