"""The opcodes of ``match`` statements (structural pattern matching, PEP 634).

Literal and value patterns compile to ordinary comparisons, which the
interpreter already traces (a traced subject compared with a constant is a
guarded branch).  What is left are the four type-directed tests below.  Type
checks look at the concrete value beneath a traced one: its type is fixed by
the trace's cache key, so they need no guard.
"""
from __future__ import annotations

import collections.abc

from ..traced import unwrap

# Types whose single positional sub-pattern matches the subject itself (`case float(v)`).
_SELF_MATCHING = (bool, bytearray, bytes, dict, float, frozenset, int, list, set, str, tuple)


def _is_sequence(value) -> bool:
    # CPython tests a type flag, which the abc registrations mirror; strings are not sequences here
    return isinstance(value, collections.abc.Sequence) and not isinstance(value, (str, bytes, bytearray))


class MatchOps:
    """Mixed into the Interpreter: one method per opcode, as the others."""

    def op_MATCH_SEQUENCE(self, f, ins):
        f.stack.append(_is_sequence(unwrap(f.stack[-1])))

    def op_MATCH_MAPPING(self, f, ins):
        f.stack.append(isinstance(unwrap(f.stack[-1]), collections.abc.Mapping))

    def op_MATCH_KEYS(self, f, ins):
        keys, subject = f.stack[-1], f.stack[-2]
        missing = object()
        values = tuple(subject.get(k, missing) for k in keys)
        f.stack.append(None if any(v is missing for v in values) else values)

    def op_MATCH_CLASS(self, f, ins):
        names = f.stack.pop()
        cls = f.stack.pop()
        subject = f.stack.pop()
        if not isinstance(cls, type):
            raise TypeError("called match pattern must be a class")
        if not isinstance(unwrap(subject), cls):
            f.stack.append(None)
            return
        positional = ins.arg
        match_args = getattr(cls, "__match_args__", None)
        if match_args is None:  # builtins (and their subclasses) match themselves: `case float(v)`
            match_self = issubclass(cls, _SELF_MATCHING)
            allowed, match_args = int(match_self), ()
        elif not isinstance(match_args, tuple):
            raise TypeError(f"{cls.__name__}.__match_args__ must be a tuple (got {type(match_args).__name__})")
        else:
            match_self, allowed = False, len(match_args)
        if positional > allowed:
            raise TypeError(f"{cls.__name__}() accepts {allowed} positional sub-pattern"
                            f"{'' if allowed == 1 else 's'} ({positional} given)")
        attrs = [subject] if match_self and positional else \
            self._match_attributes(f, subject, match_args[:positional])
        if attrs is None:
            f.stack.append(None)
            return
        rest = self._match_attributes(f, subject, list(names))
        f.stack.append(None if rest is None else (*attrs, *rest))

    def _match_attributes(self, f, subject, names):
        """The attributes ``names`` of ``subject`` (read as LOAD_ATTR would), or
        None if one is missing: the pattern does not match."""
        values = []
        for name in names:
            try:
                values.append(self._read_attr(f, subject, name))
            except AttributeError:
                return None
        return values
