"""GCG and random search: candidate batches have the promised shape, runs are seeded, the budget is obeyed,
a tiny GCG run lowers a single-model loss, and bad settings are refused with messages."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from fuse_edu.models import CausalLM
from fuse_edu.objectives import LMTerm, Objective
from fuse_edu.optim import GCG, RandomSearch, method, strategy
from fuse_edu.optim.word_moves import WordTable, word_starts, word_swap, word_swap_scores
from fuse_edu.optim.candidates import (
    allowed_token_mask, delete_at, greedy_prompt, insert_at, l0_candidates, l2_candidates, random_below,
    single_swap_candidates, top_k_replacements, with_token_at, words_token_mask,
)

N = 32  # candidates per step: small, the tiny LM is cheap but the CPU is shared


@pytest.fixture(scope="module")
def lm(gpt2):
    torch.manual_seed(0)
    return CausalLM(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=64, vocab_size=50257)), gpt2)


@pytest.fixture(scope="module")
def objective(lm):
    """The single-model exercise: a prompt after which the LM says " square"."""
    return Objective(lm, [LMTerm(lm, target=" square")])


@pytest.fixture(scope="module")
def allowed(gpt2):
    return allowed_token_mask(gpt2, "word")


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------- candidates

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


def test_l2_candidates_project_to_allowed_rows(lm, allowed):
    table, allowed_ids = lm.embedding_table.detach(), allowed.nonzero().flatten()
    current = allowed_ids[:5]
    near = l2_candidates(table[current], 8, 1e-6, allowed_ids, table[allowed_ids], generator())
    assert (near == current).all()  # a tiny push projects back onto the same rows
    far = l2_candidates(table[current], 8, 1e3, allowed_ids, table[allowed_ids], generator(), chunk_size=3)
    assert allowed[far].all() and (far != current).any()


def test_greedy_prompt_is_the_lms_argmax_continuation(objective, allowed):
    ids, length = greedy_prompt(objective, 3, allowed)
    assert length == 3
    for t in range(3):
        logprobs = objective.next_token_logprobs(ids[None, :t] if t else ids[None, :1], None if t else torch.zeros(1, 1, dtype=torch.long))[0]
        assert ids[t] == logprobs.masked_fill(~allowed, -torch.inf).argmax()
    assert greedy_prompt(objective, 3, allowed, start=[64])[0][0] == 64  # init text comes first


def test_greedy_prompt_stops_where_the_lm_would_end_the_text(objective, gpt2):
    """After the start token X, with a single allowed token Y, greedy ends iff p(end | X) > p(Y | X)."""
    x = 1000
    after = objective.next_token_logprobs(torch.tensor([[x]]))[0]                # (V,)
    ranked = after.argsort()
    unlikely, likely = int(ranked[0]), int(ranked[-1] if ranked[-1] != gpt2.eos_token_id else ranked[-2])
    for y, should_end in [(unlikely, True), (likely, bool(after[gpt2.eos_token_id] > after[likely]))]:
        only = torch.zeros(after.shape[0], dtype=torch.bool)
        only[y] = True
        ids, length = greedy_prompt(objective, 3, only, start=[x], stop_at_end=True)
        assert (length == 1) is should_end and ids[0] == x
    assert greedy_prompt(objective, 3, only, start=[x])[1] == 3  # without stop_at_end it fills every slot


def test_delete_and_insert_shift_the_rest_of_the_prompt():
    current = torch.tensor([10, 11, 12, 13])
    assert delete_at(current, torch.tensor([0, 2])).tolist() == [[11, 12, 13, 13], [10, 11, 13, 13]]
    assert insert_at(current, torch.tensor([0, 3]), torch.tensor([7, 8])).tolist() == [[7, 10, 11, 12], [10, 11, 12, 8]]
    draws = random_below(torch.tensor(3), 500, generator())
    assert draws.min() == 0 and draws.max() == 2


# ----------------------------------------------------------------------------------------- runs

def test_gcg_lowers_a_single_model_loss(objective):
    result = GCG(objective, prompt_length=4, topk=16, candidates_per_step=N, seed=0, progress=False).run(6)
    first, last = result.history[0]["best_loss"], result.history[-1]["best_loss"]
    assert last < first - 0.05, (first, last)
    assert result.best_loss == pytest.approx(last, abs=1e-4)  # the result is the best prompt's exact loss
    assert result.steps == 6 and result.evaluations == 1 + 6 * N
    assert [h["step"] for h in result.history] == list(range(7))
    assert set(result.history[0]) >= {"best_loss", "evaluations", "seconds"}
    assert len(result.best_ids) == 4 and result.term_losses.keys() == {"target"}
    assert objective.tokenizer.decode(result.best_ids).strip() == result.best_text


@pytest.mark.parametrize("make", [
    lambda o, seed: GCG(o, prompt_length=3, topk=8, candidates_per_step=N, seed=seed, progress=False),
    lambda o, seed: RandomSearch(o, prompt_length=3, mode="l0", candidates_per_step=N, seed=seed, progress=False),
    lambda o, seed: RandomSearch(o, prompt_length=3, mode="l2", candidates_per_step=N, seed=seed, progress=False),
], ids=["gcg", "random-l0", "random-l2"])
def test_runs_are_deterministic_under_a_seed(objective, make):
    a, b, c = make(objective, 0).run(3), make(objective, 0).run(3), make(objective, 1).run(3)
    assert a.best_ids == b.best_ids and [h["best_loss"] for h in a.history] == [h["best_loss"] for h in b.history]
    optimizer = make(objective, 0)
    assert optimizer.run(3).best_ids == optimizer.run(3).best_ids  # run() starts over
    assert isinstance(c.best_loss, float)


@pytest.mark.parametrize("make", [
    lambda o: GCG(o, prompt_length=5, topk=8, candidates_per_step=N, variable_length=True, progress=False),
    lambda o: RandomSearch(o, prompt_length=5, candidates_per_step=N, variable_length=True, progress=False),
], ids=["gcg", "random"])
def test_variable_length_runs_propose_edits_and_report_the_best_length(objective, make):
    search = make(objective)
    candidates, lengths = search.candidates()
    assert candidates.shape == (N, 5) and lengths.shape == (N,)
    assert set(lengths.tolist()) <= {search.initial_length - 1, search.initial_length, search.initial_length + 1} - {0, 6}
    assert search.n_edits == N // 8 and (lengths[-2 * search.n_edits:] != search.initial_length).any()
    result = search.run(3)
    assert 1 <= len(result.best_ids) <= 5
    assert objective.tokenizer.decode(result.best_ids).strip() == result.best_text
    mask = torch.ones(1, len(result.best_ids), dtype=torch.long)
    assert float(objective.evaluate(torch.tensor([result.best_ids]), mask)[0]) == pytest.approx(result.best_loss)


def test_random_search_never_gets_worse_and_counts_evaluations(objective):
    result = RandomSearch(objective, prompt_length=4, radius=3, candidates_per_step=N, progress=False).run(4)
    losses = [h["best_loss"] for h in result.history]
    assert losses == sorted(losses, reverse=True)
    assert result.evaluations == 1 + 4 * N


def test_patience_stops_a_run_that_stopped_improving(objective):
    search = RandomSearch(objective, prompt_length=3, candidates_per_step=4, progress=False)
    result = search.run(50, patience=2)
    best = [h["best_loss"] for h in result.history]
    assert result.steps < 50 and best[-1] == best[-2] == best[-3]  # two steps in a row without progress
    with pytest.raises(ValueError, match="patience must be a positive int or None, got 0"):
        search.run(5, patience=0)


def test_budget_stops_the_run_before_it_is_overspent(objective):
    result = GCG(objective, prompt_length=3, topk=16, candidates_per_step=N, budget=1 + 2 * N + N // 2,
                 progress=False).run(10)
    assert result.steps == 2 and result.evaluations == 1 + 2 * N


def test_init_text_starts_the_prompt(objective):
    search = RandomSearch(objective, prompt_length=4, init_text=" a red", progress=False)
    assert objective.texts(search.initial_ids[None])[0].startswith(" a red")


# ----------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt_length=0), "prompt_length must be a positive int.*got 0"),
    (dict(budget=N), f"budget {N} is smaller than one step"),
    (dict(budget=0), "budget must be a positive int"),
    (dict(topk=0), "topk must be an int from 1"),
    (dict(candidates_per_step=0), "candidates_per_step must be a positive int"),
    (dict(accept="always"), "accept must be one of best, improve"),
    (dict(allowed="ascii"), "unknown allowed-token kind"),
    (dict(seed=-1), "seed must be a non-negative int"),
    (dict(init_text=" a b c d e f g h"), "more than the prompt length"),
])
def test_gcg_refuses_bad_settings(objective, kwargs, message):
    settings = dict(prompt_length=3, candidates_per_step=N, progress=False) | kwargs
    with pytest.raises(ValueError, match=message):
        GCG(objective, **settings)


def test_bad_steps_and_random_search_settings_are_refused(objective):
    with pytest.raises(ValueError, match="steps must be a non-negative int, got -1"):
        GCG(objective, prompt_length=2, candidates_per_step=N, progress=False).run(-1)
    with pytest.raises(ValueError, match="mode must be one of l0, l2"):
        RandomSearch(objective, mode="l1")
    with pytest.raises(ValueError, match="l0 radius is a number of positions"):
        RandomSearch(objective, mode="l0", radius=0.5)
    with pytest.raises(ValueError, match="l2 radius must be a finite number > 0"):
        RandomSearch(objective, mode="l2", radius=-1.0)


def test_registry_names_methods_and_says_what_is_missing():
    assert method("gcg") is GCG and method("random") is RandomSearch
    with pytest.raises(ValueError, match="unknown method 'adam'; accepted: gcg, autodan, pez, random"):
        method("adam")
    with pytest.raises(ValueError, match="unknown strategy 'dfs'"):
        strategy("dfs")
    for name in ("autodan", "pez"):  # written elsewhere: present, or a clear NotImplementedError
        try:
            assert callable(method(name))
        except NotImplementedError as error:
            assert name in str(error)


# ----------------------------------------------------------------------------------------- GPU discipline

@pytest.mark.parametrize("make", [
    lambda o: GCG(o, prompt_length=3, topk=8, candidates_per_step=N, progress=False),
    lambda o: RandomSearch(o, prompt_length=3, mode="l0", candidates_per_step=N, progress=False),
    lambda o: RandomSearch(o, prompt_length=3, mode="l2", candidates_per_step=N, progress=False),
], ids=["gcg", "random-l0", "random-l2"])
def test_a_step_syncs_host_and_device_once(objective, make, monkeypatch):
    """On a GPU every .item()/.tolist()/bool()/int()/float()/.nonzero() waits for the device. A step of ours
    (candidates, scoring, keeping the best) does none; the history row does one. Counted on the CPU by
    wrapping those methods, for calls made from fuse_edu code (the models' own internals are theirs)."""
    import sys

    optimizer = make(objective)
    syncs = []
    for attribute in ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "nonzero"):
        original = getattr(torch.Tensor, attribute)

        def counted(self, *args, _original=original, _name=attribute, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if "fuse_edu" in caller and "test_" not in caller:
                syncs.append((_name, caller.rsplit("/", 1)[-1], sys._getframe(1).f_lineno))
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, attribute, counted)
    optimizer.record(optimizer.step())
    monkeypatch.undo()
    assert len(syncs) == 1 and syncs[0][1] == "loop.py", syncs


