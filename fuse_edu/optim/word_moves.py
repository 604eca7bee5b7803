"""Word swaps: replace a whole word of the prompt, all its sub-tokens at once, by a word from a list.

A token swap cannot turn " triangle" into " crescent" when GPT-2 spells crescent " c" + "rescent": the
half-way prompt "a small yellow c" is nonsense to every model, so no single swap leads there. FUSE
already thinks in words (an adapter is fitted per word), so the search may too: given a word list, a step
also proposes prompts in which one word is replaced by another, whatever either's number of sub-tokens.
Everything is batched gathers on the device:

- ``WordTable.of``    the word list as a padded (n_words, K) id table, plus which tokens start a word;
- ``word_starts``     where each word of the current prompt starts and ends, (T,) each, by cumulative ops;
- ``first_tokens``    the distinct first sub-tokens of the words, which GCG ranks by the gradient;
- ``word_swap``       builds the candidates: prefix + new word + the rest, shifted, with new lengths;
- ``lm_word_choice``  which of the listed words sharing a first token to write: the LM's own continuation.

GCG ranks a word swap by its first sub-token's first-order score and lets the LM pick the word; like every
GCG guess this only ranks candidates, which are then scored exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from fuse_edu.batching import pad_right


@dataclass(frozen=True)
class WordTable:
    """Words as token ids: ``ids`` (n, K) padded with 0, ``lengths`` (n,), ``starts_word`` (V,) bool."""

    ids: torch.Tensor
    lengths: torch.Tensor
    starts_word: torch.Tensor

    @classmethod
    def of(cls, tokenizer, words: list[str], size: int | None = None,
           device: torch.device | str = "cpu") -> "WordTable":
        """Each word as it is tokenized mid-sentence (" turquoise" -> " tur", "qu", "oise"). A token starts
        a word when its text begins with whitespace; the prompt's first token always does.

        Built once per (tokenizer, words, size, device) and then shared, since a table is never written to:
        tokenizing a 48,000-word list takes about a second, which every optimiser run (one per image) would
        otherwise pay again."""
        if not words:
            raise ValueError("WordTable needs at least one word")
        return _word_table(cls, tokenizer, tuple(words), size, str(torch.device(device)))


@functools.lru_cache(maxsize=8)
def _word_table(cls, tokenizer, words: tuple[str, ...], size: int | None, device: str) -> WordTable:
    rows = tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
    if any(not r for r in rows):
        raise ValueError(f"words that give no tokens: {[w for w, r in zip(words, rows) if not r][:5]}")
    ids = pad_right(rows, pad_id=0)["input_ids"]                                   # (W, K), set-up, CPU
    size = size or len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    starts = torch.zeros(size, dtype=torch.bool)
    # byte-level BPE marks a leading space with "Ġ", SentencePiece with "▁"; decode as a fallback
    starts[:len(pieces)] = torch.tensor([p is not None and p[:1] in ("Ġ", "▁", " ") for p in pieces])
    return cls(ids.to(device), torch.tensor(list(map(len, rows)), device=device), starts.to(device))


def word_starts(current: torch.Tensor, length: torch.Tensor, starts_word: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """For the prompt ``current`` (T,) of ``length`` (0-d): (T,) bool "a word starts here" (within the
    prompt) and (T,) the end (exclusive) of the word starting at each position."""
    T = current.shape[0]
    position = torch.arange(T, device=current.device)                                  # (T,)
    inside = position < length                                                          # (T,)
    is_start = (starts_word[current] | (position == 0)) & inside                        # (T,)
    # the end of a word is the next start, or the prompt's end: a reversed running minimum
    next_start = torch.where(is_start, position, torch.full_like(position, T))          # (T,)
    following = torch.cat([next_start[1:], next_start.new_full((1,), T)])               # start strictly after
    end = following.flip(0).cummin(0).values.flip(0)                                   # (T,)
    return is_start, torch.minimum(end, length.expand(T))


def word_swap(current: torch.Tensor, length: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
              word: torch.Tensor, table: WordTable) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts with [start, end) replaced by ``table`` word ``word``: start, end, word (m,) -> ids (m, T) and
    lengths (m,). A prompt that would outgrow its T slots is cut at T; a word never empties a prompt."""
    T = current.shape[0]
    q = torch.arange(T, device=current.device)                                          # (T,)
    w_len = table.lengths[word][:, None]                                                # (m, 1)
    s, e = start[:, None], end[:, None]                                                 # (m, 1)
    in_word = (q >= s) & (q < s + w_len)                                                # (m, T)
    source = torch.where(q < s, q, q - s - w_len + e).clamp(0, T - 1)                   # (m, T) old slot to copy
    from_word = table.ids[word[:, None], (q - s).clamp(0, table.ids.shape[1] - 1)]      # (m, T)
    ids = torch.where(in_word, from_word, current[source])                              # (m, T)
    lengths = (length - (end - start) + table.lengths[word]).clamp(1, T)                # (m,)
    return ids, lengths


