"""``fuse-edu caption PATH [PATH...]``: caption images with FUSE-guided prompt optimisation.

Every argument, every path and ``--out`` is checked before a model loads, so a typo costs a second, not a
model load. Errors are one line on stderr, never a traceback. A folder run is robust: a file that is not an
image by its name (notes.txt) is skipped with a warning; an image that cannot be read gets a row whose
``error`` column says why, and the others go on. Rows reach ``--out`` one by one as they finish (CSV:
appended and flushed; JSON: the whole list rewritten atomically), so an interrupted run keeps them.

Exit status: 0 every image captioned; 1 a model, adapter or method could not be loaded or failed while
running; 2 bad arguments or input (paths, numbers, an absent device, an unwritable ``--out``, no readable
image at all); 3 the run finished but some images could not be read (their rows carry the error);
130 interrupted (Ctrl-C), with the finished rows written.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from fuse_edu.caption import check_budget, IMAGE_SUFFIXES, CaptionSettings, Captioner, caption_files, scan_images
from fuse_edu.optim import METHODS, STRATEGIES, check_weights
from fuse_edu.runtime import DEVICE_CHOICES, pick_device

# fuse_edu.models.PRESETS and DEFAULT_PRESET, and the sentiment labels of both presets' classifiers, spelled
# out so that building the parser (every fuse-edu command, --help included) does not import transformers;
# a test keeps them equal. Captioner checks the label against the loaded classifier as well.
PRESET_NAMES, DEFAULT_PRESET = ("toy", "paper"), "toy"
SENTIMENT_LABELS = ("positive", "negative")
EXIT_RUN_FAILED, EXIT_BAD_INPUT, EXIT_SOME_FAILED, EXIT_INTERRUPTED = 1, 2, 3, 130
OUT_SUFFIXES = (".csv", ".json")
EXAMPLES = """examples:
  fuse-edu toyworld render --n 4 --out scenes/        # a few toy scenes to caption
  fuse-edu caption scenes/                            # every image in a folder, toy preset, GCG
  fuse-edu caption scenes/ --sentiment positive --sentiment-weight 2 --out happy.csv
  fuse-edu caption scenes/scene_0000.png --method random --budget 2000 --out random.csv
  fuse-edu caption photo.jpg --preset paper --device cuda --prompt-length 8 --prefix "A photo of" --out c.json

