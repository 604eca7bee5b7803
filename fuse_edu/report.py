"""``fuse-edu report IMAGES --out report.html``: caption a folder of images into one self-contained HTML report.

The report is the papermill template ``notebooks/report.ipynb``: it captions every image with FUSE-guided
prompt optimisation and shows each image with its caption, a results table (file, caption, losses,
time), the loss curves, metrics against the toy world's truth when the folder has a ``captions.csv``
(``fuse-edu toyworld render`` writes one), and the environment (versions, device). This module checks
the input, runs the template (papermill, a per-cell timeout) and converts it (nbconvert, images as data
URIs, no script from a CDN: the file opens offline). It also holds the small HTML helpers the template
calls, so they are tested here rather than in a notebook.

Parameters are the template's ``parameters`` cell: IMAGES, PRESET, METHOD, STRATEGY, STEPS, BUDGET,
SEED, SENTIMENT, DEVICE. ``-p NAME VALUE`` sets one; a name the template does not declare is refused
with the declared list, and a value is read as the type of its default (``-p STEPS 20`` is an int).

Papermill directly, without this command (same template, same parameters)::

    papermill notebooks/report.ipynb out/report.ipynb -p IMAGES "$PWD/scenes" -p STEPS 20 \\
        --execution-timeout 600
    papermill notebooks/report.ipynb out/report.ipynb -f params.yaml --execution-timeout 600
    jupyter nbconvert --to html --embed-images out/report.ipynb

with ``params.yaml`` holding e.g. ``IMAGES: /abs/path/scenes`` and ``METHOD: random``. Give IMAGES as an
absolute path: papermill runs the template in ``notebooks/``. Papermill checks no names (an unknown one
is injected and ignored, with a warning), and nbconvert's default template loads require.js and
MathJax from a CDN; ``fuse-edu report`` does both checks and writes an offline file.

Exit status: 0 written; 1 the template failed or timed out (the HTML is still written and shows where);
2 bad input (no images, an unknown parameter, a value of the wrong type).
"""

from __future__ import annotations

import argparse
import ast
import base64
import csv
import html
import io
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fuse_edu.caption_cli import check_writable
from fuse_edu.render import REPO_NOTEBOOKS

TEMPLATE = REPO_NOTEBOOKS / "report.ipynb"
DEFAULT_TIMEOUT_S = 600  # per cell; papermill has none by default
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


# ---------------------------------------------------------------------- parameters


def declared_parameters(template: str | Path = TEMPLATE) -> dict[str, object]:
    """{name: default value} of the template's ``parameters`` cell, read by papermill's ``inspect_notebook``."""
    from papermill import inspect_notebook

    declared = inspect_notebook(str(template))
    if not declared:
        raise ValueError(f"{template} has no cell tagged 'parameters'; it is not a report template")
    return {name: ast.literal_eval(p["default"]) for name, p in declared.items()}


def parse_value(name: str, text: str, default: object) -> object:
    """``text`` read as the type of ``default``: int, float, bool or str; a None default takes a Python
    literal (``2000``, ``None``) or else the text itself. A ValueError names the parameter and the type."""
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"parameter {name} expects True or False, got {text!r}")
        return lowered == "true"
    if isinstance(default, (int, float)):
        kind = type(default)
        try:
            return kind(text)
        except ValueError:
            what = "an int" if kind is int else "a number"
            raise ValueError(f"parameter {name} expects {what}, got {text!r}") from None
    if default is None:
        if text == "None":
            return None
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        return value if isinstance(value, (int, float, str)) else text
    return text


def check_names(names, declared: dict[str, object]) -> None:
    """A ValueError naming every parameter the template does not declare, and listing the declared ones."""
    unknown = sorted(set(names) - set(declared))
    if unknown:
        raise ValueError(f"the report template does not declare {', '.join(unknown)}; "
                         f"declared parameters: {', '.join(declared)}")


def resolve_parameters(pairs: list[tuple[str, str]], declared: dict[str, object]) -> dict[str, object]:
    """``-p NAME VALUE`` pairs as values of their defaults' types; undeclared names are refused (``check_names``)."""
    check_names([name for name, _ in pairs], declared)
    return {name: parse_value(name, text, declared[name]) for name, text in pairs}


