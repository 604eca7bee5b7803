"""The Objective on tiny random models: each term equals the model's loss computed by hand from text, the
one-hot gradient equals autograd through a one-hot matmul, chunked evaluation equals one batch, bad input
is refused with messages that say what is accepted."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from fuse_edu.objective import ClassifierTerm, CLIPTerm, LMTerm, Objective

PROMPTS = [" a red square", " a small turquoise hexagon", " the"]  # different lengths: padding is exercised


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
def test_lm_term_is_the_prompts_nll_after_bos_and_prefix(tiny_lm, gpt2, prefix):
    ids, mask = batch(tiny_lm)
    total, per_term = Objective(tiny_lm, [LMTerm(tiny_lm, prefix=prefix)]).losses(ids, mask)
    head = [gpt2.eos_token_id] + gpt2(prefix)["input_ids"] if prefix else [gpt2.eos_token_id]
    rows = [gpt2(p)["input_ids"] for p in PROMPTS]
    expected = textbook_nll(tiny_lm, [head + r for r in rows], [range(len(head), len(head) + len(r)) for r in rows])
    torch.testing.assert_close(per_term["lm"], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-5)
    if not prefix:  # the wrapper's own text path agrees when no prefix shifts tokenization
        torch.testing.assert_close(per_term["lm"], tiny_lm.nll(PROMPTS), rtol=1e-5, atol=1e-5)


def test_lm_term_with_end_also_scores_the_end_of_text(tiny_lm, gpt2):
    ids, mask = batch(tiny_lm)
    _, per_term = Objective(tiny_lm, [LMTerm(tiny_lm, prefix="a photo of", end=True)]).losses(ids, mask)
    head = [gpt2.eos_token_id] + gpt2("a photo of")["input_ids"]
    rows = [head + gpt2(p)["input_ids"] + [gpt2.eos_token_id] for p in PROMPTS]
    expected = textbook_nll(tiny_lm, rows, [range(len(head), len(r)) for r in rows])
    torch.testing.assert_close(per_term["lm"], expected, rtol=1e-5, atol=1e-5)


def test_lm_term_per_word_divides_the_summed_nll_by_the_words(tiny_lm, gpt2):
    ids, mask = batch(tiny_lm)
    per_token = Objective(tiny_lm, [LMTerm(tiny_lm, end=True)]).losses(ids, mask)[0]
    per_word = Objective(tiny_lm, [LMTerm(tiny_lm, end=True, per="word")]).losses(ids, mask)[0]
    for b, prompt in enumerate(PROMPTS):
        tokens = len(gpt2(prompt)["input_ids"]) + 1                       # and the end of text
        words = len(prompt.split()) + 1
        assert float(per_word[b]) == pytest.approx(float(per_token[b]) * tokens / words, rel=1e-5)
    with pytest.raises(ValueError, match="per must be 'token' or 'word'"):
        LMTerm(tiny_lm, per="char")


def test_without_end_drops_only_the_end_of_text_score(tiny_lm, tiny_clip, clip_adapter, image_features):
    ids, mask = batch(tiny_lm)
    clip_term = CLIPTerm(tiny_clip, clip_adapter, image_features=image_features, weight=2.0)
    closed = Objective(tiny_lm, [LMTerm(tiny_lm, 0.5, prefix="a photo of", end=True, per="word"), clip_term])
    opened = closed.without_end()
    by_hand = Objective(tiny_lm, [LMTerm(tiny_lm, 0.5, prefix="a photo of", end=False, per="word"), clip_term])
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


def test_lm_target_term_scores_only_the_target_after_each_prompt(tiny_lm, gpt2):
    ids, mask = batch(tiny_lm)
    _, per_term = Objective(tiny_lm, [LMTerm(tiny_lm, target=" blue circle", weight=2.0)]).losses(ids, mask)
    target = gpt2(" blue circle")["input_ids"]
    rows = [[gpt2.eos_token_id] + gpt2(p)["input_ids"] for p in PROMPTS]
    expected = textbook_nll(tiny_lm, [r + target for r in rows], [range(len(r), len(r) + len(target)) for r in rows])
    torch.testing.assert_close(per_term["target"], expected, rtol=1e-5, atol=1e-5)


def test_clip_term_is_one_minus_cosine_to_the_mean_image_feature(tiny_lm, tiny_clip, clip_adapter, image_features):
    ids, mask = batch(tiny_lm)
    term = CLIPTerm(tiny_clip, clip_adapter, image_features=image_features, prefix="a photo of", suffix=".")
    _, per_term = Objective(tiny_lm, [term]).losses(ids, mask)
    text = tiny_clip.encode_texts([f"a photo of{p}." for p in PROMPTS])  # (B, D)
    target = F.normalize(image_features.mean(0), dim=-1)
    torch.testing.assert_close(per_term["clip"], 1 - text @ target, rtol=1e-5, atol=1e-5)


def test_clip_term_from_images_equals_from_their_features(tiny_lm, tiny_clip, clip_adapter, image_features):
    images = [Image.new("RGB", (64, 64), color) for color in ("red", "blue")]
    ids, mask = batch(tiny_lm)
    from_images = Objective(tiny_lm, [CLIPTerm(tiny_clip, clip_adapter, images)]).losses(ids, mask)[0]
    from_features = Objective(tiny_lm, [CLIPTerm(tiny_clip, clip_adapter, image_features=image_features)])
    from_features = from_features.losses(ids, mask)[0]
    torch.testing.assert_close(from_images, from_features)


def test_classifier_term_is_cross_entropy_toward_the_label(tiny_lm, tiny_classifier, classifier_adapter):
    ids, mask = batch(tiny_lm)
    objective = Objective(tiny_lm, [ClassifierTerm(tiny_classifier, classifier_adapter, "positive")])
    _, per_term = objective.losses(ids, mask)
    probabilities = tiny_classifier.probabilities([p.strip() for p in PROMPTS])  # BERT drops the leading space anyway
    torch.testing.assert_close(per_term["classifier"], -probabilities[:, 1].log(), rtol=1e-5, atol=1e-5)


def test_total_is_the_weighted_sum_of_terms(tiny_lm, tiny_clip, clip_adapter, image_features):
    ids, mask = batch(tiny_lm)
    objective = Objective(tiny_lm, [LMTerm(tiny_lm, weight=0.3), CLIPTerm(tiny_clip, clip_adapter, weight=2.5,
                                                                image_features=image_features)])
    total, per_term = objective.losses(ids, mask)
    torch.testing.assert_close(total, 0.3 * per_term["lm"] + 2.5 * per_term["clip"])
    assert objective.weights == {"lm": 0.3, "clip": 2.5}


# ----------------------------------------------------------------------------------------- batch paths

@pytest.fixture(scope="module")
def two_model_objective(tiny_lm, tiny_clip, clip_adapter, image_features):
    return Objective(tiny_lm, [LMTerm(tiny_lm), CLIPTerm(tiny_clip, clip_adapter, image_features=image_features)])


def test_chunked_evaluate_equals_one_batch_and_losses(tiny_lm, two_model_objective):
    ids, mask = batch(tiny_lm)
    whole, whole_terms = two_model_objective.evaluate(ids, mask, chunk_size=256)
    chunked, chunked_terms = two_model_objective.evaluate(ids, mask, chunk_size=1)
    differentiable, _ = two_model_objective.losses(ids, mask)
    torch.testing.assert_close(whole, chunked)
    torch.testing.assert_close(whole, differentiable.detach())
    for name in whole_terms:
        torch.testing.assert_close(whole_terms[name], chunked_terms[name])


def test_one_hot_gradient_is_the_embedding_path_plus_the_lms_own_log_probabilities(tiny_lm, gpt2, tiny_clip,
                                                                                   clip_adapter, image_features):
    """Reference, built independently: autograd through one_hot @ table (the embedding path, targets held
    fixed), plus the fluency term's target path, -w * log p(v | <bos> + prompt[:t]) / (tokens scored)."""
    ids, mask = batch(tiny_lm)
    weight = 0.7
    objective = Objective(tiny_lm, [LMTerm(tiny_lm, weight=weight, end=True),
                               CLIPTerm(tiny_clip, clip_adapter, image_features=image_features)])
    table = tiny_lm.embedding_table.detach()
    one_hot = F.one_hot(ids, table.shape[0]).float().requires_grad_(True)        # (B, T, V)
    total, _ = objective.losses(ids, mask, embeds=one_hot @ table)
    total.sum().backward()
    expected = one_hot.grad.clone()
    for b, prompt in enumerate(PROMPTS):
        row = [gpt2.eos_token_id] + gpt2(prompt)["input_ids"]
        logp = tiny_lm.model(input_ids=torch.tensor([row])).logits[0].log_softmax(-1)  # (1 + n, V)
        n = len(row) - 1
        expected[b, :n] -= weight * logp[:n] / (n + 1)                           # n prompt tokens and the end
    got = objective.one_hot_gradient(ids, mask)
    assert got.shape == one_hot.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_gradients_run_under_the_same_autocast_as_evaluate(tiny_lm, two_model_objective, monkeypatch):
    """On CUDA every forward (evaluate, one_hot_gradient, embedding_gradient) runs in bf16 autocast. No GPU
    here, so CPU bf16 autocast stands in for it: the FUSE backward must take bf16 activations without a
    dtype error, hand back fp32 gradients, and rank swaps as the fp32 gradient does."""
    import fuse_edu.objective.objective as objectives

    ids, mask = batch(tiny_lm)
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


