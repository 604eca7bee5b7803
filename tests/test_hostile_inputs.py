"""Hostile files and arguments through the command line, in process: each case checks the exit status, a
one-line message without a traceback, and that the good rows are written (and nothing the user had is lost).

Most cases run ``fuse-edu caption`` with a stand-in captioner, since they are about files and flags, not
captions; one case runs the real toy preset on a folder with oversized images and a broken sentiment head.
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import json
import os
import re
import struct
import zlib
from pathlib import Path

import pytest

import fuse_edu.captioning.rows
import fuse_edu.cli.caption
import fuse_edu.cli.demo
from fuse_edu.cache import MANIFEST
from fuse_edu.models import PRESETS, ModelSource
from fuse_edu.optim import RunResult
from fuse_edu.toyworld import render_to_folder
from tests.support import needs_toy, run_cli

SEED_MESSAGE = "must be a seed from 0 to 4294967295, got 1180591620717411303424"


def png_header(width: int, height: int, idat: bytes = b"") -> bytes:
    """A 1-bit greyscale PNG of ``width`` x ``height``: its header, and ``idat`` as its (only) pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + (chunk(b"IDAT", idat) if idat else b"") + chunk(b"IEND", b"")


def real_big_png(side: int) -> bytes:
    """A valid, all-black ``side`` x ``side`` PNG: zlib shrinks its rows a thousandfold (~50 KB for 20000)."""
    row = bytes(1 + (side + 7) // 8)  # filter byte + packed bits
    compressor, parts = zlib.compressobj(9), []
    for _ in range(side // 1000):
        parts.append(compressor.compress(row * 1000))
    parts.append(compressor.compress(row * (side % 1000)) + compressor.flush())
    return png_header(side, side, b"".join(parts))


class StandIn:
    """Stands in for Captioner: every readable image gets the caption "a red square"."""

    columns = ["file", "caption", "loss", "loss_lm", "loss_clip", "evaluations", "seconds", "steps", "error"]

    def __init__(self, preset, settings, device, progress):
        self.settings = settings

    def caption(self, image):
        return RunResult("a red square", [1], 1.5, {"lm": 0.5, "clip": 0.25}, 10, 0.1, 1)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    render_to_folder(folder, 2, seed=0)  # scene_0000.png, scene_0001.png and the true captions.csv
    return folder


@pytest.fixture
def folder(scenes, tmp_path):
    """A copy of the two scenes and their captions.csv, to which a case adds its hostile files."""
    out = tmp_path / "in"
    out.mkdir()
    for path in scenes.iterdir():
        (out / path.name).write_bytes(path.read_bytes())
    return out


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def names(rows: list[dict]) -> list[str]:
    return [Path(row["file"]).name for row in rows]


# ------------------------------------------------------------------------------------ the table
# Each case: what it adds to the folder (and to the output), the extra arguments, then the exit status,
# a pattern the stderr must match, and the file names of the rows --out must hold afterwards (None: no
# --out is checked).

@dataclasses.dataclass
class Case:
    name: str
    setup: object                 # (folder, out) -> extra argv
    code: int
    message: str
    rows: list[str] | None = None

    def __str__(self) -> str:
        return self.name


def _bomb_header(folder, out):
    (folder / "bomb.png").write_bytes(png_header(100_000, 100_000))  # 45 bytes claiming 10^10 pixels
    return []


def _big(folder, out):
    (folder / "big.png").write_bytes(real_big_png(20_000))
    return []


def _over_our_limit(folder, out):
    (folder / "over.png").write_bytes(png_header(9000, 9000))  # over ours, under Pillow's own warning
    return []


def _dangling(folder, out):
    (folder / "gone.png").symlink_to(folder / "nowhere.png")
    return []


def _looping(folder, out):
    (folder / "loop.png").symlink_to(folder / "loop.png")
    return []


def _existing_out(folder, out):
    out.write_text("precious\n")
    return []


def _resume(folder, out):
    out.write_text("file,caption,loss,loss_lm,loss_clip,evaluations,seconds,steps,error\n"
                   f"{folder / 'scene_0000.png'},kept caption,1,1,1,1,1,1,\n")
    return ["--resume"]


def _resume_torn(folder, out):
    out.write_text("file,caption,loss,loss_lm,loss_clip,evaluations,seconds,steps,error\n"
                   f"{folder / 'scene_0000.png'},kept caption,1,1,1,1,1,1,\n{folder / 'scene_0001.png'},a ha")
    return ["--resume"]


def _overwrite(folder, out):
    out.write_text("precious\n")
    return ["--overwrite"]


def _truth_file(folder, out):
    return ["--out", str(folder / "captions.csv"), "--overwrite"]


def _huge_seed(folder, out):
    return ["--seed", str(2**70)]


CASES = [
    Case("bomb-header-100000x100000", _bomb_header, 3, r"bomb\.png: .*over the limit of 67,108,864 pixels "
         r"\(MAX_IMAGE_PIXELS.*10000000000 pixels", ["bomb.png", "scene_0000.png", "scene_0001.png"]),
    Case("real-png-20000x20000", _big, 3, r"big\.png: .*over the limit of 67,108,864 pixels",
         ["big.png", "scene_0000.png", "scene_0001.png"]),
    Case("header-9000x9000", _over_our_limit, 3, r"over\.png: 9000 x 9000 = 81,000,000 pixels, over the limit of "
         r"67,108,864 pixels", ["over.png", "scene_0000.png", "scene_0001.png"]),
    Case("dangling-symlink", _dangling, 0, r"warning: skipping .*gone\.png: dangling symbolic link",
         ["scene_0000.png", "scene_0001.png"]),
    Case("looping-symlink", _looping, 0, r"warning: skipping .*loop\.png: looping symbolic link",
         ["scene_0000.png", "scene_0001.png"]),
    Case("existing-out-refused", _existing_out, 2, r"out\.csv exists; give --resume .* or --overwrite"),
    Case("resume-skips-kept-rows", _resume, 0, r"^$", ["scene_0000.png", "scene_0001.png"]),
    Case("resume-after-a-torn-row", _resume_torn, 0, r"^$", ["scene_0000.png", "scene_0001.png"]),
    Case("overwrite", _overwrite, 0, r"^$", ["scene_0000.png", "scene_0001.png"]),
    Case("out-is-the-truth-file", _truth_file, 2, r"would overwrite the input .*captions\.csv; choose another"),
    Case("seed-2**70", _huge_seed, 2, SEED_MESSAGE),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_caption_survives(capsys, monkeypatch, folder, tmp_path, case):
    monkeypatch.setattr(fuse_edu.cli.caption, "Captioner", StandIn)
    out = tmp_path / "out.csv"
    extra = case.setup(folder, out)
    before = out.read_bytes() if out.exists() else None
    truth = (folder / "captions.csv").read_bytes()
    argv = [folder, "--no-progress", *extra] + ([] if "--out" in extra else ["--out", out])
    code, stdout, err = run_cli(capsys, "caption", *argv)
    err = "\n".join(line for line in err.splitlines() if "captions.csv: not an image" not in line)
    assert code == case.code, err
    assert re.search(case.message, err.strip()), err
    assert len([line for line in err.splitlines() if "error:" in line]) <= 1 + (case.code == 3)
    assert (folder / "captions.csv").read_bytes() == truth  # the truth file is never written
    if case.rows is None:
        assert before is None or out.read_bytes() == before  # a refused --out is left as it was
        return
    rows = read_csv(out)
    assert names(rows) == case.rows
    for row in rows:
        if row["error"]:
            assert row["caption"] == "" and "cannot read image" in row["error"]
        else:
            assert row["caption"] in ("a red square", "kept caption")
    if "--resume" in extra:
        assert rows[0]["caption"] == "kept caption" and "keeps 1 rows; 1 images to go" in stdout


# ------------------------------------------------------------------------------------ writes that fail

def test_a_full_disk_while_writing_csv_ends_the_run_with_whole_rows(capsys, monkeypatch, folder, tmp_path):
    monkeypatch.setattr(fuse_edu.cli.caption, "Captioner", StandIn)
    real, calls = fuse_edu.captioning.rows._write_all, []

    def fill_up(fd, data):  # the header and one row go through; the next row gets half-way
        calls.append(len(data))
        if len(calls) == 3:
            os.write(fd, data[:len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)
    monkeypatch.setattr(fuse_edu.captioning.rows, "_write_all", fill_up)
    out = tmp_path / "out.csv"
    code, _, err = run_cli(capsys, "caption", folder, "--no-progress", "--out", out)
    assert code == 1 and re.search(r"No space left on device\); wrote 1 rows to .*out\.csv", err), err
    assert out.read_text().endswith("\n") and names(read_csv(out)) == ["scene_0000.png"]  # no torn row


def test_dev_full_is_exit_1_with_what_was_written(capsys, monkeypatch, folder, tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    monkeypatch.setattr(fuse_edu.cli.caption, "Captioner", StandIn)
    out = tmp_path / "full.csv"
    out.symlink_to("/dev/full")
    code, _, err = run_cli(capsys, "caption", folder, "--no-progress", "--out", out, "--overwrite")
    assert code == 1 and "wrote 0 rows to" in err and err.count("error:") == 1, err


def test_a_full_disk_while_writing_json_keeps_a_valid_file_and_no_temporary(capsys, monkeypatch, folder, tmp_path):
    monkeypatch.setattr(fuse_edu.cli.caption, "Captioner", StandIn)
    real_fsync, calls = os.fsync, []

    def fill_up(fd):  # the empty list and one row go through; the second row's temporary file fails
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fill_up)
    out = tmp_path / "runs" / "out.json"
    code, _, err = run_cli(capsys, "caption", folder, "--no-progress", "--out", out)
    assert code == 1 and re.search(r"wrote 1 rows to .*out\.json", err), err
    assert names(json.loads(out.read_text())) == ["scene_0000.png"]
    assert [p.name for p in out.parent.iterdir()] == ["out.json"]  # no temporary file left behind


# ------------------------------------------------------------------------------------ demo

def refuse_to_load(*args, **kwargs):
    raise AssertionError("a model was loaded before the input was checked")


@pytest.mark.parametrize("argv, message", [
    (["--out", "{out}"], r"captions\.csv exists; give --resume"),
    (["{folder}", "--out", "{folder}", "--overwrite"], r"would overwrite the input .*in/captions\.csv"),
    (["--out", "{out}", "--resume", "--seed", "5"], r"holds a row for .* from other scenes"),
    (["--seed", str(2**70)], SEED_MESSAGE),
    (["--out", "{out}", "--resume", "--overwrite"], "not allowed with argument"),
], ids=["existing-rows-refused", "out-is-an-input-folder", "resume-other-scenes", "seed-2**70", "both-flags"])
def test_demo_refuses_before_any_model_loads(capsys, monkeypatch, folder, tmp_path, argv, message):
    monkeypatch.setattr(fuse_edu.cli.demo, "Captioner", refuse_to_load)
    out = tmp_path / "demo"
    out.mkdir()
    kept = ("file,caption,truth,loss,loss_lm,loss_clip,evaluations,seconds,steps,error\n"
            f"{out / 'scenes' / 'scene_0000.png'},a red circle,a small red circle,1,1,1,1,1,1,\n")
    (out / "captions.csv").write_text(kept)
    truth = (folder / "captions.csv").read_bytes()
    code, _, err = run_cli(capsys, "demo", *[a.format(out=out, folder=folder) for a in argv], "--no-progress")
    assert code == 2 and re.search(message, err), err
    assert (out / "captions.csv").read_text() == kept and (folder / "captions.csv").read_bytes() == truth


# ------------------------------------------------------------------------------------ shipped weights

@needs_toy
def test_a_flipped_bit_in_a_shipped_weight_is_named_with_both_digests(capsys, monkeypatch, folder, tmp_path):
    """A copy of the toy weights with their manifest; one byte of the LM's tensors changed."""
    spec = PRESETS["toy"]
    weights = tmp_path / "weights"
    for role in ("lm", "clip"):
        source = Path(spec.models[role].source)
        (weights / source.name).mkdir(parents=True)
        for path in source.iterdir():
            (weights / source.name / path.name).write_bytes(path.read_bytes())
    (weights / MANIFEST).write_text((Path(spec.models["lm"].source).parent / MANIFEST).read_text())
    lm_file = weights / "toy-lm" / "model.safetensors"
    data = bytearray(lm_file.read_bytes())
    data[-100] ^= 0x01
    lm_file.write_bytes(bytes(data))
    moved = {role: dataclasses.replace(spec.models[role], source=weights / Path(spec.models[role].source).name)
             for role in ("lm", "clip")}
    monkeypatch.setitem(PRESETS, "toy", dataclasses.replace(spec, models={**spec.models, **moved}))
    code, _, err = run_cli(capsys, "caption", folder / "scene_0000.png", "--no-progress", "--device", "cpu")
    assert code == 1, err
    assert re.search(r"toy-lm/model\.safetensors does not match .*SHA256SUMS: expected sha256 [0-9a-f]{64}, "
                     r"got [0-9a-f]{64}; rebuild it with: python -m fuse_edu.toyworld.train", err), err


# ------------------------------------------------------------------------------------ one real run

@needs_toy
def test_oversized_images_are_error_rows_and_plain_captioning_needs_no_sentiment_head(capsys, monkeypatch, folder,
                                                                                        tmp_path):
    """The real toy preset, with its sentiment classifier broken: a plain caption run never reads it."""
    def broken():
        raise OSError("toy sentiment head is missing")
    spec = PRESETS["toy"]
    sentiment = dataclasses.replace(spec.models["sentiment"], source=broken)
    assert isinstance(sentiment, ModelSource)
    monkeypatch.setitem(PRESETS, "toy", dataclasses.replace(spec, models={**spec.models, "sentiment": sentiment}))
    (folder / "scene_0001.png").unlink()
    (folder / "a_big.png").write_bytes(real_big_png(20_000))
    (folder / "b_bomb.png").write_bytes(png_header(100_000, 100_000))
    out = tmp_path / "out.csv"
    code, stdout, err = run_cli(capsys, "caption", folder, "--out", out, "--steps", "1", "--candidates", "8",
                                "--topk", "4", "--prompt-length", "2", "--vocabulary", "lexicon", "--device", "cpu",
                                "--no-progress")
    assert code == 3, err
    rows = read_csv(out)
    assert names(rows) == ["a_big.png", "b_bomb.png", "scene_0000.png"]
    assert all("over the limit of 67,108,864 pixels" in row["error"] for row in rows[:2])
    assert rows[2]["caption"].strip() and rows[2]["error"] == ""
    assert "wrote 3 rows" in stdout and "(2 with an error)" in stdout


# ------------------------------------------------------------------------------------ report's image check

def test_report_refuses_an_oversized_image_before_any_kernel_starts(capsys, monkeypatch, folder, tmp_path):
    import fuse_edu.report.notebook

    monkeypatch.setattr(fuse_edu.report.notebook, "render_notebook", refuse_to_load)
    (folder / "bomb.png").write_bytes(png_header(100_000, 100_000))
    code, _, err = run_cli(capsys, "report", folder, "--out", tmp_path / "report.html", "--no-progress")
    assert code == 2 and re.search(r"bomb\.png: .*over the limit of 67,108,864 pixels", err), err
    assert not (tmp_path / "report.html").exists()


@needs_toy
def test_a_nan_weight_is_exit_1_naming_the_term_not_a_caption(capsys, monkeypatch, folder, tmp_path):
    """A model with a NaN weight (here CLIP's text projection, after loading) used to give "!!!!!!!!", loss
    nan, exit 0."""
    import torch

    import fuse_edu.captioning.captioner as captioner_module

    real = captioner_module.load_preset

    def poisoned(spec, device):
        preset = real(spec, device=device)
        with torch.no_grad():
            preset.models["clip"].model.text_projection.weight[0, 0] = float("nan")
        return preset
    monkeypatch.setattr(captioner_module, "load_preset", poisoned)
    out = tmp_path / "out.csv"
    code, stdout, err = run_cli(capsys, "caption", folder / "scene_0000.png", "--out", out, "--steps", "1",
                                "--candidates", "8", "--topk", "4", "--prompt-length", "2", "--vocabulary", "lexicon",
                                "--device", "cpu", "--no-progress")
    assert code == 1 and "NonFiniteLossError: the 'clip' term gave a NaN or infinite loss" in err, err
    assert "after 0 finished rows" in err and read_csv(out) == []  # no nonsense row
