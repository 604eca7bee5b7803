"""Assignments (``fuse_edu.assignments``): the sources are in nbgrader markup, released copies hold no solutions
and no outputs, markup errors are named, released copies fail until filled in. Grading runs notebook kernels:
those tests are ``slow``. (The ``fuse-edu assignments`` command: test_cli_assignments.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from fuse_edu.assignments import (BEGIN_HIDDEN, BEGIN_SOLUTION, CODE_STUB, END_SOLUTION, SOURCE, format_scores, grade,
                                  is_graded, is_solution, nbgrader_meta, read_assignment, release, restore_tests,
                                  student_copy)
from fuse_edu.assignments.grade import Score

SOURCES = sorted(SOURCE.glob("*.ipynb"))


def solution_lines(nb) -> set[str]:
    """Every non-blank line between BEGIN SOLUTION and END SOLUTION, and every hidden-test line."""
    lines, inside = set(), False
    for cell in nb.cells:
        for line in cell.source.split("\n"):
            if BEGIN_SOLUTION in line or BEGIN_HIDDEN in line:
                inside = True
            elif END_SOLUTION in line or "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip():
                lines.add(line.strip())
    return lines


def fill_in(released, source):
    """A released copy with every solution cell written back from the source (a perfect student)."""
    by_id = {nbgrader_meta(c)["grade_id"]: c.source for c in source.cells if is_solution(c)}
    for cell in released.cells:
        if is_solution(cell):
            cell.source = by_id[nbgrader_meta(cell)["grade_id"]]
    return released


def test_there_are_at_least_three_assignments_in_nbgrader_markup():
    assert len(SOURCES) >= 3
    for path in SOURCES:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.kernelspec.name == "python3"
        graded = [c for c in nb.cells if is_graded(c)]
        solutions = [c for c in nb.cells if is_solution(c)]
        assert graded and solutions, path.name
        ids = [nbgrader_meta(c)["grade_id"] for c in graded + solutions]
        assert len(ids) == len(set(ids)), f"{path.name}: grade_ids must be unique"
        for c in graded:  # what nbgrader itself requires of a graded test cell
            meta = nbgrader_meta(c)
            assert meta["locked"] and not meta["solution"] and meta["points"] > 0 and meta["schema_version"] == 3
        assert any(BEGIN_HIDDEN in c.source for c in graded), f"{path.name} has no hidden tests"
        assert all(BEGIN_SOLUTION in c.source for c in solutions)


def test_released_copies_hold_no_solutions_and_no_outputs(tmp_path):
    written = release(tmp_path)
    assert [p.name for p in written] == [p.name for p in SOURCES]
    for path in SOURCES:
        source, student = nbformat.read(path, as_version=4), nbformat.read(tmp_path / path.name, as_version=4)
        text = "\n".join(c.source for c in student.cells)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        leaked = {line for line in solution_lines(source) if line in text.split("\n") or f" {line}" in text}
        assert not leaked - {"return", "pass"}, f"{path.name}: solution or hidden-test lines left: {leaked}"
        for cell in student.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
            if is_solution(cell):
                assert "raise NotImplementedError()" in cell.source
        assert [c.metadata.get("nbgrader") for c in student.cells] == [c.metadata.get("nbgrader") for c in source.cells]


def test_student_copy_stubs_at_the_regions_indentation():
    cell = nbformat.v4.new_code_cell('def f(x):\n    """doc"""\n    ### BEGIN SOLUTION\n    return x\n'
                                     '    ### END SOLUTION')
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f", "locked": False}
    test = nbformat.v4.new_code_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n### END HIDDEN TESTS")
    test.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": "t", "locked": True, "points": 1}
    student = student_copy(nbformat.v4.new_notebook(cells=[cell, test]))
    stub = "\n".join("    " + line for line in CODE_STUB.split("\n"))
    assert student.cells[0].source == f'def f(x):\n    """doc"""\n{stub}'
    assert student.cells[1].source == "assert f(1) == 1"


def test_markup_errors_are_named():
    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "x"}
    with pytest.raises(ValueError, match="has no 'END SOLUTION'"):
        student_copy(nbformat.v4.new_notebook(cells=[cell]), "broken.ipynb")
    loose = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    with pytest.raises(ValueError, match="without nbgrader solution metadata"):
        student_copy(nbformat.v4.new_notebook(cells=[loose]))


@pytest.mark.slow
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_released_copy_fails_until_filled_in_with_the_solution(path, tmp_path):
    """The sources themselves run under nbval (they live in notebooks/); grading a source is the filled-in case."""
    source = nbformat.read(path, as_version=4)
    graded = [nbgrader_meta(c)["grade_id"] for c in source.cells if is_graded(c)]
    release(tmp_path / "student")
    released = tmp_path / "student" / path.name
    failing = grade(released)
    assert [s.grade_id for s in failing] == graded
    assert sum(s.earned for s in failing) == 0 and all(s.error for s in failing), failing

    filled = tmp_path / path.name
    nbformat.write(fill_in(nbformat.read(released, as_version=4), source), filled)
    scores = grade(filled)
    assert [s.grade_id for s in scores] == graded and all(s.earned == s.points > 0 for s in scores), scores


def test_the_sources_are_the_repository_s_assignments():
    assert SOURCE == Path(__file__).resolve().parent.parent / "notebooks" / "assignments"


def test_read_assignment_refuses_what_is_not_an_assignment(tmp_path):
    with pytest.raises(ValueError, match="nope.ipynb does not exist"):
        read_assignment(tmp_path / "nope.ipynb")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="is not a notebook file"):
        read_assignment(tmp_path / "notes.txt")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), tmp_path / "plain.ipynb")
    with pytest.raises(ValueError, match="is not an assignment"):
        read_assignment(tmp_path / "plain.ipynb")


def test_release_refuses_to_overwrite_the_sources_or_an_empty_source(tmp_path):
    with pytest.raises(ValueError, match="is the source folder: releasing there would overwrite the solutions"):
        release(SOURCE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no notebooks"):
        release(tmp_path / "out", tmp_path / "empty")
    with pytest.raises(ValueError, match="assignment folder .*nowhere does not exist"):
        release(tmp_path / "out", tmp_path / "nowhere")


def test_restore_tests_puts_the_source_s_graded_cells_back():
    source = nbformat.read(SOURCES[0], as_version=4)
    student = student_copy(source)
    for cell in student.cells:
        if is_graded(cell):
            cell.source = "pass  # the student deleted the test"
    restored = restore_tests(student, source)
    graded = [nbgrader_meta(c)["grade_id"] for c in source.cells if is_graded(c)]
    assert restored == sorted(graded)
    assert [c.source for c in student.cells if is_graded(c)] == [c.source for c in source.cells if is_graded(c)]


def test_format_scores_lists_points_per_question_and_the_total():
    text = format_scores("hw.ipynb", [Score("first", 2, 2), Score("second", 3, 0, "AssertionError: no")])
    assert text.splitlines()[0] == "hw.ipynb" and re.search(r"total\s+2 / 5", text)
    assert "AssertionError: no" in text
    assert re.search(r"first\s+2 / 2", text) and re.search(r"second\s+0 / 3", text)