# ----------------------------------------------------------------------------------------- word swaps

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


def test_word_swap_scores_by_first_sub_token_or_summed(gpt2):
    table = WordTable.of(gpt2, ["red", "turquoise"])
    prompt = gpt2("a small turquoise square")["input_ids"]
    current, length = torch.tensor(prompt + [0]), torch.tensor(len(prompt))
    grad = torch.randn(7, len(gpt2), generator=generator())
    is_start, end = word_starts(current, length, table.starts_word)
    first = word_swap_scores(grad, current, is_start, end, table)                   # (T, 2)
    summed = word_swap_scores(grad, current, is_start, end, table, by="sum")        # (T, 2)
    for s in range(7):
        for w, ids in enumerate(table.ids.tolist()):
            if not is_start[s]:
                assert first[s, w] == float("inf") and summed[s, w] == float("inf")
                continue
            assert first[s, w] == pytest.approx(float(grad[s, ids[0]] - grad[s, current[s]]), abs=1e-5)
            new = sum(grad[min(s + j, 6), ids[j]] for j in range(int(table.lengths[w])))
            old = sum(grad[p, current[p]] for p in range(s, int(end[s])))
            assert summed[s, w] == pytest.approx(float(new - old), abs=1e-4)
    with pytest.raises(ValueError, match="by must be one of first, sum, got 'mean'"):
        word_swap_scores(grad, current, is_start, end, table, by="mean")


def test_searches_with_words_propose_word_swaps(objective):
    words = ["red", "turquoise", "square", "hexagon"]
    for search in (GCG(objective, prompt_length=6, candidates_per_step=N, variable_length=True, words=words, progress=False),
                   RandomSearch(objective, prompt_length=6, candidates_per_step=N, variable_length=True, words=words,
                                progress=False)):
        assert search.n_word_swaps == N // 4
        search.run(2)
        assert 1 <= len(search.result().best_ids) <= 6
    with pytest.raises(ValueError, match="variable_length=True with words"):
        GCG(objective, prompt_length=6, words=words, progress=False)


def test_a_word_that_outgrows_the_slots_is_cut(gpt2):
    table = WordTable.of(gpt2, ["turquoise"])
    current, length = torch.tensor(gpt2("a red")["input_ids"]), torch.tensor(2)   # T = 2, full
    ids, lengths = word_swap(current, length, torch.tensor([1]), torch.tensor([2]), torch.tensor([0]), table)
    assert lengths.tolist() == [2] and gpt2.decode(ids[0]) == "a tur"
