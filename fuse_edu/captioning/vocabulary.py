"""Which tokens a caption may use, and which whole words a search may swap in: the vocabulary modes.

- ``open``: every token of the primary tokenizer that writes visible text (``allowed_token_mask("open")``),
  about 50,000 for GPT-2. Whole-word swaps draw from a general English word list, the ``OPEN_WORDS`` most
  frequent lower-case words of wordfreq, ranked by the gradient (GCG) or drawn at random (random search).
  Nothing of a preset's lexicon reaches the search; the LM's preference for some words is part of the
  objective.
- ``lexicon``: the preset's closed word list (the toy world's caption lexicon), each word's tokens as
  spelled mid-sentence plus the start-of-text spelling of its opening words only (``words_token_mask``);
  whole-word swaps draw from the preset's own swap list.
- a narrower kind of ``allowed_token_mask`` ("word", "lower", "alpha", "pieces"): those tokens, with the
  general word list cut to the words they can spell.

A swap word any of whose tokens is not allowed is dropped, so a swap never writes a forbidden token.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

import torch

from fuse_edu.models import Preset
from fuse_edu.optim.candidates import allowed_token_mask, words_token_mask

# How deep into wordfreq's English list the open word list goes: deep enough for rarer concrete nouns and
# colour names (several rank between 20,000 and 50,000), shallow enough to score every (slot, word) pair.
OPEN_WORDS = 50_000


@functools.lru_cache(maxsize=2)
def english_words(n: int = OPEN_WORDS) -> tuple[str, ...]:
    """The ``n`` most frequent English words of wordfreq, keeping lower-case alphabetic ones."""
    from wordfreq import top_n_list

    return tuple(w for w in top_n_list("en", n) if re.fullmatch(r"[a-z]+", w))


def allowed_tokens(preset: Preset, vocabulary: str, labels: Mapping[str, str] | None = None) -> torch.Tensor:
    """(V,) bool over the primary model's tokens: what a caption in ``vocabulary`` may use."""
    lm, size = preset.lm, preset.lm.embedding_table.shape[0]
    if vocabulary != "lexicon":
        return allowed_token_mask(lm.tokenizer, vocabulary, size=size, device=lm.device)
    words = preset.words
    if words.lexicon is None:
        raise ValueError(f"preset {preset.name!r} has no lexicon; use vocabulary 'open'")
    openers = words.opening_words() if words.opening_words else None
    return words_token_mask(lm.tokenizer, words.lexicon(dict(labels or {})), size=size, device=lm.device,
                            start_words=openers)


def swap_words(preset: Preset, vocabulary: str, allowed: torch.Tensor,
               labels: Mapping[str, str] | None = None) -> list[str] | None:
    """Words for whole-word swaps (``fuse_edu.optim.word_moves``) whose every token ``allowed`` (V,) admits,
    or None for token moves only (a lexicon preset without a swap list)."""
    if vocabulary == "lexicon":
        words = preset.words.swap_words(dict(labels or {})) if preset.words.swap_words else None
    else:
        words = list(english_words())
    if not words:
        return None
    rows = preset.lm.tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
    ok = allowed.cpu()
    kept = [w for w, ids in zip(words, rows) if ids and all(i < len(ok) and bool(ok[i]) for i in ids)]
    return kept or None