def check_values(parameters: dict[str, object]) -> None:
    """Names and numbers the template would only refuse after its kernel and models have started: a preset,
    method or strategy that does not exist, a negative STEPS or SEED, a BUDGET below one step, a SENTIMENT
    label the toy world does not have, a DEVICE this machine lacks."""
    from fuse_edu.caption import CaptionSettings, check_budget
    from fuse_edu.caption_cli import PRESET_NAMES
    from fuse_edu.optim import METHODS, STRATEGIES
    from fuse_edu.runtime import pick_device
    from fuse_edu.toyworld import SENTIMENTS

    for name, accepted in (("PRESET", PRESET_NAMES), ("METHOD", tuple(METHODS)), ("STRATEGY", tuple(STRATEGIES))):
        value = parameters.get(name)
        if value is not None and value not in accepted:
            raise ValueError(f"{name} {value!r} is not one of {', '.join(accepted)}")
    for name, least in (("STEPS", 0), ("SEED", 0), ("BUDGET", 1)):
        value = parameters.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    sentiment = parameters.get("SENTIMENT")
    if sentiment not in (None, "", *SENTIMENTS):
        raise ValueError(f"SENTIMENT {sentiment!r} is not one of {', '.join(SENTIMENTS)} (or None for plain captions)")
    if parameters.get("DEVICE") is not None:
        try:
            pick_device(parameters["DEVICE"])
        except (RuntimeError, ValueError) as error:
            raise ValueError(f"DEVICE: {error}") from None
    if parameters.get("BUDGET") is not None:
        check_budget(parameters.get("METHOD") or CaptionSettings().method, parameters["BUDGET"],
                     CaptionSettings().candidates_per_step)


# ---------------------------------------------------------------------- the run


def build_report(images: str | Path, out_html: str | Path, parameters: dict | None = None,
                 template: str | Path = TEMPLATE, timeout_s: int = DEFAULT_TIMEOUT_S,
                 progress: bool = True) -> Path:
    """Check the input, run the template on the images in ``images`` and write ``out_html``.

    ValueError: no images, an unreadable one, or a parameter the template does not declare.
    ``fuse_edu.render.NotebookFailed``: the template failed; the HTML showing the failure is written.
    """
    from fuse_edu.caption import find_images
    from fuse_edu.render import render_notebook

    folder = Path(images)
    if not folder.is_dir():
        raise ValueError(f"IMAGES must be a folder of images, got {str(images)!r}")
    find_images([folder])  # an empty folder or an unreadable image fails here, in a second, before any model loads
    declared = declared_parameters(template)
    parameters = dict(parameters or {})
    check_names(parameters, declared)
    parameters["IMAGES"] = str(folder.resolve())  # papermill runs the template in its own folder
    return render_notebook(template, out_html, parameters, timeout_s=timeout_s, offline=True, progress=progress)


# ---------------------------------------------------------------------- what the template shows


