"""``VMGenerator``: a generator whose frame the interpreter runs (generator
expressions, functions with ``yield``).

Each generator has its own exception state (CPython's ``gi_exc_state``): while
it runs, its state is on top of the interpreter's stack of states, so an
``except`` block it is suspended in is invisible to its caller.
"""
from __future__ import annotations

from .frame import ExcState


class VMGenerator:
    """The generator object of an emulated generator function.

    Example::

        gen = VMGenerator(interp, frame)   # frame stopped at RETURN_GENERATOR
        next(gen)                          # runs the frame to its first yield
    """

    def __init__(self, interp, frame):
        self._interp, self._frame, self._done = interp, frame, False
        self._exc_state = ExcState()
        self.__name__ = frame.code.co_name

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)

    def send(self, value):
        if self._done:
            raise StopIteration
        self._frame.stack.append(value)
        states = self._interp.exc_states
        states.append(self._exc_state)
        try:
            signal = self._interp.execute(self._frame)
        except BaseException:
            self._done = True
            raise
        finally:
            states.pop()
        if signal.kind == "yield":
            return signal.value
        self._done = True
        raise StopIteration(signal.value)

    def close(self):
        self._done = True