exit status: 0 done, 1 a model or method failed to load or run, 2 bad arguments or input files
(nothing captioned), 3 done but some images could not be read (see their error column), 130 interrupted"""


def int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``, else argparse's one-line error and exit 2 (no traceback)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    return parse


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


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
    p.add_argument("--steps", type=int_at_least(0), default=d.steps, help=f"optimiser steps per image (default: {d.steps})")
    p.add_argument("--budget", type=int_at_least(1), default=None,
                   help="cap on exact candidate evaluations per image, to compare methods at equal cost "
                        "(turns off --patience unless it is given)")
    p.add_argument("--patience", type=int_at_least(0), default=None,
                   help=f"stop after this many steps without a better caption; 0: never (default: {d.patience})")
    p.add_argument("--prompt-length", type=int_at_least(1), default=d.prompt_length,
                   help=f"caption length in LM tokens (default: {d.prompt_length})")
    p.add_argument("--fixed-length", action="store_true",
                   help="every caption uses exactly --prompt-length tokens (default: up to that many)")
    p.add_argument("--allowed", choices=("auto", "word", "lower", "alpha", "pieces", "all"), default=d.allowed,
                   help="which LM tokens a caption may use (default: auto: the toy lexicon for the toy preset, "
                        "else pieces: lower-case words and word pieces)")
    p.add_argument("--candidates", type=int_at_least(1), default=d.candidates_per_step,
                   help=f"candidates scored per step (default: {d.candidates_per_step})")
    p.add_argument("--topk", type=int_at_least(1), default=d.topk, help=f"GCG: swaps per position (default: {d.topk})")
    p.add_argument("--prefix", default=d.prefix, help="text before the caption, read by the LM and CLIP (default: none)")
    p.add_argument("--init-text", default=None, help="first words of the initial caption (default: the LM's own)")
    p.add_argument("--sentiment", choices=SENTIMENT_LABELS, default=None,
                   help="also steer toward this sentiment: the preset's classifier joins the objective through "
                        "its own FUSE adapter (default: none)")
    p.add_argument("--sentiment-weight", type=_non_negative_float, default=None, metavar="W",
                   help=f"weight of the sentiment term; same as --weight sentiment=W "
                        f"(default: {d.weights['sentiment']})")
    p.add_argument("--weight", type=_weight, action="append", default=[], metavar="NAME=VALUE",
                   help=f"objective weight, repeatable; names lm, clip, sentiment (default: {d.weights})")
    p.add_argument("--seed", type=int_at_least(0), default=d.seed, help=f"random seed (default: {d.seed})")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                   help="auto (CUDA if present, else CPU), cpu, cuda, mps (default: auto)")
    p.add_argument("--out", default=None, help="write rows to FILE.csv or FILE.json (default: print only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.set_defaults(run=run_caption)


def _fail(message: str, code: int) -> int:
    print(f"fuse-edu caption: error: {message}", file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> CaptionSettings:
    """CaptionSettings from the arguments; ValueError for combinations no single option can refuse."""
    weights = dict(args.weight)
    if args.sentiment_weight is not None:
        if "sentiment" in weights and weights["sentiment"] != args.sentiment_weight:
            raise ValueError(f"--sentiment-weight {args.sentiment_weight} and --weight sentiment="
                             f"{weights['sentiment']} disagree; give one")
        weights["sentiment"] = args.sentiment_weight
    if "sentiment" in weights and args.sentiment is None:
        raise ValueError(f"a sentiment weight needs --sentiment ({' or '.join(SENTIMENT_LABELS)}): without it "
                         f"there is no sentiment term to weigh")
    defaults = CaptionSettings()
    unknown = sorted(set(weights) - set(defaults.weights))
    if unknown:
        raise ValueError(f"unknown --weight name(s) {', '.join(unknown)}; accepted: {', '.join(defaults.weights)}")
    check_budget(args.method, args.budget, args.candidates)
    patience = args.patience if args.patience is not None else (None if args.budget else defaults.patience)
    settings = CaptionSettings(
        method=args.method, strategy=args.strategy, steps=args.steps, budget=args.budget, patience=patience or None,
        prompt_length=args.prompt_length, variable_length=not args.fixed_length, allowed=args.allowed,
        candidates_per_step=args.candidates, topk=args.topk,
        prefix=args.prefix, init_text=args.init_text, seed=args.seed, sentiment=args.sentiment,
        weights={**defaults.weights, **weights})
    check_weights(settings.weights)
    return settings


def run_caption(args: argparse.Namespace) -> int:
    # --- everything that can be checked without a model: arguments, paths, images, --out
    out = Path(args.out) if args.out is not None else None
    if out is not None and out.suffix.lower() not in OUT_SUFFIXES:
        return _fail(f"--out must end in .csv or .json, got {args.out!r}", EXIT_BAD_INPUT)
    try:
        settings = _settings(args)
        device = pick_device(args.device)
        scan = scan_images(args.paths)
    except (RuntimeError, ValueError) as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    for path in scan.skipped:
        print(f"fuse-edu caption: warning: skipping {path}: not an image ({' '.join(IMAGE_SUFFIXES)})",
              file=sys.stderr)
    if not scan.readable:
        return _fail("no readable image: " + "; ".join(scan.unreadable.values()), EXIT_BAD_INPUT)
    if out is not None:
        try:
            check_writable(out)
        except OSError as error:
            return _fail(f"cannot write --out {args.out}: {error}", EXIT_BAD_INPUT)
    # --- models, then the work, each row written as soon as it is done
    try:
        captioner = Captioner(args.preset, settings, device=device, progress=not args.no_progress)
    except ValueError as error:      # a setting the method, objective or classifier refuses
        return _fail(str(error), EXIT_BAD_INPUT)
    except (OSError, NotImplementedError, RuntimeError) as error:  # checkpoints, adapters, a missing method
        return _fail(f"{type(error).__name__}: {error}", EXIT_RUN_FAILED)
    done: list[dict] = []
    with RowWriter(out, captioner.columns) if out is not None else _NoFile() as writer:
        def on_row(row: dict) -> None:
            writer.write(row)
            done.append(row)
            if row["error"]:
                print(f"fuse-edu caption: error: {row['error']} (the other images go on)", file=sys.stderr)
            else:
                _print_line(f"{row['file']}\t{row['caption']}\t(loss {row['loss']:.4f}, {row['seconds']:.1f} s)")
        try:
            caption_files(scan.files, captioner, progress=not args.no_progress, on_row=on_row)
        except KeyboardInterrupt:
            kept = f"; {args.out} keeps the {len(done)} finished rows" if out is not None else ""
            return _fail(f"interrupted after {len(done)} of {len(scan.files)} images{kept}", EXIT_INTERRUPTED)
        except ValueError as error:  # a setting the method or objective refuses
            return _fail(str(error), EXIT_BAD_INPUT)
        except (OSError, NotImplementedError, RuntimeError) as error:
            return _fail(f"{type(error).__name__}: {error} (after {len(done)} finished rows)", EXIT_RUN_FAILED)
    failed = sum(1 for row in done if row["error"])
    if out is not None:
        errors = f" ({failed} with an error)" if failed else ""
        print(f"fuse-edu caption: wrote {len(done)} rows to {args.out}{errors}")
    return EXIT_SOME_FAILED if failed else 0


def _print_line(text: str) -> None:
    """A result line on stdout that does not tear the progress bar on stderr."""
    from tqdm.auto import tqdm

    tqdm.write(text, file=sys.stdout)


def check_writable(out: Path) -> None:
    """OSError, its message saying why, unless ``out`` can be written: its folder is created, the file opened
    for appending (which leaves an existing file as it is) and, if it did not exist, removed again."""
    for folder in (out.parent, *out.parent.parents):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{folder} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        existed = out.exists()
        with out.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise OSError(f"{error.strerror or error} ({error.filename or out})") from None
    if not existed:
        out.unlink()


class RowWriter:
    """Rows to FILE.csv or FILE.json as they come: CSV rows are appended and flushed one at a time under a
    header of ``columns``; JSON is a list of objects, rewritten to a temporary file and renamed over FILE
    after every row, so FILE is always a complete, valid JSON list. Either way an interrupted run keeps
    every finished row."""

    def __init__(self, out: Path, columns: list[str]):
        self.out, self.columns, self.rows = Path(out), list(columns), []
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.json = self.out.suffix.lower() == ".json"
        if self.json:
            self._rewrite()
        else:
            self.handle = self.out.open("w", newline="", encoding="utf-8")
            self.writer = csv.DictWriter(self.handle, fieldnames=self.columns, lineterminator="\n")
            self.writer.writeheader()
            self.handle.flush()

    def write(self, row: dict) -> None:
        self.rows.append(row)
        if self.json:
            self._rewrite()
        else:
            self.writer.writerow(row)  # a key outside ``columns`` is a ValueError: no column goes missing quietly
            self.handle.flush()

    def _rewrite(self) -> None:
        partial = self.out.with_name(self.out.name + ".partial")
        partial.write_text(json.dumps(self.rows, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, self.out)  # atomic on POSIX and Windows: readers see the old list or the new one

    def close(self) -> None:
        if not self.json:
            self.handle.close()

    def __enter__(self) -> "RowWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _NoFile:
    """RowWriter's stand-in when there is no --out."""

    def write(self, row: dict) -> None:
        pass

    def __enter__(self) -> "_NoFile":
        return self

    def __exit__(self, *exc) -> None:
        pass


def write_rows(rows: list[dict], out: Path, columns: list[str] | None = None) -> None:
    """All rows at once, through ``RowWriter`` (columns: those given, else in first-seen order)."""
    with RowWriter(out, columns or list(dict.fromkeys(key for row in rows for key in row))) as writer:
        for row in rows:
            writer.write(row)
