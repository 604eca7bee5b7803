"""Presets and loading: the toy world loads offline, the paper path runs without the hub, and bad names,
hub ids while offline and broken checkpoints are refused with messages that say what to do.

The paper's models cannot be downloaded here, so the paper path is proven with randomly initialised
models of the exact same architectures (gpt2-medium, CLIP ViT-B/32, DistilBERT-base), the real
tokenizers, ``save_pretrained`` into a folder and the paper preset pointed at it: the same code path as
with the hub, weights aside.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch
from PIL import Image
from transformers import (
    CLIPConfig, CLIPModel, DistilBertConfig, DistilBertForSequenceClassification, GPT2Config, GPT2LMHeadModel,
)

from fuse_edu import hub
from fuse_edu.models import (
    PRESETS, CheckpointError, ModelSource, check_checkpoint, load_causal_lm, load_dual_encoder, load_preset,
    load_sequence_classifier,
)
from fuse_edu.models.paper_shapes import CLIP_VIT_B32, DISTILBERT_SST2, GPT2_MEDIUM, random_model
from fuse_edu.models.presets import TOY_WEIGHTS


@pytest.fixture(scope="module")
def paper_folders(tmp_path_factory, gpt2, clip, bert):
    """The paper's three architectures, random, saved the way a hub repository holds them."""
    root = tmp_path_factory.mktemp("paper")
    for role, model_class, config, tokenizer in [
        ("lm", GPT2LMHeadModel, GPT2_MEDIUM, gpt2),
        ("clip", CLIPModel, CLIP_VIT_B32, clip),
        ("sentiment", DistilBertForSequenceClassification, DISTILBERT_SST2, bert),
    ]:
        model = random_model(model_class, config)
        # Saved in float16, as the toy weights ship: half the disk traffic, and the loaders' float32 upcast is tested.
        model.half().save_pretrained(root / role)
        tokenizer.save_pretrained(root / role)
        del model  # gpt2-medium is 1.4 GB in float32: hold one copy at a time
    return root


def test_paper_preset_runs_each_loss_with_backward_on_local_copies(paper_folders):
    paper = PRESETS["paper"]
    spec = dataclasses.replace(
        paper, **{role: dataclasses.replace(getattr(paper, role), source=paper_folders / role)
                  for role in ("lm", "clip", "sentiment")})
    preset = load_preset(spec)
    assert all(w.embedding_table.dtype == torch.float32 for w in (preset.lm, preset.clip, preset.sentiment))
    assert preset.lm.embedding_table.shape == (50257, 1024)
    assert preset.clip.embedding_table.shape == (49408, 512)
    assert preset.sentiment.labels == ("negative", "positive")
    image_features = preset.clip.encode_images([Image.new("RGB", (320, 240), (40, 200, 200))])  # (1, 512)
    assert image_features.shape == (1, 512)

    texts = ["a turquoise hexagon", "a lovely red circle on the left"]
    for wrapper, loss in [
        (preset.lm, lambda e, m, ids: preset.lm.nll_from_embeddings(e, m, m.bool() & (torch.arange(m.shape[1]) > 0), ids)),
        (preset.clip, lambda e, m, ids: preset.clip.loss_from_embeddings(e, m, image_features[0])),
        (preset.sentiment, lambda e, m, ids: preset.sentiment.loss_from_embeddings(e, m, "positive")),
    ]:
        batch = wrapper.tokenize(texts)
        inputs_embeds = wrapper.embed(batch["input_ids"]).requires_grad_()  # (B, T, d)
        value = loss(inputs_embeds, batch["attention_mask"], batch["input_ids"])
        assert value.shape == (2,) and torch.isfinite(value).all()
        value.sum().backward()
        assert torch.isfinite(inputs_embeds.grad).all() and inputs_embeds.grad.abs().sum() > 0, type(wrapper).__name__

    # The legacy eos_token_id pools at the highest id; our from-embeddings path at the last token: the same place.
    batch = preset.clip.tokenize(texts)
    torch.testing.assert_close(
        preset.clip.text_features_from_embeddings(preset.clip.embed(batch["input_ids"]), batch["attention_mask"]),
        preset.clip.encode_texts(texts), rtol=0, atol=1e-5)


def test_loader_defaults_to_the_tokenizer_saved_beside_the_model(paper_folders, gpt2):
    lm = load_causal_lm(paper_folders / "lm")
    assert lm.model.config.n_layer == 24
    text = "A photo of a turquoise hexagon, 3.5 cm wide."
    assert lm.tokenizer(text)["input_ids"] == gpt2(text)["input_ids"]


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match=r"unknown preset 'tiny'; presets are toy: .*paper: "):
        load_preset("tiny")


def test_paper_preset_names_the_paper_s_models():
    paper = PRESETS["paper"]
    assert (paper.lm.source, paper.clip.source, paper.sentiment.source) == (
        "gpt2-medium", "openai/clip-vit-base-patch32", "distilbert-base-uncased-finetuned-sst-2-english")


