"""``fuse-edu demo``, the README's first command: toy scenes rendered, captioned, summarised; also on given
images; ``--notebook`` runs a walk-through through papermill; bad input answered without a model load or a
traceback. The runs on the toy preset and the notebook kernel are ``slow``; the summary and the flow around
them are tested on the tiny preset and with stand-ins."""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import nbformat
import pytest

import fuse_edu.cli.demo
import fuse_edu.report.notebook
from fuse_edu.captioning import CaptionSettings
from fuse_edu.cli.demo import summarise
from fuse_edu.toyworld import caption, render_scenes, sample_scenes
from tests.support import needs_toy, run_cli

SMALL = ["--steps", "2", "--device", "cpu", "--no-progress"]
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run(capsys, *argv) -> tuple[int, str, str]:
    return run_cli(capsys, "demo", *argv)


@needs_toy
@pytest.mark.slow
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
    assert "CLIPScore (toy clip, 2.5 max(cos, 0)): mean " in summary and "(the true captions: " in summary
    assert "s per image on average" in summary and "s in all" in summary and "Sentiment" not in summary


@needs_toy
@pytest.mark.slow
def test_demo_on_given_images_with_a_broken_one_steered_toward_a_sentiment(capsys, tmp_path):
    images = tmp_path / "images"
    code, _, err = run(capsys, "--out", tmp_path / "first", "--n", "1", *SMALL)  # one scene to reuse
    assert code == 0, err
    images.mkdir()
    (images / "a.png").write_bytes((tmp_path / "first" / "scenes" / "scene_0000.png").read_bytes())
    (images / "b.png").write_bytes(b"not a png")
    (images / "readme.txt").write_text("hello")
    code, stdout, err = run(capsys, images, "--out", tmp_path / "second", "--sentiment", "positive", *SMALL)
    assert code == 3, err
    assert "skipping" in err and "readme.txt" in err and "cannot read image" in err and "b.png" in err
    with (tmp_path / "second" / "captions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert "truth" not in rows[0] and [r["error"] != "" for r in rows] == [False, True]
    assert "loss_sentiment" in rows[0]
    assert "1 of 2 images could not be read" in stdout and "Attribute accuracy" not in stdout
    assert re.search(r"Sentiment: the preset's classifier judges [01]/1 captions positive\.", stdout), stdout
    assert "steered toward positive (sentiment weight 1)" in stdout


def test_the_summary_reports_accuracy_clipscore_and_each_steered_label(tiny_preset, tmp_path):
    scenes = render_scenes(tmp_path / "scenes", 2, seed=3)
    truths = {str(path): caption(scene) for path, scene in scenes.items()}
    rows = [{"file": path, "caption": truth, "truth": truth, "seconds": 0.5, "error": None}
            for path, truth in truths.items()]
    captioner = argparse.Namespace(settings=CaptionSettings(labels={"sentiment": "positive"}), preset=tiny_preset,
                                   weights={"lm": 1.0, "clip": 4.0, "sentiment": 2.0}, vocabulary="open")
    summary = summarise(rows, captioner, scenes, argparse.Namespace(seed=3, out=str(tmp_path)), start=0.0)
    assert summary.startswith("# fuse-edu demo") and "2 images (toy scenes, seed 3)" in summary
    assert "on the tiny preset" in summary and "steered toward positive (sentiment weight 2)." in summary
    assert "colour 2/2, shape 2/2, colour and shape 2/2, size too 2/2." in summary  # the truth names everything
    assert re.search(r"CLIPScore \(tiny clip, 2\.5 max\(cos, 0\)\): mean \d\.\d{3} \(the true captions: \d\.\d{3}\)\.",
                     summary), summary
    assert re.search(r"Sentiment: the preset's classifier judges [012]/2 captions positive\.", summary), summary
    assert "Time: 0.5 s per image on average" in summary and f"Rows: {tmp_path / 'captions.csv'}" in summary


def test_the_summary_escapes_file_names_and_captions(tmp_path):
    """Pipes, line breaks and HTML in a file name or caption stay inside their cell, as text."""
    hostile = ["a|b.png", "line\nbreak.png", "<script>alert(1).png", "<img src=x onerror=alert(1)>.png",
               "cr\rlf\r\n.png"]
    rows = [{"file": str(tmp_path / name), "caption": "x | <b>y</b>", "error": "bad\nimage", "seconds": 0}
            for name in hostile]
    captioner = argparse.Namespace(settings=CaptionSettings(), preset=argparse.Namespace(name="tiny", models={}),
                                   weights={}, vocabulary="open")
    summary = summarise(rows, captioner, {}, argparse.Namespace(seed=0, out=str(tmp_path)), start=0.0)
    table = [line for line in summary.splitlines() if line.startswith("| ") and "image | caption" not in line]
    assert len(table) == len(hostile)  # one line per row: no line break escaped the table
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 4 for line in table), table  # 3 cells, no stray pipe
    assert "<script>" not in summary and "<img" not in summary and "<b>" not in summary
    assert "&lt;script&gt;" in summary and "&lt;img src=x onerror=alert(1)&gt;" in summary and "&lt;b&gt;" in summary
    assert "a\\|b.png" in summary and "line\\nbreak.png" in summary and "bad\\nimage" in summary


def test_notebook_runs_that_notebook_with_the_seed(capsys, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fuse_edu.report.notebook, "render_notebook",
                        lambda nb, out, parameters: calls.append((Path(nb), Path(out), parameters)))
    monkeypatch.setattr(fuse_edu.cli.demo, "Captioner", refuse_to_load)
    code, stdout, err = run(capsys, "--notebook", NOTEBOOKS / "01_tokenizer_alignment.ipynb", "--out", tmp_path,
                            "--seed", "3")
    assert code == 0, err
    assert calls == [(NOTEBOOKS / "01_tokenizer_alignment.ipynb", tmp_path / "01_tokenizer_alignment.html",
                      {"SEED": 3})]
    assert f"wrote {tmp_path / '01_tokenizer_alignment.html'}" in stdout


@pytest.mark.slow
def test_demo_renders_notebook_01_with_a_non_default_parameter(tmp_path, monkeypatch):
    """``fuse-edu demo --notebook`` is the papermill path; a non-default N_WORDS (within the 5000..50000 its
    parameters cell allows) must reach the executed cells."""
    real_render = fuse_edu.report.notebook.render_notebook
    monkeypatch.setattr(fuse_edu.report.notebook, "render_notebook",
                        lambda nb, out, parameters: real_render(nb, out, {**parameters, "N_WORDS": 6000}))
    notebook = NOTEBOOKS / "01_tokenizer_alignment.ipynb"
    assert fuse_edu.cli.main(["demo", "--notebook", str(notebook), "--out", str(tmp_path), "--seed", "3"]) == 0

    executed = nbformat.read(tmp_path / "01_tokenizer_alignment.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "N_WORDS = 6000" in injected[0].source and "SEED = 3" in injected[0].source
    printed = json.dumps([o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs])
    assert "words counted: 6,000" in printed
    html = (tmp_path / "01_tokenizer_alignment.html").read_text()
    assert "data:image/png;base64" in html or "<img src=\"data:image/png" in html  # figures embedded


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
    monkeypatch.setattr(fuse_edu.cli.demo, "Captioner", refuse_to_load)
    (tmp_path / "a_file").write_text("")
    places = {"missing": tmp_path / "nope.png", "blocked": tmp_path / "a_file" / "out"}
    code, _, err = run(capsys, *[a.format(**places) for a in argv], "--no-progress")
    assert code == 2
    assert re.search(message, err), err
