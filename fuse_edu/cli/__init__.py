"""The ``fuse-edu`` command line (also ``python -m fuse_edu``): one module per command, ``common`` for what
they share (exit codes, argument types, the one-line error path). Global flags: ``--version``, ``--quiet``
(results and errors only: no progress bars or notes), ``--verbose`` (progress bars even when stderr is not a
terminal); without either, bars show only on a terminal (``fuse_edu.progress``)."""

from __future__ import annotations

import argparse
import sys

import fuse_edu
from fuse_edu.cli.assignments import add_assignments_command
from fuse_edu.cli.caption import add_caption_command
from fuse_edu.cli.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from fuse_edu.cli.demo import add_demo_command
from fuse_edu.cli.notebooks import add_notebooks_command
from fuse_edu.cli.report import add_report_command
from fuse_edu.cli.toyworld import add_toyworld_commands
from fuse_edu.progress import NORMAL, QUIET, VERBOSE, bars_wanted, set_verbosity
from fuse_edu.text.assets import MissingAssetError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuse-edu", description="FUSE teaching toolkit: prompt optimisation across tokenizers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  fuse-edu demo --out out/     # the main job: caption 4 toy scenes, offline",
    )
    parser.add_argument("--version", action="version", version=f"fuse-edu {fuse_edu.__version__}")
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true",
                      help="results and errors only: no progress bars or notes on stderr")
    talk.add_argument("-v", "--verbose", action="store_true",
                      help="progress bars even when stderr is not a terminal (default: only on a terminal)")
    commands = parser.add_subparsers(dest="command", required=True)
    add_demo_command(commands)
    add_toyworld_commands(commands)
    add_caption_command(commands)
    add_report_command(commands)
    add_assignments_command(commands)
    add_notebooks_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_verbosity(QUIET if args.quiet else VERBOSE if args.verbose else NORMAL)
    if not bars_wanted() and hasattr(args, "no_progress"):  # the commands' own --no-progress, decided here
        args.no_progress = True
    try:
        return args.run(args)
    # a path that cannot be read or written is bad input, not a crash; so is an offline asset that could not be
    # installed on first use (its message names the command to run)
    except (MissingAssetError, OSError, ValueError) as error:
        print(f"fuse-edu: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("fuse-edu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


__all__ = ["build_parser", "main"]
