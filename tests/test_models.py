"""The model wrappers on tiny random models: each loss against a from-scratch reference, gradients reach the
input embeddings and nothing else, CLIP's text path from embeddings equals its own, and bad input is refused.

The paper-sized architectures are exercised in test_models_paper_shapes.py, presets in test_presets.py.
"""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import (
    BertConfig, DistilBertConfig, DistilBertForSequenceClassification, GPT2Config, GPT2LMHeadModel, LlamaConfig,
    LlamaForCausalLM,
)

from fuse_edu.models import (
    CausalLM, DualEncoder, SequenceClassifier, label_names, load_causal_lm, load_dual_encoder,
    load_sequence_classifier,
)
from fuse_edu.models.dual_encoder import clip_image_processor
from tests.tiny import CLIP_IMAGE_SIZE, tiny_clip_model
from tests.ugly_strings import HAND_PICKED

TEXTS = ["a red circle", "a small turquoise hexagon on the left of a magenta crescent", "an ugly x"]


def reference_nll(model, input_ids, attention_mask, target_mask):
    """Textbook next-token NLL from full logits: log p(x_t | x_<t) averaged over target positions."""
    logp = model(input_ids=input_ids, attention_mask=attention_mask).logits.float().log_softmax(-1)  # (B, T, V)
    token_logp = logp[:, :-1].gather(-1, input_ids[:, 1:, None])[..., 0]  # (B, T-1)
    mask = target_mask[:, 1:].float()  # (B, T-1)
    return -(token_logp * mask).sum(1) / mask.sum(1)  # (B,)


def lm_batch(lm, texts):
    """Right-padded ids with every real token after the first as a target."""
    batch = lm.tokenize(texts)
    target_mask = batch["attention_mask"].bool().clone()
    target_mask[:, 0] = False
    return batch["input_ids"], batch["attention_mask"], target_mask


# --- CausalLM -------------------------------------------------------------------------------------------


def test_nll_from_embeddings_equals_textbook_nll(tiny_lm):
    input_ids, attention_mask, target_mask = lm_batch(tiny_lm, TEXTS)
    target_mask[1, 1:4] = False  # rows score different positions: logits are kept for their union
    expected = reference_nll(tiny_lm.model, input_ids, attention_mask, target_mask)
    got = tiny_lm.nll_from_embeddings(tiny_lm.embed(input_ids), attention_mask, target_mask, input_ids)
    assert got.shape == (3,)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_nll_without_logits_to_keep_gives_the_same(tiny_lm, monkeypatch):
    input_ids, attention_mask, target_mask = lm_batch(tiny_lm, TEXTS)
    sliced = tiny_lm.nll_from_embeddings(tiny_lm.embed(input_ids), attention_mask, target_mask, input_ids)
    monkeypatch.setattr(tiny_lm, "_slices_logits", False)  # a model whose forward has no logits_to_keep
    full = tiny_lm.nll_from_embeddings(tiny_lm.embed(input_ids), attention_mask, target_mask, input_ids)
    torch.testing.assert_close(sliced, full, rtol=1e-5, atol=1e-5)


def test_nll_of_texts_scores_only_the_text_after_the_prefix(tiny_lm, gpt2):
    prefix, texts = "A photo of", [" a red circle", " a turquoise hexagon"]
    got = tiny_lm.nll(texts, prefix=prefix)
    n_prefix = len(gpt2(prefix)["input_ids"])
    for text, value in zip(texts, got):
        ids = torch.tensor([gpt2(prefix + text)["input_ids"]])
        target_mask = torch.zeros_like(ids, dtype=torch.bool)
        target_mask[:, n_prefix:] = True
        expected = reference_nll(tiny_lm.model, ids, torch.ones_like(ids), target_mask)
        torch.testing.assert_close(value, expected[0], rtol=1e-5, atol=1e-5)