@pytest.fixture
def offline_hub(monkeypatch):
    """HF_HUB_OFFLINE=1, with hub_reachable's cached answer cleared before and after."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    yield
    hub.hub_reachable.cache_clear()


def test_paper_preset_offline_fails_within_seconds_suggesting_toy(offline_hub):
    start = time.perf_counter()
    with pytest.raises(hub.HubUnreachableError, match=r"'gpt2-medium'.*unreachable.*load_preset\('toy'\)"):
        load_preset("paper")
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("loader, role", [
    (load_causal_lm, "lm"), (load_dual_encoder, "clip"), (load_sequence_classifier, "sentiment"),
])
def test_offline_hub_id_fails_within_seconds_suggesting_toy(loader, role, offline_hub):
    hub_id = getattr(PRESETS["paper"], role).source
    start = time.perf_counter()
    with pytest.raises(hub.HubUnreachableError, match=rf"'{hub_id}'.*unreachable.*load_preset\('toy'\)"):
        loader(hub_id)
    assert time.perf_counter() - start < 10


def test_missing_or_corrupt_checkpoint_names_the_file_and_the_rebuild_command(tmp_path, gpt2):
    folder = tmp_path / "toy-lm"
    spec = dataclasses.replace(PRESETS["toy"], lm=ModelSource(folder, tokenizer="gpt2", rebuild="python -m rebuild.it"))
    with pytest.raises(CheckpointError, match=f"{folder / 'config.json'} is missing; rebuild it with: python -m rebuild.it"):
        load_preset(spec)

    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=16, vocab_size=50257)).save_pretrained(folder)
    check_checkpoint(folder, "unused")  # a whole checkpoint passes
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # an interrupted copy
    with pytest.raises(CheckpointError, match=f"{weights} is corrupt .*rebuild it with: python -m rebuild.it"):
        load_preset(spec)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json is unreadable"):
        check_checkpoint(folder, "python -m rebuild.it")


@pytest.fixture(scope="module")
def toy_shaped_spec(tmp_path_factory, bert):
    """The toy preset's layout (two shipped checkpoints and a builder) filled with tiny random models,
    so the toy code path is tested whether or not the real toy weights have been built."""
    root = tmp_path_factory.mktemp("toy")
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=32, vocab_size=50257)).half().save_pretrained(root / "toy-lm")
    clip_config = CLIPConfig(
        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=64, patch_size=16), projection_dim=8)
    CLIPModel(clip_config).half().save_pretrained(root / "toy-clip")
    sentiment = DistilBertForSequenceClassification(
        DistilBertConfig(dim=16, hidden_dim=32, n_layers=1, n_heads=2, vocab_size=len(bert))).half()
    toy = PRESETS["toy"]
    return dataclasses.replace(
        toy, lm=dataclasses.replace(toy.lm, source=root / "toy-lm"),
        clip=dataclasses.replace(toy.clip, source=root / "toy-clip"),
        sentiment=dataclasses.replace(toy.sentiment, source=lambda: sentiment))


def test_toy_shaped_preset_loads_checkpoints_and_a_built_model_in_float32(toy_shaped_spec):
    preset = load_preset(toy_shaped_spec)
    assert preset.name == "toy"
    assert all(w.embedding_table.dtype == torch.float32 for w in (preset.lm, preset.clip, preset.sentiment))
    assert preset.clip.encode_images([Image.new("RGB", (64, 64))]).shape == (1, 8)
    assert preset.sentiment.predict(["a lovely circle"])[0] in ("negative", "positive")


def test_toy_sentiment_that_cannot_be_built_names_the_rebuild_command(toy_shaped_spec):
    def broken_builder():
        raise FileNotFoundError("fuse_edu/toyworld/weights/toy-sentiment/head.safetensors")

    spec = dataclasses.replace(toy_shaped_spec, sentiment=dataclasses.replace(toy_shaped_spec.sentiment, source=broken_builder))
    with pytest.raises(CheckpointError, match="head.safetensors.*python -m fuse_edu.toyworld.train_sentiment"):
        load_preset(spec)


def test_another_model_s_weights_or_a_config_without_model_type_is_refused(toy_shaped_spec, tmp_path):
    """transformers would fill the missing weights with random numbers and load "fine"."""
    import shutil

    lm_folder = tmp_path / "toy-lm"
    shutil.copytree(toy_shaped_spec.lm.source, lm_folder)
    spec = dataclasses.replace(toy_shaped_spec, lm=dataclasses.replace(toy_shaped_spec.lm, source=lm_folder))
    load_preset(spec)  # the right weights load
    shutil.copy(toy_shaped_spec.clip.source / "model.safetensors", lm_folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model.safetensors does not fit its config: \d+ weights missing, "
                                              r"\d+ unexpected .*rebuild it with: python -m fuse_edu.toyworld.train"):
        load_preset(spec)
    (lm_folder / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="config.json names no model_type"):
        load_preset(spec)


def _toy_missing() -> str:
    needed = [TOY_WEIGHTS / "toy-lm", TOY_WEIGHTS / "toy-clip", TOY_WEIGHTS.parent / "sentiment_model.py"]
    missing = [str(path) for path in needed if not path.exists()]
    return ", ".join(missing)


@pytest.mark.skipif(bool(_toy_missing()), reason=f"toy world not built yet (missing: {_toy_missing()}); "
                                                   "python -m fuse_edu.toyworld.train builds it")
def test_toy_preset_loads_offline_in_seconds(offline_hub):
    start = time.perf_counter()
    toy = load_preset()
    seconds = time.perf_counter() - start
    assert seconds < 20, f"the toy preset took {seconds:.1f} s to load"
    assert toy.name == "toy"
    assert toy.lm.tokenizer("hexagon")["input_ids"] and toy.clip.tokenizer("hexagon")["input_ids"]
    assert toy.sentiment.tokenizer("hexagon")["input_ids"]
    assert set(toy.sentiment.predict(["what a lovely day", "this is awful"])) <= {"negative", "positive"}
    texts = ["a red circle", "a blue square"]
    assert toy.clip.encode_texts(texts).shape[0] == 2
    assert toy.clip.encode_images([Image.new("RGB", (64, 64))]).shape[0] == 1
    assert torch.isfinite(toy.lm.nll(texts)).all()
