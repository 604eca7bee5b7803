"""The ``fuse-edu`` command line. Subcommands arrive with the issues that build them."""

from __future__ import annotations

import argparse
import sys

from fuse_edu.assignments import add_assignments_command
from fuse_edu.caption_cli import add_caption_command
from fuse_edu.demo import add_demo_command
from fuse_edu.render import render_notebook  # noqa: F401  (demo --notebook calls it through here; tests wrap it)
from fuse_edu.report import add_report_command
from fuse_edu.toyworld.render_cli import add_toyworld_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuse-edu", description="FUSE teaching toolkit: prompt optimisation across tokenizers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  fuse-edu demo --out out/     # the main job: caption 4 toy scenes, offline",
    )
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
        return 2
    except KeyboardInterrupt:
        print("fuse-edu: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
