"""Autograding an assignment: run a copy in a fresh kernel and score each graded cell.

When an assignment of the same file name is in the source folder, its graded cells replace the copy's (by
``grade_id``) before running, as nbgrader's autograde does: hidden tests count, and a test edited or
deleted in the copy does not help.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from fuse_edu.assignments.markup import SOURCE, is_graded, nbgrader_meta, read_assignment

DEFAULT_TIMEOUT_S = 300  # per cell


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
