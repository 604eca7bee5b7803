"""The search strategies AutoDAN grows prompts with (``fuse_edu.optim.search``): greedy, beam and uniform-cost
search, on their own with made-up losses, and driving AutoDAN on ``ToyObjective`` (tests/support.py)."""

from __future__ import annotations

import pytest
import torch

from fuse_edu.optim.search import Beam, Greedy, Prompts, UniformCost, make_strategy
from tests.support import ToyObjective, toy_autodan as autodan


def test_beam_width_one_equals_greedy():
    objective = ToyObjective()
    greedy = autodan(objective, strategy="greedy").run()
    beam = autodan(objective, strategy="beam", beam_width=1).run()
    assert beam.best_ids == greedy.best_ids and beam.best_loss == greedy.best_loss
    assert [r["best_loss"] for r in beam.history] == [r["best_loss"] for r in greedy.history]


def test_wider_beam_is_at_least_as_good_here():
    objective = ToyObjective(length=4)
    greedy = autodan(objective, candidates_per_step=4, readability_weight=1.0).run()
    beam = autodan(objective, candidates_per_step=4, readability_weight=1.0, strategy="beam", beam_width=4).run()
    assert beam.best_loss <= greedy.best_loss + 1e-6
    assert beam.history[-1]["frontier"] == 4


def test_ucs_expands_in_cost_order_and_stops_at_the_cheapest_finished_prompt():
    objective = ToyObjective()
    method = autodan(objective, prompt_length=3, candidates_per_step=3, strategy="ucs", beam_width=1, frontier_cap=1000)
    result = method.run()
    popped = torch.cat(method.strategy.expanded_costs)  # cost of each prompt, in the order UCS expanded them
    assert (popped[1:] >= popped[:-1]).all()  # edge costs (losses) are >= 0: never a cheaper one later
    assert method.strategy.finished and result.steps < 1 + 3 + 9  # stopped before expanding the whole tree
    answer = method.strategy.best_goal_cost
    assert popped[-1] <= answer <= method.strategy.frontier.cost[0]  # nothing queued is cheaper than the answer


def test_ucs_finds_the_cheapest_finished_prompt_of_a_whole_tree():
    """Three tokens, prompts of length 3, a made-up loss per prefix: UCS's answer equals brute force."""
    loss_of = lambda prefix: (7 * sum((i + 1) * (t + 1) for i, t in enumerate(prefix)) % 5) + 0.5  # noqa: E731
    strategy = UniformCost(max_length=3, pop_width=1, frontier_cap=100)
    strategy.start(Prompts.root(3, 1, torch.device("cpu")))
    expansions = 0
    while not strategy.finished:
        parent = strategy.expand()
        length = int(parent.lengths[0])
        ids = parent.ids.repeat(3, 1)  # (3, 3) one child per token
        ids[:, length] = torch.arange(3)
        loss = torch.tensor([loss_of(row[: length + 1].tolist()) for row in ids])
        children = Prompts(ids, parent.lengths.repeat(3) + 1, loss, parent.cost + loss, loss[:, None])
        strategy.synced(strategy.accept(children).tolist())
        expansions += 1
    paths = [(a, b, c) for a in range(3) for b in range(3) for c in range(3)]
    cost_of = {p: loss_of(p[:1]) + loss_of(p[:2]) + loss_of(p) for p in paths}
    brute = min(cost_of.values())
    assert float(strategy.best_goal_cost) == pytest.approx(brute)
    assert cost_of[tuple(strategy.best_goal.ids[0].tolist())] == pytest.approx(brute)
    assert expansions < 1 + 3 + 9  # and it got there without expanding every prefix


def test_ucs_pops_the_cheapest_queued_prompts_first():
    strategy = UniformCost(max_length=3, pop_width=2, frontier_cap=8)
    strategy.start(Prompts.root(3, 1, torch.device("cpu")))
    assert strategy.expand().lengths.tolist() == [0]
    costs = torch.tensor([5.0, 1.0, 3.0, 2.0])
    children = Prompts(torch.arange(12).reshape(4, 3), torch.ones(4, dtype=torch.long), costs, costs,
                       costs[:, None])
    strategy.synced(strategy.accept(children).tolist())
    assert strategy.frontier_size == 4 and not strategy.finished
    assert strategy.expand().cost.tolist() == [1.0, 2.0]
    assert strategy.expand().cost.tolist() == [3.0, 5.0]


def test_ucs_frontier_cap_drops_the_most_expensive():
    strategy = UniformCost(max_length=3, pop_width=1, frontier_cap=2)
    strategy.start(Prompts.root(3, 1, torch.device("cpu")))
    strategy.expand()
    costs = torch.tensor([5.0, 1.0, 3.0])
    strategy.synced(strategy.accept(Prompts(torch.zeros(3, 3, dtype=torch.long), torch.ones(3, dtype=torch.long),
                                            costs, costs, costs[:, None])).tolist())
    assert strategy.frontier_size == 2 and strategy.frontier.cost.tolist() == [1.0, 3.0]


def test_greedy_and_beam_keep_the_lowest_loss_children():
    loss = torch.tensor([0.5, 0.1, 0.3, 0.2])
    children = Prompts(torch.zeros(4, 2, dtype=torch.long), torch.ones(4, dtype=torch.long), loss, loss, loss[:, None])
    for strategy, kept in ((Greedy(2), [0.1]), (Beam(2, 3), [0.1, 0.2, 0.3])):
        strategy.start(Prompts.root(2, 1, torch.device("cpu")))
        strategy.accept(children)
        assert strategy.expand().loss.tolist() == pytest.approx(kept)


def test_a_ready_strategy_can_be_passed_in():
    result = autodan(ToyObjective(), strategy=UniformCost(4, pop_width=2, frontier_cap=2)).run()
    assert len(result.best_ids) == 4


def test_make_strategy_defaults():
    assert make_strategy("beam", 5).width == 4
    ucs = make_strategy("ucs", 5, beam_width=2)
    assert (ucs.pop_width, ucs.frontier_cap) == (2, 8)


