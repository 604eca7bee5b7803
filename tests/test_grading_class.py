"""``fuse-edu assignments grade``: a class folder with correct, wrong, cheating, looping, crashing and unreadable
submissions, and a written answer, graded in parallel; the CSV is checked cell for cell, the feedback pages
exist and show no hidden test. Runs kernels: ``slow``."""

from __future__ import annotations

import csv

import nbformat
import pytest

from fuse_edu.assignments import SOURCE, nbgrader_meta
from fuse_edu.assignments.classroom import CSV_COLUMNS, find_submissions
from fuse_edu.cli import main
from tests.test_grading_cheats import CORRECT, ZEROS, submit

WRONG_DTYPE = "def my_tprod(A, B):\n    " + CORRECT.split("### BEGIN SOLUTION\n")[1].split("    ### END")[0].strip() \
    .replace(".real", ".real.double()")
# loops or kills the kernel on the first test's input (3, 4, 5) only: the other item must still be scored
LOOPING = "def my_tprod(A, B):\n    while A.shape[0] == 3:\n        pass\n" + CORRECT.split("\n", 2)[2]
CRASHING = "import os\ndef my_tprod(A, B):\n    if A.shape[0] == 3:\n        os._exit(0)\n" + CORRECT.split("\n", 2)[2]


def fill_04(nb):
    source = nbformat.read(SOURCE / "04_fuse_backward.ipynb", as_version=4)
    by_id = {nbgrader_meta(c).get("grade_id"): c.source for c in source.cells}
    for c in nb.cells:
        if nbgrader_meta(c).get("grade_id") in ("my_ttranspose", "my_fuse_gradient"):
            c.source = by_id[nbgrader_meta(c)["grade_id"]]
        elif nbgrader_meta(c).get("grade_id") == "why_transpose":
            c.source = "The chain rule through a linear map gives its adjoint."


def test_submissions_are_found_per_student_folder_or_file(tmp_path):
    submit(tmp_path, "alice/01_tprod_fft.ipynb")
    submit(tmp_path, "bob_01_tprod_fft.ipynb")
    submit(tmp_path, "alice/.ipynb_checkpoints/01_tprod_fft-checkpoint.ipynb")
    assert [(s, p.relative_to(tmp_path).as_posix()) for s, p in find_submissions(tmp_path)] == [
        ("alice", "alice/01_tprod_fft.ipynb"), ("bob_01_tprod_fft", "bob_01_tprod_fft.ipynb")]


