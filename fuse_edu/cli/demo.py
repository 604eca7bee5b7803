"""``fuse-edu demo``: the main job, offline. Render a few toy scenes, caption them with FUSE, say how it went.

With no image paths: ``--n`` toy scenes (seed ``--seed``) are rendered into ``OUT/scenes/``, captioned with
the default ``CaptionSettings`` on the default preset, and compared with their true captions. With paths:
those images are captioned (folders as in ``fuse-edu caption``). Either way ``OUT/captions.csv`` gets one
row per image as it finishes, and ``OUT/summary.md`` (also printed) gives the captions, their attribute
accuracy when the truth is known, the mean CLIPScore, what each steered classifier reads, the mean seconds
per image and the whole run's wall time; file names and captions in its table are escaped (``|``, line
breaks, HTML). An existing ``OUT/captions.csv`` is refused unless ``--resume`` (keep its rows, caption the
rest; the summary covers both) or ``--overwrite``. ``--notebook NB`` instead runs a walk-through notebook
through papermill into one HTML file that opens offline (formulas, figures and widgets embedded).

Exit status as ``fuse-edu caption``: 0 done, 1 a model failed to load or run, 2 bad input, 3 some images
could not be read, 130 interrupted.
"""

from __future__ import annotations

import argparse
import html
import re
import time
from pathlib import Path

from fuse_edu.captioning import (CaptionSettings, Captioner, RowsNotWritten, RowWriter, caption_files,
                                 check_not_an_input, check_writable, rows_to_keep, scan_images)
from fuse_edu.cli.caption import (SENTIMENT, SENTIMENT_LABELS, add_ablation_arguments, add_existing_out_arguments,
                                  warn_passed_over)
from fuse_edu.cli.common import EXIT_INTERRUPTED, EXIT_RUN_FAILED, EXIT_SOME_FAILED, fail, int_at_least, seed
from fuse_edu.models import DEFAULT_PRESET, preset_spec
from fuse_edu.report import notebook as notebook_runner
from fuse_edu.runtime import DEVICE_CHOICES, pick_device

