"""Whole-word moves (``fuse_edu.optim.word_moves``): a word list as a table of sub-tokens, where the prompt's
words start and end, swapping one whole word for another of any length, the words grouped by first sub-token,
and which of the words sharing one the LM would write."""

from __future__ import annotations

import pytest
import torch

from fuse_edu.optim.word_moves import WordTable, first_tokens, lm_word_choice, word_starts, word_swap


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_word_table_and_word_starts(gpt2):
    table = WordTable.of(gpt2, ["red", "turquoise"])
    assert table.lengths.tolist() == [1, 3] and table.ids[1].tolist() == gpt2(" turquoise")["input_ids"]
    assert table.starts_word[gpt2.convert_tokens_to_ids("Ġred")] and not table.starts_word[gpt2.convert_tokens_to_ids("qu")]
    prompt = gpt2("a small turquoise square")["input_ids"]                       # a | small | tur qu oise | square
    current = torch.tensor(prompt + [0, 0])
    is_start, end = word_starts(current, torch.tensor(len(prompt)), table.starts_word)
    assert is_start.tolist() == [True, True, True, False, False, True, False, False]
    assert [int(end[i]) for i in (0, 1, 2, 5)] == [1, 2, 5, 6]


def test_word_swap_replaces_whole_words_of_any_length(gpt2):
    table = WordTable.of(gpt2, ["red", "turquoise", "hexagon"])
    prompt = gpt2("a small turquoise square")["input_ids"]
    current, length = torch.tensor(prompt + [0]), torch.tensor(len(prompt))      # T = 7
    ids, lengths = word_swap(current, length, torch.tensor([2, 1, 5]), torch.tensor([5, 2, 6]),
                             torch.tensor([0, 1, 2]), table)
    texts = [gpt2.decode(row[:n]) for row, n in zip(ids.tolist(), lengths.tolist())]
    assert texts == ["a small red square", "a turquoise turquoise", "a small turquoise hexagon"]  # 8 tokens: cut at T = 7


def test_a_word_that_outgrows_the_slots_is_cut(gpt2):
    table = WordTable.of(gpt2, ["turquoise"])
    current, length = torch.tensor(gpt2("a red")["input_ids"]), torch.tensor(2)   # T = 2, full
    ids, lengths = word_swap(current, length, torch.tensor([1]), torch.tensor([2]), torch.tensor([0]), table)
    assert lengths.tolist() == [2] and gpt2.decode(ids[0]) == "a tur"


def test_first_tokens_group_the_words_that_begin_alike(gpt2):
    table = WordTable.of(gpt2, ["hexagon", "red", "hexagons", "hex"])
    unique, index = first_tokens(table)
    hex_, red = gpt2(" hex")["input_ids"][0], gpt2(" red")["input_ids"][0]
    assert sorted(unique.tolist()) == sorted([hex_, red])
    assert unique[index].tolist() == [hex_, red, hex_, hex_]  # each word's first token


class FavouriteNext:
    """An LM stand-in: after token t it is sure of ``after[t]``, else of " the" (a new word)."""

    def __init__(self, tokenizer, after: dict[int, int]):
        self.tokenizer, self.after, self.device = tokenizer, after, torch.device("cpu")
        self.the = tokenizer(" the", add_special_tokens=False)["input_ids"][0]

    def next_token_logprobs(self, ids, mask):
        last = ids.gather(1, (mask.long().sum(1) - 1).clamp(min=0)[:, None]).squeeze(1)          # (m,)
        out = torch.full((ids.shape[0], len(self.tokenizer)), -30.0)
        for row, token in enumerate(last.tolist()):
            out[row, self.after.get(token, self.the)] = 0.0
        return out.log_softmax(-1)


@pytest.mark.parametrize("continuation, chosen", [(["agon"], "hexagon"), (["agons"], "hexagons"), ([], "hex")])
def test_lm_word_choice_writes_the_word_the_lm_continues_its_first_token_with(gpt2, continuation, chosen):
    """" hex" begins hexagon, hexagons and hex itself; a first-order score cannot tell them apart, the LM can."""
    words = ["hexagon", "hexagons", "hex", "red"]
    table = WordTable.of(gpt2, words)
    hex_ = gpt2(" hex")["input_ids"][0]
    pieces = gpt2.convert_tokens_to_ids(continuation)
    lm = FavouriteNext(gpt2, dict(zip([hex_, *pieces], pieces)))
    prompt = torch.tensor(gpt2(" a small red")["input_ids"] + [0, 0])                         # (T=5,)
    word = lm_word_choice(lm, prompt, torch.tensor([2, 1]), torch.tensor([hex_, hex_]), table)
    assert [words[i] for i in word.tolist()] == [chosen, chosen]
