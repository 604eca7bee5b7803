"""``fuse-edu demo``, the README's first command: toy scenes rendered, captioned, summarised; also on given
images, and its bad input answered without a model load or a traceback."""

from __future__ import annotations

import csv

import pytest

import fuse_edu.demo
from fuse_edu.cli import main
from fuse_edu.models.presets import TOY_WEIGHTS
from fuse_edu.toyworld import caption, sample_scenes

TOY_MISSING = [str(p) for p in (TOY_WEIGHTS / "toy-lm", TOY_WEIGHTS / "toy-clip") if not p.exists()]
needs_toy = pytest.mark.skipif(bool(TOY_MISSING), reason=f"toy weights not built: {TOY_MISSING}")
SMALL = ["--steps", "2", "--device", "cpu", "--no-progress"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Adapters are fitted once per test session into a private cache, not the user's."""
    monkeypatch.setenv("FUSE_EDU_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(["demo", *map(str, argv)])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@needs_toy
def test_demo_renders_captions_and_summarises_toy_scenes(capsys, tmp_path):
    out = tmp_path / "demo"
    code, stdout, err = run(capsys, "--out", out, "--n", "2", "--seed", "3", *SMALL)
    assert code == 0, err
    assert sorted(p.name for p in (out / "scenes").glob("*.png")) == ["scene_0000.png", "scene_0001.png"]
    with (out / "captions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["truth"] for r in rows] == [caption(s) for s in sample_scenes(2, 3, objects=1)]
    assert all(r["caption"].strip() and r["error"] == "" and float(r["seconds"]) > 0 for r in rows)
    summary = (out / "summary.md").read_text()
    assert summary in stdout  # printed as written
    for row in rows:
        assert f"| scene_{rows.index(row):04d}.png | {row['caption']} | {row['truth']} |" in summary
    assert "Attribute accuracy (first object, whole words): colour " in summary and "/2" in summary
    assert "CLIPScore" in summary and "s per image on average" in summary and "s in all" in summary


@needs_toy
def test_demo_on_given_images_with_a_broken_one(capsys, tmp_path):
    images = tmp_path / "images"
    code, _, err = run(capsys, "--out", tmp_path / "first", "--n", "1", *SMALL)  # one scene to reuse
    assert code == 0, err
    images.mkdir()
    (images / "a.png").write_bytes((tmp_path / "first" / "scenes" / "scene_0000.png").read_bytes())
    (images / "b.png").write_bytes(b"not a png")
    (images / "readme.txt").write_text("hello")
    code, stdout, err = run(capsys, images, "--out", tmp_path / "second", *SMALL)
    assert code == 3, err
    assert "skipping" in err and "readme.txt" in err and "cannot read image" in err and "b.png" in err
    with (tmp_path / "second" / "captions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert "truth" not in rows[0] and [r["error"] != "" for r in rows] == [False, True]
    assert "1 of 2 images could not be read" in stdout and "Attribute accuracy" not in stdout


def refuse_to_load(*args, **kwargs):
    raise AssertionError("a model was loaded before the input was checked")


@pytest.mark.parametrize("argv, message", [
    (["{missing}"], "image path .*nope.png does not exist"),
    (["--out", "{blocked}"], "cannot write to --out .*a_file is a file, not a folder"),
    (["--n", "0"], "--n: must be an integer >= 1, got 0"),
    (["--steps", "-1"], "--steps: must be an integer >= 0, got -1"),
    (["--sentiment", "happy"], "invalid choice: 'happy'"),
])
def test_bad_input_exits_2_before_any_model_loads(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.setattr(fuse_edu.demo, "Captioner", refuse_to_load)
    (tmp_path / "a_file").write_text("")
    places = {"missing": tmp_path / "nope.png", "blocked": tmp_path / "a_file" / "out"}
    code, _, err = run(capsys, *[a.format(**places) for a in argv], "--no-progress")
    assert code == 2
    assert __import__("re").search(message, err), err