def first_tokens(table: WordTable) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct first sub-tokens of the listed words, (U,), and for each word the index of its first
    token among them, (n,)."""
    unique, index = torch.unique(table.ids[:, 0], return_inverse=True)                 # (U,), (n,)
    return unique, index


@torch.no_grad()
def lm_word_choice(objective, prompts: torch.Tensor, start: torch.Tensor, first: torch.Tensor,
                   table: WordTable, generator: torch.Generator | None = None) -> torch.Tensor:
    """Which listed word to write at ``start`` (m,) in ``prompts`` ((m, T), or one prompt (T,) for all), given
    its first sub-token ``first`` (m,): the word that agrees longest with the primary LM's own continuation of
    the prompt's first ``start`` tokens and ``first``, (m,) word indices.

    Many words share a first token (" lav": lava, lavish, lavender, ...), and a first-order score ranks them
    all alike. The LM continues prefix + first token greedily, piece by piece, for as long as it would rather
    go on inside the word than start a new word or end the text; the listed word sharing the longest prefix
    with that continuation wins (a whole match first, ties at random). Batched over the m swaps: at most
    K - 1 LM calls, no host sync.
    """
    m, T = start.shape[0], prompts.shape[-1]
    K = table.ids.shape[1]
    device = prompts.device
    position = torch.arange(T + K, device=device)                                          # (T+K,)
    prefix = torch.cat([prompts.expand(m, T), prompts.new_zeros(m, K)], 1)                  # (m, T+K)
    seq = torch.where(position < start[:, None], prefix, 0)                                 # (m, T+K)
    seq = seq.scatter(1, start[:, None], first[:, None])
    length = start + 1                                                                      # (m,)
    written = first[:, None].expand(m, 1)                                                   # (m, 1) the word so far
    going = torch.ones(m, dtype=torch.bool, device=device)                                  # (m,)
    inside = ~table.starts_word                                                             # (V,) pieces that continue a word
    eos = objective.tokenizer.eos_token_id
    for _ in range(K - 1):
        mask = (position < length[:, None]).long()                                          # (m, T+K)
        logprobs = objective.next_token_logprobs(seq, mask)                                 # (m, V)
        V = min(logprobs.shape[1], inside.shape[0])
        piece = logprobs[:, :V].masked_fill(~inside[:V], float("-inf")).max(1)              # (m,) best piece
        new_word = logprobs[:, :V].masked_fill(inside[:V], float("-inf")).max(1).values     # (m,) best word start
        if eos is not None:
            new_word = torch.maximum(new_word, logprobs[:, eos])
        going = going & (piece.values > new_word)
        token = torch.where(going, piece.indices, -1)                                       # (m,) -1: stopped
        written = torch.cat([written, token[:, None]], 1)
        seq = seq.scatter(1, length.clamp(max=T + K - 1)[:, None], torch.where(going, token, 0)[:, None])
        length = length + going.long()
    # prefix agreement of every listed word with each continuation: (m, n)
    n_written = (written >= 0).sum(1)                                                       # (m,)
    E = written.shape[1]
    words = table.ids[:, :E]                                                                # (n, E)
    used = torch.arange(E, device=device) < table.lengths[:, None]                          # (n, E)
    agree = (words[None] == written[:, None]) & used[None]                                  # (m, n, E)
    common = agree.long().cumprod(2).sum(2)                                                 # (m, n)
    whole = (common == table.lengths[None]) & (common == n_written[:, None])                # (m, n) the very word
    score = 2.0 * common + whole.float()                                                    # (m, n)
    score = score.masked_fill(table.ids[None, :, 0] != first[:, None], float("-inf"))
    if generator is not None:
        score = score + 0.5 * torch.rand(score.shape, generator=generator, device=device)
    return score.argmax(1)                                                                  # (m,)
