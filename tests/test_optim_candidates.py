"""Candidate prompts built in batches (``fuse_edu.optim.candidates``): which tokens are allowed, the LM's greedy
initial prompt, GCG's top-k swaps, the L0 and L2 neighbourhoods of random search, and insertions and deletions."""

from __future__ import annotations

import pytest
import torch

from fuse_edu.optim.candidates import (
    allowed_token_mask, delete_at, greedy_prompt, insert_at, l0_candidates, l2_candidates,
    lm_top_tokens, random_below, single_swap_candidates, top_k_replacements, with_token_at, words_token_mask,
)


@pytest.fixture(scope="module")
def allowed(gpt2):
    return allowed_token_mask(gpt2, "word")


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_allowed_tokens_are_whole_words(gpt2, allowed):
    assert allowed.shape == (len(gpt2),)
    for piece, ok in [("Ġsquare", True), ("ĠRed", True), ("square", False), ("Ġ42", False), ("Ġ(", False), ("Ġ", False)]:
        assert bool(allowed[gpt2.convert_tokens_to_ids(piece)]) is ok, piece
    assert not allowed[gpt2.eos_token_id]
    lower = allowed_token_mask(gpt2, "lower")
    assert not lower[gpt2.convert_tokens_to_ids("ĠRed")] and bool((lower <= allowed).all())
    with pytest.raises(ValueError, match="unknown allowed-token kind 'words'.*word, lower"):
        allowed_token_mask(gpt2, "words")


def test_words_token_mask_gives_start_spellings_to_opening_words_only(gpt2):
    from fuse_edu.toyworld.captions import opening_words

    assert opening_words() == ["a", "an", "the", "there"]
    words = ["a", "an", "the", "there", "small", "brown", "circle"]
    every = words_token_mask(gpt2, words)
    openers = words_token_mask(gpt2, words, start_words=opening_words())
    glued = gpt2.convert_tokens_to_ids("brown")                 # "smallbrown" needs this no-space token
    assert bool(every[glued]) and not bool(openers[glued])
    assert bool(openers[gpt2.convert_tokens_to_ids("a")]) and bool(openers[gpt2.convert_tokens_to_ids("Ġbrown")])
    assert bool((openers <= every).all())


def test_top_k_replacements_skip_the_current_token_and_disallowed_ones(allowed):
    grad = torch.randn(4, len(allowed), generator=generator())
    current = torch.tensor([257, 2266, 6616, 13])           # " a red square."
    grad[0, 257] = -1e9                                      # the current token has the best gradient
    top = top_k_replacements(grad, current, allowed, k=16)  # (4, 16)
    assert top.shape == (4, 16)
    assert allowed[top].all() and not (top == current[:, None]).any()


def test_single_swap_candidates_differ_from_the_prompt_in_exactly_one_position():
    current = torch.tensor([1, 2, 3, 4, 5])
    replacements = torch.arange(100, 140).reshape(5, 8)     # (T, k), never equal to current
    candidates = single_swap_candidates(current, replacements, 30, generator())
    assert candidates.shape == (30, 5)
    changed = candidates != current
    assert (changed.sum(1) == 1).all()
    position = changed.long().argmax(1)
    assert (replacements[position] == candidates[changed][:, None]).any(1).all()  # from that position's top-k
    assert len({tuple(c) for c in candidates.tolist()}) == 30                      # distinct swaps
    assert single_swap_candidates(current, replacements, 1000, generator()).shape == (40, 5)  # at most T*k


def test_with_token_at_writes_one_column():
    out = with_token_at(torch.tensor([1, 2, 3]), 1, torch.tensor([7, 8]))
    assert out.tolist() == [[1, 7, 3], [1, 8, 3]]


