"""Classroom assignments in nbgrader markup: release student copies, autograde filled-in ones.

The notebooks in ``notebooks/assignments/`` use nbgrader's own markup, so nbgrader can run them as
they are (``nbgrader generate_assignment`` / ``autograde``); this module is the small offline version
of those two steps for a class without an nbgrader server.

- **Solution cell**: cell metadata ``nbgrader: {solution: true, grade: false, locked: false, grade_id}``.
  The lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` are the teacher's answer.
- **Graded test cell**: ``nbgrader: {grade: true, solution: false, locked: true, points, grade_id}``.
  It earns its points when it runs without an error. Lines from ``### BEGIN HIDDEN TESTS`` to
  ``### END HIDDEN TESTS`` are tests the students do not see.

``release(source, out)`` writes student copies the way nbgrader's ClearSolutions, ClearHiddenTests and
ClearOutput preprocessors do: every solution region becomes ``# YOUR CODE HERE`` /
``raise NotImplementedError()`` at the region's indentation, a solution cell without a region becomes that
stub entirely (markdown: ``YOUR ANSWER HERE``), hidden tests are cut out, outputs are cleared.

``grade(notebook)`` executes a copy in a fresh ``python3`` kernel, carrying on past errors, and scores
each graded cell. When an assignment of the same file name is in the source folder, its graded cells
replace the copy's (by ``grade_id``) before running, as nbgrader's autograde does: hidden tests count,
and a test edited or deleted in the copy does not help.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from fuse_edu.render import REPO_NOTEBOOKS

SOURCE = REPO_NOTEBOOKS / "assignments"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"   # nbgrader's default stub for Python
TEXT_STUB = "YOUR ANSWER HERE"
DEFAULT_TIMEOUT_S = 300  # per cell
EXIT_NOT_FULL, EXIT_BAD_INPUT = 1, 2


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_graded(cell) -> bool:
    return bool(nbgrader_meta(cell).get("grade"))


def read_assignment(path: str | Path):
    """The notebook at ``path``; a ValueError unless it is one (a readable notebook with graded cells)."""
    import nbformat

    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    if not path.is_file() or path.suffix != ".ipynb":
        raise ValueError(f"{path} is not a notebook file (.ipynb)")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises several kinds for a file that is not a notebook
        raise ValueError(f"{path} is not a readable notebook ({type(error).__name__}: {error})") from None
    if not any(is_graded(cell) for cell in nb.cells):
        raise ValueError(f"{path} is not an assignment: no cell has nbgrader metadata with grade: true "
                         f"(graded test cells); see {SOURCE}")
    return nb


# ---------------------------------------------------------------------- release


def _cut_regions(source: str, begin: str, end: str, stub: str | None, where: str) -> tuple[str, int]:
    """``source`` with every begin..end line region (delimiter lines included) replaced by ``stub`` at the
    begin line's indentation, or dropped when ``stub`` is None; and how many regions there were."""
    kept, inside, count = [], False, 0
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise ValueError(f"{where}: '{begin}' inside another '{begin}' region")
            inside, count = True, count + 1
            if stub is not None:
                indent = re.match(r"\s*", line).group(0)
                kept.extend(indent + stub_line for stub_line in stub.split("\n"))
        elif end in line:
            if not inside:
                raise ValueError(f"{where}: '{end}' without a '{begin}' before it")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{where}: '{begin}' has no '{end}'")
    return "\n".join(kept), count


