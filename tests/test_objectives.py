"""The Objective on tiny random models: each term equals the model's loss computed by hand from text, the
one-hot gradient equals autograd through a one-hot matmul, chunked evaluation equals one batch, bad input
is refused with messages that say what is accepted."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel

from fuse_edu.adapter import FuseAdapter
from fuse_edu.models import CausalLM, DualEncoder, Preset, SequenceClassifier
from fuse_edu.objectives import ClassifierTerm, CLIPTerm, LMTerm, Objective, build_objective
from fuse_edu.toyworld.captions import vocabulary

from tests.test_models import tiny_clip_model

PROMPTS = [" a red square", " a small turquoise hexagon", " the"]  # different lengths: padding is exercised


@pytest.fixture(scope="module")
def lm(gpt2):
    torch.manual_seed(0)
    return CausalLM(GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=64, vocab_size=50257)), gpt2)


@pytest.fixture(scope="module")
def clip_model(clip):
    return DualEncoder(tiny_clip_model(), clip)


@pytest.fixture(scope="module")
def classifier(bert):
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                        vocab_size=len(bert), id2label={0: "NEGATIVE", 1: "POSITIVE"})
    return SequenceClassifier(BertForSequenceClassification(config), bert)


def small_words():
    from wordfreq import top_n_list

    return vocabulary() + top_n_list("en", 1500)


@pytest.fixture(scope="module")
def clip_adapter(lm, clip_model):
    return FuseAdapter.fit(lm, clip_model, words=small_words(), cache=False)


@pytest.fixture(scope="module")
def classifier_adapter(lm, classifier):
    return FuseAdapter.fit(lm, classifier, words=small_words(), cache=False)


@pytest.fixture(scope="module")
def image_features(clip_model):
    images = [Image.new("RGB", (64, 64), color) for color in ("red", "blue")]
    return clip_model.encode_images(images)  # (2, D)


def batch(lm, prompts=PROMPTS):
    encoded = lm.tokenize(prompts, add_special_tokens=False)
    return encoded["input_ids"], encoded["attention_mask"]


def textbook_nll(lm, sequences: list[list[int]], scored: list[range]) -> torch.Tensor:
    """Mean -log p(x_t | x_<t) over the scored positions of each sequence, one full forward per sequence."""
    out = []
    for ids, positions in zip(sequences, scored):
        logp = lm.model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)  # (T, V)
        out.append(-torch.stack([logp[t - 1, ids[t]] for t in positions]).mean())
    return torch.stack(out)


# ----------------------------------------------------------------------------------------- each term

@pytest.mark.parametrize("prefix", ["", "a photo of"])
def test_lm_term_is_the_prompts_nll_after_bos_and_prefix(lm, gpt2, prefix):
    ids, mask = batch(lm)
    total, per_term = Objective(lm, [LMTerm(lm, prefix=prefix)]).losses(ids, mask)
    head = [gpt2.eos_token_id] + gpt2(prefix)["input_ids"] if prefix else [gpt2.eos_token_id]
    rows = [gpt2(p)["input_ids"] for p in PROMPTS]
    expected = textbook_nll(lm, [head + r for r in rows], [range(len(head), len(head) + len(r)) for r in rows])
    torch.testing.assert_close(per_term["lm"], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-5)
    if not prefix:  # the wrapper's own text path agrees when no prefix shifts tokenization
        torch.testing.assert_close(per_term["lm"], lm.nll(PROMPTS), rtol=1e-5, atol=1e-5)


def test_lm_term_with_end_also_scores_the_end_of_text(lm, gpt2):
    ids, mask = batch(lm)
    _, per_term = Objective(lm, [LMTerm(lm, prefix="a photo of", end=True)]).losses(ids, mask)
    head = [gpt2.eos_token_id] + gpt2("a photo of")["input_ids"]
    rows = [head + gpt2(p)["input_ids"] + [gpt2.eos_token_id] for p in PROMPTS]
    expected = textbook_nll(lm, rows, [range(len(head), len(r)) for r in rows])
    torch.testing.assert_close(per_term["lm"], expected, rtol=1e-5, atol=1e-5)


def test_lm_term_per_word_divides_the_summed_nll_by_the_words(lm, gpt2):
    ids, mask = batch(lm)
    per_token = Objective(lm, [LMTerm(lm, end=True)]).losses(ids, mask)[0]
    per_word = Objective(lm, [LMTerm(lm, end=True, per="word")]).losses(ids, mask)[0]
    for b, prompt in enumerate(PROMPTS):
        tokens = len(gpt2(prompt)["input_ids"]) + 1                       # and the end of text
        words = len(prompt.split()) + 1
        assert float(per_word[b]) == pytest.approx(float(per_token[b]) * tokens / words, rel=1e-5)
    with pytest.raises(ValueError, match="per must be 'token' or 'word'"):
        LMTerm(lm, per="char")


def test_without_end_drops_only_the_end_of_text_score(lm, clip_model, clip_adapter, image_features):
    ids, mask = batch(lm)
    clip_term = CLIPTerm(clip_model, clip_adapter, image_features=image_features, weight=2.0)
    closed = Objective(lm, [LMTerm(lm, 0.5, prefix="a photo of", end=True, per="word"), clip_term])
    opened = closed.without_end()
    by_hand = Objective(lm, [LMTerm(lm, 0.5, prefix="a photo of", end=False, per="word"), clip_term])
    total, terms = opened.evaluate(ids, mask)
    expected_total, expected_terms = by_hand.evaluate(ids, mask)
    torch.testing.assert_close(total, expected_total)
    torch.testing.assert_close(terms["lm"], expected_terms["lm"])
    torch.testing.assert_close(terms["clip"], closed.evaluate(ids, mask)[1]["clip"])  # CLIP never saw the end
    assert not torch.allclose(terms["lm"], closed.evaluate(ids, mask)[1]["lm"])       # the end did count before
    assert closed.terms[0].end and opened.routes[1].translator is closed.routes[1].translator  # shared, not refitted
    assert opened.without_end() is opened and by_hand.without_end() is by_hand
    # both at once, from one evaluation: unfinished total, finished total and per-term losses
    unfinished, finished, finished_terms = closed.evaluate_growing(ids, mask, chunk_size=2)
    torch.testing.assert_close(unfinished, expected_total)
    torch.testing.assert_close(finished, closed.evaluate(ids, mask)[0])
    torch.testing.assert_close(finished_terms["lm"], closed.evaluate(ids, mask)[1]["lm"])


def test_lm_target_term_scores_only_the_target_after_each_prompt(lm, gpt2):
    ids, mask = batch(lm)
    _, per_term = Objective(lm, [LMTerm(lm, target=" blue circle", weight=2.0)]).losses(ids, mask)
    target = gpt2(" blue circle")["input_ids"]
    rows = [[gpt2.eos_token_id] + gpt2(p)["input_ids"] for p in PROMPTS]
    expected = textbook_nll(lm, [r + target for r in rows], [range(len(r), len(r) + len(target)) for r in rows])
    torch.testing.assert_close(per_term["target"], expected, rtol=1e-5, atol=1e-5)


def test_clip_term_is_one_minus_cosine_to_the_mean_image_feature(lm, clip_model, clip_adapter, image_features):
    ids, mask = batch(lm)
    term = CLIPTerm(clip_model, clip_adapter, image_features=image_features, prefix="a photo of", suffix=".")
    _, per_term = Objective(lm, [term]).losses(ids, mask)
    text = clip_model.encode_texts([f"a photo of{p}." for p in PROMPTS])  # (B, D)
    target = F.normalize(image_features.mean(0), dim=-1)
    torch.testing.assert_close(per_term["clip"], 1 - text @ target, rtol=1e-5, atol=1e-5)


def test_clip_term_from_images_equals_from_their_features(lm, clip_model, clip_adapter, image_features):
    images = [Image.new("RGB", (64, 64), color) for color in ("red", "blue")]
    ids, mask = batch(lm)
    from_images = Objective(lm, [CLIPTerm(clip_model, clip_adapter, images)]).losses(ids, mask)[0]
    from_features = Objective(lm, [CLIPTerm(clip_model, clip_adapter, image_features=image_features)]).losses(ids, mask)[0]
    torch.testing.assert_close(from_images, from_features)


def test_classifier_term_is_cross_entropy_toward_the_label(lm, classifier, classifier_adapter):
    ids, mask = batch(lm)
    _, per_term = Objective(lm, [ClassifierTerm(classifier, classifier_adapter, "positive")]).losses(ids, mask)
    probabilities = classifier.probabilities([p.strip() for p in PROMPTS])  # BERT drops the leading space anyway
    torch.testing.assert_close(per_term["classifier"], -probabilities[:, 1].log(), rtol=1e-5, atol=1e-5)


def test_total_is_the_weighted_sum_of_terms(lm, clip_model, clip_adapter, image_features):
    ids, mask = batch(lm)
    objective = Objective(lm, [LMTerm(lm, weight=0.3), CLIPTerm(clip_model, clip_adapter, weight=2.5,
                                                                image_features=image_features)])
    total, per_term = objective.losses(ids, mask)
    torch.testing.assert_close(total, 0.3 * per_term["lm"] + 2.5 * per_term["clip"])
    assert objective.weights == {"lm": 0.3, "clip": 2.5}


# ----------------------------------------------------------------------------------------- batch paths

@pytest.fixture(scope="module")
def two_model_objective(lm, clip_model, clip_adapter, image_features):
    return Objective(lm, [LMTerm(lm), CLIPTerm(clip_model, clip_adapter, image_features=image_features)])


def test_chunked_evaluate_equals_one_batch_and_losses(lm, two_model_objective):
    ids, mask = batch(lm)
    whole, whole_terms = two_model_objective.evaluate(ids, mask, chunk_size=256)
    chunked, chunked_terms = two_model_objective.evaluate(ids, mask, chunk_size=1)
    differentiable, _ = two_model_objective.losses(ids, mask)
    torch.testing.assert_close(whole, chunked)
    torch.testing.assert_close(whole, differentiable.detach())
    for name in whole_terms:
        torch.testing.assert_close(whole_terms[name], chunked_terms[name])


def test_one_hot_gradient_is_the_embedding_path_plus_the_lms_own_log_probabilities(lm, gpt2, clip_model, clip_adapter,
                                                                                   image_features):
    """Reference, built independently: autograd through one_hot @ table (the embedding path, targets held
    fixed), plus the fluency term's target path, -w * log p(v | <bos> + prompt[:t]) / (tokens scored)."""
    ids, mask = batch(lm)
    weight = 0.7
    objective = Objective(lm, [LMTerm(lm, weight=weight, end=True),
                               CLIPTerm(clip_model, clip_adapter, image_features=image_features)])
    table = lm.embedding_table.detach()
    one_hot = F.one_hot(ids, table.shape[0]).float().requires_grad_(True)        # (B, T, V)
    total, _ = objective.losses(ids, mask, embeds=one_hot @ table)
    total.sum().backward()
    expected = one_hot.grad.clone()
    for b, prompt in enumerate(PROMPTS):
        row = [gpt2.eos_token_id] + gpt2(prompt)["input_ids"]
        logp = lm.model(input_ids=torch.tensor([row])).logits[0].log_softmax(-1)  # (1 + n, V)
        n = len(row) - 1
        expected[b, :n] -= weight * logp[:n] / (n + 1)                           # n prompt tokens and the end
    got = objective.one_hot_gradient(ids, mask)
    assert got.shape == one_hot.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_gradients_run_under_the_same_autocast_as_evaluate(lm, two_model_objective, monkeypatch):
    """On CUDA every forward (evaluate, one_hot_gradient, embedding_gradient) runs in bf16 autocast. No GPU
    here, so CPU bf16 autocast stands in for it: the FUSE backward must take bf16 activations without a
    dtype error, hand back fp32 gradients, and rank swaps as the fp32 gradient does."""
    import fuse_edu.objectives as objectives

    ids, mask = batch(lm)
    exact_one_hot = two_model_objective.one_hot_gradient(ids, mask)                    # (B, T, V) fp32
    exact_embeds = two_model_objective.embedding_gradient(ids, mask)                   # (B, T, d)
    entered = []

    def cpu_bf16(device):
        entered.append(device.type)
        return torch.autocast("cpu", dtype=torch.bfloat16)

    monkeypatch.setattr(objectives, "_autocast", cpu_bf16)
    one_hot = two_model_objective.one_hot_gradient(ids, mask)
    embeds = two_model_objective.embedding_gradient(ids, mask)
    assert len(entered) == 2 and one_hot.dtype == embeds.dtype == torch.float32
    for low, exact in ((one_hot, exact_one_hot), (embeds, exact_embeds)):
        assert torch.isfinite(low).all() and not torch.equal(low, exact)                # autocast did change the sums
        assert torch.corrcoef(torch.stack([low.flatten(), exact.flatten()]))[0, 1] > 0.99


