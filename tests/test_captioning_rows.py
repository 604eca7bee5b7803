"""Rows of a caption run on disk: written one by one as they finish (CSV appended and flushed, JSON rewritten
whole and renamed over), so an interrupted run keeps its work; and ``--out`` checked before any model loads."""

from __future__ import annotations

import csv
import json

import pytest

from fuse_edu.captioning import NoRows, RowWriter, check_writable, write_rows

COLUMNS = ["file", "caption", "loss", "loss_lm", "loss_clip", "evaluations", "seconds", "steps", "error"]
ROW = {"file": "a.png", "caption": "a red square", "loss": 1.0, "loss_lm": 0.5, "loss_clip": 0.1,
       "evaluations": 3, "seconds": 0.5, "steps": 1, "error": None}


def test_rows_reach_the_file_one_by_one(tmp_path):
    with RowWriter(tmp_path / "r.csv", COLUMNS) as writer, RowWriter(tmp_path / "r.json", COLUMNS) as jwriter:
        for n in (1, 2):
            writer.write(ROW), jwriter.write(ROW)
            with (tmp_path / "r.csv").open() as handle:  # read while the writer is still open
                assert len(list(csv.DictReader(handle))) == n
            assert len(json.loads((tmp_path / "r.json").read_text())) == n
        with pytest.raises(ValueError):  # a column the header lacks is an error, not a silently dropped value
            writer.write({**ROW, "surprise": 1})
    assert not list(tmp_path.glob("*.partial"))  # the JSON's temporary file was renamed over it


def test_a_csv_has_its_header_even_before_the_first_row(tmp_path):
    with RowWriter(tmp_path / "sub" / "r.csv", COLUMNS):
        assert (tmp_path / "sub" / "r.csv").read_text() == ",".join(COLUMNS) + "\n"
    with RowWriter(tmp_path / "r.json", COLUMNS):
        assert json.loads((tmp_path / "r.json").read_text()) == []


def test_write_rows_takes_the_columns_in_first_seen_order(tmp_path):
    write_rows([{"file": "a.png", "caption": "x"}, {"file": "b.png", "error": "bad"}], tmp_path / "rows.csv")
    with (tmp_path / "rows.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["file", "caption", "error"] and rows[1] == {"file": "b.png", "caption": "", "error": "bad"}


def test_no_rows_accepts_rows_and_writes_nothing(tmp_path):
    with NoRows() as writer:
        writer.write(ROW)
    assert not list(tmp_path.iterdir())


def test_check_writable_creates_the_folder_and_leaves_files_as_they_were(tmp_path):
    out = tmp_path / "new" / "captions.csv"
    check_writable(out)
    assert out.parent.is_dir() and not out.exists()
    existing = tmp_path / "old.csv"
    existing.write_text("precious\n")
    check_writable(existing)
    assert existing.read_text() == "precious\n"
    (tmp_path / "a_file").write_text("")
    with pytest.raises(NotADirectoryError, match="a_file is a file, not a folder"):
        check_writable(tmp_path / "a_file" / "captions.csv")
