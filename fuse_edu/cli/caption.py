"""``fuse-edu caption PATH [PATH...]``: caption images with FUSE-guided prompt optimisation.

Every argument, every path and ``--out`` is checked before a model loads. A folder run is robust: a file
that is not an image by its name (notes.txt) is skipped with a warning; an image that cannot be read gets a
row whose ``error`` column says why, and the others go on. Rows reach ``--out`` one by one as they finish,
so an interrupted run keeps them. An existing ``--out`` is refused (left untouched) unless ``--resume``
(keep its rows, caption only the images not in it) or ``--overwrite``; an ``--out`` that is an input (a
scene folder's ``captions.csv``) is refused always. A full disk ends the run saying how many rows the file
holds.

Exit status: 0 every image captioned; 1 a model, adapter or method could not be loaded or failed while
running (a shipped weight that does not match its checksum, a NaN or infinite loss, a full disk); 2 bad arguments or input (paths, numbers, an absent device, an unwritable ``--out``, no readable
image at all); 3 the run finished but some images could not be read (their rows carry the error);
130 interrupted (Ctrl-C), with the finished rows written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fuse_edu.captioning import (ADAPTERS, IMAGE_SUFFIXES, VOCABULARIES, CaptionSettings, Captioner, ImageScan,
                                 NoRows, RowsNotWritten, RowWriter, caption_files, check_not_an_input,
                                 check_writable, rows_to_keep, scan_images)
from fuse_edu.cli.common import (EXIT_INTERRUPTED, EXIT_RUN_FAILED, EXIT_SOME_FAILED, fail, int_at_least,
                                 name_value, non_negative_float, print_line, seed, warn)
from fuse_edu.models import DEFAULT_PRESET, PRESETS, preset_spec
from fuse_edu.optim import METHODS, STRATEGIES
from fuse_edu.runtime import DEVICE_CHOICES, pick_device

COMMAND = "caption"
SENTIMENT = "sentiment"                      # the classifier role ``--sentiment`` steers
SENTIMENT_LABELS = ("positive", "negative")  # what both presets' sentiment classifiers read
OUT_SUFFIXES = (".csv", ".json")
EXAMPLES = """examples:
  fuse-edu toyworld render --n 4 --out scenes/        # a few toy scenes to caption
  fuse-edu caption scenes/                            # every image in a folder, toy preset, GCG
  fuse-edu caption scenes/ --sentiment positive --sentiment-weight 2 --out happy.csv
  fuse-edu caption scenes/ --out happy.csv --resume  # after an interruption: only the images not in it yet
  fuse-edu caption scenes/scene_0000.png --method random --budget 2000 --out random.csv
  fuse-edu caption photo.jpg --preset paper --device cuda --prompt-length 8 --prefix "A photo of" --out c.json

