"""Random search, the no-gradient baseline: hill climbing in an L0 or L2 neighbourhood, an L2 radius calibrated
to the L0 ball's size, and bad settings refused. (What it shares with GCG: test_optim_loop.py.)"""

from __future__ import annotations

import pytest
import torch

from fuse_edu.optim import RandomSearch
from fuse_edu.optim.candidates import l2_candidates
from fuse_edu.optim.random_search import L0_RADIUS

N = 32


def test_random_search_never_gets_worse_and_counts_evaluations(say_square):
    result = RandomSearch(say_square, prompt_length=4, radius=3, candidates_per_step=N, progress=False).run(4)
    losses = [h["best_loss"] for h in result.history]
    assert losses == sorted(losses, reverse=True)
    assert result.evaluations == 1 + 4 * N


def test_each_step_climbs_from_the_best_prompt_so_far(say_square):
    search = RandomSearch(say_square, prompt_length=3, candidates_per_step=8, progress=False)
    for _ in range(3):
        search.step()
        assert torch.equal(search.current, search.best_ids) and torch.equal(search.current_loss, search.best_loss)


def test_the_defaults_are_eight_tokens_64_candidates_and_an_l0_ball_of_two(say_square):
    search = RandomSearch(say_square, progress=False)
    assert (search.prompt_length, search.candidates_per_step, search.mode, search.radius) == (8, 64, "l0", L0_RADIUS)


def test_the_l2_radius_is_calibrated_to_change_as_many_positions_as_the_l0_ball(say_square):
    search = RandomSearch(say_square, prompt_length=6, mode="l2", candidates_per_step=8, progress=False)
    assert 0 < search.radius < float("inf")
    embeds = say_square.embedding_table.detach()[search.current]                   # (T, d)
    draws = l2_candidates(embeds, 256, search.radius, search.allowed_ids, search.allowed_table,
                          torch.Generator().manual_seed(123))
    changed = (draws != search.current).float().sum(1).mean()
    assert L0_RADIUS - 1 <= float(changed) <= L0_RADIUS + 1, float(changed)


def test_bad_random_search_settings_are_refused(say_square):
    with pytest.raises(ValueError, match="mode must be one of l0, l2"):
        RandomSearch(say_square, mode="l1")
    with pytest.raises(ValueError, match="l0 radius is a number of positions"):
        RandomSearch(say_square, mode="l0", radius=0.5)
    with pytest.raises(ValueError, match="l2 radius must be a finite number > 0"):
        RandomSearch(say_square, mode="l2", radius=-1.0)
    with pytest.raises(ValueError, match="budget 8 is smaller than one random step, which needs 9 evaluations"):
        RandomSearch(say_square, candidates_per_step=8, budget=8)