def test_nll_of_texts_without_prefix_scores_the_first_token_after_bos(tiny_lm, gpt2):
    ids = torch.tensor([[gpt2.eos_token_id, *gpt2("a red circle")["input_ids"]]])  # GPT-2's <|endoftext|> opens
    expected = reference_nll(tiny_lm.model, ids, torch.ones_like(ids), torch.ones_like(ids).index_fill(1, torch.tensor([0]), 0))
    torch.testing.assert_close(tiny_lm.nll(["a red circle"]), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("problem, match", [
    ("left_padded", "right-padded"),
    ("target_at_start", "first token"),
    ("target_on_padding", "padded position"),
    ("row_without_target", "no target"),
])
def test_nll_refuses_bad_masks(tiny_lm, problem, match):
    input_ids, attention_mask, target_mask = lm_batch(tiny_lm, TEXTS[:2])
    if problem == "left_padded":
        attention_mask = attention_mask.flip(1)
    elif problem == "target_at_start":
        target_mask[0, 0] = True
    elif problem == "target_on_padding":
        target_mask[0, -1] = True  # row 0 is the shorter one
    else:
        target_mask[1] = False
    with pytest.raises(ValueError, match=match):
        tiny_lm.nll_from_embeddings(tiny_lm.embed(input_ids), attention_mask, target_mask, input_ids)


def test_start_id_is_bos_else_eos_else_none(tiny_lm, gpt2, bert, wordpiece_lm):
    assert tiny_lm.start_id == gpt2.eos_token_id == 50256  # GPT-2 has no BOS of its own: <|endoftext|> opens
    assert bert.bos_token_id is None and bert.eos_token_id is None and wordpiece_lm.start_id is None
    bos, eos = bert.cls_token_id, bert.sep_token_id
    bert_bos = bert.__class__(tokenizer_object=bert.backend_tokenizer, bos_token="[CLS]", eos_token="[SEP]")
    assert CausalLM(wordpiece_lm.model, bert_bos).start_id == bos
    bert_eos = bert.__class__(tokenizer_object=bert.backend_tokenizer, eos_token="[SEP]")
    assert CausalLM(wordpiece_lm.model, bert_eos).start_id == eos


@pytest.mark.parametrize("sliced", [True, False], ids=["logits_to_keep", "full-logits"])
def test_logits_at_keeps_the_asked_positions_only(tiny_lm, monkeypatch, sliced):
    monkeypatch.setattr(tiny_lm, "_slices_logits", sliced)  # with and without the model's logits_to_keep
    input_ids, attention_mask, _ = lm_batch(tiny_lm, TEXTS)
    full = tiny_lm.model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)
    embeds = tiny_lm.embed(input_ids)
    last_three = tiny_lm.logits_at(embeds, attention_mask, 3)  # an int K: the last K positions
    assert last_three.shape == (3, 3, full.shape[-1])
    torch.testing.assert_close(last_three, full[:, -3:], rtol=1e-5, atol=1e-5)
    keep = torch.tensor([0, 2])  # an index tensor: those positions
    torch.testing.assert_close(tiny_lm.logits_at(embeds, attention_mask, keep), full[:, keep], rtol=1e-5, atol=1e-5)


def test_next_token_logits_read_each_rows_last_real_position(tiny_lm):
    input_ids, attention_mask, _ = lm_batch(tiny_lm, TEXTS)  # rows of different lengths: padding after
    got = tiny_lm.next_token_logits(tiny_lm.embed(input_ids), attention_mask)  # (B, V)
    assert got.shape == (3, tiny_lm.embedding_table.shape[0])
    for b in range(3):
        n = int(attention_mask[b].sum())
        alone = tiny_lm.model(input_ids=input_ids[b:b + 1, :n]).logits[0, -1]  # the row without its padding
        torch.testing.assert_close(got[b], alone, rtol=1e-4, atol=1e-4)


# --- shared interface -------------------------------------------------------------------------------------


def wrapper_loss(name, wrapper, inputs_embeds, attention_mask, input_ids):
    if name == "lm":
        target_mask = attention_mask.bool().clone()
        target_mask[:, 0] = False
        return wrapper.loss_from_embeddings(inputs_embeds, attention_mask, target_mask, input_ids)
    if name == "clip":
        return wrapper.loss_from_embeddings(inputs_embeds, attention_mask, torch.randn(wrapper.model.config.projection_dim))
    return wrapper.loss_from_embeddings(inputs_embeds, attention_mask, "positive")