def test_losses_from_a_one_hot_equal_losses_from_ids(tiny_lm, two_model_objective):
    ids, mask = batch(tiny_lm)
    one_hot = F.one_hot(ids, tiny_lm.embedding_table.shape[0]).float()
    torch.testing.assert_close(two_model_objective.losses(ids, mask, one_hot=one_hot)[0],
                               two_model_objective.losses(ids, mask)[0])


def test_embedding_gradient_of_the_primary_alone_is_the_exact_gradient(tiny_lm):
    ids, mask = batch(tiny_lm)
    objective = Objective(tiny_lm, [LMTerm(tiny_lm)])
    embeds = tiny_lm.embed(ids).detach().requires_grad_(True)
    objective.losses(ids, mask, embeds)[0].sum().backward()
    torch.testing.assert_close(objective.embedding_gradient(ids, mask), embeds.grad)


def test_fuse_gradient_reaches_the_prompt_from_clip(tiny_lm, tiny_clip, clip_adapter, image_features):
    ids, mask = batch(tiny_lm)
    objective = Objective(tiny_lm, [CLIPTerm(tiny_clip, clip_adapter, image_features=image_features)])
    grad = objective.embedding_gradient(ids, mask)
    assert torch.isfinite(grad).all()
    real = grad.norm(dim=-1)[mask.bool()]
    assert (real > 0).all() and (grad.norm(dim=-1)[~mask.bool()] == 0).all()


