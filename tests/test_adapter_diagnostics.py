"""Diagnostics detect a good adapter, and the first-order check separates FUSE from random directions."""

import pytest
import torch

from fuse_edu.adapter import (FuseAdapter, FuseTranslator, first_order_check, heldout_fit_error, spearman,
                              translation_accuracy)


@pytest.fixture(scope="module")
def words(english_words):
    return english_words  # the 32,000 most frequent: the first 30,000 fit, the rest held out


@pytest.fixture(scope="module")
def planted(gpt2, words):
    """B's table is a noisy linear image of A's: a good adapter exists and must be found."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(len(gpt2), 24, generator=g)
    B = A @ torch.randn(24, 12, generator=g) + 0.05 * torch.randn(len(gpt2), 12, generator=g)
    adapter = FuseAdapter.fit((gpt2, A), (gpt2, B), words=words[:30_000], cache=False)
    return adapter, (gpt2, A), (gpt2, B)


def test_heldout_error_is_small_for_a_planted_map(planted, words):
    adapter, src, dst = planted
    errors = heldout_fit_error(adapter, src, dst, words[30_000:])
    assert set(errors) == {1, 2, 3, 4} and all(err < 0.05 for _, err in errors.values())


def test_translation_accuracy_beats_chance(planted, words, clip):
    adapter, src, dst = planted
    result = translation_accuracy(adapter, src, dst, words[30_000:32_000])
    assert result["top1"] > 0.9 > 10 * result["chance_top1"]
    unrelated = (clip, torch.randn(len(clip), 12, generator=torch.Generator().manual_seed(5)))
    noise_adapter = FuseAdapter.fit(src, unrelated, words=words[:5000], cache=False)
    assert translation_accuracy(noise_adapter, src, unrelated, words[30_000:32_000])["top1"] < 0.2


def test_spearman_matches_definition():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert spearman(x, x * 10) == pytest.approx(1.0) and spearman(x, -x) == pytest.approx(-1.0)


def test_first_order_check_prefers_the_fuse_gradient(planted, words):
    adapter, (tok, A), (_, B) = planted
    translator = FuseTranslator(tok, tok, B, adapter)
    target = torch.randn(B.shape[1], generator=torch.Generator().manual_seed(1))

    def loss_fn(ids, embeds, mask, rows):  # a smooth loss of B's embeddings, reached through FUSE
        out, _, out_mask = translator(ids, embeds, mask)
        return ((out * out_mask.unsqueeze(-1)).sum(1) - target).square().sum(1) * 1e-3

    texts = ["a red square", "the large blue circle", "a small turquoise hexagon"]
    rows = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    ids = torch.zeros(3, max(map(len, rows)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, row in enumerate(rows):
        ids[b, : len(row)], mask[b, : len(row)] = torch.tensor(row), 1
    candidates = torch.tensor([tok(" " + w, add_special_tokens=False)["input_ids"][0] for w in words[:300]])
    result = first_order_check(loss_fn, A, ids, mask, candidates, swaps=200, generator=torch.Generator().manual_seed(2))
    assert result["spearman_fuse"] > 0.5 > abs(result["spearman_random"]) + 0.2