@pytest.mark.parametrize("name", ["lm", "clip", "classifier"])
def test_gradients_reach_inputs_embeds_and_no_parameter(name, tiny_lm, tiny_clip, tiny_classifier):
    wrapper = {"lm": tiny_lm, "clip": tiny_clip, "classifier": tiny_classifier}[name]
    assert not wrapper.model.training
    assert not any(p.requires_grad for p in wrapper.model.parameters())
    batch = wrapper.tokenize(TEXTS)
    inputs_embeds = wrapper.embed(batch["input_ids"]).requires_grad_()  # (B, T, d)
    assert inputs_embeds.shape[-1] == wrapper.embedding_table.shape[1]
    loss = wrapper_loss(name, wrapper, inputs_embeds, batch["attention_mask"], batch["input_ids"])
    assert loss.shape == (len(TEXTS),)
    loss.sum().backward()
    assert torch.isfinite(inputs_embeds.grad).all() and inputs_embeds.grad.abs().sum() > 0
    assert all(p.grad is None for p in wrapper.model.parameters())
    assert wrapper.to("cpu") is wrapper and wrapper.device == torch.device("cpu")


def test_model_without_input_embeddings_is_refused_by_class_name(gpt2, clip):
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=16, vocab_size=50257))
    model.get_input_embeddings = lambda: None
    with pytest.raises(TypeError, match="GPT2LMHeadModel has no input embedding layer"):
        CausalLM(model, gpt2)
    with pytest.raises(TypeError, match="CLIPModel has no input embedding layer"):  # raises NotImplementedError inside
        CausalLM(tiny_clip_model(), clip)


def test_tokenizer_with_more_ids_than_the_table_is_refused(gpt2):
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=16, vocab_size=1000))
    with pytest.raises(ValueError, match="50257 ids .* only 1000 rows"):
        CausalLM(model, gpt2)


# --- DualEncoder ------------------------------------------------------------------------------------------


def test_text_features_from_embeddings_equal_encode_texts(tiny_clip):
    texts = TEXTS + HAND_PICKED  # rows of very different lengths, "" included: pooling must find each end
    batch = tiny_clip.tokenize(texts)
    from_embeddings = tiny_clip.text_features_from_embeddings(tiny_clip.embed(batch["input_ids"]), batch["attention_mask"])
    encoded = tiny_clip.encode_texts(texts)
    assert encoded.shape == (len(texts), tiny_clip.model.config.projection_dim)
    torch.testing.assert_close(encoded.norm(dim=-1), torch.ones(len(texts)))
    torch.testing.assert_close(from_embeddings, encoded, rtol=0, atol=1e-5)


def test_images_are_resized_to_the_vision_config_size(tiny_clip):
    images = [Image.new("RGB", (100, 80), (200, 30, 30)), Image.new("L", (30, 30), 128)]  # non-square, grey
    pixel_values = tiny_clip.image_processor(images=images, return_tensors="pt")["pixel_values"]
    assert pixel_values.shape == (2, 3, CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE)
    features = tiny_clip.encode_images(images)
    assert features.shape == (2, tiny_clip.model.config.projection_dim)
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(2))


def test_clip_loss_accepts_one_paired_or_averaged_image_features(tiny_clip):
    batch = tiny_clip.tokenize(TEXTS)
    inputs_embeds, mask = tiny_clip.embed(batch["input_ids"]), batch["attention_mask"]
    text = tiny_clip.text_features_from_embeddings(inputs_embeds, mask)  # (3, D)
    views = torch.nn.functional.normalize(torch.randn(5, text.shape[1]), dim=-1)  # (M=5, D)
    mean_view = torch.nn.functional.normalize(views.mean(0), dim=-1)
    torch.testing.assert_close(tiny_clip.loss_from_embeddings(inputs_embeds, mask, views[0]), 1 - text @ views[0])
    torch.testing.assert_close(tiny_clip.loss_from_embeddings(inputs_embeds, mask, views[:3]), 1 - (text * views[:3]).sum(-1))
    torch.testing.assert_close(tiny_clip.loss_from_embeddings(inputs_embeds, mask, views), 1 - text @ mean_view)
    with pytest.raises(ValueError, match="image_features must have shape"):
        tiny_clip.loss_from_embeddings(inputs_embeds, mask, torch.randn(text.shape[1] + 1))


def test_clip_refuses_a_tokenizer_that_does_not_end_with_end_of_text(bert):
    with pytest.raises(ValueError, match="end-of-text"):
        DualEncoder(tiny_clip_model(), bert)  # WordPiece ends with [SEP] and has no eos token


def test_dual_encoder_refuses_a_model_not_laid_out_like_clip(tiny_lm, clip):
    with pytest.raises(TypeError, match="GPT2LMHeadModel is not laid out like transformers.CLIPModel"):
        DualEncoder(tiny_lm.model, clip)


