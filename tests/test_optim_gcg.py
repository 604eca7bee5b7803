"""GCG: gradient-ranked single-token swaps, scored exactly. A tiny run lowers a single-model loss, the budget is
obeyed, the paper's and the "improve" acceptance rules hold, defaults are as documented, bad settings are
refused with messages. (What GCG shares with random search: test_optim_loop.py.)"""

from __future__ import annotations

import pytest
import torch

from fuse_edu.optim import GCG

N = 32  # candidates per step: small, the tiny LM is cheap but the CPU is shared


def test_gcg_lowers_a_single_model_loss(say_square):
    result = GCG(say_square, prompt_length=4, topk=16, candidates_per_step=N, seed=0, progress=False).run(6)
    first, last = result.history[0]["best_loss"], result.history[-1]["best_loss"]
    assert last < first - 0.05, (first, last)
    assert result.best_loss == pytest.approx(last, abs=1e-4)  # the result is the best prompt's exact loss
    assert result.steps == 6 and result.evaluations == 1 + 6 * N
    assert [h["step"] for h in result.history] == list(range(7))  # the initial prompt's row, then one per step
    assert set(result.history[0]) >= {"best_loss", "evaluations", "seconds"}
    assert len(result.best_ids) == 4 and result.term_losses.keys() == {"target"}
    assert say_square.tokenizer.decode(result.best_ids).strip() == result.best_text


def test_the_defaults_are_eight_tokens_64_candidates_and_top_16(say_square):
    gcg = GCG(say_square, progress=False)
    assert (gcg.prompt_length, gcg.candidates_per_step, gcg.topk) == (8, 64, 16)
    assert GCG.default_candidates == 64 and gcg.accept_rule == "best"


def test_each_step_moves_to_the_batch_s_best_even_when_worse(say_square):
    """The paper's rule: the next step starts from the step's best candidate, better or not; the best prompt
    seen is kept apart."""
    gcg = GCG(say_square, prompt_length=3, topk=8, candidates_per_step=8, progress=False)
    for _ in range(4):
        row = gcg.step()
        assert float(gcg.current_loss) == pytest.approx(row["step_loss"])
        assert row["best_loss"] <= row["step_loss"] + 1e-6 and float(gcg.best_loss) == pytest.approx(row["best_loss"])


def test_accept_improve_only_ever_moves_to_a_better_prompt(say_square):
    gcg = GCG(say_square, prompt_length=3, topk=8, candidates_per_step=8, accept="improve", progress=False)
    losses = [float(gcg.current_loss)]
    for _ in range(4):
        gcg.step()
        losses.append(float(gcg.current_loss))
    assert losses == sorted(losses, reverse=True)
    assert torch.equal(gcg.current, gcg.best_ids) and losses[-1] == pytest.approx(float(gcg.best_loss))


def test_budget_stops_the_run_before_it_is_overspent(say_square):
    result = GCG(say_square, prompt_length=3, topk=16, candidates_per_step=N, budget=1 + 2 * N + N // 2,
                 progress=False).run(10)
    assert result.steps == 2 and result.evaluations == 1 + 2 * N


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt_length=0), "prompt_length must be an int >= 1, got 0"),
    (dict(budget=N), f"budget {N} is smaller than one gcg step, which needs {N + 1} evaluations with {N} "
                     "candidates per step"),
    (dict(budget=0), "budget must be a positive int"),
    (dict(topk=0), "topk must be an int from 1"),
    (dict(candidates_per_step=0), "candidates_per_step must be an int >= 1, got 0"),
    (dict(accept="always"), "accept must be one of best, improve"),
    (dict(allowed="ascii"), "unknown allowed-token kind"),
    (dict(seed=-1), "seed must be an int >= 0, got -1"),
    (dict(init_text=" a b c d e f g h"), "more than the prompt length"),
])
def test_gcg_refuses_bad_settings(say_square, kwargs, message):
    settings = dict(prompt_length=3, candidates_per_step=N, progress=False) | kwargs
    with pytest.raises(ValueError, match=message):
        GCG(say_square, **settings)