COMMAND = "demo"
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
               "  fuse-edu demo --resume                 # after an interruption: only the scenes not in out/ yet\n"
               "  fuse-edu demo --notebook notebooks/01_tokenizer_alignment.ipynb   # a walk-through as HTML\n\n"
               "exit status: 0 done, 1 a model failed to load or run, 2 bad input, 3 some images unreadable")
    p.add_argument("paths", nargs="*", metavar="PATH", help="images or folders (default: render toy scenes)")
    p.add_argument("--out", default="out", help="output folder, created if missing (default: out)")
    p.add_argument("--n", type=int_at_least(1), default=DEFAULT_SCENES,
                   help=f"toy scenes to render when no PATH is given (default: {DEFAULT_SCENES})")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed for the scenes and the optimiser (default: 0)")
    p.add_argument("--steps", type=int_at_least(0), default=d.steps,
                   help=f"optimiser steps per image (default: {d.steps})")
    p.add_argument("--sentiment", choices=SENTIMENT_LABELS, default=None,
                   help="also steer the captions toward this sentiment (default: none)")
    add_ablation_arguments(p)
    add_existing_out_arguments(p, "OUT/captions.csv")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="auto, cpu, cuda, mps (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.add_argument("--notebook", default=None, metavar="NB",
                   help="instead: run this notebook with SEED=--seed through papermill into OUT/NB.html")
    p.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    out = Path(args.out)
    if args.notebook is not None:
        return _render(Path(args.notebook), out, args.seed, start)
    settings = CaptionSettings(steps=args.steps, seed=args.seed, vocabulary=args.vocabulary, adapter=args.adapter,
                               labels={SENTIMENT: args.sentiment} if args.sentiment else {})
    rows_file = out / "captions.csv"
    try:
        settings.check(preset_spec(DEFAULT_PRESET))
        device = pick_device(args.device)
        if args.paths:
            scan = scan_images(args.paths)
            warn_passed_over(COMMAND, scan)
            if not scan.readable:
                return fail(COMMAND, "no readable image: " + "; ".join(scan.unreadable.values()))
        check_not_an_input(rows_file, args.paths, "--out")
        kept = [_kept_row(row) for row in rows_to_keep(rows_file, args.resume, args.overwrite)]
        check_writable(rows_file)
    except OSError as error:
        return fail(COMMAND, f"cannot write to --out {out}: {error}")
    except (RuntimeError, ValueError) as error:
        return fail(COMMAND, str(error))
    from fuse_edu.toyworld import caption, render_scenes

    scenes = {} if args.paths else render_scenes(out / "scenes", args.n, args.seed)
    truths = {str(path): caption(scene) for path, scene in scenes.items()}
    other = next((row["file"] for row in kept if row.get("truth", "") != truths.get(row["file"], "")), None)
    if other is not None:
        return fail(COMMAND, f"{rows_file} holds a row for {other} from other scenes (another --seed or --n); "
                             f"use --overwrite or another --out")
    done_files = {row["file"] for row in kept}
    files = [path for path in (scan.files if args.paths else list(scenes)) if str(path) not in done_files]
    resumed = f" ({len(kept)} kept in {rows_file})" if kept else ""
    print(f"fuse-edu demo: captioning {len(files)} images{resumed} (preset {DEFAULT_PRESET}, {settings.method}, up "
          f"to {settings.steps} steps, device {device}) ...", flush=True)
    try:
        captioner = Captioner(DEFAULT_PRESET, settings, device=device, progress=not args.no_progress)
    except (OSError, NotImplementedError, RuntimeError, ValueError) as error:
        return fail(COMMAND, f"{type(error).__name__}: {error}", EXIT_RUN_FAILED)
    columns = ["file", "caption", *(["truth"] if truths else []), *captioner.columns[2:]]
    try:
        writer = RowWriter(rows_file, columns, resume=args.resume)
    except ValueError as error:  # resuming a file of other columns
        return fail(COMMAND, str(error))
    except RowsNotWritten as error:
        return fail(COMMAND, str(error), EXIT_RUN_FAILED)
    with writer:
        def on_row(row: dict) -> None:
            if truths:
                row["truth"] = truths[row["file"]]
            writer.write(row)
            if row["error"]:
                fail(COMMAND, f"{row['error']} (row written, other images go on)")
        try:
            rows = caption_files(files, captioner, progress=not args.no_progress, on_row=on_row)
        except KeyboardInterrupt:
            return fail(COMMAND, f"interrupted; {rows_file} keeps the finished rows", EXIT_INTERRUPTED)
        except RowsNotWritten as error:  # a full disk: the file holds every row before this one, none torn
            return fail(COMMAND, str(error), EXIT_RUN_FAILED)
        except (OSError, NotImplementedError, RuntimeError, ValueError) as error:
            return fail(COMMAND, f"{type(error).__name__}: {error}", EXIT_RUN_FAILED)
    rows = kept + rows
    summary = summarise(rows, captioner, scenes, args, start)
    (out / "summary.md").write_text(summary, encoding="utf-8")
    print(summary, end="")
    return EXIT_SOME_FAILED if any(row["error"] for row in rows) else 0