exit status: 0 done, 1 a model or method failed to load or run, 2 bad arguments or input files
(nothing captioned), 3 done but some images could not be read (see their error column), 130 interrupted"""


def add_ablation_arguments(p: argparse.ArgumentParser) -> None:
    """``--vocabulary`` and ``--adapter``: what a caption may use, and what carries the gradient."""
    p.add_argument("--vocabulary", choices=VOCABULARIES, default=CaptionSettings().vocabulary,
                   help="which LM tokens a caption may use: open (the whole printable vocabulary; whole-word "
                        "swaps from a general English word list) or lexicon (the preset's closed word list), or a "
                        "narrower kind: word, lower, alpha, pieces (default: open)")
    p.add_argument("--adapter", choices=ADAPTERS, default=CaptionSettings().adapter,
                   help="how secondary models reach the gradient: fuse (fitted FUSE adapters), random (random "
                        "adapters of the same shapes and norms) or none (no gradient from them; they still score "
                        "every candidate) (default: fuse)")


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """The caption settings every captioning command takes (``caption``, ``demo``)."""
    d = CaptionSettings()
    add_ablation_arguments(p)
    weights = PRESETS[DEFAULT_PRESET].weights
    p.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                   help=f"which models (default: {DEFAULT_PRESET}, offline)")
    p.add_argument("--method", choices=tuple(METHODS), default=d.method, help=f"optimiser (default: {d.method})")
    p.add_argument("--strategy", choices=tuple(STRATEGIES), default=None,
                   help="search strategy, for methods that take one (default: the method's own)")
    p.add_argument("--steps", type=int_at_least(0), default=d.steps, help=f"optimiser steps per image (default: {d.steps})")
    p.add_argument("--budget", type=int_at_least(1), default=None,
                   help=f"exact candidate evaluations per image, the cost at which methods compare (default: "
                        f"{d.budget}; given, it turns off --patience unless that is given too)")
    p.add_argument("--patience", type=int_at_least(0), default=None,
                   help=f"stop after this many steps without a better caption; 0: never (default: {d.patience})")
    p.add_argument("--prompt-length", type=int_at_least(1), default=d.prompt_length,
                   help=f"caption length in LM tokens (default: {d.prompt_length})")
    p.add_argument("--fixed-length", action="store_true",
                   help="every caption uses exactly --prompt-length tokens (default: up to that many)")
    p.add_argument("--candidates", type=int_at_least(1), default=None,
                   help="candidates scored per step (default: the method's own)")
    p.add_argument("--topk", type=int_at_least(1), default=d.topk, help=f"GCG: swaps per position (default: {d.topk})")
    p.add_argument("--prefix", default=d.prefix, help="text before the caption, read by every model (default: none)")
    p.add_argument("--init-text", default=None, help="first words of the initial caption (default: the LM's own)")
    p.add_argument("--sentiment", choices=SENTIMENT_LABELS, default=None,
                   help="also steer toward this sentiment: the preset's sentiment classifier joins the objective "
                        "through its own FUSE adapter; the same as --label sentiment=LABEL (default: none)")
    p.add_argument("--sentiment-weight", type=non_negative_float, default=None, metavar="W",
                   help=f"weight of the sentiment term; the same as --weight sentiment=W "
                        f"(default: {weights.get(SENTIMENT)})")
    p.add_argument("--label", type=name_value(str), action="append", default=[], metavar="ROLE=LABEL",
                   help="steer a classifier role of the preset toward a label, repeatable")
    p.add_argument("--weight", type=name_value(float), action="append", default=[], metavar="ROLE=VALUE",
                   help=f"objective weight of a role, repeatable (default: the preset's, {weights})")
    p.add_argument("--seed", type=seed, default=d.seed, help=f"random seed (default: {d.seed})")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                   help="auto (CUDA if present, else CPU), cpu, cuda, mps (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")


def add_caption_command(commands: argparse._SubParsersAction) -> None:
    """Register ``caption`` on the top-level ``fuse-edu`` parser."""
    p = commands.add_parser("caption", help="caption images by optimising a prompt against the LM and CLIP",
                            description="Caption images: for each one, optimise a prompt that the LM finds fluent and CLIP "
                            "(reached through a FUSE adapter) finds true.", epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, or folders of images")
    add_settings_arguments(p)
    p.add_argument("--out", default=None, help="write rows to FILE.csv or FILE.json (default: print only)")
    add_existing_out_arguments(p, "--out")
    p.set_defaults(run=run_caption)


def add_existing_out_arguments(p: argparse.ArgumentParser, out: str) -> None:
    """``--resume`` and ``--overwrite``: what to do with rows an earlier run left (without either, refuse)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true",
                       help=f"{out} exists: keep its rows and caption only the images not in it yet")
    group.add_argument("--overwrite", action="store_true", help=f"{out} exists: replace it")


def warn_passed_over(command: str, scan: ImageScan) -> None:
    """One warning line per file of a named folder that is not captioned: not an image, or a broken link."""
    for path in scan.skipped:
        warn(command, f"skipping {path}: not an image ({' '.join(IMAGE_SUFFIXES)})")
    for path, reason in scan.broken.items():
        warn(command, f"skipping {path}: {reason}")


def settings_from(args: argparse.Namespace) -> CaptionSettings:
    """``CaptionSettings`` from the arguments, checked against the preset; ValueError names what is wrong."""
    weights, labels = dict(args.weight), dict(args.label)
    for flag, given, table in (("--sentiment-weight", args.sentiment_weight, weights),
                               ("--sentiment", args.sentiment, labels)):
        if given is None:
            continue
        if SENTIMENT in table and table[SENTIMENT] != given:
            raise ValueError(f"{flag} {given} and {SENTIMENT}={table[SENTIMENT]} disagree; give one")
        table[SENTIMENT] = given
    defaults = CaptionSettings()
    patience = args.patience if args.patience is not None else (None if args.budget else defaults.patience)
    budget = args.budget if args.budget is not None else defaults.budget
    settings = CaptionSettings(
        method=args.method, strategy=args.strategy, steps=args.steps, budget=budget, patience=patience or None,
        prompt_length=args.prompt_length, variable_length=not args.fixed_length,
        vocabulary=args.vocabulary, adapter=args.adapter,
        candidates_per_step=args.candidates, topk=args.topk, prefix=args.prefix, init_text=args.init_text,
        seed=args.seed, weights=weights, labels=labels)
    settings.check(preset_spec(args.preset))
    return settings


