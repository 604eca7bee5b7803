"""Grading a class folder at once: every submission isolated and time-limited, in parallel across cores.

``grade_class(submissions, source, out_csv, jobs, timeout_s, feedback)``:

- finds every ``*.ipynb`` under ``submissions`` (checkpoints skipped). The student is the first folder
  below ``submissions`` (``alice/01_tprod_fft.ipynb``), or the file's name without ``.ipynb`` for a file
  directly in it (``alice_01_tprod_fft.ipynb``); which assignment a file is comes from its cells
  (``identity.match_assignment``), never its name;
- reads the source folder once, before any student code runs, and grades each submission with
  ``grade.grade_notebook`` in a pool of ``jobs`` processes (each submission gets its own kernel and folder);
- writes ``out_csv``: one row per student, submission and item, then a ``total`` row per submission, sorted by
  student and file; columns ``CSV_COLUMNS``. A written answer has an empty ``earned`` and the status
  "needs manual grading"; a file that cannot be graded at all gets one ``total`` row with status "not graded";
- with ``feedback``, writes ``feedback/STUDENT/ASSIGNMENT.html`` per submission (``feedback.feedback_html``);
  a student's second submission of the same assignment gets ``ASSIGNMENT-FILE.html``.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from fuse_edu.assignments.feedback import write_feedback
from fuse_edu.assignments.grade import DEFAULT_TIMEOUT_S, GradedSubmission, check_timeout, grade_notebook, load_sources

CSV_COLUMNS = ["student", "submission", "assignment", "item", "points", "earned", "status", "detail"]


def find_submissions(folder: str | Path) -> list[tuple[str, Path]]:
    """(student, path) of every notebook under ``folder``, sorted (module docstring for the student name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submissions folder {folder} does not exist")
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        relative = path.relative_to(folder)
        if ".ipynb_checkpoints" in relative.parts:
            continue
        found.append((relative.parts[0] if len(relative.parts) > 1 else path.stem, path))
    if not found:
        raise ValueError(f"submissions folder {folder} holds no notebooks (.ipynb)")
    return found


def _grade_one(path: Path, sources: dict, timeout_s: float) -> GradedSubmission | str:
    try:
        return grade_notebook(path, sources, timeout_s)
    except (ValueError, OSError, RuntimeError) as error:  # not an assignment, unreadable, a kernel that never started
        return str(error)


def rows_for(student: str, submission: str, graded: GradedSubmission | str) -> list[dict]:
    """The CSV rows of one submission (module docstring)."""
    if isinstance(graded, str):
        return [dict(student=student, submission=submission, assignment="", item="total", points="", earned=0,
                     status="not graded", detail=graded)]
    rows = [dict(student=student, submission=submission, assignment=graded.assignment, item=s.grade_id,
                 points=f"{s.points:g}", earned="" if s.earned is None else f"{s.earned:g}", status=s.status,
                 detail=s.detail) for s in graded.scores]
    manual = any(s.earned is None for s in graded.scores)
    rows.append(dict(student=student, submission=submission, assignment=graded.assignment, item="total",
                     points=f"{graded.points:g}", earned=f"{graded.earned:g}",
                     status="needs manual grading" if manual else "graded", detail="; ".join(graded.notes)))
    return rows


def grade_class(submissions: str | Path, source: str | Path, out_csv: str | Path, jobs: int | None = None,
                timeout_s: float = DEFAULT_TIMEOUT_S, feedback: str | Path | None = None,
                progress: bool = True) -> list[dict]:
    """Grade every submission under ``submissions`` (module docstring); returns the CSV rows written."""
    from tqdm.auto import tqdm

    timeout_s = check_timeout(timeout_s)
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    found = find_submissions(submissions)
    sources = load_sources(source)
    results: dict[Path, GradedSubmission | str] = {}
    context = multiprocessing.get_context("spawn")   # no forked copy of a parent's threads or open kernels
    with ProcessPoolExecutor(max_workers=min(jobs, len(found)), mp_context=context) as pool:
        futures = {pool.submit(_grade_one, path, sources, timeout_s): path for _, path in found}
        for future in tqdm(as_completed(futures), total=len(futures), desc="grading", unit="notebook",
                           disable=not progress, file=sys.stderr):
            try:
                results[futures[future]] = future.result()
            except Exception as error:  # the worker itself died (BrokenProcessPool): the row says so, no traceback
                results[futures[future]] = f"grading stopped: {type(error).__name__}: {error}"
    rows, pages = [], set()
    for student, path in found:
        rows.extend(rows_for(student, str(path.relative_to(submissions)), results[path]))
        if feedback is not None and not isinstance(results[path], str):
            page = results[path].assignment
            if (student, page) in pages:  # a second submission of one assignment: a page of its own
                page = f"{page}-{path.stem}"
            pages.add((student, page))
            write_feedback(results[path], student, feedback, page)
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows
