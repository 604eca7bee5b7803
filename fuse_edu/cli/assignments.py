"""``fuse-edu assignments release OUTDIR`` and ``fuse-edu assignments check NOTEBOOK``.

Exit status: 0 done (``check``: full marks), 1 some points missed, 2 not an assignment or bad input.
"""

from __future__ import annotations

import argparse

from fuse_edu.assignments import DEFAULT_TIMEOUT_S, SOURCE, format_scores, grade, release
from fuse_edu.cli.common import EXIT_BAD_INPUT, EXIT_RUN_FAILED, fail, int_at_least

COMMAND = "assignments"


def _release(args: argparse.Namespace) -> int:
    for path in release(args.outdir, args.source):
        print(f"fuse-edu assignments: released {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    scores = grade(args.notebook, None if args.own_tests else args.source, timeout_s=args.timeout)
    print(format_scores(args.notebook, scores))
    return 0 if all(s.earned == s.points for s in scores) else EXIT_RUN_FAILED


def _run(args: argparse.Namespace) -> int:
    try:
        return args.assignment_run(args)
    except ValueError as error:
        return fail(COMMAND, str(error), EXIT_BAD_INPUT)


def add_assignments_command(commands: argparse._SubParsersAction) -> None:
    """Register ``assignments release`` and ``assignments check`` on the top-level ``fuse-edu`` parser."""
    p = commands.add_parser("assignments", help="classroom assignments: release student copies, autograde copies",
                            description="Assignments in nbgrader markup: write student copies (solutions "
                                        "stubbed, hidden tests removed, outputs cleared) and autograde copies.")
    sub = p.add_subparsers(dest="assignments_command", required=True)
    r = sub.add_parser("release", help="write student copies: solutions stubbed, hidden tests removed, outputs cleared",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  fuse-edu assignments release student/")
    r.add_argument("outdir", metavar="OUTDIR", help="folder for the student copies (created if missing)")
    r.add_argument("--source", default=str(SOURCE),
                   help="folder of assignments with solutions (default: notebooks/assignments)")
    r.set_defaults(run=_run, assignment_run=_release)
    c = sub.add_parser("check", help="execute a filled-in copy and print the points per question",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  fuse-edu assignments check student/01_tprod_fft.ipynb\n\n"
                              "exit status: 0 full marks, 1 some points missed, 2 not an assignment or bad input")
    c.add_argument("notebook", metavar="NOTEBOOK", help="an assignment notebook, usually a student's filled-in copy")
    c.add_argument("--source", default=str(SOURCE),
                   help="folder of the original assignments whose tests (hidden ones too) are run "
                        "(default: notebooks/assignments)")
    c.add_argument("--own-tests", action="store_true", help="run the notebook's own tests, not the source's")
    c.add_argument("--timeout", type=int_at_least(1), default=DEFAULT_TIMEOUT_S,
                   help=f"seconds per cell (default: {DEFAULT_TIMEOUT_S})")
    c.set_defaults(run=_run, assignment_run=_check)
