"""The shipped toy LM and toy CLIP still meet their quality bars, on seeds nobody trained on.

Loads the weights exactly as users do (``from_pretrained`` on the package's weights dirs, float16 on disk
read as float32, tokenizers from ``load_tokenizer``). A failure here after a change to ``captions.py``,
``scenes.py`` or the tokenizers means the weights must be rebuilt: ``python -m fuse_edu.toyworld.train``.
The bars themselves score hundreds of scenes and sentences, or rebuild the token tables: ``slow``.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors import safe_open

from fuse_edu.toyworld.captions import caption_corpus
from fuse_edu.toyworld.evaluate import clip_accuracy, clip_confusion, lm_perplexity, two_object_accuracy
from fuse_edu.toyworld.scenes import COLORS, sample_scenes
from fuse_edu.toyworld.train import TOY_CLIP_DIR, TOY_LM_DIR
from fuse_edu.toyworld.train_clip import CLIP_NAME, TEXT_WIDTH
from fuse_edu.toyworld.train_clip import TABLE_STD as CLIP_TABLE_STD
from fuse_edu.toyworld.train_lm import LM_NAME, LM_WIDTH
from fuse_edu.toyworld.train_lm import TABLE_STD as LM_TABLE_STD
from fuse_edu.toyworld.token_init import init_token_table, nearest_tokens

TEST_SEED = 20_261_127          # never used by training (seed 0) or by its report (1_000_003)
CLIP_BAR = 0.90                 # the bar: colour and shape right on >= 90% of single-object scenes
TWO_OBJECT_BAR = 0.65           # objects read (colour and shape) in two-object scenes; shipped: 0.80 on 1,000
LM_PERPLEXITY_BAR = 5.0         # shipped LM: 4.60 on these 500 sentences, 4.44 on the report's 2,000 (oracle 3.09)
SIZE_BUDGET_BYTES = 16_000_000  # LM + CLIP; the sentiment model gets the rest of the 20 MB
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "vocab.txt")


@pytest.fixture(scope="module")
def toy_lm():
    from transformers import GPT2LMHeadModel
    return GPT2LMHeadModel.from_pretrained(str(TOY_LM_DIR), dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def toy_clip():
    from transformers import CLIPModel
    return CLIPModel.from_pretrained(str(TOY_CLIP_DIR), dtype=torch.float32).eval()


def test_weights_fit_the_budget_and_ship_without_tokenizers():
    total = 0
    for directory in (TOY_LM_DIR, TOY_CLIP_DIR):
        files = {p.name for p in directory.iterdir()}
        assert {"config.json", "model.safetensors"} <= files, f"{directory} lacks a checkpoint file: {files}"
        assert not files & set(TOKENIZER_FILES), f"{directory} ships tokenizer files; load_tokenizer owns those"
        total += sum(p.stat().st_size for p in directory.iterdir())
    assert total <= SIZE_BUDGET_BYTES, f"toy LM + CLIP take {total / 1e6:.1f} MB > {SIZE_BUDGET_BYTES / 1e6:.0f} MB"


@pytest.mark.parametrize("directory", [TOY_LM_DIR, TOY_CLIP_DIR], ids=["lm", "clip"])
def test_weights_are_float16_on_disk(directory):
    with safe_open(str(directory / "model.safetensors"), framework="pt") as weights:
        dtypes = {weights.get_slice(k).get_dtype() for k in weights.keys()}
    assert dtypes == {"F16"}, f"{directory.name} stores {dtypes}"


def test_models_load_as_float32(toy_lm, toy_clip):
    for model in (toy_lm, toy_clip):
        assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_clip_special_tokens_come_from_the_tokenizer(toy_clip, clip):
    text = toy_clip.config.text_config
    assert (text.bos_token_id, text.eos_token_id, text.pad_token_id) == \
        (clip.bos_token_id, clip.eos_token_id, clip.pad_token_id)
    assert text.vocab_size == len(clip)


@pytest.mark.slow
def test_clip_names_colour_and_shape_on_held_out_scenes(toy_clip, clip):
    accuracy = clip_accuracy(toy_clip, clip, sample_scenes(200, TEST_SEED, objects=1))
    assert accuracy["color_shape"] >= CLIP_BAR, accuracy


@pytest.mark.slow
def test_clip_reads_each_object_of_held_out_two_object_scenes(toy_clip, clip):
    accuracy = two_object_accuracy(toy_clip, clip, sample_scenes(200, TEST_SEED + 2, objects=2))
    assert accuracy["color_shape_per_object"] >= TWO_OBJECT_BAR, accuracy
    assert accuracy["color_set"] >= 0.95, accuracy


def test_two_object_accuracy_refuses_single_object_scenes(toy_clip, clip):
    with pytest.raises(ValueError, match="needs two-object scenes"):
        two_object_accuracy(toy_clip, clip, sample_scenes(2, TEST_SEED, objects=1))


def test_clip_confusion_counts_every_scene(toy_clip, clip):
    scenes = sample_scenes(40, TEST_SEED + 1, objects=1)
    labels, counts = clip_confusion(toy_clip, clip, scenes, "color")
    assert labels == tuple(COLORS) and counts.shape == (len(COLORS), len(COLORS))
    assert counts.sum() == len(scenes)


@pytest.mark.slow
def test_lm_perplexity_on_held_out_captions(toy_lm, gpt2):
    perplexity = lm_perplexity(toy_lm, gpt2, caption_corpus(500, TEST_SEED))
    assert perplexity <= LM_PERPLEXITY_BAR, f"held-out perplexity {perplexity:.2f} > {LM_PERPLEXITY_BAR}"


def test_reports_were_written_beside_the_weights():
    for directory in (TOY_LM_DIR, TOY_CLIP_DIR):
        report = json.loads((directory / "training_report.json").read_text())
        assert report["steps"] > 0 and report["wall_s"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("which", ["lm", "clip"])
def test_token_init_is_deterministic_and_the_shipped_table_is_it(which, toy_lm, toy_clip, gpt2, clip):
    """Recomputing the MiniLM-derived table gives the shipped (frozen) one bit for bit: the init is
    deterministic, and training did not move a single row."""
    tokenizer, width, name, std, shipped = {
        "lm": (gpt2, LM_WIDTH, LM_NAME, LM_TABLE_STD, toy_lm.get_input_embeddings().weight),
        "clip": (clip, TEXT_WIDTH, CLIP_NAME, CLIP_TABLE_STD, toy_clip.text_model.embeddings.token_embedding.weight),
    }[which]
    table = init_token_table(tokenizer, width, name=name, seed=0, std=std)
    assert torch.equal(table, shipped.detach()), "token table differs from a fresh token_init"
    assert "Ġtiny" in nearest_tokens(table, tokenizer, " small", k=10) or \
        "tiny</w>" in nearest_tokens(table, tokenizer, " small", k=10)


# ------------------------------------------------------------------------------------ the checksum manifest

def test_the_manifest_lists_every_shipped_weight_file_and_they_match_it():
    from fuse_edu.cache import MANIFEST, check_manifest, read_manifest

    weights = TOY_LM_DIR.parent
    listed = set(read_manifest(weights / MANIFEST))
    shipped = {p.relative_to(weights).as_posix() for p in weights.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert listed == shipped
    check_manifest(weights, weights / MANIFEST)


def test_manifest_files_are_hashed_once_per_process_until_they_change(tmp_path, monkeypatch):
    import fuse_edu.cache

    hashed = []
    real = fuse_edu.cache.sha256_file
    monkeypatch.setattr(fuse_edu.cache, "sha256_file", lambda path: hashed.append(path) or real(path))
    (tmp_path / "w").mkdir()
    weight = tmp_path / "w" / "model.safetensors"
    weight.write_bytes(b"\x00" * 1000)
    manifest = fuse_edu.cache.write_manifest(tmp_path)
    hashed.clear()
    for _ in range(3):
        fuse_edu.cache.check_manifest(tmp_path / "w", manifest)
    assert len(hashed) == 1
    weight.write_bytes(b"\x01" + b"\x00" * 999)  # same size; a new modification time
    os.utime(weight, ns=(weight.stat().st_atime_ns, weight.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(ValueError, match=r"model\.safetensors does not match .*: expected sha256 [0-9a-f]{64}, got"):
        fuse_edu.cache.check_manifest(tmp_path / "w", manifest)
