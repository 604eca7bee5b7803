"""Rows of a caption run on disk: written one by one as they finish (CSV appended and flushed, JSON rewritten
whole and renamed over), so an interrupted run keeps its work; and ``--out`` checked before any model loads."""

from __future__ import annotations

import csv
import errno
import json
import os

import pytest

import fuse_edu.cache
from fuse_edu.captioning import NoRows, RowsNotWritten, RowWriter, check_writable, read_rows, rows_to_keep, write_rows

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


def test_two_writers_of_one_json_never_share_a_temporary_file(tmp_path, monkeypatch):
    """Each rewrite goes through its own temporary file beside the target, and none is left behind."""
    temporaries, real_replace = [], os.replace

    def replace(src, dst):
        temporaries.append(os.fspath(src))
        real_replace(src, dst)
    monkeypatch.setattr(fuse_edu.cache.os, "replace", replace)
    out = tmp_path / "same.json"
    first, second = RowWriter(out, COLUMNS), RowWriter(out, COLUMNS)
    first.write(ROW)
    second.write({**ROW, "file": "b.png"})
    first.write({**ROW, "file": "c.png"})
    assert len(set(temporaries)) == len(temporaries) == 5
    assert all(os.path.dirname(t) == str(tmp_path) for t in temporaries)
    assert [p.name for p in tmp_path.iterdir()] == ["same.json"]
    assert [r["file"] for r in json.loads(out.read_text())] == ["a.png", "c.png"]  # the last rewrite wins whole


def test_dev_full_is_rows_not_written_saying_how_many_rows_the_file_holds(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    out = tmp_path / "full.csv"
    out.symlink_to("/dev/full")
    with pytest.raises(RowsNotWritten, match=r"No space left on device\); wrote 0 rows to .*full\.csv"):
        RowWriter(out, COLUMNS)


def test_a_failed_json_rewrite_keeps_the_last_complete_list(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    writer = RowWriter(out, COLUMNS)
    writer.write(ROW)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(fuse_edu.cache.os, "fsync", full)
    with pytest.raises(RowsNotWritten, match=r"wrote 1 rows to .*r\.json"):
        writer.write({**ROW, "file": "b.png"})
    assert [r["file"] for r in json.loads(out.read_text())] == ["a.png"] and len(list(tmp_path.iterdir())) == 1


def test_an_existing_file_is_kept_only_when_resuming(tmp_path):
    out = tmp_path / "r.csv"
    assert rows_to_keep(out, resume=False, overwrite=False) == []  # nothing there: nothing to refuse
    write_rows([ROW], out, COLUMNS)
    with pytest.raises(ValueError, match="r.csv exists; give --resume .* or --overwrite"):
        rows_to_keep(out, resume=False, overwrite=False)
    assert rows_to_keep(out, resume=False, overwrite=True) == []
    (kept,) = rows_to_keep(out, resume=True, overwrite=False)
    assert kept["file"] == "a.png" and kept["error"] == ""
    with RowWriter(out, COLUMNS, resume=True) as writer:
        writer.write({**ROW, "file": "b.png"})
    assert [r["file"] for r in read_rows(out)] == ["a.png", "b.png"]
    with pytest.raises(ValueError, match="has the columns file, caption, .*; this run writes file, caption, truth"):
        RowWriter(out, ["file", "caption", "truth"], resume=True)
    assert [r["file"] for r in read_rows(out)] == ["a.png", "b.png"]  # refused: the file is as it was


def test_resuming_json_appends_after_the_kept_rows(tmp_path):
    out = tmp_path / "r.json"
    write_rows([ROW], out, COLUMNS)
    with RowWriter(out, COLUMNS, resume=True) as writer:
        writer.write({**ROW, "file": "b.png"})
    assert [r["file"] for r in json.loads(out.read_text())] == ["a.png", "b.png"]
    out.write_text("{not a list")
    with pytest.raises(ValueError, match="cannot read the rows in .*r.json"):
        rows_to_keep(out, resume=True, overwrite=False)
