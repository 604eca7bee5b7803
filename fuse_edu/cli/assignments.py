"""``fuse-edu assignments release|check|grade``: student copies, one notebook's points, a class folder's CSV.

Exit status: 0 done (``check``: full marks), 1 some points missed (``check``) or the source's own setup failed
in the grading kernel, 2 bad input, including no instructor's source folder for ``check`` and ``grade`` (an
installed wheel ships the student copies only).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from fuse_edu.assignments import (DEFAULT_TIMEOUT_S, RELEASE, SOURCE, copy_released, format_scores, grade_notebook,
                                  load_sources, release)
from fuse_edu.cli.common import EXIT_BAD_INPUT, EXIT_RUN_FAILED, fail, int_at_least

COMMAND = "assignments"
NO_SOURCE = ("grading needs the instructor's source folder (solutions and hidden tests); {} does not exist: "
             "pass --source DIR")


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def _sources(args: argparse.Namespace) -> dict:
    if not Path(args.source).is_dir():
        raise ValueError(NO_SOURCE.format(args.source))
    return load_sources(args.source)


def _release(args: argparse.Namespace) -> int:
    if Path(args.source).is_dir():
        written = release(args.outdir, args.source)
    elif args.source == str(SOURCE):
        written = copy_released(args.outdir)
        print(f"fuse-edu assignments: no source folder here; copied the shipped student copies from {RELEASE}")
    else:
        raise ValueError(f"assignment folder {args.source} does not exist")
    for path in written:
        print(f"fuse-edu assignments: released {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    graded = grade_notebook(args.notebook, _sources(args), timeout_s=args.timeout)
    print(format_scores(graded))
    return 0 if all(s.earned == s.points for s in graded.scores if s.earned is not None) else EXIT_RUN_FAILED


def _grade(args: argparse.Namespace) -> int:
    from fuse_edu.assignments.classroom import grade_class

    _sources(args)
    rows = grade_class(args.submissions, args.source, args.out, jobs=args.jobs, timeout_s=args.timeout,
                       feedback=args.feedback)
    totals = [r for r in rows if r["item"] == "total"]
    width = [max(len(r[key]) for r in totals) for key in ("student", "assignment")]
    for row in totals:
        print(f"{row['student']:<{width[0]}}  {row['assignment']:<{width[1]}}  {row['earned']} / {row['points'] or '?'}"
              f"  {row['status']}")
    print(f"fuse-edu assignments: graded {len(totals)} submissions -> {args.out}"
          + (f"; feedback in {args.feedback}" if args.feedback else ""))
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        return args.assignment_run(args)
    except ValueError as error:
        return fail(COMMAND, str(error), EXIT_BAD_INPUT)
    except RuntimeError as error:  # the source's own setup failed or timed out in the grading kernel
        return fail(COMMAND, str(error), EXIT_RUN_FAILED)


def _add_grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default=str(SOURCE),
                        help="the instructor's folder of assignments with solutions and hidden tests "
                             "(default: notebooks/assignments/source)")
    parser.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds per cell, > 0 (default: {DEFAULT_TIMEOUT_S:g})")


def add_assignments_command(commands: argparse._SubParsersAction) -> None:
    """Register ``assignments release|check|grade`` on the top-level ``fuse-edu`` parser."""
    p = commands.add_parser("assignments", help="classroom assignments: release student copies, grade submissions",
                            description="Assignments in nbgrader markup: write student copies (solutions "
                                        "stubbed, hidden tests removed, outputs cleared) and grade submissions "
                                        "against the instructor's source, each in an isolated kernel.")
    sub = p.add_subparsers(dest="assignments_command", required=True)
    r = sub.add_parser("release", help="write student copies: solutions stubbed, hidden tests removed, outputs cleared",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  fuse-edu assignments release student/")
    r.add_argument("outdir", metavar="OUTDIR", help="folder for the student copies (created if missing)")
    r.add_argument("--source", default=str(SOURCE),
                   help="folder of assignments with solutions (default: notebooks/assignments/source; where it is "
                        "absent, the shipped student copies are copied)")
    r.set_defaults(run=_run, assignment_run=_release)
    c = sub.add_parser("check", help="grade one filled-in copy and print the points per item",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  fuse-edu assignments check student/01_tprod_fft.ipynb\n\n"
                              "exit status: 0 full marks, 1 some points missed, 2 not an assignment or bad input")
    c.add_argument("notebook", metavar="NOTEBOOK", help="an assignment notebook, usually a student's filled-in copy")
    _add_grading_options(c)
    c.set_defaults(run=_run, assignment_run=_check)
    g = sub.add_parser("grade", help="grade every submission in a folder, in parallel; write a CSV and feedback",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  fuse-edu assignments grade submitted/ --out grades.csv --feedback feedback/"
                              "\n\nSUBMISSIONS_DIR holds STUDENT/NOTEBOOK.ipynb or STUDENT_NOTEBOOK.ipynb files")
    g.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="folder of submitted notebooks")
    g.add_argument("--out", required=True, help="CSV to write: one row per student and item, plus totals")
    g.add_argument("--jobs", type=int_at_least(1), default=None, help="submissions graded at once (default: cores)")
    g.add_argument("--feedback", default=None, help="folder for a feedback page per submission (STUDENT/ASSIGNMENT.html)")
    _add_grading_options(g)
    g.set_defaults(run=_run, assignment_run=_grade)
