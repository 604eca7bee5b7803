"""``fuse-edu caption``: end to end on rendered toy scenes, robust folder runs (a text file skipped, a broken
image an error row, rows written as they finish), and every bad input answered with a message and a non-zero
exit status, never a traceback. The runs on the toy preset are ``slow``; the flow around them is tested with
a stand-in captioner."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch

import fuse_edu.cli.caption
from fuse_edu.cli import build_parser
from fuse_edu.cli.caption import SENTIMENT_LABELS, settings_from
from fuse_edu.models import DEFAULT_PRESET, PRESETS
from fuse_edu.optim import RunResult
from fuse_edu.toyworld import render_to_folder
from fuse_edu.toyworld.sentiment_model import ID2LABEL
from tests.support import needs_toy, run_cli

FAST = ["--steps", "2", "--candidates", "16", "--topk", "8", "--prompt-length", "3", "--vocabulary", "lexicon",
        "--device", "cpu", "--no-progress"]
TOY_WEIGHTS = PRESETS["toy"].weights  # lm 1, clip 4, sentiment 1


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    render_to_folder(folder, 2, seed=0)
    return folder


def run(capsys, *argv) -> tuple[int, str, str]:
    return run_cli(capsys, "caption", *argv)


def parse(*argv):
    return build_parser().parse_args(["caption", "x.png", *argv])


def test_parser_choices_match_the_packages_own_lists():
    assert parse().preset == DEFAULT_PRESET == "toy"
    preset_action = next(a for a in build_parser()._subparsers._group_actions[0].choices["caption"]._actions
                         if a.dest == "preset")
    assert tuple(preset_action.choices) == tuple(PRESETS)
    assert sorted(SENTIMENT_LABELS) == sorted(ID2LABEL.values())  # the toy classifier's labels


def test_help_has_examples_and_exit_codes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "examples:" in out and "exit status" in out and "--budget" in out and "--label" in out


def test_label_and_sentiment_flags_make_the_same_settings():
    by_flag = settings_from(parse("--sentiment", "positive", "--sentiment-weight", "2.5"))
    by_label = settings_from(parse("--label", "sentiment=positive", "--weight", "sentiment=2.5"))
    assert by_flag.labels == by_label.labels == {"sentiment": "positive"}
    assert by_flag.weights == by_label.weights == {"sentiment": 2.5}
    agreeing = settings_from(parse("--sentiment", "positive", "--label", "sentiment=positive"))
    assert agreeing.labels == {"sentiment": "positive"}


def test_settings_follow_the_flags():
    settings = settings_from(parse("--method", "random", "--budget", "100", "--candidates", "16", "--fixed-length",
                                   "--prompt-length", "5", "--seed", "3", "--weight", "clip=2"))
    assert (settings.method, settings.budget, settings.candidates_per_step, settings.prompt_length) == \
        ("random", 100, 16, 5)
    assert settings.patience is None and not settings.variable_length  # a budget turns patience off
    assert settings.seed == 3 and settings.weights == {"clip": 2.0} and settings.labels == {}
    assert settings_from(parse()).patience == 8 and settings_from(parse("--patience", "0")).patience is None


@needs_toy
@pytest.mark.slow
def test_captions_two_scenes_to_csv_and_json(capsys, scenes, tmp_path):
    out_csv = tmp_path / "captions.csv"
    images = sorted(scenes.glob("*.png"))
    code, out, err = run(capsys, *images, *FAST, "--budget", "40", "--out", out_csv)
    assert code == 0, err
    with out_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"] for r in rows] == [str(p) for p in images]
    assert list(rows[0])[:3] == ["file", "caption", "loss"]
    assert {"loss_lm", "loss_clip", "evaluations", "seconds"} <= set(rows[0]) and "loss_sentiment" not in rows[0]
    for row in rows:
        assert row["caption"].strip() and float(row["seconds"]) > 0
        assert int(row["evaluations"]) <= 40  # the budget caps the 2 steps at 1 + 2 * 16 = 33
        weighted = sum(TOY_WEIGHTS[name] * float(row[f"loss_{name}"]) for name in ("lm", "clip"))
        assert float(row["loss"]) == pytest.approx(weighted, rel=1e-4)  # the total is the weighted sum
    assert "wrote 2 rows" in out
    out_json = tmp_path / "captions.json"
    code, _, err = run(capsys, scenes, *FAST, "--method", "random", "--out", out_json)  # a folder, another method
    assert code == 0, err
    written = json.loads(out_json.read_text())
    assert [r["file"] for r in written] == [str(p) for p in images] and all(r["error"] is None for r in written)


@pytest.fixture
def messy(scenes, tmp_path):
    """Two good scenes, a text file and a broken PNG in one folder."""
    folder = tmp_path / "messy"
    folder.mkdir()
    for path in sorted(scenes.glob("*.png")):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "scene_0000b_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return folder


@needs_toy
@pytest.mark.slow
def test_a_folder_with_a_text_file_and_a_broken_png(capsys, messy, tmp_path):
    out = tmp_path / "runs" / "messy.csv"  # the folder does not exist yet
    code, stdout, err = run(capsys, messy, *FAST, "--out", out)
    assert code == 3, err  # done, but not every image
    assert "warning: skipping" in err and "notes.txt" in err
    assert "cannot read image" in err and "scene_0000b_broken.png" in err
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"].rsplit("/", 1)[-1] for r in rows] == ["scene_0000.png", "scene_0000b_broken.png", "scene_0001.png"]
    good, broken, other = rows
    assert good["caption"].strip() and other["caption"].strip() and good["error"] == other["error"] == ""
    assert broken["caption"] == "" and "cannot read image" in broken["error"]
    assert "wrote 3 rows" in stdout and "(1 with an error)" in stdout


@needs_toy
@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--sentiment", "positive", "--sentiment-weight", "2.5"],
                                   ["--label", "sentiment=positive", "--weight", "sentiment=2.5"]],
                         ids=["sentiment", "label"])
def test_a_steered_role_adds_its_term_with_its_weight(capsys, scenes, tmp_path, flags):
    out = tmp_path / "happy.json"
    image = sorted(scenes.glob("*.png"))[0]
    code, _, err = run(capsys, image, *FAST, *flags, "--out", out)
    assert code == 0, err
    (row,) = json.loads(out.read_text())
    weights = {**TOY_WEIGHTS, "sentiment": 2.5}
    weighted = sum(weights[name] * row[f"loss_{name}"] for name in ("lm", "clip", "sentiment"))
    assert row["loss"] == pytest.approx(weighted, rel=1e-4)


class FakeCaptioner:
    """Stands in for Captioner where a test is about the command line's flow, not about captions."""

    made = 0
    columns = ["file", "caption", "loss", "loss_lm", "loss_clip", "evaluations", "seconds", "steps", "error"]

    def __init__(self, preset, settings, device, progress):
        FakeCaptioner.made += 1
        self.settings, self.calls = settings, 0

    def caption(self, image):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return RunResult("a red square", [1], 1.5, {"lm": 0.5, "clip": 0.25}, 10, 0.1, 1)