def student_copy(nb, name: str = "notebook"):
    """The student version of an assignment notebook (see the module docstring); ``nb`` is unchanged."""
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
        cell.source, solutions = _cut_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, stub, where)
        if solutions and not is_solution(cell):
            raise ValueError(f"{where}: a solution region in a cell without nbgrader solution metadata")
        if is_solution(cell) and not solutions:
            cell.source = stub
        cell.source, hidden = _cut_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, None, where)
        if hidden and not is_graded(cell):
            raise ValueError(f"{where}: hidden tests in a cell that is not a graded cell")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def release(out: str | Path, source: str | Path = SOURCE) -> list[Path]:
    """Write the student copy of every assignment in ``source`` into ``out``; returns the written paths."""
    import nbformat

    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise ValueError(f"assignment folder {source} does not exist")
    if out.resolve() == source.resolve():
        raise ValueError(f"OUTDIR {out} is the source folder: releasing there would overwrite the solutions")
    paths = sorted(source.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"assignment folder {source} holds no notebooks")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nbformat.write(student_copy(read_assignment(path), path.name), out / path.name)
        written.append(out / path.name)
    return written


# ---------------------------------------------------------------------- grading


@dataclass
class Score:
    grade_id: str
    points: float
    earned: float
    error: str = ""            # the test's error, "ename: evalue", when it failed


def restore_tests(nb, source_nb) -> list[str]:
    """Replace ``nb``'s graded cells by ``source_nb``'s of the same grade_id (hidden tests included);
    a graded cell missing from ``nb`` is appended at the end. Returns the grade_ids restored."""
    by_id = {nbgrader_meta(c)["grade_id"]: c for c in source_nb.cells if is_graded(c)}
    seen = set()
    for i, cell in enumerate(nb.cells):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in by_id:
            nb.cells[i] = copy.deepcopy(by_id[grade_id])
            seen.add(grade_id)
    nb.cells.extend(copy.deepcopy(c) for g, c in by_id.items() if g not in seen)
    return sorted(by_id)


def grade(path: str | Path, source: str | Path | None = SOURCE, timeout_s: int = DEFAULT_TIMEOUT_S) -> list[Score]:
    """Execute the assignment at ``path`` and score its graded cells (one ``Score`` per grade_id).

    ``source``: folder of the original assignments; the file of the same name there supplies the tests
    (see ``restore_tests``). None, or no such file: the copy's own tests are run.
    """
    from nbclient import NotebookClient

    path = Path(path)
    nb = read_assignment(path)
    original = Path(source) / path.name if source is not None else None
    if original is not None and original.is_file() and original.resolve() != path.resolve():
        restore_tests(nb, read_assignment(original))
    NotebookClient(nb, timeout=timeout_s, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    scores = []
    for cell in nb.cells:
        if not is_graded(cell):
            continue
        meta = nbgrader_meta(cell)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if cell.cell_type != "code":
            raise ValueError(f"{path}: graded cell {meta.get('grade_id')} is markdown; only code tests are autograded")
        error = f"{errors[0].ename}: {errors[0].evalue}" if errors else ""
        points = float(meta.get("points", 0))
        scores.append(Score(meta.get("grade_id", "?"), points, 0.0 if errors else points, error))
    return scores


def format_scores(name: str, scores: list[Score]) -> str:
    width = max(len(s.grade_id) for s in scores + [Score("total", 0, 0)])
    lines = [name]
    for s in scores:
        note = f"   {s.error[:160]}" if s.error else ""
        lines.append(f"  {s.grade_id:<{width}}  {s.earned:g} / {s.points:g}{note}")
    lines.append(f"  {'total':<{width}}  {sum(s.earned for s in scores):g} / {sum(s.points for s in scores):g}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- command line


def _release(args: argparse.Namespace) -> int:
    for path in release(args.outdir, args.source):
        print(f"fuse-edu assignments: released {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    scores = grade(args.notebook, None if args.own_tests else args.source, timeout_s=args.timeout)
    print(format_scores(args.notebook, scores))
    return 0 if all(s.earned == s.points for s in scores) else EXIT_NOT_FULL


def _run(args: argparse.Namespace) -> int:
    try:
        return args.assignment_run(args)
    except ValueError as error:
        print(f"fuse-edu assignments: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


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
    c.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S,
                   help=f"seconds per cell (default: {DEFAULT_TIMEOUT_S})")
    c.set_defaults(run=_run, assignment_run=_check)
