"""The toy preset's word policy: which words its adapters are fitted on, which a caption may use, which a
search may swap in whole.

The toy models were trained on the caption lexicon and nothing else (``captions.vocabulary``), so their
other vocabulary rows carry little signal. Hence the adapters are fitted on the lexicon first, topped up
with frequent English words, and the lexicon is never cut when a bucket is full (the lexicon comes first).
``labels`` maps a classifier role to the label a caption is steered toward (``{"sentiment": "positive"}``).
"""

from __future__ import annotations

from collections.abc import Mapping

from fuse_edu.toyworld.captions import NEGATIVE_WORDS, POSITIVE_WORDS, SENTIMENTS, opening_words, vocabulary
from fuse_edu.toyworld.scenes import COLORS, SHAPES, SIZES

ADAPTER_EXTRA_WORDS = 20_000  # frequent English words added after the lexicon when fitting toy adapters

__all__ = ["ADAPTER_EXTRA_WORDS", "adapter_words", "caption_words", "opening_words", "swap_words"]


def adapter_words() -> list[str]:
    """The caption lexicon, then the ``ADAPTER_EXTRA_WORDS`` most frequent English words not in it."""
    from wordfreq import top_n_list

    lexicon = vocabulary()
    known = set(lexicon)
    return lexicon + [w for w in top_n_list("en", ADAPTER_EXTRA_WORDS) if w not in known]


def caption_words(labels: Mapping[str, str] | None = None) -> list[str]:
    """The lexicon a caption may use: opinion words ("lovely", "dismal") only when a sentiment is asked for.

    The toy LM and CLIP both saw sentiment captions, so without this rule a neutral caption drifts to
    "a lovely large turquoise square": one more cheap word lowers the LM's per-word NLL.
    """
    opinions = set() if (labels or {}).get("sentiment") else set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)
    return [w for w in vocabulary() if w not in opinions]


def swap_words(labels: Mapping[str, str] | None = None) -> list[str]:
    """The words a search may swap in whole: sizes, colours and shapes, plus the requested sentiment's
    opinion words. Several colours and shapes are two or three GPT-2 tokens, which single-token swaps cannot
    reach; a short list keeps the (word, slot) pairs a step draws on the words that describe a scene."""
    sentiment = (labels or {}).get("sentiment")
    return [*SIZES, *COLORS, *SHAPES, *(SENTIMENTS[sentiment] if sentiment in SENTIMENTS else ())]
