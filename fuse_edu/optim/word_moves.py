"""Word swaps: replace a whole word of the prompt, all its sub-tokens at once, by a word from a list.

A token swap cannot turn " triangle" into " crescent" when GPT-2 spells crescent " c" + "rescent": the
half-way prompt "a small yellow c" is nonsense to every model, so no single swap leads there (DESIGN.md §4
trap 1 seen from the optimiser's side). FUSE already thinks in words (an adapter is fitted per word), so
the search may too: given a word list, a step also proposes prompts in which one word is replaced by
another, whatever either's number of sub-tokens. Everything is batched gathers on the device:

- ``WordTable.of``    the word list as a padded (n_words, K) id table, plus which tokens start a word;
- ``word_starts``     where each word of the current prompt starts and ends, (T,) each, by cumulative ops;
- ``word_swap_scores`` GCG's first-order guess for every (position, word) pair from the one-hot gradient:
                       grad[s, w_0] - grad[s, current_s], the swap of the words' first sub-tokens;
- ``word_swap``       builds the candidates: prefix + new word + the rest, shifted, with new lengths.

The guess is only first order and ignores the shift of later tokens when lengths differ; like every
GCG guess it only ranks candidates, which are then scored exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fuse_edu.models.base import pad_right


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
        a word when its text begins with whitespace; the prompt's first token always does."""
        if not words:
            raise ValueError("WordTable needs at least one word")
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


WORD_SCORES = ("first", "sum")


def word_swap_scores(grad: torch.Tensor, current: torch.Tensor, is_start: torch.Tensor, end: torch.Tensor,
                     table: WordTable, by: str = "first") -> torch.Tensor:
    """(T, n_words) first-order loss change of writing word w over the word starting at s; +inf where no
    word starts at s. grad (T, V) is d loss / d one-hot.

    ``by="first"`` (the default) scores the swap of the first sub-tokens only: grad[s, w_0] - grad[s,
    current_s]. ``by="sum"`` adds every sub-token at the slot it would land in, minus every token of the
    old word. The sum looks more complete but is worse: slots s+1.. hold the *next* word's tokens, so
    their gradient answers another question (what to put before "square"), and the old word's length
    decides how many terms it subtracts. On the 12 dev scenes of ``benchmarks/heldout_captioning.py``
    (budget 257) GCG named the colour on 100% with "first" against 92% with "sum", whose miss was a
    multi-token colour (turquoise, written as brown).
    """
    if by not in WORD_SCORES:
        raise ValueError(f"by must be one of {', '.join(WORD_SCORES)}, got {by!r}")
    T = grad.shape[0]
    position = torch.arange(T, device=grad.device)                                      # (T,)
    own = grad.gather(1, current[:, None])[:, 0]                                        # (T,) grad of current tokens
    if by == "first":
        new = grad[:, table.ids[:, 0]]                                                  # (T, n)
        old = own                                                                       # (T,)
    else:
        K = table.ids.shape[1]
        at = (position[:, None, None] + torch.arange(K, device=grad.device)).clamp(max=T - 1)  # (T, 1, K)
        new = grad[at.expand(T, table.ids.shape[0], K), table.ids.expand(T, -1, -1)]    # (T, n, K)
        used = torch.arange(K, device=grad.device) < table.lengths[:, None]              # (n, K)
        new = (new * used).sum(-1)                                                      # (T, n)
        in_word = (position[None, :] >= position[:, None]) & (position[None, :] < end[:, None])  # (T, T)
        old = (in_word * own[None, :]).sum(1)                                           # (T,)
    return torch.where(is_start[:, None], new - old[:, None], torch.full_like(new, float("inf")))


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
