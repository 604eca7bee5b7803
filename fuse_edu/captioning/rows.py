"""Rows of a caption run on disk: one per image, written as it finishes, so an interrupted run keeps its work.

CSV rows are appended whole, one write each: a row that fails half-way (a full disk) is cut off again, so
the file never ends in a torn row. JSON is a list rewritten whole to a unique temporary file in the same
folder and renamed over the target after every row, so the file is always complete and valid, two runs
never share a temporary name, and none is left behind. A failed write is ``RowsNotWritten``, whose message
says how many rows the file holds.

An existing file is never overwritten by accident: ``rows_to_keep`` refuses it unless the caller resumes
(its rows are kept, the images in them skipped) or overwrites; ``check_not_an_input`` refuses an output
that is one of the inputs, such as a scene folder's own ``captions.csv`` of true captions.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from fuse_edu.cache import atomic_write_bytes

TRUTH_FILE = "captions.csv"  # what ``fuse-edu toyworld render`` writes beside its scenes: the true captions


class RowsNotWritten(OSError):
    """A row could not be written (a full disk, a vanished folder); the message says what the file holds."""


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


def check_not_an_input(out: Path, paths: list[str | Path], flag: str = "--out") -> None:
    """ValueError when ``out`` is one of the input ``paths`` or the ``captions.csv`` of an input folder."""
    target = Path(out).resolve()
    for path in map(Path, paths):
        for guarded in ((path / TRUTH_FILE,) if path.is_dir() else (path,)):
            if guarded.resolve() == target:
                raise ValueError(f"{flag} {out} would overwrite the input {guarded}; choose another {flag}")


def read_rows(out: Path) -> list[dict]:
    """The rows in ``out`` (CSV values as text, an empty CSV cell as ""); ValueError naming the file when
    it cannot be read as rows. A CSV whose last line is torn (no final newline) loses that line."""
    out = Path(out)
    try:
        text = out.read_text(encoding="utf-8")
        if out.suffix.lower() == ".json":
            rows = json.loads(text) if text.strip() else []
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise ValueError("not a JSON list of rows")
            return rows
        if text and not text.endswith("\n"):
            text = text[:text.rfind("\n") + 1]
        return list(csv.DictReader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"cannot read the rows in {out} ({error}); use --overwrite or another --out") from None


def rows_to_keep(out: Path, resume: bool, overwrite: bool) -> list[dict]:
    """What an existing ``out`` contributes to this run: nothing when it does not exist or ``overwrite``,
    its rows when ``resume``; otherwise a ValueError that leaves it untouched and says how to go on."""
    out = Path(out)
    if overwrite or not out.exists():
        return []
    if resume:
        return read_rows(out)
    raise ValueError(f"{out} exists; give --resume to keep its rows and caption only the images not in it, or "
                     f"--overwrite to replace it")


def _csv_header(out: Path) -> list[str] | None:
    with Path(out).open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), None)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class RowWriter:
    """Rows to FILE.csv or FILE.json as they come, under a header of ``columns`` (CSV) or as a list of
    objects (JSON). ``resume``: keep the rows FILE holds (``read_rows``) and add after them; a CSV whose
    header is not ``columns`` is a ValueError. Otherwise FILE is replaced. Either way an interrupted run
    keeps every finished row, and a failed write is ``RowsNotWritten``."""

    def __init__(self, out: Path, columns: list[str], resume: bool = False):
        self.out, self.columns = Path(out), list(columns)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.json = self.out.suffix.lower() == ".json"
        self.kept = read_rows(self.out) if resume and self.out.exists() else []
        self.rows, self.written, self.fd = list(self.kept), 0, None  # rows: the JSON list, rewritten whole
        if self.json:
            if not resume:
                self._rewrite()
            return
        header = _csv_header(self.out) if resume and self.out.exists() else None
        if header and header != self.columns:
            raise ValueError(f"{self.out} has the columns {', '.join(header)}; this run writes "
                             f"{', '.join(self.columns)}: use --overwrite or another --out")
        self.fd = os.open(self.out, os.O_WRONLY | os.O_CREAT | (0 if resume else os.O_TRUNC), 0o644)
        self.size = os.lseek(self.fd, 0, os.SEEK_END)
        if resume and self.size:
            # a torn last line (a kill mid-write) is cut off: ``read_rows`` did not count it either
            self.size = self.out.read_bytes().rfind(b"\n") + 1
            os.ftruncate(self.fd, self.size)
            os.lseek(self.fd, self.size, os.SEEK_SET)
        if self.size == 0:
            try:
                self._append(self._line(None))
            except RowsNotWritten:
                self.close()
                raise

    def _line(self, row: dict | None) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader() if row is None else writer.writerow(row)  # a key outside ``columns`` is a ValueError
        return buffer.getvalue()

    def write(self, row: dict) -> None:
        if self.json:
            self.rows.append(row)
            self._rewrite()
        else:
            self._append(self._line(row))
        self.written += 1

    def _append(self, text: str) -> None:
        data = text.encode("utf-8")
        try:
            _write_all(self.fd, data)
        except OSError as error:
            try:
                os.ftruncate(self.fd, self.size)  # no torn row: the file ends after its last whole row
            except OSError:
                pass
            raise self._not_written(error) from None
        self.size += len(data)

    def _rewrite(self) -> None:
        try:
            atomic_write_bytes(self.out, (json.dumps(self.rows, indent=2) + "\n").encode("utf-8"))
        except OSError as error:
            if self.rows:
                self.rows.pop()
            raise self._not_written(error) from None

    def _not_written(self, error: OSError) -> RowsNotWritten:
        kept = f" after the {len(self.kept)} kept from the earlier run" if self.kept else ""
        return RowsNotWritten(f"cannot write {self.out} ({error.strerror or error}); wrote {self.written} rows "
                              f"to {self.out}{kept}")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # every byte was written unbuffered: closing has nothing left to fail on
            self.fd = None

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