@pytest.mark.parametrize("radius", [1, 2, 5])
def test_l0_candidates_stay_within_the_radius_and_the_allowed_set(allowed, radius):
    current = torch.tensor([257, 2266, 6616, 290, 257, 4171])
    allowed_ids = allowed.nonzero().flatten()
    candidates = l0_candidates(current, 200, radius, allowed_ids, generator())
    changed = (candidates != current).sum(1)
    assert candidates.shape == (200, 6) and (changed >= 1).all() and (changed <= radius).all()
    assert allowed[candidates[candidates != current]].all()
    if radius > 1:
        assert (changed == radius).any() and (changed < radius).any()  # r is drawn, not fixed


def test_l2_candidates_project_to_allowed_rows(shallow_lm, allowed):
    table, allowed_ids = shallow_lm.embedding_table.detach(), allowed.nonzero().flatten()
    current = allowed_ids[:5]
    near = l2_candidates(table[current], 8, 1e-6, allowed_ids, table[allowed_ids], generator())
    assert (near == current).all()  # a tiny push projects back onto the same rows
    far = l2_candidates(table[current], 8, 1e3, allowed_ids, table[allowed_ids], generator(), chunk_size=3)
    assert allowed[far].all() and (far != current).any()


def test_greedy_prompt_is_the_lms_argmax_continuation(say_square, allowed):
    ids, length = greedy_prompt(say_square, 3, allowed)
    assert length == 3
    for t in range(3):
        prefix, mask = (ids[None, :t], None) if t else (ids[None, :1], torch.zeros(1, 1, dtype=torch.long))
        logprobs = say_square.next_token_logprobs(prefix, mask)[0]
        assert ids[t] == logprobs.masked_fill(~allowed, -torch.inf).argmax()
    assert greedy_prompt(say_square, 3, allowed, start=[64])[0][0] == 64  # init text comes first


def test_greedy_prompt_stops_where_the_lm_would_end_the_text(say_square, gpt2):
    """After the start token X, with a single allowed token Y, greedy ends iff p(end | X) > p(Y | X)."""
    x = 1000
    after = say_square.next_token_logprobs(torch.tensor([[x]]))[0]                # (V,)
    ranked = after.argsort()
    unlikely, likely = int(ranked[0]), int(ranked[-1] if ranked[-1] != gpt2.eos_token_id else ranked[-2])
    for y, should_end in [(unlikely, True), (likely, bool(after[gpt2.eos_token_id] > after[likely]))]:
        only = torch.zeros(after.shape[0], dtype=torch.bool)
        only[y] = True
        ids, length = greedy_prompt(say_square, 3, only, start=[x], stop_at_end=True)
        assert (length == 1) is should_end and ids[0] == x
    assert greedy_prompt(say_square, 3, only, start=[x])[1] == 3  # without stop_at_end it fills every slot


def test_delete_and_insert_shift_the_rest_of_the_prompt():
    current = torch.tensor([10, 11, 12, 13])
    assert delete_at(current, torch.tensor([0, 2])).tolist() == [[11, 12, 13, 13], [10, 11, 13, 13]]
    assert insert_at(current, torch.tensor([0, 3]), torch.tensor([7, 8])).tolist() == [[7, 10, 11, 12], [10, 11, 12, 8]]
    draws = random_below(torch.tensor(3), 500, generator())
    assert draws.min() == 0 and draws.max() == 2


def test_lm_top_tokens_are_the_lms_likeliest_allowed_tokens_after_each_prefix(say_square, allowed):
    current = torch.tensor([257, 2266, 6616])                                   # " a red square"
    top = lm_top_tokens(say_square, current, allowed, k=4)                      # (T, k)
    assert top.shape == (3, 4) and allowed[top].all()
    for i in range(3):
        prefix, mask = (current[None, :i], None) if i else (current[None, :1], torch.zeros(1, 1, dtype=torch.long))
        logprobs = say_square.next_token_logprobs(prefix, mask)[0].masked_fill(~allowed, -torch.inf)
        assert top[i].tolist() == logprobs.topk(4).indices.tolist()


def test_a_start_longer_than_the_prompt_is_refused(say_square, allowed):
    with pytest.raises(ValueError, match="the initial text has 4 tokens, more than the prompt length 3"):
        greedy_prompt(say_square, 3, allowed, start=[1, 2, 3, 4])
