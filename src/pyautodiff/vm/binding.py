"""Binding a call's arguments to a function's parameters, as CPython does on a call."""
from __future__ import annotations

_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08


def bind_arguments(func, args, kwargs) -> dict:
    """Bind call arguments to parameter names as CPython does (from the code object),
    with CPython's TypeError messages for a wrong call.

    Example::

        >>> bind_arguments(lambda a, b=2, *c: None, (1,), {})
        {'a': 1, 'c': (), 'b': 2}
    """
    code = func.__code__
    names = code.co_varnames
    npos, nposonly, nkw = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    qual = func.__qualname__
    bound = {}
    for name, value in zip(names[:npos], args):
        bound[name] = value
    extra = args[npos:]
    i = npos + nkw
    if code.co_flags & _CO_VARARGS:
        bound[names[i]] = tuple(extra)
        i += 1
    elif extra:
        raise TypeError(f"{qual}() takes {npos} positional argument{'s' if npos != 1 else ''} "
                        f"but {len(args)} were given")
    varkw = {} if code.co_flags & _CO_VARKEYWORDS else None
    if varkw is not None:
        bound[names[i]] = varkw
    allowed = set(names[nposonly:npos + nkw])
    for k, v in kwargs.items():
        if k in allowed:
            if k in bound:
                raise TypeError(f"{qual}() got multiple values for argument '{k}'")
            bound[k] = v
        elif varkw is not None:
            varkw[k] = v
        else:
            raise TypeError(f"{qual}() got an unexpected keyword argument '{k}'")
    defaults = func.__defaults__ or ()
    first_default = npos - len(defaults)
    missing = []
    for j, name in enumerate(names[:npos]):
        if name not in bound:
            if j >= first_default:
                bound[name] = defaults[j - first_default]
            else:
                missing.append(name)
    kwdefaults = func.__kwdefaults__ or {}
    for name in names[npos:npos + nkw]:
        if name not in bound:
            if name in kwdefaults:
                bound[name] = kwdefaults[name]
            else:
                missing.append(name)
    if missing:
        raise TypeError(f"{qual}() missing {len(missing)} required argument{'s' if len(missing) > 1 else ''}: "
                        + ", ".join(f"'{m}'" for m in missing))
    return bound
