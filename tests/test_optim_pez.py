"""PEZ: continuous prompts, loss and gradient taken at their projection onto the nearest allowed rows, restarts
side by side (``candidates_per_step``). On ``ToyObjective`` (tests/support.py) and on the real Objective."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fuse_edu.optim.pez import PEZ
from tests.support import ToyObjective, count_syncs, toy_pez as pez


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_pez_projection_returns_table_rows_and_nearest_ids(metric):
    objective = ToyObjective()
    allowed = torch.zeros(40, dtype=torch.bool)
    allowed[::3] = True  # only every third token may be used
    method = pez(objective, metric=metric, allowed=allowed)
    points = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(1))
    ids, rows = method.project(points)
    table = objective.embedding_table
    torch.testing.assert_close(rows, table[ids])
    if metric == "cosine":
        closeness = F.normalize(points, dim=-1) @ F.normalize(table, dim=-1).T  # (2, 5, V)
    else:
        closeness = -torch.cdist(points, table[None].expand(2, -1, -1))  # (2, 5, V)
    assert torch.equal(ids, closeness.masked_fill(~allowed, float("-inf")).argmax(-1))


def test_pez_projection_of_a_table_row_is_that_row():
    objective = ToyObjective()
    ids, _ = pez(objective, metric="l2").project(objective.embedding_table[None, [3, 7, 11]])
    assert ids.tolist() == [[3, 7, 11]]


def test_pez_starts_from_the_lms_greedy_prompt_or_random_tokens():
    objective = ToyObjective()
    greedy = [int(objective.bigram[-1].argmax())]
    for _ in range(3):
        greedy.append(int(objective.bigram[greedy[-1]].argmax()))
    method = pez(objective, candidates_per_step=3)
    method.reset()
    ids, _ = method.project(method.soft.detach())  # (3, 4)
    assert ids[0].tolist() == greedy  # restart 0: the LM's prompt exactly; the others: noise around it
    assert not torch.equal(method.soft[1], method.soft[0])
    random_start = pez(objective, candidates_per_step=3, init="random")
    random_start.reset()
    assert random_start.project(random_start.soft.detach())[0].tolist() != ids.tolist()


def test_pez_lowers_the_loss_and_counts_one_evaluation_per_projected_prompt():
    objective = ToyObjective()
    result = pez(objective, candidates_per_step=3, lr=0.3, init="random").run(20)
    first = result.history[0]["step_loss"]
    assert result.best_loss < first
    assert result.evaluations == objective.forward_rows == 60
    assert len(result.best_ids) == 4



def test_one_restart_by_default():
    assert PEZ.default_candidates == 1 and pez(ToyObjective()).candidates_per_step == 1


def test_same_seed_same_run():
    runs = [pez(ToyObjective(), candidates_per_step=4, seed=3).run(6) for _ in range(2)]
    assert runs[0].best_ids == runs[1].best_ids and runs[0].history[-1]["best_loss"] == runs[1].history[-1]["best_loss"]
    assert [r["step_loss"] for r in runs[0].history] == [r["step_loss"] for r in runs[1].history]


@pytest.mark.parametrize("cap", [19, 40, 101])
def test_budget_is_never_exceeded_and_counts_every_exact_evaluation(cap):
    objective = ToyObjective()
    method = pez(objective, candidates_per_step=4, budget=cap)
    result = method.run(1000)
    assert result.evaluations <= cap and result.history[-1]["evaluations"] == result.evaluations
    assert objective.forward_rows == result.evaluations  # one forward pass per projected prompt: its evaluation
    assert cap - result.evaluations < method.candidates_per_step  # it stopped only when the next step did not fit


@pytest.mark.parametrize("kwargs, match", [
    ({"budget": 3, "candidates_per_step": 4}, "budget 3 is smaller than one pez step, which needs 4 evaluations"),
    ({"prompt_length": 0}, "prompt_length must be an int >= 1"),
    ({"metric": "dot"}, "unknown metric 'dot'"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
    ({"init": "zeros"}, "unknown init 'zeros'"),
    ({"init_noise": float("inf")}, "init_noise must be a finite number"),
    ({"lr": -1.0}, "lr must be a finite number >= 0"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"allowed": torch.zeros(40, dtype=torch.bool)}, "with some True entry"),
])
def test_bad_inputs_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pez(ToyObjective(), **kwargs)


def test_a_step_syncs_host_and_device_once(monkeypatch):
    """On a GPU every .item()/.tolist()/bool()/int()/float()/.nonzero() of a tensor waits for the device; a
    step may do that once (its history row). Not counted: torch.optim reading Adam's step counter, which torch
    keeps on the CPU so that it never syncs."""
    method = pez(ToyObjective(), candidates_per_step=4, seed=1)
    method.step()
    syncs = count_syncs(monkeypatch, keep=lambda frame: "torch/optim/" not in frame.f_code.co_filename)
    method.step()
    monkeypatch.undo()
    assert [name for name, _, _ in syncs] == ["tolist"], syncs


def test_pez_on_the_real_objective_lowers_the_loss(say_red_square):
    result = PEZ(say_red_square, prompt_length=3, candidates_per_step=4, progress=False).run(6)
    assert result.evaluations == 24 and len(result.best_ids) == 3
    assert result.best_loss < result.history[0]["step_loss"]
    total, _ = say_red_square.evaluate(torch.tensor([result.best_ids]))
    assert result.best_loss == pytest.approx(float(total[0]), rel=1e-5)


