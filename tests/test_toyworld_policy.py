"""The toy preset's word policy (``fuse_edu.toyworld.policy``): adapters fitted on the lexicon first, opinion
words in captions only when a sentiment is asked for, and whole-word swaps among the words that describe a scene."""

from __future__ import annotations

from fuse_edu.models import PRESETS
from fuse_edu.toyworld import COLORS, NEGATIVE_WORDS, POSITIVE_WORDS, SENTIMENTS, SHAPES, SIZES, vocabulary
from fuse_edu.toyworld import policy


def test_the_toy_preset_uses_this_policy():
    words = PRESETS["toy"].words
    assert words.adapter_words is policy.adapter_words and words.lexicon is policy.caption_words
    assert words.opening_words is policy.opening_words and words.swap_words is policy.swap_words


def test_adapter_words_put_the_whole_lexicon_first_then_english_without_repeats():
    words = policy.adapter_words()
    lexicon = vocabulary()
    assert words[:len(lexicon)] == lexicon
    assert len(words) == len(set(words)) and len(words) > policy.ADAPTER_EXTRA_WORDS * 0.9


def test_caption_words_hold_opinions_only_when_a_sentiment_is_asked_for():
    opinions = set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)
    neutral = policy.caption_words()
    assert not opinions & set(neutral) and set(COLORS) | set(SHAPES) | set(SIZES) <= set(neutral)
    assert opinions <= set(policy.caption_words({"sentiment": "positive"}))
    assert policy.caption_words({"sentiment": None}) == neutral


def test_swap_words_describe_a_scene_and_the_sentiment_asked_for():
    assert policy.swap_words() == [*SIZES, *COLORS, *SHAPES]
    for sentiment, words in SENTIMENTS.items():
        assert policy.swap_words({"sentiment": sentiment}) == [*SIZES, *COLORS, *SHAPES, *words]


def test_opening_words_are_those_a_caption_starts_with():
    assert policy.opening_words() == ["a", "an", "the", "there"]