@pytest.mark.slow
def test_a_class_folder_is_graded_into_an_exact_csv(tmp_path, capfd):
    folder = tmp_path / "submitted"
    submit(folder, "alice/01_tprod_fft.ipynb", CORRECT)
    submit(folder, "bob_01_tprod_fft.ipynb", WRONG_DTYPE)
    submit(folder, "carol/01_tprod_fft.ipynb", "torch.allclose = lambda *a, **k: True\n" + ZEROS)
    submit(folder, "dave/01_tprod_fft.ipynb", LOOPING)
    submit(folder, "erin/01_tprod_fft.ipynb", CRASHING)
    (folder / "frank").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), folder / "frank" / "hw.ipynb")
    submit(folder, "grace/04_fuse_backward.ipynb", edit=fill_04, assignment="04_fuse_backward")
    submit(folder, "grace/late.ipynb", assignment="04_fuse_backward")   # a second, unfilled copy
    out, feedback = tmp_path / "grades.csv", tmp_path / "feedback"
    code = main(["assignments", "grade", str(folder), "--out", str(out), "--jobs", "2", "--timeout", "4",
                 "--feedback", str(feedback)])
    printed = capfd.readouterr()
    assert code == 0, printed.err
    assert "without encryption" not in printed.out + printed.err

    wrong_dtype = "AssertionError: float32 in must give real float32 out, got torch.float64"
    not_assignment = f"{folder / 'frank' / 'hw.ipynb'} is not an assignment: no cell has nbgrader metadata " \
                     f"with grade: true (graded test cells)"
    expected = [
        ["alice", "alice/01_tprod_fft.ipynb", "01_tprod_fft", "tprod_matches_package", "2", "2", "passed", ""],
        ["alice", "alice/01_tprod_fft.ipynb", "01_tprod_fft", "tprod_definition", "3", "3", "passed", ""],
        ["alice", "alice/01_tprod_fft.ipynb", "01_tprod_fft", "total", "5", "5", "graded", ""],
        ["bob_01_tprod_fft", "bob_01_tprod_fft.ipynb", "01_tprod_fft", "tprod_matches_package", "2", "2", "passed", ""],
        ["bob_01_tprod_fft", "bob_01_tprod_fft.ipynb", "01_tprod_fft", "tprod_definition", "3", "0", "failed",
         wrong_dtype],
        ["bob_01_tprod_fft", "bob_01_tprod_fft.ipynb", "01_tprod_fft", "total", "5", "2", "graded", ""],
        ["carol", "carol/01_tprod_fft.ipynb", "01_tprod_fft", "tprod_matches_package", "2", "0", "failed",
         "AssertionError: my_tprod(A, B) differs from fuse_edu.tensor.tprod(A, B)"],
        ["carol", "carol/01_tprod_fft.ipynb", "01_tprod_fft", "tprod_definition", "3", "0", "failed",
         "AssertionError: my_tprod differs from the bcirc definition"],
        ["carol", "carol/01_tprod_fft.ipynb", "01_tprod_fft", "total", "5", "0", "graded", ""],
        ["dave", "dave/01_tprod_fft.ipynb", "01_tprod_fft", "tprod_matches_package", "2", "0", "timed out",
         "timed out after 4 s"],
        ["dave", "dave/01_tprod_fft.ipynb", "01_tprod_fft", "tprod_definition", "3", "3", "passed", ""],
        ["dave", "dave/01_tprod_fft.ipynb", "01_tprod_fft", "total", "5", "3", "graded", ""],
        ["erin", "erin/01_tprod_fft.ipynb", "01_tprod_fft", "tprod_matches_package", "2", "0", "kernel died",
         "the kernel died"],
        ["erin", "erin/01_tprod_fft.ipynb", "01_tprod_fft", "tprod_definition", "3", "3", "passed", ""],
        ["erin", "erin/01_tprod_fft.ipynb", "01_tprod_fft", "total", "5", "3", "graded", ""],
        ["frank", "frank/hw.ipynb", "", "total", "", "0", "not graded", not_assignment],
        ["grace", "grace/04_fuse_backward.ipynb", "04_fuse_backward", "ttranspose_matches", "2", "2", "passed", ""],
        ["grace", "grace/04_fuse_backward.ipynb", "04_fuse_backward", "gradient_matches", "3", "3", "passed", ""],
        ["grace", "grace/04_fuse_backward.ipynb", "04_fuse_backward", "why_transpose", "2", "",
         "needs manual grading", ""],
        ["grace", "grace/04_fuse_backward.ipynb", "04_fuse_backward", "total", "7", "5", "needs manual grading", ""],
        ["grace", "grace/late.ipynb", "04_fuse_backward", "ttranspose_matches", "2", "0", "failed",
         "my_ttranspose raised NotImplementedError"],
        ["grace", "grace/late.ipynb", "04_fuse_backward", "gradient_matches", "3", "0", "failed",
         "my_fuse_gradient raised NotImplementedError"],
        ["grace", "grace/late.ipynb", "04_fuse_backward", "why_transpose", "2", "", "needs manual grading", ""],
        ["grace", "grace/late.ipynb", "04_fuse_backward", "total", "7", "0", "needs manual grading", ""],
    ]
    with out.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == CSV_COLUMNS
    assert rows[1:] == expected

    pages = sorted(p.relative_to(feedback).as_posix() for p in feedback.rglob("*.html"))
    assert pages == ["alice/01_tprod_fft.html", "bob_01_tprod_fft/01_tprod_fft.html", "carol/01_tprod_fft.html",
                     "dave/01_tprod_fft.html", "erin/01_tprod_fft.html", "grace/04_fuse_backward-late.html",
                     "grace/04_fuse_backward.html"]
    bob = (feedback / "bob_01_tprod_fft" / "01_tprod_fft.html").read_text()
    assert "float32 in must give real float32 out" in bob and "HIDDEN" not in bob and "<script" not in bob
    assert "adjoint" in (feedback / "grace" / "04_fuse_backward.html").read_text()
