"""Word alignment across tokenizers: which tokens of each tokenizer make up each whitespace word.

FUSE works word by word: a word is what ``str.split()`` returns, and in each model it is the run of
sub-tokens that tokenizer cut it into. We assign tokens to words from the tokenizer's
character offsets, never by re-tokenizing pieces with regexes, so the alignment agrees with the ids
the model actually sees.

The rules, in order:
1. A token belongs to the word that holds its first non-whitespace character.
2. A token of pure whitespace (GPT-2 emits these for runs of spaces) belongs to the word that follows
   it, or to the last word when nothing follows.
3. Straddling: a few tokenizers keep characters that Python counts as whitespace inside one token
   (GPT-2 reads "!\\x1c!" as one token, while ``str.split`` sees two words). Rule 1 gives such a
   token to the first word it touches; the later words it covers come back with no tokens.
Text with no words at all (empty, or only whitespace) aligns to an empty list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

from fuse_edu.text.pieces import readable_pieces


class AlignedWord(NamedTuple):
    word: str
    token_ids: list[int]


def word_spans(text: str) -> np.ndarray:
    """(n_words, 2) start/end character offsets of ``text.split()``'s words.

    Python's ``re`` ``\\S`` and ``str.split`` share one definition of whitespace (``str.isspace``).
    """
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    return np.array(spans, dtype=np.int64).reshape(-1, 2)  # (n_words, 2)


def token_owners(text: str, offsets: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """(n_tokens,) index of the word each token belongs to, by the rules in the module docstring."""
    n_chars = len(text)
    is_space = np.fromiter((c.isspace() for c in text), dtype=bool, count=n_chars)  # (n_chars,)
    # next_word_char[i] = first non-whitespace position >= i (n_chars when none)
    candidates = np.where(is_space, n_chars, np.arange(n_chars))                     # (n_chars,)
    next_word_char = np.append(np.minimum.accumulate(candidates[::-1])[::-1], n_chars)  # (n_chars + 1,)
    starts, ends = offsets[:, 0], offsets[:, 1]                                        # (n_tokens,)
    first_word_char = next_word_char[np.minimum(starts, n_chars)]                      # (n_tokens,)
    anchor = np.where(first_word_char < ends, first_word_char, starts)                 # (n_tokens,)
    owners = np.searchsorted(spans[:, 1], anchor, side="right")                        # (n_tokens,)
    return np.minimum(owners, len(spans) - 1)


def align_words(text: str, tokenizer: PreTrainedTokenizerBase) -> list[AlignedWord]:
    """The words of ``text.split()``, in order, each with its token ids (special tokens excluded).

    Every id of ``tokenizer(text, add_special_tokens=False)`` belongs to exactly one word, and the
    words' ids concatenated give those ids back.
    """
    if not isinstance(text, str):
        raise TypeError(f"align_words needs a str, got {type(text).__name__}")
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoding["input_ids"])
    spans = word_spans(text)
    if len(spans) == 0:
        return []
    offsets = np.array(encoding["offset_mapping"], dtype=np.int64).reshape(-1, 2)  # (n_tokens, 2)
    owners = token_owners(text, offsets, spans)                                    # (n_tokens,)
    if np.any(np.diff(owners) < 0):
        raise RuntimeError(
            f"{type(tokenizer).__name__} returned offsets out of order for {text!r}: {offsets.tolist()}; "
            "cannot align tokens to words"
        )
    cuts = np.searchsorted(owners, np.arange(len(spans) + 1))                      # (n_words + 1,)
    return [
        AlignedWord(text[s:e], ids[cuts[i]:cuts[i + 1]]) for i, (s, e) in enumerate(spans.tolist())
    ]


def batch_token_ids(tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> list[list[int]]:
    """Ids of many texts, no special tokens: ``tokenizer(texts)["input_ids"]``, only faster.

    Word lists are 10^5 short texts; the Rust backend's ``encode_batch_fast`` (no offsets, no Python
    ``BatchEncoding``) skips work they do not need. A tokenizer that prepares text in Python first
    (``CLIPCleaningTokenizer.clean_texts``) gets that step applied.

    The backend keeps whatever padding and truncation its ``tokenizer.json`` asked for (MiniLM's pads every
    text to 128 ids); ``tokenizer(...)`` resets them on each call, so we switch them off around our call too,
    or every word would come back 128 ids long.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch_fast"):
        return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    clean = getattr(tokenizer, "clean_texts", None)
    padding, truncation = backend.padding, backend.truncation
    backend.no_padding()
    backend.no_truncation()
    try:
        return [e.ids for e in backend.encode_batch_fast(clean(texts) if clean else texts, add_special_tokens=False)]
    finally:
        if padding is not None:
            backend.enable_padding(**padding)
        if truncation is not None:
            backend.enable_truncation(**truncation)


def subtoken_counts(words: Sequence[str], tokenizer: PreTrainedTokenizerBase, leading_space: bool = True) -> np.ndarray:
    """(n_words,) number of sub-tokens ``tokenizer`` cuts each word into, in one batched call.

    With ``leading_space`` (the default) each word is tokenized as it appears mid-sentence, after a
    space: that is how GPT-2-style tokenizers see words in a prompt (" cat" is one token, "cat" may
    not be). Tokenizers that drop whitespace (CLIP, WordPiece) give the same count either way.
    """
    words = list(words)
    bad = next((w for w in words if not isinstance(w, str) or len(w.split()) != 1 or w != w.strip()), None)
    if bad is not None:
        raise ValueError(f"subtoken_counts needs single words without whitespace; got {bad!r}")
    texts = [" " + w for w in words] if leading_space else words
    if not texts:
        return np.zeros(0, dtype=np.int64)
    return np.fromiter(map(len, batch_token_ids(tokenizer, texts)), dtype=np.int64, count=len(texts))


@dataclass(frozen=True)
class WordAlignment:
    """One text seen through several tokenizers: the same words, each tokenizer's ids per word."""

    text: str
    words: list[str]
    token_ids: dict[str, list[list[int]]]  # tokenizer name -> ids of each word

    @classmethod
    def from_text(cls, text: str, tokenizers: dict[str, PreTrainedTokenizerBase]) -> "WordAlignment":
        per_tokenizer = {name: align_words(text, tok) for name, tok in tokenizers.items()}
        words = text.split()
        return cls(text, words, {name: [a.token_ids for a in aligned] for name, aligned in per_tokenizer.items()})

    def counts(self) -> dict[str, list[int]]:
        """Sub-token count of each word, per tokenizer: the k_A(w), k_B(w) that set a word's bucket."""
        return {name: [len(ids) for ids in per_word] for name, per_word in self.token_ids.items()}

    def table(self, tokenizers: dict[str, PreTrainedTokenizerBase] | None = None) -> str:
        """A plain-text table, one row per word; with ``tokenizers``, shows what each token writes (not ids):
        ``readable_pieces``, a leading space as "␣", never a tokenizer's private spelling ("Ġ", "</w>")."""
        names = list(self.token_ids)
        rows = [["word", *names]]
        for i, word in enumerate(self.words):
            cells = []
            for name in names:
                ids = self.token_ids[name][i]
                shown = readable_pieces(tokenizers[name], ids) if tokenizers else ids
                cells.append(" ".join(map(str, shown)))
            rows.append([word, *cells])
        widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