def run_caption(args: argparse.Namespace) -> int:
    # --- everything that can be checked without a model: arguments, paths, images, --out
    out = Path(args.out) if args.out is not None else None
    if out is not None and out.suffix.lower() not in OUT_SUFFIXES:
        return fail(COMMAND, f"--out must end in .csv or .json, got {args.out!r}")
    if out is None and (args.resume or args.overwrite):
        return fail(COMMAND, f"--{'resume' if args.resume else 'overwrite'} is about the rows in --out; give --out FILE")
    try:
        settings = settings_from(args)
        device = pick_device(args.device)
        scan = scan_images(args.paths)
    except NotImplementedError as error:  # a method module that is not installed: not the user's input
        return fail(COMMAND, str(error), EXIT_RUN_FAILED)
    except (RuntimeError, ValueError) as error:
        return fail(COMMAND, str(error))
    warn_passed_over(COMMAND, scan)
    if not scan.readable:
        return fail(COMMAND, "no readable image: " + "; ".join(scan.unreadable.values()))
    files, kept = scan.files, []
    if out is not None:
        try:
            check_not_an_input(out, args.paths)
            kept = rows_to_keep(out, args.resume, args.overwrite)
            check_writable(out)
        except ValueError as error:
            return fail(COMMAND, str(error))
        except OSError as error:
            return fail(COMMAND, f"cannot write --out {args.out}: {error}")
        done_files = {row.get("file") for row in kept}
        files = [path for path in files if str(path) not in done_files]
        if kept:
            print_line(f"fuse-edu caption: {args.out} keeps {len(kept)} rows; {len(files)} images to go")
        if not files:
            return 0
    # --- models, then the work, each row written as soon as it is done
    try:
        captioner = Captioner(args.preset, settings, device=device, progress=not args.no_progress)
    except ValueError as error:      # a setting the method, objective or classifier refuses
        return fail(COMMAND, str(error))
    except (OSError, NotImplementedError, RuntimeError) as error:  # checkpoints, adapters, a missing method
        return fail(COMMAND, f"{type(error).__name__}: {error}", EXIT_RUN_FAILED)
    done: list[dict] = []
    try:
        writer = RowWriter(out, captioner.columns, resume=args.resume) if out is not None else NoRows()
    except ValueError as error:  # resuming a file of other columns
        return fail(COMMAND, str(error))
    except RowsNotWritten as error:
        return fail(COMMAND, str(error), EXIT_RUN_FAILED)
    with writer:
        def on_row(row: dict) -> None:
            writer.write(row)
            done.append(row)
            if row["error"]:
                fail(COMMAND, f"{row['error']} (the other images go on)")
            else:
                print_line(f"{row['file']}\t{row['caption']}\t(loss {row['loss']:.4f}, {row['seconds']:.1f} s)")
        try:
            caption_files(files, captioner, progress=not args.no_progress, on_row=on_row)
        except KeyboardInterrupt:
            keeps = f"; {args.out} keeps the {len(done)} finished rows" if out is not None else ""
            return fail(COMMAND, f"interrupted after {len(done)} of {len(files)} images{keeps}", EXIT_INTERRUPTED)
        except RowsNotWritten as error:  # a full disk: the file holds every row before this one, none torn
            return fail(COMMAND, str(error), EXIT_RUN_FAILED)
        except ValueError as error:  # a setting the method or objective refuses
            return fail(COMMAND, str(error))
        except (OSError, NotImplementedError, RuntimeError) as error:
            return fail(COMMAND, f"{type(error).__name__}: {error} (after {len(done)} finished rows)", EXIT_RUN_FAILED)
    failed = sum(1 for row in done if row["error"])
    if out is not None:
        errors = f" ({failed} with an error)" if failed else ""
        keeps = f", after the {len(kept)} it kept" if kept else ""
        print(f"fuse-edu caption: wrote {len(done)} rows to {args.out}{keeps}{errors}")
    return EXIT_SOME_FAILED if failed else 0
