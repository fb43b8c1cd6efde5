"""Rule for pyautodiff's own ``DFT`` op (``lowering/fft.py``): one numpy FFT call.

Example: ``DFT{axis=0, inverse=False}(re, im)`` becomes
``t0, t1 = _dft(re, im, 0, False)`` with the helper below in the source.
"""
from __future__ import annotations

from .linalg_rules import _linalg_call
from .registry import op_rule

_DFT_HELPER = '''def _dft(re, im, axis, inverse):
    c = (np.fft.ifft if inverse else np.fft.fft)(re + 1j * im, axis=axis)
    return c.real.copy(), c.imag.copy()'''


@op_rule("pyautodiff.lowering.fft.DFT")
def _rule_dft(g, node):
    helper = g.helper("_dft", _DFT_HELPER)
    return _linalg_call(g, node, f"{helper}({{0}}, {{1}}, {node.op.axis}, {node.op.inverse})")
