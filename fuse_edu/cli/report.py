"""``fuse-edu report IMAGES --out report.html``: caption a folder of images into one self-contained HTML report.

The template's parameters are set with ``-p NAME VALUE`` and checked before its kernel starts: unknown
names are refused with the declared list, and the caption settings they make are checked as ``caption``
checks its own (``CaptionSettings.check``). The HTML opens offline and shows the template's outputs, its code
cells only with ``--show-code``.

Exit status: 0 written; 1 the template failed or timed out (the HTML is still written and shows where);
2 bad input (no images, an unknown parameter, a value of the wrong type).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fuse_edu.captioning import CaptionSettings, check_writable
from fuse_edu.cli.caption import SENTIMENT, SENTIMENT_LABELS
from fuse_edu.cli.common import EXIT_RUN_FAILED, fail, int_at_least
from fuse_edu.report import (DEFAULT_TIMEOUT_S, TEMPLATE, NotebookFailed, build_report, declared_parameters,
                             resolve_parameters)
from fuse_edu.runtime import pick_device

COMMAND = "report"


def check_values(parameters: dict[str, object], declared: dict[str, object]) -> None:
    """What the template would only refuse once its kernel and models have started: the caption settings
    the parameters make (``CaptionSettings.check``) and a DEVICE this machine lacks."""
    from fuse_edu.models import DEFAULT_PRESET, preset_spec

    given = {**declared, **parameters}
    if "N_SCENES" in parameters:
        raise ValueError("N_SCENES only applies when IMAGES is empty (papermill directly); "
                         "fuse-edu report captions the IMAGES folder it is given")
    if given.get("DEVICE") is not None:
        try:
            pick_device(given["DEVICE"])
        except (RuntimeError, ValueError) as error:
            raise ValueError(f"DEVICE: {error}") from None
    for name in ("STEPS", "SEED", "BUDGET"):
        value = given.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    settings = CaptionSettings(method=given.get("METHOD") or CaptionSettings().method, strategy=given.get("STRATEGY"),
                               steps=given.get("STEPS", CaptionSettings().steps), budget=given.get("BUDGET"),
                               seed=given.get("SEED", 0), vocabulary=given.get("VOCABULARY"),
                               adapter=given.get("ADAPTER") or CaptionSettings().adapter,
                               labels={SENTIMENT: given["SENTIMENT"]} if given.get("SENTIMENT") else {})
    if given.get("SENTIMENT") not in (None, "", *SENTIMENT_LABELS):
        raise ValueError(f"SENTIMENT {given['SENTIMENT']!r} is not one of {', '.join(SENTIMENT_LABELS)} "
                         f"(or None for plain captions)")
    settings.check(preset_spec(given.get("PRESET") or DEFAULT_PRESET))


def run_report(args: argparse.Namespace) -> int:
    if Path(args.out).suffix.lower() != ".html":
        return fail(COMMAND, f"--out must end in .html, got {args.out!r}")
    try:
        check_writable(Path(args.out))                       # before a kernel starts, as `caption` does
        check_writable(Path(args.out).with_suffix(".ipynb"))  # the executed notebook is kept beside the HTML
    except OSError as error:
        return fail(COMMAND, f"cannot write --out {args.out}: {error}")
    try:
        declared = declared_parameters(args.template)
        parameters = resolve_parameters([tuple(p) for p in args.parameter], declared)
        if "IMAGES" in parameters:
            raise ValueError("IMAGES is the command's first argument; do not pass it with -p")
        if Path(args.template).resolve() == TEMPLATE.resolve():
            check_values(parameters, declared)
        start = time.perf_counter()
        print(f"fuse-edu report: running {Path(args.template).name} on {args.images} "
              f"(per-cell timeout {args.timeout} s) ...", file=sys.stderr, flush=True)
        out = build_report(args.images, args.out, parameters, template=args.template, timeout_s=args.timeout,
                           progress=not args.no_progress, show_code=args.show_code)
    except ValueError as error:
        return fail(COMMAND, str(error))
    except NotebookFailed as error:
        return fail(COMMAND, f"{error} (cause: {error.__cause__})"[:4000], EXIT_RUN_FAILED)
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
               "  fuse-edu report scenes/ --out r.html -p METHOD random -p BUDGET 2000 -p SEED 1\n"
               "  fuse-edu report scenes/ --out r.html -p VOCABULARY open -p ADAPTER none\n"
               "  fuse-edu report scenes/ --out r.html --show-code   # the template's code too\n\n"
               "exit status: 0 written, 1 the template failed (the HTML shows where), 2 bad input")
    p.add_argument("images", metavar="IMAGES", help="folder of images (captions.csv beside them adds metrics)")
    p.add_argument("--out", required=True, help="the HTML file to write; the executed notebook goes beside it")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a template parameter, repeatable: "
                        "PRESET METHOD STRATEGY STEPS BUDGET SEED SENTIMENT VOCABULARY ADAPTER DEVICE")
    p.add_argument("--timeout", type=int_at_least(1), default=DEFAULT_TIMEOUT_S,
                   help=f"seconds any one cell may run (default: {DEFAULT_TIMEOUT_S})")
    p.add_argument("--template", default=str(TEMPLATE), help="the papermill template (default: notebooks/report.ipynb)")
    p.add_argument("--show-code", action="store_true", help="keep the template's code cells (default: outputs only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=run_report)