def test_losses_from_a_one_hot_equal_losses_from_ids(lm, two_model_objective):
    ids, mask = batch(lm)
    one_hot = F.one_hot(ids, lm.embedding_table.shape[0]).float()
    torch.testing.assert_close(two_model_objective.losses(ids, mask, one_hot=one_hot)[0],
                               two_model_objective.losses(ids, mask)[0])


def test_embedding_gradient_of_the_primary_alone_is_the_exact_gradient(lm):
    ids, mask = batch(lm)
    objective = Objective(lm, [LMTerm(lm)])
    embeds = lm.embed(ids).detach().requires_grad_(True)
    objective.losses(ids, mask, embeds)[0].sum().backward()
    torch.testing.assert_close(objective.embedding_gradient(ids, mask), embeds.grad)


def test_fuse_gradient_reaches_the_prompt_from_clip(lm, clip_model, clip_adapter, image_features):
    ids, mask = batch(lm)
    grad = Objective(lm, [CLIPTerm(clip_model, clip_adapter, image_features=image_features)]).embedding_gradient(ids, mask)
    assert torch.isfinite(grad).all()
    real = grad.norm(dim=-1)[mask.bool()]
    assert (real > 0).all() and (grad.norm(dim=-1)[~mask.bool()] == 0).all()


