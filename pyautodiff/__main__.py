"""Command line: ``python -m pyautodiff demo | coverage | export``."""
from __future__ import annotations

import argparse
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
    import os

    path, _, attr = spec.rpartition(":")
    if not path or not attr:
        raise SystemExit(f"expected path/to/module.py:name, got {spec!r}")
    modname = "_pyautodiff_export_" + os.path.splitext(os.path.basename(path))[0]
    if modname in sys.modules:
        module = sys.modules[modname]
    else:
        loader_spec = importlib.util.spec_from_file_location(modname, path)
        if loader_spec is None:
            raise SystemExit(f"cannot import {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[modname] = module
        loader_spec.loader.exec_module(module)
    return getattr(module, attr)


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
    source = ad.export_source(g, *call_args, **call_kwargs)
    # verify the exported code against the library on the example
    namespace: dict = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    fn_name = next(k for k, v in namespace.items() if callable(v) and getattr(v, "__module__", None) is None
                   and not k.startswith("_") and k not in ("np",))
    got = namespace[fn_name](*call_args, **call_kwargs)
    want = g(*call_args, **call_kwargs)
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
    parser = argparse.ArgumentParser(prog="python -m pyautodiff", description=__doc__)
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
    ex.add_argument("--kind", default="grad", choices=["function", "grad", "value_and_grad", "hessian",
                                                        "jacobian"], help="which transformation (default grad)")
    ex.add_argument("-o", "--output", default=None, help="write the source here (default: print it)")
    ex.set_defaults(run=_export)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
