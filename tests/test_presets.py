"""Presets: a spec maps roles to model sources, the first role is the primary LM, adding a secondary model is
one entry; the toy world loads offline; hub ids while offline and broken checkpoints are refused with
messages that say what to do. (The paper's architectures: test_models_paper_shapes.py.)"""

from __future__ import annotations

import dataclasses
import shutil
import time

import pytest
import torch
from PIL import Image
from transformers import (
    CLIPConfig, CLIPModel, DistilBertConfig, DistilBertForSequenceClassification, GPT2Config, GPT2LMHeadModel,
)

from fuse_edu import hub
from fuse_edu.models import (
    PRESETS, CausalLM, CheckpointError, DualEncoder, ModelSource, Preset, PresetSpec, SequenceClassifier,
    check_checkpoint, load_causal_lm, load_dual_encoder, load_model, load_preset, load_sequence_classifier,
    preset_spec,
)
from fuse_edu.models.checkpoints import check_weights_match
from fuse_edu.models.presets import TOY_WEIGHTS
from tests import tiny

# ----------------------------------------------------------------------------------------- specs


def test_a_spec_names_its_roles_primary_first_with_their_default_weights():
    toy = PRESETS["toy"]
    assert toy.primary == "lm" and toy.roles == ("lm", "clip", "sentiment")
    assert toy.weights == {"lm": 1.0, "clip": 4.0, "sentiment": 1.0}
    assert [source.kind for source in toy.models.values()] == [CausalLM, DualEncoder, SequenceClassifier]
    assert preset_spec("toy") is toy and preset_spec(toy) is toy


def test_with_role_adds_or_replaces_one_role_and_leaves_the_spec_alone():
    toy = PRESETS["toy"]
    extra = ModelSource(SequenceClassifier, "somewhere", tokenizer="bert", weight=2.5)
    grown = toy.with_role("formality", extra)
    assert grown.roles == ("lm", "clip", "sentiment", "formality") and grown.weights["formality"] == 2.5
    assert toy.roles == ("lm", "clip", "sentiment")  # specs are values: the preset itself is unchanged
    replaced = toy.with_role("clip", dataclasses.replace(toy.models["clip"], weight=1.0))
    assert replaced.roles == toy.roles and replaced.weights["clip"] == 1.0
    assert grown.words is toy.words and grown.name == toy.name


def test_a_spec_must_open_with_a_causal_lm():
    with pytest.raises(ValueError, match="the first role, 'clip', is the primary model and must be a CausalLM"):
        PresetSpec("odd", "clip first", {"clip": ModelSource(DualEncoder, "x"), "lm": ModelSource(CausalLM, "y")})
    with pytest.raises(ValueError, match="names no models"):
        PresetSpec("empty", "nothing", {})


def test_a_preset_reads_its_roles_as_attributes(tiny_preset, tiny_lm, tiny_clip):
    assert tiny_preset.lm is tiny_preset.primary is tiny_lm and tiny_preset.clip is tiny_clip
    assert tiny_preset.name == "tiny" and tiny_preset.roles == ("lm", "clip", "sentiment")
    assert tiny_preset.weights == {"lm": 1.0, "clip": 4.0, "sentiment": 1.0}
    assert tiny_preset.words.adapter_words is tiny.small_words
    with pytest.raises(AttributeError, match="preset has no role 'formality'; its roles are lm, clip, sentiment"):
        tiny_preset.formality


def test_a_primary_role_may_have_any_name(tiny_lm, tiny_clip):
    spec = PresetSpec("renamed", "the LM is called writer", {"writer": ModelSource(CausalLM, "x"),
                                                             "judge": ModelSource(DualEncoder, "y")})
    preset = Preset(spec, {"writer": tiny_lm, "judge": tiny_clip})
    assert spec.primary == "writer" and preset.lm is tiny_lm and preset.judge is tiny_clip


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match=r"unknown preset 'tiny'; presets are toy: .*paper: "):
        load_preset("tiny")


def test_paper_preset_names_the_paper_s_models():
    sources = {role: source.source for role, source in PRESETS["paper"].models.items()}
    assert sources == {"lm": "gpt2-medium", "clip": "openai/clip-vit-base-patch32",
                       "sentiment": "distilbert-base-uncased-finetuned-sst-2-english"}


# ----------------------------------------------------------------------------------------- loading

