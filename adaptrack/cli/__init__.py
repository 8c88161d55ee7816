"""Command-line interface: ``adaptrack {track,demo,eval,report,list}``.

Each subcommand lives in its own module ``adaptrack.cli.<name>`` with ``add_parser(subparsers)`` and
``run(args) -> int``. User mistakes end in one clear line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import AdaptrackError

COMMANDS = ("track", "demo", "eval", "report", "list")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adaptrack", description="Single-object visual tracking with online adaptation.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"adaptrack.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"adaptrack.cli.{name}":
                raise
            continue
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (AdaptrackError, ValueError, FileNotFoundError) as e:
        print(f"adaptrack {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"adaptrack {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
