"""``fuse-edu toyworld render``: PNGs plus a ``captions.csv``, byte-identical for the same seed; bad counts and
an output path that cannot be a folder are messages, not tracebacks."""

from __future__ import annotations

import csv

import pytest

from fuse_edu.cli import main


def _render(tmp_path, *extra):
    return main(["toyworld", "render", "--n", "6", "--seed", "11", "--out", str(tmp_path), *extra])


def test_cli_writes_pngs_and_csv_byte_identically(tmp_path):
    assert _render(tmp_path / "a", "--objects", "2") == 0
    assert _render(tmp_path / "b", "--objects", "2") == 0
    with (tmp_path / "a" / "captions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert {"file", "caption", "color", "shape", "size", "position"} <= set(rows[0])
    for row in rows:
        assert row["color"] in row["caption"] and row["shape"] in row["caption"] and " and " in row["caption"]
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted([r["file"] for r in rows] + ["captions.csv"])
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize("n", ["0", "-3"])
def test_cli_refuses_non_positive_n(tmp_path, capsys, n):
    with pytest.raises(SystemExit) as exit_info:
        main(["toyworld", "render", "--n", n, "--out", str(tmp_path / "x")])
    assert exit_info.value.code != 0
    assert "--n: must be an integer >= 1, got " + n in capsys.readouterr().err
    assert not (tmp_path / "x").exists(), "nothing is written for a refused request"


def test_cli_out_that_cannot_be_a_folder_is_a_message_not_a_traceback(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    assert main(["toyworld", "render", "--n", "1", "--out", str(tmp_path / "a_file")]) == 2
    err = capsys.readouterr().err
    assert "fuse-edu: error:" in err and "a_file" in err and "Traceback" not in err




@pytest.mark.parametrize("bad_seed", ["-1", str(2**70)])
def test_cli_refuses_a_seed_outside_the_accepted_range(tmp_path, capsys, bad_seed):
    with pytest.raises(SystemExit) as exit_info:
        main(["toyworld", "render", "--n", "1", "--seed", bad_seed, "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--seed" in err and "4294967295" in err and bad_seed in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
