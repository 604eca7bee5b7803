"""``fuse-edu notebooks DIR``: copies every walk-through, refuses to overwrite without --force, exit 2 on a file."""

from __future__ import annotations

from pathlib import Path

from tests.support import run_cli

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))


def test_copies_every_walkthrough_byte_for_byte(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "notebooks", tmp_path / "course")
    assert code == 0 and len(NOTEBOOKS) >= 8
    assert sorted((tmp_path / "course").iterdir()) == [tmp_path / "course" / p.name for p in NOTEBOOKS]
    assert all((tmp_path / "course" / p.name).read_bytes() == p.read_bytes() for p in NOTEBOOKS)
    assert out.count("fuse-edu notebooks: copied ") == len(NOTEBOOKS)


def test_an_edited_copy_is_kept_unless_force(tmp_path, capsys):
    edited = tmp_path / NOTEBOOKS[0].name
    edited.write_text("my answers")
    code, _, err = run_cli(capsys, "notebooks", tmp_path)
    assert code == 2 and "already exist" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert edited.read_text() == "my answers" and len(list(tmp_path.iterdir())) == 1  # nothing written
    code, _, _ = run_cli(capsys, "notebooks", tmp_path, "--force")
    assert code == 0 and edited.read_bytes() == NOTEBOOKS[0].read_bytes()


def test_a_file_for_dir_is_exit_2(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    code, _, err = run_cli(capsys, "notebooks", tmp_path / "f")
    assert code == 2 and "is a file, not a folder" in err
