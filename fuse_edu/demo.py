"""``fuse-edu demo``: the main job, offline. Render a few toy scenes, caption them with FUSE, say how it went.

With no image paths: ``--n`` toy scenes (seed ``--seed``) are rendered into ``OUT/scenes/``, captioned with
the default ``CaptionSettings`` on the toy preset, and compared with their true captions. With paths: those
images are captioned (folders as in ``fuse-edu caption``: non-images skipped, unreadable images get an error
row). Either way ``OUT/captions.csv`` gets one row per image as it finishes, and ``OUT/summary.md`` (also
printed) gives the captions, their attribute accuracy when the truth is known, the mean CLIPScore, the
sentiment the classifier reads when ``--sentiment`` is asked for, the mean seconds per image and the whole
run's wall time. ``--notebook NB`` instead runs a walk-through notebook through papermill into HTML.

Exit status as ``fuse-edu caption``: 0 done, 1 a model failed to load or run, 2 bad input, 3 some images
could not be read, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fuse_edu.caption import CaptionSettings, Captioner, caption_files, scan_images
from fuse_edu.caption_cli import (EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_RUN_FAILED, EXIT_SOME_FAILED,
                                  SENTIMENT_LABELS, RowWriter, check_writable, int_at_least)
from fuse_edu.runtime import DEVICE_CHOICES, pick_device
from fuse_edu.toyworld import Scene  # Pillow only: no torch, no transformers

DEFAULT_SCENES = 4


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    """Register ``demo`` on the top-level ``fuse-edu`` parser."""
    d = CaptionSettings()
    p = commands.add_parser(
        "demo", help="the main job, offline: caption a few toy scenes and summarise how it went",
        description="Render a few toy scenes (or take your images), caption them with FUSE-guided prompt "
                    "optimisation (toy LM + toy CLIP), write OUT/captions.csv and OUT/summary.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  fuse-edu demo                          # 4 toy scenes -> out/\n"
               "  fuse-edu demo --sentiment positive     # the same, steered toward positive captions\n"
               "  fuse-edu demo my_images/ --out my_out/ # your images (no truth: no attribute accuracy)\n"
               "  fuse-edu demo --notebook notebooks/01_tokenizer_alignment.ipynb   # a walk-through as HTML\n\n"
               "exit status: 0 done, 1 a model failed to load or run, 2 bad input, 3 some images unreadable")
    p.add_argument("paths", nargs="*", metavar="PATH", help="images or folders (default: render toy scenes)")
    p.add_argument("--out", default="out", help="output folder, created if missing (default: out)")
    p.add_argument("--n", type=_positive, default=DEFAULT_SCENES,
                   help=f"toy scenes to render when no PATH is given (default: {DEFAULT_SCENES})")
    p.add_argument("--seed", type=_non_negative, default=0, help="seed for the scenes and the optimiser (default: 0)")
    p.add_argument("--steps", type=_non_negative, default=d.steps, help=f"optimiser steps per image (default: {d.steps})")
    p.add_argument("--sentiment", choices=SENTIMENT_LABELS, default=None,
                   help="also steer the captions toward this sentiment (default: none)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="auto, cpu, cuda, mps (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.add_argument("--notebook", default=None, metavar="NB",
                   help="instead: run this notebook with SEED=--seed through papermill into OUT/NB.html")
    p.set_defaults(run=run_demo)


_positive, _non_negative = int_at_least(1), int_at_least(0)  # argparse types shared with `fuse-edu caption`


def _fail(message: str, code: int) -> int:
    print(f"fuse-edu demo: error: {message}", file=sys.stderr)
    return code


def run_demo(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    out = Path(args.out)
    if args.notebook is not None:
        return _render(Path(args.notebook), out, args.seed, start)
    try:
        device = pick_device(args.device)
        if args.paths:
            scan = scan_images(args.paths)
            for path in scan.skipped:
                print(f"fuse-edu demo: warning: skipping {path}: not an image", file=sys.stderr)
            if not scan.readable:
                return _fail("no readable image: " + "; ".join(scan.unreadable.values()), EXIT_BAD_INPUT)
        check_writable(out / "captions.csv")
    except OSError as error:
        return _fail(f"cannot write to --out {out}: {error}", EXIT_BAD_INPUT)
    except (RuntimeError, ValueError) as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    from fuse_edu.toyworld import caption

    scenes = {} if args.paths else render_scenes(out / "scenes", args.n, args.seed)
    files = scan.files if args.paths else list(scenes)
    truths = {str(path): caption(scene) for path, scene in scenes.items()}
    settings = CaptionSettings(steps=args.steps, seed=args.seed, sentiment=args.sentiment)
    print(f"fuse-edu demo: captioning {len(files)} images (preset toy, {settings.method}, up to {settings.steps} "
          f"steps, device {device}) ...", flush=True)
    try:
        captioner = Captioner("toy", settings, device=device, progress=not args.no_progress)
    except (OSError, NotImplementedError, RuntimeError, ValueError) as error:
        return _fail(f"{type(error).__name__}: {error}", EXIT_RUN_FAILED)
    columns = ["file", "caption", *(["truth"] if truths else []), *captioner.columns[2:]]
    with RowWriter(out / "captions.csv", columns) as writer:
        def on_row(row: dict) -> None:
            if truths:
                row["truth"] = truths[row["file"]]
            writer.write(row)
            if row["error"]:
                print(f"fuse-edu demo: error: {row['error']} (row written, other images go on)", file=sys.stderr)
        try:
            rows = caption_files(files, captioner, progress=not args.no_progress, on_row=on_row)
        except KeyboardInterrupt:
            return _fail(f"interrupted; {out / 'captions.csv'} keeps the finished rows", EXIT_INTERRUPTED)
        except (OSError, NotImplementedError, RuntimeError, ValueError) as error:
            return _fail(f"{type(error).__name__}: {error}", EXIT_RUN_FAILED)
    summary = summarise(rows, captioner, scenes, args, start)
    (out / "summary.md").write_text(summary, encoding="utf-8")
    print(summary, end="")
    return EXIT_SOME_FAILED if any(row["error"] for row in rows) else 0


def render_scenes(folder: Path, n: int, seed: int) -> dict[Path, Scene]:
    """``n`` single-object toy scenes as PNGs in ``folder`` (beside their ``captions.csv``): each file's scene."""
    import csv

    from fuse_edu.toyworld import caption, sample_scenes
    from fuse_edu.toyworld.render_cli import render_to_folder

    truth_csv = render_to_folder(folder, n, seed, objects=1)
    with truth_csv.open(newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    scenes = sample_scenes(n, seed, objects=1)  # the very scenes render_to_folder drew, in its row order
    assert [row["caption"] for row in written] == [caption(scene) for scene in scenes], "scene order changed"
    return {folder / row["file"]: scene for row, scene in zip(written, scenes)}


def summarise(rows: list[dict], captioner: Captioner, scenes: dict, args, start: float) -> str:
    """The summary as Markdown: captions (against the truth), accuracy, CLIPScore, sentiment, time."""
    from fuse_edu.caption import open_image
    from fuse_edu.metrics import attribute_accuracy, clip_score

    done = [row for row in rows if not row["error"]]
    s = captioner.settings
    lines = ["# fuse-edu demo", "",
             f"{len(rows)} images ({'toy scenes, seed %d' % args.seed if scenes else 'given paths'}), captioned by "
             f"{s.method} (up to {s.steps} steps, patience {s.patience}) on the toy preset"
             + (f", steered toward {s.sentiment} (weight {s.weights['sentiment']:g})" if s.sentiment else "") + ".", "",
             "| image | caption | " + ("truth |" if scenes else "error |"),
             "|---|---|---|"]
    for row in rows:
        third = row.get("truth", "") if scenes else (row["error"] or "")
        lines.append(f"| {Path(row['file']).name} | {row.get('caption') or ''} | {third} |")
    lines.append("")
    if done and scenes:
        acc = attribute_accuracy([r["caption"] for r in done], [scenes[Path(r["file"])] for r in done])
        n = len(done)
        lines.append(f"Attribute accuracy (first object, whole words): colour {_count(acc['color'], n)}, shape "
                     f"{_count(acc['shape'], n)}, colour and shape {_count(acc['color_shape'], n)}, "
                     f"size too {_count(acc['exact'], n)}.")
    if done:
        scores = clip_score(captioner.preset.clip, [open_image(Path(r["file"])) for r in done],
                            [r["caption"] for r in done])
        truth_scores = (clip_score(captioner.preset.clip, [open_image(Path(r["file"])) for r in done],
                                   [r["truth"] for r in done]) if scenes else None)
        lines.append(f"CLIPScore (toy CLIP, 2.5 max(cos, 0)): mean {scores.mean():.3f}"
                     + (f" (the true captions: {truth_scores.mean():.3f})." if scenes else "."))
        if s.sentiment:
            judged = captioner.preset.sentiment.predict([r["caption"] for r in done])
            hits = sum(label == s.sentiment for label in judged)
            lines.append(f"Sentiment: the preset's classifier judges {hits}/{len(done)} captions {s.sentiment}.")
        mean_s = sum(r["seconds"] for r in done) / len(done)
        lines.append(f"Time: {mean_s:.1f} s per image on average (the optimisation alone); "
                     f"{time.perf_counter() - start:.0f} s in all, models, adapters and scene rendering included.")
    failed = len(rows) - len(done)
    if failed:
        lines.append(f"{failed} of {len(rows)} images could not be read; see the error column.")
    where = f"Rows: {Path(args.out) / 'captions.csv'}" + (f"; scenes: {Path(args.out) / 'scenes'}/" if scenes else "")
    lines += ["", where, ""]
    return "\n".join(lines)


def _count(fraction: float, n: int) -> str:
    return f"{round(fraction * n)}/{n}"


def _render(notebook: Path, out: Path, seed: int, start: float) -> int:
    # looked up through fuse_edu.cli so that tests can wrap it there (tests/test_papermill.py)
    import fuse_edu.cli

    out_html = out / (notebook.stem + ".html")
    print(f"fuse-edu demo: running {notebook} offline (preset: toy) ...", flush=True)
    fuse_edu.cli.render_notebook(notebook, out_html, parameters={"SEED": seed})
    print(f"fuse-edu demo: wrote {out_html} in {time.perf_counter() - start:.0f} s")
    return 0
