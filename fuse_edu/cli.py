"""The ``fuse-edu`` command line. Subcommands arrive with the issues that build them."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fuse_edu.caption_cli import add_caption_command
from fuse_edu.render import REPO_NOTEBOOKS, render_notebook
from fuse_edu.toyworld.render_cli import add_toyworld_commands


def _demo(args: argparse.Namespace) -> int:
    notebook = Path(args.notebook)
    out_html = Path(args.out) / (notebook.stem + ".html")
    start = time.perf_counter()
    print(f"fuse-edu demo: running {notebook} offline (preset: toy) ...", flush=True)
    render_notebook(notebook, out_html, parameters={"SEED": args.seed})
    print(f"fuse-edu demo: wrote {out_html} in {time.perf_counter() - start:.0f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuse-edu", description="FUSE teaching toolkit: prompt optimisation across tokenizers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  fuse-edu demo --out out/",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the main job offline and write an HTML report")
    demo.add_argument("--out", default="out", help="output folder (default: out)")
    demo.add_argument("--notebook", default=str(REPO_NOTEBOOKS / "01_tokenizer_alignment.ipynb"),
                      help="walk-through to render (default: notebook 01)")
    demo.add_argument("--seed", type=int, default=0, help="seed passed to the notebook (default: 0)")
    demo.set_defaults(run=_demo)
    add_toyworld_commands(commands)
    add_caption_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"fuse-edu: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
