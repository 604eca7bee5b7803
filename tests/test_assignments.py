"""Assignments (``fuse_edu.assignments``) without a kernel: the sources are in nbgrader markup, the committed
student copies are what ``release`` writes now and hold no solutions, markup errors are named, and a
submission's cells are matched to the source by grade_id (missing, duplicated, edited and extra cells found).
Grading in a kernel: test_grading_*.py; the command: test_cli_assignments.py."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from fuse_edu.assignments import (BEGIN_HIDDEN, BEGIN_SOLUTION, CODE_STUB, RELEASE, SOURCE, check_cells, is_graded,
                                  is_manual, is_solution, match_assignment, nbgrader_meta, read_assignment, release,
                                  student_copy)

SOURCES = sorted(SOURCE.glob("*.ipynb"))


def solution_lines(nb) -> set[str]:
    """Every non-blank line between BEGIN SOLUTION and END SOLUTION, and every hidden-test line."""
    lines, inside = set(), False
    for cell in nb.cells:
        for line in cell.source.split("\n"):
            if BEGIN_SOLUTION in line or BEGIN_HIDDEN in line:
                inside = True
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip():
                lines.add(line.strip())
    return lines


def cell(nb, grade_id):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


def test_there_are_five_assignments_in_nbgrader_markup_with_written_questions():
    assert [p.stem for p in SOURCES] == ["01_tprod_fft", "02_fit_bucket", "03_gcg_candidates", "04_fuse_backward",
                                         "05_autodan_slot_score"]
    for path in SOURCES:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.kernelspec.name == "python3"
        graded = [c for c in nb.cells if is_graded(c) and not is_manual(c)]
        solutions = [c for c in nb.cells if is_solution(c)]
        assert graded and solutions, path.name
        ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
        assert len(ids) == len(set(ids)), f"{path.name}: grade_ids must be unique"
        for c in graded:  # what nbgrader itself requires of a graded test cell
            meta = nbgrader_meta(c)
            assert meta["locked"] and not meta["solution"] and meta["points"] > 0 and meta["schema_version"] == 3
        assert any(BEGIN_HIDDEN in c.source for c in graded), f"{path.name} has no hidden tests"
        assert all(BEGIN_SOLUTION in c.source for c in solutions)
    written = [c for p in SOURCES[3:] for c in nbformat.read(p, as_version=4).cells if is_manual(c)]
    assert len(written) == 2 and all("Rubric" in c.source and nbgrader_meta(c)["points"] > 0 for c in written)


def test_the_committed_student_copies_are_what_release_writes_now(tmp_path):
    release(tmp_path)
    assert sorted(p.name for p in RELEASE.glob("*.ipynb")) == [p.name for p in SOURCES]
    for path in SOURCES:
        assert (RELEASE / path.name).read_text() == (tmp_path / path.name).read_text(), \
            f"{path.name}: run fuse-edu assignments release notebooks/assignments/release"


def test_released_copies_hold_no_solutions_rubrics_or_outputs(tmp_path):
    release(tmp_path)
    for path in SOURCES:
        source, student = nbformat.read(path, as_version=4), nbformat.read(tmp_path / path.name, as_version=4)
        text = "\n".join(c.source for c in student.cells)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "Rubric" not in text
        leaked = {line for line in solution_lines(source) if line in text.split("\n") or f" {line}" in text}
        assert not leaked - {"return", "pass"}, f"{path.name}: solution or hidden-test lines left: {leaked}"
        for c in student.cells:
            if c.cell_type == "code":
                assert c.outputs == [] and c.execution_count is None
            if is_solution(c):
                assert ("raise NotImplementedError()" if c.cell_type == "code" else "YOUR ANSWER HERE") in c.source
        assert [c.metadata.get("nbgrader") for c in student.cells] == [c.metadata.get("nbgrader") for c in source.cells]


def test_student_copy_stubs_at_the_regions_indentation():
    sol = nbformat.v4.new_code_cell('def f(x):\n    """doc"""\n    ### BEGIN SOLUTION\n    return x\n'
                                    '    ### END SOLUTION')
    sol.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f", "locked": False}
    test = nbformat.v4.new_code_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n### END HIDDEN TESTS")
    test.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": "t", "locked": True, "points": 1}
    student = student_copy(nbformat.v4.new_notebook(cells=[sol, test]))
    stub = "\n".join("    " + line for line in CODE_STUB.split("\n"))
    assert student.cells[0].source == f'def f(x):\n    """doc"""\n{stub}'
    assert student.cells[1].source == "assert f(1) == 1"


def test_markup_errors_are_named():
    c = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")
    c.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "x"}
    with pytest.raises(ValueError, match="has no 'END SOLUTION'"):
        student_copy(nbformat.v4.new_notebook(cells=[c]), "broken.ipynb")
    loose = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    with pytest.raises(ValueError, match="without nbgrader solution metadata"):
        student_copy(nbformat.v4.new_notebook(cells=[loose]))


def test_sources_and_student_copies_are_the_repository_s():
    notebooks = Path(__file__).resolve().parent.parent / "notebooks" / "assignments"
    assert SOURCE == notebooks / "source" and RELEASE == notebooks / "release"


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


# ------------------------------------------------------------------------------- cells keyed by grade_id

@pytest.fixture(scope="module")
def sources():
    return {p.stem: read_assignment(p) for p in SOURCES}


def test_a_submission_is_recognised_by_its_cells_not_its_name(sources):
    student = student_copy(sources["03_gcg_candidates"])
    assert match_assignment(student, sources) == "03_gcg_candidates"
    for c in student.cells:  # a student who kept only one solution cell is still recognised
        if nbgrader_meta(c).get("grade_id") not in ("my_sampler", None):
            c.metadata.pop("nbgrader")
    assert match_assignment(student, sources) == "03_gcg_candidates"
    with pytest.raises(ValueError, match="shares no grade_id with any assignment"):
        match_assignment(nbformat.v4.new_notebook(), sources, where="x.ipynb")


def test_an_untouched_student_copy_and_the_source_itself_match_cleanly(sources):
    for source in sources.values():
        for nb in (student_copy(source), source):
            matching = check_cells(nb, source)
            assert not matching.problems and not matching.extras
            assert set(matching.solutions) == {nbgrader_meta(c)["grade_id"] for c in source.cells
                                               if is_solution(c) and c.cell_type == "code"}


def test_missing_renamed_duplicated_edited_and_added_graded_cells_are_found(sources):
    source = sources["01_tprod_fft"]
    student = student_copy(source)
    cell(student, "tprod_matches_package").metadata.nbgrader["grade_id"] = "renamed"
    cell(student, "tprod_definition").source += "\nassert True"
    extra = nbformat.v4.new_code_cell("pass")
    extra.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "bonus", "points": 100}
    twin = copy.deepcopy(cell(student, "my_tprod"))
    student.cells.extend([extra, twin])
    matching = check_cells(student, source)
    assert matching.problems["tprod_matches_package"].endswith("is missing (deleted, or its grade_id renamed)")
    assert "was edited" in matching.problems["tprod_definition"]
    assert matching.problems["my_tprod"] == "cell 'my_tprod' appears 2 times" and "my_tprod" not in matching.solutions
    assert matching.extras == [("renamed", 2.0), ("bonus", 100.0)]


def test_changed_points_count_as_an_edit(sources):
    source = sources["04_fuse_backward"]
    student = student_copy(source)
    cell(student, "gradient_matches").metadata.nbgrader["points"] = 30
    cell(student, "why_transpose").source = "Because of the chain rule."
    matching = check_cells(student, source)
    assert list(matching.problems) == ["gradient_matches"]
    assert matching.answers == {"why_transpose": "Because of the chain rule."}