def test_an_interrupted_run_keeps_its_finished_rows(capsys, scenes, tmp_path, monkeypatch):
    monkeypatch.setattr(fuse_edu.cli.caption, "Captioner", FakeCaptioner)
    for name in ("kept.csv", "kept.json"):
        code, _, err = run(capsys, scenes, "--no-progress", "--out", tmp_path / name)
        assert code == 130 and "interrupted after 1 of 2 images" in err and "keeps the 1 finished rows" in err
    with (tmp_path / "kept.csv").open() as handle:
        assert [r["caption"] for r in csv.DictReader(handle)] == ["a red square"]
    assert [r["caption"] for r in json.loads((tmp_path / "kept.json").read_text())] == ["a red square"]


def test_the_captioner_gets_the_checked_settings(capsys, scenes, monkeypatch):
    made = []
    monkeypatch.setattr(fuse_edu.cli.caption, "Captioner", lambda preset, settings, device, progress:
                        made.append((preset, settings, str(device), progress)) or FakeCaptioner(preset, settings,
                                                                                               device, progress))
    run(capsys, sorted(scenes.glob("*.png"))[0], "--label", "sentiment=negative", "--method", "random",
        "--device", "cpu", "--no-progress")
    (preset, settings, device, progress), = made
    assert preset == "toy" and device == "cpu" and progress is False
    assert settings.method == "random" and settings.labels == {"sentiment": "negative"}


def test_unwritable_out_fails_before_any_model_loads(capsys, scenes, tmp_path, monkeypatch):
    monkeypatch.setattr(fuse_edu.cli.caption, "Captioner", FakeCaptioner)
    FakeCaptioner.made = 0
    (tmp_path / "a_file").write_text("")
    code, _, err = run(capsys, scenes, "--no-progress", "--out", tmp_path / "a_file" / "captions.csv")
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and "cannot write --out" in errors[0]
    assert "a_file is a file, not a folder" in errors[0]
    assert FakeCaptioner.made == 0
    existing = tmp_path / "old.csv"
    existing.write_text("precious\n")
    monkeypatch.setattr(fuse_edu.cli.caption, "Captioner", lambda *a, **k: (_ for _ in ()).throw(OSError("no model")))
    code, _, err = run(capsys, scenes, "--no-progress", "--out", existing, "--overwrite")
    assert code == 1 and existing.read_text() == "precious\n"  # the check touched nothing


