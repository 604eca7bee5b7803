"""``fuse-edu caption PATH [PATH...]``: caption images with FUSE-guided prompt optimisation.

Every argument is checked before a model loads, so a typo costs a second, not a model load. Errors are
one line on stderr, never a traceback. Exit status: 0 done; 1 a model, adapter or method could not be
loaded or failed while running; 2 bad arguments or input (paths, numbers, an absent device).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from fuse_edu.caption import CaptionSettings, Captioner, caption_files, find_images
from fuse_edu.optim import METHODS, STRATEGIES, check_weights
from fuse_edu.runtime import DEVICE_CHOICES, pick_device

# fuse_edu.models.PRESETS and DEFAULT_PRESET, spelled out so that building the parser (every fuse-edu
# command, --help included) does not import transformers; a test keeps them equal.
PRESET_NAMES, DEFAULT_PRESET = ("toy", "paper"), "toy"
EXIT_RUN_FAILED, EXIT_BAD_INPUT = 1, 2
OUT_SUFFIXES = (".csv", ".json")
EXAMPLES = """examples:
  fuse-edu toyworld render --n 4 --out scenes/        # a few toy scenes to caption
  fuse-edu caption scenes/                            # every image in a folder, toy preset, GCG
  fuse-edu caption scenes/scene_0000.png --method random --budget 2000 --out random.csv
  fuse-edu caption photo.jpg --preset paper --device cuda --prompt-length 8 --prefix "A photo of" --out c.json

exit status: 0 done, 1 a model or method failed to load or run, 2 bad arguments or input files"""


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    return parse


def _weight(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER (e.g. clip=2.0), got {text!r}") from None


def add_caption_command(commands: argparse._SubParsersAction) -> None:
    """Register ``caption`` on the top-level ``fuse-edu`` parser."""
    d = CaptionSettings()
    p = commands.add_parser("caption", help="caption images by optimising a prompt against the LM and CLIP",
                            description="Caption images: for each one, optimise a prompt that the LM finds fluent and CLIP "
                            "(reached through a FUSE adapter) finds true.", epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, or folders of images")
    p.add_argument("--preset", choices=PRESET_NAMES, default=DEFAULT_PRESET,
                   help=f"which models (default: {DEFAULT_PRESET}, offline)")
    p.add_argument("--method", choices=tuple(METHODS), default=d.method, help=f"optimiser (default: {d.method})")
    p.add_argument("--strategy", choices=tuple(STRATEGIES), default=None,
                   help="search strategy, for methods that take one (default: the method's own)")
    p.add_argument("--steps", type=_int_at_least(0), default=d.steps, help=f"optimiser steps per image (default: {d.steps})")
    p.add_argument("--budget", type=_int_at_least(1), default=None,
                   help="cap on exact candidate evaluations per image, to compare methods at equal cost "
                        "(turns off --patience unless it is given)")
    p.add_argument("--patience", type=_int_at_least(0), default=None,
                   help=f"stop after this many steps without a better caption; 0: never (default: {d.patience})")
    p.add_argument("--prompt-length", type=_int_at_least(1), default=d.prompt_length,
                   help=f"caption length in LM tokens (default: {d.prompt_length})")
    p.add_argument("--fixed-length", action="store_true",
                   help="every caption uses exactly --prompt-length tokens (default: up to that many)")
    p.add_argument("--allowed", choices=("auto", "word", "lower", "alpha", "pieces", "all"), default=d.allowed,
                   help="which LM tokens a caption may use (default: auto: the toy lexicon for the toy preset, "
                        "else pieces: lower-case words and word pieces)")
    p.add_argument("--candidates", type=_int_at_least(1), default=d.candidates_per_step,
                   help=f"candidates scored per step (default: {d.candidates_per_step})")
    p.add_argument("--topk", type=_int_at_least(1), default=d.topk, help=f"GCG: swaps per position (default: {d.topk})")
    p.add_argument("--prefix", default=d.prefix, help="text before the caption, read by the LM and CLIP (default: none)")
    p.add_argument("--init-text", default=None, help="first words of the initial caption (default: the LM's own)")
    p.add_argument("--sentiment", default=None, help="also steer toward this sentiment label (e.g. positive)")
    p.add_argument("--weight", type=_weight, action="append", default=[], metavar="NAME=VALUE",
                   help=f"objective weight, repeatable; names lm, clip, sentiment (default: {d.weights})")
    p.add_argument("--seed", type=_int_at_least(0), default=d.seed, help=f"random seed (default: {d.seed})")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                   help="auto (CUDA if present, else CPU), cpu, cuda, mps (default: auto)")
    p.add_argument("--out", default=None, help="write rows to FILE.csv or FILE.json (default: print only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.set_defaults(run=run_caption)


def _fail(message: str, code: int) -> int:
    print(f"fuse-edu caption: error: {message}", file=sys.stderr)
    return code


def run_caption(args: argparse.Namespace) -> int:
    # --- everything that can be checked without a model
    if args.out is not None and Path(args.out).suffix.lower() not in OUT_SUFFIXES:
        return _fail(f"--out must end in .csv or .json, got {args.out!r}", EXIT_BAD_INPUT)
    patience = args.patience if args.patience is not None else (None if args.budget else CaptionSettings().patience)
    settings = CaptionSettings(
        method=args.method, strategy=args.strategy, steps=args.steps, budget=args.budget, patience=patience or None,
        prompt_length=args.prompt_length, variable_length=not args.fixed_length, allowed=args.allowed,
        candidates_per_step=args.candidates, topk=args.topk,
        prefix=args.prefix, init_text=args.init_text, seed=args.seed, sentiment=args.sentiment,
        weights={**CaptionSettings().weights, **dict(args.weight)})
    if args.budget is not None and args.method in ("gcg", "random") and args.budget < args.candidates + 1:
        return _fail(f"--budget {args.budget} is smaller than one step: the initial caption and "
                     f"{args.candidates} candidates need {args.candidates + 1} evaluations", EXIT_BAD_INPUT)
    unknown = sorted(set(settings.weights) - set(CaptionSettings().weights))
    if unknown:
        return _fail(f"unknown --weight name(s) {', '.join(unknown)}; accepted: "
                     f"{', '.join(CaptionSettings().weights)}", EXIT_BAD_INPUT)
    try:
        check_weights(settings.weights)
        device = pick_device(args.device)
        paths = find_images(args.paths)
    except (RuntimeError, ValueError) as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    # --- models, then the work
    try:
        captioner = Captioner(args.preset, settings, device=device, progress=not args.no_progress)
        rows = caption_files(paths, captioner, progress=not args.no_progress)
    except ValueError as error:      # a setting the method or objective refuses
        return _fail(str(error), EXIT_BAD_INPUT)
    except (OSError, NotImplementedError, RuntimeError) as error:  # checkpoints, adapters, a missing method
        return _fail(f"{type(error).__name__}: {error}", EXIT_RUN_FAILED)
    for row in rows:
        print(f"{row['file']}\t{row['caption']}\t(loss {row['loss']:.4f}, {row['seconds']:.1f} s)")
    if args.out is not None:
        try:
            write_rows(rows, Path(args.out))
        except OSError as error:
            return _fail(f"cannot write {args.out}: {error}", EXIT_RUN_FAILED)
        print(f"fuse-edu caption: wrote {len(rows)} rows to {args.out}")
    return 0


def write_rows(rows: list[dict], out: Path) -> None:
    """CSV (columns in first-seen order) or JSON (a list of objects), chosen by the suffix."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
