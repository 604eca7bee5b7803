"""``fuse-edu caption``: end to end on rendered toy scenes, and every bad input answered with a message and a
non-zero exit status, never a traceback."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from fuse_edu.caption import CAPTION_WEIGHTS
import torch

from fuse_edu.caption_cli import DEFAULT_PRESET, PRESET_NAMES
from fuse_edu.cli import main
from fuse_edu.models import PRESETS
from fuse_edu.models import DEFAULT_PRESET as MODELS_DEFAULT_PRESET
from fuse_edu.models.presets import TOY_WEIGHTS
from fuse_edu.toyworld.render_cli import render_to_folder

TOY_MISSING = [str(p) for p in (TOY_WEIGHTS / "toy-lm", TOY_WEIGHTS / "toy-clip") if not p.exists()]
needs_toy = pytest.mark.skipif(bool(TOY_MISSING), reason=f"toy weights not built: {TOY_MISSING}")
FAST = ["--steps", "2", "--candidates", "16", "--topk", "8", "--prompt-length", "3", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    render_to_folder(folder, 2, seed=0)
    return folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Adapters are fitted once per test session into a private cache, not the user's."""
    monkeypatch.setenv("FUSE_EDU_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(["caption", *map(str, argv)])
    except SystemExit as exit_:  # argparse's own errors and --help
        code = exit_.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_parser_choices_match_the_packages_own_lists():
    assert PRESET_NAMES == tuple(PRESETS) and DEFAULT_PRESET == MODELS_DEFAULT_PRESET


def test_help_has_examples_and_exit_codes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "examples:" in out and "exit status" in out and "--budget" in out


@needs_toy
def test_captions_two_scenes_to_csv_and_json(capsys, scenes, tmp_path):
    out_csv = tmp_path / "captions.csv"
    images = sorted(scenes.glob("*.png"))
    code, out, err = run(capsys, *images, *FAST, "--budget", "40", "--out", out_csv)
    assert code == 0, err
    with out_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"] for r in rows] == [str(p) for p in images]
    assert list(rows[0])[:3] == ["file", "caption", "loss"]
    assert {"loss_lm", "loss_clip", "evaluations", "seconds"} <= set(rows[0])
    for row in rows:
        assert row["caption"].strip() and float(row["seconds"]) > 0
        assert int(row["evaluations"]) <= 40  # the budget caps the 2 steps at 1 + 2 * 16 = 33
        weighted = sum(CAPTION_WEIGHTS[name] * float(row[f"loss_{name}"]) for name in ("lm", "clip"))
        assert float(row["loss"]) == pytest.approx(weighted, rel=1e-4)  # the total is the weighted sum
    assert "wrote 2 rows" in out
    out_json = tmp_path / "captions.json"
    code, _, err = run(capsys, scenes, *FAST, "--method", "random", "--out", out_json)  # a folder, another method
    assert code == 0, err
    assert [r["file"] for r in json.loads(out_json.read_text())] == [str(p) for p in images]


@pytest.mark.parametrize("argv, message", [
    (["{missing}"], "image path .*nope.png does not exist"),
    (["{garbage}"], "cannot read image .*garbage.png"),
    (["{empty}"], "folder .*empty has no image files"),
    (["{scene}", "--method", "adam"], "invalid choice: 'adam'"),
    (["{scene}", "--preset", "huge"], "invalid choice: 'huge'"),
    (["{scene}", "--steps", "-1"], "--steps: must be an integer >= 0, got -1"),
    (["{scene}", "--prompt-length", "0"], "--prompt-length: must be an integer >= 1, got 0"),
    (["{scene}", "--budget", "10"], "--budget 10 is smaller than one step"),
    (["{scene}", "--out", "captions.txt"], "--out must end in .csv or .json"),
    (["{scene}", "--weight", "clip=abc"], "expected NAME=NUMBER"),
    (["{scene}", "--weight", "clipp=1"], "unknown --weight name"),
    (["{scene}", "--weight", "lm=-1"], "weight of 'lm' must be a finite number >= 0"),
    (["{scene}", "--strategy", "beam"], "method 'gcg' takes no search strategy"),
])
def test_bad_input_is_a_message_and_exit_status_2(capsys, scenes, tmp_path, argv, message):
    (tmp_path / "garbage.png").write_bytes(b"not a png")
    (tmp_path / "empty").mkdir()
    places = {"missing": tmp_path / "nope.png", "garbage": tmp_path / "garbage.png", "empty": tmp_path / "empty",
              "scene": sorted(scenes.glob("*.png"))[0]}
    code, _, err = run(capsys, *[a.format(**places) for a in argv], "--no-progress")
    assert code == 2
    assert err.strip() and __import__("re").search(message, err), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_an_error_not_a_fallback(capsys, scenes):
    code, _, err = run(capsys, scenes, "--device", "cuda")
    assert code == 2 and "cuda" in err and "'auto'" in err


def test_a_method_that_is_not_installed_says_so(capsys, scenes, monkeypatch):
    monkeypatch.setitem(__import__("fuse_edu.optim").optim.METHODS, "pez", ("fuse_edu.optim.not_here", "PEZ"))
    code, _, err = run(capsys, scenes, "--method", "pez", "--no-progress")
    assert code == 1 and "method 'pez' is not available" in err


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fuse_edu.cli", "caption", str(tmp_path / "nope.png")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "nope.png does not exist" in done.stderr and "Traceback" not in done.stderr