def test_next_token_logprobs_is_the_lms_distribution_after_each_prompt(tiny_lm, gpt2):
    ids, mask = batch(tiny_lm)
    got = Objective(tiny_lm, [LMTerm(tiny_lm, prefix="a photo of")]).next_token_logprobs(ids, mask)
    head = [gpt2.eos_token_id] + gpt2("a photo of")["input_ids"]
    for b, prompt in enumerate(PROMPTS):
        full = torch.tensor([head + gpt2(prompt)["input_ids"]])
        expected = tiny_lm.model(input_ids=full).logits[0, -1].log_softmax(-1)
        torch.testing.assert_close(got[b], expected, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf")])
def test_bad_weights_are_refused(tiny_lm, weight):
    with pytest.raises(ValueError, match="weight of 'lm'"):
        Objective(tiny_lm, [LMTerm(tiny_lm, weight=weight)])


def test_secondary_model_without_adapter_is_refused(tiny_lm, tiny_clip, image_features):
    with pytest.raises(ValueError, match="FuseAdapter"):
        Objective(tiny_lm, [CLIPTerm(tiny_clip, None, image_features=image_features)])


def test_other_bad_configurations_are_refused(tiny_lm, tiny_clip, tiny_classifier, classifier_adapter, image_features):
    with pytest.raises(ValueError, match="distinct"):
        Objective(tiny_lm, [LMTerm(tiny_lm), LMTerm(tiny_lm)])
    with pytest.raises(ValueError, match="at least one term"):
        Objective(tiny_lm, [])
    with pytest.raises(TypeError, match="CausalLM"):
        Objective(tiny_clip, [LMTerm(tiny_lm)])
    with pytest.raises(ValueError, match="exactly one of"):
        CLIPTerm(tiny_clip, None)
    with pytest.raises(ValueError, match="unknown label 'joyful'"):
        ClassifierTerm(tiny_classifier, classifier_adapter, "joyful")
    with pytest.raises(ValueError, match="T = 0"):
        Objective(tiny_lm, [LMTerm(tiny_lm)]).losses(torch.zeros(2, 0, dtype=torch.long))


def test_the_prompt_is_scored_after_the_lms_start_token(tiny_lm, wordpiece_lm):
    """GPT-2 adds no special token: the prompt's first token is predicted from <|endoftext|>. An LM whose
    tokenizer has neither BOS nor EOS cannot score the first token, and says so."""
    from fuse_edu.objective.terms import start_id

    assert start_id(tiny_lm) == tiny_lm.start_id == 50256
    assert LMTerm(tiny_lm).frame.prefix_ids == (50256,)
    assert wordpiece_lm.start_id is None  # BERT's WordPiece: [CLS] and [SEP], no BOS or EOS
    with pytest.raises(ValueError, match="has neither a BOS nor an EOS token; the LM cannot score"):
        start_id(wordpiece_lm)


# ----------------------------------------------------------------------------------------- non-finite losses

def test_a_nan_weight_in_a_model_is_an_error_naming_its_term(tiny_lm, clip, clip_adapter, image_features):
    """A NaN in CLIP's text projection makes its loss NaN: ``check_finite`` names the term."""
    from fuse_edu.models import DualEncoder
    from fuse_edu.objective import NonFiniteLossError
    from tests import tiny

    broken = DualEncoder(tiny.tiny_clip_model(), clip)
    with torch.no_grad():
        broken.model.text_projection.weight[0, 0] = float("nan")
    objective = Objective(tiny_lm, [LMTerm(tiny_lm), CLIPTerm(broken, clip_adapter, image_features=image_features)])
    ids, mask = batch(tiny_lm)
    for score in (objective.evaluate, objective.losses, objective.one_hot_gradient):
        fresh = Objective(tiny_lm, objective.terms)
        score.__func__(fresh, ids, mask)  # noted on the device, not waited for
        with pytest.raises(NonFiniteLossError, match=r"the 'clip' term gave a NaN or infinite loss"):
            fresh.check_finite()
        with pytest.raises(NonFiniteLossError, match="'clip'"):
            fresh.without_end().check_finite()  # the variant shares the notes
    Objective(tiny_lm, [LMTerm(tiny_lm)]).check_finite()  # nothing evaluated: nothing to report
