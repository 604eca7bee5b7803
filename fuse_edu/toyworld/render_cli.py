"""``fuse-edu toyworld render``: write toy scenes to disk as PNGs plus a ``captions.csv`` of their truth.

The files are a plain, tool-agnostic view of the toy world: look at them in a file browser, load them
in a spreadsheet, or hand them to a model outside fuse_edu. Same seed, byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from tqdm.auto import tqdm

from fuse_edu.toyworld.captions import caption
from fuse_edu.toyworld.scenes import MIN_RENDER_SIZE, render_scene, sample_scenes

ATTRIBUTE_COLUMNS: tuple[str, ...] = ("color", "shape", "size", "position")
CSV_COLUMNS: tuple[str, ...] = ("file", "caption", *ATTRIBUTE_COLUMNS, "objects")


def _int_at_least(minimum: int, what: str):
    """An argparse type: refuses values below ``minimum`` before anything is written to disk."""
    def parse(text: str) -> int:
        # argparse turns ArgumentTypeError into "argument --n: ..." and exit 2: a message, no traceback
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
        return value
    return parse


def render_to_folder(out: Path, n: int, seed: int, objects: int | None = 1, size: int = 64) -> Path:
    """Write ``scene_0000.png`` ... and ``captions.csv`` into ``out``; return the CSV's path."""
    scenes = sample_scenes(n, seed, objects=objects)
    out.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(n - 1)))  # file names sort in scene order however large n is
    csv_path = out / "captions.csv"
    # newline="" plus an explicit "\n" terminator: the same bytes on every platform
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        progress = tqdm(scenes, desc="rendering scenes", unit="scene", file=sys.stderr, disable=n < 100)
        for i, scene in enumerate(progress):
            name = f"scene_{i:0{width}d}.png"
            # Pillow writes no timestamp into a PNG, so equal pixels give equal bytes
            render_scene(scene, size=size).save(out / name, format="PNG")
            writer.writerow({"file": name, "caption": caption(scene), **scene.attributes(),
                             "objects": len(scene.objects)})
    return csv_path


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
    render.add_argument("--n", type=_int_at_least(1, "a positive integer"), required=True, help="number of scenes (positive)")
    render.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files (default: 0)")
    render.add_argument("--objects", choices=("1", "2", "mix"), default="1",
                        help="objects per scene: 1, 2, or mix for an even mix (default: 1)")
    render.add_argument("--size", type=_int_at_least(MIN_RENDER_SIZE, f"at least {MIN_RENDER_SIZE} pixels"), default=64, help="image side in pixels (default: 64)")
    render.add_argument("--out", required=True, help="output folder, created if missing")
    render.set_defaults(run=_render)
