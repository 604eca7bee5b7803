"""Held-out diagnostics: the words a fit used are rebuilt exactly, and held-out numbers never include them."""

import math

import pytest
import torch

from fuse_edu.adapter import FuseAdapter, bucket_words, heldout_fit_error
from fuse_edu.adapter.diagnostics import (fit_report, fitted_words, heldout_translation_accuracy, split_words,
                                          translation_accuracy)


@pytest.fixture(scope="module")
def planted(gpt2, clip, english_words):
    """B's table is a noisy linear image of A's through the same words; a small cap makes the buckets full."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(len(gpt2), 16, generator=g)
    B = A @ torch.randn(16, 12, generator=g) + 0.05 * torch.randn(len(gpt2), 12, generator=g)
    words = english_words[:4000]
    adapter = FuseAdapter.fit((gpt2, A), (gpt2, B), words=words, words_per_bucket=300, cache=False)
    return adapter, (gpt2, A), (gpt2, B), words


def test_split_words_is_seeded_disjoint_and_complete():
    words = [f"w{i}" for i in range(100)] + ["w3"]  # a duplicate is dropped
    fit, held = split_words(words, 0.2, seed=3)
    assert len(held) == 20 and len(fit) == 80
    assert not set(fit) & set(held) and set(fit) | set(held) == set(words)
    assert fit == sorted(fit, key=words.index) and held == sorted(held, key=words.index)  # list order kept
    assert split_words(words, 0.2, seed=3) == (fit, held) and split_words(words, 0.2, seed=4) != (fit, held)


@pytest.mark.parametrize("fraction", [0, 1, -0.5, "0.2"])
def test_split_words_rejects_a_bad_fraction(fraction):
    with pytest.raises(ValueError, match="heldout_fraction"):
        split_words(["a", "b", "c"], fraction, seed=0)


def test_fitted_words_applies_the_per_bucket_cap(planted):
    adapter, src, dst, words = planted
    fitted = fitted_words(adapter, src, dst, words)
    counts = {int(K): n for K, n in adapter.info["words_per_bucket_fitted"].items()}
    assert {K: len(ws) for K, ws in fitted.items()} == counts
    assert len(fitted[1]) == 300  # capped: bucket 1 of 4,000 frequent words has more than 300
    uncapped = bucket_words(words, src[0], dst[0], adapter.max_subtokens)
    assert fitted[1] == uncapped[1].words[:300]


def test_fitted_words_refuses_another_word_list(planted):
    adapter, src, dst, words = planted
    with pytest.raises(ValueError, match="not the list the adapter was fitted on"):
        fitted_words(adapter, src, dst, words[:-1])
    with pytest.raises(ValueError, match="not the list the adapter was fitted on"):
        fit_report(adapter, src, dst, list(reversed(words)), ["cat"])


def test_fit_report_puts_in_sample_and_heldout_side_by_side(planted, english_words):
    adapter, src, dst, words = planted
    heldout = english_words[30_000:32_000]
    report = fit_report(adapter, src, dst, words, heldout + words[:500])  # fitted words are dropped
    assert set(report) == {1, 2, 3, 4}
    expected_heldout = heldout_fit_error(adapter, src, dst, heldout)
    fitted = fitted_words(adapter, src, dst, words)
    for K, row in report.items():
        assert row["n_fit"] == len(fitted[K])
        assert (row["n_heldout"], row["heldout_error"]) == pytest.approx(expected_heldout[K])
    for K in (1, 2, 3):  # a planted linear map generalises
        assert report[K]["fit_error"] < 0.05 and report[K]["heldout_error"] < 0.05
    # no word of these 4,000 is four GPT-2 tokens: bucket 4 was not fitted, its in-sample error is undefined
    assert report[4]["n_fit"] == 0 and math.isnan(report[4]["fit_error"]) and report[4]["n_heldout"] > 0
    in_sample = heldout_fit_error(adapter, src, dst, fitted[2])
    assert report[2]["fit_error"] == pytest.approx(in_sample[2][1])


def test_fit_report_marks_an_empty_heldout_bucket_with_nan(planted):
    adapter, src, dst, words = planted
    report = fit_report(adapter, src, dst, words, ["the", "ferret"])  # "the" was fitted: dropped
    assert report[1]["n_heldout"] == 0 and math.isnan(report[1]["heldout_error"])
    assert report[2]["n_heldout"] == 1  # " ferret" is two GPT-2 tokens
    assert report[4]["n_heldout"] == 0 and math.isnan(report[4]["heldout_error"])


def test_heldout_translation_accuracy_ranks_only_words_the_fit_never_saw(planted, english_words):
    adapter, src, dst, words = planted
    heldout = english_words[30_000:32_000]
    result = heldout_translation_accuracy(adapter, src, dst, words, heldout + words)
    plain = translation_accuracy(adapter, src, dst, heldout)
    assert result["n_heldout"] == plain["n"] and result["top1"] == plain["top1"]
    assert result["n_fit"] == 300 and result["chance_top1"] == pytest.approx(1 / result["n_heldout"])
    assert result["top1"] > 0.9
    with pytest.raises(ValueError, match="K=7"):
        heldout_translation_accuracy(adapter, src, dst, words, heldout, K=7)
    with pytest.raises(ValueError, match="not the list"):
        heldout_translation_accuracy(adapter, src, dst, heldout, heldout)
