"""``vm.code.decode`` skips re-parsing a code object for its exception table when it has
none: the handlers are the same as bytecode's reading of the table, empty or not."""
import bytecode
import pytest

from pyautodiff.vm.code import decode


def _plain(x):
    y = x * 2
    return y + 1


def _guarded(x):
    try:
        return 1 / x
    except ZeroDivisionError:
        return 0.0
    finally:
        x = None


def _with(x, lock):
    with lock:
        return x + 1


@pytest.mark.parametrize("f", [_plain, _guarded, _with, lambda v: [i for i in v]])
def test_handlers_match_the_exception_table(f):
    table = bytecode.ConcreteBytecode.from_code(f.__code__).exception_table
    handlers = decode(f.__code__).handlers
    assert len(handlers) == len(table)
    assert [h.depth for h in handlers] == [e.stack_depth for e in table]
    if f is _plain:
        assert handlers == ()
    if f is _guarded:
        assert handlers
