"""``fuse-edu assignments release|check|grade``: exit status 0 done (``check``: full marks), 1 some points missed,
2 bad input (not an assignment, no source folder, a timeout <= 0). ``check`` grades in a kernel: ``slow``.
(The class folder: test_grading_class.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

import fuse_edu.cli.assignments as command
from fuse_edu.assignments import RELEASE, SOURCE
from fuse_edu.cli import main
from tests.support import run_cli
from tests.test_grading_cheats import submit

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_release_writes_the_student_copies(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "assignments", "release", tmp_path / "student")
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "student").glob("*.ipynb"))
    assert written == sorted(p.name for p in SOURCE.glob("*.ipynb")) and len(written) == 5
    assert out.count("fuse-edu assignments: released ") == len(written)


def test_without_a_source_folder_release_copies_the_shipped_student_copies(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(command, "SOURCE", tmp_path / "no-source")   # as in an installed wheel
    code, out, _ = run_cli(capsys, "assignments", "release", tmp_path / "student")
    assert code == 0 and out.splitlines()[0] == ("fuse-edu assignments: no source folder here; copied the shipped "
                                                 f"student copies from {RELEASE}")
    assert (tmp_path / "student" / "04_fuse_backward.ipynb").read_bytes() == \
        (RELEASE / "04_fuse_backward.ipynb").read_bytes()


def test_without_a_source_folder_check_and_grade_say_so(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(command, "SOURCE", tmp_path / "no-source")
    released = RELEASE / "01_tprod_fft.ipynb"
    for argv in (["check", released], ["grade", RELEASE, "--out", tmp_path / "g.csv"]):
        code, _, err = run_cli(capsys, "assignments", *argv)
        assert code == 2 and err.count("\n") == 1, err
        assert "grading needs the instructor's source folder" in err and "no-source does not exist" in err


@pytest.mark.parametrize("timeout", ["-5", "0", "nan", "soon"])
def test_a_timeout_that_is_not_above_zero_is_refused(capsys, timeout):
    with pytest.raises(SystemExit) as exit_:
        main(["assignments", "check", str(RELEASE / "01_tprod_fft.ipynb"), "--timeout", timeout])
    assert exit_.value.code == 2 and "--timeout" in capsys.readouterr().err


@pytest.mark.slow
def test_check_prints_points_per_item_and_sets_the_exit_status(capsys, tmp_path):
    """A tprod that passes the visible tests but returns float64 for float32 input: the hidden test catches it,
    under a name the platform gave the file."""
    wrong = submit(tmp_path, "alice_hw1.ipynb", "def my_tprod(A, B):\n    A_hat, B_hat = torch.fft.fft(A.double(), dim=2), "
                   "torch.fft.fft(B.double(), dim=2)\n    return torch.fft.ifft(torch.einsum('ijf,jkf->ikf', A_hat, "
                   "B_hat), dim=2).real")
    code, out, _ = run_cli(capsys, "assignments", "check", wrong)
    assert code == 1 and "alice_hw1.ipynb (assignment 01_tprod_fft)" in out
    assert "tprod_matches_package  2 / 2" in out and "tprod_definition       0 / 3" in out
    assert "float32 in must give real float32 out" in out and "total                  2 / 5" in out
    code, out, _ = run_cli(capsys, "assignments", "check", SOURCE / "01_tprod_fft.ipynb")
    assert code == 0 and "total                  5 / 5" in out


def test_check_refuses_a_notebook_that_is_not_an_assignment(capsys, tmp_path):
    assert main(["assignments", "check", str(NOTEBOOKS / "02_tensor_algebra.ipynb")]) == 2
    assert "is not an assignment" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["assignments", "check", str(tmp_path / "notes.txt")]) == 2
    assert "not a notebook" in capsys.readouterr().err


def test_release_refuses_to_overwrite_the_sources(capsys):
    code, _, err = run_cli(capsys, "assignments", "release", SOURCE)
    assert code == 2 and "overwrite the solutions" in err
