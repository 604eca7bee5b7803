"""The toy world's English: captions and their articles, every combination as a candidate, sentiment captions,
a training corpus, and a lexicon that really exercises FUSE's cross-tokenizer path (DESIGN.md §4 trap 1)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from fuse_edu.text import subtoken_counts
from fuse_edu.toyworld import (
    COLORS, NEGATIVE_WORDS, POSITIVE_WORDS, SHAPES, SIZES, Scene, SceneObject, candidate_captions, caption,
    caption_corpus, captions, sample_scenes, sentiment_caption,
)
from fuse_edu.toyworld.captions import vocabulary, with_article

LEXICON = [*COLORS, *SHAPES, *SIZES, *POSITIVE_WORDS, *NEGATIVE_WORDS]


def test_lexicon_words_split_differently_across_tokenizers(gpt2, clip, bert):
    counts = np.stack([subtoken_counts(LEXICON, tok) for tok in (gpt2, clip, bert)])  # (3, n_words)
    disagree = [w for w, column in zip(LEXICON, counts.T) if len(set(column.tolist())) > 1]
    assert len(disagree) >= 3, f"FUSE's cross-tokenizer machinery would go unused; only {disagree} differ"
    # colours, shapes and sentiment words each carry some of the disagreement, not one category alone
    for group in (COLORS, SHAPES, POSITIVE_WORDS + NEGATIVE_WORDS):
        assert set(disagree) & set(group), f"no word of {list(group)} splits differently"
    assert counts.max() <= 4, "every lexicon word should fit the adapter's default max_subtokens"


def test_captions_and_articles():
    scene = Scene((SceneObject("hexagon", "turquoise", "small", 0.5, 0.5),), (80, 80, 80))
    assert caption(scene) == "a small turquoise hexagon"
    variants = captions(scene)
    assert variants[0] == caption(scene) and len(variants) >= 5 and len(set(variants)) == len(variants)
    assert "there is a small turquoise hexagon in the center" in variants
    pair = Scene((SceneObject("square", "red", "small", 0.2, 0.5), SceneObject("circle", "orange", "large", 0.75, 0.5)),
                 (80, 80, 80))
    assert caption(pair) == "a small red square and a large orange circle"
    assert "a photo of a red square and an orange circle" in captions(pair)
    assert with_article("orange star") == "an orange star" and with_article("ugly cross") == "an ugly cross"
    assert sentiment_caption(scene, "negative", random.Random(0)).split()[:2] in (
        ["an", w] if w[0] in "aeiou" else ["a", w] for w in NEGATIVE_WORDS)


def test_candidate_captions_cover_every_combination():
    singles = candidate_captions()
    assert len(singles) == len(set(singles)) == len(SIZES) * len(COLORS) * len(SHAPES)
    assert all(caption(s) in singles for s in sample_scenes(50, seed=9))
    assert len(candidate_captions(2)) == len(singles) ** 2 - len(SIZES) ** 2 * len(COLORS) * len(SHAPES)


def test_sentiment_caption_words_and_bad_value():
    scene = sample_scenes(1, seed=0, objects=2)[0]
    positive = sentiment_caption(scene, "positive", random.Random(1))
    negative = sentiment_caption(scene, "negative", random.Random(1))
    assert sum(w in POSITIVE_WORDS for w in positive.split()) == 2
    assert sum(w in NEGATIVE_WORDS for w in negative.split()) == 2
    assert positive == sentiment_caption(scene, "positive", random.Random(1))
    with pytest.raises(ValueError, match="positive, negative"):
        sentiment_caption(scene, "happy", random.Random(0))


def test_caption_corpus_is_deterministic_and_uses_known_words():
    corpus = caption_corpus(300, seed=0)
    assert corpus == caption_corpus(300, seed=0) and corpus != caption_corpus(300, seed=1)
    assert len(corpus) == 300
    assert {w for line in corpus for w in line.split()} <= set(vocabulary())
    assert any(w in line.split() for line in corpus for w in POSITIVE_WORDS)
    assert any(w in line.split() for line in corpus for w in NEGATIVE_WORDS)
    with pytest.raises(ValueError):
        caption_corpus(0, seed=0)