def test_load_model_builds_a_role_from_a_function(bert):
    source = ModelSource(SequenceClassifier, tiny.formality_classifier, tokenizer="bert")
    model = load_model("formality", source)
    assert isinstance(model, SequenceClassifier) and model.labels == ("formal", "casual")
    assert model.embedding_table.dtype == torch.float32 and model.tokenizer("x")["input_ids"] == bert("x")["input_ids"]


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
    (CausalLM.load, "lm"), (DualEncoder.load, "clip"), (SequenceClassifier.load, "sentiment"),
])
def test_offline_hub_id_fails_within_seconds_suggesting_toy(loader, role, offline_hub):
    hub_id = PRESETS["paper"].models[role].source
    start = time.perf_counter()
    with pytest.raises(hub.HubUnreachableError, match=rf"'{hub_id}'.*unreachable.*load_preset\('toy'\)"):
        loader(hub_id)
    assert time.perf_counter() - start < 10


def test_missing_or_corrupt_checkpoint_names_the_file_and_the_rebuild_command(tmp_path):
    folder = tmp_path / "toy-lm"
    spec = PRESETS["toy"].with_role("lm", ModelSource(CausalLM, folder, tokenizer="gpt2", rebuild="python -m rebuild.it"))
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


def test_check_weights_match_accepts_tied_weights_and_refuses_others(tmp_path):
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=16, vocab_size=50257))
    model.save_pretrained(tmp_path / "lm")  # the output head is tied to the token table: not in the file
    check_weights_match(model, tmp_path / "lm" / "model.safetensors", "unused")
    wider = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=16, n_head=2, n_positions=16, vocab_size=50257))
    with pytest.raises(CheckpointError, match=r"does not fit its config: \d+ weights missing, 0 unexpected "
                                              r".*rebuild it with: retrain"):
        check_weights_match(wider, tmp_path / "lm" / "model.safetensors", "retrain")


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
    return (toy.with_role("lm", dataclasses.replace(toy.models["lm"], source=root / "toy-lm"))
               .with_role("clip", dataclasses.replace(toy.models["clip"], source=root / "toy-clip"))
               .with_role("sentiment", dataclasses.replace(toy.models["sentiment"], source=lambda: sentiment)))


def test_toy_shaped_preset_loads_checkpoints_and_a_built_model_in_float32(toy_shaped_spec):
    preset = load_preset(toy_shaped_spec)
    assert preset.name == "toy" and preset.roles == ("lm", "clip", "sentiment")
    assert all(w.embedding_table.dtype == torch.float32 for w in preset.models.values())
    assert preset.clip.encode_images([Image.new("RGB", (64, 64))]).shape == (1, 8)
    assert preset.sentiment.predict(["a lovely circle"])[0] in ("negative", "positive")


def test_toy_sentiment_that_cannot_be_built_names_the_rebuild_command(toy_shaped_spec):
    def broken_builder():
        raise FileNotFoundError("fuse_edu/toyworld/weights/toy-sentiment/head.safetensors")

    spec = toy_shaped_spec.with_role("sentiment", dataclasses.replace(toy_shaped_spec.models["sentiment"],
                                                                      source=broken_builder))
    with pytest.raises(CheckpointError, match="head.safetensors.*python -m fuse_edu.toyworld.train_sentiment"):
        load_preset(spec)


def test_another_model_s_weights_or_a_config_without_model_type_is_refused(toy_shaped_spec, tmp_path):
    """transformers would fill the missing weights with random numbers and load "fine"."""
    lm_folder = tmp_path / "toy-lm"
    shutil.copytree(toy_shaped_spec.models["lm"].source, lm_folder)
    spec = toy_shaped_spec.with_role("lm", dataclasses.replace(toy_shaped_spec.models["lm"], source=lm_folder))
    load_preset(spec)  # the right weights load
    shutil.copy(toy_shaped_spec.models["clip"].source / "model.safetensors", lm_folder / "model.safetensors")
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
    assert toy.name == "toy" and toy.roles == ("lm", "clip", "sentiment")
    assert toy.lm.tokenizer("hexagon")["input_ids"] and toy.clip.tokenizer("hexagon")["input_ids"]
    assert toy.sentiment.tokenizer("hexagon")["input_ids"]
    assert set(toy.sentiment.predict(["what a lovely day", "this is awful"])) <= {"negative", "positive"}
    texts = ["a red circle", "a blue square"]
    assert toy.clip.encode_texts(texts).shape[0] == 2
    assert toy.clip.encode_images([Image.new("RGB", (64, 64))]).shape[0] == 1
    assert torch.isfinite(toy.lm.nll(texts)).all()


# ----------------------------------------------------------------------------------------- a new role
# Adding a secondary model is one preset entry: its wrapper class decides which objective term it joins,
# and every layer above (settings, objective, captioner, its FUSE gradient) follows without a code change.