@pytest.mark.parametrize("argv, message", [
    (["{missing}"], "image path .*nope.png does not exist"),
    (["{garbage}"], "cannot read image .*garbage.png"),
    (["{empty}"], "folder .*empty has no image files"),
    (["{scene}", "--method", "adam"], "invalid choice: 'adam'"),
    (["{scene}", "--preset", "huge"], "invalid choice: 'huge'"),
    (["{scene}", "--steps", "-1"], "--steps: must be an integer >= 0, got -1"),
    (["{scene}", "--prompt-length", "0"], "--prompt-length: must be an integer >= 1, got 0"),
    (["{scene}", "--budget", "10"], "budget 10 is smaller than one gcg step, which needs 65 evaluations"),
    (["{scene}", "--method", "autodan", "--candidates", "16", "--budget", "10"],
     "budget 10 is smaller than one autodan step, which needs 16 evaluations"),
    (["{scene}", "--prompt-length", "100000"], "--prompt-length 100000 does not fit"),
    (["{scene}", "--out", "captions.txt"], "--out must end in .csv or .json"),
    (["{scene}", "--resume"], "--resume is about the rows in --out; give --out FILE"),
    (["{scene}", "--out", "a.csv", "--resume", "--overwrite"], "argument --overwrite: not allowed with argument --resume"),
    (["{scene}", "--weight", "clip=abc"], r"argument --weight: expected NAME=VALUE \(e.g. clip=2.0\), got 'clip=abc'"),
    (["{scene}", "--weight", "clipp=1"], r"unknown weight name\(s\) clipp; accepted: lm, clip, sentiment"),
    (["{scene}", "--weight", "lm=-1"], "weight of 'lm' must be a finite number >= 0"),
    (["{scene}", "--strategy", "beam"], "method 'gcg' takes no search strategy"),
    (["{scene}", "--sentiment", "happy"], "invalid choice: 'happy'.*positive.*negative"),
    (["{scene}", "--sentiment-weight", "2"], "a weight for sentiment needs a label for it to steer toward"),
    (["{scene}", "--weight", "sentiment=2"], "a weight for sentiment needs a label for it to steer toward"),
    (["{scene}", "--sentiment", "negative", "--sentiment-weight", "2", "--weight", "sentiment=3"], "disagree"),
    (["{scene}", "--sentiment", "negative", "--label", "sentiment=positive"], "disagree; give one"),
    (["{scene}", "--sentiment", "negative", "--sentiment-weight", "nan"], "must be a finite number >= 0"),
    (["{scene}", "--label", "clip=red"], "a label for clip, which preset 'toy' has no classifier role for"),
    (["{scene}", "--label", "sentiment"], r"argument --label: expected NAME=VALUE"),
    (["{missing}", "{scene}"], "image path .*nope.png does not exist"),
    (["{scene}", "--vocabulary", "huge"], "invalid choice: 'huge'.*open.*lexicon"),
    (["{scene}", "--adapter", "learned"], "invalid choice: 'learned'.*fuse.*none.*random"),
    (["{scene}", "--vocabulary", "lexicon", "--topk", "64"],
     "GCG with topk 64 needs at least 65 allowed tokens .* but this vocabulary allows \\d+"),
    (["{scene}", "--vocabulary", "lexicon", "--method", "autodan", "--candidates", "60"],
     "AutoDAN tries .* = 60 tokens per slot, but this vocabulary allows \\d+"),
])
def test_bad_input_is_a_message_and_exit_status_2(capsys, scenes, tmp_path, argv, message):
    (tmp_path / "garbage.png").write_bytes(b"not a png")
    (tmp_path / "empty").mkdir()
    places = {"missing": tmp_path / "nope.png", "garbage": tmp_path / "garbage.png", "empty": tmp_path / "empty",
              "scene": sorted(scenes.glob("*.png"))[0]}
    code, _, err = run(capsys, *[a.format(**places) for a in argv], "--no-progress")
    assert code == 2
    assert err.strip() and re.search(message, err), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_an_error_not_a_fallback(capsys, scenes):
    code, _, err = run(capsys, scenes, "--device", "cuda")
    assert code == 2 and "cuda" in err and "'auto'" in err


def test_a_method_that_is_not_installed_says_so(capsys, scenes, monkeypatch):
    """A method that cannot be loaded is exit status 1 (the module docstring's), not bad input."""
    monkeypatch.setitem(fuse_edu.optim.METHODS, "pez", ("fuse_edu.optim.not_here", "PEZ"))
    code, _, err = run(capsys, scenes, "--method", "pez", "--no-progress")
    assert "method 'pez' is not available" in err
    assert code == 1
