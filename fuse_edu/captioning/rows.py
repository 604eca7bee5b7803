"""Rows of a caption run on disk: one per image, written as it finishes, so an interrupted run keeps its work.

CSV rows are appended and flushed one at a time; JSON is a list rewritten whole to a temporary file and
renamed over the target after every row, so the file is always complete and valid.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path


def check_writable(out: Path) -> None:
    """OSError, its message saying why, unless ``out`` can be written: its folder is created, the file opened
    for appending (which leaves an existing file as it is) and, if it did not exist, removed again."""
    for folder in (out.parent, *out.parent.parents):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{folder} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        existed = out.exists()
        with out.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise OSError(f"{error.strerror or error} ({error.filename or out})") from None
    if not existed:
        out.unlink()


class RowWriter:
    """Rows to FILE.csv or FILE.json as they come: CSV rows are appended and flushed one at a time under a
    header of ``columns``; JSON is a list of objects, rewritten to a temporary file and renamed over FILE
    after every row, so FILE is always a complete, valid JSON list. Either way an interrupted run keeps
    every finished row."""

    def __init__(self, out: Path, columns: list[str]):
        self.out, self.columns, self.rows = Path(out), list(columns), []
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.json = self.out.suffix.lower() == ".json"
        if self.json:
            self._rewrite()
        else:
            self.handle = self.out.open("w", newline="", encoding="utf-8")
            self.writer = csv.DictWriter(self.handle, fieldnames=self.columns, lineterminator="\n")
            self.writer.writeheader()
            self.handle.flush()

    def write(self, row: dict) -> None:
        self.rows.append(row)
        if self.json:
            self._rewrite()
        else:
            self.writer.writerow(row)  # a key outside ``columns`` is a ValueError: no column goes missing quietly
            self.handle.flush()

    def _rewrite(self) -> None:
        partial = self.out.with_name(self.out.name + ".partial")
        partial.write_text(json.dumps(self.rows, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, self.out)  # atomic on POSIX and Windows: readers see the old list or the new one

    def close(self) -> None:
        if not self.json:
            self.handle.close()

    def __enter__(self) -> "RowWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NoRows:
    """``RowWriter``'s stand-in when rows go nowhere."""

    def write(self, row: dict) -> None:
        pass

    def __enter__(self) -> "NoRows":
        return self

    def __exit__(self, *exc) -> None:
        pass


def write_rows(rows: list[dict], out: Path, columns: list[str] | None = None) -> None:
    """All rows at once, through ``RowWriter`` (columns: those given, else in first-seen order)."""
    with RowWriter(out, columns or list(dict.fromkeys(key for row in rows for key in row))) as writer:
        for row in rows:
            writer.write(row)
