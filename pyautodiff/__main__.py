"""Command line: ``python -m pyautodiff demo | coverage``."""
from __future__ import annotations

import argparse
import sys


def _coverage(args) -> int:
    from .coverage import markdown_table

    print(markdown_table())
    return 0


def _demo(args) -> int:
    from .demo import main

    return main()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyautodiff", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the founding examples on built-in data").set_defaults(run=_demo)
    sub.add_parser("coverage", help="print the table of supported numpy functions").set_defaults(run=_coverage)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