FORMALITY = ModelSource(SequenceClassifier, tiny.formality_classifier, tokenizer="bert", weight=3.0)


def test_caption_settings_accept_a_role_added_to_the_toy_spec():
    from fuse_edu.captioning import CaptionSettings

    spec = PRESETS["toy"].with_role("formality", FORMALITY)
    CaptionSettings(labels={"formality": "formal"}, weights={"formality": 2.0}).check(spec)
    CaptionSettings(labels={"formality": "formal", "sentiment": "positive"}).check(spec)
    with pytest.raises(ValueError, match="a weight for formality needs a label"):
        CaptionSettings(weights={"formality": 2.0}).check(spec)
    with pytest.raises(ValueError, match="unknown weight name.*formality"):  # the toy preset itself lacks it
        CaptionSettings(labels={"sentiment": "positive"}, weights={"formality": 2.0}).check(PRESETS["toy"])


@pytest.fixture(scope="module")
def formality_model():
    return load_model("formality", FORMALITY)


@pytest.fixture(scope="module")
def formality_cache(tmp_path_factory):
    """A cache of this module's own: the adapters to the new role are fitted once, by the first test."""
    folder = tmp_path_factory.mktemp("formality_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUSE_EDU_CACHE", str(folder))
        yield folder


@pytest.fixture
def formality_preset(tiny_lm, tiny_clip, tiny_classifier, formality_model, formality_cache):
    """The tiny preset plus a formality classifier."""
    spec = tiny.tiny_spec().with_role("formality", FORMALITY)
    return Preset(spec, {"lm": tiny_lm, "clip": tiny_clip, "sentiment": tiny_classifier,
                         "formality": formality_model})


def test_a_new_role_joins_the_objective_with_its_entry_s_weight(formality_preset, image_features, formality_cache):
    from fuse_edu.objective import ClassifierTerm, build_objective

    objective = build_objective(formality_preset, image_features=image_features, labels={"formality": "formal"})
    assert [t.name for t in objective.terms] == ["lm", "clip", "formality"]  # no label for sentiment: no term
    assert objective.weights == {"lm": 1.0, "clip": 4.0, "formality": 3.0}
    term = objective.terms[2]
    assert isinstance(term, ClassifierTerm) and term.model is formality_preset.formality and term.label == "formal"
    assert len(list((formality_cache / "adapters").glob("*.safetensors"))) == 2  # clip's and formality's, cached
    with pytest.raises(ValueError, match="unknown label 'polite'; this classifier's labels are: formal, casual"):
        build_objective(formality_preset, image_features=image_features, labels={"formality": "polite"})


def test_the_fuse_gradient_reaches_the_prompt_from_the_new_role(formality_preset, image_features, tiny_lm):
    from fuse_edu.objective import build_objective

    batch = tiny_lm.tokenize([" a red square", " the small blue circle"], add_special_tokens=False)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    labels = {"formality": "formal"}

    def gradient(weights):
        objective = build_objective(formality_preset, image_features=image_features, labels=labels, weights=weights)
        return objective.embedding_gradient(ids, mask)  # (B, T, d) in the primary LM's embedding space

    alone = gradient({"lm": 0.0, "clip": 0.0, "formality": 1.0})
    assert torch.isfinite(alone).all()
    assert (alone.norm(dim=-1)[mask.bool()] > 0).all() and (alone.norm(dim=-1)[~mask.bool()] == 0).all()
    assert torch.equal(gradient({"lm": 0.0, "clip": 0.0, "formality": 0.0}), torch.zeros_like(alone))


def test_a_captioner_reports_the_new_role_s_loss(formality_preset):
    from fuse_edu.captioning import CaptionSettings, Captioner

    settings = CaptionSettings(steps=1, budget=9, candidates_per_step=8, prompt_length=3, vocabulary="lexicon",
                               labels={"formality": "formal"}, weights={"formality": 2.0})
    captioner = Captioner(formality_preset, settings, progress=False)
    assert captioner.roles == ["lm", "clip", "formality"] and captioner.weights["formality"] == 2.0
    assert "loss_formality" in captioner.columns and "loss_sentiment" not in captioner.columns
    result = captioner.caption(Image.new("RGB", (64, 64), "red"))
    assert set(result.term_losses) == {"lm", "clip", "formality"} and result.evaluations <= 9
    weighted = sum(captioner.weights[role] * loss for role, loss in result.term_losses.items())
    assert result.best_loss == pytest.approx(weighted, rel=1e-4)
    assert {"file", *result.as_row(), "error"} == set(captioner.columns)
