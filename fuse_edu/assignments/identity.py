"""Which assignment a submission is, and which source cell each submitted cell is: by ``grade_id``, never by
file name or position.

nbgrader keys every solution, test and written-answer cell by its ``grade_id`` and checks locked cells by a
checksum. Grading here does the same against the instructor's source:

- ``match_assignment`` picks the source assignment whose grade_ids the submission shares most (a file a
  learning platform renamed to ``alice_01_tprod_fft.ipynb`` is still assignment 01).
- ``check_cells`` returns the student's code for every solution cell that appears exactly once, and a
  problem for every source item that is missing (deleted, or its grade_id renamed), duplicated, or whose
  test cell was edited (checksum of type, grade_id, points and the released source). Graded cells the source
  does not have are listed as extras: they are reported and worth nothing.

Points, tests and hidden tests always come from the source; from the submission only solution code and
written answers are read.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from fuse_edu.assignments.markup import is_graded, is_manual, is_solution, nbgrader_meta, student_copy


def cell_checksum(cell) -> str:
    """sha256 over what a locked cell must keep: its type, grade_id, points, flags and source."""
    meta = nbgrader_meta(cell)
    key = [cell.cell_type, meta.get("grade_id"), float(meta.get("points", 0)), bool(meta.get("grade")),
           bool(meta.get("solution")), cell.source.strip()]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def grade_ids(nb) -> list[str]:
    """The grade_ids of every nbgrader cell of ``nb``, in order (repeats kept)."""
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("grade_id") is not None]


def match_assignment(nb, sources: dict, where: str = "submission") -> str:
    """The name (key of ``sources``) of the source assignment sharing most grade_ids with ``nb``.

    ValueError when it shares none with any, or ties between two (then the file cannot be told apart)."""
    mine = set(grade_ids(nb))
    overlap = sorted(((len(mine & set(grade_ids(src))), name) for name, src in sources.items()), reverse=True)
    if not overlap or overlap[0][0] == 0:
        raise ValueError(f"{where} shares no grade_id with any assignment in the source folder "
                         f"({', '.join(sorted(sources)) or 'none'})")
    if len(overlap) > 1 and overlap[1][0] == overlap[0][0]:
        raise ValueError(f"{where} matches assignments {overlap[0][1]} and {overlap[1][1]} equally well")
    return overlap[0][1]


@dataclass
class Matching:
    solutions: dict[str, str] = field(default_factory=dict)   # grade_id -> the student's code (solution cells)
    answers: dict[str, str] = field(default_factory=dict)     # grade_id -> the student's written answer
    problems: dict[str, str] = field(default_factory=dict)    # grade_id -> why that item scores zero
    extras: list[tuple[str, float]] = field(default_factory=list)  # (grade_id, claimed points) not in the source


def check_cells(submission, source) -> Matching:
    """Match ``submission``'s nbgrader cells to ``source``'s by grade_id (module docstring)."""
    released = {nbgrader_meta(c)["grade_id"]: c for c in student_copy(source).cells if nbgrader_meta(c)}
    original = {nbgrader_meta(c)["grade_id"]: cell_checksum(c) for c in source.cells if nbgrader_meta(c)}
    counts = Counter(grade_ids(submission))
    theirs = {nbgrader_meta(c)["grade_id"]: c for c in submission.cells if nbgrader_meta(c).get("grade_id")}
    result = Matching()
    for grade_id, expected in released.items():
        if counts[grade_id] == 0:
            result.problems[grade_id] = f"cell {grade_id!r} is missing (deleted, or its grade_id renamed)"
            continue
        if counts[grade_id] > 1:
            result.problems[grade_id] = f"cell {grade_id!r} appears {counts[grade_id]} times"
            continue
        cell = theirs[grade_id]
        if cell.cell_type != expected.cell_type or is_solution(cell) != is_solution(expected) \
                or is_graded(cell) != is_graded(expected):
            result.problems[grade_id] = f"cell {grade_id!r} changed type or nbgrader flags"
        elif is_manual(expected):
            result.answers[grade_id] = cell.source
        elif is_solution(expected):
            result.solutions[grade_id] = cell.source
        elif cell_checksum(cell) not in (cell_checksum(expected), original[grade_id]):  # a student's or the source
            result.problems[grade_id] = f"test cell {grade_id!r} was edited (checksum differs from the release)"
    for cell in submission.cells:
        meta = nbgrader_meta(cell)
        if is_graded(cell) and meta.get("grade_id") not in released:
            result.extras.append((str(meta.get("grade_id")), float(meta.get("points", 0) or 0)))
    return result
