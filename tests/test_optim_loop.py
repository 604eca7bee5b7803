"""What GCG and random search share (``fuse_edu.optim.loop.CandidateSearch``): the initial prompt, seeded runs,
variable length with insertions and deletions, whole-word swaps, patience, and one host-device sync a step."""

from __future__ import annotations

import pytest
import torch

from fuse_edu.optim import GCG, RandomSearch
from tests.support import count_syncs

N = 32

SEARCHES = {
    "gcg": lambda o, **kw: GCG(o, topk=8, candidates_per_step=N, progress=False, **kw),
    "random-l0": lambda o, **kw: RandomSearch(o, mode="l0", candidates_per_step=N, progress=False, **kw),
    "random-l2": lambda o, **kw: RandomSearch(o, mode="l2", candidates_per_step=N, progress=False, **kw),
}


@pytest.mark.parametrize("name", SEARCHES)
def test_runs_are_deterministic_under_a_seed(say_square, name):
    make = SEARCHES[name]
    a, b = (make(say_square, prompt_length=3, seed=0).run(2) for _ in range(2))
    assert a.best_ids == b.best_ids and [h["best_loss"] for h in a.history] == [h["best_loss"] for h in b.history]
    assert [h["step_loss"] for h in a.history] == [h["step_loss"] for h in b.history]
    optimizer = make(say_square, prompt_length=3, seed=1)
    first, again = optimizer.run(2), optimizer.run(2)  # run() starts over: reseeded, from the initial prompt
    assert first.best_ids == again.best_ids and [h["step_loss"] for h in first.history] == \
        [h["step_loss"] for h in again.history]


@pytest.mark.parametrize("name", ["gcg", "random-l0"])
def test_construction_scores_the_initial_prompt_so_steps_can_be_taken_by_hand(say_square, name):
    search = SEARCHES[name](say_square, prompt_length=5)                          # GCG: 5 x 8 swaps >= N
    assert search.budget.spent == 1 and search.steps_done == 0                     # the initial prompt, scored
    mask = torch.ones(1, 5, dtype=torch.long)
    exact = float(say_square.evaluate(search.initial_ids[None], mask)[0])
    assert float(search.best_loss) == pytest.approx(exact)
    row = search.step()
    assert row["step"] == 1 and row["evaluations"] == 1 + N and search.steps_done == 1


@pytest.mark.parametrize("name", ["gcg", "random-l0"])
def test_variable_length_runs_propose_edits_and_report_the_best_length(say_square, name):
    search = SEARCHES[name](say_square, prompt_length=5, variable_length=True)
    candidates, lengths = search.candidates()
    assert candidates.shape == (N, 5) and lengths.shape == (N,)
    assert set(lengths.tolist()) <= {search.initial_length - 1, search.initial_length, search.initial_length + 1} - {0, 6}
    assert search.n_edits == N // 8 and (lengths[-2 * search.n_edits:] != search.initial_length).any()
    result = search.run(3)
    assert 1 <= len(result.best_ids) <= 5
    assert say_square.tokenizer.decode(result.best_ids).strip() == result.best_text
    mask = torch.ones(1, len(result.best_ids), dtype=torch.long)
    assert float(say_square.evaluate(torch.tensor([result.best_ids]), mask)[0]) == pytest.approx(result.best_loss)


@pytest.mark.parametrize("name", ["gcg", "random-l0"])
def test_searches_with_words_propose_word_swaps(say_square, name):
    words = ["red", "turquoise", "square", "hexagon"]
    search = SEARCHES[name](say_square, prompt_length=6, variable_length=True, words=words)
    assert search.n_word_swaps == N // 4
    result = search.run(2)
    assert 1 <= len(result.best_ids) <= 6 and result.steps == 2
    with pytest.raises(ValueError, match="variable_length=True with words"):
        SEARCHES[name](say_square, prompt_length=6, words=words)


def test_patience_stops_a_run_that_stopped_improving(say_square):
    search = RandomSearch(say_square, prompt_length=3, candidates_per_step=4, progress=False)
    result = search.run(50, patience=2)
    best = [h["best_loss"] for h in result.history]
    assert result.steps < 50 and best[-1] == best[-2] == best[-3]  # two steps in a row without progress
    with pytest.raises(ValueError, match="patience must be an int >= 1, got 0"):
        search.run(5, patience=0)


def test_init_text_starts_the_prompt(say_square):
    search = RandomSearch(say_square, prompt_length=4, init_text=" a red", progress=False)
    assert say_square.texts(search.initial_ids[None])[0].startswith(" a red")


def test_a_ready_initial_prompt_is_used_as_given(say_square):
    """A captioner computes the LM's greedy start once and hands it to every image's run."""
    first = GCG(say_square, prompt_length=4, candidates_per_step=8, progress=False)
    ids, length = first.initial_ids, first.initial_length
    second = RandomSearch(say_square, prompt_length=4, candidates_per_step=8, initial=(ids, length), progress=False)
    assert torch.equal(second.initial_ids, ids) and second.initial_length == length
    with pytest.raises(ValueError, match=r"initial must be \(ids of shape \(4,\), a length from 1 to 4\)"):
        RandomSearch(say_square, prompt_length=4, initial=(ids[:3], 3), progress=False)


@pytest.mark.parametrize("name", SEARCHES)
def test_a_step_syncs_host_and_device_once(say_square, name, monkeypatch):
    """On a GPU every .item()/.tolist()/bool()/int()/float()/.nonzero() waits for the device. A step of ours
    (candidates, scoring, keeping the best) does none; the history row does one. Counted on the CPU by
    wrapping those methods, for calls made from fuse_edu code (the models' own internals are theirs)."""
    optimizer = SEARCHES[name](say_square, prompt_length=3)
    syncs = count_syncs(monkeypatch, keep=lambda frame: "/fuse_edu/" in frame.f_code.co_filename)
    row = optimizer.step()
    monkeypatch.undo()
    assert len(syncs) == 1 and syncs[0][1] == "loop.py", syncs
    assert row["step"] == 1
