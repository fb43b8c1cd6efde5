"""Command line: ``pyautodiff demo | coverage | export`` (or ``python -m pyautodiff ...``).

Example::

    pyautodiff export model.py:nll --example model.py:EXAMPLE --wrt W,b -o nll_grad.py
    pyautodiff --version
"""
from __future__ import annotations

import argparse
import os
import re
import sys


def _coverage(args) -> int:
    from .coverage import markdown_table, update_readme

    if args.update_readme:
        changed = update_readme(args.update_readme)
        print(f"{args.update_readme}: {'updated' if changed else 'already up to date'}")
        return 0
    print(markdown_table())
    return 0


def _demo(args) -> int:
    from .demo import main

    return main()


def _load(spec: str):
    """``path/to/module.py:name`` -> the object."""
    import importlib.util

    path, _, attr = spec.rpartition(":")
    if not path or not attr:
        raise SystemExit(f"{_prog()}: error: expected path/to/module.py:name, got {spec!r}")
    if not os.path.isfile(path):
        raise SystemExit(f"{_prog()}: error: no such file: {path}")
    # one module per file (the function and the example may share it), keyed by its full path
    modname = "_pyautodiff_export_" + re.sub(r"\W", "_", os.path.abspath(path))
    if modname in sys.modules:
        module = sys.modules[modname]
    else:
        loader_spec = importlib.util.spec_from_file_location(modname, path)
        if loader_spec is None:
            raise SystemExit(f"cannot import {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[modname] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:  # the user's module failed: say where, in one line
            del sys.modules[modname]
            raise SystemExit(f"{_prog()}: error: importing {path} failed: "
                             f"{type(exc).__name__}: {exc}") from None
    if not hasattr(module, attr):
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        raise SystemExit(f"{_prog()}: error: {path} defines no {attr!r} "
                         f"(it defines: {', '.join(names) or 'nothing public'})")
    return getattr(module, attr)


def _prog() -> str:
    """How the user called us: the console script's name, or ``python -m pyautodiff``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m pyautodiff" if name in ("", "__main__.py", "-c") else name


def _export(args) -> int:

    import pyautodiff as ad

    func = _load(args.function)
    example = _load(args.example)
    example = example() if callable(example) else example
    if isinstance(example, dict):
        call_args, call_kwargs = tuple(example.get("args", ())), dict(example.get("kwargs", {}))
    else:
        call_args, call_kwargs = tuple(example), {}
    wrt = tuple(w if not w.isdigit() else int(w) for w in args.wrt.split(",")) if args.wrt else 0
    if isinstance(wrt, tuple) and len(wrt) == 1:
        wrt = wrt[0]
    g = getattr(ad, args.kind)(func, wrt=wrt)
    try:
        source = ad.export_source(g, *call_args, **call_kwargs)
        want = g(*call_args, **call_kwargs)
    except ad.AutodiffError as exc:  # e.g. unsupported code: the message names the user's line
        raise SystemExit(f"{_prog()}: error: {exc}") from None
    # verify the exported code against the library on the example
    namespace: dict = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    fn_name = re.findall(r"^def (\w+)\(", source, re.M)[-1]  # the last definition: helpers come first
    got = namespace[fn_name](*call_args, **call_kwargs)
    ok = _tree_close(got, want)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(source)
        print(f"wrote {args.output} ({len(source.splitlines())} lines); "
              f"{'matches' if ok else 'DOES NOT MATCH'} pyautodiff on the example")
    else:
        print(source)
    return 0 if ok else 1


def _tree_close(a, b) -> bool:
    import numpy as np

    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_tree_close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_tree_close(a[k], b[k]) for k in a)
    return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12, atol=0))


def main(argv=None) -> int:
    from . import __version__
    from .transforms import KINDS

    parser = argparse.ArgumentParser(prog=_prog(), description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the founding examples on built-in data").set_defaults(run=_demo)
    cov = sub.add_parser("coverage", help="print the table of supported numpy functions")
    cov.add_argument("--update-readme", metavar="README.md", default=None,
                     help="rewrite the table between the coverage markers of this file")
    cov.set_defaults(run=_coverage)
    ex = sub.add_parser("export", help="write a function's derivative as standalone numpy code")
    ex.add_argument("function", help="path/to/module.py:func")
    ex.add_argument("--wrt", default=None, help="comma-separated argument names or positions (default: 0)")
    ex.add_argument("--example", required=True, help="path/to/module.py:name of example arguments "
                    "(a tuple, a dict with 'args'/'kwargs', or a function returning one)")
    ex.add_argument("--kind", default="grad", choices=list(KINDS),
                    help="which transformation (default grad; hvp/jvp/vjp take the direction as the "
                         "example's last argument)")
    ex.add_argument("-o", "--output", default=None, help="write the source here (default: print it)")
    ex.set_defaults(run=_export)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
