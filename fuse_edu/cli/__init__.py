"""The ``fuse-edu`` command line (also ``python -m fuse_edu``): one module per command, ``common`` for what
they share (exit codes, argument types, the one-line error path)."""

from __future__ import annotations

import argparse
import sys

import fuse_edu
from fuse_edu.cli.assignments import add_assignments_command
from fuse_edu.cli.caption import add_caption_command
from fuse_edu.cli.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from fuse_edu.cli.demo import add_demo_command
from fuse_edu.cli.report import add_report_command
from fuse_edu.cli.toyworld import add_toyworld_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuse-edu", description="FUSE teaching toolkit: prompt optimisation across tokenizers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  fuse-edu demo --out out/     # the main job: caption 4 toy scenes, offline",
    )
    parser.add_argument("--version", action="version", version=f"fuse-edu {fuse_edu.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_demo_command(commands)
    add_toyworld_commands(commands)
    add_caption_command(commands)
    add_report_command(commands)
    add_assignments_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (OSError, ValueError) as error:  # a path that cannot be read or written is bad input, not a crash
        print(f"fuse-edu: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("fuse-edu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


__all__ = ["build_parser", "main"]