def png_data_uri(image) -> str:
    """A PIL image as a ``data:image/png;base64,...`` URI: the HTML carries the pixels itself."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def gallery_html(paths: list[Path], captions: list[str], truths: dict[str, str] | None = None,
                 width: int = 128) -> str:
    """Every image (embedded, scaled to ``width`` px, pixelated so small scenes stay sharp) above its caption,
    and the true caption below when it is known."""
    from fuse_edu.caption import open_image

    truths = truths or {}
    figures = []
    for path, text in zip(paths, captions, strict=True):
        truth = truths.get(Path(path).name)
        below = f'<br><span style="color:#666">truth: {html.escape(truth)}</span>' if truth else ""
        figures.append(
            f'<figure style="display:inline-block;margin:6px;text-align:center;width:{width + 40}px">'
            f'<img src="{png_data_uri(open_image(Path(path)))}" alt="{html.escape(text)}" width="{width}" '
            f'style="image-rendering:pixelated">'
            f'<figcaption><code>{html.escape(Path(path).name)}</code><br><b>{html.escape(text)}</b>{below}'
            f'</figcaption></figure>')
    return "<div>" + "".join(figures) + "</div>"


def table_html(rows: list[dict], digits: int = 4) -> str:
    """One HTML table row per dict, columns in first-seen order; floats rounded to ``digits``."""
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value) -> str:
        return f"{value:.{digits}f}" if isinstance(value, float) else html.escape(str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass(frozen=True)
class Truth:
    """One row of ``captions.csv``: a toy scene's true caption and its first object's attributes. It has
    ``attributes()`` like a ``Scene``, which is all ``fuse_edu.metrics.attribute_accuracy`` reads."""

    caption: str
    color: str
    shape: str
    size: str
    position: str

    def attributes(self) -> dict[str, str]:
        return {"color": self.color, "shape": self.shape, "size": self.size, "position": self.position}


def read_truth(folder: str | Path) -> dict[str, Truth]:
    """{file name: Truth} from ``captions.csv`` in ``folder`` (as ``fuse-edu toyworld render`` writes it);
    empty when there is none. A CSV without the expected columns is a ValueError naming them."""
    path = Path(folder) / "captions.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    needed = {"file", *Truth.__dataclass_fields__}
    if rows and not needed <= set(rows[0]):
        raise ValueError(f"{path} lacks the columns {', '.join(sorted(needed - set(rows[0])))}; "
                         f"expected those of `fuse-edu toyworld render`")
    return {row["file"]: Truth(**{k: row[k] for k in Truth.__dataclass_fields__}) for row in rows}


def environment_info(device) -> dict[str, str]:
    """What produced the report: versions, device, threads, platform, time (UTC)."""
    import torch
    import transformers

    import fuse_edu

    return {"fuse_edu": fuse_edu.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "device": str(device),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
            "torch threads": str(torch.get_num_threads()), "platform": platform.platform(),
            "written (UTC)": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}


# ---------------------------------------------------------------------- command line


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _fail(message: str, code: int) -> int:
    print(f"fuse-edu report: error: {message}", file=sys.stderr)
    return code


def run_report(args: argparse.Namespace) -> int:
    from fuse_edu.render import NotebookFailed

    if Path(args.out).suffix.lower() != ".html":
        return _fail(f"--out must end in .html, got {args.out!r}", EXIT_BAD_INPUT)
    try:
        check_writable(Path(args.out))                       # before a kernel starts, as `caption` does
        check_writable(Path(args.out).with_suffix(".ipynb"))  # the executed notebook is kept beside the HTML
    except OSError as error:
        return _fail(f"cannot write --out {args.out}: {error}", EXIT_BAD_INPUT)
    try:
        declared = declared_parameters(args.template)
        parameters = resolve_parameters([tuple(p) for p in args.parameter], declared)
        if "IMAGES" in parameters:
            raise ValueError("IMAGES is the command's first argument; do not pass it with -p")
        if Path(args.template).resolve() == TEMPLATE.resolve():
            check_values(parameters)
        start = time.perf_counter()
        print(f"fuse-edu report: running {Path(args.template).name} on {args.images} "
              f"(per-cell timeout {args.timeout} s) ...", file=sys.stderr, flush=True)
        out = build_report(args.images, args.out, parameters, template=args.template, timeout_s=args.timeout,
                           progress=not args.no_progress)
    except ValueError as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    except NotebookFailed as error:
        return _fail(f"{error} (cause: {error.__cause__})"[:4000], EXIT_FAILED)
    print(f"fuse-edu report: wrote {out} in {time.perf_counter() - start:.0f} s")
    return 0


def add_report_command(commands: argparse._SubParsersAction) -> None:
    """Register ``report`` on the top-level ``fuse-edu`` parser."""
    p = commands.add_parser(
        "report", help="caption a folder of images and write a self-contained HTML report",
        description="Caption every image in a folder and write one self-contained HTML report (papermill "
                    "template notebooks/report.ipynb; opens offline).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  fuse-edu toyworld render --n 3 --out scenes/\n"
               "  fuse-edu report scenes/ --out report.html\n"
               "  fuse-edu report scenes/ --out r.html -p METHOD random -p BUDGET 2000 -p SEED 1\n\n"
               "exit status: 0 written, 1 the template failed (the HTML shows where), 2 bad input")
    p.add_argument("images", metavar="IMAGES", help="folder of images (captions.csv beside them adds metrics)")
    p.add_argument("--out", required=True, help="the HTML file to write; the executed notebook goes beside it")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a template parameter, repeatable: "
                        "PRESET METHOD STRATEGY STEPS BUDGET SEED SENTIMENT DEVICE")
    p.add_argument("--timeout", type=_positive_int, default=DEFAULT_TIMEOUT_S,
                   help=f"seconds any one cell may run (default: {DEFAULT_TIMEOUT_S})")
    p.add_argument("--template", default=str(TEMPLATE), help="the papermill template (default: notebooks/report.ipynb)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=run_report)
