"""Each way a student could score without solving the assignment, tried on assignment 01 (2 + 3 points): none
scores full marks, and a correct submission under any file name does. Every case grades in a kernel: ``slow``.
(Looping and crashing submissions: test_grading_class.py.)"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from fuse_edu.assignments import RELEASE, SOURCE, grade_notebook, load_sources, nbgrader_meta

ASSIGNMENT = "01_tprod_fft"
CORRECT = next(c.source for c in nbformat.read(SOURCE / f"{ASSIGNMENT}.ipynb", as_version=4).cells
               if nbgrader_meta(c).get("grade_id") == "my_tprod")
ZEROS = "def my_tprod(A, B):\n    return torch.zeros(A.shape[0], B.shape[1], A.shape[2], dtype=A.dtype)"


def cell(nb, grade_id):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


def submit(folder: Path, name: str, code: str | None = None, edit=None, assignment: str = ASSIGNMENT) -> Path:
    """The released copy of ``assignment`` with ``code`` in its (first) solution cell and ``edit`` applied."""
    nb = nbformat.read(RELEASE / f"{assignment}.ipynb", as_version=4)
    if code is not None:
        next(c for c in nb.cells if nbgrader_meta(c).get("solution")).source = code
    if edit is not None:
        edit(nb)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def scores(graded) -> dict:
    return {s.grade_id: (s.earned, s.status) for s in graded.scores}


@pytest.fixture(scope="module")
def sources():
    return load_sources(SOURCE)


def rename_test(nb):
    test = cell(nb, "tprod_definition")
    test.metadata.nbgrader["grade_id"], test.source = "mine", "pass"


def duplicate_test(nb):
    twin = copy.deepcopy(cell(nb, "tprod_matches_package"))
    twin.id = "twin"
    nb.cells.append(twin)


def edit_test(nb):
    cell(nb, "tprod_definition").source = "pass  # the test, made to pass"


def add_bonus(nb):
    bonus = nbformat.v4.new_code_cell("pass")
    bonus.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "bonus",
                                  "points": 100, "schema_version": 3}
    nb.cells.append(bonus)


FAILED = (0.0, "failed")
CHEATS = {
    "pass_stubs": ("def my_tprod(A, B):\n    pass", None, {"tprod_matches_package": FAILED, "tprod_definition": FAILED}),
    "custom_exc": ("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n"
                   "def my_tprod(A, B):\n    raise NotImplementedError()", None,
                   {"tprod_matches_package": FAILED, "tprod_definition": FAILED}),
    "patched_checkers": ("import builtins\ntorch.allclose = torch.equal = lambda *a, **k: True\n"
                         "torch.Tensor.__eq__ = lambda *a, **k: True\nbuiltins.AssertionError = Warning\n" + ZEROS,
                         None, {"tprod_matches_package": FAILED, "tprod_definition": FAILED}),
    "package_tprod": ("def my_tprod(A, B):\n    return tprod(A, B)", None,
                      {"tprod_matches_package": FAILED, "tprod_definition": FAILED}),
    "reloaded_tprod": ("import importlib\nimport fuse_edu.tensor\n\ndef my_tprod(A, B):\n"
                       "    return importlib.reload(fuse_edu.tensor).tprod(A, B)", None,
                       {"tprod_matches_package": FAILED, "tprod_definition": FAILED}),
    "bonus_cell": ("def my_tprod(A, B):\n    pass", add_bonus,
                   {"tprod_matches_package": FAILED, "tprod_definition": FAILED, "bonus": (0.0, "extra")}),
    "renamed_grade_id": (CORRECT, rename_test, {"tprod_matches_package": (2.0, "passed"),
                                                "tprod_definition": (0.0, "missing"), "mine": (0.0, "extra")}),
    "duplicated_grade_id": (CORRECT, duplicate_test, {"tprod_matches_package": (0.0, "duplicated"),
                                                      "tprod_definition": (3.0, "passed")}),
    "edited_test": (CORRECT, edit_test, {"tprod_matches_package": (2.0, "passed"),
                                         "tprod_definition": (0.0, "edited")}),
}


@pytest.mark.slow
@pytest.mark.parametrize("cheat", CHEATS)
def test_a_cheat_scores_below_full_marks(cheat, sources, tmp_path):
    code, edit, expected = CHEATS[cheat]
    graded = grade_notebook(submit(tmp_path, f"alice_{ASSIGNMENT}.ipynb", code, edit), sources, timeout_s=30)
    assert graded.assignment == ASSIGNMENT and scores(graded) == expected, graded.scores
    assert graded.earned < 5 and graded.points == 5
    if cheat in ("package_tprod", "reloaded_tprod"):
        assert all("PermissionError" in s.detail for s in graded.scores), graded.scores


@pytest.mark.slow
def test_a_correct_submission_scores_full_marks_under_any_name(sources, tmp_path):
    graded = grade_notebook(submit(tmp_path, "Copy of homework (3).ipynb", CORRECT), sources, timeout_s=30)
    assert scores(graded) == {"tprod_matches_package": (2.0, "passed"), "tprod_definition": (3.0, "passed")}


@pytest.mark.slow
def test_student_code_can_neither_read_nor_overwrite_the_source_nor_leave_a_process(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(SOURCE, source)
    target = source / f"{ASSIGNMENT}.ipynb"
    before = target.read_bytes()
    marker = f"fuse-edu-test-{os.getpid()}-{tmp_path.name}"
    code = (f"import os, subprocess, sys\nstolen = []\n"
            f"for attempt in (lambda: stolen.append(open({str(target)!r}).read()),\n"
            f"                lambda: open({str(target)!r}, 'w').write('{{}}'),\n"
            f"                lambda: os.rename({str(target)!r}, 'mine.ipynb'),\n"
            f"                lambda: subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', "
            f"{marker!r}], start_new_session=True),\n"
            f"                lambda: os.system('cat {target} > stolen.txt'),\n"
            f"                lambda: os.fork()):\n"
            f"    try:\n        attempt()\n    except OSError as error:\n        print(error)\n"
            f"def my_tprod(A, B):\n    raise NotImplementedError(''.join(stolen)[:2000])")
    graded = grade_notebook(submit(tmp_path / "in", f"{ASSIGNMENT}.ipynb", code), load_sources(source), timeout_s=30)
    assert target.read_bytes() == before
    assert scores(graded) == {"tprod_matches_package": FAILED, "tprod_definition": FAILED}
    assert not any("HIDDEN" in s.detail or "BEGIN" in s.detail for s in graded.scores), graded.scores
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and marker in cmdline(p)]
    assert not left, f"processes left running after grading: {left}"


def cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""