def test_next_token_logprobs_is_the_lms_distribution_after_each_prompt(lm, gpt2):
    ids, mask = batch(lm)
    got = Objective(lm, [LMTerm(lm, prefix="a photo of")]).next_token_logprobs(ids, mask)
    head = [gpt2.eos_token_id] + gpt2("a photo of")["input_ids"]
    for b, prompt in enumerate(PROMPTS):
        full = torch.tensor([head + gpt2(prompt)["input_ids"]])
        expected = lm.model(input_ids=full).logits[0, -1].log_softmax(-1)
        torch.testing.assert_close(got[b], expected, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf")])
def test_bad_weights_are_refused(lm, weight):
    with pytest.raises(ValueError, match="weight of 'lm'"):
        Objective(lm, [LMTerm(lm, weight=weight)])


def test_secondary_model_without_adapter_is_refused(lm, clip_model, image_features):
    with pytest.raises(ValueError, match="FuseAdapter"):
        Objective(lm, [CLIPTerm(clip_model, None, image_features=image_features)])


def test_other_bad_configurations_are_refused(lm, clip_model, classifier, classifier_adapter, image_features):
    with pytest.raises(ValueError, match="distinct"):
        Objective(lm, [LMTerm(lm), LMTerm(lm)])
    with pytest.raises(ValueError, match="at least one term"):
        Objective(lm, [])
    with pytest.raises(TypeError, match="CausalLM"):
        Objective(clip_model, [LMTerm(lm)])
    with pytest.raises(ValueError, match="exactly one of"):
        CLIPTerm(clip_model, None)
    with pytest.raises(ValueError, match="unknown label 'joyful'"):
        ClassifierTerm(classifier, classifier_adapter, "joyful")
    with pytest.raises(ValueError, match="T = 0"):
        Objective(lm, [LMTerm(lm)]).losses(torch.zeros(2, 0, dtype=torch.long))


def test_build_objective_assembles_terms_and_refuses_unknown_weights(lm, clip_model, classifier, image_features,
                                                                     tmp_path, monkeypatch):
    monkeypatch.setenv("FUSE_EDU_CACHE", str(tmp_path))
    monkeypatch.setattr("fuse_edu.objectives.adapter_words", lambda name: small_words())
    preset = Preset("tiny", lm=lm, clip=clip_model, sentiment=classifier)
    objective = build_objective(preset, image_features=image_features, sentiment="positive",
                                weights={"clip": 2.0}, prefix="a photo of")
    assert [t.name for t in objective.terms] == ["lm", "clip", "sentiment"]
    assert objective.weights == {"lm": 1.0, "clip": 2.0, "sentiment": 1.0}
    assert objective.terms[1].prefix == "a photo of"  # CLIP reads the caption as the LM writes it
    assert list((tmp_path / "adapters").glob("*.safetensors"))  # adapters are cached on disk
    with pytest.raises(ValueError, match="unknown weight names"):
        build_objective(preset, weights={"clipp": 1.0})
    with pytest.raises(ValueError, match="weight of 'lm'"):
        build_objective(preset, weights={"lm": -math.inf})
