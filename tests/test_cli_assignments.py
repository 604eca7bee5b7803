"""``fuse-edu assignments release OUTDIR`` and ``fuse-edu assignments check NOTEBOOK``: exit status 0 full marks,
1 some points missed, 2 not an assignment or bad input. ``check`` grades in a notebook kernel: ``slow``."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from fuse_edu.assignments import SOURCE, is_solution, release
from fuse_edu.cli import main
from tests.support import run_cli

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_release_writes_the_student_copies(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "assignments", "release", tmp_path / "student")
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "student").glob("*.ipynb"))
    assert written == sorted(p.name for p in SOURCE.glob("*.ipynb")) and len(written) >= 3
    assert out.count("fuse-edu assignments: released ") == len(written)


@pytest.mark.slow
def test_check_restores_hidden_tests_that_a_released_copy_lacks(tmp_path, capsys):
    """A tprod that passes the visible tests but returns float64 for float32 input: the hidden test catches it."""
    release(tmp_path / "student")
    nb = nbformat.read(tmp_path / "student" / "01_tprod_fft.ipynb", as_version=4)
    for cell in nb.cells:
        if is_solution(cell):
            cell.source = "def my_tprod(A, B):\n    return tprod(A.double(), B.double())"
    nbformat.write(nb, tmp_path / "01_tprod_fft.ipynb")
    assert main(["assignments", "check", str(tmp_path / "01_tprod_fft.ipynb")]) == 1
    out = capsys.readouterr().out
    assert "tprod_matches_package  2 / 2" in out and "tprod_definition       0 / 3" in out and "total" in out
    assert "float32 in must give real float32 out" in out
    assert main(["assignments", "check", "--own-tests", str(tmp_path / "01_tprod_fft.ipynb")]) == 0


def test_check_refuses_a_notebook_that_is_not_an_assignment(capsys, tmp_path):
    assert main(["assignments", "check", str(NOTEBOOKS / "02_tensor_algebra.ipynb")]) == 2
    assert "is not an assignment" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["assignments", "check", str(tmp_path / "notes.txt")]) == 2
    assert "not a notebook" in capsys.readouterr().err


def test_release_refuses_to_overwrite_the_sources(capsys):
    code, _, err = run_cli(capsys, "assignments", "release", SOURCE)
    assert code == 2 and "overwrite the solutions" in err
