"""Independent references for tests: central finite differences."""
from __future__ import annotations

import numpy as np


def numeric_grad(f, x, eps=1e-6):
    """Central finite difference of scalar ``f`` at float array/scalar ``x``."""
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gf = g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        h = eps * max(1.0, abs(old))
        flat[i] = old + h
        fp = float(f(x.copy() if x.ndim else float(x)))
        flat[i] = old - h
        fm = float(f(x.copy() if x.ndim else float(x)))
        flat[i] = old
        gf[i] = (fp - fm) / (2 * h)
    return g


def assert_close(a, b, rtol=1e-7, atol=1e-9):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)


def numpy_tier_source(g, *args):
    """The numpy tier's generated source of transformation ``g`` for these arguments (what
    ``export_source`` writes, with the speed-only helpers it leaves out for readers)."""
    from pyautodiff.backend.compile import optimized_fgraph
    from pyautodiff.backend.numpy_codegen import fgraph_to_source

    spec = g.specialization_for(*args)
    fg = optimized_fgraph(spec.trace.all_inputs + spec.extra_inputs, spec.outputs)
    return fgraph_to_source(fg, fallback="perform")[0]