# --- SequenceClassifier -----------------------------------------------------------------------------------


@pytest.mark.parametrize("id2label, expected", [
    ({0: "LABEL_0", 1: "LABEL_1"}, ("negative", "positive")),  # placeholder names: the SST-2 convention
    ({0: "NEGATIVE", 1: "POSITIVE"}, ("negative", "positive")),  # distilbert-base-uncased-finetuned-sst-2
    ({0: "NEG", 1: "NEU", 2: "POS"}, ("negative", "neutral", "positive")),
    ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, ("label_0", "label_1", "label_2")),
])
def test_label_names_read_sentiment_checkpoints_as_negative_positive(id2label, expected):
    assert label_names(BertConfig(id2label=id2label)) == expected


def test_classifier_predicts_names_and_refuses_unknown_labels(tiny_classifier):
    probabilities = tiny_classifier.probabilities(TEXTS)
    assert probabilities.shape == (3, 2)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(3))
    assert set(tiny_classifier.predict(TEXTS)) <= {"negative", "positive"}
    batch = tiny_classifier.tokenize(TEXTS)
    logp = probabilities.log()
    torch.testing.assert_close(
        tiny_classifier.loss_from_embeddings(tiny_classifier.embed(batch["input_ids"]), batch["attention_mask"], "negative"),
        -logp[:, 0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unknown label 'happy'.*negative, positive"):
        tiny_classifier.loss_from_embeddings(tiny_classifier.embed(batch["input_ids"]), batch["attention_mask"], "happy")


# --- loaders by local path --------------------------------------------------------------------------------


def test_any_causal_lm_llama_with_a_wordpiece_tokenizer(tmp_path, bert):
    """No per-architecture tables: a Llama with BERT's tokenizer, saved and loaded back by path."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(bert), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=bert.pad_token_id, bos_token_id=bert.cls_token_id, eos_token_id=bert.sep_token_id)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    bert.save_pretrained(tmp_path)
    lm = load_causal_lm(tmp_path)  # the tokenizer saved beside the model
    assert type(lm.model).__name__ == "LlamaForCausalLM"
    assert lm.tokenizer("a hexagon")["input_ids"] == bert("a hexagon")["input_ids"]
    assert torch.isfinite(lm.nll(TEXTS, prefix="A photo of ")).all()
    input_ids, attention_mask, target_mask = lm_batch(lm, TEXTS)
    inputs_embeds = lm.embed(input_ids).requires_grad_()
    lm.nll_from_embeddings(inputs_embeds, attention_mask, target_mask, input_ids).sum().backward()
    assert torch.isfinite(inputs_embeds.grad).all() and inputs_embeds.grad.abs().sum() > 0
    again = CausalLM.load(tmp_path, device="cpu")  # the classmethod every wrapper has
    assert isinstance(again, CausalLM) and torch.equal(again.embedding_table, lm.embedding_table)


def test_dual_encoder_uses_a_saved_processor_else_builds_clip_s(tmp_path, clip):
    tiny_clip_model().save_pretrained(tmp_path)
    loaded = load_dual_encoder(tmp_path, tokenizer="clip")
    assert loaded.image_processor.crop_size == {"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE}
    clip_image_processor(32).save_pretrained(tmp_path)  # a checkpoint that ships its own preprocessing wins
    loaded = load_dual_encoder(tmp_path, tokenizer=clip)
    assert loaded.image_processor.crop_size == {"height": 32, "width": 32}
    loaded = DualEncoder.load(tmp_path, tokenizer="clip")
    assert isinstance(loaded, DualEncoder) and loaded.image_processor.crop_size == {"height": 32, "width": 32}


def test_sequence_classifier_loads_by_path_with_its_saved_tokenizer(tmp_path, bert):
    config = DistilBertConfig(dim=32, hidden_dim=64, n_layers=1, n_heads=2, vocab_size=len(bert))
    DistilBertForSequenceClassification(config).save_pretrained(tmp_path)  # id2label LABEL_0/LABEL_1
    bert.save_pretrained(tmp_path)
    classifier = load_sequence_classifier(tmp_path)
    assert classifier.labels == ("negative", "positive")
    assert len(classifier.predict(TEXTS)) == 3  # DistilBERT takes no token_type_ids: none are passed
    again = SequenceClassifier.load(tmp_path, tokenizer=bert)
    assert isinstance(again, SequenceClassifier) and again.labels == ("negative", "positive")
