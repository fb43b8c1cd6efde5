"""Rules for pyautodiff's own ops on (real, imaginary) pairs: ``DFT``
(``lowering/fft.py``) and ``EigPairs`` (``lowering/eig.py``), one numpy call each.

Example: ``DFT{axis=0, inverse=False}(re, im)`` becomes
``t0, t1 = _dft(re, im, 0, False)`` with the helper below in the source.
"""
from __future__ import annotations

from .linalg_rules import linalg_call
from .registry import op_rule

_DFT_HELPER = '''def _dft(re, im, axis, inverse):
    c = (np.fft.ifft if inverse else np.fft.fft)(re + 1j * im, axis=axis)
    return c.real.copy(), c.imag.copy()'''

_EIG_HELPER = '''def _eig_pairs(a):
    w, v = np.linalg.eig(a)
    u = np.linalg.inv(v)
    return (w.real.copy(), w.imag.copy(), v.real.copy(), v.imag.copy(), u.real.copy(), u.imag.copy(),
            np.asarray(not np.iscomplexobj(w)))'''


@op_rule("pyautodiff.lowering.fft.DFT")
def _rule_dft(g, node):
    helper = g.helper("_dft", _DFT_HELPER)
    return linalg_call(g, node, f"{helper}({{0}}, {{1}}, {node.op.axis}, {node.op.inverse})")


@op_rule("pyautodiff.lowering.eig.EigPairs")
def _rule_eig_pairs(g, node):
    helper = g.helper("_eig_pairs", _EIG_HELPER)
    return linalg_call(g, node, f"{helper}({{0}})")