def summarise(rows: list[dict], captioner: Captioner, scenes: dict, args, start: float) -> str:
    """The summary as Markdown: captions (against the truth), accuracy, CLIPScore, steered labels, time."""
    from fuse_edu.captioning import open_image
    from fuse_edu.metrics import attribute_accuracy, clip_score
    from fuse_edu.models import DualEncoder

    done = [row for row in rows if not row["error"]]
    s, preset = captioner.settings, captioner.preset
    steered = "".join(f", steered toward {label} ({role} weight {captioner.weights[role]:g})"
                      for role, label in s.labels.items())
    lines = ["# fuse-edu demo", "",
             f"{len(rows)} images ({'toy scenes, seed %d' % args.seed if scenes else 'given paths'}), captioned by "
             f"{s.method} (up to {s.steps} steps, patience {s.patience}) on the {preset.name} preset, "
             f"{captioner.vocabulary} vocabulary, {s.adapter} adapters{steered}.", "",
             "| image | caption | " + ("truth |" if scenes else "error |"),
             "|---|---|---|"]
    for row in rows:
        third = row.get("truth", "") if scenes else (row["error"] or "")
        lines.append(f"| {cell(Path(row['file']).name)} | {cell(row.get('caption') or '')} | {cell(third)} |")
    lines.append("")
    if done and scenes:
        acc = attribute_accuracy([r["caption"] for r in done], [scenes[Path(r["file"])] for r in done])
        n = len(done)
        lines.append(f"Attribute accuracy (first object, whole words): colour {_count(acc['color'], n)}, shape "
                     f"{_count(acc['shape'], n)}, colour and shape {_count(acc['color_shape'], n)}, "
                     f"size too {_count(acc['exact'], n)}.")
    if done:
        images = [open_image(Path(r["file"])) for r in done]
        for role in (r for r, m in preset.models.items() if isinstance(m, DualEncoder)):
            scores = clip_score(preset.models[role], images, [r["caption"] for r in done])
            truth = clip_score(preset.models[role], images, [r["truth"] for r in done]) if scenes else None
            lines.append(f"CLIPScore ({preset.name} {role}, 2.5 max(cos, 0)): mean {scores.mean():.3f}"
                         + (f" (the true captions: {truth.mean():.3f})." if scenes else "."))
        for role, label in s.labels.items():
            judged = preset.models[role].predict([r["caption"] for r in done])
            hits = sum(answer == label for answer in judged)
            lines.append(f"{role.capitalize()}: the preset's classifier judges {hits}/{len(done)} captions {label}.")
        mean_s = sum(r["seconds"] for r in done) / len(done)
        lines.append(f"Time: {mean_s:.1f} s per image on average (the optimisation alone); "
                     f"{time.perf_counter() - start:.0f} s in all, models, adapters and scene rendering included.")
    failed = len(rows) - len(done)
    if failed:
        lines.append(f"{failed} of {len(rows)} images could not be read; see the error column.")
    where = f"Rows: {Path(args.out) / 'captions.csv'}" + (f"; scenes: {Path(args.out) / 'scenes'}/" if scenes else "")
    lines += ["", where, ""]
    return "\n".join(lines)


def cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: HTML escaped (``<script>`` shows as text), ``|`` escaped,
    and each line break written as a visible ``\\n`` so the row stays one line."""
    return re.sub(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]", r"\\n", html.escape(str(text))).replace("|", "\\|")


def _kept_row(row: dict) -> dict:
    """A row read back from ``captions.csv`` (all text) in the types ``caption_files`` gives."""
    return {**row, "error": row.get("error") or None, "seconds": float(row.get("seconds") or 0)}


def _count(fraction: float, n: int) -> str:
    return f"{round(fraction * n)}/{n}"


def _render(notebook: Path, out: Path, seed: int, start: float) -> int:
    """The ``--notebook`` run: papermill with SEED, then one HTML file (code shown) that opens offline."""
    out_html = out / (notebook.stem + ".html")
    if not notebook.is_file() or notebook.suffix != ".ipynb":
        return fail(COMMAND, f"--notebook {notebook} is not a notebook file (.ipynb)")
    try:
        check_writable(out_html)
    except OSError as error:
        return fail(COMMAND, f"cannot write to --out {out}: {error}")
    print(f"fuse-edu demo: running {notebook} offline (preset: {DEFAULT_PRESET}) ...", flush=True)
    try:
        notebook_runner.render_notebook(notebook, out_html, parameters={"SEED": seed})
    except ValueError as error:
        return fail(COMMAND, str(error))
    except notebook_runner.NotebookFailed as error:
        return fail(COMMAND, f"{error} (cause: {error.__cause__})"[:4000], EXIT_RUN_FAILED)
    print(f"fuse-edu demo: wrote {out_html} in {time.perf_counter() - start:.0f} s (opens offline)")
    return 0
