"""Assembly: the whole generated module (header, imports, helpers, function).

Example::

    source, namespace = fgraph_to_source(fgraph, name="f")
    f = exec_source(source, namespace, "f")      # f.source is the text
"""
from __future__ import annotations

import keyword
from collections.abc import Sequence

from .expressions import IDENT
from .generator import RESERVED_NAMES, CodeGen, sanitize
from .registry import ensure_rules


def _input_names(fgraph, input_names) -> list[str]:
    if input_names is not None:
        names = list(input_names)
        if len(names) != len(fgraph.inputs):
            raise ValueError("input_names must have one name per graph input")
        for n in names:
            if not IDENT.match(n) or keyword.iskeyword(n):
                raise ValueError(f"invalid input name {n!r}")
        if len(set(names)) != len(names):
            raise ValueError("input names must be unique")
        return names
    bases = []
    for i, var in enumerate(fgraph.inputs):
        base = sanitize(var.name) or f"x{i}"
        bases.append(f"{base}_" if base in RESERVED_NAMES else base)
    return unique_names(bases)


def unique_names(names, taken=()):
    """``names`` made distinct (and distinct from ``taken``) by numbered suffixes."""
    seen = set(taken)
    out = []
    for n in names:
        base, k = n, 1
        while n in seen:
            n = f"{base}_{k}"
            k += 1
        seen.add(n)
        out.append(n)
    return out


def fgraph_to_source(fgraph, name: str = "f", input_names: Sequence[str] | None = None,
                     header: str = "", fallback: str = "error",
                     fresh_outputs: bool = False, readable: bool = False) -> tuple[str, dict]:
    """Python source of ``def name(<inputs>)`` computing all outputs of the
    (already rewritten) ``fgraph`` and returning them as a tuple.

    Returns ``(source, namespace)``: the globals the source needs (``np``,
    large constants, and with ``fallback="perform"`` the objects computing
    untranslatable nodes through PyTensor's Python implementation).  With
    ``fallback="error"`` such a node raises `NoNumpyForm`.  ``fresh_outputs``
    copies results that could alias an argument, a constant or each other
    (derivatives must not hand out a caller's array).  The result is
    deterministic: the same graph gives the same text.  ``readable`` (``export_source``)
    writes numpy's own call where the numpy tier would call a speed-only helper.
    """
    ensure_rules()
    names = _input_names(fgraph, input_names)
    gen = CodeGen(fallback)
    gen.readable = readable
    gen.globals_taken.add(name)
    main = gen.function_source(fgraph, name, names, fresh_outputs=fresh_outputs)
    if name in gen.helpers or name in gen.namespace:  # e.g. a user's function named "solve"
        return fgraph_to_source(fgraph, name + "_", input_names, header, fallback, fresh_outputs, readable)
    parts = []
    if header:
        parts.append("\n".join(ln if ln.startswith("#") else f"# {ln}".rstrip()
                               for ln in header.splitlines()))
    imports = ["import numpy as np"]
    for mod, why in sorted(gen.imports.items()):
        imports.append(f"import {mod}" + (f"  # {why}: no numpy equivalent" if why else ""))
    parts.append("\n".join(imports))
    parts.extend(gen.helpers.values())
    parts.append(main)
    source = "\n\n\n".join(parts) + "\n"
    gen.namespace["__generated_name__"] = name  # the name actually defined (see the rename above)
    return source, gen.namespace


def compile_fgraph(fgraph, name: str = "f", fallback: str = "perform",
                   input_names: Sequence[str] | None = None, header: str = "",
                   fresh_outputs: bool = False):
    """``fgraph_to_source`` + ``exec``: the generated function, with the text
    on ``fn.source``."""
    source, namespace = fgraph_to_source(fgraph, name=name, input_names=input_names,
                                         header=header, fallback=fallback, fresh_outputs=fresh_outputs)
    return exec_source(source, namespace, name)


def exec_source(source: str, namespace: dict, name: str = "f"):
    """The function ``fgraph_to_source`` wrote (``namespace`` is executed into)."""
    code = compile(source, f"<numpy_codegen {name}>", "exec")
    exec(code, namespace)
    fn = namespace[namespace.get("__generated_name__", name)]
    fn.source = source
    return fn
