"""nbgrader's markup in assignment notebooks, and releasing student copies from it.

The instructor's notebooks in ``notebooks/assignments/source/`` (solutions and hidden tests) use nbgrader's
own markup, so nbgrader can run them as they are (``nbgrader generate_assignment``); ``release`` is the small
offline version of that step and writes the student copies (``notebooks/assignments/release/`` holds them).

- **Solution cell**: cell metadata ``nbgrader: {solution: true, grade: false, locked: false, grade_id}``.
  The lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` are the teacher's answer.
- **Graded test cell**: ``nbgrader: {grade: true, solution: false, locked: true, points, grade_id}``.
  It earns its points when it runs without an error. Lines from ``### BEGIN HIDDEN TESTS`` to
  ``### END HIDDEN TESTS`` are tests the students do not see.
- **Written answer** (manual grading): a markdown cell with ``nbgrader: {solution: true, grade: true, points}``;
  its solution region holds the rubric. It is never auto-scored.

``release(source, out)`` writes student copies the way nbgrader's ClearSolutions, ClearHiddenTests and
ClearOutput preprocessors do: every solution region becomes ``# YOUR CODE HERE`` /
``raise NotImplementedError()`` at the region's indentation, a solution cell without a region becomes that
stub entirely (markdown: ``YOUR ANSWER HERE``), hidden tests are cut out, outputs are cleared.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from fuse_edu.report import REPO_NOTEBOOKS

SOURCE = REPO_NOTEBOOKS / "assignments" / "source"     # instructor copies: absent from an installed wheel
RELEASE = REPO_NOTEBOOKS / "assignments" / "release"   # the student copies, as ``release`` writes them
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"   # nbgrader's default stub for Python
TEXT_STUB = "YOUR ANSWER HERE"


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_graded(cell) -> bool:
    return bool(nbgrader_meta(cell).get("grade"))


def is_manual(cell) -> bool:
    """A written answer graded by hand: a markdown cell that is both solution and graded."""
    return cell.cell_type == "markdown" and is_solution(cell) and is_graded(cell)


def is_test(cell) -> bool:
    """An autograded test: a graded code cell that is not a solution."""
    return cell.cell_type == "code" and is_graded(cell) and not is_solution(cell)


def read_assignment(path: str | Path, require_graded: bool = True):
    """The notebook at ``path``; a ValueError unless it is one (a readable notebook with graded cells; with
    ``require_graded=False``, any nbgrader cell: a submission whose graded cells were all deleted still is one)."""
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
    if not any(is_graded(cell) if require_graded else nbgrader_meta(cell) for cell in nb.cells):
        raise ValueError(f"{path} is not an assignment: no cell has nbgrader metadata with grade: true "
                         f"(graded test cells)")
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


def copy_released(out: str | Path, released: str | Path = RELEASE) -> list[Path]:
    """Copy the shipped student copies in ``released`` into ``out`` (where no source folder is at hand, as in an
    installed wheel); returns the written paths."""
    import shutil

    released, out = Path(released), Path(out)
    paths = sorted(released.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no student copies in {released}")
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(path, out / path.name)) for path in paths]
