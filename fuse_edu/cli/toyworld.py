"""``fuse-edu toyworld render``: write toy scenes to disk as PNGs plus a ``captions.csv`` of their truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from fuse_edu.cli.common import SEED_MAX, int_at_least, seed
from fuse_edu.toyworld import render_to_folder
from fuse_edu.toyworld.scenes import MIN_RENDER_SIZE


def _render(args: argparse.Namespace) -> int:
    objects = None if args.objects == "mix" else int(args.objects)
    csv_path = render_to_folder(Path(args.out), args.n, args.seed, objects=objects, size=args.size)
    print(f"fuse-edu toyworld render: wrote {args.n} scenes and {csv_path}")
    return 0


def add_toyworld_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``toyworld`` and its subcommands on the top-level ``fuse-edu`` parser."""
    toyworld = commands.add_parser("toyworld", help="the offline toy world: procedural scenes and captions")
    sub = toyworld.add_subparsers(dest="toyworld_command", required=True)
    render = sub.add_parser(
        "render", help="write N scenes as PNGs plus captions.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  fuse-edu toyworld render --n 16 --seed 0 --objects 2 --out scenes/",
    )
    render.add_argument("--n", type=int_at_least(1), required=True, help="number of scenes (positive)")
    render.add_argument("--seed", type=seed, default=0,
                        help=f"random seed from 0 to {SEED_MAX}; same seed, same files (default: 0)")
    render.add_argument("--objects", choices=("1", "2", "mix"), default="1",
                        help="objects per scene: 1, 2, or mix for an even mix (default: 1)")
    render.add_argument("--size", type=int_at_least(MIN_RENDER_SIZE), default=64,
                        help=f"image side in pixels, at least {MIN_RENDER_SIZE} (default: 64)")
    render.add_argument("--out", required=True, help="output folder, created if missing")
    render.set_defaults(run=_render)
