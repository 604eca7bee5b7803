"""The paper preset's code path without the hub: randomly initialised models of the exact same architectures
(gpt2-medium, CLIP ViT-B/32, DistilBERT-base), the real tokenizers, ``save_pretrained`` into a folder and the
paper preset pointed at it (``fuse_edu.models.paper_shapes``): the same code path as with the hub, weights aside.
Paper-sized models take seconds to build and load: the tests that use them are ``slow``."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from fuse_edu.models import PRESETS, load_causal_lm, load_preset
from fuse_edu.models.paper_shapes import ROLES, paper_shaped_spec, save_paper_shaped


@pytest.fixture(scope="module")
def paper_folders(tmp_path_factory):
    """The paper's three architectures, random, saved the way a hub repository holds them (in float16, as the
    toy weights ship: the loaders' float32 upcast is tested too)."""
    return save_paper_shaped(tmp_path_factory.mktemp("paper"))


@pytest.mark.slow
def test_saved_folders_hold_one_role_each_with_its_tokenizer(paper_folders):
    assert set(paper_folders) == set(ROLES) == {"lm", "clip", "sentiment"}
    for folder in paper_folders.values():
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
        assert (folder / "tokenizer_config.json").is_file()


@pytest.mark.slow
def test_paper_preset_runs_each_loss_with_backward_on_local_copies(paper_folders):
    spec = paper_shaped_spec(paper_folders)
    assert spec.roles == PRESETS["paper"].roles and spec.weights == PRESETS["paper"].weights
    preset = load_preset(spec)
    assert all(w.embedding_table.dtype == torch.float32 for w in preset.models.values())
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


@pytest.mark.slow
def test_loader_defaults_to_the_tokenizer_saved_beside_the_model(paper_folders, gpt2):
    lm = load_causal_lm(paper_folders["lm"])
    assert lm.model.config.n_layer == 24
    text = "A photo of a turquoise hexagon, 3.5 cm wide."
    assert lm.tokenizer(text)["input_ids"] == gpt2(text)["input_ids"]


def test_paper_shapes_refuse_unknown_or_missing_roles(tmp_path):
    with pytest.raises(ValueError, match=r"unknown roles \['vision'\]; accepted: lm, clip, sentiment"):
        save_paper_shaped(tmp_path, roles=("vision",))
    with pytest.raises(ValueError, match=r"a preset needs all three roles; missing \['clip', 'sentiment'\]"):
        paper_shaped_spec({"lm": tmp_path})
